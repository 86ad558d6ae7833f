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


@njit(cache=True)
def contrast_grad(a2, c2, a1, c1, same_pre, scale, out):
    """out[i, j] = scale * sum_b [ ½(a2_bi - c2_bj)^2 - ½(a1_bi - c1_bj)^2 ].

    a*: float64[B, n_pre], c*: float64[B, n_post], out: float64[n_pre, n_post].
    ``same_pre``: a1 == a2 (input sources), one rank-B product instead of two."""
    B, n_pre = a2.shape
    n_post = c2.shape[1]
    col = np.zeros(n_post)
    for b in range(B):
        for j in range(n_post):
            col[j] += 0.5 * (c2[b, j] * c2[b, j] - c1[b, j] * c1[b, j])
    d = np.empty((B, n_post))
    for b in range(B):
        for j in range(n_post):
            d[b, j] = c1[b, j] - c2[b, j]
    for i in range(n_pre):
        row = 0.0
        if not same_pre:
            for b in range(B):
                row += 0.5 * (a2[b, i] * a2[b, i] - a1[b, i] * a1[b, i])
        for j in range(n_post):
            out[i, j] = col[j] + row
        if same_pre:
            for b in range(B):
                ab = a2[b, i]
                for j in range(n_post):
                    out[i, j] += ab * d[b, j]
        else:
            for b in range(B):
                p2 = a2[b, i]
                p1 = a1[b, i]
                for j in range(n_post):
                    out[i, j] += p1 * c1[b, j] - p2 * c2[b, j]
        for j in range(n_post):
            out[i, j] *= scale
