r"""Forward-only learning rules on any circuit (seeds 002 and 004), from measured voltages.

The rules were written for layered feed-forward networks; on a circuit each is the closest
physical variant, and its docstring names the difference.  All three end in the adjoint form of
:func:`~circuitlearn.learn.rules.adjoint_gradient`: a resistor ``k = (a, b)`` gets
``grad_k = −(μ_a − μ_b)(v_a − v_b)``, where ``μ`` is the rule's stand-in for the loss's
sensitivity to a current injected at each free node and ``v`` are measured voltages.  Quantities
that only the designer knows -- the programmed conductances summed at a node, ``G_nn`` -- are
used as a bench would use its own programming record.

* **Activation relaxation** (seed 004): error currents ``ε dC/dv`` are injected at the outputs
  with the inputs held; the circuit relaxes to ``v + ε μ`` and ``μ = Δv / ε`` is read at every
  node.  Seed 004 relaxes separate error units through the transposed weights and the
  activation's derivative; a resistive circuit is reciprocal, so its own relaxation carries
  the error backwards through the same conductances, and the diodes' states play the
  derivative (a conducting ideal diode pins its node: ``μ = 0``).  Exact as ``ε → 0`` (for
  linear circuits at any ``ε``), at 2 settles per step; unlike EP it multiplies the stored
  free voltage drop by the relaxed error drop instead of differencing two squares.
* **PEPITA** (seed 002): a second settle with the inputs modulated by a fixed random projection
  of the output error, ``x' = x − F e`` (``F`` ``[n_inputs, n_outputs]``, entries
  ``U(−σ, σ)``, ``σ`` = ``feedback_scale``).  A hidden node's error is the change the
  modulation made there, scaled to a current by the node's own conductance,
  ``μ_n = (v_n − v'_n) / G_nn``; an output's is its own error ``μ_o = e_o / G_oo``
  (PEPITA's last layer uses the error itself).  The update uses the modulated pass's
  voltages, as PEPITA does.  Difference: PEPITA's layers are explicit; here "hidden" is
  every free node that is not an output, and the per-layer activation derivative is
  whatever the circuit's diodes do to the modulation.  It is a feedback-alignment rule,
  not a gradient estimate: it trains only when the forward paths align with ``F``.
* **Forward-Forward** (seed 002, after Hinton 2022): the label is shown at the output
  terminals, clamped to ``target_scale`` × one-hot of the true label (positive pass) and of a
  random wrong one (negative pass); the *goodness* ``G = Σ v_h²`` over the hidden nodes
  (free, not outputs) is pushed up for positive and down for negative data through
  ``p = σ((G − θ)/τ)`` (``θ``, ``τ``: the batch's mean and spread of goodness).  The
  gradient is layer-local: ``∂v_n/∂g_k = (v_m − v_n) / G_nn`` for a resistor from ``n`` to
  ``m``, the node's own balance without the feedback through the rest of the circuit, and
  zero at nodes a conducting diode pins (their resistor currents do not balance).
  Prediction settles once per class with that class clamped and takes the largest goodness
  (``n_classes`` settles per sample).  Difference: Hinton normalises each layer's activity
  before the next; a circuit has no per-layer normalisation, so a deep circuit's later
  nodes see the goodness of earlier ones.
"""
from __future__ import annotations

import numpy as np

from circuitlearn.learn.losses import one_hot
from circuitlearn.learn.rules import StepResult, TaskLoss, adjoint_gradient, check_single_ended, \
    free_state

#: a node whose resistor currents are off balance by more than this fraction of the current
#: through it is pinned by a diode (forward-forward's local gradient is zero there)
PINNED_RTOL = 1e-6


def hidden_nodes(device) -> np.ndarray:
    """Free nodes that are not outputs (int64 node indices)."""
    return np.setdiff1d(device.free_nodes, device.probe_index)


def activation_relaxation_step(device, x, targets, loss: TaskLoss, eps: float) -> StepResult:
    """Activation relaxation on a circuit (module docstring): one free settle, one with error
    currents ``eps · dC/dv`` injected at the outputs."""
    if not eps > 0:
        raise ValueError(f"eps must be > 0, got {eps!r}")
    V = free_state(device, x)
    y = device.readout(V)
    lval, gy = loss(y, targets)
    device.inject_currents(eps * device.output_to_probe(gy))
    Vr = device.measure()
    device.clear_nudge()
    mu = (Vr - V)[:, device.free_nodes] / eps
    return StepResult(adjoint_gradient(device, V, mu), V, y, lval)


def feedback_matrix(n_inputs: int, n_outputs: int, scale: float, seed: int) -> np.ndarray:
    """PEPITA's fixed projection ``F`` ``[n_inputs, n_outputs]``, entries ``U(−scale, scale)``."""
    return np.random.default_rng([seed, 2]).uniform(-scale, scale, (n_inputs, n_outputs))


