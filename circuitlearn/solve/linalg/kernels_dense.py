"""numba kernels of the dense path for small linear circuits (arrays and scalars only).

Node codes: a free node ``i`` is coded ``i`` (its row in the free block), a node
fixed by the voltage sources (ground included) is coded ``-1 - j`` (``j`` its
row in the fixed block)."""
from __future__ import annotations

import numpy as np
from numba import njit


@njit(cache=True)
def assemble(ca, cb, g, K, Kx):
    """The free-free block ``K[nf, nf]`` and the free-fixed block ``Kx[nf, nx]`` of the
    nodal Laplacian of resistors ``(ca[k], cb[k])`` (node codes) of conductance ``g[k]``."""
    K[:, :] = 0.0
    Kx[:, :] = 0.0
    for k in range(g.shape[0]):
        a, b, gk = ca[k], cb[k], g[k]
        if a >= 0:
            K[a, a] += gk
            if b >= 0:
                K[b, b] += gk
                K[a, b] -= gk
                K[b, a] -= gk
            else:
                Kx[a, -1 - b] -= gk
        elif b >= 0:
            K[b, b] += gk
            Kx[b, -1 - a] -= gk


@njit(cache=True)
def cholesky(A, L):
    """``L`` (lower) with ``L L^T = A``; returns False when ``A`` is not positive definite
    (a free node with no conductive path to a fixed one)."""
    n = A.shape[0]
    L[:, :] = 0.0
    for j in range(n):
        s = A[j, j]
        for k in range(j):
            s -= L[j, k] * L[j, k]
        if not s > 1e-300 * max(abs(A[j, j]), 1e-300) or not np.isfinite(s):
            return False
        d = np.sqrt(s)
        L[j, j] = d
        for i in range(j + 1, n):
            s = A[i, j]
            for k in range(j):
                s -= L[i, k] * L[j, k]
            L[i, j] = s / d
    return True
