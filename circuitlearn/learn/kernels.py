"""numba kernels of the learning rules (arrays and scalars only)."""
from __future__ import annotations

import numpy as np
from numba import njit


@njit(cache=True)
def edge_contrast(V2, V1, ea, eb, scale, out):
    """``out[e] = scale * sum_b ½[(V2[b, ea[e]] - V2[b, eb[e]])² - (V1[b, ea[e]] - V1[b, eb[e]])²]``.

    V2, V1: float64[B, n_nodes] (C order); ea, eb: int64[m] edge ends; out: float64[m].
    The contrast of the co-content ½ΔV² between two measured states, summed over the
    batch without the [B, m] branch-voltage temporaries."""
    m = ea.shape[0]
    for e in range(m):
        out[e] = 0.0
    for b in range(V2.shape[0]):
        for e in range(m):
            d2 = V2[b, ea[e]] - V2[b, eb[e]]
            d1 = V1[b, ea[e]] - V1[b, eb[e]]
            out[e] += d2 * d2 - d1 * d1
    for e in range(m):
        out[e] *= 0.5 * scale
