"""numba kernels of the Shockley solver: batched junction-limited Newton (dense, Schur, sparse LDL^T).

Shapes use ``n`` = unknowns, ``B`` = batch, ``d`` = diodes.  Each kernel iterates
per sample; the junction law is :mod:`circuitlearn.solve.shockley.kernels_junction`,
the sparse factorisation :mod:`circuitlearn.solve.linalg.kernels_ldl`."""
from __future__ import annotations

import math

import numpy as np
from numba import njit

from circuitlearn.solve.linalg.kernels_ldl import CHUNK, factor_solve
from circuitlearn.solve.shockley.kernels_junction import (accept_step, companion, junction,
                                                          junction_currents, junction_voltage)


@njit(cache=True)
def newton_dense(M, rhs, ia, ic, c0, jp, gmin, x, maxiter, tol,
                 status, nit, icur):
    """Damped (junction-limited) Newton for ``M x + C^T i(C x + c0) = rhs``, per sample.

    Dense variant for small systems (a few hundred unknowns), e.g. the free
    nodes of a DRN whose inputs are all fixed by sources.

    M       : float64[n, n]  linear part (reduced Laplacian, SPD)
    rhs     : float64[B, n]
    ia, ic  : int64[d]       unknown index of anode / cathode, -1 when fixed
    c0      : float64[B, d]  fixed part of each junction voltage
    jp      : float64[d, 5] junction parameters (:mod:`.kernels_junction`); gmin : float
    x       : float64[B, n]  start, overwritten by the solution
    status  : int64[B] (out) 0 converged, 1 maxiter, 2 non-finite/singular
    nit     : int64[B] (out) Newton iterations
    icur    : float64[B, d] (out) diode currents at the solution
    """
    B, n = x.shape
    d = ia.shape[0]
    J = np.empty((n, n))
    r = np.empty(n)
    vl = np.empty(d)
    for b in range(B):
        status[b] = 1
        nit[b] = maxiter
        for k in range(d):
            vl[k] = junction_voltage(x, b, c0, ia, ic, k)
        for it in range(maxiter):
            limited = False
            J[:, :] = M
            for q in range(n):
                r[q] = rhs[b, q]
            for k in range(d):
                g, ieq, vl[k], lim = companion(junction_voltage(x, b, c0, ia, ic, k), vl[k],
                                               it == 0, c0[b, k], jp, k, gmin)
                limited = limited or lim
                a = ia[k]
                c = ic[k]
                if a >= 0:
                    J[a, a] += g
                    r[a] -= ieq
                if c >= 0:
                    J[c, c] += g
                    r[c] += ieq
                if a >= 0 and c >= 0:
                    J[a, c] -= g
                    J[c, a] -= g
            xn = np.linalg.solve(J, r)
            dmax, finite = accept_step(x, b, xn)
            if not finite:
                status[b] = 2
                nit[b] = it + 1
                break
            if dmax <= tol and not limited:
                status[b] = 0
                nit[b] = it + 1
                break
        junction_currents(x, b, c0, ia, ic, jp, gmin, icur)




