"""Numba kernels of the DC solvers: plain functions of arrays and scalars.

Shapes use ``n`` = free nodes, ``B`` = batch, ``d`` = diodes.  Node-major
``[n, B]`` layouts are used inside the kernels so that the innermost loop runs
over the batch on contiguous memory.  Nothing here knows about circuits; the
callers in :mod:`circuitlearn.solve.ideal` and :mod:`circuitlearn.solve.shockley`
build the arrays (see :mod:`circuitlearn.solve.assemble`).
"""
from __future__ import annotations

import math

import numpy as np
from numba import njit


# ------------------------------------------------------------------ colouring
@njit(cache=True)
def greedy_colouring(indptr, indices, n):
    """Greedy graph colouring in node order.

    Parameters: ``indptr int64[n+1], indices int64[nnz]`` -- CSR adjacency
    (symmetric, no self loops needed).  Returns ``int64[n]`` colours such that
    no two adjacent nodes share a colour (at most max degree + 1 colours).
    """
    colour = -np.ones(n, dtype=np.int64)
    mark = -np.ones(n + 1, dtype=np.int64)
    for i in range(n):
        for p in range(indptr[i], indptr[i + 1]):
            j = indices[p]
            if colour[j] >= 0:
                mark[colour[j]] = i
        c = 0
        while mark[c] == i:
            c += 1
        colour[i] = c
    return colour


# ------------------------------------------------------------ ideal diodes: CD
@njit(cache=True)
def diode_bounds(lo, hi, fa, fc, xa, xc, vfx, vth):
    """Box bounds that diodes to fixed nodes put on free nodes (in place).

    A diode anode->cathode with threshold ``vth`` requires
    ``v_a - v_c <= vth``.  With the anode fixed this is ``v_c >= v_a - vth``
    (a lower bound on the free cathode); with the cathode fixed it is
    ``v_a <= v_c + vth`` (an upper bound on the free anode).

    lo, hi : float64[n, B]   bounds, updated in place (start at -inf / +inf)
    fa, fc : int64[d]        free position of anode / cathode, -1 when fixed
    xa, xc : int64[d]        fixed position of anode / cathode, -1 when free
    vfx    : float64[n_fixed, B] fixed-node potentials
    vth    : float64[d]
    """
    B = lo.shape[1]
    for k in range(fa.shape[0]):
        if xa[k] >= 0 and fc[k] >= 0:
            i = fc[k]
            for b in range(B):
                t = vfx[xa[k], b] - vth[k]
                if t > lo[i, b]:
                    lo[i, b] = t
        elif fa[k] >= 0 and xc[k] >= 0:
            i = fa[k]
            for b in range(B):
                t = vfx[xc[k], b] + vth[k]
                if t < hi[i, b]:
                    hi[i, b] = t


@njit(cache=True)
def quadratic_energy(v, indptr, indices, gdata, diag, bT, out):
    """Energy ``E = 1/2 v^T L v - b^T v`` per sample (constant terms dropped).

    v, bT : float64[n, B]; indptr/indices/gdata : CSR of the off-diagonal
    conductances (positive ``g_ij``); diag : float64[n] (sum of conductances at
    each node, those to fixed nodes included); out : float64[B] (written).
    """
    n, B = v.shape
    for b in range(B):
        out[b] = 0.0
    for i in range(n):
        for b in range(B):
            s = diag[i] * v[i, b]
            for p in range(indptr[i], indptr[i + 1]):
                s -= gdata[p] * v[indices[p], b]
            out[b] += 0.5 * v[i, b] * s - bT[i, b] * v[i, b]


