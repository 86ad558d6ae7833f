"""The hardware-in-the-loop interface every training script talks to.

A :class:`Device` is what a learning-hardware bench offers: apply inputs, inject
currents at the outputs (or connect them through a conductance to a target
source), let the circuit settle and read node voltages with probes, program
conductance changes, read conductances back.  Learning code
(:mod:`circuitlearn.learn.ep`) computes every update from the voltages that
:meth:`Device.measure` returns — never from solver internals — so the same
script drives the fast simulator, ngspice, or (in principle) an instrument.

Layered (DRN) devices: layer 0 holds the input nodes driven at
``gain * [x, -x]``; layers ``1..L``; ``W_l`` has shape ``[n_{l-1}, n_l]``.
"""
from __future__ import annotations

from abc import ABC, abstractmethod

import numpy as np


class Device(ABC):
    """Abstract layered device.  Batches: every call handles ``B`` samples at once.

    Attributes expected of implementations: ``sizes`` (layer sizes ``(n0..nL)``),
    ``gain`` (input gain), ``g_min``/``g_max`` (programmable conductance range),
    ``load`` (fixed conductance from each output node to ground: a sense resistor;
    0 without one).
    """
    sizes: tuple
    gain: float
    g_min: float
    g_max: float
    load: float = 0.0

    @property
    def n_out(self) -> int:
        return self.sizes[-1]

    # -- stimulus ---------------------------------------------------------
    @abstractmethod
    def set_inputs(self, x: np.ndarray) -> None:
        """Apply a batch of inputs ``x`` [B, n0/2] (sources at ``gain * [x, -x]``)."""

    @abstractmethod
    def inject_currents(self, currents: np.ndarray) -> None:
        """Inject currents [B, n_out] (amperes, into the node) at the output nodes."""

    @abstractmethod
    def connect_targets(self, beta, target: np.ndarray) -> None:
        """Connect each output through a conductance ``beta`` (S; scalar, [B] or
        [B, n_out]; may be negative) to a voltage source at ``target`` [B, n_out]."""

    @abstractmethod
    def clear_nudge(self) -> None:
        """Remove injected currents and target conductances (free phase)."""

    # -- read-out ---------------------------------------------------------
    @abstractmethod
    def measure(self) -> list:
        """Let the circuit settle; return the node voltages ``[v_0, ..., v_L]``,
        each [B, n_l] (what the probes read; copies)."""

    def node_names(self) -> list:
        """DRN node names per layer (docs/CONVENTIONS.md): ``x{i}``, ``h{l}_{k}``, ``o{k}``."""
        L = len(self.sizes) - 1
        names = [[f"x{i}" for i in range(self.sizes[0])]]
        for l in range(1, L + 1):
            names.append([f"o{k}" if l == L else f"h{l}_{k}" for k in range(self.sizes[l])])
        return names

    def measure_by_name(self) -> dict:
        """:meth:`measure` as ``{node name: float64[B]}``."""
        return {n: v[:, k] for names, v in zip(self.node_names(), self.measure())
                for k, n in enumerate(names)}

    def last_status(self) -> dict:
        """Diagnostics of the last :meth:`measure` (``unstable`` outputs, sweeps...)."""
        return {}

    # -- programming ------------------------------------------------------
    @abstractmethod
    def program(self, delta_w: list, delta_b: list | None = None) -> None:
        """Change conductances by ``delta_w[l-1]`` [n_{l-1}, n_l] (clamped to
        ``[g_min, g_max]`` like real hardware) and bias currents by ``delta_b``."""

    @abstractmethod
    def conductances(self) -> list:
        """Read back the conductances ``[W_1, ..., W_L]`` (copies)."""

    @abstractmethod
    def biases(self) -> list:
        """Read back the bias currents ``[b_1, ..., b_L]`` (copies)."""

    @abstractmethod
    def set_parameters(self, weights: list, biases: list | None = None) -> None:
        """Program absolute conductances (clamped) and biases (initialisation, resume)."""
