r"""Learning rules on any circuit, from measured voltages only.

Every rule here talks to a :class:`~circuitlearn.device.netlist_device.NetlistDevice`
through its bench verbs and returns the estimate of ``dL/dg`` for the
trainable conductances (a flat vector, batch mean); it never programs the
device.  With ``dV_k`` the voltage across trainable resistor ``k``:

* **Equilibrium Propagation** (seed 001): ``grad_k = [½ dV_k(β₂)² − ½ dV_k(β₁)²] / (β₂ − β₁)``,
  the nudged states made by current injection ``I = −β dC/dv`` at the probe
  nodes (``nudging="current"``) or by a conductance ``β`` from each output to a
  source at its target (``nudging="conductance"``, single-ended MSE only).
  Estimators as :class:`~circuitlearn.learn.ep.EPConfig`: one-sided, negative,
  centered (O(β²) bias), random-sign.
* **Weight perturbation** (seed 000, Eq. 9): the batch loss is measured at the free
  state with the trainable conductances perturbed by ``±δ ξ`` (``ξ ~ N(0, I)``,
  antithetic pairs; or ``+δ ξ`` against the unperturbed loss, ``forward``),
  ``grad ≈ mean over samples of [L(g + δξ) − L(g − δξ)] / (2δ) · ξ`` -- unbiased to
  O(δ²), from output voltages only, at 2 settles per sample (forward: 1 + 1).  ``δ`` is
  ``perturbation`` times the conductance window ``g_max − g_min``.
* **Node perturbation** (seed 000 §2.2, after Eq. 10): currents ``±δ ξ`` (``ξ ~ N(0, I)``
  per sample, antithetic pairs or ``forward``) injected into every free node
  (:attr:`~circuitlearn.device.netlist_device.NetlistDevice.free_nodes`) and the
  per-sample loss read at the outputs estimate ``μ = dL/dI``, the loss's sensitivity to a
  current injected at each node.  A change ``dg_k`` of resistor ``k = (a, b)`` acts like
  currents ``∓dg_k (v_a − v_b)`` at its ends, so ``grad_k = −(μ_a − μ_b)(v_a − v_b)``
  with the free-state voltages: unbiased to O(δ²), and its variance grows with the number
  of free nodes, not of resistors.  Pinned nodes (voltage sources; ideal diodes that
  conduct) have ``μ = 0``, which the measurement finds by itself.  ``δ`` (A) is
  ``node_perturbation``; per step ``1 + 2·samples`` settles (forward: ``1 + samples``).
* **Coupled learning** (Stern et al. 2021): the outputs are clamped at
  ``v_C = (1−η) v_F + η t``; ``grad_k = [½ dV_k(C)² − ½ dV_k(F)²] / η``
  (the update ``Δg = −lr grad`` is their ``Δg ∝ −[(ΔV_C)² − (ΔV_F)²]/η``);
  single-ended outputs.

Losses (:class:`TaskLoss`) act on the read-out ``y`` (``[B, n_outputs]``):
MSE on continuous targets (regression, multi-output) or on one-hot targets
(classification), or softmax cross-entropy (classification).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from circuitlearn.errors import TrainingError
from circuitlearn.learn.ep import EPConfig
from circuitlearn.learn.losses import cross_entropy, one_hot

TASKS = ("regression", "classification")
RULES = ("ep", "coupled", "exact", "weight-perturbation", "node-perturbation")
ZO_ESTIMATORS = ("antithetic", "forward")
#: -beta conductance nudging must leave at least this fraction of an output's own
#: conductance (closer to 0 the nudged state is ill-conditioned and gradients explode).
STABILITY_MARGIN = 0.1


@dataclass(frozen=True)
class TaskLoss:
    """``kind`` 'mse' or 'xent' on the read-out; ``task`` 'regression' or 'classification'.

    ``target_scale``: the voltage of the "on" class for one-hot MSE targets;
    ``scale``: the logit scale of cross-entropy (1/V)."""
    kind: str = "mse"
    task: str = "regression"
    target_scale: float = 1.0
    scale: float = 1.0

    def __post_init__(self):
        if self.kind not in ("mse", "xent"):
            raise ValueError(f"loss must be 'mse' or 'xent', got {self.kind!r}")
        if self.task not in TASKS:
            raise ValueError(f"task must be one of {TASKS}, got {self.task!r}")
        if self.kind == "xent" and self.task != "classification":
            raise ValueError("cross-entropy needs a classification task")

    def output_targets(self, targets, n_out: int) -> np.ndarray:
        """Target read-out ``[B, n_out]`` of MSE (continuous, or scaled one-hot)."""
        if self.task == "regression":
            return np.asarray(targets, dtype=np.float64).reshape(-1, n_out)
        return self.target_scale * one_hot(targets, n_out)

    def __call__(self, y, targets):
        """(loss float64[B], dC/dy float64[B, n_out])."""
        y = np.asarray(y, dtype=np.float64)
        if self.kind == "xent":
            return cross_entropy(y, targets, self.scale)
        r = y - self.output_targets(targets, y.shape[1])
        return 0.5 * np.sum(r * r, axis=1), r

    def predict(self, y) -> np.ndarray:
        return np.argmax(y, axis=1)


def contrast(device, V2, V1, denom: float) -> np.ndarray:
    """Batch mean of ``[½ΔV²(V2) − ½ΔV²(V1)] / denom`` over the trainable resistors."""
    from circuitlearn.learn.kernels import edge_contrast
    e = device.trainable_edges
    out = np.empty(e.shape[0])
    edge_contrast(np.ascontiguousarray(V2.T), np.ascontiguousarray(V1.T), e[:, 0], e[:, 1],
                  1.0 / (V2.shape[0] * denom), out)
    return out


def free_state(device, x) -> np.ndarray:
    """Inputs applied, no nudging: all node voltages ``[B, n_nodes]``."""
    device.clear_nudge()
    device.set_inputs(x)
    return device.measure()


def check_single_ended(device, what: str):
    if not device.single_ended:
        raise ValueError(f"{what} needs single-ended outputs (one node each, read against "
                         "ground); differential outputs 'a-b' need current nudging")


def check_nudge_stability(device, beta: float):
    """Raise :class:`TrainingError` when ``-beta`` would leave an output with too little
    conductance (``sum g - beta <= STABILITY_MARGIN * sum g``)."""
    tot = device.probe_conductance()
    bad = np.flatnonzero(tot - beta <= STABILITY_MARGIN * tot)
    if bad.size:
        n = device.probe_names[bad[0]]
        raise TrainingError(
            f"unstable nudging: output node {n} has {tot[bad[0]]:.4g} S of conductance and "
            f"the -beta phase takes {beta:.4g} S from it (need beta < "
            f"{1 - STABILITY_MARGIN:.2g} x that); lower beta or use nudging = 'current'")


@dataclass(frozen=True, eq=False)
class StepResult:
    """grad: float64[n_trainable] (batch mean); free: float64[B, n_nodes];
    y: float64[B, n_outputs] free read-out; loss: float64[B] at the free state."""
    grad: np.ndarray
    free: np.ndarray
    y: np.ndarray
    loss: np.ndarray


def ep_step(device, x, targets, loss: TaskLoss, cfg: EPConfig,
            rng: np.random.Generator | None = None) -> StepResult:
    """Free phase plus the nudged phase(s) of ``cfg``; EP estimate of dL/dg."""
    V = free_state(device, x)
    y = device.readout(V)
    lval, gy = loss(y, targets)
    b1, b2 = cfg.nudge_pair(rng)
    if cfg.nudging == "conductance":
        if loss.kind != "mse":
            raise ValueError("conductance nudging needs the MSE loss; use nudging = 'current'")
        check_single_ended(device, "conductance nudging")
        t = loss.output_targets(targets, device.n_outputs)
        if min(b1, b2) < 0:
            check_nudge_stability(device, -min(b1, b2))
    else:
        dcdv = device.output_to_probe(gy)
    states = {0.0: V}
    for beta in (b1, b2):
        if beta in states:
            continue
        if cfg.nudging == "current":
            device.inject_currents(-beta * dcdv)
        else:
            device.connect_targets(beta, t)
        states[beta] = device.measure()
    device.clear_nudge()
    grad = contrast(device, states[b2], states[b1], b2 - b1)
    return StepResult(grad, V, y, lval)


def coupled_step(device, x, targets, loss: TaskLoss, eta: float) -> StepResult:
    """Coupled learning: free phase, outputs clamped at ``(1-eta) v_F + eta t``."""
    if not 0.0 < eta <= 1.0:
        raise ValueError(f"eta must lie in (0, 1], got {eta!r}")
    if loss.kind != "mse":
        raise ValueError("coupled learning clamps outputs towards targets: it needs the MSE loss")
    check_single_ended(device, "coupled learning")
    V = free_state(device, x)
    y = device.readout(V)
    lval, _ = loss(y, targets)
    t = loss.output_targets(targets, device.n_outputs)
    device.clamp_outputs((1.0 - eta) * y + eta * t)
    Vc = device.measure()
    device.clear_nudge()
    grad = contrast(device, Vc, V, eta)
    return StepResult(grad, V, y, lval)


def sample_losses(device, targets, loss: TaskLoss) -> np.ndarray:
    """Each sample's loss ``[B]`` from the outputs measured now (inputs already applied)."""
    return loss(device.measure_outputs(), targets)[0]