@njit(cache=True)
def projected_cd(v, indptr, indices, gdata, diag, bT, lo, hi, order,
                 ffptr, ffnbr, ffsign, ffvth, maxiter, tol, nit, energy, omega=1.0):
    """Batched projected Gauss-Seidel (exact coordinate descent) on the ideal-diode QP.

    Minimises ``E(v) = 1/2 v^T L v - b^T v`` subject to ``lo <= v <= hi`` and,
    for diodes between two free nodes, ``v_a - v_c <= vth``.  Each step sets
    one node to the exact minimiser of E along that coordinate,
    ``clip((sum_j g_ij v_j + b_i) / sum_j g_ij, lo_i, hi_i)``, where the
    free-free diodes tighten the bounds using the neighbours' current values.
    ``order`` lists the nodes colour class by colour class (nodes of one class
    are not adjacent, so updating them in any order -- or in parallel -- gives
    the same result).  E never increases.

    v        : float64[n, B]  start values, overwritten with the result
    indptr, indices, gdata : CSR off-diagonal conductances (g_ij > 0)
    diag     : float64[n]     sum of all conductances at each node (> 0)
    bT       : float64[n, B]  constant term (injected currents + pull of fixed nodes)
    lo, hi   : float64[n, B]  bounds from diodes to fixed nodes
    order    : int64[n]       update order
    ffptr, ffnbr, ffsign, ffvth : CSR (per node) of free-free diodes: neighbour,
               +1 when the node is the anode (``v_i <= v_j + vth``), -1 when
               it is the cathode (``v_i >= v_j - vth``), threshold
    maxiter  : int            maximum number of sweeps
    tol      : float          stop once a sweep moves no node by more than tol
    nit      : int64[B]       (out) sweeps until the sample's update < tol, or -1
    energy   : float64[maxiter+1, B] (out) energy after each sweep (row 0 =
               start) when ``energy.shape[0] > 0``, otherwise not recorded
    omega    : float in (0, 2), relaxation: the step is ``clip(v + omega (v* - v))``
               (projected SOR); 1 is exact coordinate descent.  For any omega in
               (0, 2) the energy along the coordinate does not increase, and the
               clip keeps the point between the old value and the relaxed one.
    Returns the number of sweeps done.
    """
    n, B = v.shape
    record = energy.shape[0] > 0
    if record:
        quadratic_energy(v, indptr, indices, gdata, diag, bT, energy[0])
    upd = np.zeros(B)
    s = np.zeros(B)
    for b in range(B):
        nit[b] = -1
    sweeps = 0
    for it in range(maxiter):
        for b in range(B):
            upd[b] = 0.0
        for q in range(n):
            i = order[q]
            for b in range(B):
                s[b] = bT[i, b]
            for p in range(indptr[i], indptr[i + 1]):
                j = indices[p]
                g = gdata[p]
                for b in range(B):
                    s[b] += g * v[j, b]
            inv = 1.0 / diag[i]
            for b in range(B):
                x = s[b] * inv
                if omega != 1.0:
                    x = v[i, b] + omega * (x - v[i, b])
                l = lo[i, b]
                h = hi[i, b]
                for p in range(ffptr[i], ffptr[i + 1]):
                    j = ffnbr[p]
                    if ffsign[p] > 0:
                        t = v[j, b] + ffvth[p]
                        if t < h:
                            h = t
                    else:
                        t = v[j, b] - ffvth[p]
                        if t > l:
                            l = t
                if x > h:
                    x = h
                if x < l:
                    x = l
                dx = abs(x - v[i, b])
                if dx > upd[b] or dx != dx:
                    upd[b] = dx
                v[i, b] = x
        sweeps = it + 1
        if record:
            quadratic_energy(v, indptr, indices, gdata, diag, bT, energy[sweeps])
        done = True
        for b in range(B):
            if nit[b] < 0:
                if upd[b] < tol:
                    nit[b] = sweeps
                else:
                    done = False
        if done:
            break
    return sweeps


# ---------------------------------------------------------- Shockley (ngspice)
@njit(cache=True)
def junction(vd, isat, vte, gmin):
    """ngspice level-1 diode DC current and conductance (no breakdown).

    ``vd >= -3 vte``: ``i = IS (exp(vd/vte) - 1)``; below, ngspice's reverse
    branch ``i = -IS (1 + (3 vte / (e vd))^3)``; plus ``gmin * vd`` across the
    junction.  Returns ``(i, di/dvd)``.
    """
    if vd >= -3.0 * vte:
        ev = math.exp(vd / vte)
        i = isat * (ev - 1.0)
        g = isat * ev / vte
    else:
        a = 3.0 * vte / (vd * math.e)
        a = a * a * a
        i = -isat * (1.0 + a)
        g = isat * 3.0 * a / vd
    return i + gmin * vd, g + gmin


