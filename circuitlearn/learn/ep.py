r"""Equilibrium Propagation on a :class:`~circuitlearn.device.base.Device`.

One EP step on a batch: a free phase (no nudging), then one or two nudged
phases; the gradient of the mean loss with respect to each conductance and bias
is estimated from the node voltages the device measured:

.. math::

    \widehat{\partial_\theta L} = \frac{\partial_\theta E(v^{\beta_2}) - \partial_\theta E(v^{\beta_1})}
                                       {\beta_2 - \beta_1},
    \qquad \partial_{g_{ij}} E = \tfrac12 (v_i - v_j)^2,
    \qquad \partial_{b_i} E = -v_i,

averaged over the batch.  Estimators (``EPConfig.estimator``), as the pair of
nudging strengths ``(beta_1, beta_2)`` compared, and the bias of the estimate:

* ``"one-sided"``: ``(0, +beta)``, bias O(beta);
* ``"negative"``: ``(-beta, 0)``, bias O(beta);
* ``"centered"``: ``(-beta, +beta)``, three phases, bias O(beta^2) (default;
  seed 001, Lemma 2);
* ``"random"`` (alias ``"random-sign"``): ``(0, s*beta)`` with a random sign ``s`` per step: O(beta) per
  step, zero on average, high variance.

Nudging (``EPConfig.nudging``):

* ``"current"``: inject ``I = -beta * dC/dv`` at the outputs, ``dC/dv`` taken at
  the free state (a linearisation of ``beta*C``: exact EP to first order; any
  loss; always stable);
* ``"conductance"``: connect each output through a conductance ``beta`` to a
  source at its target (current ``beta (t - v)``, the published DRN form; single-ended MSE
  only).  With ``-beta`` an output whose total conductance ``sum g + (-beta)`` is
  not positive is unstable: the device reports it, the step records it in
  ``EPResult.unstable`` and a warning is issued.

The local rule written as an update (``eta`` = learning rate) is
``Delta g_ij = -eta [ (dV_ij^+)^2 - (dV_ij^-)^2 ] / (4 beta)`` for the centered
estimator, and ``Delta b_i = +eta (v_i^+ - v_i^-) / (2 beta)``;
:mod:`circuitlearn.learn.optim` turns gradients into such updates.

Functions here are pure given the device: :func:`ep_step` reads voltages from
the device and returns gradients; it never programs the device.
:func:`ep_gradients_from_states` is the estimator alone (for tests and the
exact-gradient comparison of :mod:`circuitlearn.learn.gradients`).
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np

from circuitlearn.learn.losses import Loss
from circuitlearn.learn.kernels import contrast_grad

ESTIMATORS = ("one-sided", "negative", "centered", "random", "random-sign")
NUDGINGS = ("current", "conductance")


@dataclass(frozen=True)
class EPConfig:
    """EP hyper-parameters: estimator, nudging kind and strength ``beta`` (> 0)."""
    estimator: str = "centered"
    nudging: str = "conductance"
    beta: float = 1.0

    def __post_init__(self):
        if self.estimator not in ESTIMATORS:
            raise ValueError(f"estimator must be one of {ESTIMATORS}, got {self.estimator!r}")
        if self.nudging not in NUDGINGS:
            raise ValueError(f"nudging must be one of {NUDGINGS}, got {self.nudging!r}")
        if not (self.beta > 0 and np.isfinite(self.beta)):
            raise ValueError(f"beta must be a positive number, got {self.beta!r}")

    def nudge_pair(self, rng: np.random.Generator | None = None) -> tuple:
        """(beta_1, beta_2) of the two states compared (0 = the free state)."""
        b = self.beta
        if self.estimator == "centered":
            return (-b, b)
        if self.estimator == "one-sided":
            return (0.0, b)
        if self.estimator == "negative":
            return (-b, 0.0)
        if rng is None:
            raise ValueError("the random-sign estimator needs an rng")
        s = 1.0 if rng.random() < 0.5 else -1.0
        return (0.0, s * b) if s > 0 else (s * b, 0.0)


@dataclass(frozen=True, eq=False)
class EPResult:
    """Outcome of :func:`ep_step`.

    grad_w : list of float64[n_{l-1}, n_l] — estimate of dL/dW_l (mean loss over the batch)
    grad_b : list of float64[n_l] — estimate of dL/db_l
    free : list of float64[B, n_l] — free-state voltages (layer 0 = inputs)
    loss : float64[B] — loss at the free state
    betas : (beta_1, beta_2) used
    unstable : int — output nodes reported unstable in the nudged phases
    """
    grad_w: list
    grad_b: list
    free: list
    loss: np.ndarray
    betas: tuple
    unstable: int


def _c(a):
    return np.ascontiguousarray(a, dtype=np.float64)


def ep_gradients_from_states(state1: list, state2: list, beta1: float, beta2: float,
                             inputs_fixed: bool = True):
    """The EP estimate from two measured states ``[v_0..v_L]`` at nudging ``beta1 < beta2``.

    Returns (grad_w list, grad_b list) of the batch-mean loss."""
    d = beta2 - beta1
    if d == 0:
        raise ValueError("the two nudging strengths must differ")
    grad_w, grad_b = [], []
    B = state1[0].shape[0]
    for l in range(1, len(state1)):
        gw = np.empty((state1[l - 1].shape[1], state1[l].shape[1]))
        contrast_grad(_c(state2[l - 1]), _c(state2[l]), _c(state1[l - 1]), _c(state1[l]),
                         l == 1 and inputs_fixed, 1.0 / (B * d), gw)
        grad_w.append(gw)
        grad_b.append(-(state2[l] - state1[l]).mean(axis=0) / d)
    return grad_w, grad_b


def _nudge(device, cfg: EPConfig, beta: float, loss: Loss, labels, dcdv, n_out):
    if cfg.nudging == "current":
        device.inject_currents(-beta * dcdv)
    else:
        device.connect_targets(beta, loss.node_targets(labels, n_out))


def free_phase(device, x) -> list:
    """Apply inputs with no nudging and measure: ``[v_0, ..., v_L]``."""
    device.clear_nudge()
    device.set_inputs(x)
    return device.measure()


def ep_step(device, x, labels, loss: Loss, cfg: EPConfig, rng: np.random.Generator | None = None,
            warn: bool = True) -> EPResult:
    """Free phase plus the nudged phase(s) of ``cfg.estimator``; gradient estimate.

    ``device`` is left with no nudging applied and the inputs of ``x`` set."""
    free = free_phase(device, x)
    n_out = free[-1].shape[1]
    lval, dcdv = loss(free[-1], labels)
    if cfg.nudging == "conductance":
        loss.node_targets(labels[:1], n_out)  # raises early for losses without that form
    b1, b2 = cfg.nudge_pair(rng)
    states = {0.0: free}
    unstable = 0
    for beta in (b1, b2):
        if beta in states:
            continue
        _nudge(device, cfg, beta, loss, labels, dcdv, n_out)
        states[beta] = device.measure()
        unstable += int(device.last_status().get("unstable", 0))
    device.clear_nudge()
    if unstable and warn:
        warnings.warn(f"EP: {unstable} output node(s) unstable under nudging conductance "
                      f"-beta={-cfg.beta} (total conductance into the node <= beta); "
                      "lower beta or use nudging='current'", RuntimeWarning, stacklevel=2)
    gw, gb = ep_gradients_from_states(states[b1], states[b2], b1, b2)
    return EPResult(gw, gb, free, lval, (b1, b2), unstable)


def predict(device, x, loss: Loss) -> np.ndarray:
    """Predicted classes of a batch from the free state."""
    return loss.predict(free_phase(device, x)[-1])
