"""SGD with momentum as a pure ``init``/``update`` pair over explicit state.

The optimiser turns gradient estimates into parameter *changes* (what a
device is asked to program); it never touches the device itself::

    state = sgd_init(cfg, params_like)
    deltas, state = sgd_update(cfg, state, grads)
    device.program(deltas_w, deltas_b)

``params_like`` and ``grads`` are flat lists of arrays (weights then biases,
see :func:`split`).  Learning rates are per parameter array, decayed by
``decay ** epoch`` (:func:`lr_at`).  With momentum ``mu``:
``v <- mu v + g``; ``delta = -lr * v`` (PyTorch's convention).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class SGDConfig:
    """lrs: one learning rate per parameter array (or a single float for all);
    momentum in [0, 1); decay: factor per epoch applied to every rate."""
    lrs: tuple = (0.01,)
    momentum: float = 0.0
    decay: float = 1.0

    def __post_init__(self):
        if not 0.0 <= self.momentum < 1.0:
            raise ValueError(f"momentum must be in [0, 1), got {self.momentum}")
        if not 0.0 < self.decay <= 1.0:
            raise ValueError(f"decay must be in (0, 1], got {self.decay}")
        if any((not np.isfinite(lr)) or lr < 0 for lr in self.lrs):
            raise ValueError(f"learning rates must be finite and >= 0, got {self.lrs}")


@dataclass(frozen=True, eq=False)
class SGDState:
    """epoch: decay exponent in use; step: updates done; velocity: list or None."""
    epoch: int
    step: int
    velocity: tuple | None


def lr_at(cfg: SGDConfig, epoch: int, n_arrays: int) -> list:
    """Learning rate of each parameter array at ``epoch`` (0-based)."""
    lrs = list(cfg.lrs)
    if len(lrs) == 1:
        lrs = lrs * n_arrays
    if len(lrs) != n_arrays:
        raise ValueError(f"{len(lrs)} learning rates for {n_arrays} parameter arrays")
    f = cfg.decay ** epoch
    return [lr * f for lr in lrs]


def sgd_init(cfg: SGDConfig, params_like: list) -> SGDState:
    vel = tuple(np.zeros_like(p, dtype=np.float64) for p in params_like) if cfg.momentum else None
    return SGDState(0, 0, vel)


def sgd_update(cfg: SGDConfig, state: SGDState, grads: list, consume: bool = False):
    """Return (deltas, new_state).  ``consume=True`` lets the deltas reuse the
    gradient arrays (saves a copy per step; the grads are then overwritten)."""
    lrs = lr_at(cfg, state.epoch, len(grads))
    if cfg.momentum:
        vel = tuple(cfg.momentum * v + g for v, g in zip(state.velocity, grads))
        deltas = [-lr * v for lr, v in zip(lrs, vel)]
    else:
        vel = None
        if consume:
            deltas = []
            for lr, g in zip(lrs, grads):
                g *= -lr
                deltas.append(g)
        else:
            deltas = [-lr * g for lr, g in zip(lrs, grads)]
    return deltas, SGDState(state.epoch, state.step + 1, vel)


def next_epoch(state: SGDState) -> SGDState:
    """Advance the decay schedule by one epoch."""
    return SGDState(state.epoch + 1, state.step, state.velocity)


def split(arrays: list, n_layers: int):
    """(weights, biases) from a flat list ``[W_1..W_L, b_1..b_L]``."""
    return list(arrays[:n_layers]), list(arrays[n_layers:])
