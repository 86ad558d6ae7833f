"""Batched sparse LDL^T for the symmetric reduced Newton systems (fixed pattern, many samples).

The Newton Jacobian of a reduced circuit without controlled sources is
``J = L_ff + C^T diag(g) C``: the free-node Laplacian (positive definite when
every free node reaches a fixed one) plus each junction's small-signal
conductance ``g > 0`` (GMIN included) stamped on its free endpoints.  Its
sparsity pattern is the same for every sample and every Newton iteration, so
the symbolic work is done once per circuit (:func:`ldl_plan`):

* a greedy minimum-degree elimination order (ties broken by node index),
  simulated on the elimination graph, which also gives the filled pattern of
  ``L``: the structure of column ``j`` is the neighbourhood of node ``j`` when
  it is eliminated;
* the positions of ``L_ff``'s entries and of every diode stamp in ``L``'s
  value array;
* the list of rank-1 updates ``(a, b, dst)`` of the right-looking
  factorisation, column by column.

The numeric kernels (:func:`ldl_solve_batch`, :func:`newton_ldl`) keep one
value array ``V[nnz, W]`` for a chunk of ``W`` samples, the batch in the
innermost (contiguous) dimension, so the fixed-pattern factorisation and the
triangular solves vectorise over samples.  For a DRN the hidden nodes (one
diode to ground each, joined only to outputs) are eliminated first and only
the small output block fills in: a Newton step costs ``O(nnz(L) + updates)``
instead of ``O(n^3)``.

Pattern layout (new = permuted order): column ``j`` of ``L`` occupies
``colptr[j]:colptr[j+1]`` of ``rowidx``/``V``; its first entry is the
diagonal (holding ``D[j]``), the rest are the rows ``> j`` in increasing order.
"""
from __future__ import annotations

import math
import weakref

import numpy as np
import scipy.sparse as sp
from numba import njit

from circuitlearn.solve.kernels import junction, limit_junction

#: Samples factorised together (the vectorised dimension).
CHUNK = 32


class LdlPlan:
    """Symbolic LDL^T of a symmetric pattern (see module doc); all arrays int64.

    perm    : int64[n]     new -> old index; iperm old -> new
    colptr  : int64[n+1], rowidx : int64[nnz]   filled pattern of L (new indices)
    uptr    : int64[n+1], ua, ub, udst : int64[nu]  updates of column j:
              ``V[udst] -= V[ua] V[ub] / D[j]`` for ``uptr[j] <= t < uptr[j+1]``
    nnz, n_updates : sizes (the factorisation costs about ``n_updates`` multiply-adds)
    """

    def __init__(self, n, perm, colptr, rowidx, uptr, ua, ub, udst):
        self.n = n
        self.perm = perm
        self.iperm = np.empty(n, np.int64)
        self.iperm[perm] = np.arange(n, dtype=np.int64)
        self.colptr, self.rowidx = colptr, rowidx
        self.uptr, self.ua, self.ub, self.udst = uptr, ua, ub, udst
        self.nnz = int(colptr[-1])
        self.n_updates = int(ua.size)

    def position(self, i, j):
        """Positions in ``V`` of entries ``(i, j)`` (new indices, ``i >= j``); -1 if absent."""
        i = np.asarray(i, np.int64)
        j = np.asarray(j, np.int64)
        keys = j * self.n + i
        allkeys = self._keys()
        p = np.searchsorted(allkeys, keys)
        p = np.minimum(p, allkeys.size - 1)
        return np.where(allkeys[p] == keys, p, -1).astype(np.int64)

    def _keys(self):
        if not hasattr(self, "_k"):
            cols = np.repeat(np.arange(self.n, dtype=np.int64), np.diff(self.colptr))
            self._k = cols * self.n + self.rowidx
        return self._k

    def values_of(self, A):
        """``float64[nnz]``: the lower triangle of symmetric ``A`` (old indices) scattered into L's pattern."""
        A = sp.coo_matrix(A)
        i, j = self.iperm[A.row], self.iperm[A.col]
        low = i >= j
        pos = self.position(i[low], j[low])
        if np.any(pos < 0):
            raise ValueError("matrix entry outside the symbolic pattern")
        out = np.zeros(self.nnz)
        np.add.at(out, pos, A.data[low])
        return out


