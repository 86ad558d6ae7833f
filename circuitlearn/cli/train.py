"""``circuitlearn train`` and ``circuitlearn demo``: DRNs trained by EP.

``train`` reads a TOML config (sections below) and/or flags (flags win)::

    [model]      hidden = [256]     gain = 30.0   g_min = 0.0   g_max = inf
                 init_gain = 1.0    vth = 0.0     sweeps = 4    output = "single"|"differential"
    [algorithm]  estimator = "centered"|"one-sided"|"negative"|"random"(-sign)
                 nudging = "conductance"|"current"   beta = 1.0
                 loss = "mse"|"xent"   loss_scale = 1.0
    [optim]      lr = [0.1, 0.1]  (one per layer, or one number)  momentum = 0.0  decay = 0.97
    [train]      epochs = 30  batch_size = 8  seed = 0  dataset = "digits"|"mnist"|"fashion-mnist"
                 data_root = ""  device = "simulator"|"numba"|"ngspice"  n_train = 0  n_test = 0
                 eval_batch = 500  n_check = 5 (test inputs re-solved by ngspice on trained.cir)
    [device]     pulsed devices and read-out (circuitlearn.device.programming), and the
                 physical units of the exported deck: g_window = [1e-6, 1e-4] (S, the
                 model's g_max maps to its top), input_range = 0.2 (V, inputs at
                 +-input_range x), sense_resistance = 1e5 (ohm, a sense resistor
                 loading each output); see circuitlearn.device.scaling

It writes into ``--out``: ``results.json`` (config, per-epoch train/test error
and loss, seconds per epoch), ``curves.png`` and ``checkpoint.npz`` (weights,
optimiser state, RNG state, epoch) after every epoch; ``--resume`` continues
from the checkpoint to bit-identical results.  At the end it writes the trained
network as ``trained.cir`` (first test input applied; physical units with
``g_window`` / ``input_range``) and re-solves ``n_check`` test inputs in ngspice.

``demo`` trains a DRN on the digits by centered EP within a memristor-like device
window (:data:`DEMO_MODEL`, :data:`DEMO_DEVICE`), exports it as a SPICE netlist with
physical values, checks a few test predictions in ngspice and prints a JSON summary as
its last stdout line.
"""
from __future__ import annotations

import copy
import math
import os
import sys
import time

import numpy as np

from circuitlearn.errors import BackendError, ConfigError

DEFAULTS = {
    "model": {"hidden": [256], "gain": 30.0, "g_min": 0.0, "g_max": math.inf,
              "init_gain": 1.0, "vth": 0.0, "sweeps": 4, "output": "single"},
    "algorithm": {"estimator": "centered", "nudging": "conductance", "beta": 1.0,
                  "loss": "mse", "loss_scale": 1.0},
    "optim": {"lr": [0.1], "momentum": 0.0, "decay": 0.97},
    "train": {"epochs": 30, "batch_size": 8, "seed": 0, "dataset": "digits", "data_root": "",
              "device": "simulator", "n_train": 0, "n_test": 0, "eval_batch": 500,
              "n_check": 5},
}

CHOICES = {
    ("model", "output"): ("single", "differential"),
    ("algorithm", "estimator"): ("centered", "one-sided", "negative", "random", "random-sign"),
    ("algorithm", "nudging"): ("conductance", "current"),
    ("algorithm", "loss"): ("mse", "xent"),
    ("train", "dataset"): ("digits", "mnist", "fashion-mnist"),
    ("train", "device"): ("simulator", "numba", "ngspice"),
}

#: (section, key) -> (lowest allowed, whether the bound is strict)
LOWER = {
    ("model", "gain"): (0.0, True), ("model", "g_min"): (0.0, False),
    ("model", "g_max"): (0.0, True), ("model", "init_gain"): (0.0, True),
    ("model", "sweeps"): (1, False), ("algorithm", "beta"): (0.0, True),
    ("algorithm", "loss_scale"): (0.0, True), ("optim", "momentum"): (0.0, False),
    ("optim", "decay"): (0.0, True), ("train", "epochs"): (0, False),
    ("train", "batch_size"): (1, False), ("train", "seed"): (0, False),
    ("train", "n_train"): (0, False), ("train", "n_test"): (0, False),
    ("train", "eval_batch"): (1, False), ("train", "n_check"): (0, False),
}

#: the float keys for which infinity means something (no upper clamp)
INFINITE_OK = {("model", "g_max")}

