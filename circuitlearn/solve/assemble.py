"""From a :class:`~circuitlearn.compile.circuit.Circuit` to the matrices the solvers use.

Two forms are built (once per circuit, cached while the circuit lives):

*Expanded circuit.*  A diode with ``RS > 0`` becomes a resistor ``1/RS``
from its anode to an internal node (named ``<diode>#a``) plus a junction from
that node to the cathode, as ngspice does.  Both diode models use it.

*Reduced system* (:class:`Reduced`, when :attr:`Reduced.ok`).  Fixed nodes are
ground plus every node joined to ground by a chain of voltage sources; their
potentials come from the source tree (:class:`SourceTree`, linear time however deep
the chains) per sample.  The rest are free nodes.  With ``L`` the resistor
Laplacian, KCL at the free nodes reads ``L_ff v_f + A i_d = b`` with
``b = Q_f i_src - L_fx v_fixed`` (:meth:`Reduced.rhs`, one product per batch).
``A`` (``[n_free, d]``) has +1 at a diode's free anode and -1 at its free
cathode.  Requires no E/G sources and no floating V source.

*Modified nodal analysis* (:class:`Mna`), for everything else: unknowns are
the voltages of all non-ground (expanded) nodes, the currents of the V sources
and of the E outputs; ``M x + C^T i_d = R @ sources`` with ``C`` the diode
incidence (junction voltage ``C x``).

Both are exposed to the active-set and Newton engines as an
:class:`AffineSystem`: ``M x + C^T i_d = rhs`` with junction voltages
``v_d = C x + c0``.
"""
from __future__ import annotations

import dataclasses
import weakref
from collections import deque
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from circuitlearn.solve.kernels_assemble import greedy_colouring, tree_currents, tree_voltages

#: GMIN that ngspice puts across every junction (S).
GMIN = 1e-12
#: Boltzmann constant and elementary charge as in ngspice >= 30 (const.h) --
#: checked against ``ngspice -b`` 39 on a diode at 1 mA (agrees to 1e-7 V).
CONST_BOLTZ = 1.38064852e-23
CONST_CHARGE = 1.6021766208e-19
#: 27 C, ngspice's default circuit temperature and TNOM.
TEMP_K = 300.15
VT = CONST_BOLTZ * TEMP_K / CONST_CHARGE


@dataclass(eq=False)
class Expanded:
    """The circuit with diode series resistances split out (see module doc)."""
    n_nodes: int                 # original nodes (ground included)
    n_ext: int                   # plus one internal node per diode with RS > 0
    res_nodes: np.ndarray        # int64[m', 2]
    g: np.ndarray                # float64[m']
    dnodes: np.ndarray           # int64[d, 2] junction (anode', cathode)
    jp: np.ndarray               # float64[d, 5] Shockley junction parameters (junction_params)
    vth: np.ndarray              # float64[d] ideal forward threshold
    gscale: float                # largest node conductance sum (S), for tolerances
    bv: np.ndarray = None        # float64[d] ideal breakdown clamp: v_d >= -bv (inf: none)
    dscale: np.ndarray = None    # float64[d] each diode's own conductance scale (S), for its
                                 # complementarity: the smaller node sum of g at its terminals
    paired: np.ndarray = None    # with_breakdown view: int64[z] the diodes given a reversed twin


@dataclass(eq=False)
class AffineSystem:
    """``M x + C^T i_d = rhs``, ``v_d = C x + c0``; rows ``kcl_rows`` are KCL at free nodes."""
    M: sp.csc_matrix
    C: sp.csr_matrix
    kcl_rows: np.ndarray         # int64[k]
    symmetric: bool = True       # M symmetric (no E/G sources)


