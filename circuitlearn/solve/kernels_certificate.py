"""numba kernels of the per-node KCL certificate (arrays and scalars only).

Each node's Kirchhoff residual is judged against the currents that meet at that
node, never against a circuit- or batch-wide scale.  Used by the dense path
(:mod:`circuitlearn.solve.linalg.dense`); per-sample ratios (:func:`kcl_ratios`) are
what the general solvers' results are to be judged by as well."""
from __future__ import annotations

import numpy as np
from numba import njit


@njit(cache=True)
def kcl_ratio(VT, ra, rb, g, injT, inj_node, check, rtol, ftol):
    """The largest of :func:`kcl_ratios` over the batch (injections without own floor)."""
    out = np.empty(VT.shape[1])
    kcl_ratios(VT, ra, rb, g, injT, np.zeros_like(injT), inj_node, check, rtol, ftol, out)
    return out.max() if out.size else 0.0


@njit(cache=True)
def kcl_ratios(VT, ra, rb, g, injT, floorT, inj_node, check, rtol, ftol, out):
    """The worst per-node KCL residual of the voltages ``VT`` [n_nodes, B] (node-major: the
    batch is the inner, contiguous loop) relative to what that node can be asked:
    ``|sum i| / (rtol * sum |i| + ftol * sum g (|v_a| + |v_b|))`` over the nodes with
    ``check[node]`` (a value <= 1 passes).  Each node is judged by the currents that meet
    there, never by a batch- or circuit-wide scale.

    ``ra, rb, g``: resistors (node indices); ``injT[q, B]``: currents injected into
    node ``inj_node[q]``, ``floorT[q, B]`` what float64 leaves uncertain in each (added to
    the node's tolerance: a controlled source's current is a difference of voltages).
    ``out[B]``: the worst ratio of each sample."""
    n, B = VT.shape
    net = np.zeros((n, B))
    tol = np.zeros((n, B))
    # a voltage near 0 V in a circuit driven at V volts is known to ~eps V, not to eps of
    # itself: the float64 floor of each resistor counts the sample's largest voltage
    vmax = np.zeros(B)
    for i in range(n):
        for b in range(B):
            vmax[b] = max(vmax[b], abs(VT[i, b]))
    for k in range(g.shape[0]):
        a, c, gk = ra[k], rb[k], g[k]
        for b in range(B):
            va, vc = VT[a, b], VT[c, b]
            i = gk * (va - vc)
            t = rtol * abs(i) + ftol * gk * (abs(va) + abs(vc) + vmax[b])
            net[a, b] += i
            net[c, b] -= i
            tol[a, b] += t
            tol[c, b] += t
    for q in range(inj_node.shape[0]):
        m = inj_node[q]
        for b in range(B):
            j = injT[q, b]
            net[m, b] -= j
            tol[m, b] += (rtol + ftol) * abs(j) + floorT[q, b]
    for b in range(B):
        out[b] = 0.0
    for i in range(n):
        if check[i]:
            for b in range(B):
                r = abs(net[i, b])
                if r > 0.0:
                    s = tol[i, b]
                    out[b] = max(out[b], r / s if s > 0.0 else np.inf)
