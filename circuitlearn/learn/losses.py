r"""Losses on the output voltages; each returns the per-sample loss and dC/dv.

Outputs are read single-ended (one node per class) or as differential pairs:
with ``2K`` output nodes, class ``k`` reads ``v[k] - v[k + K]`` (the first
half is the positive side, as for the ``[x, -x]`` inputs).

* :func:`mse`: :math:`C = \tfrac12 \lVert y - t \rVert^2` on the read-out ``y``
  (``t`` one-hot by default, the published DRN cost).
* :func:`cross_entropy`: softmax read-out with a scale (seed 001 §3.2):
  :math:`C = -\log \mathrm{softmax}(s\,y)_{label}`, so
  :math:`\partial C/\partial y = s\,(\mathrm{softmax}(s y) - \mathrm{onehot})`.

The gradients are per sample (not divided by the batch size); shapes are
``loss: float64[B]``, ``grad: float64[B, n_out]``.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np


def readout(v_out: np.ndarray, differential: bool = False) -> np.ndarray:
    """Class scores from output voltages: ``v`` or ``v[:, :K] - v[:, K:]``."""
    v_out = np.asarray(v_out)
    if not differential:
        return v_out
    k = v_out.shape[1] // 2
    return v_out[:, :k] - v_out[:, k:]


def _to_output_grad(gy: np.ndarray, differential: bool) -> np.ndarray:
    return np.concatenate([gy, -gy], axis=1) if differential else gy


def one_hot(labels, n_classes: int) -> np.ndarray:
    labels = np.asarray(labels, dtype=np.int64)
    out = np.zeros((labels.shape[0], n_classes))
    out[np.arange(labels.shape[0]), labels] = 1.0
    return out


def mse(v_out: np.ndarray, labels, differential: bool = False, target_scale: float = 1.0):
    """Squared error of the read-out to ``target_scale * onehot(labels)``.

    Returns (loss float64[B], dC/dv_out float64[B, n_out])."""
    y = readout(v_out, differential)
    t = target_scale * one_hot(labels, y.shape[1])
    r = y - t
    return 0.5 * np.sum(r * r, axis=1), _to_output_grad(r, differential)


def cross_entropy(v_out: np.ndarray, labels, scale: float = 1.0, differential: bool = False):
    """Softmax cross-entropy of ``scale * readout``.

    Returns (loss float64[B], dC/dv_out float64[B, n_out])."""
    y = scale * readout(v_out, differential)
    z = y - y.max(axis=1, keepdims=True)
    logp = z - np.log(np.sum(np.exp(z), axis=1, keepdims=True))
    labels = np.asarray(labels, dtype=np.int64)
    idx = np.arange(y.shape[0])
    loss = -logp[idx, labels]
    gy = np.exp(logp)
    gy[idx, labels] -= 1.0
    return loss, _to_output_grad(scale * gy, differential)


@dataclass(frozen=True)
class Loss:
    """A loss choice: ``kind`` 'mse' or 'xent', read-out and its scale.

    ``target_scale`` (MSE) multiplies the one-hot targets; ``scale`` (xent) the logits."""
    kind: str = "mse"
    differential: bool = False
    scale: float = 1.0
    target_scale: float = 1.0

    def __post_init__(self):
        if self.kind not in ("mse", "xent"):
            raise ValueError(f"loss kind must be 'mse' or 'xent', got {self.kind!r}")

    def __call__(self, v_out, labels):
        """(loss[B], dC/dv_out[B, n_out])"""
        if self.kind == "mse":
            return mse(v_out, labels, self.differential, self.target_scale)
        return cross_entropy(v_out, labels, self.scale, self.differential)

    def node_targets(self, labels, n_out: int) -> np.ndarray:
        """Target potential of each output node for nudging by a conductance.

        Only single-ended MSE is a sum of per-node quadratics ½(v - t)², so only
        it has an exact conductance-to-target form."""
        if self.kind != "mse" or self.differential:
            raise ValueError("nudging by a conductance to a target needs the single-ended "
                             "MSE loss; use current nudging for 'xent' or differential outputs")
        return self.target_scale * one_hot(labels, n_out)

    def predict(self, v_out) -> np.ndarray:
        """Predicted class: argmax of the read-out."""
        return np.argmax(readout(v_out, self.differential), axis=1)