@dataclass(eq=False)
class SourceTree:
    """The voltage sources as a tree from ground over the fixed nodes (rows in BFS order,
    row 0 ground): row ``j`` hangs from row ``parent[j]`` by source ``src[j]``,
    ``v_j = v_parent + sign[j] * value``; a source's current is ``-sign[j]`` times the
    demand of the subtree below row ``j``.  Applied in linear time (no ``n x depth``
    matrix): :meth:`voltages`, :meth:`currents`."""
    parent: np.ndarray           # int64[n_fixed] (-1 for ground)
    src: np.ndarray              # int64[n_fixed] (-1 for ground)
    sign: np.ndarray             # float64[n_fixed]
    nv: int

    def voltages(self, S) -> np.ndarray:
        """float64[n_fixed, B]: fixed-node voltages for sources ``S`` [B, >= nv]."""
        S = np.ascontiguousarray(S, dtype=np.float64)
        out = np.empty((self.parent.size, S.shape[0]))
        tree_voltages(self.parent, self.src, self.sign, S, out)
        return out

    def currents(self, demand) -> np.ndarray:
        """float64[B, nv]: source currents (SPICE sign) for the demand [n_fixed, B]."""
        demand = np.ascontiguousarray(demand, dtype=np.float64)
        out = np.zeros((demand.shape[1], self.nv))
        tree_currents(self.parent, self.src, self.sign, demand, out)
        return out

    def matrix(self) -> sp.csr_matrix:
        """``P`` [n_fixed, nv] with ``v_fixed = P @ v_src`` (size n x depth: for small trees)."""
        cols, vals = [np.zeros(0, np.int64)], [np.zeros(0)]
        for j in range(1, self.parent.size):
            p = self.parent[j]
            cols.append(np.append(cols[p], self.src[j]))
            vals.append(np.append(vals[p], self.sign[j]))
        indptr = np.zeros(self.parent.size + 1, np.int64)
        indptr[1:] = np.cumsum([c.size for c in cols])
        P = sp.csr_matrix((np.concatenate(vals), np.concatenate(cols), indptr),
                          shape=(self.parent.size, self.nv))
        P.sort_indices()
        return P


@dataclass(eq=False)
class Reduced:
    ok: bool
    why: str
    free: np.ndarray = None      # int64[n_free] expanded node index of each free node
    fixed: np.ndarray = None     # int64[n_fixed] (fixed[0] == 0, ground)
    tree: SourceTree = None      # v_fixed from the V sources, source currents from demand
    Lfx: object = None           # Laplacian block free x fixed (CSR or dense) [n_free, n_fixed]
    Qf: sp.csr_matrix = None     # current injected by I sources at free nodes [n_free, ni]
    Lff: sp.csr_matrix = None
    adj: sp.csr_matrix = None    # off-diagonal conductances (positive) of Lff
    diag: np.ndarray = None
    Lxf: object = None           # Laplacian block fixed rows x free columns [n_fixed, n_free]
    Lxx: sp.csr_matrix = None    # Laplacian block fixed x fixed [n_fixed, n_fixed]
    Qx: sp.csr_matrix = None     # current injected by I sources at fixed nodes [n_fixed, ni]
    fa: np.ndarray = None        # int64[d] free position of the junction anode or -1
    fc: np.ndarray = None
    xa: np.ndarray = None        # int64[d] fixed position or -1
    xc: np.ndarray = None
    Cx: sp.csr_matrix = None     # [d, n_fixed]: fixed part of v_d
    A: sp.csr_matrix = None      # [n_free, d] diode incidence on free nodes
    Ax: sp.csr_matrix = None     # [n_fixed, d] diode incidence on fixed nodes
    order: np.ndarray = None     # colour-class update order
    colour: np.ndarray = None    # int64[n_free] colour of each free node
    n_colours: int = 0
    ff: tuple = None             # CSR of free-free diodes (ptr, nbr, sign, vth)
    one_diode_per_node: bool = True
    system: AffineSystem = None

    def fixed_voltages(self, S) -> np.ndarray:
        """float64[n_fixed, B] for sources ``S`` [B, n_sources]."""
        return self.tree.voltages(S)

    def rhs(self, S, vfx) -> np.ndarray:
        """float64[n_free, B]: the free nodes' right-hand side ``-L_fx v_fixed + Q_f i_src``."""
        nv = self.tree.nv
        out = -np.asarray(self.Lfx @ vfx).reshape(self.free.size, vfx.shape[1])
        if self.Qf.shape[1]:
            out += np.asarray(self.Qf @ S[:, nv:].T)
        return out

    @property
    def P(self) -> sp.csr_matrix:
        """``v_fixed = P @ v_src`` as a matrix (built on first use; n x depth entries)."""
        if getattr(self, "_P", None) is None:
            self._P = self.tree.matrix()
        return self._P

    @property
    def Bmat(self):
        """``rhs = Bmat @ sources`` as a matrix (for small circuits; see :meth:`rhs`)."""
        return sp.hstack([-(sp.csr_matrix(self.Lfx) @ self.P), self.Qf]).tocsr()