# flag name -> (section, key, parser)
def _floats(s):
    return [float(t) for t in str(s).split(",") if t.strip()]


def _ints(s):
    return [int(t) for t in str(s).split(",") if t.strip()]


FLAGS = {
    "hidden": ("model", "hidden", _ints), "gain": ("model", "gain", float),
    "g_min": ("model", "g_min", float), "g_max": ("model", "g_max", float),
    "init_gain": ("model", "init_gain", float), "sweeps": ("model", "sweeps", int),
    "output": ("model", "output", str),
    "estimator": ("algorithm", "estimator", str), "nudging": ("algorithm", "nudging", str),
    "beta": ("algorithm", "beta", float), "loss": ("algorithm", "loss", str),
    "loss_scale": ("algorithm", "loss_scale", float),
    "lr": ("optim", "lr", _floats), "momentum": ("optim", "momentum", float),
    "decay": ("optim", "decay", float),
    "epochs": ("train", "epochs", int), "batch_size": ("train", "batch_size", int),
    "seed": ("train", "seed", int), "dataset": ("train", "dataset", str),
    "data_root": ("train", "data_root", str), "device": ("train", "device", str),
    "n_train": ("train", "n_train", int), "n_test": ("train", "n_test", int),
    "n_check": ("train", "n_check", int),
}


# ----------------------------------------------------------------- config
def _check_value(sec, key, val, where):
    default = DEFAULTS[sec][key]
    name = f"{sec}.{key}"
    if isinstance(default, list):
        if isinstance(val, (int, float)) and not isinstance(val, bool):
            val = [val]
        if not isinstance(val, list) or not val or not all(
                isinstance(v, (int, float)) and not isinstance(v, bool) for v in val):
            raise ConfigError(f"expected a non-empty list of numbers, got {val!r}", where, name)
        kind = type(default[0])
        if kind is int and any(isinstance(v, float) and not (math.isfinite(v) and v == int(v))
                               for v in val):
            raise ConfigError(f"expected whole numbers, got {val!r}", where, name)
        val = [kind(v) for v in val]
        if any((not math.isfinite(v)) or v < (1 if key == "hidden" else 0) for v in val):
            raise ConfigError(f"values must be finite and >= {1 if key == 'hidden' else 0}, "
                              f"got {val!r}", where, name)
        if key == "hidden" and any(v % 2 for v in val):
            raise ConfigError(f"hidden sizes must be even (two diode halves), got {val!r}",
                              where, name)
        return val
    if isinstance(default, bool):
        ok = isinstance(val, bool)
    elif isinstance(default, int):
        ok = isinstance(val, int) and not isinstance(val, bool)
    elif isinstance(default, float):
        ok = isinstance(val, (int, float)) and not isinstance(val, bool)
        val = float(val) if ok else val
        if ok and math.isnan(val):
            raise ConfigError("NaN is not allowed", where, name)
        if ok and math.isinf(val) and (sec, key) not in INFINITE_OK:
            raise ConfigError(f"must be finite, got {val!r}", where, name)
    else:
        ok = isinstance(val, str)
    if not ok:
        raise ConfigError(f"expected {type(default).__name__}, got {val!r}", where, name)
    if (sec, key) in CHOICES and val not in CHOICES[(sec, key)]:
        raise ConfigError(f"must be one of {', '.join(CHOICES[(sec, key)])}; got {val!r}",
                          where, name)
    if (sec, key) in LOWER:
        lo, strict = LOWER[(sec, key)]
        if val < lo or (strict and val == lo):
            raise ConfigError(f"must be {'>' if strict else '>='} {lo}, got {val!r}", where, name)
    if (sec, key) == ("optim", "momentum") and val >= 1:
        raise ConfigError(f"must be < 1, got {val!r}", where, name)
    if (sec, key) == ("optim", "decay") and val > 1:
        raise ConfigError(f"must be <= 1, got {val!r}", where, name)
    return val


