"""Programmable-device physics: pulsed updates, variation, noise, stuck devices and drift.

Each trainable element is one device with its own state in arrays (a weight ``w`` in
``[w_min, w_max]`` per device, its sampled parameters, a stuck mask, its programming
time), all drawn from one seeded generator, so :meth:`PulsedArray.state` is a complete,
checkpointable snapshot.  Parameter names follow IBM aihwkit's pulsed devices wherever
the idea is the same (``dw_min``, ``dw_min_std``, ``dw_min_dtod``, ``up_down``,
``up_down_dtod``, ``w_min``/``w_max`` and their ``_dtod``, ``gamma_up``/``gamma_down``,
``write_noise_std``), so a device description carries across.

One pulse moves a device by its step ``s(w)`` (direction ``+`` up, ``-`` down)::

    w <- clip(w ± s(w) (1 + dw_min_std xi), w_min_ij, w_max_ij)       (xi ~ N(0, 1) per pulse)

with ``dw_up_ij = dw_min_ij (1 + up_down_ij)`` and ``dw_down_ij = dw_min_ij (1 - up_down_ij)``,
``dw_min_ij = dw_min (1 + dw_min_dtod xi)``, ``up_down_ij = up_down + up_down_dtod xi``,
``w_max_ij = w_max (1 + w_max_dtod xi)`` (likewise ``w_min``) drawn once per device, and
the step-response families (``u = (w - w_min) / (w_max - w_min)``, per device):

* ``constant-step``: ``s = dw``
* ``linear-step``:   up ``dw_up (1 - gamma_up w / w_max)``, down ``dw_down (1 - gamma_down w / w_min)``
* ``soft-bounds``:   ``linear-step`` with ``gamma = 1``: the step vanishes at the bound
* ``exp-step``:      up ``dw_up max(1 - A_up exp(gamma_up z), 0)``, down
  ``dw_down max(1 - A_down exp(-gamma_down z), 0)``, ``z = 2 a w / (w_max - w_min) + b``
* ``pow-step``:      up ``dw_up (1 - u)^(g (1 + pow_up_down))``, down
  ``dw_down u^(g (1 - pow_up_down))`` with ``g = pow_gamma``
* ``piecewise-step``: the step scaled by a table over ``u`` (``piecewise_up``,
  ``piecewise_down``, evenly spaced from ``w_min`` to ``w_max``, e.g. from a measured
  pulse-response CSV: :func:`piecewise_from_csv`), linearly interpolated.

The multiplicative cycle-to-cycle noise is aihwkit's ``mult_noise=True`` form; with
``mult_noise=False`` it is additive, ``s + dw_min_std * dw_min_ij * xi``.  With
``dw_min_std_add`` or ``dw_min_std_slope`` (aihwkit's exp-step "complex" noise) a step's
noise is ``dw_min_std (|s| + dw_min_std_add + dw_min_std_slope |w|) xi`` instead.

One-sided devices (``one_sided``: phase-change memory, whose amorphisation is abrupt) move
only up by pulses (gradual SET); down pulses do nothing, and the only way down is a RESET
(:meth:`PulsedArray.reset_devices`), which leaves a device at ``reset_ij + reset_std xi``
with ``reset_ij = reset + reset_dtod xi`` drawn once per device (aihwkit's names).  How a
training turns that into signed updates (differential pairs with refresh, or RESET and
re-SET of a single device) is the programmer's
(:class:`~circuitlearn.device.programming.Programmer`).  Write
noise: what the circuit sees (:meth:`PulsedArray.apparent`) is ``w + write_noise_std *
dw_min * xi``, drawn anew each time a device is programmed, while pulses act on the
persistent ``w``.  Stuck devices (``stuck_on_prob`` at ``w_max``, ``stuck_off_prob`` at
``w_min``) never move.  Drift: a device programmed at time ``t_p`` reads, at ``t``,
``w_min + (w - w_min) ((t - t_p + t0) / t0)^(-nu_ij)`` (``drift_nu``, ``drift_nu_dtod``,
``drift_t0`` seconds), the power law of PCM conductance decay applied to the conductance
above the window's floor.  Finite levels (``levels``): every programmed value is rounded
to one of ``levels`` evenly spaced states of ``[w_min, w_max]``.
"""
from __future__ import annotations

