"""The KKT system of an active set: ``[[M, C_A^T], [C_A, 0]] [x; i] = rhs``: direct, reduced, or MINRES.

Above :data:`DIRECT_MAX` unknowns a symmetric system whose constraints are diode incidences
(each row ``+1`` at the anode and/or ``-1`` at the cathode, as the ideal-diode solver builds
them) is first *reduced* (:func:`solve_reduced`): a conducting diode between two free nodes
merges them (their voltages differ by a known offset), one to a fixed node pins its node, so
``x = P u + c`` and ``u`` solves the SPD system ``Pᵀ M P u = Pᵀ (rhs − M c)`` -- a Laplacian
again, solved by CG preconditioned with its maximum spanning forest
(:mod:`~circuitlearn.solve.linalg.spd`), which converges in tens of sparse products on
random graphs and crossbars where MINRES on the indefinite KKT system needs thousands.  The currents follow from
KCL.  Inconsistent constraints (a cycle or two pins that disagree) or a PCG that does not
converge fall back to MINRES.
"""
from __future__ import annotations

import numpy as np
import scipy.sparse as sp
import scipy.sparse.linalg as spla

from circuitlearn.solve.linalg.kernels_krylov import minres
from circuitlearn.solve.linalg.spd import ForestCG

#: Largest KKT system factorised with SuperLU; larger ones use preconditioned MINRES
#: (random graphs fill in catastrophically: SuperLU needed ~20 s per factorisation at 10^4 nodes).
DIRECT_MAX = 3000


def solve_kkt(M, CA, rh, warm, gscale, symmetric=True, tol=1e-10, loose=False):
    """Solve ``[[M, CA^T], [CA, 0]] [x; i] = rh``; returns ``(solution, None, how)`` or
    ``(None, why, how)``, ``how`` the path taken: ``"lu"``, ``"reduced-forest-pcg"`` (or
    ``"reduced-jacobi-pcg"`` where the forest could not be factored) or ``"minres"``.

    Direct (SuperLU) up to :data:`DIRECT_MAX` unknowns, else MINRES with the
    block-Jacobi preconditioner ``diag(1/diag M, 1/diag(CA diag(M)^-1 CA^T))``
    (symmetric systems only: non-symmetric MNA is always factorised) plus iterative
    refinement; the caller's certificate judges the final accuracy.  ``loose``: a large
    reduced system is solved only to 1e-6 of its residual (an active-set iteration that is
    still changing its set needs no more); the tight solve comes once the set is stable.
    """
    n, k = M.shape[0], CA.shape[0]

    def kkt():
        return sp.bmat([[M, CA.T], [CA, None]], format="csc") if k else sp.csc_matrix(M)

    if n + k <= DIRECT_MAX or not symmetric:
        K = kkt()
        try:
            return spla.splu(K).solve(rh), None, "lu"
        except RuntimeError:
            reg = sp.diags(np.concatenate([np.full(n, 1e-12 * gscale), np.full(k, -1e-12 / gscale)]))
            try:
                lu = spla.splu((K + reg).tocsc())
                x = lu.solve(rh)
                for _ in range(3):        # refine against K itself: the regularisation pulls
                    x = x + lu.solve(rh - K @ x)   # every node towards 0 V by ~1e-12 gscale v
                return x, None, "lu"
            except RuntimeError as exc:
                return None, f"singular system ({exc})", "lu"
    d = M.diagonal()
    if np.any(d <= 0):
        return None, "singular system (a node without conductance)", "minres"
    sol, how = solve_reduced(M, CA, rh, warm, gscale, tol, loose)
    if sol is not None:
        return sol, None, "reduced-" + how
    K = kkt().tocsr()
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
            return None, f"MINRES failed (iteration {abs(info)})", "minres"
        x = x + dx
    return x, None, "minres"


#: PCG iterations allowed per refinement round of the reduced system
REDUCED_PCG_MAXITER = 5000