def load_config(path: str | None = None, overrides: dict | None = None,
                device: dict | None = None) -> dict:
    """DEFAULTS, updated by the TOML file at ``path``, then by ``overrides``
    (``{(section, key): value}`` from flags) and ``device`` (``[device]`` keys, from
    ``--device-set``).  Raises ConfigError naming the file and key."""
    cfg = copy.deepcopy(DEFAULTS)
    if path:
        from circuitlearn.errors import read_toml
        data = read_toml(path, "config")
        device_toml = data.pop("device", None)
        for sec, table in data.items():
            if sec not in DEFAULTS:
                raise ConfigError(f"unknown section (known: {', '.join(DEFAULTS)}, device)",
                                  path, sec)
            if not isinstance(table, dict):
                raise ConfigError("expected a table", path, sec)
            for key, val in table.items():
                if key not in DEFAULTS[sec]:
                    raise ConfigError(f"unknown key (known in [{sec}]: "
                                      f"{', '.join(DEFAULTS[sec])})", path, f"{sec}.{key}")
                cfg[sec][key] = _check_value(sec, key, val, path)
    else:
        device_toml = None
    for (sec, key), val in (overrides or {}).items():
        cfg[sec][key] = _check_value(sec, key, val, "command line")
    _check_consistency(cfg, path or "command line")
    from circuitlearn.device.programming import device_table
    from circuitlearn.device.scaling import scale_from_table, window_g_min
    m, where = cfg["model"], path or "command line"
    cfg["device"] = device_table(device_toml, device, m["g_min"], m["g_max"], where)
    m["g_min"] = window_g_min(cfg["device"], m["g_min"], m["g_max"], where)
    if "pairs" in cfg["device"] and cfg["device"]["pairs"] != "inputs":
        drn_pairs(cfg["device"]["pairs"], (2, 1), where)      # the located error
    from circuitlearn.device.scaling import output_load
    output_load(cfg["device"], scale_from_table(cfg["device"], m["g_min"], m["g_max"],
                                                m["gain"], where), where)
    return cfg


def _check_consistency(cfg, where):
    m, a, o = cfg["model"], cfg["algorithm"], cfg["optim"]
    if m["g_max"] < m["g_min"]:
        raise ConfigError(f"g_max ({m['g_max']}) < g_min ({m['g_min']})", where, "model.g_max")
    n_layers = len(m["hidden"]) + 1
    if len(o["lr"]) not in (1, n_layers):
        raise ConfigError(f"give one learning rate or one per layer ({n_layers}), "
                          f"got {len(o['lr'])}", where, "optim.lr")
    if a["nudging"] == "conductance" and (a["loss"] != "mse" or m["output"] != "single"):
        raise ConfigError("nudging by a conductance needs loss = 'mse' with single outputs; "
                          "use nudging = 'current'", where, "algorithm.nudging")
    if cfg["train"]["device"] != "simulator" and a["nudging"] == "conductance":
        raise ConfigError("devices other than the simulator nudge by current only",
                          where, "algorithm.nudging")


# ----------------------------------------------------------------- objects
def build(cfg: dict, n_features: int, n_classes: int):
    """(device, loss, EPConfig, SGDConfig, sizes) from a checked config."""
    from circuitlearn.device.scaling import output_load
    from circuitlearn.device.simulator import CircuitDevice, LayeredSimulator
    from circuitlearn.learn import ep, optim
    from circuitlearn.learn.losses import Loss
    m, a, o, t = cfg["model"], cfg["algorithm"], cfg["optim"], cfg["train"]
    diff = m["output"] == "differential"
    sizes = (2 * n_features, *m["hidden"], n_classes * (2 if diff else 1))
    load = output_load(cfg.get("device") or {}, physical_scale(cfg), "device")
    if t["device"] == "simulator":
        dev = LayeredSimulator(sizes, m["gain"], m["g_min"], m["g_max"], m["vth"], m["sweeps"],
                               load=load)
    else:
        g_min = m["g_min"] if m["g_min"] > 0 else 1e-9
        dev = CircuitDevice(sizes, m["gain"], g_min, m["g_max"], backend=t["device"],
                            diodes="ideal", load=load)
    loss = Loss(a["loss"], diff, a["loss_scale"])
    ep_cfg = ep.EPConfig(a["estimator"], a["nudging"], a["beta"])
    n_layers = len(sizes) - 1
    lrs = o["lr"] * n_layers if len(o["lr"]) == 1 else list(o["lr"])
    sgd = optim.SGDConfig(lrs=tuple(lrs + lrs), momentum=o["momentum"], decay=o["decay"])
    return dev, loss, ep_cfg, sgd, sizes


def init_device(dev, sizes, cfg, rng):
    from circuitlearn.solve.layered import network as ly
    net = ly.make_network(sizes, cfg["model"]["vth"])
    p = ly.init_params(net, rng, cfg["model"]["init_gain"], cfg["model"]["g_min"],
                       cfg["model"]["g_max"])
    dev.set_parameters(p.weights, p.biases)


