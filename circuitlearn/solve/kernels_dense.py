"""numba kernels of the dense path for small linear circuits (arrays and scalars only).

Node codes: a free node ``i`` is coded ``i`` (its row in the free block), a node
fixed by the voltage sources (ground included) is coded ``-1 - j`` (``j`` its
row in the fixed block)."""
from __future__ import annotations

import numpy as np
from numba import njit


@njit(cache=True)
def assemble(ca, cb, g, K, Kx):
    """The free-free block ``K[nf, nf]`` and the free-fixed block ``Kx[nf, nx]`` of the
    nodal Laplacian of resistors ``(ca[k], cb[k])`` (node codes) of conductance ``g[k]``."""
    K[:, :] = 0.0
    Kx[:, :] = 0.0
    for k in range(g.shape[0]):
        a, b, gk = ca[k], cb[k], g[k]
        if a >= 0:
            K[a, a] += gk
            if b >= 0:
                K[b, b] += gk
                K[a, b] -= gk
                K[b, a] -= gk
            else:
                Kx[a, -1 - b] -= gk
        elif b >= 0:
            K[b, b] += gk
            Kx[b, -1 - a] -= gk


@njit(cache=True)
def cholesky(A, L):
    """``L`` (lower) with ``L L^T = A``; returns False when ``A`` is not positive definite
    (a free node with no conductive path to a fixed one)."""
    n = A.shape[0]
    L[:, :] = 0.0
    for j in range(n):
        s = A[j, j]
        for k in range(j):
            s -= L[j, k] * L[j, k]
        if not s > 1e-300 * max(abs(A[j, j]), 1e-300) or not np.isfinite(s):
            return False
        d = np.sqrt(s)
        L[j, j] = d
        for i in range(j + 1, n):
            s = A[i, j]
            for k in range(j):
                s -= L[i, k] * L[j, k]
            L[i, j] = s / d
    return True


@njit(cache=True)
def cho_solve_rows(L, R):
    """Solve ``L L^T x = r`` for every row ``r`` of ``R`` [B, n], in place."""
    n = L.shape[0]
    for b in range(R.shape[0]):
        for i in range(n):                 # forward: L y = r
            s = R[b, i]
            for k in range(i):
                s -= L[i, k] * R[b, k]
            R[b, i] = s / L[i, i]
        for i in range(n - 1, -1, -1):     # backward: L^T x = y
            s = R[b, i]
            for k in range(i + 1, n):
                s -= L[k, i] * R[b, k]
            R[b, i] = s / L[i, i]


@njit(cache=True)
def kcl_ratio(V, ra, rb, g, inj, inj_node, check, rtol, ftol):
    """The worst per-node KCL residual of the voltages ``V`` [B, n_nodes] relative to
    what that node can be asked: ``|sum i| / (rtol * sum |i| + ftol * sum g (|v_a| + |v_b|))``
    over the nodes with ``check[node]`` (a value <= 1 passes).  Each node is judged
    by the currents that meet there, never by a batch- or circuit-wide scale.

    ``ra, rb, g``: resistors (node indices); ``inj[B, q]``: currents injected into
    node ``inj_node[q]``."""
    n = V.shape[1]
    net = np.zeros(n)
    mag = np.zeros(n)
    flo = np.zeros(n)
    worst = 0.0
    for b in range(V.shape[0]):
        net[:] = 0.0
        mag[:] = 0.0
        flo[:] = 0.0
        for k in range(g.shape[0]):
            va, vb = V[b, ra[k]], V[b, rb[k]]
            i = g[k] * (va - vb)
            f = g[k] * (abs(va) + abs(vb))
            net[ra[k]] += i
            net[rb[k]] -= i
            mag[ra[k]] += abs(i)
            mag[rb[k]] += abs(i)
            flo[ra[k]] += f
            flo[rb[k]] += f
        for q in range(inj_node.shape[0]):
            j = inj[b, q]
            net[inj_node[q]] -= j
            mag[inj_node[q]] += abs(j)
            flo[inj_node[q]] += abs(j)
        for i in range(n):
            if check[i]:
                r = abs(net[i])
                if r > 0.0:
                    s = rtol * mag[i] + ftol * flo[i]
                    worst = max(worst, r / s if s > 0.0 else np.inf)
    return worst
