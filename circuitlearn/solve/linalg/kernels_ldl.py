"""numba kernels of the batched fixed-pattern LDL^T (see :mod:`circuitlearn.solve.linalg.ldl`):
factorisation, triangular solves and CSR products, on ``CHUNK`` samples at once."""
from __future__ import annotations

import numpy as np
from numba import njit

#: Samples factorised together (the vectorised dimension).
CHUNK = 32


# ------------------------------------------- products without [n, B] temporaries
@njit(cache=True, error_model="numpy")
def csr_acc_cols(indptr, indices, data, X, sign, out):
    """``out += sign * (A @ X)`` in place, ``A`` CSR ``[m, k]``, X float64[k, B], out float64[m, B]
    (row sums in CSR order first, as scipy forms the product, so the result equals scipy's bit
    for bit without allocating the ``[m, B]`` product).  ``X`` may be a transposed view of a
    sample-major ``[B, k]`` block (``S[:, c0:c1].T``): no copy is made."""
    m = indptr.shape[0] - 1
    B = X.shape[1]
    acc = np.empty(B)
    for i in range(m):
        if indptr[i] == indptr[i + 1]:
            continue
        for b in range(B):
            acc[b] = 0.0
        for p in range(indptr[i], indptr[i + 1]):
            j = indices[p]
            v = data[p]
            for b in range(B):
                acc[b] += v * X[j, b]
        for b in range(B):
            out[i, b] += sign * acc[b]


# ----------------------------------------------------------------- numerics
@njit(cache=True, error_model="numpy")
def factor_solve(colptr, rowidx, uptr, ua, ub, udst, V, R, X, w):
    """In-place LDL^T of ``V`` and solve ``L D L^T X = R`` on the first ``w`` lanes.

    colptr int64[n+1], rowidx int64[nnz], uptr int64[n+1], ua/ub/udst int64[nu]
    V : float64[nnz, W]  matrix values in L's pattern (overwritten: D on the
        diagonal positions, unit-L below)
    R : float64[n, W]    right-hand sides (overwritten)
    X : float64[n, W]    (out) solutions
    Returns ``bool[W]``: False where a pivot was not positive and finite.
    """
    n = colptr.shape[0] - 1
    W = V.shape[1]
    ok = np.ones(W, dtype=np.bool_)
    invd = np.empty(W)
    for j in range(n):
        dp = colptr[j]
        for l in range(w):
            dv = V[dp, l]
            if not (dv > 0.0 and dv < np.inf):
                ok[l] = False
            invd[l] = 1.0 / dv
        for t in range(uptr[j], uptr[j + 1]):
            a = ua[t]
            b = ub[t]
            q = udst[t]
            for l in range(w):
                V[q, l] -= V[a, l] * V[b, l] * invd[l]
        for p in range(dp + 1, colptr[j + 1]):
            i = rowidx[p]
            for l in range(w):
                lv = V[p, l] * invd[l]
                V[p, l] = lv
                R[i, l] -= lv * R[j, l]
    for j in range(n - 1, -1, -1):
        dp = colptr[j]
        for l in range(w):
            X[j, l] = R[j, l] / V[dp, l]
        for p in range(dp + 1, colptr[j + 1]):
            i = rowidx[p]
            for l in range(w):
                X[j, l] -= V[p, l] * X[i, l]
    return ok


@njit(cache=True, error_model="numpy")
def ldl_solve_batch(colptr, rowidx, uptr, ua, ub, udst, perm, vals, rhs, out):
    """Solve ``A_b x_b = rhs_b`` for a batch of SPD matrices sharing one pattern.

    perm : int64[n] new -> old index
    vals : float64[B, nnz]  each sample's matrix in L's pattern (new indices,
           lower triangle; see :meth:`LdlPlan.values_of`)
    rhs  : float64[B, n]    (old indices)
    out  : float64[B, n]    (out) solutions (old indices)
    Returns ``bool[B]``: False where the factorisation met a non-positive pivot.
    """
    B, n = rhs.shape
    nnz = vals.shape[1]
    W = CHUNK
    V = np.empty((nnz, W))
    R = np.empty((n, W))
    X = np.empty((n, W))
    ok = np.ones(B, dtype=np.bool_)
    for b0 in range(0, B, W):
        w = min(W, B - b0)
        for p in range(nnz):
            for l in range(w):
                V[p, l] = vals[b0 + l, p]
        for j in range(n):
            for l in range(w):
                R[j, l] = rhs[b0 + l, perm[j]]
        okc = factor_solve(colptr, rowidx, uptr, ua, ub, udst, V, R, X, w)
        for l in range(w):
            ok[b0 + l] = okc[l]
            for j in range(n):
                out[b0 + l, perm[j]] = X[j, l]
    return ok
