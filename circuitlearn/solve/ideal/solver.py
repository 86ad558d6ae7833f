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
   ``"auto"``): the numba kernel :func:`~circuitlearn.solve.ideal.kernels.projected_cd`
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
``diode_violation = max_k |min(i_k / s_k, vth_k - v_d,k)|`` (``s_k`` the diode's own
conductance scale, the smaller sum of conductances at its two terminals) -- zero exactly
when ``i >= 0``, ``v_d <= vth`` and one of them is tight.  A diode between two
fixed nodes has an undetermined current; it is reported as 0 and only its
voltage is checked.  Diode series resistances are kept (internal node).
"""
from __future__ import annotations

import dataclasses

import numpy as np
import scipy.sparse as sp
import scipy.sparse.linalg as spla

from circuitlearn.solve.assemble import extend_x0, fold_breakdown, mna_of, prepared
from circuitlearn.solve.certificate import (NODE_MESSAGE, certify, mna_free, nodes_certified,
                                           thresholds)
from circuitlearn.solve.ideal import kernels
from circuitlearn.solve.ideal.active_set import active_set, system_certificate
from circuitlearn.solve.linalg.spd import ForestCG
from circuitlearn.solve.linalg.kkt import DIRECT_MAX
from circuitlearn.solve.result import CERTIFICATE, MAXITER, SolveResult, failed_result, make_result

#: a linear circuit above DIRECT_MAX free nodes tries forest-PCG this far (see _linear_solve)
LINEAR_PCG_MAXITER = 400
#: ... to this relative residual (what the node certificate then judges)
LINEAR_PCG_RTOL = 1e-15
#: Sweeps of exact CD before switching to projected SOR, and its relaxation factor.
AUTO_SOR_AFTER = 30
AUTO_SOR_OMEGA = 1.8



def node_certified(circuit, ex, red, vfx, v, lam, S):
    """bool[B]: every free node's KCL holds against its own currents
    (:func:`circuitlearn.solve.certificate.nodes_certified`)."""
    vext = np.zeros((ex.n_ext, v.shape[1]))
    vext[red.fixed] = vfx
    vext[red.free] = v
    return nodes_certified(circuit, ex, red.free, vext, lam, S)


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
    hit = prepared(circuit, breakdown=True)
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
    vfx = red.fixed_voltages(S)                                   # [nx, B]
    bT = np.ascontiguousarray(red.rhs(S, vfx))                    # [nf, B]
    status = np.zeros(B, np.int64)
    messages = {}
    fallback = False
    if np.any(red.diag <= 0):
        bad = [circuit.node_names[i] if i < circuit.n_nodes else f"internal{i}"
               for i in red.free[red.diag <= 0][:5]]
        msg = ("node(s) with no resistive path, undetermined with ideal diodes: " + ", ".join(bad))
        return failed_result(circuit, B, 2, msg, "ideal")

    # start point: x0 (original nodes; internal nodes start at their anode's value)
    v = np.zeros((nf, B))
    if x0 is not None:
        vext = extend_x0(circuit, ex, x0)
        v[:] = vext[red.free]
    lo = np.full((nf, B), -np.inf)
    hi = np.full((nf, B), np.inf)
    kernels.diode_bounds(lo, hi, red.fa, red.fc, red.xa, red.xc, vfx, ex.vth)
    energy = np.zeros((cd_iter + 1 if record_energy else 0, B))
    nit = np.zeros(B, np.int64)
    sweeps = 0
    fixed_part = np.asarray(red.Cx @ vfx).reshape(d, B)         # c0 per diode [d, B]
    direct = False
    if method == "auto" and omega is None and d == 0 and nf > 0:
        # no diodes: the operating point is the linear solve L_ff v = b (CD on a weakly
        # anchored graph needs thousands of sweeps for the same answer)
        direct = _linear_solve(red, bT, v, nit, cache)
    if method != "active-set" and not direct:
        ffptr, ffnbr, ffsign, ffvth = red.ff
        args = (red.adj.indptr.astype(np.int64), red.adj.indices.astype(np.int64), red.adj.data,
                red.diag, bT, lo, hi, red.order, ffptr, ffnbr, ffsign, ffvth)
        # exact CD first (layered nets converge in a few sweeps); samples still moving
        # after AUTO_SOR_AFTER sweeps continue with over-relaxation (see projected_cd)
        first = cd_iter if omega is not None else min(cd_iter, AUTO_SOR_AFTER)
        w = 1.0 if omega is None else float(omega)
        sweeps = kernels.projected_cd(v, *args, first, tol, nit, energy, w)
        # a large circuit still moving goes to the active set now: with reduced PCG solves
        # it costs a few linear solves, where SOR would take hundreds of sweeps to finish
        large = method == "auto" and nf > DIRECT_MAX and d > 0
        if omega is None and sweeps == first and cd_iter > first and np.any(nit < 0) and \
                not large:
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
    lam = currents_from_kcl(red, r, vd >= ex.vth - act_tol)
    res = r - np.asarray(red.A @ lam.T).T
    vmax = float(np.max(np.abs(vfx), initial=0.0)) + float(np.max(np.abs(v), initial=0.0))
    ktol, vtol = thresholds(tol, ex.gscale, vmax)
    kcl, viol = certify(res, lam, vd, ex.vth, ex.dscale)
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
        # out of sweeps: iteration limit; converged in volts but not certified: certificate
        stop = np.where(nit >= cd_iter, MAXITER, CERTIFICATE)
        status[~ok & (status == 0)] = stop[~ok & (status == 0)]
        if np.any(~ok):
            for s in set(stop[~ok].tolist()):
                messages.setdefault(s, "coordinate descent stopped before the certificate holds")
    else:
        todo = np.flatnonzero(~ok & (status == 0))
        fallback = todo.size > 0
        inner = set()
        for b in todo:
            active = vd[b] >= ex.vth - act_tol if method == "auto" else np.zeros(d, bool)
            x, lb, st, it, msg, how = active_set(red.system, bT[:, b], fixed_part[:, b], ex.vth,
                                                 active, as_iter, ex.gscale, tol, v[:, b],
                                                 lam[b])
            inner.add(how)
            nit[b] += it
            if st == 2 and not np.all(np.isfinite(x)):
                x = v[:, b]
            v[:, b] = x
            lam[b] = lb
            kcl[b], viol[b] = system_certificate(red.system, bT[:, b], x, lb,
                                                  fixed_part[:, b], ex.vth, ex.dscale)
            vd[b] = red.A.T @ x + fixed_part[:, b]
            if st == 0 and not (kcl[b] <= ktol and viol[b] <= vtol):
                st, msg = CERTIFICATE, ("active set stable but certificate fails (degenerate or "
                                        "infeasible diodes)")
            if st == 0 and not node_certified(circuit, ex, red, vfx[:, b:b + 1], x[:, None],
                                              lb[None], S[b:b + 1])[0] and nf > DIRECT_MAX:
                # an iterative solve bounds the residual circuit-wide; a node whose own
                # currents are tiny (a cell behind a blocked selector) is then set to its
                # own KCL by a few exact CD sweeps from the solution
                x, lb, vd[b] = _polish(red, ex, bT[:, b], lo[:, b], hi[:, b],
                                       fixed_part[:, b], x, tol)
                v[:, b] = x
                lam[b] = lb
                kcl[b], viol[b] = system_certificate(red.system, bT[:, b], x, lb,
                                                      fixed_part[:, b], ex.vth, ex.dscale)
                if not (kcl[b] <= ktol and viol[b] <= vtol):
                    st, msg = CERTIFICATE, NODE_MESSAGE
            if st == 0 and not node_certified(circuit, ex, red, vfx[:, b:b + 1], x[:, None],
                                              lb[None], S[b:b + 1])[0]:
                st, msg = CERTIFICATE, NODE_MESSAGE
            status[b] = st
            if st:
                messages.setdefault(st, msg)
        ok = status == 0
    # assemble voltages and currents
    vext = np.zeros((ex.n_ext, B))
    vext[red.fixed] = vfx
    vext[red.free] = v
    demand = red.Lxf @ vext[red.free] + red.Lxx @ vext[red.fixed] - red.Qx @ S[:, nv:].T + red.Ax @ lam.T
    isrc = red.tree.currents(np.asarray(demand).reshape(nx, B))
    method_name = {"auto": "cd+active-set" if fallback else "cd", "cd": "cd",
                   "active-set": "active-set"}[method]
    if method != "cd" and fallback and inner - {"lu"}:
        # the active set's linear solves when they were not one LU each (large circuits)
        method_name += "(" + "+".join(sorted(inner - {"lu"})) + ")"
    if direct:
        method_name = direct
    out = make_result(circuit, vext, isrc, fold_breakdown(ex, lam), status, nit, kcl, viol,
                      messages, method_name)
    if record_energy:
        out = dataclasses.replace(out, energy=energy[:sweeps + 1])
    return out


#: exact CD sweeps that polish an iterative active-set solution node by node
POLISH_SWEEPS = 3


def _polish(red, ex, b, lo, hi, c0, x, tol):
    """``POLISH_SWEEPS`` projected CD sweeps from ``x`` (one sample): the voltages, the
    diode currents from KCL at them, and the diode voltages."""
    ffptr, ffnbr, ffsign, ffvth = red.ff
    v = np.ascontiguousarray(x, dtype=np.float64)[:, None].copy()
    nit = np.zeros(1, np.int64)
    kernels.projected_cd(v, red.adj.indptr.astype(np.int64), red.adj.indices.astype(np.int64),
                         red.adj.data, red.diag, np.ascontiguousarray(b[:, None]),
                         np.ascontiguousarray(lo[:, None]), np.ascontiguousarray(hi[:, None]),
                         red.order, ffptr, ffnbr, ffsign, ffvth, POLISH_SWEEPS, 0.0, nit,
                         np.zeros((0, 1)), 1.0)
    vd = np.asarray(red.A.T @ v[:, 0]) + c0
    r = (b - red.Lff @ v[:, 0])[None]
    lam = currents_from_kcl(red, r, (vd >= ex.vth - max(1e3 * tol, 1e-9))[None])
    return v[:, 0], lam[0], vd


def _linear_solve(red, bT, v, nit, cache):
    """``L_ff v = b`` for every sample (``v``, ``nit`` filled in); the method used
    (``"direct"``: sparse LU, ``"forest-pcg"``: CG preconditioned by the maximum spanning
    forest, :mod:`~circuitlearn.solve.linalg.spd`), or None if neither worked.

    Up to :data:`DIRECT_MAX` free nodes: one LU factorisation for the batch.  Above, a
    forest-PCG per sample first (tens of iterations on random graphs and on crossbars,
    whose wires are the forest; LU fills in 15-90x there), and when it does not converge
    within :data:`LINEAR_PCG_MAXITER` iterations one LU of the batch; the choice and the
    preconditioner are kept with the circuit."""
    nf, B = bT.shape
    if nf > DIRECT_MAX and cache.get("linear") != "lu":
        cg = cache.get("forest")
        if cg is None:
            cg = cache["forest"] = ForestCG(red.Lff)
        x = np.zeros(nf)
        for b in range(B):
            x[:] = v[:, b]
            it = cg.solve(bT[:, b], x, LINEAR_PCG_RTOL, LINEAR_PCG_MAXITER)
            if not 0 <= it < LINEAR_PCG_MAXITER:
                cache["linear"] = "lu"
                break
            v[:, b] = x
            nit[b] = it
        else:
            cache["linear"] = cg.name
            return cg.name
    lu = cache.get("lu")
    try:
        if lu is None:          # symmetric: minimum degree on A^T + A (half the fill of COLAMD)
            lu = cache["lu"] = spla.splu(red.Lff.tocsc(), permc_spec="MMD_AT_PLUS_A")
        v[:] = lu.solve(bT)
    except (RuntimeError, MemoryError):
        v[:] = 0.0
        return None
    nit[:] = 1
    return "direct"


def currents_from_kcl(red, r, active):
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


def _solve_mna(circuit, ex, S, tol, maxiter, x0):
    mna = mna_of(circuit, breakdown=True)
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
    start = extend_x0(circuit, ex, x0) if x0 is not None else None
    for b in range(B):
        if start is not None:
            vd0 = start[ex.dnodes[:, 0], b] - start[ex.dnodes[:, 1], b]
            active = vd0 >= ex.vth - 1e-9
        else:
            active = np.zeros(d, bool)
        x, lb, st, it, msg, _ = active_set(sysm, rhs_all[:, b], c0, ex.vth, active, as_iter,
                                           ex.gscale, tol)
        vmax = float(np.max(np.abs(x[:nn]), initial=0.0))
        ktol, vtol = thresholds(tol, ex.gscale, vmax)
        kcl[b], viol[b] = system_certificate(sysm, rhs_all[:, b], x, lb, c0, ex.vth, ex.dscale)
        if st == 0 and not (kcl[b] <= ktol and viol[b] <= vtol):
            st, msg = CERTIFICATE, "active set stable but certificate fails"
        status[b], nit[b] = st, it
        if st:
            messages.setdefault(st, msg)
        vext[1:, b] = x[:nn]
        isrc[b] = x[nn:nn + mna.nv]
        lam[b] = lb
    # and node by node (every node without a V/E source), as on the reduced path
    weak = (status == 0) & ~nodes_certified(circuit, ex, mna_free(circuit, ex), vext, lam, S)
    if weak.any():
        status[weak] = CERTIFICATE
        messages.setdefault(CERTIFICATE, NODE_MESSAGE)
    return make_result(circuit, vext, isrc, fold_breakdown(ex, lam), status, nit, kcl, viol,
                       messages, "mna-active-set")