@dataclass(eq=False)
class Mna:
    system: AffineSystem
    R: sp.csr_matrix             # [n, n_sources]: rhs = R @ sources
    nv: int
    n_node_vars: int             # n_ext - 1


_CACHE: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()


def prepared(circuit, breakdown: bool = False):
    """``{"ex": Expanded, "red": Reduced, "mna": Mna or None}`` for ``circuit``, cached per
    circuit object.  ``breakdown=True``: the ideal-diode view, in which every diode with a
    ``BV`` is paired with a reversed ideal diode of threshold ``BV`` (:func:`with_breakdown`);
    the same object as without when no diode has one."""
    hit = _CACHE.get(circuit)
    if hit is None:
        ex = expand(circuit)
        red = reduce(circuit, ex)
        hit = {"ex": ex, "red": red, "mna": None}
        _CACHE[circuit] = hit
    if breakdown and np.isfinite(hit["ex"].bv).any():
        if "breakdown" not in hit:
            ex = with_breakdown(hit["ex"])
            hit["breakdown"] = {"ex": ex, "red": reduce(circuit, ex), "mna": None}
        return hit["breakdown"]
    return hit


def mna_of(circuit, breakdown: bool = False) -> Mna:
    hit = prepared(circuit, breakdown)
    if hit["mna"] is None:
        hit["mna"] = build_mna(circuit, hit["ex"])
    return hit["mna"]


def with_breakdown(ex: Expanded) -> Expanded:
    """``ex`` plus, for each diode ``k`` with a finite ``bv``, a reversed ideal diode across the
    same junction (cathode to anode') with threshold ``bv[k]``: an ideal Zener keeps
    ``-bv <= v_d <= vth`` and conducts backwards at ``-bv``.  ``ex.paired`` (int64[z]) lists
    the diodes so paired; :func:`fold_breakdown` turns the currents back into one per diode."""
    z = np.flatnonzero(np.isfinite(ex.bv))
    out = Expanded(ex.n_nodes, ex.n_ext, ex.res_nodes, ex.g,
                   np.ascontiguousarray(np.concatenate([ex.dnodes, ex.dnodes[z, ::-1]])),
                   np.concatenate([ex.jp, ex.jp[z]]), np.concatenate([ex.vth, ex.bv[z]]),
                   ex.gscale, np.concatenate([ex.bv, np.full(z.size, np.inf)]),
                   np.concatenate([ex.dscale, ex.dscale[z]]), z)
    return out


def fold_breakdown(ex: Expanded, lam: np.ndarray) -> np.ndarray:
    """Diode currents [B, d] (anode to cathode) from the currents [B, d + z] of the
    :func:`with_breakdown` view (the reversed diodes' currents flow cathode to anode)."""
    z = ex.paired
    if z is None:
        return lam
    d = ex.dnodes.shape[0] - z.size
    out = np.array(lam[:, :d])
    out[:, z] -= lam[:, d:]
    return out


# ------------------------------------------------------------------ expansion
def expand(circuit) -> Expanded:
    n = circuit.n_nodes
    d = len(circuit.diode_names)
    dn = circuit.diode_nodes.copy()
    rs = circuit.diode_rs
    has_rs = np.flatnonzero(rs > 0)
    internal = n + np.arange(has_rs.size)
    rs_edges = np.stack([dn[has_rs, 0], internal], axis=1) if has_rs.size else np.zeros((0, 2), np.int64)
    dn[has_rs, 0] = internal
    res_nodes = np.concatenate([circuit.resistor_nodes.reshape(-1, 2), rs_edges]).astype(np.int64)
    g = np.concatenate([circuit.conductance, 1.0 / rs[has_rs]]) if d else circuit.conductance.copy()
    n_ext = n + has_rs.size
    deg = np.zeros(n_ext)
    np.add.at(deg, res_nodes[:, 0], g)
    np.add.at(deg, res_nodes[:, 1], g)
    gscale = float(deg[1:].max()) if n_ext > 1 and deg[1:].size else 1.0
    if not gscale > 0:
        gscale = 1.0
    # a diode's current passes through the conductances at each terminal (ground excluded)
    dg = np.where(np.arange(n_ext) == 0, np.inf, deg)
    with np.errstate(invalid="ignore"):
        dscale = np.minimum(dg[dn[:, 0]], dg[dn[:, 1]]) if d else np.zeros(0)
    dscale = np.where(np.isfinite(dscale) & (dscale > 0), dscale, gscale)
    return Expanded(n, n_ext, res_nodes, g, dn.astype(np.int64), junction_params(circuit),
                    circuit.diode_vth.copy(), gscale, circuit.diode_bv.copy(), dscale)