def solve_reduced(M, CA, rh, warm, gscale, tol, loose=False):
    """``(solution, inner solver)`` by node merging and pinning (module docstring), or
    ``(None, None)`` when the constraints are not diode incidences, are inconsistent, or
    PCG does not converge."""
    import scipy.sparse.csgraph as csg
    n, k = M.shape[0], CA.shape[0]
    C = sp.csr_matrix(CA)
    nnz = np.diff(C.indptr)
    if k and (nnz.max() > 2 or nnz.min() < 1 or not np.all(np.abs(C.data) == 1.0)):
        return None, None
    h = rh[n:]
    two = nnz == 2
    # both ends free: x_a - x_c = h (C row +1 at a, -1 at c)
    r2 = np.flatnonzero(two)
    st = C.indptr[r2]
    ia, ib = C.indices[st].astype(np.int64), C.indices[st + 1].astype(np.int64)
    sa = C.data[st]
    a = np.where(sa > 0, ia, ib)          # anode position
    c = np.where(sa > 0, ib, ia)
    und = sp.coo_matrix((np.ones(2 * r2.size), (np.concatenate([a, c]), np.concatenate([c, a]))),
                        shape=(n, n)).tocsr()
    n_groups, label = csg.connected_components(und, directed=False)
    # offsets within each group along a BFS forest from a virtual root joined to every group
    first = np.full(n_groups, -1, np.int64)
    first[label[::-1]] = np.arange(n)[::-1]
    root_edges = sp.coo_matrix((np.ones(n_groups), (np.full(n_groups, n), first)),
                               shape=(n + 1, n + 1))
    ext = sp.bmat([[und, None], [None, sp.csr_matrix((1, 1))]]).tocsr() + root_edges + \
        root_edges.T
    order, pred = csg.breadth_first_order(ext, n, directed=False, return_predecessors=True)
    pred = pred.astype(np.int64)                  # keys below are p * n + v: no int32
    # x_v = x_p + step_v along the BFS tree: the step is -h of the diode (p anode, v cathode)
    # or +h (v anode, p cathode); one diode per tree edge, found by a sorted-key lookup
    step = np.zeros(n + 1)
    tree = (pred[:n] >= 0) & (pred[:n] != n)
    v_t = np.flatnonzero(tree)
    if v_t.size:
        p_t = pred[v_t]
        key = np.concatenate([a * n + c, c * n + a])
        sgn = np.concatenate([-np.ones(r2.size), np.ones(r2.size)])
        hh = np.concatenate([h[r2], h[r2]])
        srt = np.argsort(key, kind="stable")
        hit = srt[np.searchsorted(key[srt], p_t * n + v_t)]
        step[v_t] = sgn[hit] * hh[hit]
    off = np.zeros(n + 1)
    inner = order[order < n]
    for v in inner[tree[inner]]:    # merged nodes only; parents come first in BFS order
        off[v] = off[pred[v]] + step[v]
    off = off[:n]
    # every both-free constraint must hold with these offsets (cycles, parallel diodes)
    vtol = 1e-3 * tol
    if r2.size and np.max(np.abs(off[a] - off[c] - h[r2])) > vtol:
        return None, None
    # one end free: a pin of that node's group
    r1 = np.flatnonzero(~two)
    pos = C.indices[C.indptr[r1]]
    val = h[r1] / C.data[C.indptr[r1]]              # x_pos = val
    root_val = np.full(n_groups, np.nan)
    if r1.size:
        want = val - off[pos]
        g1 = label[pos]
        root_val[g1] = want
        if np.max(np.abs(root_val[g1] - want)) > vtol:
            return None, None
    pinned = np.isfinite(root_val)
    free_g = np.flatnonzero(~pinned)
    uidx = np.full(n_groups, -1, np.int64)
    uidx[free_g] = np.arange(free_g.size)
    cvec = off + np.where(pinned[label], np.nan_to_num(root_val[label]), 0.0)
    mine = uidx[label] >= 0
    P = sp.csr_matrix((np.ones(int(mine.sum())), (np.flatnonzero(mine), uidx[label[mine]])),
                      shape=(n, free_g.size))
    b0 = rh[:n] - M @ cvec
    x = cvec.copy()
    how = "forest-pcg"
    if free_g.size:
        Mr = (P.T @ M @ P).tocsr()
        Mr.sum_duplicates()
        Mr.sort_indices()
        dr = Mr.diagonal()
        if np.any(dr <= 0):
            return None, None
        br = P.T @ b0
        size = np.asarray(P.sum(axis=0)).ravel()
        u = (P.T @ (np.asarray(warm[:n]) - cvec)) / size
        cg = ForestCG(Mr)
        how = cg.name
        target = 1e-3 * tol * gscale
        for _ in range(1 if loose else 12):
            r = br - Mr @ u
            if np.all(np.abs(r) <= target):
                break
            du = np.zeros_like(u)
            it = cg.solve(r, du, 1e-6 if loose else 1e-8, REDUCED_PCG_MAXITER)
            if not 0 <= it < REDUCED_PCG_MAXITER or not np.all(np.isfinite(du)):
                return None, None
            u = u + du
        else:
            if not loose:
                return None, None
        x = P @ u + cvec
    # currents: C_A^T i = rhs - M x at the free nodes (least squares over the diode forest)
    rho = rh[:n] - M @ x
    lam = np.zeros(k)
    if k:
        Ct = C.T.tocsr()
        N = (C @ Ct).tocsc()
        N = N + sp.identity(k, format="csc") * (1e-14 * max(N.diagonal().max(), 1.0))
        lam = spla.spsolve(N, C @ rho)
    return np.concatenate([x, lam]), how
