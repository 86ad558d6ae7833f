"""numba Krylov kernels on CSR matrices: MINRES and preconditioned CG (arrays and scalars only)."""
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
