"""Ideal-diode DC solver: projected coordinate descent, exact active-set fallback, certificate.

The problem
-----------
An ideal diode (anode ``a``, cathode ``c``, threshold ``vth``) carries a
current ``i >= 0`` from anode to cathode, keeps ``v_a - v_c <= vth`` and
conducts only at the threshold: ``i * (v_a - v_c - vth) = 0``.  Without
controlled sources and floating voltage sources the operating point is the
minimiser of the circuit's power

    E(v) = 1/2 sum_ij g_ij (v_i - v_j)^2 - sum_i I_i v_i
    subject to  v_a - v_c <= vth  for every diode,

a convex QP whose KKT multipliers are the diode currents.

Algorithms
----------
1. *Projected coordinate descent* (``method="cd"`` or first stage of
   ``"auto"``): the numba kernel :func:`~circuitlearn.solve.kernels.projected_cd`
   sets each free node to its exact clipped minimiser, colour class by colour
   class, for the whole batch at once.  E never increases.  Bounds from diodes
   to fixed nodes are exact boxes, so with only such diodes CD converges to
   the optimum.  A diode between two *free* nodes couples them; single-node
   moves can then stop short of the optimum (both nodes pinned against each
   other while moving the pair together would lower E).
2. *Certificate*: diode currents are recovered from Kirchhoff's law at the
   free nodes (locally when every free node touches at most one diode, else by
   a least-squares solve over the conducting diodes) and the KCL residual and
   the complementarity residual are checked (see :func:`certify`).
3. *Primal-dual active set* (``method="active-set"`` or the fallback of
   ``"auto"`` for every sample whose certificate fails): conducting diodes are
   voltage constraints ``v_a - v_c = vth`` with their current as unknown; the
   KKT system ``[[M, C_A^T], [C_A, 0]]`` is solved (SuperLU up to
   :data:`DIRECT_MAX` unknowns; above, where sparse LU of a random graph fills
   in catastrophically, the numba MINRES kernel with a block-Jacobi
   preconditioner, refined until the true residual is 1e-3 of the
   certificate's thresholds, warm-started from CD), and the
   active set is updated (keep diodes with ``i > 0``, add those with
   ``v_d > vth``) until it no longer changes.  This is the semismooth Newton
   method on ``min(i, vth - v_d) = 0``; it is exact when it stops (the
   certificate is checked again).  A repeated active set (cycling) or
   ``maxiter`` iterations stop it with ``status=1``.  It warm-starts from CD's
   active set.
4. Circuits with E/G sources or floating V sources skip CD and run the active
   set method on the modified nodal equations (non-symmetric).  It is exact
   whenever the iteration stops with a stable active set -- which the
   certificate confirms; for amplifier-isolated layers (no feedback) it stops.

Tolerances
----------
``kcl_residual`` (A) must be ``<= gscale * (10 tol + 64 eps vmax)`` and
``diode_violation`` (V) ``<= 10 tol + 64 eps vmax``, where ``gscale`` is the
largest sum of conductances at a node and ``vmax`` the largest |voltage|.
``diode_violation = max_k |min(i_k / gscale, vth_k - v_d,k)|`` -- zero exactly
when ``i >= 0``, ``v_d <= vth`` and one of them is tight.  A diode between two
fixed nodes has an undetermined current; it is reported as 0 and only its
voltage is checked.  Diode series resistances are kept (internal node).
"""
from __future__ import annotations

import dataclasses

import numpy as np
import scipy.sparse as sp
import scipy.sparse.linalg as spla

from circuitlearn.solve import kernels
from circuitlearn.solve.assemble import AffineSystem, mna_of, prepared
from circuitlearn.solve.result import STATUS_MESSAGES, SolveResult

EPS = np.finfo(np.float64).eps
#: Sweeps of exact CD before switching to projected SOR, and its relaxation factor.
AUTO_SOR_AFTER = 30
AUTO_SOR_OMEGA = 1.8


def _thresholds(tol, gscale, vmax):
    vtol = 10.0 * tol + 64.0 * EPS * vmax
    return gscale * vtol, vtol