def load_data(cfg):
    from circuitlearn.data.datasets import load_dataset
    t = cfg["train"]
    ds = load_dataset(t["dataset"], t["data_root"] or None, seed=t["seed"])
    return ds.subset(t["n_train"] or None, t["n_test"] or None)


# ----------------------------------------------------------------- the loop
#: What the demo adds to the defaults: a memristor-like device window of 1 uS - 1 mS
#: (1 kOhm - 1 MOhm) with the model's g_max = 1 at its top, and inputs read within
#: +-0.2 V, so the exported deck has physical values (``--model-units``: without them)
DEMO_MODEL = {("model", "g_max"): 1.0}
DEMO_DEVICE = {"g_window": [1e-6, 1e-3], "input_range": 0.2}

#: DRN keys a resumed run may change; a flag changing any other key is refused
RESUMABLE = {("train", "epochs"), ("optim", "lr"), ("optim", "decay"), ("train", "eval_batch")}


def _resume_config(saved: dict, overrides: dict, device_set: dict | None = None) -> dict:
    """The checkpoint's config with the compatible flag ``overrides`` applied."""
    from circuitlearn.learn.loop import resumed_config
    cfg = resumed_config(saved, overrides, RESUMABLE, device_set)
    _check_consistency(cfg, "command line")
    return cfg


def run_training(cfg, out_dir, resume=False, progress=True, log=print, data=None,
                 overrides=None, device_set=None):
    """Train per ``cfg`` into ``out_dir`` by the library's loop
    (:func:`circuitlearn.learn.loop.fit`); returns (results dict, learner, the config
    trained by -- the checkpoint's on resume -- and the data).

    With ``resume`` the checkpoint's config is used; ``overrides`` (the flags,
    ``{(section, key): value}``) may change the keys in :data:`RESUMABLE`, and any
    other change is refused with a ConfigError."""
    from circuitlearn.learn import loop
    from circuitlearn.learn.learners import LayeredLearner
    ckpt = os.path.join(out_dir, "checkpoint.npz")
    if resume and os.path.exists(ckpt):
        meta, _ = loop.load_checkpoint(ckpt)
        cfg = _resume_config(meta["config"], overrides or {}, device_set)
        cfg["train"]["epochs"] = max(cfg["train"]["epochs"], meta["epoch"])
    ds = data if data is not None else load_data(cfg)
    dev, loss, ep_cfg, sgd_cfg, sizes = build(cfg, ds.n_features, ds.n_classes)
    rng = np.random.default_rng(cfg["train"]["seed"])
    if not resume:
        init_device(dev, sizes, cfg, rng)
    from circuitlearn.device.programming import build_devices
    devices = build_devices(cfg.get("device") or {},
                            sum(a * b for a, b in zip(sizes[:-1], sizes[1:])),
                            cfg["model"]["g_min"], cfg["model"]["g_max"], cfg["train"]["seed"],
                            "device")
    if devices is not None and "pairs" in cfg["device"]:
        devices.programmer.set_pairs(*drn_pairs(cfg["device"]["pairs"], sizes))
    scale = physical_scale(cfg)
    if devices is not None and scale is not None:    # read-out keys in physical volts
        devices.reader = scale.readout(devices.reader)
    learner = LayeredLearner(dev, loss, ep_cfg, cfg["train"]["eval_batch"], devices)
    t = cfg["train"]
    title = (f"DRN {'-'.join(map(str, sizes))} on {t['dataset']} ({t['device']}): "
             f"{cfg['algorithm']['estimator']} EP, {cfg['algorithm']['nudging']} nudging")
    results = loop.fit(learner, (ds.x_train, ds.y_train, ds.x_test, ds.y_test), sgd_cfg, rng,
                       epochs=t["epochs"], batch_size=t["batch_size"], out_dir=out_dir,
                       config=cfg, resume=resume, log=log, progress=progress,
                       extra={"sizes": list(sizes)}, title=title)
    return results, learner, cfg, ds


def drn_pairs(spec, sizes, where="device"):
    """``(plus, minus)`` device indices of ``[device] pairs = "inputs"``: the first layer's
    resistors from input ``x_i`` and from its complement ``-x_i`` into the same node (the
    DRN's differential input pairs); the deeper layers' devices stay single."""
    if spec != "inputs":
        raise ConfigError(f"a DRN pairs its input resistors: pairs = \"inputs\", got {spec!r}",
                          where, "device.pairs")
    n_x, n1 = sizes[0] // 2, sizes[1]
    idx = np.arange(sizes[0] * n1).reshape(sizes[0], n1)
    return idx[:n_x].ravel(), idx[n_x:].ravel()


