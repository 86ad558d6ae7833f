"""Physical units for a layered DRN: a conductance window and an input read range.

A DRN config trains in model units: conductances in ``[g_min, g_max]``, inputs driven at
``gain * [x, -x]`` volts (the published DRNs use gains of 100-800, so tens of volts and
conductances of order one siemens).  A memristive device has a conductance window, e.g.
``g_window = [1e-6, 1e-4]`` (1-100 uS), and is read well below a volt, e.g. ``input_range
= 0.2`` (inputs within +-0.2 V).  A network of ideal diodes is exactly scale-free: with
every conductance multiplied by ``k``, every voltage source and diode threshold by ``s``
and every current source by ``k s``, every node voltage is multiplied by ``s`` and every
current by ``k s`` -- the same equilibrium, the same predictions.  So the physical
network is the trained one's image under

* ``k = g_window[1] / g_max``  (the model's ``g_max`` is the window's top; the window's
  bottom then bounds ``g_min``: ``g_min >= g_max * g_window[0] / g_window[1]``),
* ``s = input_range / gain``   (an input ``x`` in ``[0, 1]`` is applied at ``+-input_range x``).

The exported deck's near-ideal diode is mapped the same way (emission coefficient ``N``
times ``s``, saturation current ``IS`` times ``k s``), so its Shockley curve is the
image of the model-unit deck's and ngspice reproduces the trained outputs times ``s``.
With an ``input_range``, the read-out keys (``read_noise_std``, ``adc_range``) are
physical volts at the device's terminals.

``sense_resistance`` (ohms) loads every output node with a sense resistor to ground, the
resistor an ADC reads the output voltage across.  It is part of the circuit -- trained
with, differentiated, exported (``rs{k} o{k} 0``) and solved by ngspice -- so its loading
of the outputs is what the network learns to live with; in model units it is the
conductance ``1 / (k R)`` (``k = 1`` without a ``g_window``, the resistance then in model
ohms).  The hidden nodes are read by high-impedance probes (EP measures every node).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from circuitlearn.device.physics import is_number
from circuitlearn.errors import ConfigError

SCALE_KEYS = ("g_window", "input_range", "sense_resistance")


@dataclass(frozen=True)
class PhysicalScale:
    """Model units -> physical units: ``k`` siemens per model siemens, ``s`` volts per
    model volt (see the module docstring)."""
    k: float = 1.0
    s: float = 1.0

    def conductances(self, ws) -> list:
        return [self.k * np.asarray(w, dtype=np.float64) for w in ws]

    def currents(self, bs) -> list:
        return [self.k * self.s * np.asarray(b, dtype=np.float64) for b in bs]

    def readout(self, reader):
        """A read-out given in physical volts, as it acts on model-unit voltages."""
        from circuitlearn.device.readout import ReadOut
        if reader is None or self.s == 1.0:
            return reader
        return ReadOut(reader.read_noise_std / self.s, reader.adc_bits, reader.adc_range / self.s)

    def drn_netlist(self, ws, bs, *, x, gain: float, vth: float = 0.0,
                    load: float = 0.0, title: str = "deep resistive network"):
        """The DRN of model-unit conductances ``ws``, bias currents ``bs`` and output load
        ``load`` as a deck in physical units, input ``x`` applied
        (:func:`~circuitlearn.compile.builders.drn_netlist`)."""
        from circuitlearn.compile.builders import DRN_DIODE_PARAMS, drn_netlist
        diode = {"n": DRN_DIODE_PARAMS["n"] * self.s, "is": DRN_DIODE_PARAMS["is"] * self.k * self.s,
                 "vth": vth * self.s}
        return drn_netlist(self.conductances(ws), self.currents(bs), x=x, gain=gain * self.s,
                           diode_params=diode, load=self.k * load, title=title)


def _window(v, where):
    ok = isinstance(v, (list, tuple)) and len(v) == 2 and all(is_number(t) for t in v)
    if not ok or not 0 <= v[0] < v[1]:
        raise ConfigError(f"expected [low, high] in siemens with 0 <= low < high, got {v!r}",
                          where, "device.g_window")
    return float(v[0]), float(v[1])


def scale_from_table(table: dict, g_min: float, g_max: float, gain: float,
                     where: str | None = None) -> PhysicalScale | None:
    """The :class:`PhysicalScale` of a DRN config's ``[device]`` table (None without
    ``g_window`` and ``input_range``).  Refuses a window the model's ``[g_min, g_max]``
    does not fit."""
    if not set(table) & {"g_window", "input_range"}:
        return None
    k = s = 1.0
    if "g_window" in table:
        lo, hi = _window(table["g_window"], where)
        if not math.isfinite(g_max):
            raise ConfigError("a conductance window needs a finite [model] g_max (the model "
                              "conductance mapped to the window's top)", where, "device.g_window")
        k = hi / g_max
        if g_min * k < lo * (1 - 1e-12):
            raise ConfigError(f"the window [{lo:g}, {hi:g}] S spans {hi / lo if lo else math.inf:g}x "
                              f"but [model] g_min = {g_min:g} maps to {g_min * k:g} S below it: "
                              f"g_min must be >= g_max * low / high = {g_max * lo / hi:g} (leave it "
                              "at 0 to have it set so)", where, "model.g_min")
    if "input_range" in table:
        v = table["input_range"]
        if not (is_number(v) and v > 0):
            raise ConfigError(f"must be a finite number of volts > 0, got {v!r}", where,
                              "device.input_range")
        s = float(v) / gain
    return PhysicalScale(k, s)


def output_load(table: dict, scale: PhysicalScale | None, where: str | None = None) -> float:
    """The model-unit conductance of ``[device] sense_resistance`` (0 without one)."""
    if "sense_resistance" not in table:
        return 0.0
    r = table["sense_resistance"]
    if not (is_number(r) and r > 0):
        raise ConfigError(f"must be a finite resistance > 0 (ohms), got {r!r}", where,
                          "device.sense_resistance")
    return 1.0 / (float(r) * (scale.k if scale is not None else 1.0))


def window_g_min(table: dict, g_min: float, g_max: float, where: str | None = None) -> float:
    """The model's ``g_min`` a ``g_window`` implies when the config leaves it at 0: the
    window's bottom (``g_max * low / high``); otherwise ``g_min`` unchanged."""
    if "g_window" not in table or g_min > 0 or not math.isfinite(g_max):
        return g_min
    lo, hi = _window(table["g_window"], where)
    return g_max * lo / hi
