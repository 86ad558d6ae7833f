r"""Feed-forward energy-based models (ff-EBMs, seed 003): digital blocks and analog circuits in one chain.

A model is a chain of blocks, each mapping a batch ``[B, n_in]`` to ``[B, n_out]``:

* :class:`Digital` -- a feed-forward block computed in numpy: ``y = scale · act(W x + b)``
  (``act`` tanh, relu or identity; ``scale`` in volts when it drives a circuit);
* :class:`Analog` -- a trainable circuit on a
  :class:`~circuitlearn.device.netlist_device.NetlistDevice`: ``x`` are the values of its
  input sources (through the device's ``input_scale`` / ``input_offset``), ``y`` its output
  voltages at equilibrium (the free state).

Gradients (:meth:`Chain.gradients`), as the seed chains them: the loss's ``δ = dL/dy`` of the
last block is carried backwards; a digital block passes it on by backprop
(``δ_in = Wᵀ(δ ⊙ act')``); an analog block receives it as *currents* ``−β δ`` injected at
its output nodes (its nudge; a downstream error is not a target, so the nudge is a current,
never a conductance to a target), and EP gives both its conductance gradient (the contrast
of ``½ΔV²`` between the nudged states) and its input error
``δ_in = [I_s(β₂) − I_s(β₁)] / (β₂ − β₁)`` -- the change of the current each input source
delivers, which an ammeter in series with the source reads
(:meth:`~circuitlearn.device.netlist_device.NetlistDevice.source_currents`).  This is
exact as ``β → 0`` because a source's current is the derivative of the circuit's power with
respect to its voltage.  ``method="exact"`` replaces EP in every analog block by implicit
differentiation of the circuit (:func:`~circuitlearn.learn.gradients.circuit_gradients`),
which makes the whole chain's gradient exact: the yardstick of :meth:`Chain.cosine`.

:class:`FFEBMLearner` trains a chain with :func:`circuitlearn.learn.loop.fit` (one SGD
learning rate per block kind: digital weights and conductances live on different scales).
"""
from __future__ import annotations

import math
from contextlib import ExitStack

import numpy as np

from circuitlearn.errors import TrainingError
from circuitlearn.learn import loop, rules
from circuitlearn.learn.ep import EPConfig

ACTIVATIONS = ("tanh", "relu", "identity")


class Digital:
    """A digital feed-forward block ``y = scale · act(W x + b)``; ``W`` ``[n_out, n_in]``
    initialised ``U(−1/√n_in, 1/√n_in)``."""
    kind = "digital"

    def __init__(self, n_in: int, n_out: int, activation: str = "tanh", scale: float = 1.0,
                 rng: np.random.Generator | None = None):
        if activation not in ACTIVATIONS:
            raise ValueError(f"activation must be one of {ACTIVATIONS}, got {activation!r}")
        if not (n_in >= 1 and n_out >= 1 and scale > 0):
            raise ValueError(f"need n_in, n_out >= 1 and scale > 0, got {n_in}, {n_out}, "
                             f"{scale}")
        rng = rng or np.random.default_rng(0)
        a = 1.0 / math.sqrt(n_in)
        self.W = rng.uniform(-a, a, (n_out, n_in))
        self.b = np.zeros(n_out)
        self.activation, self.scale = activation, float(scale)
        self.n_in, self.n_out = n_in, n_out
        self._x = self._pre = None

    def forward(self, x) -> np.ndarray:
        self._x = np.asarray(x, dtype=np.float64)
        self._pre = self._x @ self.W.T + self.b
        return self.scale * self._act(self._pre)

    def _act(self, z):
        if self.activation == "tanh":
            return np.tanh(z)
        if self.activation == "relu":
            return np.maximum(z, 0.0)
        return z

    def _dact(self, z):
        if self.activation == "tanh":
            return 1.0 - np.tanh(z) ** 2
        if self.activation == "relu":
            return (z > 0).astype(np.float64)
        return np.ones_like(z)

    def backward(self, dy, **_) -> tuple:
        """``(δ_in [B, n_in], [dW, db])`` (batch means) from ``δ = dL/dy`` per sample."""
        d = np.asarray(dy) * self.scale * self._dact(self._pre)
        B = d.shape[0]
        return d @ self.W, [d.T @ self._x / B, d.mean(axis=0)]

    def parameters(self):
        return [self.W, self.b]

    def set_parameters(self, arrays):
        self.W, self.b = (np.array(a, dtype=np.float64) for a in arrays)

    def program(self, deltas):
        self.W = self.W + deltas[0]
        self.b = self.b + deltas[1]


