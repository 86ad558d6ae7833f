"""Epoch-loop helpers: batching, one training epoch by EP, evaluation, metrics.

The loop itself belongs to the caller (CLI, experiments); these helpers are
small functions over explicit state: a device, the SGD state, a numpy
``Generator``.  Everything a step learns comes from voltages the device
measured (:func:`circuitlearn.learn.ep.ep_step`).
"""
from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from circuitlearn.learn import ep, optim
from circuitlearn.learn.losses import Loss


def batches(n: int, batch_size: int, rng: np.random.Generator | None = None):
    """Index arrays covering ``range(n)`` in batches (shuffled when ``rng`` is given).

    The last batch may be smaller."""
    order = rng.permutation(n) if rng is not None else np.arange(n)
    for i in range(0, n, batch_size):
        yield order[i:i + batch_size]


def evaluate(device, x, y, loss: Loss, batch_size: int = 500):
    """(error rate, mean loss) of the free state on ``x, y``.  Prediction = argmax
    of the read-out (single outputs or differential pairs)."""
    if hasattr(device, "reset_state"):
        device.reset_state()
    wrong, total_loss = 0, 0.0
    for idx in batches(len(y), batch_size):
        v_out = ep.free_phase(device, x[idx])[-1]
        lval, _ = loss(v_out, y[idx])
        total_loss += float(np.sum(lval))
        wrong += int(np.sum(loss.predict(v_out) != y[idx]))
    if hasattr(device, "reset_state"):
        device.reset_state()
    return wrong / len(y), total_loss / len(y)


def check_output_conductance(device, beta: float) -> None:
    """Refuse a ``-beta`` conductance nudge that leaves an output of a layered device with
    less than ``STABILITY_MARGIN`` of its own conductance (the nudged state is then
    ill-conditioned: gradients of 1e10 were seen with ``sum g - beta`` barely positive)."""
    from circuitlearn.errors import TrainingError
    from circuitlearn.learn.rules import STABILITY_MARGIN
    tot = device.conductances()[-1].sum(axis=0)
    bad = np.flatnonzero(tot - beta <= STABILITY_MARGIN * tot)
    if bad.size:
        k = int(bad[0])
        raise TrainingError(
            f"unstable nudging: output o{k} has {tot[k]:.4g} S of conductance and the -beta "
            f"phase takes beta = {beta:.4g} S from it (need beta < {1 - STABILITY_MARGIN:.2g} "
            "x that); lower algorithm.beta, raise g_min, or use nudging = 'current'")


@dataclass(frozen=True)
class EpochStats:
    """Running metrics of a training epoch (from the free phases of the batches)."""
    loss: float
    error: float
    seconds: float
    unstable: int
    n: int


def train_epoch(device, x, y, loss: Loss, ep_cfg: ep.EPConfig, sgd_cfg: optim.SGDConfig,
                sgd_state: optim.SGDState, rng: np.random.Generator, batch_size: int,
                progress=None, ref_loss: float | None = None):
    """One epoch of EP over ``x, y`` (shuffled by ``rng``).

    ``progress``: optional callable ``(n_done, running_loss, running_error)`` called
    after each batch (e.g. a tqdm updater).  Returns (sgd_state, EpochStats).
    The device's warm-start state is reset first so that an epoch depends only
    on (parameters, sgd_state, rng) — what a checkpoint stores.

    A batch whose mean loss exceeds ``EXPLODE_FACTOR`` times ``ref_loss`` (the
    previous epoch's mean; the first batch's when ``None``) raises
    :class:`~circuitlearn.errors.TrainingError`: the run diverged."""
    from circuitlearn.errors import TrainingError
    from circuitlearn.learn.loop import EXPLODE_FACTOR
    if hasattr(device, "reset_state"):
        device.reset_state()
    n_layers = len(device.sizes) - 1
    t0 = time.perf_counter()
    tot_loss, wrong, seen, unstable = 0.0, 0, 0, 0
    negative = ep_cfg.nudging == "conductance" and ep_cfg.estimator != "one-sided"
    for idx in batches(len(y), batch_size, rng):
        xb, yb = x[idx], y[idx]
        if negative:
            check_output_conductance(device, ep_cfg.beta)
        res = ep.ep_step(device, xb, yb, loss, ep_cfg, rng, warn=False)
        lsum = float(np.sum(res.loss))
        if not np.isfinite(lsum):   # devices raise on non-finite voltages; this catches the rest
            raise TrainingError("EP step produced a non-finite loss")
        if ref_loss is None:
            ref_loss = max(lsum / len(idx), 1e-300)
        elif lsum / len(idx) > EXPLODE_FACTOR * ref_loss:
            raise TrainingError(f"the training loss diverged ({lsum / len(idx):.4g} per sample, "
                                f"{ref_loss:.4g} before); lower the learning rate or beta")
        deltas, sgd_state = optim.sgd_update(sgd_cfg, sgd_state, res.grad_w + res.grad_b,
                                             consume=True)
        device.program(*optim.split(deltas, n_layers))
        tot_loss += lsum
        wrong += int(np.sum(loss.predict(res.free[-1]) != yb))
        seen += len(idx)
        unstable += res.unstable
        if progress is not None:
            progress(len(idx), tot_loss / seen, wrong / seen)
    stats = EpochStats(tot_loss / seen, wrong / seen, time.perf_counter() - t0, unstable, seen)
    return sgd_state, stats