def junction_params(circuit) -> np.ndarray:
    """float64[d, 5]: each diode's Shockley parameters as ngspice 39 computes them at 27 C
    (columns of :mod:`circuitlearn.solve.shockley.kernels_junction`): ``IS`` and ``N Vt``;
    ``vcrit = N Vt ln(N Vt / (sqrt 2 IS))``; the breakdown voltage ``tBrkdwnV`` (``inf``
    without ``BV``), which ``diotemp.c`` moves from ``BV`` so that the breakdown branch
    carries ``IBV`` at ``-BV``: ``x = BV - NBV Vt ln(IBV / IS + 1 - x / Vt)``, iterated
    here to convergence (ngspice stops at ``reltol * IBV``: within 1e-7 V at its default
    ``reltol``, exact at the tight options of the validation runs); and ``NBV Vt``."""
    vte = circuit.diode_n * VT
    isat = circuit.diode_is
    with np.errstate(divide="ignore", invalid="ignore"):
        vcrit = vte * np.log(vte / (np.sqrt(2.0) * isat))
    vcrit = np.where(np.isfinite(vcrit), vcrit, 1.0)
    bv, ibv, vtb = circuit.diode_bv, circuit.diode_ibv, circuit.diode_nbv * VT
    x = bv.copy()
    knee = np.isfinite(bv) & ~(ibv < isat * bv / VT)     # else ngspice raises IBV, keeps BV
    if knee.any():
        b, c, s, t = bv[knee], ibv[knee], isat[knee], vtb[knee]
        xk = b - t * np.log1p(c / s)
        for _ in range(50):
            new = b - t * np.log(c / s + 1.0 - xk / VT)
            done = np.all(np.abs(new - xk) <= 1e-15 * np.maximum(np.abs(new), 1.0))
            xk = new
            if done:
                break
        x[knee] = xk
    return np.ascontiguousarray(np.stack([isat, vte, vcrit, x, vtb], axis=1).reshape(-1, 5))


def densify(A: sp.csr_matrix):
    """A dense copy of ``A`` when it is more than a quarter full (and not huge): products
    with a batch then run as BLAS GEMMs (a DRN's input-to-hidden block is dense)."""
    size = A.shape[0] * A.shape[1]
    if size and A.nnz > 0.25 * size and size <= 50_000_000:
        return A.toarray()
    return A


def laplacian(res_nodes, g, n) -> sp.csr_matrix:
    a, b = res_nodes[:, 0], res_nodes[:, 1]
    rows = np.concatenate([a, b, a, b])
    cols = np.concatenate([a, b, b, a])
    vals = np.concatenate([g, g, -g, -g])
    return sp.csr_matrix((vals, (rows, cols)), shape=(n, n))


# ------------------------------------------------------------------ reduction
def _source_tree(circuit):
    """BFS from ground over V sources: fixed nodes, P, and (parent, child, sign) per source."""
    n = circuit.n_nodes
    vn = circuit.vsource_nodes
    nv = vn.shape[0]
    adj = [[] for _ in range(n)]
    for k in range(nv):
        p, m = int(vn[k, 0]), int(vn[k, 1])
        adj[p].append((k, m))
        adj[m].append((k, p))
    seen = {0: None}
    order = [0]
    child_of = {}           # source k -> child node
    queue = deque([0])
    while queue:
        u = queue.popleft()
        for k, w in adj[u]:
            if w not in seen:
                seen[w] = (u, k)
                child_of[k] = w
                order.append(w)
                queue.append(w)
    return seen, order, child_of


