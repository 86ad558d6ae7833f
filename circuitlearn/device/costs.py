"""What a learning bench pays, counted as the device does it.

:class:`Costs` is kept by a device (:attr:`NetlistDevice.costs
<circuitlearn.device.netlist_device.NetlistDevice.costs>`) and counts

* ``settles`` -- phases: the whole batch brought to a new steady state once;
* ``sample_settles`` -- settles times the samples in them (one circuit, one sample each);
* ``reads`` -- node voltages read by a probe (per sample: all nodes for ``measure``,
  the output nodes for ``measure_outputs``);
* ``writes`` -- conductance writes, one per device changed (programming steps, and the probe
  write plus restore of every perturbation); pulsed device physics counts its pulses
  itself (``Devices.report``);
* ``energy_J`` -- energy dissipated in the circuit's resistors while each settled state is
  held for ``settle_time`` seconds: ``sum_samples sum_resistors g (v_a - v_b)^2 * settle_time``.
  Ideal diodes dissipate nothing (zero drop when on, zero current when off); the loss of
  Shockley diodes, nudging elements and sources' internal resistances is not counted.

``paused()`` stops counting (evaluation passes are not training cost);
:meth:`snapshot` and :meth:`since` give the cost of a stretch of work.
"""
from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass, fields

import numpy as np

COUNTS = ("settles", "sample_settles", "reads", "writes", "energy_J")


@dataclass
class Costs:
    settle_time: float = 1e-6
    settles: int = 0
    sample_settles: int = 0
    reads: int = 0
    writes: int = 0
    energy_J: float = 0.0
    active: bool = True

    def count_settle(self, V, resistor_nodes, g, reads_per_sample: int) -> None:
        """One settle of the batch ``V`` [B, n_nodes] with resistors ``(nodes, g)``."""
        if not self.active:
            return
        B = V.shape[0]
        dv = V[:, resistor_nodes[:, 0]] - V[:, resistor_nodes[:, 1]]
        self.settles += 1
        self.sample_settles += B
        self.reads += B * int(reads_per_sample)
        self.energy_J += float(np.sum(dv * dv @ g)) * self.settle_time

    def count_writes(self, n: int) -> None:
        if self.active:
            self.writes += int(n)

    @contextmanager
    def paused(self):
        """A stretch that is not counted (e.g. evaluating the test set)."""
        was, self.active = self.active, False
        try:
            yield self
        finally:
            self.active = was

    def snapshot(self) -> dict:
        return {f.name: getattr(self, f.name) for f in fields(self) if f.name in COUNTS}

    def since(self, before: dict) -> dict:
        """The counts accumulated since ``before`` (a :meth:`snapshot`)."""
        now = self.snapshot()
        return {k: now[k] - before[k] for k in COUNTS}

    def reset(self) -> None:
        for k in COUNTS:
            setattr(self, k, type(getattr(self, k))(0))