@njit(cache=True)
def pnjlim(vnew, vold, vt, vcrit):
    """SPICE-style junction voltage limiting of a Newton update.

    When the new junction voltage is above ``vcrit`` and moved by more than
    ``2 vt``, the step is compressed logarithmically (the exponential is
    followed along its own scale) so Newton cannot overflow.  Returns
    ``(v_limited, was_limited)``.
    """
    if vnew > vcrit and abs(vnew - vold) > 2.0 * vt:
        if vold > 0.0:
            arg = 1.0 + (vnew - vold) / vt
            if arg > 0.0:
                return vold + vt * math.log(arg), True
            return vcrit, True
        return vt * math.log(vnew / vt), True
    return vnew, False


@njit(cache=True)
def limit_junction(v, vprev, first, vte, vcrit):
    """The junction voltage a Newton iteration may use, and whether it was limited.

    Later iterations: SPICE's pnjlim against the previous value ``vprev``.
    First iteration (no previous iterate): a junction hotter than ``vcrit``
    starts at ``vcrit``.
    """
    if not first:
        return pnjlim(v, vprev, vte, vcrit)
    if v > vcrit:
        return vcrit, True
    return v, False


@njit(cache=True)
def junction_voltage(x, b, c0, ia, ic, k):
    """v_d of diode ``k`` in sample ``b``: fixed part plus anode minus cathode unknowns."""
    v = c0[b, k]
    if ia[k] >= 0:
        v += x[b, ia[k]]
    if ic[k] >= 0:
        v -= x[b, ic[k]]
    return v


@njit(cache=True)
def accept_step(x, b, xn):
    """Write the Newton iterate ``xn`` into ``x[b]`` unless it is non-finite.

    Returns (max |change|, finite); ``x[b]`` is left untouched when not finite.
    """
    n = xn.shape[0]
    dmax = 0.0
    for q in range(n):
        if not math.isfinite(xn[q]):
            return dmax, False
        dq = abs(xn[q] - x[b, q])
        if dq > dmax:
            dmax = dq
    for q in range(n):
        x[b, q] = xn[q]
    return dmax, True


@njit(cache=True)
def junction_currents(x, b, c0, ia, ic, isat, vte, gmin, icur):
    """icur[b, k] <- the Shockley current of every diode at the state ``x[b]``."""
    for k in range(ia.shape[0]):
        i, g = junction(junction_voltage(x, b, c0, ia, ic, k), isat[k], vte[k], gmin)
        icur[b, k] = i