def reduce(circuit, ex: Expanded) -> Reduced:
    nv = len(circuit.vsource_names)
    ni = len(circuit.isource_names)
    if len(circuit.vcvs_names) or len(circuit.vccs_names):
        return Reduced(False, "controlled sources (E/G) need the MNA path")
    seen, order, child_of = _source_tree(circuit)
    if len(child_of) != nv:
        return Reduced(False, "a voltage source is not tied to ground by other voltage sources")
    n_ext = ex.n_ext
    fixed = np.array(order, dtype=np.int64)
    is_fixed = np.zeros(n_ext, bool)
    is_fixed[fixed] = True
    free = np.flatnonzero(~is_fixed).astype(np.int64)
    nf, nx = free.size, fixed.size
    pos_f = -np.ones(n_ext, np.int64)
    pos_f[free] = np.arange(nf)
    pos_x = -np.ones(n_ext, np.int64)
    pos_x[fixed] = np.arange(nx)

    # the source tree: each fixed node hangs from its BFS parent by one source
    vn = circuit.vsource_nodes
    parent = -np.ones(nx, np.int64)
    src = -np.ones(nx, np.int64)
    sign = np.zeros(nx)
    for j, node in enumerate(order[1:], start=1):
        par, k = seen[node]
        parent[j], src[j] = pos_x[par], k
        sign[j] = 1.0 if vn[k, 0] == node else -1.0    # v[n+] - v[n-] = value
    tree = SourceTree(parent, src, sign, nv)

    L = laplacian(ex.res_nodes, ex.g, n_ext)
    Lff = L[free][:, free].tocsr()
    Lfx = L[free][:, fixed].tocsr()
    Lxf = densify(L[fixed][:, free].tocsr())
    Lxx = L[fixed][:, fixed].tocsr()
    # I sources: injected into n-, drawn from n+
    inn = circuit.isource_nodes
    Q = sp.csr_matrix((np.concatenate([np.ones(ni), -np.ones(ni)]),
                       (np.concatenate([inn[:, 1], inn[:, 0]]), np.tile(np.arange(ni), 2))),
                      shape=(n_ext, ni))
    Qf, Qx = Q[free].tocsr(), Q[fixed].tocsr()

    diag = Lff.diagonal().copy()
    adj = (-Lff).tocsr()
    adj.setdiag(0.0)
    adj.eliminate_zeros()
    adj.sort_indices()

    d = ex.dnodes.shape[0]
    a, c = ex.dnodes[:, 0], ex.dnodes[:, 1]
    fa, fc, xa, xc = pos_f[a], pos_f[c], pos_x[a], pos_x[c]
    ar = np.arange(d)
    ma, mc = fa >= 0, fc >= 0
    A = sp.csr_matrix((np.concatenate([np.ones(ma.sum()), -np.ones(mc.sum())]),
                       (np.concatenate([fa[ma], fc[mc]]), np.concatenate([ar[ma], ar[mc]]))),
                      shape=(nf, d))
    mxa, mxc = xa >= 0, xc >= 0
    Ax = sp.csr_matrix((np.concatenate([np.ones(mxa.sum()), -np.ones(mxc.sum())]),
                        (np.concatenate([xa[mxa], xc[mxc]]), np.concatenate([ar[mxa], ar[mxc]]))),
                       shape=(nx, d))
    Cx = Ax.T.tocsr()
    counts = np.asarray(abs(A).sum(axis=1)).ravel()
    one_per_node = bool(np.all(counts <= 1))

    # free-free diodes as per-node CSR (both endpoints see the constraint)
    both = np.flatnonzero(ma & mc)
    nodes = np.concatenate([fa[both], fc[both]])
    nbr = np.concatenate([fc[both], fa[both]])
    sign = np.concatenate([np.ones(both.size, np.int64), -np.ones(both.size, np.int64)])
    vthf = np.concatenate([ex.vth[both], ex.vth[both]])
    o = np.argsort(nodes, kind="stable")
    ffptr = np.zeros(nf + 1, np.int64)
    np.add.at(ffptr, nodes + 1, 1)
    ffptr = np.cumsum(ffptr)
    ff = (ffptr, nbr[o].astype(np.int64), sign[o], vthf[o].astype(np.float64))

    # colouring over resistors and free-free diodes
    G = (adj + sp.csr_matrix((np.ones(2 * both.size), (nodes, nbr)), shape=(nf, nf))).tocsr()
    G.sort_indices()
    colour = greedy_colouring(G.indptr.astype(np.int64), G.indices.astype(np.int64), nf)
    order_nodes = np.argsort(colour, kind="stable").astype(np.int64)
    n_colours = int(colour.max()) + 1 if nf else 0

    system = AffineSystem(Lff.tocsc(), A.T.tocsr(), np.arange(nf, dtype=np.int64))
    return Reduced(True, "", free, fixed, tree, densify(Lfx), Qf, Lff, adj, diag, Lxf, Lxx, Qx,
                   fa, fc, xa, xc, Cx, A, Ax, order_nodes, colour, n_colours, ff, one_per_node,
                   system)


