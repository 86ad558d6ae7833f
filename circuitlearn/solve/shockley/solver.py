"""Shockley-diode DC solver: ngspice's level-1 diode at 27 C, junction-limited Newton.

Model (as ngspice 39's ``dioload.c`` and ``diotemp.c`` compute it):
``Vt = k T / q`` with ngspice's constants at T = 300.15 K, ``vte = N Vt``,

* ``vd >= -3 vte``:        ``i = IS (exp(vd / vte) - 1)``
* ``-BV' <= vd < -3 vte``: ``i = -IS (1 + (3 vte / (e vd))^3)``
* ``vd < -BV'``:           ``i = -IS exp(-(BV' + vd) / (NBV Vt))`` (reverse breakdown, with
  ``BV'`` the knee-matched breakdown voltage, see
  :func:`circuitlearn.solve.assemble.junction_params`; junction voltages in breakdown are
  limited on the mirrored voltage, as ngspice does)

plus ``GMIN = 1e-12 S`` across every junction, ``IS`` and ``RS`` scaled by the
instance area, ``RS`` as a resistor to an internal node.

Algorithm: global Newton on the KCL equations ``M x + C^T i(C x + c0) = rhs``
(the reduced free-node system when the circuit allows it, else modified nodal
analysis), each iteration solving the companion (linearised) circuit for the
new voltages, with SPICE's ``pnjlim`` limiting of junction voltages so the
exponentials cannot overflow.  A sample converges when an iteration without
limiting moves no unknown by more than ``tol``; the KCL residual at free nodes
is then certified.  Small reduced systems (``n_free <= DENSE_MAX``, e.g. a DRN
whose ~1568 inputs are all fixed) use the batched dense numba kernel
:func:`~circuitlearn.solve.shockley.kernels_newton.newton_dense`; larger ones solve each Newton
system per sample with SuperLU up to ``DIRECT_MAX`` unknowns and with the
numba Jacobi-preconditioned CG kernel above (the reduced Jacobian
``L_ff + C^T diag(g) C`` is SPD; circuits needing MNA -- E/G sources,
floating V sources -- always use SuperLU).  With ``LDL_MAX_UPDATES > 0`` a
reduced system up to ``DENSE_MAX`` unknowns whose fill-reducing symbolic
factorisation is small enough uses the batched sparse LDL^T kernel
:func:`~circuitlearn.solve.shockley.kernels_newton.newton_ldl` instead (same Newton
iteration, ``O(nnz(L))`` per step).
"""
from __future__ import annotations


import numpy as np
import scipy.sparse as sp
import scipy.sparse.linalg as spla

from circuitlearn.solve.assemble import GMIN, extend_x0, mna_of, prepared
from circuitlearn.solve.certificate import NODE_MESSAGE, mna_free, nodes_certified, thresholds
from circuitlearn.solve.linalg import kernels_ldl
from circuitlearn.solve.linalg.kkt import DIRECT_MAX
from circuitlearn.solve.linalg.ldl import reduced_plan
from circuitlearn.solve.linalg.spd import forest_cg
from circuitlearn.solve.result import CERTIFICATE, STATUS_MESSAGES, make_result, merge_samples
from circuitlearn.solve.shockley import kernels_junction, kernels_newton

#: Largest reduced system solved with the dense batched kernel.
DENSE_MAX = 1500
#: The dense kernel eliminates the largest colour class (independent nodes, diagonal
#: Jacobian block) by Schur complement when it holds at least this fraction of the free
#: nodes -- a DRN's hidden layer: only the output block is then factorised.
SCHUR_MIN_FRACTION = 0.5
#: Reduced systems up to DENSE_MAX unknowns use the batched sparse LDL^T
#: (:mod:`~circuitlearn.solve.linalg.ldl`, method ``"newton-ldl"``) when its
#: fill-reducing symbolic factorisation needs at most this many rank-1 update entries
#: and fewer than a dense LU (n^3 / 6); otherwise the Schur / dense kernels above.
#: 0 disables it (the tests of the Schur/dense paths pin those paths this way).
LDL_MAX_UPDATES = 2_000_000