def ldl_plan(n, rows, cols, max_updates=None):
    """Symbolic analysis of the symmetric pattern with off-diagonal edges ``(rows[k], cols[k])``.

    Returns an :class:`LdlPlan`, or ``None`` when the factorisation would need
    more than ``max_updates`` rank-1 update entries (too much fill-in: the
    caller then keeps a dense or iterative solver).
    """
    rows = np.asarray(rows, np.int64)
    cols = np.asarray(cols, np.int64)
    off = rows != cols
    adj = [set() for _ in range(n)]
    for a, b in zip(rows[off].tolist(), cols[off].tolist()):
        adj[a].add(b)
        adj[b].add(a)
    deg = np.array([len(s) for s in adj], dtype=np.int64)
    big = np.iinfo(np.int64).max
    perm = np.empty(n, np.int64)
    struct = []
    work = 0
    for step in range(n):
        v = int(np.argmin(deg))        # first node of least degree
        nb = adj[v]
        perm[step] = v
        struct.append(list(nb))
        c = len(nb)
        work += c * (c + 1) // 2
        if max_updates is not None and work > max_updates:
            return None
        for u in nb:
            s = adj[u]
            s.discard(v)
            s |= nb
            s.discard(u)
            deg[u] = len(s)
        adj[v] = set()
        deg[v] = big
    iperm = np.empty(n, np.int64)
    iperm[perm] = np.arange(n, dtype=np.int64)
    counts = np.array([1 + len(s) for s in struct], dtype=np.int64)
    colptr = np.zeros(n + 1, np.int64)
    colptr[1:] = np.cumsum(counts)
    rowidx = np.empty(colptr[-1], np.int64)
    cols_new = []
    for j in range(n):
        r = np.sort(iperm[np.array(struct[j], dtype=np.int64)]) if struct[j] else np.zeros(0, np.int64)
        rowidx[colptr[j]] = j
        rowidx[colptr[j] + 1:colptr[j + 1]] = r
        cols_new.append(r)
    plan = LdlPlan(n, perm, colptr, rowidx, np.zeros(n + 1, np.int64),
                   np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0, np.int64))
    # rank-1 updates of column j: every pair (s >= t) of its off-diagonal rows
    ua, ub, ut, uptr = [], [], [], np.zeros(n + 1, np.int64)
    for j in range(n):
        c = cols_new[j].size
        if c:
            s, t = np.tril_indices(c)
            base = colptr[j] + 1
            ua.append(base + s)
            ub.append(base + t)
            ut.append((cols_new[j][t], cols_new[j][s]))
        uptr[j + 1] = uptr[j] + c * (c + 1) // 2
    if ua:
        plan.ua = np.concatenate(ua).astype(np.int64)
        plan.ub = np.concatenate(ub).astype(np.int64)
        tc = np.concatenate([x[0] for x in ut])
        tr = np.concatenate([x[1] for x in ut])
        plan.udst = plan.position(tr, tc)
        assert np.all(plan.udst >= 0), "symbolic fill pattern is not closed"
    plan.uptr = uptr
    plan.n_updates = int(plan.ua.size)
    return plan


_PLANS: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()


def reduced_plan(red, max_updates):
    """Cached LDL^T plan of the reduced Newton Jacobian ``L_ff + A diag(g) A^T`` of ``red``
    (a :class:`~circuitlearn.solve.assemble.Reduced`), or ``None`` when the fill-in needs
    more than ``max_updates`` update entries.

    Returns a dict with the plan's arrays, ``mvals`` (``L_ff`` in L's pattern),
    ``ia``/``ic`` (new index of each junction's free anode / cathode, -1 when
    fixed) and the stamp positions ``paa``, ``pcc``, ``pac``.
    """
    key = (int(max_updates),)
    hit = _PLANS.get(red)
    if hit is not None and key in hit:
        return hit[key]
    nf = red.free.size
    Lff = sp.coo_matrix(red.Lff)
    fa, fc = red.fa, red.fc
    both = (fa >= 0) & (fc >= 0)
    plan = ldl_plan(nf, np.concatenate([Lff.row, fa[both]]), np.concatenate([Lff.col, fc[both]]),
                    max_updates) if nf else None
    out = None
    if plan is not None:
        ia = np.where(fa >= 0, plan.iperm[np.maximum(fa, 0)], -1).astype(np.int64)
        ic = np.where(fc >= 0, plan.iperm[np.maximum(fc, 0)], -1).astype(np.int64)
        paa = np.where(ia >= 0, plan.position(np.maximum(ia, 0), np.maximum(ia, 0)), -1)
        pcc = np.where(ic >= 0, plan.position(np.maximum(ic, 0), np.maximum(ic, 0)), -1)
        pac = np.where(both, plan.position(np.maximum(ia, ic), np.minimum(ia, ic)), -1)
        out = dict(plan=plan, colptr=plan.colptr, rowidx=plan.rowidx, uptr=plan.uptr, ua=plan.ua,
                   ub=plan.ub, udst=plan.udst, perm=plan.perm, mvals=plan.values_of(red.Lff),
                   ia=ia, ic=ic, paa=paa.astype(np.int64), pcc=pcc.astype(np.int64),
                   pac=pac.astype(np.int64))
    if hit is None:
        hit = {}
        _PLANS[red] = hit
    hit[key] = out
    return out