class Analog:
    """A trainable circuit as a block: its input sources take ``x``, its outputs give ``y``.

    ``ep``: the EP estimator and ``beta`` (A per unit of ``δ``) of its nudges; the nudging is
    by current whatever ``ep.nudging`` says."""
    kind = "analog"

    def __init__(self, device, ep: EPConfig | None = None):
        ep = ep or EPConfig()
        self.device = device
        self.ep = EPConfig(ep.estimator, "current", ep.beta)
        self.n_in, self.n_out = device.input_index.size, device.n_outputs
        device.source_currents(np.zeros((1, device.circuit.n_nodes)))   # refuse unreadable inputs
        self._x = self._V = None

    def forward(self, x) -> np.ndarray:
        self._x = np.asarray(x, dtype=np.float64)
        self._V = rules.free_state(self.device, self._x)
        return self.device.readout(self._V)

    def backward(self, dy, method: str = "ep", rng=None) -> tuple:
        """``(δ_in [B, n_in], [grad_g])`` from ``δ = dL/dy`` per sample: EP on the device
        (``method="ep"``) or implicit differentiation (``"exact"``)."""
        d = self.device
        if method == "exact":
            return self._exact(dy)
        dcdv = d.output_to_probe(dy)
        b1, b2 = self.ep.nudge_pair(rng)
        states = {0.0: self._V}
        for beta in (b1, b2):
            if beta not in states:
                d.inject_currents(-beta * dcdv)
                states[beta] = d.measure()
        d.clear_nudge()
        grad = rules.contrast(d, states[b2], states[b1], b2 - b1)
        dI = (d.source_currents(states[b2]) - d.source_currents(states[b1])) / (b2 - b1)
        return dI * d.input_scale, [grad]

    def _exact(self, dy):
        from circuitlearn.learn.gradients import circuit_gradients
        from circuitlearn.solve import solve
        d = self.device
        c = d.trained_circuit()
        res = solve(c, d.source_vectors(self._x), diodes=d.diodes, tol=1e-13)
        if not res.success:
            raise TrainingError(f"exact gradient: the solve failed ({res.message})")
        dv = np.zeros((self._x.shape[0], c.n_nodes))
        dv[:, d.probe_index] = d.output_to_probe(dy)
        g = circuit_gradients(c, res, dv, diodes=d.diodes)
        return g.sources[:, d.input_index] * d.input_scale, \
            [g.conductance[:, d.trainable].mean(axis=0)]

    def parameters(self):
        return [self.device.conductances()]

    def set_parameters(self, arrays):
        self.device.set_conductances(arrays[0])

    def program(self, deltas):
        self.device.program(deltas[0])


