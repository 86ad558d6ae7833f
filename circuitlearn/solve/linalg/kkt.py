"""The KKT system of an active set: ``[[M, C_A^T], [C_A, 0]] [x; i] = rhs``, direct or MINRES."""
from __future__ import annotations

import numpy as np
import scipy.sparse as sp
import scipy.sparse.linalg as spla

from circuitlearn.solve.linalg.kernels_krylov import minres

#: Largest KKT system factorised with SuperLU; larger ones use preconditioned MINRES
#: (random graphs fill in catastrophically: SuperLU needed ~20 s per factorisation at 10^4 nodes).
DIRECT_MAX = 3000


def solve_kkt(M, CA, rh, warm, gscale, symmetric=True, tol=1e-10):
    """Solve ``[[M, CA^T], [CA, 0]] [x; i] = rh``; returns ``(solution, None)`` or ``(None, why)``.

    Direct (SuperLU) up to :data:`DIRECT_MAX` unknowns, else MINRES with the
    block-Jacobi preconditioner ``diag(1/diag M, 1/diag(CA diag(M)^-1 CA^T))``
    (symmetric systems only: non-symmetric MNA is always factorised) plus iterative
    refinement; the caller's certificate judges the final accuracy.
    """
    n, k = M.shape[0], CA.shape[0]
    K = sp.bmat([[M, CA.T], [CA, None]], format="csc") if k else sp.csc_matrix(M)
    if n + k <= DIRECT_MAX or not symmetric:
        try:
            return spla.splu(K).solve(rh), None
        except RuntimeError:
            reg = sp.diags(np.concatenate([np.full(n, 1e-12 * gscale), np.full(k, -1e-12 / gscale)]))
            try:
                lu = spla.splu((K + reg).tocsc())
                x = lu.solve(rh)
                for _ in range(3):        # refine against K itself: the regularisation pulls
                    x = x + lu.solve(rh - K @ x)   # every node towards 0 V by ~1e-12 gscale v
                return x, None
            except RuntimeError as exc:
                return None, f"singular system ({exc})"
    K = K.tocsr()
    d = M.diagonal()
    if np.any(d <= 0):
        return None, "singular system (a node without conductance)"
    s = np.asarray(CA.multiply(CA) @ (1.0 / d)).ravel() if k else np.zeros(0)
    minv = np.concatenate([1.0 / d, 1.0 / np.where(s > 0, s, 1.0)])
    ip, ix = K.indptr.astype(np.int64), K.indices.astype(np.int64)
    x = np.array(warm, dtype=np.float64)
    # stop on the true residual: node rows (A) and constraint rows (V) well inside the
    # certificate's thresholds, so a warm start (few diodes changed) costs few iterations
    target = np.concatenate([np.full(n, 1e-3 * tol * gscale), np.full(k, 1e-3 * tol)])
    for _ in range(12):
        r = rh - K @ x
        if np.all(np.abs(r) <= target):
            break
        dx = np.zeros_like(x)
        info = minres(ip, ix, K.data, minv, r, dx, 1e-6, 50000)
        if info < 0 or not np.all(np.isfinite(dx)):
            return None, f"MINRES failed (iteration {abs(info)})"
        x = x + dx
    return x, None
