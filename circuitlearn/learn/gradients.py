r"""Exact gradients of a loss of the equilibrium, by implicit differentiation (the adjoint).

These are the yardstick for the EP estimates of :mod:`circuitlearn.learn.ep`
(seed 003: implicit differentiation, compared by cosine similarity).

Layered DRN, ideal diodes (:func:`layered_gradients`)
-----------------------------------------------------
At the free equilibrium every hidden node is either *pinned* at its diode
bound (clip active: its voltage is fixed by the diode and does not move under
a small parameter change) or *free*.  The free nodes ``f`` satisfy Kirchhoff's
current law, linear in ``v``:

.. math::  R_f(v, \theta) = b_f - (L v)_f = 0,

with ``L`` the weighted Laplacian of the conductances and ``b`` the injected
bias currents; inputs and pinned nodes are fixed.  Differentiating,
``L_ff dv_f = \partial_\theta R_f``, so for a loss ``C(v_out)`` and the adjoint
``L_ff \lambda = \partial C / \partial v_f`` (``\lambda = 0`` at inputs and
pinned nodes):

.. math::

    \frac{dC}{dg_{ij}} = -(\lambda_i - \lambda_j)(v_i - v_j), \qquad
    \frac{dC}{db_i} = +\lambda_i .

(``L_ff`` is symmetric positive definite once every free component touches a
fixed node.)  The results are the gradients of the *batch-mean* loss, in the
same ``(grad_w, grad_b)`` list structure as
:func:`circuitlearn.learn.ep.ep_gradients_from_states`, so they compare
directly with EP (which also estimates the gradient of the loss; the descent
direction is minus it).  A pinned node with zero diode current (exactly at the
kink) makes the loss non-differentiable there; the gradient returned is the
one-sided one of the current active set.

General compiled circuit (:func:`circuit_gradients`)
-----------------------------------------------------
Modified nodal analysis at the solution: unknowns are the non-ground node
voltages, the currents of V and E sources and, for ideal diodes, the currents
of the *conducting* diodes (``v_a - v_c - R_S i = v_{th}``: a voltage
constraint; non-conducting diodes are open).  Shockley diodes enter as their
small-signal conductance at the solution, ``g_j / (1 + R_S g_j)`` with
``g_j = dI/dV`` of ngspice's junction (GMIN included) -- the linearised
circuit.  With ``F(x, \theta) = 0`` these equations and ``J = \partial F /
\partial x``, one sparse solve ``J^T \lambda = \partial C/\partial x`` per
sample gives ``dC/d\theta = -\lambda^T \partial F/\partial \theta``:

* resistor ``r`` from ``a`` to ``b``: ``dC/dg_r = -(\lambda_a - \lambda_b)(v_a - v_b)``;
* current source from ``n+`` through the source to ``n-`` (injects into ``n-``):
  ``dC/dI = \lambda_{n-} - \lambda_{n+}``;
* voltage source: ``dC/dV = \lambda`` of its constraint row.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.linalg as sla
import scipy.sparse as sp
import scipy.sparse.linalg as spla

from circuitlearn.errors import SolveError
from circuitlearn.solve.layered import network as ly

__all__ = ["layered_equilibrium", "layered_gradients", "layered_loss_gradients",
           "device_exact_gradients", "CircuitGradient", "circuit_gradients",
           "drn_node_gradient", "drn_circuit_gradients", "flatten", "cosine"]


# ------------------------------------------------------------------ helpers
def flatten(grad_w, grad_b=None) -> np.ndarray:
    """One vector from the ``(grad_w, grad_b)`` lists (weights first, then biases)."""
    parts = [np.ravel(g) for g in grad_w] + [np.ravel(g) for g in (grad_b or [])]
    return np.concatenate(parts)


def cosine(a, b) -> float:
    """Cosine similarity of two vectors (or gradient lists flattened alike)."""
    a, b = np.ravel(a), np.ravel(b)
    na, nb = np.linalg.norm(a), np.linalg.norm(b)
    if na == 0 or nb == 0:
        return float("nan")
    return float(a @ b / (na * nb))


# ------------------------------------------------------------ layered (DRN)
def _net_params(weights, biases, vth, load=0.0):
    sizes = [np.shape(weights[0])[0]] + [np.shape(W)[1] for W in weights]
    net = ly.make_network(sizes, vth, load)
    if biases is None:
        biases = [np.zeros(n) for n in sizes[1:]]
    return net, ly.make_params(net, weights, biases)


def _pinned(params, v, atol):
    """bool[B, N]: free-layer nodes whose voltage does not move with the parameters: at a
    diode bound, or with no conductance at all (isolated; inputs are False)."""
    net = params.net
    o = net.offsets[1]
    scale = 1.0 + np.max(np.abs(v), initial=0.0)
    tol = atol * scale
    pin = (v <= net.lo + tol) | (v >= net.hi - tol) | (ly.conductance_sums(params) == 0)
    pin[:, :o] = False
    return pin


def _spd_solve(A, b):
    """Cholesky solve (``A`` symmetric positive definite); LinAlgError when it is not.
    (numpy's batched/threaded ``linalg.solve`` is orders of magnitude slower on small
    systems on this machine kind.)"""
    return sla.cho_solve(sla.cho_factor(A, check_finite=False), b, check_finite=False)


def _free_laplacian(params):
    """Dense Laplacian block over the free nodes (hidden + output), float64[Nf, Nf]."""
    net = params.net
    o = net.offsets
    n0 = o[1]
    nf = net.n_nodes - n0
    Lff = np.diag(ly.conductance_sums(params)[n0:])
    for l in range(1, net.n_layers):            # W_{l+1}: layer l -> layer l+1, both free
        W = params.weights[l]
        a, b = o[l] - n0, o[l + 1] - n0
        c, d = o[l + 1] - n0, o[l + 2] - n0
        Lff[a:b, c:d] -= W
        Lff[c:d, a:b] -= W.T
    assert Lff.shape == (nf, nf)
    return Lff


def layered_equilibrium(weights, biases, v_in, vth: float = 0.0, max_sweeps: int = 100000,
                        tol: float = 1e-13, atol: float = 1e-12, polish: bool = True,
                        load: float = 0.0):
    """Free equilibrium ``[v_0, ..., v_L]`` of a layered ideal-diode network, to roundoff.

    Block coordinate descent (:func:`circuitlearn.solve.layered.network.relax`) to ``tol``,
    then, with ``polish``, one exact linear solve of the free nodes on the
    resulting active set; the polished state is kept for each sample where it
    is feasible (inside the diode boxes, diode currents of the right sign).  ``load``:
    conductance from each output node to ground (a sense resistor)."""
    net, params = _net_params(weights, biases, vth, load)
    prep = ly.prepare(params, np.asarray(v_in, dtype=np.float64))
    v = ly.init_state(prep)
    ly.relax(prep, v, max_sweeps, tol)
    if polish:
        v = _polish(params, v, atol)
    return [a.copy() for a in ly.layer_views(net, v)]


def _polish(params, v, atol):
    net = params.net
    n0 = net.offsets[1]
    pin = _pinned(params, v, atol)[:, n0:]
    Lff = _free_laplacian(params)
    # right-hand side: biases + drive from inputs (layer 1)
    B = v.shape[0]
    rhs = np.tile(params.b_flat[n0:], (B, 1))
    rhs[:, :net.sizes[1]] += v[:, :n0] @ params.weights[0]
    vf = v[:, n0:].copy()
    lo, hi = net.lo[n0:], net.hi[n0:]
    at_lo = np.abs(v[:, n0:] - lo) <= np.abs(v[:, n0:] - hi)
    bound = np.where(at_lo, lo, hi)                              # the bound a node is nearest
    tol = atol * (1.0 + np.max(np.abs(v), initial=0.0))
    # pinned nodes sit at their bound; isolated ones keep their value
    at_bound = np.abs(v[:, n0:] - bound) <= tol
    vb = np.where(at_bound, bound, v[:, n0:])
    out = v.copy()
    for b in range(B):
        p = pin[b]
        f = ~p
        vp = vb[b, p]
        r = rhs[b, f] - Lff[np.ix_(f, p)] @ vp
        try:
            x = _spd_solve(Lff[np.ix_(f, f)], r) if f.any() else np.zeros(0)
        except np.linalg.LinAlgError:
            continue                                         # floating component: keep CD's
        cand = vf[b].copy()
        cand[f] = x
        cand[p] = vp
        full = v[b:b + 1].copy()
        full[0, n0:] = cand
        inside = np.all(cand >= net.lo[n0:] - 1e-12) and np.all(cand <= net.hi[n0:] + 1e-12)
        g = ly.kcl_residual(params, full)[0]                 # dE/dv: diode current at pinned nodes
        lo_side = at_lo[b]
        gs = 1e-9 * (1.0 + np.max(np.abs(g), initial=0.0))
        signs_ok = np.all(np.where(lo_side, g, -g)[p & at_bound[b]] >= -gs)
        if inside and signs_ok:
            out[b, n0:] = cand
    return out


def layered_gradients(weights, biases, free, dcdv_out, vth: float = 0.0, atol: float = 1e-12,
                      load: float = 0.0):
    """Exact gradient of the batch-mean loss w.r.t. ``W_l`` and ``b_l`` (ideal-diode DRN).

    Parameters
    ----------
    weights, biases : per-layer conductances ``W_l [n_{l-1}, n_l]`` and injected biases ``b_l``
    free : list ``[v_0, ..., v_L]`` of ``[B, n_l]``: the free equilibrium (exact; see
        :func:`layered_equilibrium`)
    dcdv_out : float64[B, n_out]: ``dC/dv_out`` of each sample at ``free`` (as a
        :class:`~circuitlearn.learn.losses.Loss` returns it)
    vth : diode threshold of the hidden nodes
    atol : relative tolerance deciding that a hidden node sits at its bound
    load : conductance from each output node to ground (a sense resistor)

    Returns
    -------
    (grad_w, grad_b) : lists like :func:`circuitlearn.learn.ep.ep_gradients_from_states`,
        gradients of ``mean_b C_b``.
    """
    net, params = _net_params(weights, biases, vth, load)
    v = np.ascontiguousarray(np.concatenate(free, axis=1), dtype=np.float64)
    B = v.shape[0]
    n0 = net.offsets[1]
    nf = net.n_nodes - n0
    dcdv_out = np.asarray(dcdv_out, dtype=np.float64)
    if dcdv_out.shape != (B, net.sizes[-1]):
        raise ValueError(f"dcdv_out must be [{B}, {net.sizes[-1]}], got {dcdv_out.shape}")
    pin = _pinned(params, v, atol)[:, n0:]
    Lff = _free_laplacian(params)
    c = np.zeros((B, nf))
    c[:, nf - net.sizes[-1]:] = dcdv_out
    c[pin] = 0.0
    lam = np.zeros((B, nf))
    for b in range(B):
        f = ~pin[b]
        if not f.any():
            continue
        try:
            lam[b, f] = _spd_solve(Lff[np.ix_(f, f)], c[b, f])
        except np.linalg.LinAlgError as exc:
            raise SolveError(
                f"sample {b}: the free nodes' conductance matrix is singular (a group of nodes "
                "touches no input and no clipped node, so its voltages are undetermined)") from exc
    lam_full = np.zeros((B, net.n_nodes))
    lam_full[:, n0:] = lam
    lviews = ly.layer_views(net, lam_full)
    vviews = ly.layer_views(net, v)
    grad_w, grad_b = [], []
    for l in range(1, net.n_layers + 1):
        a, la = vviews[l - 1], lviews[l - 1]
        cc, lc = vviews[l], lviews[l]
        # -(1/B) sum_b (la_i - lc_j)(a_i - cc_j), expanded into rank-B products
        g = (la * a).sum(axis=0)[:, None] + (lc * cc).sum(axis=0)[None, :]
        g -= la.T @ cc
        g -= a.T @ lc
        grad_w.append(-g / B)
        grad_b.append(lc.mean(axis=0))
    return grad_w, grad_b


def layered_loss_gradients(weights, biases, free, labels, loss, vth: float = 0.0, **kw):
    """:func:`layered_gradients` with ``dC/dv_out`` from a :class:`~circuitlearn.learn.losses.Loss`."""
    _, dcdv = loss(free[-1], labels)
    return layered_gradients(weights, biases, free, dcdv, vth=vth, **kw)


def device_exact_gradients(device, x, labels, loss, vth: float | None = None, **kw):
    """Exact gradients for the parameters a layered device reports (read back through the
    :class:`~circuitlearn.device.base.Device` interface: ``conductances()``, ``biases()``,
    ``gain``) at inputs ``x``.  The equilibrium is recomputed exactly here, not
    measured: this is the reference.

    * a device with a DRN netlist and a diode model (``CircuitDevice``: attributes
      ``netlist`` and ``diodes``): the DRN circuit is solved with
      :func:`circuitlearn.solve.solve` (``device.diodes``, tolerance 1e-13) and
      differentiated by :func:`circuit_gradients`;
    * otherwise an ideal-diode layered network (:func:`layered_equilibrium`,
      ``vth`` and the output load from ``device.net`` when not given).

    Returns ``(grad_w, grad_b, free)`` (gradients of the batch-mean loss)."""
    if hasattr(device, "netlist") and getattr(device, "diodes", None) in ("ideal", "shockley"):
        return _circuit_device_gradients(device, x, labels, loss, **kw)
    net = getattr(device, "net", None)
    if vth is None:
        vth = float(getattr(net, "vth", 0.0))
    load = float(getattr(net, "load", 0.0))
    ws, bs = device.conductances(), device.biases()
    v_in = ly.input_voltages(np.asarray(x, dtype=np.float64), device.gain)
    free = layered_equilibrium(ws, bs, v_in, vth=vth, load=load)
    gw, gb = layered_loss_gradients(ws, bs, free, labels, loss, vth=vth, load=load, **kw)
    return gw, gb, free


# --------------------------------------------------------- general circuits
@dataclass(frozen=True, eq=False)
class CircuitGradient:
    """Per-sample gradients of a loss of node voltages (:func:`circuit_gradients`).

    Attributes
    ----------
    conductance : float64[B, n_resistors]
        ``dC/dg`` per resistor (``circuit.resistor_names`` order)
    sources : float64[B, n_sources]
        ``dC/ds`` per source value (``circuit.source_names`` order: V sources then I
        sources)
    adjoint : float64[B, n_nodes]
        the adjoint node potentials ``lambda`` (ground 0)
    active : bool[B, n_diodes]
        ideal diodes treated as conducting (Shockley: all False)
    """
    conductance: np.ndarray
    sources: np.ndarray
    adjoint: np.ndarray
    active: np.ndarray
    n_vsources: int

    @property
    def isources(self) -> np.ndarray:
        """``dC/dI`` per current source (``circuit.isource_names`` order)."""
        return self.sources[:, self.n_vsources:]

    @property
    def vsources(self) -> np.ndarray:
        return self.sources[:, :self.n_vsources]


def _fixed_nodes(circuit):
    """Nodes fixed by chains of voltage sources from ground (bool[n_nodes])."""
    fixed = np.zeros(circuit.n_nodes, bool)
    fixed[0] = True
    changed = True
    while changed:
        changed = False
        for a, b in circuit.vsource_nodes:
            if fixed[a] != fixed[b]:
                fixed[a] = fixed[b] = True
                changed = True
    return fixed


def _junction_conductance(vd, circuit):
    from circuitlearn.solve.assemble import junction_params
    from circuitlearn.solve.shockley.solver import junction_np
    return junction_np(vd, junction_params(circuit))[1]


def circuit_gradients(circuit, result, dloss_dv, diodes: str = "ideal",
                      active_tol: float = 1e-9) -> CircuitGradient:
    """Exact gradients of per-sample losses ``C_b(v)`` at a solved operating point.

    Parameters
    ----------
    circuit : Circuit
    result : SolveResult
        The solution (:func:`circuitlearn.solve.solve`) the gradient is taken at; it
        should be converged well below the accuracy wanted.
    dloss_dv : float64[B, n_nodes]
        ``dC_b/dv`` for every node (the ground column is ignored).
    diodes : ``"ideal"`` or ``"shockley"`` -- the model the circuit was solved with.
    active_tol : float
        Ideal diodes: a diode conducts when its junction voltage is within
        ``active_tol * (1 + max|v|)`` of its threshold.

    Returns
    -------
    CircuitGradient (per sample; average over the batch for a mean loss).
    """
    if diodes not in ("ideal", "shockley"):
        raise ValueError(f"diodes must be 'ideal' or 'shockley', got {diodes!r}")
    V = np.atleast_2d(np.asarray(result.voltages, dtype=np.float64))
    B, n = V.shape
    if n != circuit.n_nodes:
        raise ValueError(f"result has {n} nodes, circuit {circuit.n_nodes}")
    dl = np.atleast_2d(np.asarray(dloss_dv, dtype=np.float64))
    if dl.shape != (B, n):
        raise ValueError(f"dloss_dv must be [{B}, {n}], got {dl.shape}")
    if not (np.all(np.isfinite(V)) and np.all(np.isfinite(dl))):
        raise ValueError("voltages or dloss_dv contain NaN or infinity")
    I_d = np.atleast_2d(np.asarray(result.diode_currents, dtype=np.float64)).reshape(B, -1)
    nv, ni = len(circuit.vsource_names), len(circuit.isource_names)
    ne = len(circuit.vcvs_names)
    dn = circuit.diode_nodes.reshape(-1, 2)
    nd = dn.shape[0]
    rn, g = circuit.resistor_nodes.reshape(-1, 2), circuit.conductance
    fixed = _fixed_nodes(circuit)
    # diodes between two fixed nodes change no node voltage: left out
    useful = ~(fixed[dn[:, 0]] & fixed[dn[:, 1]]) if nd else np.zeros(0, bool)
    rs = circuit.diode_rs
    vd_term = V[:, dn[:, 0]] - V[:, dn[:, 1]] if nd else np.zeros((B, 0))
    vj = vd_term - rs * I_d if nd else vd_term          # junction voltage
    nn = n - 1                                           # node unknowns 1..n-1 -> 0..n-2

    # static part of the MNA matrix (COO triplets); node index k -> row k-1, ground dropped
    rows, cols, vals = [], [], []

    def stamp(r, c, val):
        r, c, val = np.asarray(r), np.asarray(c), np.broadcast_to(np.asarray(val, float), np.shape(r))
        keep = (r >= 0) & (c >= 0)
        rows.append(r[keep]); cols.append(c[keep]); vals.append(val[keep])

    def node(k):
        return np.asarray(k) - 1                         # ground -> -1 (dropped)

    a, b = node(rn[:, 0]), node(rn[:, 1])
    stamp(a, a, g); stamp(b, b, g); stamp(a, b, -g); stamp(b, a, -g)
    for k, (p, m) in enumerate(circuit.vsource_nodes):    # current from p through source to m
        row = nn + k
        stamp([node(p), node(m)], [row, row], [1.0, -1.0])
        stamp([row, row], [node(p), node(m)], [1.0, -1.0])
    for k, (p, m, cp, cm) in enumerate(circuit.vcvs_nodes):
        row = nn + nv + k
        gk = circuit.vcvs_gain[k]
        stamp([node(p), node(m)], [row, row], [1.0, -1.0])
        stamp([row] * 4, [node(p), node(m), node(cp), node(cm)], [1.0, -1.0, -gk, gk])
    for k, (p, m, cp, cm) in enumerate(circuit.vccs_nodes):
        gk = circuit.vccs_gain[k]
        stamp([node(p)] * 2 + [node(m)] * 2, [node(cp), node(cm)] * 2, [gk, -gk, -gk, gk])
    base_r, base_c, base_v = (np.concatenate(x) for x in (rows, cols, vals))
    n_static = nn + nv + ne

    lam_nodes = np.zeros((B, n))
    dsrc = np.zeros((B, nv + ni))
    dg = np.zeros((B, g.size))
    active = np.zeros((B, nd), bool)
    vscale = active_tol * (1.0 + np.max(np.abs(V), axis=1))
    for s in range(B):
        rows, cols, vals = [base_r], [base_c], [base_v]
        size = n_static
        if nd and diodes == "ideal":
            # conducting forward at vth, or (an ideal Zener) backwards at -BV
            act = useful & ((vj[s] >= circuit.diode_vth - vscale[s])
                            | (vj[s] <= -circuit.diode_bv + vscale[s]))
            active[s] = act
            ka = np.flatnonzero(act)
            r_ = n_static + np.arange(ka.size)
            pa, pc = node(dn[ka, 0]), node(dn[ka, 1])
            stamp(pa, r_, 1.0); stamp(pc, r_, -1.0)
            stamp(r_, pa, 1.0); stamp(r_, pc, -1.0)
            stamp(r_, r_, -rs[ka])
            size += ka.size
        elif nd:
            gj = _junction_conductance(vj[s], circuit)
            ge = np.where(useful, gj / (1.0 + rs * gj), 0.0)
            pa, pc = node(dn[:, 0]), node(dn[:, 1])
            stamp(pa, pa, ge); stamp(pc, pc, ge); stamp(pa, pc, -ge); stamp(pc, pa, -ge)
        J = sp.csc_matrix((np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))),
                          shape=(size, size))
        rhs = np.zeros(size)
        rhs[:nn] = dl[s, 1:]
        try:
            lam = spla.splu(J.T.tocsc()).solve(rhs)
        except RuntimeError as exc:
            raise SolveError(f"sample {s}: singular linearised circuit ({exc})") from exc
        if not np.all(np.isfinite(lam)):
            raise SolveError(f"sample {s}: non-finite adjoint")
        lam_nodes[s, 1:] = lam[:nn]
        dsrc[s, :nv] = lam[nn:nn + nv]
    # dC/dtheta = -lambda^T dF/dtheta
    la, lb = lam_nodes[:, rn[:, 0]], lam_nodes[:, rn[:, 1]]
    dg[:] = -(la - lb) * (V[:, rn[:, 0]] - V[:, rn[:, 1]])
    inodes = circuit.isource_nodes.reshape(-1, 2)
    dsrc[:, nv:] = lam_nodes[:, inodes[:, 1]] - lam_nodes[:, inodes[:, 0]]
    return CircuitGradient(dg, dsrc, lam_nodes, active, nv)


# ------------------------------------------------------- DRN as a circuit
def drn_node_gradient(circuit, dcdv_out) -> np.ndarray:
    """``dC/dv`` over all nodes of a DRN circuit (:func:`~circuitlearn.compile.builders.drn_netlist`)
    from ``dC/dv_out`` [B, n_out] at its output nodes ``o0, o1, ...``."""
    dcdv_out = np.atleast_2d(np.asarray(dcdv_out, dtype=np.float64))
    out = np.zeros((dcdv_out.shape[0], circuit.n_nodes))
    for k in range(dcdv_out.shape[1]):
        out[:, circuit.node_index(f"o{k}")] = dcdv_out[:, k]
    return out


def drn_circuit_gradients(circuit, grad: CircuitGradient, sizes):
    """Batch means of per-resistor and per-bias-source gradients of a DRN circuit, arranged as
    ``(grad_w, grad_b)`` lists (resistor ``r{l}_{i}_{k}`` -> ``W_l[i, k]``; sources
    ``ih{l}_{k}``/``io{k}`` -> ``b_l[k]``).  Resistors absent from the netlist get 0."""
    sizes = [int(n) for n in sizes]
    L = len(sizes) - 1
    gw = [np.zeros((a, b)) for a, b in zip(sizes[:-1], sizes[1:])]
    gb = [np.zeros(n) for n in sizes[1:]]
    gmean = grad.conductance.mean(axis=0)
    for k, name in enumerate(circuit.resistor_names):
        parts = name[1:].split("_")
        if name[0] != "r" or len(parts) != 3:
            raise ValueError(f"{name!r} is not a DRN resistor r<l>_<i>_<k>")
        l, i, j = (int(t) for t in parts)
        gw[l - 1][i, j] = gmean[k]
    imean = grad.isources.mean(axis=0)
    for k, name in enumerate(circuit.isource_names):
        if name.startswith("io"):
            gb[L - 1][int(name[2:])] = imean[k]
        elif name.startswith("ih"):
            l, j = (int(t) for t in name[2:].split("_"))
            gb[l - 1][j] = imean[k]
    return gw, gb


def _circuit_device_gradients(device, x, labels, loss, tol: float = 1e-13, **kw):
    from circuitlearn.compile import builders
    from circuitlearn.compile.circuit import compile_netlist
    from circuitlearn.solve import solve
    x = np.atleast_2d(np.asarray(x, dtype=np.float64))
    bs = device.biases()
    sizes = device.sizes
    circuit = compile_netlist(device.netlist())
    S = builders.drn_source_vector(x, sizes, gain=device.gain, biases=bs)
    res = solve(circuit, S, diodes=device.diodes, tol=tol)
    if not res.success:
        raise SolveError(f"exact-gradient solve failed: {res.message}")
    idx = [[circuit.node_index(f"x{k}") for k in range(sizes[0])]]
    L = len(sizes) - 1
    for l in range(1, L + 1):
        idx.append([circuit.node_index(f"o{k}" if l == L else f"h{l}_{k}")
                    for k in range(sizes[l])])
    free = [res.voltages[:, i] for i in idx]
    _, dcdv = loss(free[-1], labels)
    G = circuit_gradients(circuit, res, drn_node_gradient(circuit, dcdv), diodes=device.diodes, **kw)
    gw, gb = drn_circuit_gradients(circuit, G, sizes)
    return gw, gb, free