def batch_loss(device, targets, loss: TaskLoss) -> float:
    """The batch-mean loss of the outputs measured now (inputs already applied)."""
    return float(np.mean(sample_losses(device, targets, loss)))


def _check_zo(estimator, delta, samples):
    if estimator not in ZO_ESTIMATORS:
        raise ValueError(f"estimator must be one of {ZO_ESTIMATORS}, got {estimator!r}")
    if not (delta > 0 and samples >= 1):
        raise ValueError(f"need delta > 0 and samples >= 1, got {delta!r}, {samples!r}")


def weight_perturbation_step(device, x, targets, loss: TaskLoss, delta: float, samples: int,
                             rng: np.random.Generator, estimator: str = "antithetic"
                             ) -> StepResult:
    """Weight perturbation (see the module docstring): ``samples`` random directions,
    each measured at ``g ± delta ξ`` (``antithetic``) or ``g + delta ξ`` (``forward``)."""
    _check_zo(estimator, delta, samples)
    V = free_state(device, x)
    y = device.readout(V)
    lval, _ = loss(y, targets)
    l0 = float(np.mean(lval))
    grad = np.zeros(device.n_trainable)
    for _ in range(samples):
        xi = rng.standard_normal(device.n_trainable)
        with device.perturbed(delta * xi):
            lp = batch_loss(device, targets, loss)
        if estimator == "antithetic":
            with device.perturbed(-delta * xi):
                lm = batch_loss(device, targets, loss)
            grad += (lp - lm) / (2.0 * delta) * xi
        else:
            grad += (lp - l0) / delta * xi
    return StepResult(grad / samples, V, y, lval)


