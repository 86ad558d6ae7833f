"""``circuitlearn train --config TASK.toml`` for a task over the user's own netlist.

A TOML file with a ``[circuit]`` section is a netlist task
(:mod:`circuitlearn.learn.task`); this module maps the command's flags onto
its keys, runs :func:`circuitlearn.learn.learners.fit_task` (the library's one
training loop, :func:`circuitlearn.learn.loop.fit`), writes the trained deck
and checks a few predictions in ngspice.  The last stdout line is one JSON
object: ``test_error`` (classification) or ``test_mse`` and
``initial_test_mse`` (regression), ``netlist`` (the trained deck), ``out``.
"""
from __future__ import annotations

import os
import sys
import time

from circuitlearn.errors import ConfigError

#: train-command flag -> (section, key) of a netlist task
TASK_FLAGS = {
    "epochs": ("train", "epochs"), "batch_size": ("train", "batch_size"),
    "seed": ("train", "seed"), "lr": ("optim", "lr"), "momentum": ("optim", "momentum"),
    "decay": ("optim", "decay"), "beta": ("algorithm", "beta"),
    "estimator": ("algorithm", "estimator"), "nudging": ("algorithm", "nudging"),
    "loss": ("algorithm", "loss"), "device": ("circuit", "backend"),
    "n_check": ("train", "n_check"),
}


def task_overrides(drn_overrides: dict) -> dict:
    """The train command's ``{(section, key): value}`` (DRN names) as task keys."""
    from circuitlearn.cli.train import FLAGS
    by_flag = {(sec, key): flag for flag, (sec, key, _) in FLAGS.items()}
    out = {}
    for (sec, key), val in drn_overrides.items():
        flag = by_flag[(sec, key)]
        if flag not in TASK_FLAGS:
            raise ConfigError(f"--{flag.replace('_', '-')} is a DRN option; a netlist task "
                              "declares its circuit in [circuit]", "command line",
                              "--" + flag.replace("_", "-"))
        if flag == "lr":
            if len(val) != 1:
                raise ConfigError("a netlist task takes one learning rate", "command line",
                                  "--lr")
            val = val[0]
        if flag == "device" and val == "simulator":
            val = "numba"
        out[TASK_FLAGS[flag]] = val
    return out


def run_task(args, drn_overrides: dict) -> int:
    from circuitlearn.learn import learners, loop
    from circuitlearn.learn.task import DEFAULTS, build_device, load_task, load_task_data
    from circuitlearn.netlist.writer import write_netlist
    overrides = task_overrides(drn_overrides)
    device_set = parse_device_set(getattr(args, "device_set", None))
    sets, set_device = parse_sets(getattr(args, "set", None), DEFAULTS)
    overrides |= sets
    device_set |= set_device
    cfg = load_task(args.config, overrides, device_set)
    if args.resume:
        ckpt = os.path.join(args.out, "checkpoint.npz")
        if os.path.exists(ckpt):
            meta, _ = loop.load_checkpoint(ckpt)
            cfg = loop.resumed_config(meta["config"], overrides, learners.TASK_RESUMABLE,
                                      device_set)
    log = lambda s: print(s, file=sys.stderr)  # noqa: E731
    device = build_device(cfg)
    data = load_task_data(cfg)
    learner = learners.task_learner(cfg, device, data[0].shape[1])
    t0 = time.perf_counter()
    res = learners.fit_task(cfg, device, data, args.out, resume=args.resume, log=log,
                            progress=not args.no_progress, learner=learner)
    seconds = time.perf_counter() - t0
    path = os.path.join(args.out, "trained.cir")
    with open(path, "w") as fh:
        fh.write(write_netlist(device.trained_circuit().to_netlist()))
    h, init = res["epochs"], res["initial"]["test"]
    summary = {"out": args.out, "netlist": path, "epochs": len(h), "rule": cfg["algorithm"]["rule"],
               "backend": device.backend, "train_seconds": round(seconds, 3)}
    if learner.names != learners.NetlistLearner.names:
        summary["model"] = "ff-ebm"       # digital layers, then the circuit
    last = h[-1] if h else {f"test_{k}": v for k, v in init.items()}
    if "error" in init:
        summary |= {"test_error": last["test_error"], "initial_test_error": init["error"]}
    else:
        summary |= {"test_mse": last["test_mse"], "initial_test_mse": init["mse"]}
    if "device" in res:
        from circuitlearn.device.programming import describe
        summary["device"] = res["device"]
        log(describe(res["device"]))
    if cfg["train"]["n_check"] > 0:
        summary["ngspice"] = learners.ngspice_check(device, learner.circuit_inputs(data[2]),
                                                    cfg["train"]["n_check"])
    from circuitlearn import results
    results.write_summary(os.path.join(args.out, "summary.json"), summary, cfg)
    print(results.dumps(summary))
    return 0


def parse_sets(items, defaults: dict) -> tuple[dict, dict]:
    """``["section.key=value", ...]`` (``--set``) as ``({(section, key): value}, {device
    key: value})``; values read as TOML values (``0.1``, ``[16]``, ``true``, ``"mse"``),
    else as strings; an unknown section or key is a located error."""
    out, device = {}, {}
    for item in items or []:
        name, sep, raw = item.partition("=")
        sec, dot, key = name.strip().partition(".")
        if not sep or not dot or not sec or not key:
            raise ConfigError(f"expected SECTION.KEY=VALUE, got {item!r}", "command line",
                              "--set")
        val = _toml_value(raw)
        if sec == "device":
            device[key] = val
        elif sec not in defaults:
            raise ConfigError(f"unknown section {sec!r} (known: {', '.join(defaults)}, device)",
                              "command line", f"--set {name.strip()}")
        elif key not in defaults[sec]:
            raise ConfigError(f"unknown key (known in [{sec}]: {', '.join(defaults[sec])})",
                              "command line", f"--set {name.strip()}")
        else:
            out[(sec, key)] = val
    return out, device


def _toml_value(raw: str):
    import tomllib
    try:
        return tomllib.loads(f"v = {raw.strip()}")["v"]
    except tomllib.TOMLDecodeError:
        return raw.strip()


def parse_device_set(items) -> dict:
    """``["key=value", ...]`` (``--device-set``) as a table; values read as TOML values
    (``16``, ``0.3``, ``true``), else as strings (``preset=reram-sb``)."""
    out = {}
    for item in items or []:
        key, sep, raw = item.partition("=")
        key = key.strip()
        if not sep or not key:
            raise ConfigError(f"expected KEY=VALUE, got {item!r}", "command line", "--device-set")
        out[key] = _toml_value(raw)
    return out
