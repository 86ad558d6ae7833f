"""numba Krylov kernels on CSR matrices: MINRES and preconditioned CG (arrays and scalars only).

CG's preconditioner is a *spanning forest plus diagonal*: ``M = D + T`` where ``D`` is the
matrix's diagonal and ``T`` its off-diagonal entries on the edges of a forest (each node's
``parent``, ``-1`` at a root, ``a[v]`` the entry ``A[v, parent[v]]``, ``order`` parents
before children).  A forest has no fill, so ``M = L diag(piv) L^T`` costs one pass each way
(:func:`forest_factor`, :func:`forest_apply`).  With no edges (every ``parent`` ``-1``) it
is Jacobi.
"""
from __future__ import annotations

import math

import numpy as np
from numba import njit


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
def forest_factor(order, parent, a, d, piv):
    """Pivots of ``D + T`` eliminated leaves first (``piv`` filled); False if one is not
    positive (the matrix is not diagonally dominant on the forest)."""
    for k in range(order.shape[0]):
        piv[order[k]] = d[order[k]]
    for k in range(order.shape[0] - 1, -1, -1):
        v = order[k]
        if not piv[v] > 0.0:
            return False
        p = parent[v]
        if p >= 0:
            piv[p] -= a[v] * a[v] / piv[v]
    return True


@njit(cache=True)
def forest_apply(order, parent, a, piv, r, z):
    """``z = (D + T)^-1 r``: forward elimination leaves first, back substitution roots first."""
    for k in range(order.shape[0]):
        z[order[k]] = r[order[k]]
    for k in range(order.shape[0] - 1, -1, -1):
        v = order[k]
        p = parent[v]
        if p >= 0:
            z[p] -= a[v] / piv[v] * z[v]
    for k in range(order.shape[0]):
        v = order[k]
        p = parent[v]
        if p >= 0:
            z[v] = (z[v] - a[v] * z[p]) / piv[v]
        else:
            z[v] = z[v] / piv[v]


@njit(cache=True)
def pcg(indptr, indices, data, order, parent, a, piv, b, x, rtol, maxiter):
    """Conjugate gradients for an SPD CSR matrix preconditioned by a factored spanning forest
    plus diagonal (module docstring; ``x`` updated in place).

    Stops when ``||r||_2 <= rtol ||b - A x0||_2``; returns the iterations used, ``-k`` when
    ``p^T A p <= 0`` at iteration ``k`` (not SPD), ``maxiter`` when it did not converge.
    """
    n = b.shape[0]
    r = np.empty(n)
    _csr_matvec(indptr, indices, data, x, r)
    for i in range(n):
        r[i] = b[i] - r[i]
    z = np.empty(n)
    forest_apply(order, parent, a, piv, r, z)
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
        al = rz / pq
        rr = 0.0
        for i in range(n):
            x[i] += al * p[i]
            r[i] -= al * q[i]
            rr += r[i] * r[i]
        if rr <= stop:
            return itn
        forest_apply(order, parent, a, piv, r, z)
        rzn = 0.0
        for i in range(n):
            rzn += r[i] * z[i]
        f = rzn / rz
        rz = rzn
        for i in range(n):
            p[i] = z[i] + f * p[i]
    return maxiter