@njit(cache=True)
def newton_schur(Mkk, Mke, Mee, keep, elim, rhs, ia, ic, c0, jp, gmin, x,
                 maxiter, tol, status, nit, icur):
    """:func:`newton_dense` with an independent node set eliminated by its Schur complement.

    The free nodes are split into ``keep`` (k) and ``elim`` (e) where no
    resistor or diode joins two ``elim`` nodes, so the Jacobian block on
    ``elim`` is diagonal.  Each Newton system is solved as
    ``S x_k = r_k - J_ke (r_e / J_ee)`` with ``S = J_kk - J_ke diag(1/J_ee) J_ke^T``
    and ``x_e = (r_e - J_ke^T x_k) / J_ee``: for a DRN (elim = hidden layer)
    only the k x k output block is factorised.

    Mkk : float64[k, k], Mke : float64[k, e], Mee : float64[e]  blocks of the linear part
    keep, elim : int64[k], int64[e]  free-node indices of the two sets
    other arguments as in :func:`newton_dense`.
    """
    B, n = x.shape
    d = ia.shape[0]
    k = keep.shape[0]
    e = elim.shape[0]
    loc = np.empty(n, dtype=np.int64)
    isk = np.zeros(n, dtype=np.bool_)
    for q in range(k):
        loc[keep[q]] = q
        isk[keep[q]] = True
    for q in range(e):
        loc[elim[q]] = q
    Jkk = np.empty((k, k))
    Jke = np.empty((k, e))
    Jee = np.empty(e)
    inv_ee = np.empty(e)
    W = np.empty((k, e))
    rk = np.empty(k)
    re = np.empty(e)
    vl = np.empty(d)
    xn = np.empty(n)
    for b in range(B):
        status[b] = 1
        nit[b] = maxiter
        for j in range(d):
            vl[j] = junction_voltage(x, b, c0, ia, ic, j)
        for it in range(maxiter):
            limited = False
            Jkk[:, :] = Mkk
            Jke[:, :] = Mke
            Jee[:] = Mee
            for q in range(k):
                rk[q] = rhs[b, keep[q]]
            for q in range(e):
                re[q] = rhs[b, elim[q]]
            for j in range(d):
                g, ieq, vl[j], lim = companion(junction_voltage(x, b, c0, ia, ic, j), vl[j],
                                               it == 0, c0[b, j], jp, j, gmin)
                limited = limited or lim
                a = ia[j]
                c = ic[j]
                if a >= 0:
                    if isk[a]:
                        Jkk[loc[a], loc[a]] += g
                        rk[loc[a]] -= ieq
                    else:
                        Jee[loc[a]] += g
                        re[loc[a]] -= ieq
                if c >= 0:
                    if isk[c]:
                        Jkk[loc[c], loc[c]] += g
                        rk[loc[c]] += ieq
                    else:
                        Jee[loc[c]] += g
                        re[loc[c]] += ieq
                if a >= 0 and c >= 0:
                    if isk[a] and isk[c]:
                        Jkk[loc[a], loc[c]] -= g
                        Jkk[loc[c], loc[a]] -= g
                    elif isk[a]:
                        Jke[loc[a], loc[c]] -= g
                    elif isk[c]:
                        Jke[loc[c], loc[a]] -= g
            # Schur complement onto the kept nodes (symmetric: J_ke diag(1/J_ee) J_ke^T)
            for q in range(e):
                inv_ee[q] = 1.0 / Jee[q]
            for p in range(k):
                s = 0.0
                for q in range(e):
                    W[p, q] = Jke[p, q] * inv_ee[q]
                    s += W[p, q] * re[q]
                rk[p] -= s
            for p in range(k):
                for p2 in range(p, k):
                    s = 0.0
                    for q in range(e):
                        s += W[p, q] * Jke[p2, q]
                    Jkk[p, p2] -= s
                    if p2 != p:
                        Jkk[p2, p] -= s
            if k > 0:
                xk = np.linalg.solve(Jkk, rk)
            else:
                xk = np.empty(0)
            for p in range(k):
                xn[keep[p]] = xk[p]
            for q in range(e):
                s = re[q]
                for p in range(k):
                    s -= Jke[p, q] * xk[p]
                xn[elim[q]] = s / Jee[q]
            dmax, finite = accept_step(x, b, xn)
            if not finite:
                status[b] = 2
                nit[b] = it + 1
                break
            if dmax <= tol and not limited:
                status[b] = 0
                nit[b] = it + 1
                break
        junction_currents(x, b, c0, ia, ic, jp, gmin, icur)