# ------------------------------------------------------------------------ MNA
def build_mna(circuit, ex: Expanded) -> Mna:
    """Modified nodal analysis of the expanded circuit (ground row/column removed)."""
    nn = ex.n_ext - 1
    nv = len(circuit.vsource_names)
    ne = len(circuit.vcvs_names)
    ni = len(circuit.isource_names)
    n = nn + nv + ne
    rows, cols, vals = [], [], []

    def put(r, c, v):
        r = np.asarray(r)
        c = np.asarray(c)
        v = np.broadcast_to(np.asarray(v, dtype=np.float64), r.shape)
        keep = (r >= 0) & (c >= 0)
        rows.append(r[keep])
        cols.append(c[keep])
        vals.append(v[keep])

    a, b = ex.res_nodes[:, 0] - 1, ex.res_nodes[:, 1] - 1
    put(a, a, ex.g)
    put(b, b, ex.g)
    put(a, b, -ex.g)
    put(b, a, -ex.g)
    # V sources: current unknown leaves n+ and enters n-; row: v+ - v- = value
    vn = circuit.vsource_nodes - 1
    kv = nn + np.arange(nv)
    put(vn[:, 0], kv, 1.0)
    put(vn[:, 1], kv, -1.0)
    put(kv, vn[:, 0], 1.0)
    put(kv, vn[:, 1], -1.0)
    # E: v+ - v- - gain (vc+ - vc-) = 0, current unknown as for V sources
    en = circuit.vcvs_nodes - 1
    ke = nn + nv + np.arange(ne)
    eg = circuit.vcvs_gain
    put(en[:, 0], ke, 1.0)
    put(en[:, 1], ke, -1.0)
    put(ke, en[:, 0], 1.0)
    put(ke, en[:, 1], -1.0)
    put(ke, en[:, 2], -eg)
    put(ke, en[:, 3], eg)
    # G: current gain (vc+ - vc-) leaves n+, enters n-
    gn = circuit.vccs_nodes - 1
    gg = circuit.vccs_gain
    put(gn[:, 0], gn[:, 2], gg)
    put(gn[:, 0], gn[:, 3], -gg)
    put(gn[:, 1], gn[:, 2], -gg)
    put(gn[:, 1], gn[:, 3], gg)
    M = sp.csc_matrix((np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))),
                      shape=(n, n))
    # rhs = R @ sources
    inn = circuit.isource_nodes - 1
    rr = [kv, inn[:, 1], inn[:, 0]]
    rc = [np.arange(nv), nv + np.arange(ni), nv + np.arange(ni)]
    rv = [np.ones(nv), np.ones(ni), -np.ones(ni)]
    rr = np.concatenate(rr)
    rc = np.concatenate(rc)
    rv = np.concatenate(rv)
    keep = rr >= 0
    R = sp.csr_matrix((rv[keep], (rr[keep], rc[keep])), shape=(n, nv + ni))
    d = ex.dnodes.shape[0]
    da, dc = ex.dnodes[:, 0] - 1, ex.dnodes[:, 1] - 1
    ar = np.arange(d)
    ma, mc = da >= 0, dc >= 0
    C = sp.csr_matrix((np.concatenate([np.ones(ma.sum()), -np.ones(mc.sum())]),
                       (np.concatenate([ar[ma], ar[mc]]), np.concatenate([da[ma], dc[mc]]))),
                      shape=(d, n))
    pinned = np.zeros(nn, bool)
    for arr in (vn[:, :2], en[:, :2]):
        flat = arr.ravel()
        pinned[flat[flat >= 0]] = True
    kcl = np.flatnonzero(~pinned).astype(np.int64)
    return Mna(AffineSystem(M, C, kcl, symmetric=(ne == 0 and gg.size == 0)), R, nv, nn)