def certify(r, lam, vd, vth, gscale):
    """Certificate of one or many samples.

    r     : float64[B, k] KCL residual at free nodes (A)
    lam   : float64[B, d] diode currents (A), anode to cathode
    vd    : float64[B, d] junction voltages; vth : float64[d]
    Returns ``(kcl float64[B], violation float64[B])``.
    """
    kcl = np.max(np.abs(r), axis=1, initial=0.0)
    comp = np.minimum(lam / gscale, vth - vd)
    viol = np.max(np.abs(comp), axis=1, initial=0.0)
    return kcl, viol


# --------------------------------------------------------------- active set
#: Largest KKT system factorised with SuperLU; larger ones use preconditioned MINRES
#: (random graphs fill in catastrophically: SuperLU needed ~20 s per factorisation at 10^4 nodes).
DIRECT_MAX = 3000


def solve_kkt(M, CA, rh, warm, gscale, symmetric=True, tol=1e-10):
    """Solve ``[[M, CA^T], [CA, 0]] [x; i] = rh``; returns ``(solution, None)`` or ``(None, why)``.

    Direct (SuperLU) up to :data:`DIRECT_MAX` unknowns, else MINRES with the
    block-Jacobi preconditioner ``diag(1/diag M, 1/diag(CA diag(M)^-1 CA^T))``
    (symmetric systems only: non-symmetric MNA is always factorised) plus iterative
    refinement; the caller's certificate judges the final accuracy.
    """
    n, k = M.shape[0], CA.shape[0]
    K = sp.bmat([[M, CA.T], [CA, None]], format="csc") if k else sp.csc_matrix(M)
    if n + k <= DIRECT_MAX or not symmetric:
        try:
            return spla.splu(K).solve(rh), None
        except RuntimeError:
            reg = sp.diags(np.concatenate([np.full(n, 1e-12 * gscale), np.full(k, -1e-12 / gscale)]))
            try:
                lu = spla.splu((K + reg).tocsc())
                x = lu.solve(rh)
                for _ in range(3):        # refine against K itself: the regularisation pulls
                    x = x + lu.solve(rh - K @ x)   # every node towards 0 V by ~1e-12 gscale v
                return x, None
            except RuntimeError as exc:
                return None, f"singular system ({exc})"
    K = K.tocsr()
    d = M.diagonal()
    if np.any(d <= 0):
        return None, "singular system (a node without conductance)"
    s = np.asarray(CA.multiply(CA) @ (1.0 / d)).ravel() if k else np.zeros(0)
    minv = np.concatenate([1.0 / d, 1.0 / np.where(s > 0, s, 1.0)])
    ip, ix = K.indptr.astype(np.int64), K.indices.astype(np.int64)
    x = np.array(warm, dtype=np.float64)
    # stop on the true residual: node rows (A) and constraint rows (V) well inside the
    # certificate's thresholds, so a warm start (few diodes changed) costs few iterations
    target = np.concatenate([np.full(n, 1e-3 * tol * gscale), np.full(k, 1e-3 * tol)])
    for _ in range(12):
        r = rh - K @ x
        if np.all(np.abs(r) <= target):
            break
        dx = np.zeros_like(x)
        info = kernels.minres(ip, ix, K.data, minv, r, dx, 1e-6, 50000)
        if info < 0 or not np.all(np.isfinite(dx)):
            return None, f"MINRES failed (iteration {abs(info)})"
        x = x + dx
    return x, None