import csv
import dataclasses
from dataclasses import dataclass, field

import numpy as np

from circuitlearn.errors import ConfigError

def is_number(v) -> bool:
    """A finite int or float (not a bool, not a string): what a numeric device key takes."""
    return isinstance(v, (int, float)) and not isinstance(v, bool) and bool(np.isfinite(v))


MODELS = ("constant-step", "linear-step", "soft-bounds", "exp-step", "pow-step",
          "piecewise-step")


@dataclass(frozen=True)
class PulseModel:
    """A device description (aihwkit names; see the module docstring for the formulas)."""
    model: str = "constant-step"
    dw_min: float = 0.001
    dw_min_std: float = 0.0
    dw_min_dtod: float = 0.0
    up_down: float = 0.0
    up_down_dtod: float = 0.0
    w_min: float = -1.0
    w_max: float = 1.0
    w_min_dtod: float = 0.0
    w_max_dtod: float = 0.0
    gamma_up: float = 0.0
    gamma_down: float = 0.0
    A_up: float = 0.00081
    A_down: float = 0.36833
    a: float = 0.244
    b: float = 0.2425
    pow_gamma: float = 1.0
    pow_up_down: float = 0.0
    piecewise_up: tuple = (1.0, 1.0)
    piecewise_down: tuple = (1.0, 1.0)
    write_noise_std: float = 0.0
    mult_noise: bool = True
    levels: int = 0
    stuck_on_prob: float = 0.0
    stuck_off_prob: float = 0.0
    drift_nu: float = 0.0
    drift_nu_dtod: float = 0.0
    drift_t0: float = 1.0
    dw_min_std_add: float = 0.0
    dw_min_std_slope: float = 0.0
    one_sided: bool = False
    reset: float = 0.0
    reset_dtod: float = 0.0
    reset_std: float = 0.0

    def __post_init__(self):
        where = "device"
        if self.model not in MODELS:
            raise ConfigError(f"model must be one of {', '.join(MODELS)}; got {self.model!r}",
                              None, f"{where}.model")
        for name in ("dw_min", "dw_min_std", "dw_min_dtod", "up_down_dtod", "w_min_dtod",
                     "w_max_dtod", "write_noise_std", "stuck_on_prob", "stuck_off_prob",
                     "drift_nu", "drift_nu_dtod", "drift_t0", "pow_gamma", "dw_min_std_add",
                     "dw_min_std_slope", "reset_dtod", "reset_std"):
            v = getattr(self, name)
            if not (is_number(v) and v >= 0):
                raise ConfigError(f"must be a finite number >= 0, got {v!r}", None,
                                  f"{where}.{name}")
        for name in ("up_down", "w_min", "w_max", "gamma_up", "gamma_down", "A_up", "A_down",
                     "a", "b", "pow_up_down", "reset"):
            v = getattr(self, name)
            if not is_number(v):
                raise ConfigError(f"must be a finite number, got {v!r}", None, f"{where}.{name}")
        for name in ("mult_noise", "one_sided"):
            if not isinstance(getattr(self, name), bool):
                raise ConfigError(f"must be true or false, got {getattr(self, name)!r}", None,
                                  f"{where}.{name}")
        if not self.dw_min > 0:
            raise ConfigError(f"must be > 0, got {self.dw_min!r}", None, f"{where}.dw_min")
        if not self.w_min < self.w_max:
            raise ConfigError(f"w_min ({self.w_min}) must be below w_max ({self.w_max})", None,
                              f"{where}.w_max")
        if abs(self.up_down) >= 1:
            raise ConfigError(f"|up_down| must be < 1, got {self.up_down!r}", None,
                              f"{where}.up_down")
        if self.stuck_on_prob + self.stuck_off_prob > 1:
            raise ConfigError("stuck_on_prob + stuck_off_prob must be <= 1", None,
                              f"{where}.stuck_on_prob")
        if self.drift_t0 <= 0:
            raise ConfigError(f"must be > 0, got {self.drift_t0!r}", None, f"{where}.drift_t0")
        if isinstance(self.levels, bool) or not isinstance(self.levels, int) or \
                self.levels < 0 or self.levels == 1:
            raise ConfigError(f"levels must be 0 (continuous) or an integer >= 2, got "
                              f"{self.levels!r}", None, f"{where}.levels")
        for name in ("piecewise_up", "piecewise_down"):
            v = getattr(self, name)
            ok = isinstance(v, (tuple, list)) and all(is_number(x) for x in v)
            v = np.asarray(v, dtype=float) if ok else np.zeros(0)
            if v.ndim != 1 or v.size < 2 or np.any(v < 0):
                raise ConfigError("needs at least two finite values >= 0", None,
                                  f"{where}.{name}")
        if self.model == "soft-bounds" and (self.w_max <= 0 or self.w_min >= 0):
            raise ConfigError("soft bounds need w_min < 0 < w_max (the step vanishes at each "
                              "bound)", None, f"{where}.w_min")