# ----------------------------------------------------- new values, same structure
def _block_map(res_nodes, n_edges, rows_pos, cols_pos):
    """How the Laplacian block ``L[rows][:, cols]`` (CSR, sorted) is made of edge conductances.

    ``rows_pos``/``cols_pos``: position of each expanded node in the block's rows/columns
    (-1 outside).  Returns ``(indptr, indices, entry, edge, sign)``: the block's data are
    ``bincount(entry, sign * g[edge])``."""
    a, b = res_nodes[:, 0], res_nodes[:, 1]
    e = np.arange(n_edges)
    r = np.concatenate([a, b, a, b])
    c = np.concatenate([a, b, b, a])
    edge = np.concatenate([e, e, e, e])
    sign = np.concatenate([np.ones(2 * n_edges), -np.ones(2 * n_edges)])
    pr, pc = rows_pos[r], cols_pos[c]
    keep = (pr >= 0) & (pc >= 0)
    pr, pc, edge, sign = pr[keep], pc[keep], edge[keep], sign[keep]
    n_rows, n_cols = int(rows_pos.max(initial=-1)) + 1, int(cols_pos.max(initial=-1)) + 1
    keys, entry = np.unique(pr * max(n_cols, 1) + pc, return_inverse=True)
    indptr = np.zeros(n_rows + 1, np.int64)
    np.add.at(indptr, keys // max(n_cols, 1) + 1, 1)
    return (np.cumsum(indptr), (keys % max(n_cols, 1)).astype(np.int32), entry, edge, sign,
            (n_rows, n_cols))


def _block(m, g):
    indptr, indices, entry, edge, sign, shape = m
    data = np.bincount(entry, weights=sign * g[edge], minlength=indices.size)
    return sp.csr_matrix((data, indices, indptr), shape=shape)


def carry_structure(old, new) -> bool:
    """Prepare circuit ``new`` -- ``old`` with other resistor conductances, same topology
    (:meth:`Circuit.with_conductance`) -- from ``old``'s cached structure: the source tree,
    colouring, diode incidences and the LDL^T symbolic plan are kept; only the Laplacian
    blocks and the plan's numeric values are recomputed (a 20-node reduction
    costs ~3 ms, this ~0.2 ms).  Returns False (nothing done) when ``old`` has no reduced
    structure cached; ``new`` is then prepared from scratch on first use."""
    hit = _CACHE.get(old)
    if hit is None or not hit["red"].ok or new in _CACHE:
        return False
    if new.resistor_nodes.shape != old.resistor_nodes.shape:
        raise ValueError("carry_structure needs the same topology")
    red = hit["red"]
    maps = hit.get("maps")
    ex = expand(new)
    if maps is None:
        n_ext, m = ex.n_ext, ex.g.size
        pf = -np.ones(n_ext, np.int64)
        pf[red.free] = np.arange(red.free.size)
        px = -np.ones(n_ext, np.int64)
        px[red.fixed] = np.arange(red.fixed.size)
        maps = hit["maps"] = {k: _block_map(ex.res_nodes, m, rp, cp) for k, rp, cp in
                              (("ff", pf, pf), ("fx", pf, px), ("xf", px, pf), ("xx", px, px))}
    Lff = _block(maps["ff"], ex.g)
    Lfx = _block(maps["fx"], ex.g)
    nf = red.free.size
    adj = (-Lff).tocsr()
    adj.setdiag(0.0)
    adj.eliminate_zeros()
    adj.sort_indices()
    new_red = dataclasses.replace(
        red, Lff=Lff, adj=adj, diag=Lff.diagonal().copy(),
        Lxf=densify(_block(maps["xf"], ex.g)), Lxx=_block(maps["xx"], ex.g),
        Lfx=densify(Lfx),
        system=AffineSystem(Lff.tocsc(), red.system.C, red.system.kcl_rows))
    if adj.nnz != red.adj.nnz or nf != Lff.shape[0]:
        return False          # a conductance became 0: the colouring may no longer hold
    _CACHE[new] = {"ex": ex, "red": new_red, "mna": None, "maps": maps}
    from circuitlearn.solve.linalg.ldl import carry_plans
    carry_plans(red, new_red)
    return True


def extend_x0(circuit, ex, x0):
    """x0 ``[B, n_nodes]`` -> ``[n_ext, B]`` (internal diode nodes copy their anode)."""
    x0 = np.asarray(x0, dtype=np.float64)
    vext = np.zeros((ex.n_ext, x0.shape[0]))
    vext[:circuit.n_nodes] = x0.T
    if ex.n_ext > circuit.n_nodes:
        rs = np.flatnonzero(circuit.diode_rs > 0)
        vext[circuit.n_nodes:] = x0.T[circuit.diode_nodes[rs, 0]]
    return vext
