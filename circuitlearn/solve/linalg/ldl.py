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

import weakref

import numpy as np
import scipy.sparse as sp

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