def active_set(system: AffineSystem, rhs, c0, vth, active, maxiter, gscale, tol, x0=None, lam0=None):
    """Primal-dual active-set (semismooth Newton) solve of one sample.

    ``M x + C^T i = rhs``, ``v_d = C x + c0``; diodes in ``active`` (bool[d])
    start conducting; ``x0``/``lam0`` warm-start the iterative linear solver.
    Returns ``(x, i, status, nit, message)``.
    """
    M, C = system.M, system.C
    n, d = M.shape[0], C.shape[0]
    seen = set()
    x = np.zeros(n) if x0 is None else np.array(x0, dtype=np.float64)
    lam = np.zeros(d) if lam0 is None else np.array(lam0, dtype=np.float64)
    i_tol = 1e-3 * tol * gscale
    v_tol = 1e-3 * tol
    for it in range(1, maxiter + 1):
        idx = np.flatnonzero(active)
        CA = C[idx]
        rh = np.concatenate([rhs, vth[idx] - c0[idx]])
        warm = np.concatenate([x, lam[idx]])
        sol, err = solve_kkt(M, CA, rh, warm, gscale, system.symmetric, tol)
        if sol is None:
            return x, lam, 2, it, err
        if not np.all(np.isfinite(sol)):
            return x, lam, 2, it, "non-finite values in the active-set solve"
        x = sol[:n]
        lam = np.zeros(d)
        lam[idx] = sol[n:]
        vd = C @ x + c0
        new = np.where(active, lam > -i_tol, vd - vth > v_tol)
        if np.array_equal(new, active):
            return x, lam, 0, it, "converged"
        key = np.packbits(new).tobytes()
        if key in seen:
            return x, lam, 1, it, "active set is cycling"
        seen.add(key)
        active = new
    return x, lam, 1, maxiter, STATUS_MESSAGES[1]


def node_certified(circuit, ex, red, vfx, v, lam, S):
    """bool[B]: every free node's KCL holds against its own currents
    (:func:`circuitlearn.solve.certificate.nodes_certified`)."""
    from circuitlearn.solve.certificate import nodes_certified
    vext = np.zeros((ex.n_ext, v.shape[1]))
    vext[red.fixed] = vfx
    vext[red.free] = v
    return nodes_certified(circuit, ex, red.free, vext, lam, S)


def _system_certificate(system, rhs, x, lam, c0, vth, gscale):
    r = (rhs - system.M @ x - system.C.T @ lam)[system.kcl_rows]
    vd = system.C @ x + c0
    k, v = certify(r[None], lam[None], vd[None], vth, gscale)
    return k[0], v[0]


# --------------------------------------------------------------------- solve
def solve_ideal(circuit, S, *, tol=1e-10, maxiter=None, x0=None, method="auto",
                record_energy=False, omega=None) -> SolveResult:
    """Ideal-diode operating points of ``circuit`` for sources ``S`` (``float64[B, n_sources]``).

    ``method``: ``"auto"`` (CD, then the active-set method for samples whose
    certificate fails), ``"cd"`` (coordinate descent only, status from the
    certificate) or ``"active-set"``; ``"auto"`` (without ``omega``) on a reduced circuit without diodes
    (up to ``DIRECT_MAX`` free nodes) is one sparse LU solve for the whole batch
    (``result.method == "direct"``).  ``maxiter`` bounds CD sweeps and
    active-set iterations (defaults 10000 and 200).  With
    ``record_energy=True`` the result has an ``energy`` attribute:
    ``float64[sweeps+1, B]``, the energy after each CD sweep.  ``omega``: CD
    relaxation factor in (0, 2); ``None`` (default) runs exact CD for
    ``AUTO_SOR_AFTER`` sweeps and then projected SOR with ``AUTO_SOR_OMEGA``
    (measured on a 10^4-node random graph: 1062 sweeps at 1.0, 114 at 1.8).
    """
    if omega is not None and not (0.0 < float(omega) < 2.0):
        raise ValueError(f"omega must lie in (0, 2), got {omega!r}")
    hit = prepared(circuit)
    ex, red = hit["ex"], hit["red"]
    if method not in ("auto", "cd", "active-set"):
        raise ValueError(f"method must be 'auto', 'cd' or 'active-set', got {method!r}")
    if not red.ok:
        if method == "cd":
            raise ValueError(f"method='cd' needs a reducible circuit: {red.why}")
        return _solve_mna(circuit, ex, S, tol, maxiter, x0)
    return _solve_reduced(circuit, ex, red, S, tol, maxiter, x0, method, record_energy, omega, hit)