def piecewise_from_csv(path: str) -> tuple[tuple, tuple]:
    """``(piecewise_up, piecewise_down)`` from a measured pulse-response CSV with columns
    ``up`` and ``down`` (relative step sizes at evenly spaced weights from ``w_min`` to
    ``w_max``; a header row names them)."""
    try:
        with open(path, newline="") as fh:
            rows = list(csv.DictReader(fh))
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc.strerror or exc}", path) from None
    try:
        up = tuple(float(r["up"]) for r in rows)
        down = tuple(float(r["down"]) for r in rows)
    except (KeyError, TypeError, ValueError) as exc:
        raise ConfigError(f"needs numeric columns 'up' and 'down' ({exc})", path) from None
    return up, down


@dataclass(eq=False)
class PulsedArray:
    """``n`` devices of one :class:`PulseModel`, their parameters drawn once from ``rng``."""
    model: PulseModel
    n: int
    rng: np.random.Generator
    w: np.ndarray = field(init=False)

    def __post_init__(self):
        m, n, rng = self.model, int(self.n), self.rng
        self.dw = m.dw_min * np.maximum(1.0 + m.dw_min_dtod * rng.standard_normal(n), 0.0)
        ud = np.clip(m.up_down + m.up_down_dtod * rng.standard_normal(n), -0.99, 0.99)
        self.dw_up, self.dw_down = self.dw * (1.0 + ud), self.dw * (1.0 - ud)
        self.w_hi = m.w_max * (1.0 + m.w_max_dtod * rng.standard_normal(n))
        self.w_lo = m.w_min * (1.0 + m.w_min_dtod * rng.standard_normal(n))
        bad = self.w_lo >= self.w_hi
        self.w_lo[bad], self.w_hi[bad] = m.w_min, m.w_max
        self.nu = np.maximum(m.drift_nu + m.drift_nu_dtod * rng.standard_normal(n), 0.0)
        u = rng.random(n)
        self.stuck = np.where(u < m.stuck_on_prob, 1, np.where(u < m.stuck_on_prob
                                                               + m.stuck_off_prob, -1, 0))
        # drawn only when asked for, so that devices without them keep their random streams
        self.reset_w = (m.reset + m.reset_dtod * rng.standard_normal(n) if m.reset_dtod > 0
                        else np.full(n, float(m.reset)))
        self.w = np.zeros(n)
        self.noise = np.zeros(n)
        self.t_prog = np.zeros(n)
        self.pulses = 0
        self.resets = 0
        self._pin()

    # ------------------------------------------------------------- state
    def _pin(self):
        self.w[self.stuck == 1] = self.w_hi[self.stuck == 1]
        self.w[self.stuck == -1] = self.w_lo[self.stuck == -1]

    def set(self, w, t: float = 0.0) -> None:
        """Program the devices to ``w`` (clipped to each one's window; stuck ones stay)."""
        w = np.broadcast_to(np.asarray(w, dtype=np.float64), (self.n,))
        self.w = self._quantise(np.clip(w, self.w_lo, self.w_hi))
        self._pin()
        self._written(np.ones(self.n, bool), t)

    def state(self) -> dict:
        """Every array that defines the devices now, and the generator's state (for a
        checkpoint: resuming from it continues bit for bit)."""
        return {k: np.array(getattr(self, k)) for k in self.ARRAYS} | {
            "pulses": np.int64(self.pulses), "resets": np.int64(self.resets),
            "rng": self.rng.bit_generator.state}

    ARRAYS = ("w", "noise", "t_prog", "dw", "dw_up", "dw_down", "w_lo", "w_hi", "nu", "stuck",
              "reset_w")

    def load_state(self, st: dict) -> None:
        for k in self.ARRAYS:
            if k == "reset_w" and k not in st:     # a checkpoint from before resets
                continue
            a = np.asarray(st[k])
            if a.shape != (self.n,) or not np.all(np.isfinite(a)):
                raise ValueError(f"device state {k!r} must be {self.n} finite values")
            setattr(self, k, a.astype(self.stuck.dtype if k == "stuck" else np.float64))
        self.pulses = int(st["pulses"])
        self.resets = int(st.get("resets", 0))
        if "rng" in st:
            self.rng.bit_generator.state = st["rng"]

    # ------------------------------------------------------------ physics
    def step(self, up, w=None) -> np.ndarray:
        """The deterministic step size of every device at ``w`` (default: its state), in the
        direction ``up`` (a bool, or one per device)."""
        m = self.model
        w = self.w if w is None else w
        up = np.broadcast_to(np.asarray(up, bool), (self.n,))
        dw = np.where(up, self.dw_up, self.dw_down)
        span = self.w_hi - self.w_lo
        if m.model == "constant-step":
            return dw
        if m.model in ("linear-step", "soft-bounds"):
            g = 1.0 if m.model == "soft-bounds" else np.where(up, m.gamma_up, m.gamma_down)
            return dw * np.maximum(1.0 - g * w / np.where(up, self.w_hi, self.w_lo), 0.0)
        if m.model == "exp-step":
            z = 2.0 * m.a * w / span + m.b
            with np.errstate(over="ignore"):
                e = np.where(up, m.A_up * np.exp(m.gamma_up * z),
                             m.A_down * np.exp(-m.gamma_down * z))
            return dw * np.maximum(1.0 - e, 0.0)
        u = np.clip((w - self.w_lo) / span, 0.0, 1.0)
        if m.model == "pow-step":
            return dw * np.where(up, (1.0 - u) ** (m.pow_gamma * (1.0 + m.pow_up_down)),
                                 u ** (m.pow_gamma * (1.0 - m.pow_up_down)))
        tu = np.asarray(m.piecewise_up, dtype=float)
        td = np.asarray(m.piecewise_down, dtype=float)
        return dw * np.where(up, np.interp(u, np.linspace(0.0, 1.0, tu.size), tu),
                             np.interp(u, np.linspace(0.0, 1.0, td.size), td))

    def pulse(self, n_pulses, t: float = 0.0) -> None:
        """Apply ``n_pulses[i]`` pulses to device ``i`` (signed: + up, - down), one at a time."""
        n_pulses = np.broadcast_to(np.asarray(n_pulses, dtype=np.int64), (self.n,))
        m = self.model
        todo = np.abs(n_pulses).copy()
        todo[self.stuck != 0] = 0
        up = n_pulses > 0
        if m.one_sided:
            todo[~up] = 0          # no gradual way down
        touched = todo > 0
        self.pulses += int(todo.sum())
        while np.any(todo > 0):
            act = todo > 0
            w = self.w + self._noisy_step(up)
            self.w = np.where(act, np.clip(w, self.w_lo, self.w_hi), self.w)
            todo -= act
        if m.levels:
            self.w = np.where(touched, self._quantise(self.w), self.w)
        self._written(touched, t)

    def _noisy_step(self, up) -> np.ndarray:
        """The signed change one pulse makes now: the step with its cycle-to-cycle noise."""
        m = self.model
        s = self.step(up)
        if m.dw_min_std > 0:
            xi = self.rng.standard_normal(self.n)
            if m.dw_min_std_add > 0 or m.dw_min_std_slope > 0:
                return np.where(up, s, -s) + m.dw_min_std * (
                    s + m.dw_min_std_add + m.dw_min_std_slope * np.abs(self.w)) * xi
            s = s * (1.0 + m.dw_min_std * xi) if m.mult_noise else s + m.dw_min_std * self.dw * xi
        return np.where(up, s, -s)

    def reset_devices(self, mask, t: float = 0.0) -> None:
        """RESET the devices of ``mask`` (stuck ones stay): each lands at its reset value
        plus ``reset_std`` noise, within its window."""
        mask = np.asarray(mask, bool) & (self.stuck == 0)
        if not mask.any():
            return
        w = self.reset_w
        if self.model.reset_std > 0:
            w = w + self.model.reset_std * self.rng.standard_normal(self.n)
        self.w = np.where(mask, self._quantise(np.clip(w, self.w_lo, self.w_hi)), self.w)
        self.resets += int(mask.sum())
        self._written(mask, t)

    def pulse_up_to(self, target, mask, max_pulses: int, t: float = 0.0) -> None:
        """Program-and-verify: up-pulses on the devices of ``mask`` until each reaches
        ``target`` (or its window's top, or ``max_pulses``); every pulse is counted."""
        target = np.broadcast_to(np.asarray(target, dtype=np.float64), (self.n,))
        todo = np.asarray(mask, bool) & (self.stuck == 0)
        touched = todo.copy()
        for _ in range(int(max_pulses)):
            todo &= (self.w < target) & (self.step(True) > 0) & (self.w < self.w_hi)
            if not todo.any():
                break
            self.pulses += int(todo.sum())
            w = self.w + self._noisy_step(np.ones(self.n, bool))
            self.w = np.where(todo, np.clip(w, self.w_lo, self.w_hi), self.w)
        if self.model.levels:
            self.w = np.where(touched, self._quantise(self.w), self.w)
        self._written(touched, t)

    def _quantise(self, w):
        L = int(self.model.levels)
        if not L:
            return w
        span = self.w_hi - self.w_lo
        return self.w_lo + np.round((w - self.w_lo) / span * (L - 1)) / (L - 1) * span

    def _written(self, mask, t):
        m = self.model
        if m.write_noise_std > 0:
            fresh = m.write_noise_std * self.dw * self.rng.standard_normal(self.n)
            self.noise = np.where(mask, fresh, self.noise)
        self.t_prog = np.where(mask, float(t), self.t_prog)

    def apparent(self, t: float | None = None) -> np.ndarray:
        """What a read sees: the state plus its write noise, drifted to time ``t`` (s)."""
        w = self.w + self.noise
        if t is not None and np.any(self.nu > 0):
            age = np.maximum(float(t) - self.t_prog, 0.0)
            decay = ((age + self.model.drift_t0) / self.model.drift_t0) ** (-self.nu)
            w = self.w_lo + (w - self.w_lo) * decay
        return w