def junction_np(vd, jp):
    """ngspice diode current and conductance (GMIN included) for ``vd`` float64[d] or [d, B]
    and the junction parameters ``jp`` [d, 5] (the kernel :func:`.kernels_junction.junction`)."""
    vd = np.asarray(vd, dtype=np.float64)
    if vd.size == 0:
        return np.zeros_like(vd), np.zeros_like(vd)
    V = np.ascontiguousarray(vd.reshape(vd.shape[0], -1))
    I, G = np.empty_like(V), np.empty_like(V)
    kernels_junction.junctions(V, jp, GMIN, I, G)
    return I.reshape(vd.shape), G.reshape(vd.shape)


#: Newton steps larger than this many tolerances take loose CG solves (inexact Newton: one CG
#: solve to 1e-6 of the warm-started residual); the last, small ones tight
INEXACT_UNTIL = 1e3
#: ... solved to this fraction of their residual
INEXACT_RTOL = 1e-3


def newton_sparse(system, rhs, c0, jp, x, maxiter, tol, inner=None):
    """Junction-limited Newton for one sample, each step's linear system by :func:`_linear_solve`;
    returns (x, i_d, status, nit, msg).  ``inner`` (a dict) keeps the CG preconditioner between
    steps (``"cg"``) and collects the inner solvers used (``"used"``)."""
    inner = {} if inner is None else inner
    M, C = system.M, system.C
    vl = C @ x + c0
    vd = np.empty_like(vl)
    dmax = np.inf
    for it in range(maxiter):
        lim = kernels_junction.limit_junctions(C @ x + c0, vl, it == 0, jp, vd)
        vl = vd.copy()
        i, g = junction_np(vd, jp)
        ieq = i + g * (c0 - vd)
        J = (M + C.T @ sp.diags(g) @ C).tocsc()
        # inexact Newton: while the steps are large a loose CG solve steers as well
        xn, err = _linear_solve(J, rhs - C.T @ ieq, x, system.symmetric,
                                loose=dmax > INEXACT_UNTIL * tol, inner=inner)
        if xn is None:
            return x, junction_np(C @ x + c0, jp)[0], 2, it + 1, err
        if not np.all(np.isfinite(xn)):
            return x, junction_np(C @ x + c0, jp)[0], 2, it + 1, "non-finite Newton iterate"
        dmax = float(np.max(np.abs(xn - x), initial=0.0))
        x = xn
        if dmax <= tol and not lim:
            return x, junction_np(C @ x + c0, jp)[0], 0, it + 1, "converged"
    return x, junction_np(C @ x + c0, jp)[0], 1, maxiter, STATUS_MESSAGES[1]


def _linear_solve(J, r, x0, symmetric, loose=False, inner=None):
    """SuperLU up to DIRECT_MAX unknowns (or when J is not symmetric); else CG preconditioned
    by J's maximum spanning forest (the reduced Jacobian ``L_ff + C^T diag(g) C`` is SPD;
    :mod:`~circuitlearn.solve.linalg.spd`) with iterative refinement, or (``loose``) one CG
    solve to 1e-6 of the residual.  ``inner`` as in :func:`newton_sparse`."""
    inner = {} if inner is None else inner
    used = inner.setdefault("used", set())
    n = J.shape[0]
    if n <= DIRECT_MAX or not symmetric:
        used.add("lu")
        try:
            return spla.splu(J).solve(r), None
        except RuntimeError as exc:
            return None, f"singular Jacobian ({exc})"
    if np.any(J.diagonal() <= 0):
        return None, "singular Jacobian (a node without conductance)"
    # a forest is kept while it preconditions well: later steps re-factor it with their values
    # (diagonally dominant, so still valid), and a new one (an MST, ~10 CG iterations' worth)
    # is grown once a solve needs twice the iterations it needed when the forest was new
    # (diodes that switched on are strong edges the old forest lacks)
    fresh = inner.get("cg") is None or inner.get("stale", False)
    cg = inner["cg"] = forest_cg(J, None if fresh else inner["cg"])
    used.add(cg.name)
    x = np.array(x0, dtype=np.float64)
    for k, rtol in enumerate((INEXACT_RTOL,) if loose else (1e-13, 1e-6, 1e-6)):  # solve, 2 refinements
        dx = np.zeros_like(x)
        info = cg.solve(r - J @ x, dx, rtol, 50000)
        if info < 0 or not np.all(np.isfinite(dx)):
            return None, f"CG failed (iteration {abs(info)})"
        x = x + dx
        if k == 0:
            key = ("it0", loose)
            if fresh or key not in inner:
                inner[key] = info
            inner["stale"] = info > 2 * inner[key] + 10
    return x, None