@njit(cache=True)
def newton_dense(M, rhs, ia, ic, c0, isat, vte, vcrit, gmin, x, maxiter, tol,
                 status, nit, icur):
    """Damped (junction-limited) Newton for ``M x + C^T i(C x + c0) = rhs``, per sample.

    Dense variant for small systems (a few hundred unknowns), e.g. the free
    nodes of a DRN whose inputs are all fixed by sources.

    M       : float64[n, n]  linear part (reduced Laplacian, SPD)
    rhs     : float64[B, n]
    ia, ic  : int64[d]       unknown index of anode / cathode, -1 when fixed
    c0      : float64[B, d]  fixed part of each junction voltage
    isat, vte, vcrit : float64[d]; gmin : float
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
                v, lim = limit_junction(junction_voltage(x, b, c0, ia, ic, k), vl[k], it == 0,
                                        vte[k], vcrit[k])
                limited = limited or lim
                vl[k] = v
                i, g = junction(v, isat[k], vte[k], gmin)
                # linearised current: i + g (vd - v) with vd = C x + c0
                ieq = i + g * (c0[b, k] - v)
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
        junction_currents(x, b, c0, ia, ic, isat, vte, gmin, icur)


# ------------------------------------------------------ Krylov solvers (CSR)
@njit(cache=True)
def _csr_matvec(indptr, indices, data, x, out):
    for i in range(out.shape[0]):
        s = 0.0
        for p in range(indptr[i], indptr[i + 1]):
            s += data[p] * x[indices[p]]
        out[i] = s


@njit(cache=True)
def minres(indptr, indices, data, minv, b, x, rtol, maxiter):
    """Preconditioned MINRES (Paige & Saunders) for a symmetric, possibly indefinite CSR matrix.

    Solves ``A x = b`` starting from ``x`` (updated in place) with the diagonal
    SPD preconditioner ``minv`` (float64[n], the inverse diagonal).  Stops when
    the preconditioned residual norm falls below ``rtol`` times its initial
    value or after ``maxiter`` iterations.  Returns the iterations used.
    """
    n = b.shape[0]
    r1 = np.empty(n)
    _csr_matvec(indptr, indices, data, x, r1)
    for i in range(n):
        r1[i] = b[i] - r1[i]
    y = minv * r1
    beta1 = 0.0
    for i in range(n):
        beta1 += r1[i] * y[i]
    if beta1 <= 0.0:
        return 0
    beta1 = math.sqrt(beta1)
    r2 = r1.copy()
    w = np.zeros(n)
    w2 = np.zeros(n)
    v = np.empty(n)
    oldb = 0.0
    beta = beta1
    dbar = 0.0
    epsln = 0.0
    phibar = beta1
    cs = -1.0
    sn = 0.0
    for itn in range(1, maxiter + 1):
        s = 1.0 / beta
        for i in range(n):
            v[i] = s * y[i]
        _csr_matvec(indptr, indices, data, v, y)
        if itn >= 2:
            f = beta / oldb
            for i in range(n):
                y[i] -= f * r1[i]
        alfa = 0.0
        for i in range(n):
            alfa += v[i] * y[i]
        f = alfa / beta
        for i in range(n):
            y[i] -= f * r2[i]
            r1[i] = r2[i]
            r2[i] = y[i]
            y[i] = minv[i] * r2[i]
        oldb = beta
        beta = 0.0
        for i in range(n):
            beta += r2[i] * y[i]
        if beta < 0.0:
            return -itn
        beta = math.sqrt(beta)
        oldeps = epsln
        delta = cs * dbar + sn * alfa
        gbar = sn * dbar - cs * alfa
        epsln = sn * beta
        dbar = -cs * beta
        gamma = max(math.hypot(gbar, beta), 1e-300)
        cs = gbar / gamma
        sn = beta / gamma
        phi = cs * phibar
        phibar = sn * phibar
        denom = 1.0 / gamma
        for i in range(n):
            w1 = w2[i]
            w2[i] = w[i]
            w[i] = (v[i] - oldeps * w1 - delta * w2[i]) * denom
            x[i] += phi * w[i]
        if phibar <= rtol * beta1 or beta == 0.0:
            return itn
    return maxiter


@njit(cache=True)
def pcg(indptr, indices, data, minv, b, x, rtol, maxiter):
    """Jacobi-preconditioned conjugate gradients for an SPD CSR matrix (``x`` updated in place).

    Stops when ``||r||_2 <= rtol ||b - A x0||_2``; returns the iterations used.
    """
    n = b.shape[0]
    r = np.empty(n)
    _csr_matvec(indptr, indices, data, x, r)
    for i in range(n):
        r[i] = b[i] - r[i]
    z = minv * r
    p = z.copy()
    q = np.empty(n)
    rz = 0.0
    r0 = 0.0
    for i in range(n):
        rz += r[i] * z[i]
        r0 += r[i] * r[i]
    if r0 == 0.0:
        return 0
    stop = rtol * rtol * r0
    for itn in range(1, maxiter + 1):
        _csr_matvec(indptr, indices, data, p, q)
        pq = 0.0
        for i in range(n):
            pq += p[i] * q[i]
        if pq <= 0.0:
            return -itn
        a = rz / pq
        rr = 0.0
        for i in range(n):
            x[i] += a * p[i]
            r[i] -= a * q[i]
            rr += r[i] * r[i]
        if rr <= stop:
            return itn
        rzn = 0.0
        for i in range(n):
            z[i] = minv[i] * r[i]
            rzn += r[i] * z[i]
        f = rzn / rz
        rz = rzn
        for i in range(n):
            p[i] = z[i] + f * p[i]
    return maxiter


@njit(cache=True)
def newton_schur(Mkk, Mke, Mee, keep, elim, rhs, ia, ic, c0, isat, vte, vcrit, gmin, x,
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
                v, lim = limit_junction(junction_voltage(x, b, c0, ia, ic, j), vl[j], it == 0,
                                        vte[j], vcrit[j])
                limited = limited or lim
                vl[j] = v
                i, g = junction(v, isat[j], vte[j], gmin)
                ieq = i + g * (c0[b, j] - v)
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
        junction_currents(x, b, c0, ia, ic, isat, vte, gmin, icur)
