"""numba kernel of the circuit structure: greedy colouring of the free-node graph (arrays only).

Colour classes are independent node sets: coordinate descent updates one class at a
time (:mod:`circuitlearn.solve.ideal`), and the Shockley Schur kernel eliminates the
largest one (:mod:`circuitlearn.solve.shockley`)."""
from __future__ import annotations

import numpy as np
from numba import njit


@njit(cache=True)
def greedy_colouring(indptr, indices, n):
    """Greedy graph colouring in node order.

    Parameters: ``indptr int64[n+1], indices int64[nnz]`` -- CSR adjacency
    (symmetric, no self loops needed).  Returns ``int64[n]`` colours such that
    no two adjacent nodes share a colour (at most max degree + 1 colours).
    """
    colour = -np.ones(n, dtype=np.int64)
    mark = -np.ones(n + 1, dtype=np.int64)
    for i in range(n):
        for p in range(indptr[i], indptr[i + 1]):
            j = indices[p]
            if colour[j] >= 0:
                mark[colour[j]] = i
        c = 0
        while mark[c] == i:
            c += 1
        colour[i] = c
    return colour


@njit(cache=True)
def tree_voltages(parent, src, sign, S, out):
    """Voltages of the nodes fixed by the voltage-source tree: ``out[j] = out[parent[j]] +
    sign[j] * S[:, src[j]]`` for rows in BFS order (row 0 is ground, parents first).

    parent, src: int64[nx]; sign: float64[nx]; S: float64[B, >= nv]; out: float64[nx, B].
    Linear in the tree's size, however deep (a chain of sources is no longer quadratic)."""
    nx, B = out.shape
    for b in range(B):
        out[0, b] = 0.0
    for j in range(1, nx):
        p, k, s = parent[j], src[j], sign[j]
        for b in range(B):
            out[j, b] = out[p, b] + s * S[b, k]


@njit(cache=True)
def tree_currents(parent, src, sign, demand, out):
    """Currents through the tree's sources, ``out[b, src[j]] = -sign[j] * (sum of demand in
    the subtree below row j)`` (SPICE's sign: into n+), children before parents.  demand: float64[nx, B] (the
    current the rest of the circuit draws from each fixed node); out: float64[B, nv]."""
    nx, B = demand.shape
    acc = demand.copy()
    for j in range(nx - 1, 0, -1):
        p, k, s = parent[j], src[j], -sign[j]
        for b in range(B):
            out[b, k] = s * acc[j, b]
            acc[p, b] += acc[j, b]