def solve_shockley(circuit, S, *, tol=1e-10, maxiter=None, x0=None):
    """Shockley-diode operating points of ``circuit`` for sources ``S`` (``float64[B, n_sources]``).

    A sample whose certificate fails after a batched kernel is refined: Newton again from
    its answer, each step solved directly (SuperLU), and judged again (``method`` then
    ends in ``+refined``)."""
    res = _solve(circuit, S, tol, maxiter, x0, batched=True)
    bad = np.flatnonzero(res.sample_status == CERTIFICATE)
    if bad.size and res.method in ("newton-ldl", "newton-schur", "newton-dense"):
        again = _solve(circuit, S[bad], tol, maxiter, res.voltages[bad], batched=False)
        res = merge_samples(res, bad, again, res.method + "+refined")
    return res


def _solve(circuit, S, tol, maxiter, x0, batched):
    hit = prepared(circuit)
    ex, red = hit["ex"], hit["red"]
    B = S.shape[0]
    d = ex.dnodes.shape[0]
    maxiter = 200 if maxiter is None else int(maxiter)
    start = extend_x0(circuit, ex, x0) if x0 is not None else np.zeros((ex.n_ext, B))
    status = np.zeros(B, np.int64)
    nit = np.zeros(B, np.int64)
    messages = {}
    if red.ok:
        nv = len(circuit.vsource_names)
        nf = red.free.size
        vfx = red.fixed_voltages(S)                                           # [nx, B]
        bT = red.rhs(S, vfx)
        c0 = np.ascontiguousarray(np.asarray(red.Cx @ vfx).reshape(d, B).T)   # [B, d]
        rhs = np.ascontiguousarray(bT.T)
        x = np.ascontiguousarray(start[red.free].T)                           # [B, nf]
        system = red.system
        lam = np.zeros((B, d))
        ldl = (reduced_plan(red, min(LDL_MAX_UPDATES, nf ** 3 // 6))
               if batched and 0 < nf <= DENSE_MAX and LDL_MAX_UPDATES > 0 else None)
        if ldl is not None:
            kernels_newton.newton_ldl(
                ldl["colptr"], ldl["rowidx"], ldl["uptr"], ldl["ua"], ldl["ub"], ldl["udst"],
                ldl["perm"], ldl["mvals"], ldl["ia"], ldl["ic"], ldl["paa"], ldl["pcc"],
                ldl["pac"], rhs, c0, ex.jp, GMIN, x, maxiter, tol, status,
                nit, lam)
            method = "newton-ldl"
        elif batched and nf <= DENSE_MAX:
            Md = red.Lff.toarray()
            counts = np.bincount(red.colour, minlength=1) if nf else np.zeros(1, np.int64)
            big = int(np.argmax(counts))
            if nf and counts[big] >= SCHUR_MIN_FRACTION * nf:
                # eliminate the largest colour class (independent: diagonal Jacobian block)
                elim = np.flatnonzero(red.colour == big).astype(np.int64)
                keep = np.flatnonzero(red.colour != big).astype(np.int64)
                kernels_newton.newton_schur(np.ascontiguousarray(Md[np.ix_(keep, keep)]),
                                     np.ascontiguousarray(Md[np.ix_(keep, elim)]),
                                     np.ascontiguousarray(Md[elim, elim]), keep, elim, rhs,
                                     red.fa, red.fc, c0, ex.jp, GMIN,
                                     x, maxiter, tol, status, nit, lam)
                method = "newton-schur"
            else:
                kernels_newton.newton_dense(Md, rhs, red.fa, red.fc, c0, ex.jp,
                                     GMIN, x, maxiter, tol, status, nit, lam)
                method = "newton-dense"
        else:
            inner = {}
            for b in range(B):
                x[b], lam[b], status[b], nit[b], msg = newton_sparse(
                    system, rhs[b], c0[b], ex.jp, x[b], maxiter, tol, inner)
                if status[b]:
                    messages.setdefault(int(status[b]), msg)
            method = "newton-sparse(" + "+".join(sorted(inner.get("used", ()))) + ")"
        bad = ~np.all(np.isfinite(x), axis=1) | ~np.all(np.isfinite(lam), axis=1)
        x[bad] = 0.0
        lam[bad] = 0.0
        status[bad] = 2
        r = rhs - (system.M @ x.T).T - (system.C.T @ lam.T).T
        vext = np.zeros((ex.n_ext, B))
        vext[red.fixed] = vfx
        vext[red.free] = x.T
        # demand = Lxf v_f + Lxx v_x - Qx i_src + Ax i_d, accumulated in place ([n_fixed, B]
        # temporaries are costly) with the same sums as the scipy products
        demand = np.ascontiguousarray(red.Lxf @ vext[red.free])
        Lxx, Qx, Ax = red.Lxx, red.Qx, red.Ax
        kernels_ldl.csr_acc_cols(Lxx.indptr, Lxx.indices, Lxx.data, vfx, 1.0, demand)
        kernels_ldl.csr_acc_cols(Qx.indptr, Qx.indices, Qx.data, S[:, nv:].T, -1.0, demand)
        kernels_ldl.csr_acc_cols(Ax.indptr, Ax.indices, Ax.data, lam.T, 1.0, demand)
        isrc = red.tree.currents(demand)
    else:
        mna = mna_of(circuit)
        system = mna.system
        nn = mna.n_node_vars
        rhs_all = np.asarray(mna.R @ S.T).reshape(-1, B)
        n = system.M.shape[0]
        c0 = np.zeros(d)
        vext = np.zeros((ex.n_ext, B))
        lam = np.zeros((B, d))
        isrc = np.zeros((B, mna.nv))
        r = np.zeros((B, system.kcl_rows.size))
        for b in range(B):
            xs = np.zeros(n)
            xs[:nn] = start[1:, b]
            xs, lam[b], status[b], nit[b], msg = newton_sparse(
                system, rhs_all[:, b], c0, ex.jp, xs, maxiter, tol)
            if status[b]:
                messages.setdefault(int(status[b]), msg)
            if not np.all(np.isfinite(xs)):
                xs[:] = 0.0
                status[b] = 2
            r[b] = (rhs_all[:, b] - system.M @ xs - system.C.T @ lam[b])[system.kcl_rows]
            vext[1:, b] = xs[:nn]
            isrc[b] = xs[nn:nn + mna.nv]
        method = "mna-newton"
    kcl = np.max(np.abs(r), axis=1, initial=0.0)
    vmax = max(float(vext.max(initial=0.0)), -float(vext.min(initial=0.0)))    # no |vext| copy
    # the diode conductance at the solution can exceed the resistors' by far
    gs = max(ex.gscale, float(np.max(_diode_g(vext, ex), initial=0.0)))
    ktol, _ = thresholds(tol, gs, vmax)
    fail = (status == 0) & ~(kcl <= ktol)
    status[fail] = CERTIFICATE
    if fail.any():
        messages.setdefault(CERTIFICATE, "Newton step converged but the KCL residual is above "
                                         "tolerance")
    # and node by node, against the currents meeting at each node
    free = red.free if red.ok else mna_free(circuit, ex)
    weak = (status == 0) & ~nodes_certified(circuit, ex, free, vext, lam, S)
    status[weak] = CERTIFICATE
    if weak.any():
        messages.setdefault(CERTIFICATE, NODE_MESSAGE)
    viol = np.zeros(B)
    return make_result(circuit, vext, isrc, lam, status, nit, kcl, viol, messages, method)


def _diode_g(vext, ex):
    if ex.dnodes.shape[0] == 0:
        return np.zeros(1)
    vd = vext[ex.dnodes[:, 0]] - vext[ex.dnodes[:, 1]]
    return junction_np(vd, ex.jp)[1]