@njit(cache=True, error_model="numpy")
def newton_ldl(colptr, rowidx, uptr, ua, ub, udst, perm, mvals, ia, ic, paa, pcc, pac,
               rhs, c0, jp, gmin, x, maxiter, tol, status, nit, icur):
    """:func:`~circuitlearn.solve.shockley.kernels_newton.newton_dense` with the sparse batched LDL^T.

    Same iteration, per sample, as ``newton_dense`` (junction limiting, a
    junction above ``vcrit`` in the start point begins at ``vcrit``,
    convergence when a step without limiting moves no unknown by more than
    ``tol``); each Newton system is solved by the fixed-pattern LDL^T on
    :data:`CHUNK` lanes at once.  A lane whose sample converged (or failed, or
    ran out of iterations) writes it back and takes the next sample, so no
    work waits for the slowest sample of a chunk.

    colptr..udst : the :class:`LdlPlan` arrays; perm int64[n] new -> old
    mvals   : float64[nnz]   linear part ``L_ff`` in L's pattern
    ia, ic  : int64[d]       NEW index of anode / cathode, -1 when fixed
    paa, pcc, pac : int64[d] positions of the stamps (a,a), (c,c), (a,c) in V, -1 if absent
    rhs     : float64[B, n]  (old indices)
    c0      : float64[B, d]  fixed part of each junction voltage
    jp      : float64[d, 5] junction parameters (:mod:`.kernels_junction`); gmin : float
    x       : float64[B, n]  start (old indices), overwritten by the solution
    status  : int64[B] (out) 0 converged, 1 maxiter, 2 non-finite/singular
    nit     : int64[B] (out) Newton iterations
    icur    : float64[B, d] (out) diode currents at the solution
    """
    B, n = x.shape
    d = ia.shape[0]
    nnz = mvals.shape[0]
    W = min(CHUNK, B)
    if W == 0:
        return 0
    V = np.empty((nnz, W))
    R = np.empty((n, W))
    X = np.zeros((n, W))
    XN = np.empty((n, W))
    VL = np.zeros((d, W))
    C0 = np.zeros((d, W))
    lane = -np.ones(W, dtype=np.int64)      # sample held by each lane, -1: idle
    itl = np.zeros(W, dtype=np.int64)       # Newton iterations done on the lane's sample
    lim = np.zeros(W, dtype=np.bool_)
    nxt = 0
    while True:
        # idle lanes take the next samples
        nact = 0
        for l in range(W):
            if lane[l] < 0 and nxt < B:
                b = nxt
                nxt += 1
                lane[l] = b
                itl[l] = 0
                status[b] = 1
                nit[b] = maxiter
                for j in range(n):
                    X[j, l] = x[b, perm[j]]
                for k in range(d):
                    v = c0[b, k]
                    C0[k, l] = v
                    if ia[k] >= 0:
                        v += X[ia[k], l]
                    if ic[k] >= 0:
                        v -= X[ic[k], l]
                    VL[k, l] = v
            if lane[l] >= 0:
                nact += 1
        if nact == 0:
            break
        for p in range(nnz):
            mv = mvals[p]
            for l in range(W):
                V[p, l] = mv
        for j in range(n):
            pj = perm[j]
            for l in range(W):
                R[j, l] = rhs[lane[l], pj] if lane[l] >= 0 else 0.0
        for l in range(W):
            lim[l] = False
        for k in range(d):
            a = ia[k]
            c = ic[k]
            for l in range(W):
                if lane[l] >= 0:
                    v = C0[k, l]
                    if a >= 0:
                        v += X[a, l]
                    if c >= 0:
                        v -= X[c, l]
                    g, ieq, VL[k, l], lk = companion(v, VL[k, l], itl[l] == 0, C0[k, l], jp, k,
                                                     gmin)
                    if lk:
                        lim[l] = True
                else:                    # idle lane: any SPD stamp will do
                    g = 1.0
                    ieq = 0.0
                if a >= 0:
                    V[paa[k], l] += g
                    R[a, l] -= ieq
                if c >= 0:
                    V[pcc[k], l] += g
                    R[c, l] += ieq
                if a >= 0 and c >= 0:
                    V[pac[k], l] -= g
                    if a == c:           # both off-diagonal stamps land on the diagonal
                        V[pac[k], l] -= g
        ok = factor_solve(colptr, rowidx, uptr, ua, ub, udst, V, R, XN, W)
        for l in range(W):
            b = lane[l]
            if b < 0:
                continue
            itl[l] += 1
            dmax = 0.0
            finite = ok[l]
            for j in range(n):
                xv = XN[j, l]
                if not math.isfinite(xv):
                    finite = False
                dq = abs(xv - X[j, l])
                if dq > dmax:
                    dmax = dq
            done = False
            if not finite:
                status[b] = 2
                nit[b] = itl[l]
                done = True
            else:
                for j in range(n):
                    X[j, l] = XN[j, l]
                if dmax <= tol and not lim[l]:
                    status[b] = 0
                    nit[b] = itl[l]
                    done = True
                elif itl[l] >= maxiter:
                    done = True          # status 1, nit = maxiter, as set on loading
            if done:
                for j in range(n):
                    x[b, perm[j]] = X[j, l]
                for k in range(d):
                    v = C0[k, l]
                    if ia[k] >= 0:
                        v += X[ia[k], l]
                    if ic[k] >= 0:
                        v -= X[ic[k], l]
                    i, g = junction(v, jp, k, gmin)
                    icur[b, k] = i
                lane[l] = -1
    return 0