def carry_plans(old_red, new_red):
    """Give ``new_red`` (same structure, new values) ``old_red``'s cached LDL^T plans with
    the numeric values of ``new_red.Lff``."""
    hit = _PLANS.get(old_red)
    if not hit:
        return
    out = {}
    for key, plan in hit.items():
        out[key] = None if plan is None else dict(plan, mvals=plan["plan"].values_of(new_red.Lff))
    _PLANS[new_red] = out


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


@njit(cache=True, error_model="numpy")
def csr_times_cols_t(indptr, indices, data, X, out):
    """``out = (A @ X).T`` written sample-major: A CSR ``[m, k]``, X float64[k, B],
    out float64[B, m] (C-contiguous, so no transposed copy is needed afterwards)."""
    m = indptr.shape[0] - 1
    B = X.shape[1]
    acc = np.empty(B)
    for i in range(m):
        for b in range(B):
            acc[b] = 0.0
        for p in range(indptr[i], indptr[i + 1]):
            j = indices[p]
            v = data[p]
            for b in range(B):
                acc[b] += v * X[j, b]
        for b in range(B):
            out[b, i] = acc[b]
    return out


# ----------------------------------------------------------------- numerics
@njit(cache=True, error_model="numpy")
def csr_times_rows_t(indptr, indices, data, S, out):
    """``out = A @ S[:, :k].T`` for CSR ``A`` (``[m, k]``) and row-major samples ``S``.

    indptr int[m+1], indices int[nnz], data float64[nnz]; S float64[B, >= k];
    out float64[m, B] (written and returned).  Sums in CSR order, as scipy does,
    without the transposed copy of ``S`` that scipy makes (a DRN has ~1600 sources).
    """
    m = indptr.shape[0] - 1
    B = S.shape[0]
    for i in range(m):
        for b in range(B):
            out[i, b] = 0.0
        for p in range(indptr[i], indptr[i + 1]):
            j = indices[p]
            v = data[p]
            for b in range(B):
                out[i, b] += v * S[b, j]
    return out


@njit(cache=True, error_model="numpy")
def _factor_solve(colptr, rowidx, uptr, ua, ub, udst, V, R, X, w):
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
        okc = _factor_solve(colptr, rowidx, uptr, ua, ub, udst, V, R, X, w)
        for l in range(w):
            ok[b0 + l] = okc[l]
            for j in range(n):
                out[b0 + l, perm[j]] = X[j, l]
    return ok


@njit(cache=True, error_model="numpy")
def newton_ldl(colptr, rowidx, uptr, ua, ub, udst, perm, mvals, ia, ic, paa, pcc, pac,
               rhs, c0, isat, vte, vcrit, gmin, x, maxiter, tol, status, nit, icur):
    """:func:`~circuitlearn.solve.kernels.newton_dense` with the sparse batched LDL^T.

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
    isat, vte, vcrit : float64[d]; gmin : float
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
                    v, lk = limit_junction(v, VL[k, l], itl[l] == 0, vte[k], vcrit[k])
                    if lk:
                        lim[l] = True
                    VL[k, l] = v
                    i, g = junction(v, isat[k], vte[k], gmin)
                    ieq = i + g * (C0[k, l] - v)
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
        ok = _factor_solve(colptr, rowidx, uptr, ua, ub, udst, V, R, XN, W)
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
                    i, g = junction(v, isat[k], vte[k], gmin)
                    icur[b, k] = i
                lane[l] = -1
    return 0
