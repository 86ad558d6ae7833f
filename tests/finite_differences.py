"""Central finite differences: the one reference the gradient tests compare against."""
from __future__ import annotations

import numpy as np


def central_differences(f, arrays, eps: float) -> list:
    """Gradient of the scalar ``f(arrays)`` w.r.t. every entry of every array.

    ``arrays`` is a list of float arrays; ``f`` is called with perturbed copies
    (one entry moved by ``+eps`` then ``-eps``).  Returns one gradient array per input.
    """
    grads = []
    for l, A in enumerate(arrays):
        G = np.zeros_like(A)
        for idx in np.ndindex(A.shape):
            vals = []
            for s in (1, -1):
                moved = [a.copy() for a in arrays]
                moved[l][idx] += s * eps
                vals.append(f(moved))
            G[idx] = (vals[0] - vals[1]) / (2 * eps)
        grads.append(G)
    return grads
