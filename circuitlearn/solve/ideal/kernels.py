"""numba kernels of the ideal-diode solver: projected coordinate descent (arrays and scalars only).

Shapes use ``n`` = free nodes, ``B`` = batch, ``d`` = diodes; node-major ``[n, B]``
layouts so the innermost loop runs over the batch on contiguous memory.  The
callers in :mod:`circuitlearn.solve.ideal.solver` build the arrays
(see :mod:`circuitlearn.solve.assemble`)."""
from __future__ import annotations


import numpy as np
from numba import njit


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