def physical_scale(cfg):
    """The config's :class:`~circuitlearn.device.scaling.PhysicalScale` (None: model units)."""
    from circuitlearn.device.scaling import scale_from_table
    m = cfg["model"]
    return scale_from_table(cfg.get("device") or {}, m["g_min"], m["g_max"], m["gain"], "device")


def export_and_check(cfg, learner, x_test, out_dir, name, title, log=print) -> dict:
    """Write the trained network as ``out_dir/name`` (the first test input applied, in
    physical units when the config has them) and re-solve ``cfg.train.n_check`` test
    inputs in ngspice; returns the summary's ``netlist`` and ``ngspice`` entries."""
    from circuitlearn.learn import export
    m, scale = cfg["model"], physical_scale(cfg)
    path = os.path.join(out_dir, name)
    with open(path, "w") as fh:
        fh.write(export.drn_deck(learner.device, x_test[0], m["gain"], m["vth"], scale, title))
    out = {"netlist": path}
    if scale is not None:
        out["physical"] = {"g_per_model_siemens": scale.k, "volts_per_model_volt": scale.s}
    if learner.device.load:
        out.setdefault("physical", {})["sense_resistance_ohm"] = float(
            (cfg.get("device") or {})["sense_resistance"])
    n = min(cfg["train"]["n_check"], len(x_test))
    if n > 0:
        try:
            chk = export.ngspice_check(learner.device, learner.loss, m["gain"], x_test[:n],
                                       m["vth"], scale, title)
        except BackendError as exc:
            out["ngspice"] = {"error": str(exc)}
        else:
            out["ngspice"] = chk
            log(f"ngspice: {chk['agree']}/{n} predicted classes agree; max |dV| outputs "
                f"{chk['max_abs_dv_out']:.2e} V, hidden {chk['max_abs_dv_hidden']:.2e} V"
                + (" (physical units)" if scale is not None else ""))
    return out


# ----------------------------------------------------------------- CLI
def _add_model_flags(p):
    g = p.add_argument_group("overrides of the config (section.key)")
    for flag, (sec, key, _) in FLAGS.items():
        g.add_argument("--" + flag.replace("_", "-"), dest="ov_" + flag, default=None,
                       metavar=key.upper(), help=f"[{sec}] {key}")


def _overrides(args):
    ov = {}
    for flag, (sec, key, parse) in FLAGS.items():
        raw = getattr(args, "ov_" + flag, None)
        if raw is None:
            continue
        try:
            ov[(sec, key)] = parse(raw)
        except ValueError:
            raise ConfigError(f"cannot parse {raw!r}", "command line",
                              "--" + flag.replace("_", "-")) from None
    return ov


def add_parser(sub):
    p = sub.add_parser("train", help="train a netlist task or a DRN (EP, coupled learning)",
                       description="Train the circuit of a netlist task (a TOML file with a "
                                   "[circuit] section, see circuitlearn.learn.task) or a deep "
                                   "resistive network by EP (config: TOML and/or flags).")
    p.add_argument("--config", help="TOML config file")
    p.add_argument("--out", default="runs/train", help="output folder (results, checkpoint)")
    p.add_argument("--resume", action="store_true", help="continue from OUT/checkpoint.npz")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    _add_model_flags(p)
    p.add_argument("--device-set", action="append", metavar="KEY=VALUE", default=None,
                   help="a [device] key (pulsed-device physics and read-out, for netlist "
                        "tasks and DRN configs, e.g. preset=reram-sb, levels=16, "
                        "manhattan=true, read_noise_std=1e-3); repeatable")
    p.add_argument("--set", action="append", metavar="SECTION.KEY=VALUE", default=None,
                   help="any config key, e.g. optim.lr=[0.05], model.hidden=[32], "
                        "device.levels=16 (a TOML value); repeatable, wins over the file")
    p.set_defaults(func=run_train)

    d = sub.add_parser("demo", help="train a DRN on digits, export it, check it in ngspice",
                       description="Train a DRN on sklearn digits by centered EP, export "
                                   "the netlist, check predictions in ngspice.")
    d.add_argument("--out", default="runs/demo", help="output folder")
    d.add_argument("--epochs", type=int, default=None)
    d.add_argument("--seed", type=int, default=0)
    d.add_argument("--n-check", type=int, default=10, help="test samples checked in ngspice")
    d.add_argument("--no-ngspice", action="store_true", help="skip the ngspice check")
    d.add_argument("--no-progress", action="store_true")
    d.add_argument("--g-max", type=float, default=None,
                   help="[model] g_max (default 1: the top of the device window)")
    d.add_argument("--device-set", action="append", metavar="KEY=VALUE", default=None,
                   help="a [device] key, as for train (default g_window=[1e-6,1e-3], "
                        "input_range=0.2; e.g. model=soft-bounds, dw_min=0.01); repeatable")
    d.add_argument("--model-units", action="store_true",
                   help="train and export in the published model units (g_max = inf, "
                        "inputs at gain * x volts), no device window")
    d.set_defaults(func=run_demo)


