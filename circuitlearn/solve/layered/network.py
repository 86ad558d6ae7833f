r"""Exact block coordinate descent for layered (DRN) resistive networks.

A layered network has layers ``0..L``: layer 0 holds the input nodes, fixed by
voltage sources; layers ``1..L-1`` are hidden, each node with an ideal diode to
ground (first half of a layer: :math:`V \ge -v_{th}`, second half:
:math:`V \le v_{th}`); layer ``L`` is the linear output layer.  Conductances
``W_l[i, j] >= 0`` connect node ``i`` of layer ``l-1`` to node ``j`` of layer
``l``; biases ``b_l[j]`` are currents injected into node ``j`` of layer ``l``.
Each output node may be loaded by a fixed conductance ``g_s`` to ground (a sense
resistor, :attr:`LayeredNetwork.load`; 0 by default).

The steady state minimises the circuit's (co-content) energy over the box of
the diodes:

.. math::

    E(v) = \tfrac12 \sum_l \sum_{ij} W_{l,ij} (v_{l-1,i} - v_{l,j})^2
           - \sum_{l \ge 1} b_l \cdot v_l - I \cdot v_L
           + \tfrac12 g_s \lVert v_L \rVert^2
           + \tfrac12 \beta \, \lVert v_L - t \rVert^2

where ``I`` are currents injected at the outputs (nudging by current, or a
probe's stimulus) and ``beta`` a conductance from each output to a source at
``t`` (the published DRN nudging; ``beta`` may be negative).  The layered graph
is bipartite, so all odd layers can be minimised at once given the even ones
and vice versa; the minimiser of one node given the rest is

.. math::  v_j \leftarrow \Pi_j\Big[\frac{\sum_i g_{ij} v_i + b_j + I_j + \beta t_j}
                                      {\sum_i g_{ij} + g_s + \beta}\Big]

(``Pi`` = clip to the diode half).  Each update can only lower ``E``; a sweep
updates odd layers then even layers.  The input drive ``v_0 @ W_1`` and the
conductance sums do not change across sweeps or phases: :func:`prepare`
computes them once per batch.

Instability: with ``beta < 0`` the energy is unbounded below in an output node
whose total conductance ``sum_i g_ij + beta`` is not positive.  Such nodes are
not updated and the result says so (``status`` 5, ``unstable`` count).

All voltages of a batch live in one array ``v`` of shape ``[batch, N]`` with
the layers side by side (:attr:`LayeredNetwork.offsets`); :func:`layer_views`
splits it.  Kernels are in :mod:`circuitlearn.solve.layered.kernels`.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from circuitlearn.solve.layered import kernels as _k
from circuitlearn.solve.result import MAXITER, NUMERICAL, STATUS_MESSAGES, UNSTABLE

#: what status 1 means for a relaxation asked for a fixed number of sweeps (``tol == 0``)
FIXED_SWEEPS = "fixed sweep count done (tolerance not checked)"


@dataclass(frozen=True, eq=False)
class LayeredNetwork:
    """Structure of a layered network (no parameters).

    Attributes
    ----------
    sizes : tuple of int
        ``(n0, n1, ..., nL)``: inputs, hidden layers, outputs.
    vth : float
        Ideal-diode threshold of the hidden nodes (0 in the published DRN).
    offsets : int64[L+2]
        Column offsets of each layer in the flat state ``[batch, N]``.
    lo, hi : float64[N]
        Box of each node (``-inf``/``+inf`` where unconstrained).
    weight_offsets : int64[L]
        Offsets of each ``W_l`` in the flat weight vector.
    load : float
        Conductance from each output node to ground (a sense resistor; 0: none).
    """
    sizes: tuple
    vth: float
    offsets: np.ndarray
    lo: np.ndarray
    hi: np.ndarray
    weight_offsets: np.ndarray
    load: float = 0.0

    @property
    def n_layers(self) -> int:
        """Number of free layers L (hidden + output)."""
        return len(self.sizes) - 1

    @property
    def n_nodes(self) -> int:
        return int(self.offsets[-1])

    @property
    def n_weights(self) -> int:
        return int(sum(a * b for a, b in zip(self.sizes[:-1], self.sizes[1:])))


def make_network(sizes, vth: float = 0.0, load: float = 0.0) -> LayeredNetwork:
    """Build the structure of a network with layer sizes ``(n0, ..., nL)``.

    Hidden layers need an even size (two diode halves); ``load`` is the conductance
    from each output node to ground."""
    if not (np.isfinite(load) and load >= 0):
        raise ValueError(f"the output load must be a finite conductance >= 0, got {load}")
    sizes = tuple(int(s) for s in sizes)
    if len(sizes) < 2 or min(sizes) < 1:
        raise ValueError(f"need at least an input and an output layer of positive size, got {sizes}")
    for n in sizes[1:-1]:
        if n % 2:
            raise ValueError(f"hidden layer sizes must be even (two diode halves), got {sizes}")
    offs = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)
    n_total = int(offs[-1])
    lo = np.full(n_total, -np.inf)
    hi = np.full(n_total, np.inf)
    for l in range(1, len(sizes) - 1):
        half = sizes[l] // 2
        lo[offs[l]:offs[l] + half] = -vth
        hi[offs[l] + half:offs[l + 1]] = vth
    woff = np.concatenate([[0], np.cumsum([a * b for a, b in zip(sizes[:-1], sizes[1:])])])[:-1]
    return LayeredNetwork(sizes, float(vth), offs, lo, hi, woff.astype(np.int64), float(load))


@dataclass(eq=False)
class LayeredParams:
    """Conductances and biases stored flat; ``weights[l-1]``/``biases[l-1]`` are views.

    ``weights[l-1]`` is ``W_l`` of shape ``[n_{l-1}, n_l]`` (siemens, >= 0);
    ``biases[l-1]`` is ``b_l`` of shape ``[n_l]`` (amperes, injected).
    Modifying the views modifies ``w_flat``/``b_flat`` and vice versa.
    """
    net: LayeredNetwork
    w_flat: np.ndarray
    b_flat: np.ndarray

    @property
    def weights(self) -> list:
        s, wo = self.net.sizes, self.net.weight_offsets
        return [self.w_flat[wo[l]:wo[l] + s[l] * s[l + 1]].reshape(s[l], s[l + 1])
                for l in range(len(s) - 1)]

    @property
    def biases(self) -> list:
        o = self.net.offsets
        return [self.b_flat[o[l]:o[l + 1]] for l in range(1, len(o) - 1)]

    def copy(self) -> "LayeredParams":
        return LayeredParams(self.net, self.w_flat.copy(), self.b_flat.copy())


def make_params(net: LayeredNetwork, weights, biases=None) -> LayeredParams:
    """Pack per-layer weights ``[W_1..W_L]`` and biases ``[b_1..b_L]`` (copies)."""
    if len(weights) != net.n_layers:
        raise ValueError(f"expected {net.n_layers} weight matrices, got {len(weights)}")
    w = np.empty(net.n_weights)
    p = LayeredParams(net, w, np.zeros(net.n_nodes))
    for dst, src in zip(p.weights, weights):
        src = np.asarray(src, dtype=np.float64)
        if src.shape != dst.shape:
            raise ValueError(f"weight shape {src.shape} != {dst.shape}")
        if np.any(src < 0) or not np.all(np.isfinite(src)):
            raise ValueError("conductances must be finite and >= 0")
        dst[...] = src
    if biases is not None:
        if len(biases) != net.n_layers:
            raise ValueError(f"expected {net.n_layers} bias vectors, got {len(biases)}")
        for dst, src in zip(p.biases, biases):
            dst[...] = np.asarray(src, dtype=np.float64).reshape(dst.shape)
    return p


def init_params(net: LayeredNetwork, rng: np.random.Generator, gains=1.0,
                g_min: float = 0.0, g_max: float = np.inf) -> LayeredParams:
    """Published DRN init: ``W_l ~ U(-gain/sqrt(fan_in), gain/sqrt(fan_in))`` clamped to
    ``[g_min, g_max]``; biases zero."""
    gains = np.broadcast_to(np.asarray(gains, dtype=float), (net.n_layers,))
    ws = []
    for l in range(net.n_layers):
        fan_in = net.sizes[l]
        a = gains[l] / np.sqrt(fan_in)
        ws.append(np.clip(rng.uniform(-a, a, size=(net.sizes[l], net.sizes[l + 1])), g_min, g_max))
    return make_params(net, ws)


def input_voltages(x: np.ndarray, gain: float) -> np.ndarray:
    """DRN input sources: ``gain * [x, -x]`` for a batch ``x`` of shape [batch, n]."""
    x = np.asarray(x, dtype=np.float64)
    return np.concatenate([gain * x, -gain * x], axis=1)


@dataclass(eq=False)
class Prepared:
    """What stays fixed across sweeps and phases for one batch and one parameter set."""
    params: LayeredParams
    v_in: np.ndarray        # [B, n0]
    drive1: np.ndarray      # [B, n1] = v_in @ W_1
    denom: np.ndarray       # [N] total network conductance into each node


def conductance_sums(params: LayeredParams) -> np.ndarray:
    """Total conductance into each node: column sum of W_l + row sum of W_{l+1}, plus
    the output load."""
    net = params.net
    o = net.offsets
    d = np.zeros(net.n_nodes)
    for l, W in enumerate(params.weights):
        d[o[l]:o[l + 1]] += W.sum(axis=1)
        d[o[l + 1]:o[l + 2]] += W.sum(axis=0)
    d[o[-2]:] += net.load
    return d


def prepare(params: LayeredParams, v_in: np.ndarray, denom: np.ndarray | None = None) -> Prepared:
    """Precompute the input drive ``v_in @ W_1`` (and the conductance sums unless given)."""
    v_in = np.ascontiguousarray(v_in, dtype=np.float64)
    if v_in.ndim != 2 or v_in.shape[1] != params.net.sizes[0]:
        raise ValueError(f"inputs must be [batch, {params.net.sizes[0]}], got {v_in.shape}")
    drive1 = v_in @ params.weights[0]
    if denom is None:
        denom = conductance_sums(params)
    return Prepared(params, v_in, drive1, denom)


def init_state(prep: Prepared) -> np.ndarray:
    """Flat state ``[B, N]`` with the inputs in place and all free nodes at 0."""
    net = prep.params.net
    v = np.zeros((prep.v_in.shape[0], net.n_nodes))
    v[:, :net.sizes[0]] = prep.v_in
    return v


def layer_views(net: LayeredNetwork, v: np.ndarray) -> list:
    """Per-layer views ``[v_0, v_1, ..., v_L]`` of a flat state ``[B, N]``."""
    o = net.offsets
    return [v[:, o[l]:o[l + 1]] for l in range(len(o) - 1)]


@dataclass(frozen=True, eq=False)
class RelaxResult:
    """Outcome of :func:`relax` (the state itself is updated in place).

    nit: sweeps done; delta: max |change| in the last sweep; status/message as
    :data:`circuitlearn.solve.result.STATUS_MESSAGES` (the table every solver shares):
    0 converged, 1 sweeps done before ``tol`` (or a fixed sweep count), 2 non-finite
    voltages, 5 unstable nudging; success: status 0 (or 1 when a fixed sweep count
    was asked for); unstable: number of (sample, output) pairs left unstable;
    sample_status: int64[B], the same codes per sample (the sweep count is shared,
    so codes 0/1 are the batch's).
    """
    nit: int
    delta: float
    status: int
    message: str
    success: bool
    unstable: int
    sample_status: np.ndarray


def relax(prep: Prepared, v: np.ndarray, max_sweeps: int = 4, tol: float = 0.0,
          current: np.ndarray | None = None, beta=0.0,
          target: np.ndarray | None = None) -> RelaxResult:
    """Relax the free layers of ``v`` (flat ``[B, N]``, updated in place, warm start).

    Parameters
    ----------
    prep : Prepared
    v : float64[B, N]
        Start state; its input columns are overwritten with ``prep.v_in``.
    max_sweeps : int
        Sweeps (odd layers then even layers).  With ``tol == 0`` exactly this many.
    tol : float
        Stop early when a sweep changes no voltage by more than ``tol`` (volts).
    current : float64[B, n_out] or None
        Currents injected into the output nodes.
    beta : float or float64[B] or float64[B, n_out]
        Nudging conductance from each output to a source at ``target``.
    target : float64[B, n_out] or None
    """
    params = prep.params
    net = params.net
    B = v.shape[0]
    n_out = net.sizes[-1]
    if v.shape != (B, net.n_nodes) or v.dtype != np.float64 or not v.flags.c_contiguous:
        raise ValueError(f"state must be C-contiguous float64 [batch, {net.n_nodes}]")
    v[:, :net.sizes[0]] = prep.v_in
    cur = np.zeros((B, n_out)) if current is None else np.ascontiguousarray(current, dtype=np.float64)
    beta_a = _per_output(beta, B, n_out)
    tgt = np.zeros((B, n_out)) if target is None else _per_output(target, B, n_out)
    unstable = 0
    bad_b = np.zeros(B, bool)
    if np.any(beta_a < 0):
        d_out = prep.denom[net.offsets[-2]:] + beta_a
        unstable = int(np.count_nonzero(d_out <= 0))
        bad_b = np.any(d_out <= 0, axis=1)
    if _use_blas(net, B):
        nit, delta = _relax_blas(prep, v, int(max_sweeps), float(tol), cur, beta_a, tgt)
    else:
        nit, delta = _k.relax_layers(v, net.offsets, params.w_flat, net.weight_offsets,
                                     prep.drive1, params.b_flat, prep.denom, net.lo, net.hi,
                                     cur, beta_a, tgt, int(max_sweeps), float(tol))
    finite = np.all(np.isfinite(v[:, net.offsets[1]:]), axis=1)
    base = 0 if (tol > 0 and delta <= tol) else MAXITER
    per = np.where(~finite, NUMERICAL, np.where(bad_b, UNSTABLE, base)).astype(np.int64)
    if not np.isfinite(delta) or not finite.all():
        status = NUMERICAL
    elif unstable:
        status = UNSTABLE
    else:
        status = base
    success = status == 0 or (status == MAXITER and tol <= 0)
    msg = FIXED_SWEEPS if (status == MAXITER and tol <= 0) else STATUS_MESSAGES[status]
    return RelaxResult(int(nit), float(delta), status, msg, success, unstable, per)


#: Above this many multiply-adds per sweep between free layers, the layer
#: products go to BLAS (numpy GEMMs) instead of the fused numba loops, which win
#: for small products (DRN-XS: the 100x10 output layer) by avoiding call overhead.
BLAS_MIN_MACS = 2_000_000


def _use_blas(net: LayeredNetwork, B: int) -> bool:
    s = net.sizes
    free_macs = 2 * B * sum(s[l] * s[l + 1] for l in range(1, len(s) - 1))
    return free_macs >= BLAS_MIN_MACS


def _relax_blas(prep: Prepared, v, max_sweeps: int, tol: float, cur, beta, tgt):
    """:func:`relax` with each layer's neighbour sums computed by numpy GEMMs."""
    params = prep.params
    net = params.net
    ws = params.weights
    L = net.n_layers
    views = layer_views(net, v)
    o = net.offsets
    dmax = 0.0
    it = 0
    for it in range(1, max_sweeps + 1):
        dmax = 0.0
        for parity in (1, 0):
            for l in range(1, L + 1):
                if l % 2 != parity:
                    continue
                acc = prep.drive1.copy() if l == 1 else views[l - 1] @ ws[l - 1]
                if l < L:
                    acc += views[l + 1] @ ws[l].T
                d = _k.finish_layer(v, int(o[l]), acc, params.b_flat, prep.denom, net.lo, net.hi,
                                    cur, beta, tgt, l == L)
                dmax = max(dmax, d)
        if tol > 0.0 and dmax <= tol:
            break
    return it, dmax


def _per_output(a, B: int, n_out: int) -> np.ndarray:
    """A scalar, [B] or [B, n_out] value as a C-contiguous float64[B, n_out]."""
    if np.isscalar(a):
        return np.full((B, n_out), float(a))
    a = np.asarray(a, dtype=np.float64)
    if a.shape == (B, n_out):
        return np.ascontiguousarray(a)
    if a.ndim == 1 and a.shape[0] == B:
        a = a[:, None]
    return np.ascontiguousarray(np.broadcast_to(a, (B, n_out)))


def solve_layered(weights, biases, v_in, max_sweeps: int = 200, tol: float = 1e-12,
                  vth: float = 0.0, current=None, beta=0.0, target=None, load: float = 0.0):
    """Convenience: steady state of a network given per-layer arrays.

    Returns ``(layers, result)`` with ``layers = [v_0, ..., v_L]`` (copies)."""
    v_in = np.asarray(v_in, dtype=np.float64)
    sizes = [v_in.shape[1]] + [np.shape(W)[1] for W in weights]
    net = make_network(sizes, vth, load)
    params = make_params(net, weights, biases)
    prep = prepare(params, v_in)
    v = init_state(prep)
    res = relax(prep, v, max_sweeps, tol, current, beta, target)
    return [a.copy() for a in layer_views(net, v)], res


def energy(params: LayeredParams, v: np.ndarray, current=None, beta=0.0, target=None) -> np.ndarray:
    """Energy ``E(v)`` of each sample (see module docstring), float64[B]."""
    net = params.net
    layers = layer_views(net, v)
    e = np.zeros(v.shape[0])
    for l, W in enumerate(params.weights):
        a, c = layers[l], layers[l + 1]
        e += 0.5 * ((a * a) @ W.sum(axis=1) + (c * c) @ W.sum(axis=0)) - np.einsum(
            "bi,ij,bj->b", a, W, c)
    for l, b in enumerate(params.biases):
        e -= layers[l + 1] @ b
    out = layers[-1]
    e += 0.5 * net.load * np.sum(out * out, axis=1)
    if current is not None:
        e -= np.sum(np.asarray(current) * out, axis=1)
    beta_a = np.asarray(beta, dtype=float)
    if beta_a.ndim == 1:
        beta_a = beta_a[:, None]
    if np.any(beta_a != 0):
        t = 0.0 if target is None else np.asarray(target)
        e += 0.5 * np.sum(beta_a * (out - t) ** 2, axis=1)
    return e


def kcl_residual(params: LayeredParams, v: np.ndarray, current=None, beta=0.0,
                 target=None) -> np.ndarray:
    """Net current (A) leaving each free node through the network, minus injections.

    Zero at nodes strictly inside their box; at a clipped hidden node it is the
    current the diode carries (>= 0 at a lower bound, <= 0 at an upper one, in
    the sign ``dE/dv``).  Returns float64[B, N - n0] (the gradient of E)."""
    net = params.net
    layers = layer_views(net, v)
    grads = []
    L = net.n_layers
    W = params.weights
    b = params.biases
    for l in range(1, L + 1):
        g = layers[l] * W[l - 1].sum(axis=0) - layers[l - 1] @ W[l - 1] - b[l - 1]
        if l < L:
            g += layers[l] * W[l].sum(axis=1) - layers[l + 1] @ W[l].T
        else:
            g += net.load * layers[l]
            if current is not None:
                g -= current
            beta_a = np.asarray(beta, dtype=float)
            if beta_a.ndim == 1:
                beta_a = beta_a[:, None]
            t = 0.0 if target is None else target
            g += beta_a * (layers[l] - t)
        grads.append(g)
    return np.concatenate(grads, axis=1)
