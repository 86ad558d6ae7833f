"""numba kernels of the learning rules (arrays and scalars only)."""
from __future__ import annotations

import numpy as np
from numba import njit


@njit(cache=True)
def edge_contrast(V2T, V1T, ea, eb, scale, out):
    """``out[e] = scale * sum_b ½[(V2[b, ea[e]] - V2[b, eb[e]])² - (V1[b, ea[e]] - V1[b, eb[e]])²]``.

    V2T, V1T: float64[n_nodes, B], node-major (the batch is the inner, contiguous loop);
    ea, eb: int64[m] edge ends; out: float64[m].  The contrast of the co-content ½ΔV²
    between two measured states, summed over the batch without [B, m] temporaries."""
    B = V2T.shape[1]
    for e in range(ea.shape[0]):
        a, c = ea[e], eb[e]
        s = 0.0
        for b in range(B):
            d2 = V2T[a, b] - V2T[c, b]
            d1 = V1T[a, b] - V1T[c, b]
            s += d2 * d2 - d1 * d1
        out[e] = 0.5 * scale * s
