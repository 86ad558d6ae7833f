"""How hardware turns a learning rule's desired conductance change into programming pulses.

A :class:`Programmer` owns one :class:`~circuitlearn.device.physics.PulsedArray` (one
device per trainable element) and maps its weight window ``[w_min, w_max]`` linearly onto
the element's conductance window ``[g_min, g_max]`` (siemens):
``g = g_min + (w - w_min) (g_max - g_min) / (w_max - w_min)``.  A desired change ``dg``
becomes a pulse count per device ``n = dg / (g per dw_min)``, then:

* ``rounding = "deterministic"`` (nearest integer) or ``"stochastic"`` (``floor(n)`` plus
  one with probability ``n - floor(n)``: unbiased, ``E[pulses] = n``);
* ``manhattan = true``: one pulse of the change's sign (sign / Manhattan updates);
* ``threshold``: devices asked for fewer than this many pulses (in magnitude) get none;
* ``pulse_budget``: at most this many pulses per device per step (0: no limit).

One-sided devices (``one_sided``, e.g. the ``pcm`` preset) only move up by pulses:

* devices in a differential pair (``pairs``: ``plus`` and ``minus`` conduct into the same
  node from complementary signals, so the pair's weight is ``g_plus - g_minus``) take the
  pair's change ``d = (dg_plus - dg_minus) / 2`` as up-pulses on ``plus`` when ``d > 0``
  and on ``minus`` otherwise; every ``refresh_every`` steps a pair whose larger device is
  above ``refresh_upper_thres`` of its window and whose smaller one above
  ``refresh_lower_thres`` is refreshed: both weights read, both devices RESET, the
  difference programmed back onto one by program-and-verify (aihwkit's OneSidedUnitCell);
* a device without a partner asked to go down by at least one pulse's worth is RESET and
  brought back up to its target by program-and-verify (at most :data:`MAX_VERIFY` pulses).

It counts the pulses applied, the RESETs, the refreshes and their energy
(``pulse_energy`` joules per pulse, a RESET counted as one pulse), and advances the
device clock by ``step_time`` seconds per programming step, so drift acts
between steps.  What the circuit sees is :meth:`conductances` (write noise and drift
included).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from circuitlearn.device.physics import PulseModel, PulsedArray, is_number
from circuitlearn.device.readout import READ_KEYS, ReadOut
from circuitlearn.device.scaling import SCALE_KEYS
from circuitlearn.errors import ConfigError

ROUNDING = ("deterministic", "stochastic")

#: the most up-pulses one program-and-verify applies to a device
MAX_VERIFY = 1000


@dataclass(frozen=True)
class Scheme:
    """The update scheme (see the module docstring)."""
    rounding: str = "stochastic"
    manhattan: bool = False
    threshold: int = 0
    pulse_budget: int = 0
    pulse_energy: float = 0.0
    step_time: float = 0.0
    refresh_every: int = 1
    refresh_upper_thres: float = 0.75
    refresh_lower_thres: float = 0.25

    def __post_init__(self):
        if self.rounding not in ROUNDING:
            raise ConfigError(f"must be one of {', '.join(ROUNDING)}; got {self.rounding!r}",
                              None, "device.rounding")
        if not isinstance(self.manhattan, bool):
            raise ConfigError(f"must be true or false, got {self.manhattan!r}", None,
                              "device.manhattan")
        if isinstance(self.refresh_every, bool) or not isinstance(self.refresh_every, int) \
                or self.refresh_every < 1:
            raise ConfigError(f"must be a whole number >= 1, got {self.refresh_every!r}", None,
                              "device.refresh_every")
        for name in ("refresh_upper_thres", "refresh_lower_thres"):
            v = getattr(self, name)
            if not (is_number(v) and 0 <= v <= 1):
                raise ConfigError(f"must be a fraction of the window in 0..1, got {v!r}", None,
                                  f"device.{name}")
        for name in ("threshold", "pulse_budget"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < 0:
                raise ConfigError(f"must be a whole number >= 0, got {v!r}", None,
                                  f"device.{name}")
        for name in ("pulse_energy", "step_time"):
            v = getattr(self, name)
            if not (is_number(v) and v >= 0):
                raise ConfigError(f"must be a finite number >= 0, got {v!r}", None,
                                  f"device.{name}")


SCHEME_KEYS = ("rounding", "manhattan", "threshold", "pulse_budget", "pulse_energy",
               "step_time", "refresh_every", "refresh_upper_thres", "refresh_lower_thres")

#: keys resolved against the element names by the task or DRN that owns the devices
PAIR_KEYS = ("pairs",)


class Programmer:
    """Pulsed programming of ``n`` conductances in ``[g_min, g_max]`` (finite, S)."""

    def __init__(self, model: PulseModel, scheme: Scheme, n: int, g_min: float, g_max: float,
                 rng: np.random.Generator):
        if not (np.isfinite(g_min) and np.isfinite(g_max) and 0 <= g_min < g_max):
            raise ConfigError(f"a pulsed device needs a finite conductance window "
                              f"0 <= g_min < g_max (circuit.g_max of a task, model.g_max of "
                              f"a DRN config), got [{g_min}, {g_max}]", None, "g_max")
        self.model, self.scheme = model, scheme
        self.g_min, self.g_max = float(g_min), float(g_max)
        self.rng = rng
        self.devices = PulsedArray(model, n, rng)
        self.scale = (self.g_max - self.g_min) / (model.w_max - model.w_min)   # S per unit w
        self.time = 0.0
        self.energy = 0.0
        self.plus = self.minus = np.zeros(0, np.int64)
        self.steps = self.refreshes = 0

    def set_pairs(self, plus, minus) -> None:
        """Devices ``plus[i]`` and ``minus[i]`` form differential pairs (one-sided devices)."""
        plus, minus = np.asarray(plus, np.int64), np.asarray(minus, np.int64)
        both = np.concatenate([plus, minus])
        if plus.shape != minus.shape or both.size and (
                both.min() < 0 or both.max() >= self.devices.n or np.unique(both).size < both.size):
            raise ConfigError("pairs must join distinct devices, each in at most one pair",
                              None, "device.pairs")
        self.plus, self.minus = plus, minus

    # ---------------------------------------------------------------- mapping
    def to_w(self, g):
        return self.model.w_min + (np.asarray(g, dtype=np.float64) - self.g_min) / self.scale

    def to_g(self, w):
        return self.g_min + (np.asarray(w, dtype=np.float64) - self.model.w_min) * self.scale

    def conductances(self) -> np.ndarray:
        """What the circuit sees now (write noise, drift), never below the window's floor
        (``g_min``, or 1e-9 g_max for a window from 0 S: a device is never a perfect open)."""
        floor = self.g_min if self.g_min > 0 else 1e-9 * self.g_max
        return np.maximum(self.to_g(self.devices.apparent(self.time)), floor)

    # ------------------------------------------------------------ programming
    def set(self, g) -> np.ndarray:
        """Program absolute conductances (initialisation): each device as close as it goes."""
        self.devices.set(self.to_w(g), t=self.time)
        return self.conductances()

    def pulses_for(self, dg) -> np.ndarray:
        """The signed pulse count the scheme gives each device for the change ``dg``."""
        s = self.scheme
        with np.errstate(divide="ignore", invalid="ignore"):   # a device with no step: 0
            n = np.asarray(dg, dtype=np.float64) / (self.scale * self.devices.dw)
        n = np.where(np.isfinite(n), n, 0.0)
        if s.manhattan:
            k = np.sign(n)
        elif s.rounding == "deterministic":
            k = np.rint(n)
        else:
            lo = np.floor(n)
            k = lo + (self.rng.random(n.shape) < (n - lo))
        if s.threshold:
            k = np.where(np.abs(k) < s.threshold, 0.0, k)
        if s.pulse_budget:
            k = np.clip(k, -s.pulse_budget, s.pulse_budget)
        return k.astype(np.int64)

    def program(self, dg) -> np.ndarray:
        """Apply the change ``dg`` by pulses; returns the conductances the circuit now sees."""
        d = self.devices
        before = d.pulses + d.resets
        self.time += self.scheme.step_time
        if self.model.one_sided:
            self._program_one_sided(np.array(dg, dtype=np.float64))
        else:
            d.pulse(self.pulses_for(dg), t=self.time)
        self.steps += 1
        self.energy += (d.pulses + d.resets - before) * self.scheme.pulse_energy
        return self.conductances()

    def _program_one_sided(self, dg):
        d, p, q = self.devices, self.plus, self.minus
        single = np.ones(d.n, bool)
        if p.size:
            half = 0.5 * (dg[p] - dg[q])
            dg[p], dg[q] = np.maximum(half, 0.0), np.maximum(-half, 0.0)
            single[p] = single[q] = False
        k = self.pulses_for(dg)
        down = single & (k < 0)
        target = np.maximum(d.w + k * d.dw, d.w_lo)
        d.pulse(np.maximum(k, 0), t=self.time)
        if down.any():                          # RESET, then back up to the target
            d.reset_devices(down, t=self.time)
            d.pulse_up_to(target, down, MAX_VERIFY, t=self.time)
        if p.size and self.steps % self.scheme.refresh_every == 0:
            self._refresh()

    def _refresh(self):
        d, p, q, s = self.devices, self.plus, self.minus, self.scheme
        u = (d.w - d.w_lo) / (d.w_hi - d.w_lo)
        need = (np.maximum(u[p], u[q]) > s.refresh_upper_thres) & \
            (np.minimum(u[p], u[q]) > s.refresh_lower_thres)
        if not need.any():
            return
        p, q = p[need], q[need]
        read = d.apparent(self.time)
        diff = read[p] - read[q]
        mask = np.zeros(d.n, bool)
        mask[p] = mask[q] = True
        d.reset_devices(mask, t=self.time)
        target = d.w.copy()
        target[p] += np.maximum(diff, 0.0)
        target[q] += np.maximum(-diff, 0.0)
        d.pulse_up_to(target, mask & (target > d.w), MAX_VERIFY, t=self.time)
        self.refreshes += int(need.sum())

    # ----------------------------------------------------------------- report
    def report(self) -> dict:
        d = self.devices
        return {"pulses": int(d.pulses), "programming_energy_J": float(self.energy),
                "devices": int(d.n), "stuck_on": int(np.sum(d.stuck == 1)),
                "stuck_off": int(np.sum(d.stuck == -1)), "device_time_s": float(self.time),
                "resets": int(d.resets), "refreshes": int(self.refreshes),
                "pairs": int(self.plus.size)}

    def state(self) -> dict:
        return {**self.devices.state(), "time": np.float64(self.time),
                "energy": np.float64(self.energy), "steps": np.int64(self.steps),
                "refreshes": np.int64(self.refreshes)}

    def load_state(self, st: dict) -> None:
        self.devices.load_state(st)
        self.time, self.energy = float(st["time"]), float(st["energy"])
        self.steps, self.refreshes = int(st.get("steps", 0)), int(st.get("refreshes", 0))


def programmer_from_config(table: dict, n: int, g_min: float, g_max: float,
                           rng: np.random.Generator, where: str | None = None) -> Programmer:
    """A :class:`Programmer` from a TOML ``[device]`` table: the scheme's keys
    (:data:`SCHEME_KEYS`), ``preset`` and the :class:`PulseModel` parameters (the read-out
    keys, :data:`~circuitlearn.device.readout.READ_KEYS`, and the physical units,
    :data:`~circuitlearn.device.scaling.SCALE_KEYS`, are not its business)."""
    from circuitlearn.device.physics import model_from_dict
    extra = table
    table = {k: v for k, v in table.items() if k not in READ_KEYS + SCALE_KEYS + PAIR_KEYS}
    sch = {k: table.pop(k) for k in SCHEME_KEYS if k in table}
    try:
        scheme = Scheme(**sch)
        model = model_from_dict(table, where)
        if "pairs" in extra and not model.one_sided:
            raise ConfigError("pairs are for one-sided devices (one_sided = true, e.g. "
                              "preset = 'pcm'); a bidirectional device updates on its own",
                              None, "device.pairs")
        return Programmer(model, scheme, n, g_min, g_max, rng)
    except ConfigError as exc:
        raise ConfigError(exc.reason, where, exc.key) from None


def readout_from_config(table: dict, where: str | None = None) -> ReadOut:
    """The :class:`~circuitlearn.device.readout.ReadOut` of a ``[device]`` table."""
    try:
        return ReadOut(**{k: table[k] for k in READ_KEYS if k in table})
    except ConfigError as exc:
        raise ConfigError(exc.reason, where, exc.key) from None


@dataclass(eq=False)
class Devices:
    """What a ``[device]`` table asks for: pulsed programming (``programmer``) and/or a
    read-out (``reader`` with its own ``read_rng``); either may be None."""
    programmer: Programmer | None
    reader: ReadOut | None
    read_rng: np.random.Generator | None

    def state(self) -> dict:
        """Everything a checkpoint needs to continue bit for bit."""
        st = {} if self.programmer is None else self.programmer.state()
        if self.read_rng is not None:
            st["read_rng"] = self.read_rng.bit_generator.state
        return st

    def load_state(self, st: dict) -> None:
        if self.programmer is not None:
            self.programmer.load_state(st)
        if self.read_rng is not None:
            self.read_rng.bit_generator.state = st["read_rng"]

    def report(self) -> dict | None:
        return None if self.programmer is None else self.programmer.report()


def build_devices(table: dict, n: int, g_min: float, g_max: float, seed: int,
                  where: str | None = None) -> Devices | None:
    """The :class:`Devices` of a checked ``[device]`` table for ``n`` trainable elements in
    ``[g_min, g_max]``; their random streams are seeded from ``seed`` apart from the
    training's own (None for a table with neither; the physical-unit keys,
    :data:`~circuitlearn.device.scaling.SCALE_KEYS`, are the exporter's)."""
    if not set(table) - set(SCALE_KEYS):
        return None
    if set(table) & set(PAIR_KEYS) and not set(table) - set(READ_KEYS + SCALE_KEYS + PAIR_KEYS):
        raise ConfigError("pairs need a pulsed device (model or preset)", where, "device.pairs")
    programmer = (programmer_from_config(table, n, g_min, g_max,
                                         np.random.default_rng([seed, 8]), where)
                  if set(table) - set(READ_KEYS) - set(SCALE_KEYS) else None)
    reader = readout_from_config(table, where) if set(table) & set(READ_KEYS) else None
    return Devices(programmer, reader, None if reader is None else np.random.default_rng([seed, 9]))


def device_table(table, extra, g_min, g_max, where) -> dict:
    """The ``[device]`` table of a config, with command-line ``KEY=VALUE`` settings
    (``extra``) merged in, checked by building it once for ``[g_min, g_max]``."""
    if table is None and not extra:
        return {}
    if table is not None and not isinstance(table, dict):
        raise ConfigError("expected a table", where, "device")
    table = dict(table or {}) | dict(extra or {})
    build_devices(table, 1, g_min, g_max, 0, where)
    return table


def describe(report: dict) -> str:
    """One log line of a :meth:`Programmer.report`."""
    line = ("devices: {pulses} pulses applied ({programming_energy_J:.3g} J), {stuck_on} "
            "stuck on, {stuck_off} stuck off of {devices}".format(**report))
    if report.get("resets"):
        line += "; {resets} RESETs, {refreshes} pair refreshes ({pairs} pairs)".format(**report)
    return line
