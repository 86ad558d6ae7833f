"""numba kernels of the devices' programming step (arrays and scalars only)."""
from __future__ import annotations

from numba import njit


@njit(cache=True)
def add_clip_sums(w, dw, gmin, gmax, rowsum, colsum, need_rowsum):
    """w <- clip(w + dw, gmin, gmax) for w, dw float64[n, m]; also writes the new
    column sums colsum[m] and (if ``need_rowsum``) row sums rowsum[n] of w, in one pass."""
    n, m = w.shape
    for j in range(m):
        colsum[j] = 0.0
    for i in range(n):
        for j in range(m):
            x = min(max(w[i, j] + dw[i, j], gmin), gmax)
            w[i, j] = x
            colsum[j] += x
        if need_rowsum:
            s = 0.0
            for j in range(m):
                s += w[i, j]
            rowsum[i] = s