def node_perturbation_step(device, x, targets, loss: TaskLoss, delta: float, samples: int,
                           rng: np.random.Generator, estimator: str = "antithetic"
                           ) -> StepResult:
    """Node perturbation (see the module docstring): ``samples`` random current patterns
    ``±delta ξ`` (A) at the free nodes, each sample of the batch its own ``ξ``."""
    _check_zo(estimator, delta, samples)
    V = free_state(device, x)
    y = device.readout(V)
    lval, _ = loss(y, targets)
    nodes = device.free_nodes
    B = V.shape[0]
    mu = np.zeros((B, nodes.size))
    for _ in range(samples):
        xi = rng.standard_normal((B, nodes.size))
        device.inject_node_currents(delta * xi)
        lp = sample_losses(device, targets, loss)
        if estimator == "antithetic":
            device.inject_node_currents(-delta * xi)
            lm = sample_losses(device, targets, loss)
            mu += ((lp - lm) / (2.0 * delta))[:, None] * xi
        else:
            mu += ((lp - lval) / delta)[:, None] * xi
    device.clear_nudge()
    return StepResult(adjoint_gradient(device, V, mu / samples), V, y, lval)


def adjoint_gradient(device, V, mu) -> np.ndarray:
    """``dL/dg`` (batch mean) from the free voltages ``V`` [B, n_nodes] and the loss's
    sensitivity ``mu`` [B, n_free] to currents injected at the free nodes:
    ``−(μ_a − μ_b)(v_a − v_b)`` per trainable resistor ``(a, b)``."""
    full = np.zeros_like(V)
    full[:, device.free_nodes] = mu
    e = device.trainable_edges
    dmu = full[:, e[:, 0]] - full[:, e[:, 1]]
    dv = V[:, e[:, 0]] - V[:, e[:, 1]]
    return -np.mean(dmu * dv, axis=0)


def exact_step(device, x, targets, loss: TaskLoss) -> StepResult:
    """The yardstick as a rule: the free state measured, the gradient by implicit
    differentiation of the circuit as programmed (a digital twin of the same devices:
    what no bench measures, the bound the hardware rules are compared with)."""
    V = free_state(device, x)
    y = device.readout(V)
    lval, _ = loss(y, targets)
    return StepResult(exact_gradient(device, x, targets, loss), V, y, lval)


def exact_gradient(device, x, targets, loss: TaskLoss, tol: float = 1e-13) -> np.ndarray:
    """dL/dg of the batch-mean loss by implicit differentiation (the yardstick)."""
    from circuitlearn.learn.gradients import circuit_gradients
    from circuitlearn.solve import solve
    c = device.trained_circuit()
    B = np.asarray(x).shape[0]
    res = solve(c, device.source_vectors(x), diodes=device.diodes, tol=tol)
    if not res.success:
        raise TrainingError(f"exact gradient: the solve failed ({res.message})")
    y = device.readout(res.voltages)
    _, gy = loss(y, targets)
    dv = np.zeros((B, c.n_nodes))
    dv[:, device.probe_index] = device.output_to_probe(gy)
    grad = circuit_gradients(c, res, dv, diodes=device.diodes)
    return grad.conductance[:, device.trainable].mean(axis=0)