class Chain:
    """Blocks applied in order; ``loss`` a :class:`~circuitlearn.learn.rules.TaskLoss` on the
    last block's output."""

    def __init__(self, blocks, loss: rules.TaskLoss):
        for a, b in zip(blocks, blocks[1:]):
            if a.n_out != b.n_in:
                raise ValueError(f"a block gives {a.n_out} values, the next takes {b.n_in}")
        self.blocks, self.loss = list(blocks), loss

    def forward(self, x) -> np.ndarray:
        for b in self.blocks:
            x = b.forward(x)
        return x

    def gradients(self, x, t, method: str = "ep", rng=None):
        """``(grads, y, loss[B])``: one list of arrays per block (in order), the chain's output
        and per-sample loss; ``method`` ``"ep"`` (EP in the analog blocks) or ``"exact"``."""
        if method not in ("ep", "exact"):
            raise ValueError(f"method must be 'ep' or 'exact', got {method!r}")
        y = self.forward(x)
        lval, dy = self.loss(y, t)
        grads = [None] * len(self.blocks)
        for i in range(len(self.blocks) - 1, -1, -1):
            dy, grads[i] = self.blocks[i].backward(dy, method=method, rng=rng)
        return grads, y, lval

    def cosine(self, x, t, rng=None) -> dict:
        """Cosine similarity of the EP-chained gradient with the exact one: ``all`` (every
        parameter), and per block (``block{i}``)."""
        ep, _, _ = self.gradients(x, t, "ep", rng)
        ex, _, _ = self.gradients(x, t, "exact")
        flat = [np.concatenate([np.ravel(a) for a in g]) for g in (sum(ep, []), sum(ex, []))]
        out = {"all": _cos(*flat)}
        for i, (a, b) in enumerate(zip(ep, ex)):
            out[f"block{i}"] = _cos(np.concatenate([np.ravel(v) for v in a]),
                                    np.concatenate([np.ravel(v) for v in b]))
        return out

    def parameters(self):
        return sum((b.parameters() for b in self.blocks), [])

    def counts(self):
        return [len(b.parameters()) for b in self.blocks]


def _cos(a, b) -> float:
    na, nb = np.linalg.norm(a), np.linalg.norm(b)
    return float(a @ b / (na * nb)) if na > 0 and nb > 0 else float("nan")


class FFEBMLearner:
    """A :class:`Chain` trained by :func:`circuitlearn.learn.loop.fit` (EP in its analog
    blocks, or ``method="exact"``)."""
    hint = "lower the learning rates or beta"
    lrs = None           # one SGD learning rate per parameter array (set by its maker)

    def __init__(self, chain: Chain, method: str = "ep"):
        self.chain, self.method = chain, method
        self.task = chain.loss.task
        self.names = tuple(f"{b.kind}{i}_{j}" for i, b in enumerate(chain.blocks)
                           for j in range(len(b.parameters())))

    def parameters(self):
        return self.chain.parameters()

    def circuit_inputs(self, x):
        """What the first analog block's inputs take for features ``x``."""
        for b in self.chain.blocks:
            if b.kind == "analog":
                return x
            x = b.forward(x)
        return x

    def _split(self, arrays):
        out, k = [], 0
        for n in self.chain.counts():
            out.append(list(arrays[k:k + n]))
            k += n
        return out

    def set_parameters(self, arrays):
        for b, a in zip(self.chain.blocks, self._split(arrays)):
            b.set_parameters(a)

    def reset(self):
        pass

    def step(self, x, t, rng) -> loop.Step:
        grads, y, lval = self.chain.gradients(x, t, self.method, rng)
        wrong = int(np.sum(self.chain.loss.predict(y) != t)) \
            if self.task == "classification" else None
        return loop.Step(sum(grads, []), lval, wrong)

    def program(self, deltas):
        for b, d in zip(self.chain.blocks, self._split(deltas)):
            b.program(d)

    def evaluate(self, x, t) -> dict:
        """Free-state metrics of the chain (not counted as training cost)."""
        from circuitlearn.learn.learners import evaluate_outputs
        with ExitStack() as stack:
            for b in self.chain.blocks:
                if b.kind == "analog":
                    stack.enter_context(b.device.costs.paused())
            return evaluate_outputs(self.chain.forward, x, t, self.chain.loss)

    devices = None

    def device_state(self):
        return None

    def results_extra(self) -> dict:
        return {}