def run_train(args) -> int:
    from circuitlearn.learn.task import is_task_file
    if args.config and is_task_file(args.config):
        from circuitlearn.cli.task import run_task
        return run_task(args, _overrides(args))
    from circuitlearn.cli.task import parse_device_set, parse_sets
    device_set = parse_device_set(args.device_set)
    ov = _overrides(args)
    sets, set_device = parse_sets(args.set, DEFAULTS)
    ov |= sets
    device_set |= set_device
    cfg = load_config(args.config, ov, device_set)
    log = lambda s: print(s, file=sys.stderr)  # noqa: E731
    results, learner, cfg, ds = run_training(cfg, args.out, resume=args.resume, overrides=ov,
                                             progress=not args.no_progress, log=log,
                                             device_set=device_set)
    h = results["epochs"]
    summary = {"out": args.out, "epochs": len(h),
               "test_error": h[-1]["test_error"] if h else None,
               "test_accuracy": 1 - h[-1]["test_error"] if h else None,
               "seconds_per_epoch": float(np.mean([e["seconds"] for e in h])) if h else None}
    summary |= export_and_check(cfg, learner, ds.x_test, args.out, "trained.cir",
                                f"circuitlearn DRN trained on {cfg['train']['dataset']} "
                                "(test sample 0 applied)", log)
    if "device" in results:
        from circuitlearn.device.programming import describe
        summary["device"] = results["device"]
        log(describe(results["device"]))
    from circuitlearn import results as res_json
    res_json.write_summary(os.path.join(args.out, "summary.json"), summary, cfg)
    print(res_json.dumps(summary))
    return 0


def run_demo(args) -> int:
    from circuitlearn.cli.task import parse_device_set
    from circuitlearn.data.datasets import load_digits
    ov = {} if args.model_units else dict(DEMO_MODEL)
    ov |= {("train", "seed"): args.seed, ("train", "n_check"): 0 if args.no_ngspice
           else args.n_check}
    if args.epochs is not None:
        ov[("train", "epochs")] = args.epochs
    if args.g_max is not None:
        ov[("model", "g_max")] = args.g_max
    device = {} if args.model_units else dict(DEMO_DEVICE)
    cfg = load_config(None, ov, device | parse_device_set(args.device_set))
    log = lambda s: print(s, file=sys.stderr)  # noqa: E731
    data = load_digits(seed=0)          # the fixed held-out split
    t0 = time.perf_counter()
    results, learner, cfg, _ = run_training(cfg, args.out, progress=not args.no_progress,
                                            log=log, data=data)
    train_s = time.perf_counter() - t0
    test_err = learner.evaluate(data.x_test, data.y_test)["error"]
    summary = {"test_accuracy": 1 - test_err, "train_seconds": round(train_s, 2),
               "epochs": cfg["train"]["epochs"], "sizes": results["sizes"],
               "n_test": int(len(data.y_test))}
    if "device" in results:
        from circuitlearn.device.programming import describe
        summary["device"] = results["device"]
        log(describe(results["device"]))
    exp = export_and_check(cfg, learner, data.x_test, args.out, "drn_digits.cir",
                           "circuitlearn demo DRN (digits test sample 0)", log)
    if "pred_spice" in exp.get("ngspice", {}):
        chk = exp["ngspice"]
        chk["correct_spice"] = int(np.sum(np.array(chk.pop("pred_spice"))
                                          == data.y_test[:chk["checked"]]))
    summary |= exp
    from circuitlearn import results as res_json
    res_json.write_summary(os.path.join(args.out, "demo.json"), summary, cfg)
    log(f"test accuracy {100 * summary['test_accuracy']:.2f}% on {summary['n_test']} held-out "
        f"digits; trained in {train_s:.1f} s; netlist {summary['netlist']}")
    print(res_json.dumps(summary))
    return 0