def _solve_reduced(circuit, ex, red, S, tol, maxiter, x0, method, record_energy, omega, cache):
    B = S.shape[0]
    nv = len(circuit.vsource_names)
    nf, nx = red.free.size, red.fixed.size
    d = ex.dnodes.shape[0]
    cd_iter = 10000 if maxiter is None else int(maxiter)
    as_iter = 200 if maxiter is None else int(maxiter)
    vfx = np.ascontiguousarray(red.P @ S[:, :nv].T) if nx else np.zeros((0, B))
    bT = np.ascontiguousarray(red.Bmat @ S.T)
    vfx = np.asarray(vfx, dtype=np.float64).reshape(nx, B)
    bT = np.asarray(bT, dtype=np.float64).reshape(nf, B)
    status = np.zeros(B, np.int64)
    messages = {}
    fallback = False
    if np.any(red.diag <= 0):
        bad = [circuit.node_names[i] if i < circuit.n_nodes else f"internal{i}"
               for i in red.free[red.diag <= 0][:5]]
        msg = ("node(s) with no resistive path, undetermined with ideal diodes: " + ", ".join(bad))
        return _failure(circuit, B, 2, msg)

    # start point: x0 (original nodes; internal nodes start at their anode's value)
    v = np.zeros((nf, B))
    if x0 is not None:
        vext = _extend(circuit, ex, x0)
        v[:] = vext[red.free]
    lo = np.full((nf, B), -np.inf)
    hi = np.full((nf, B), np.inf)
    kernels.diode_bounds(lo, hi, red.fa, red.fc, red.xa, red.xc, vfx, ex.vth)
    energy = np.zeros((cd_iter + 1 if record_energy else 0, B))
    nit = np.zeros(B, np.int64)
    sweeps = 0
    fixed_part = np.asarray(red.Cx @ vfx).reshape(d, B)         # c0 per diode [d, B]
    direct = method == "auto" and omega is None and d == 0 and 0 < nf <= DIRECT_MAX
    if direct:
        # no diodes: the operating point is the linear solve L_ff v = b -- one
        # factorisation for the whole batch (CD on a weakly anchored graph needs
        # thousands of sweeps for the same answer)
        lu = cache.get("lu")
        try:
            if lu is None:      # symmetric: minimum degree on A^T + A (half the fill of COLAMD)
                lu = cache["lu"] = spla.splu(red.Lff.tocsc(), permc_spec="MMD_AT_PLUS_A")
            v[:] = lu.solve(bT)
            nit[:] = 1
        except RuntimeError:
            direct = False
    if method != "active-set" and not direct:
        ffptr, ffnbr, ffsign, ffvth = red.ff
        args = (red.adj.indptr.astype(np.int64), red.adj.indices.astype(np.int64), red.adj.data,
                red.diag, bT, lo, hi, red.order, ffptr, ffnbr, ffsign, ffvth)
        # exact CD first (layered nets converge in a few sweeps); samples still moving
        # after AUTO_SOR_AFTER sweeps continue with over-relaxation (see projected_cd)
        first = cd_iter if omega is not None else min(cd_iter, AUTO_SOR_AFTER)
        w = 1.0 if omega is None else float(omega)
        sweeps = kernels.projected_cd(v, *args, first, tol, nit, energy, w)
        if omega is None and sweeps == first and cd_iter > first and np.any(nit < 0):
            nit2 = np.zeros(B, np.int64)
            e2 = np.zeros((cd_iter - first + 1 if record_energy else 0, B))
            more = kernels.projected_cd(v, *args, cd_iter - first, tol, nit2, e2, AUTO_SOR_OMEGA)
            nit = np.where(nit < 0, np.where(nit2 < 0, -1, nit2 + sweeps), nit)
            if record_energy:
                energy[sweeps:sweeps + more + 1] = e2[:more + 1]
            sweeps += more
        nit = np.where(nit < 0, sweeps, nit)
    finite = np.all(np.isfinite(v), axis=0)
    v[:, ~finite] = 0.0
    status[~finite] = 2

    # diode currents from KCL, then the certificate
    vd = (np.asarray(red.A.T @ v) + fixed_part).T                # [B, d]
    r = (bT - red.Lff @ v).T                                      # [B, nf]
    act_tol = max(1e3 * tol, 1e-9)
    lam = _currents_from_kcl(red, r, vd >= ex.vth - act_tol)
    res = r - np.asarray(red.A @ lam.T).T
    vmax = float(np.max(np.abs(vfx), initial=0.0)) + float(np.max(np.abs(v), initial=0.0))
    ktol, vtol = _thresholds(tol, ex.gscale, vmax)
    kcl, viol = certify(res, lam, vd, ex.vth, ex.gscale)
    ok = (kcl <= ktol) & (viol <= vtol) & (status == 0)
    # and node by node, against the currents meeting at each node (a stiff element makes
    # the circuit-wide threshold above far too loose for its neighbours' currents)
    ok &= node_certified(circuit, ex, red, vfx, v, lam, S)
    # a diode between two fixed nodes biased beyond its threshold would short the sources
    both = (red.xa >= 0) & (red.xc >= 0)
    infeasible = np.any(both & (vd - ex.vth > vtol), axis=1) & (status == 0)
    if infeasible.any():
        k = int(np.flatnonzero(both & (vd[np.flatnonzero(infeasible)[0]] - ex.vth > vtol))[0])
        status[infeasible] = 2
        messages[2] = (f"infeasible: ideal diode {circuit.diode_names[k]} joins two nodes fixed by "
                       f"voltage sources and is forward-biased beyond its threshold "
                       f"(it would short the sources)")
    if method == "cd":
        status[~ok & (status == 0)] = 1
        if np.any(~ok):
            messages[1] = "coordinate descent stopped before the certificate holds"
    else:
        todo = np.flatnonzero(~ok & (status == 0))
        fallback = todo.size > 0
        for b in todo:
            active = vd[b] >= ex.vth - act_tol if method == "auto" else np.zeros(d, bool)
            x, lb, st, it, msg = active_set(red.system, bT[:, b], fixed_part[:, b], ex.vth,
                                            active, as_iter, ex.gscale, tol, v[:, b], lam[b])
            nit[b] += it
            if st == 2 and not np.all(np.isfinite(x)):
                x = v[:, b]
            v[:, b] = x
            lam[b] = lb
            kcl[b], viol[b] = _system_certificate(red.system, bT[:, b], x, lb,
                                                  fixed_part[:, b], ex.vth, ex.gscale)
            vd[b] = red.A.T @ x + fixed_part[:, b]
            if st == 0 and not (kcl[b] <= ktol and viol[b] <= vtol):
                st, msg = 1, "active set stable but certificate fails (degenerate or infeasible diodes)"
            if st == 0 and not node_certified(circuit, ex, red, vfx[:, b:b + 1], x[:, None],
                                              lb[None], S[b:b + 1])[0]:
                from circuitlearn.solve.certificate import NODE_MESSAGE
                st, msg = 1, NODE_MESSAGE
            status[b] = st
            if st:
                messages.setdefault(st, msg)
        ok = status == 0
    # assemble voltages and currents
    vext = np.zeros((ex.n_ext, B))
    vext[red.fixed] = vfx
    vext[red.free] = v
    demand = red.Lxf @ vext[red.free] + red.Lxx @ vext[red.fixed] - red.Qx @ S[:, nv:].T + red.Ax @ lam.T
    isrc = np.asarray(red.Tsrc @ demand).T if nv else np.zeros((B, 0))
    method_name = {"auto": "cd+active-set" if fallback else "cd", "cd": "cd",
                   "active-set": "active-set"}[method]
    if direct:
        method_name = "direct"
    out = _result(circuit, vext, isrc, lam, status, nit, kcl, viol, messages, method_name)
    if record_energy:
        out = dataclasses.replace(out, energy=energy[:sweeps + 1])
    return out