def pepita_step(device, x, targets, loss: TaskLoss, F: np.ndarray) -> StepResult:
    """PEPITA on a circuit (module docstring): a free settle, then one with ``x − F e``."""
    V = free_state(device, x)
    y = device.readout(V)
    lval, gy = loss(y, targets)
    device.set_inputs(np.asarray(x) - gy @ F.T)
    Vm = device.measure()
    G = device.node_conductance()
    free = device.free_nodes
    mu_full = np.zeros_like(V)
    mu_full[:, free] = (V[:, free] - Vm[:, free]) / G[free]
    p = device.probe_index
    mu_full[:, p] = device.output_to_probe(gy) / G[p]
    device.set_inputs(x)
    return StepResult(adjoint_gradient(device, Vm, mu_full[:, free]), V, y, lval)


def _goodness_state(device, x, labels, target_scale, n_classes):
    device.set_inputs(x)
    device.clamp_outputs(target_scale * one_hot(labels, n_classes))
    V = device.measure()
    device.clear_nudge()
    return V


def goodness(device, V) -> np.ndarray:
    """``Σ v_h²`` over the hidden nodes, per sample ``[B]``."""
    h = hidden_nodes(device)
    return np.sum(V[:, h] ** 2, axis=1)


def goodness_gradient(device, V) -> np.ndarray:
    """Layer-local ``∂G/∂g`` per sample ``[B, n_trainable]`` (module docstring)."""
    h = hidden_nodes(device)
    is_h = np.zeros(device.circuit.n_nodes, bool)
    is_h[h] = True
    ends = device.circuit.resistor_nodes
    g = device.resistor_conductance()
    G = device.node_conductance()
    # a node's resistor currents balance unless a diode (or another element) takes current
    I = (V[:, ends[:, 0]] - V[:, ends[:, 1]]) * g
    net = np.zeros_like(V)
    thru = np.zeros_like(V)
    np.add.at(net.T, ends[:, 0], I.T)
    np.add.at(net.T, ends[:, 1], -I.T)
    np.add.at(thru.T, ends[:, 0], np.abs(I).T)
    np.add.at(thru.T, ends[:, 1], np.abs(I).T)
    free_n = np.abs(net) <= PINNED_RTOL * np.maximum(thru, 1e-300)
    e = device.trainable_edges
    out = np.zeros((V.shape[0], e.shape[0]))
    for n_col, m_col in ((0, 1), (1, 0)):
        n, m = e[:, n_col], e[:, m_col]
        use = is_h[n]
        dv = (V[:, m] - V[:, n]) / np.maximum(G[n], 1e-300)
        out += np.where(use & free_n[:, n], 2.0 * V[:, n] * dv, 0.0)
    return out


def forward_forward_step(device, x, targets, loss: TaskLoss, rng: np.random.Generator
                         ) -> StepResult:
    """Forward-Forward on a circuit (module docstring): a positive and a negative settle."""
    check_single_ended(device, "forward-forward (the label is clamped at the outputs)")
    if loss.task != "classification":
        raise ValueError("forward-forward shows a label at the outputs: it needs a "
                         "classification task")
    K = device.n_outputs
    labels = np.asarray(targets, dtype=np.int64)
    wrong = (labels + rng.integers(1, K, labels.shape)) % K
    Vp = _goodness_state(device, x, labels, loss.target_scale, K)
    Vn = _goodness_state(device, x, wrong, loss.target_scale, K)
    gp, gn = goodness(device, Vp), goodness(device, Vn)
    both = np.concatenate([gp, gn])
    theta, tau = both.mean(), max(both.std(), 1e-12)
    pp = 1.0 / (1.0 + np.exp(-(gp - theta) / tau))
    pn = 1.0 / (1.0 + np.exp(-(gn - theta) / tau))
    lval = -np.log(np.maximum(pp, 1e-300)) - np.log(np.maximum(1.0 - pn, 1e-300))
    # d(-log p+)/dG+ = -(1 - p+)/tau ; d(-log(1 - p-))/dG- = p-/tau
    grad = np.mean(-((1.0 - pp) / tau)[:, None] * goodness_gradient(device, Vp)
                   + (pn / tau)[:, None] * goodness_gradient(device, Vn), axis=0)
    return StepResult(grad, Vp, predict_goodness_scores(device, x, loss), lval)


def predict_goodness_scores(device, x, loss: TaskLoss) -> np.ndarray:
    """Goodness with each class clamped ``[B, n_classes]`` (argmax: the prediction); not
    counted as training cost."""
    K = device.n_outputs
    B = np.asarray(x).shape[0]
    out = np.empty((B, K))
    with device.costs.paused():
        for k in range(K):
            out[:, k] = goodness(device, _goodness_state(device, x, np.full(B, k),
                                                         loss.target_scale, K))
    return out
