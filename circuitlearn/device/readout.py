"""What a probe's read-out does to a node voltage: Gaussian read noise, then an ADC.

``read_noise_std`` (V) is added to every voltage read, drawn anew per read; an ADC of
``adc_bits`` bits over ``[-adc_range, adc_range]`` (V) then rounds to its codes
(``2^bits`` levels, step ``2 adc_range / (2^bits - 1)``) and saturates at the range.
``adc_bits = 0`` reads without quantisation.  Learning rules see only these values
(:meth:`~circuitlearn.device.netlist_device.NetlistDevice.measure`), so read noise and
resolution act on their gradient estimates as on a bench.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from circuitlearn.device.physics import is_number
from circuitlearn.errors import ConfigError

READ_KEYS = ("read_noise_std", "adc_bits", "adc_range")


@dataclass(frozen=True)
class ReadOut:
    read_noise_std: float = 0.0
    adc_bits: int = 0
    adc_range: float = 1.0

    def __post_init__(self):
        v = self.read_noise_std
        if not (is_number(v) and v >= 0):
            raise ConfigError(f"must be a finite number >= 0, got {v!r}", None,
                              "device.read_noise_std")
        if isinstance(self.adc_bits, bool) or not isinstance(self.adc_bits, int) or \
                not 0 <= self.adc_bits <= 52:
            raise ConfigError(f"must be a whole number of bits in 0..52, got {self.adc_bits!r}",
                              None, "device.adc_bits")
        v = self.adc_range
        if not (is_number(v) and v > 0):
            raise ConfigError(f"must be a finite number > 0, got {v!r}", None, "device.adc_range")

    @property
    def step(self) -> float:
        """The ADC's voltage step (0 without an ADC)."""
        return 2.0 * self.adc_range / (2 ** self.adc_bits - 1) if self.adc_bits else 0.0

    def read(self, V: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        V = np.asarray(V, dtype=np.float64)
        if self.read_noise_std > 0:
            V = V + self.read_noise_std * rng.standard_normal(V.shape)
        if self.adc_bits:
            r, s = self.adc_range, self.step
            V = np.clip(-r + np.round((V + r) / s) * s, -r, r)
        return V


class ReadThrough:
    """A layered device (:class:`~circuitlearn.device.base.Device`, any backend) whose
    :meth:`measure` reads every layer's voltages through a :class:`ReadOut`; everything
    else is the wrapped device's."""

    def __init__(self, device, reader: ReadOut, rng: np.random.Generator):
        self._device, self.reader, self.read_rng = device, reader, rng

    def measure(self) -> list:
        return [self.reader.read(v, self.read_rng) for v in self._device.measure()]

    def measure_by_name(self) -> dict:
        return {n: v[:, k] for names, v in zip(self._device.node_names(), self.measure())
                for k, n in enumerate(names)}

    def __getattr__(self, name):
        return getattr(self._device, name)