def _currents_from_kcl(red, r, active):
    """Diode currents that best balance KCL at free nodes (zero for non-conducting diodes)."""
    B, d = active.shape
    lam = np.zeros((B, d))
    if d == 0:
        return lam
    A = red.A
    if red.one_diode_per_node:
        cnt = np.asarray(abs(A).sum(axis=0)).ravel()
        est = np.asarray(A.T @ r.T).T / np.maximum(cnt, 1.0)
        lam = np.where(active & (cnt > 0), est, 0.0)
        return lam
    Ac = A.tocsc()
    for b in range(B):
        idx = np.flatnonzero(active[b] & (np.diff(Ac.indptr) > 0))
        if idx.size == 0:
            continue
        Aa = Ac[:, idx]
        N = (Aa.T @ Aa).tocsc()
        N = N + sp.identity(idx.size, format="csc") * (1e-14 * max(N.diagonal().max(), 1.0))
        lam[b, idx] = spla.spsolve(N, Aa.T @ r[b])
    return lam


def _extend(circuit, ex, x0):
    """x0 ``[B, n_nodes]`` -> ``[n_ext, B]`` (internal diode nodes copy their anode)."""
    x0 = np.asarray(x0, dtype=np.float64)
    vext = np.zeros((ex.n_ext, x0.shape[0]))
    vext[:circuit.n_nodes] = x0.T
    if ex.n_ext > circuit.n_nodes:
        rs = np.flatnonzero(circuit.diode_rs > 0)
        vext[circuit.n_nodes:] = x0.T[circuit.diode_nodes[rs, 0]]
    return vext