def pulse_response(model: PulseModel, devices: int, pulses: int, seed: int = 0,
                   start: float | None = None) -> dict:
    """``pulses`` up-pulses then ``pulses`` down-pulses on ``devices`` devices from
    ``start`` (default: the window's middle): ``{"mean": [...], "std": [...]}``, one value
    per pulse, of the weight (the quantity aihwkit's pulse-response plots show)."""
    arr = PulsedArray(model, devices, np.random.default_rng(seed))
    arr.set(0.5 * (model.w_min + model.w_max) if start is None else start)
    mean, std = [], []
    for k in range(2 * pulses):
        arr.pulse(np.ones(devices, np.int64) * (1 if k < pulses else -1))
        w = arr.apparent()
        mean.append(float(w.mean()))
        std.append(float(w.std()))
    return {"mean": mean, "std": std}


def model_from_dict(d: dict, where: str | None = None) -> PulseModel:
    """A :class:`PulseModel` from a TOML ``[device]`` table (unknown keys refused by name)."""
    d = dict(d)
    if "preset" in d:
        name = d.pop("preset")
        if name not in PRESETS:
            raise ConfigError(f"unknown preset {name!r} (known: {', '.join(sorted(PRESETS))})",
                              where, "device.preset")
        d = {**PRESETS[name], **d}
    names = {f.name for f in dataclasses.fields(PulseModel)}
    unknown = sorted(set(d) - names)
    if unknown:
        raise ConfigError(f"unknown key(s) {', '.join(unknown)} (known: {', '.join(sorted(names))})",
                          where, "device")
    try:
        kw = {k: (tuple(v) if isinstance(v, list) else v) for k, v in d.items()}
        return PulseModel(**kw)
    except ConfigError as exc:
        raise ConfigError(exc.reason, where, exc.key) from None


