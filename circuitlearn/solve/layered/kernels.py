"""Numba kernels for layered (DRN) networks: arrays and scalars only.

Layout shared by every kernel (see :mod:`circuitlearn.solve.layered.network`):

* ``v``      float64[B, N]  node voltages of all layers side by side, layer 0
  (the inputs, fixed) first; layer ``l`` occupies columns ``offs[l]:offs[l+1]``.
* ``offs``   int64[L+2]     layer offsets (``L`` = number of free layers, the
  last free layer is the output layer).
* ``w``      float64[P]     all weight matrices flattened row-major;
  ``W_l`` (shape ``[n_{l-1}, n_l]``, l = 1..L) starts at ``woff[l-1]``.
* ``drive1`` float64[B, n1] the precomputed input drive ``v0 @ W_1``.
* ``bias``   float64[N]     bias currents injected into each node (layer 0 unused).
* ``denom``  float64[N]     total conductance into each node from the network
  (column sum of ``W_l`` plus row sum of ``W_{l+1}``), nudging excluded.
* ``lo, hi`` float64[N]     box of each node (diode halves; +-inf where linear).
* ``cur``    float64[B, n_out] extra current injected into the outputs.
* ``beta``, ``target`` float64[B, n_out]: nudging conductance to a target source.
"""
from __future__ import annotations

import numpy as np
from numba import njit


@njit(cache=True)
def finish_layer(v, c0, acc, bias, denom, lo, hi, cur, beta, target, is_out):
    """Write the exact minimiser of layer nodes ``c0 .. c0+n`` into ``v``; max |change|.

    ``acc`` float64[B, n] holds ``sum_i g_ij v_i`` over both neighbouring layers:
    v_j <- clip((acc_j + b_j [+ I_j + beta_j t_j]) / (denom_j [+ beta_j]), lo_j, hi_j)
    (the bracketed nudging terms only for the output layer, ``is_out``).
    A node with no conductance at all keeps its value.
    """
    B, n = acc.shape
    dmax = 0.0
    for b in range(B):
        for j in range(n):
            num = acc[b, j] + bias[c0 + j]
            d = denom[c0 + j]
            if is_out:
                num += cur[b, j] + beta[b, j] * target[b, j]
                d += beta[b, j]
            if d > 0.0:
                x = num / d
                if x < lo[c0 + j]:
                    x = lo[c0 + j]
                elif x > hi[c0 + j]:
                    x = hi[c0 + j]
                diff = abs(x - v[b, c0 + j])
                if diff > dmax:
                    dmax = diff
                v[b, c0 + j] = x
    return dmax


@njit(cache=True)
def _update_layer(v, offs, w, woff, drive1, bias, denom, lo, hi, cur, beta, target, l, L):
    """Exact minimiser of the energy over layer ``l`` (1-based), others fixed.

    v_j <- clip((sum_i g_ij v_i + b_j + I_j + beta t_j) / (sum_i g_ij + beta), lo_j, hi_j)
    for every node j of layer l and every sample.  Returns max |change|.
    """
    B = v.shape[0]
    a0, a1 = offs[l - 1], offs[l]
    n_prev = a1 - a0
    c0, c1 = offs[l], offs[l + 1]
    n = c1 - c0
    has_next = l < L
    e0 = offs[l + 1]
    n_next = offs[l + 2] - e0 if has_next else 0
    wp = woff[l - 1]
    wn = woff[l] if has_next else 0
    acc = np.zeros((B, n))
    for b in range(B):
        if l == 1:
            for j in range(n):
                acc[b, j] = drive1[b, j]
        else:
            for i in range(n_prev):
                vi = v[b, a0 + i]
                base = wp + i * n
                for j in range(n):
                    acc[b, j] += w[base + j] * vi
        if has_next:
            for j in range(n):
                s = 0.0
                base = wn + j * n_next
                for k in range(n_next):
                    s += w[base + k] * v[b, e0 + k]
                acc[b, j] += s
    return finish_layer(v, c0, acc, bias, denom, lo, hi, cur, beta, target, l == L)


@njit(cache=True)
def relax_layers(v, offs, w, woff, drive1, bias, denom, lo, hi, cur, beta, target,
                 max_sweeps, tol):
    """Block coordinate descent: odd layers, then even layers, per sweep.

    Modifies ``v`` in place.  Stops after ``max_sweeps`` sweeps, or earlier when
    ``tol > 0`` and no voltage changed by more than ``tol`` in a sweep.
    Returns (sweeps done, max |change| in the last sweep).
    """
    L = offs.shape[0] - 2
    dmax = 0.0
    it = 0
    for it in range(1, max_sweeps + 1):
        dmax = 0.0
        for parity in (1, 0):
            for l in range(1, L + 1):
                if l % 2 == parity:
                    d = _update_layer(v, offs, w, woff, drive1, bias, denom, lo, hi,
                                      cur, beta, target, l, L)
                    if d > dmax:
                        dmax = d
        if tol > 0.0 and dmax <= tol:
            break
    return it, dmax