def _failure(circuit, B, status, msg):
    n, nv, d = circuit.n_nodes, len(circuit.vsource_names), len(circuit.diode_names)
    return SolveResult(np.zeros((B, n)), np.zeros((B, nv)), np.zeros((B, d)), False, status,
                       msg, 0, np.full(B, np.inf), np.full(B, np.inf), np.zeros(B, bool),
                       circuit.node_names, "ideal")


def _result(circuit, vext, isrc, lam, status, nit, kcl, viol, messages, method):
    B = vext.shape[1]
    worst = int(status.max(initial=0))
    if worst == 0:
        msg = STATUS_MESSAGES[0]
    else:
        bad = np.flatnonzero(status)
        msg = (f"{bad.size} of {B} samples failed (first: sample {bad[0]}): "
               + "; ".join(messages.get(s, STATUS_MESSAGES[s]) for s in sorted(set(status[bad].tolist()))))
    V = np.ascontiguousarray(vext[:circuit.n_nodes].T)
    return SolveResult(V, np.ascontiguousarray(isrc), np.ascontiguousarray(lam), worst == 0, worst,
                       msg, int(nit.max(initial=0)), kcl, viol, status == 0, circuit.node_names,
                       method)


def _solve_mna(circuit, ex, S, tol, maxiter, x0):
    mna = mna_of(circuit)
    sysm = mna.system
    B = S.shape[0]
    d = ex.dnodes.shape[0]
    nn = mna.n_node_vars
    as_iter = 200 if maxiter is None else int(maxiter)
    rhs_all = np.asarray(mna.R @ S.T).reshape(-1, B)
    vext = np.zeros((ex.n_ext, B))
    lam = np.zeros((B, d))
    isrc = np.zeros((B, mna.nv))
    status = np.zeros(B, np.int64)
    nit = np.zeros(B, np.int64)
    kcl = np.zeros(B)
    viol = np.zeros(B)
    messages = {}
    c0 = np.zeros(d)
    start = _extend(circuit, ex, x0) if x0 is not None else None
    for b in range(B):
        if start is not None:
            vd0 = start[ex.dnodes[:, 0], b] - start[ex.dnodes[:, 1], b]
            active = vd0 >= ex.vth - 1e-9
        else:
            active = np.zeros(d, bool)
        x, lb, st, it, msg = active_set(sysm, rhs_all[:, b], c0, ex.vth, active, as_iter,
                                        ex.gscale, tol)
        vmax = float(np.max(np.abs(x[:nn]), initial=0.0))
        ktol, vtol = _thresholds(tol, ex.gscale, vmax)
        kcl[b], viol[b] = _system_certificate(sysm, rhs_all[:, b], x, lb, c0, ex.vth, ex.gscale)
        if st == 0 and not (kcl[b] <= ktol and viol[b] <= vtol):
            st, msg = 1, "active set stable but certificate fails"
        status[b], nit[b] = st, it
        if st:
            messages.setdefault(st, msg)
        vext[1:, b] = x[:nn]
        isrc[b] = x[nn:nn + mna.nv]
        lam[b] = lb
    return _result(circuit, vext, isrc, lam, status, nit, kcl, viol, messages, "mna-active-set")
