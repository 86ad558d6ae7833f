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