#: Device presets: aihwkit's fits to published measurements, carried across by name.
PRESETS = {
    # ReRAM, soft-bounds fit of Gong et al., "Signal and noise extraction from analog
    # memory elements for neuromorphic computing", Nat. Commun. 9, 2102 (2018),
    # doi:10.1038/s41467-018-04485-1, as aihwkit's ReRamSBPresetDevice (additive noise;
    # the device is assumed calibrated to its symmetry point by a reference device)
    "reram-sb": dict(model="soft-bounds", dw_min=0.002, up_down=0.0, w_max=1.25, w_min=-0.75,
                     mult_noise=False, dw_min_dtod=0.3, up_down_dtod=0.01,
                     w_max_dtod=0.3 / 1.25, w_min_dtod=0.3 / 0.75, dw_min_std=3.75,
                     write_noise_std=56.0),
    # ReRAM, exponential-step fit of the same measurements (Gong et al. 2018), as
    # aihwkit's ReRamESPresetDevice
    "reram-es": dict(model="exp-step", dw_min=0.00135, up_down=0.259359, w_max=1.0,
                     w_min=-1.0, a=-0.5, b=-0.5, gamma_up=5.0, gamma_down=5.0,
                     A_up=-1.18445, A_down=-0.081404, dw_min_dtod=0.2, up_down_dtod=0.05,
                     w_max_dtod=0.3, w_min_dtod=0.3, dw_min_std=5.0, write_noise_std=75.0),
    # PCM (Ge2Sb2Te5 mushroom cells), exponential-step fit of the gradual-SET measurements
    # of Nandakumar et al., "Mixed-precision deep learning based on computational memory",
    # Front. Neurosci. 14, 406 (2020), doi:10.3389/fnins.2020.00406, as aihwkit's
    # PCMPresetDevice: conductance only grows by pulses (one_sided; RESET is abrupt, to
    # about 0.01 of a 0..2 window), with state-dependent cycle-to-cycle noise.  aihwkit
    # uses it as a differential pair with refresh (PCMPresetUnitCell): ``pairs`` here.
    "pcm": dict(model="exp-step", dw_min=0.01, up_down=0.0, w_max=2.0, w_min=0.0, a=-1.0,
                b=0.0, gamma_up=2.5, gamma_down=2.5, A_up=-27.235, A_down=-2.235,
                dw_min_dtod=0.2, up_down_dtod=0.05, w_max_dtod=0.1, w_min_dtod=0.0,
                dw_min_std=0.6, dw_min_std_add=0.042, dw_min_std_slope=0.108,
                write_noise_std=0.0, one_sided=True, reset=0.01, reset_dtod=0.02),
}


def preset(name: str, **overrides) -> PulseModel:
    """A :data:`PRESETS` device, with any parameter overridden."""
    if name not in PRESETS:
        raise ConfigError(f"unknown preset {name!r} (known: {', '.join(sorted(PRESETS))})",
                          None, "device.preset")
    return model_from_dict({**PRESETS[name], **overrides})
