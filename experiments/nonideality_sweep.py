"""What each device non-ideality does to accuracy: a DRN on digits under pulsed devices.

    python experiments/nonideality_sweep.py --out runs/nonideality      (full sweep)
    python experiments/nonideality_sweep.py --smoke                     (CI: tiny)

The circuit is the DRN deck ``netlists/drn_digits_4x4.cir`` (32-16-10, 672 trainable
resistors, ideal diodes) trained by its task ``experiments/configs/drn_digits_4x4.toml``
(current nudging, beta = 0.1) with every trainable resistor a pulsed device (:mod:`circuitlearn.device.physics`,
stochastic rounding of the pulse counts).  The base device is a constant-step device
with 256 levels' worth of step (``dw_min = 2 / 255`` of the ``[-1, 1]`` window); each
sweep changes one thing:

* ``levels``: 4 ... 256 programmable states (the step is one level);
* ``write_noise_std``, ``dw_min_dtod`` (device-to-device step variation), stuck fraction
  (half stuck on, half off), ``up_down`` asymmetry;
* drift: trained with ``drift_nu = 0.05`` (``drift_nu_dtod = 0.02``), evaluated ``t``
  seconds after the last programming;
* ``preset``: the published devices in place of the base one -- ReRAM soft bounds and
  exponential step, PCM as single one-sided devices (RESET and re-SET to go down) and
  PCM with the input resistors as differential pairs (``pairs``, with refresh).

Each setting is trained with centered EP (measured voltages only) and with the exact
gradient (implicit differentiation of the same programmed devices).

``--mnist N`` adds the MNIST DRN-XS row (``experiments/configs/mnist_xs.toml``,
1568-100-10, 157,800 devices): the ``levels`` sweep (``--mnist-levels``) trained by
centered EP on the first ``N`` training images for ``--mnist-epochs`` epochs (default 1)
in a device window whose top is ``g_max =`` :data:`MNIST_G_MAX`, beside the same run
with ideal (continuous) conductances in the same window; tested on the 10,000 test
images.  A pulsed epoch of the full 60,000 images costs about 6 minutes on 2 cores.  Writes
``sweep.json`` and ``sweep.png`` (one panel per non-ideality) to ``--out``; the last
stdout line is one JSON object with at least ``levels`` and ``test_error_vs_levels``
(EP), plus every sweep.
"""
from __future__ import annotations

import argparse
import copy
import json
import os
import sys
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))

from circuitlearn.errors import CircuitLearnError, TrainingError  # noqa: E402
from circuitlearn.learn import learners  # noqa: E402
from circuitlearn.learn.task import build_device, load_task, load_task_data  # noqa: E402
from circuitlearn.results import provenance, write_json  # noqa: E402

CONFIG = os.path.join(HERE, "configs", "drn_digits_4x4.toml")
BASE = {"model": "constant-step", "dw_min": 2.0 / 255, "rounding": "stochastic"}
SWEEPS = {
    "levels": [4, 8, 16, 32, 64, 256],
    "write_noise_std": [0.0, 1.0, 2.0, 5.0],
    "dw_min_dtod": [0.0, 0.2, 0.5],
    "stuck_fraction": [0.0, 0.02, 0.1, 0.2],
    "up_down": [0.0, 0.2, 0.5],
    "drift_time_s": [0.0, 1e2, 1e4, 1e6],
    "preset": ["reram-sb", "reram-es", "pcm", "pcm-pairs"],
}
#: the deck's differential input pairs: r1_i_k (from x_i) with r1_{i+16}_k (from -x_i)
INPUT_PAIRS = [[["r1_[0-9]_*", "r1_1[0-5]_*"], ["r1_1[6-9]_*", "r1_2[0-9]_*", "r1_3[01]_*"]]]
MNIST_CONFIG = os.path.join(HERE, "configs", "mnist_xs.toml")
#: the DRN-XS device window's top (model siemens): a few times the trained weights
MNIST_G_MAX = 0.2
MNIST_LEVELS = [16, 64, 256]
SMOKE = {"levels": [4, 256], "write_noise_std": [2.0], "dw_min_dtod": [0.5],
         "stuck_fraction": [0.2], "up_down": [0.5], "drift_time_s": [0.0, 1e6],
         "preset": ["pcm-pairs"]}


def device_table(name: str, value) -> dict:
    t = dict(BASE)
    if name == "levels":
        t |= {"levels": int(value), "dw_min": 2.0 / (int(value) - 1)}
    elif name == "stuck_fraction":
        t |= {"stuck_on_prob": value / 2, "stuck_off_prob": value / 2}
    elif name == "preset":
        t = {"preset": value.removesuffix("-pairs"), "rounding": "stochastic"}
        if value.endswith("-pairs"):
            t["pairs"] = INPUT_PAIRS
    elif name == "drift_time_s":
        t |= {"drift_nu": 0.05, "drift_nu_dtod": 0.02}
    else:
        t[name] = value
    return t


def run_one(cfg0, data, table, rule, epochs, out_dir, drift_times=(None,)):
    cfg = copy.deepcopy(cfg0)
    cfg["device"] = table
    cfg["algorithm"]["rule"] = rule
    cfg["train"]["epochs"] = epochs
    device = build_device(cfg)
    t0 = time.perf_counter()
    try:
        res = learners.fit_task(cfg, device, data, out_dir, log=lambda s: None)
    except TrainingError as exc:           # a setting that diverges is a result, not a crash
        n = len(drift_times) if drift_times != (None,) else 0
        return {"test_error": [None] * n if n else None, "failed": str(exc),
                "train_seconds": time.perf_counter() - t0, "history": []}
    out = {"train_seconds": time.perf_counter() - t0, "device": device.programmer.report()}
    print(f"  {table}: {out['device']}", file=sys.stderr)
    errs = []
    for t in drift_times:
        if t is not None:                  # read the trained devices t seconds later
            device.programmer.time += t
            device.sync_programmer()
        errs.append(learners.evaluate_task(device, data[2], data[3], learners.task_loss(cfg))
                    ["error"])
        if t is not None:
            device.programmer.time -= t
    out["test_error"] = errs if drift_times != (None,) else errs[0]
    out["history"] = [h["test_error"] for h in res["epochs"]]
    return out


def mnist_row(levels, n_train, epochs, out_dir) -> dict:
    """The MNIST DRN-XS ``levels`` row (EP; see the module docstring)."""
    from circuitlearn.cli.train import load_config, run_training
    r = {"values": list(levels), "ideal": None, "n_train": n_train, "epochs": epochs,
         "g_max": MNIST_G_MAX, "ep": [], "ep_runs": []}
    for lv in [*levels, None]:
        table = None if lv is None else device_table("levels", lv)
        cfg = load_config(MNIST_CONFIG, {("train", "epochs"): epochs,
                                         ("train", "n_train"): n_train,
                                         ("train", "n_check"): 0,
                                         ("model", "g_max"): MNIST_G_MAX}, table)
        t0 = time.perf_counter()
        res, *_ = run_training(cfg, os.path.join(out_dir, f"mnist_levels_{lv or 'ideal'}"),
                               progress=False, log=lambda s: None)
        run = {"test_error": res["epochs"][-1]["test_error"],
               "history": [h["test_error"] for h in res["epochs"]],
               "train_seconds": time.perf_counter() - t0, "device": res.get("device")}
        print(f"mnist levels {lv or 'ideal'}: {100 * run['test_error']:.2f}% "
              f"({run['train_seconds']:.0f} s)", file=sys.stderr)
        if lv is None:
            r["ideal"] = run["test_error"]
        else:
            r["ep"].append(run["test_error"])
            r["ep_runs"].append(run)
    return r


def figure(results, path, rules):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    names = list(results)
    cols = 3
    rows = max(1, -(-len(names) // cols))
    fig, axes = plt.subplots(rows, cols, figsize=(12, 3.5 * rows), squeeze=False)
    for ax in axes.ravel()[len(names):]:
        ax.axis("off")
    for ax, name in zip(axes.ravel(), names):
        r = results[name]
        categorical = any(isinstance(v, str) for v in r["values"])
        xs = np.arange(len(r["values"])) if categorical else r["values"]
        for rule in rules:
            if rule not in r:
                continue
            err = np.array([np.nan if e is None else e for e in r[rule]], dtype=float)
            ax.plot(xs, 100 * err, "o-", label=rule)
        if r.get("ideal") is not None:
            ax.axhline(100 * r["ideal"], color="grey", ls="--", label="ideal conductances")
        if categorical:
            ax.set_xticks(xs, r["values"])
        if name in ("levels", "mnist_levels", "drift_time_s"):
            ax.set_xscale("symlog" if name == "drift_time_s" else "log", **(
                {"linthresh": 1.0} if name == "drift_time_s" else {"base": 2}))
        ax.set_xlabel("levels (MNIST DRN-XS)" if name == "mnist_levels" else name)
        ax.set_ylabel("test error (%)")
        ax.grid(alpha=0.3)
        ax.legend()
    parts = (["DRN 32-16-10 on 4x4 digits (drn_digits_4x4.cir)"] if set(results) - {"mnist_levels"}
             else []) + (["MNIST DRN-XS 1568-100-10"] if "mnist_levels" in results else [])
    fig.suptitle("; ".join(parts) + " under pulsed devices")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--out", default="runs/nonideality")
    p.add_argument("--config", default=CONFIG)
    p.add_argument("--epochs", type=int, default=None, help="default: the task's (15); smoke 1")
    p.add_argument("--rules", default="ep,exact", help="comma-separated: ep, exact, coupled")
    p.add_argument("--smoke", action="store_true", help="two settings per sweep, tiny data")
    p.add_argument("--sweeps", default=None,
                   help=f"comma-separated subset of {', '.join(SWEEPS)} (default: all; "
                        "empty: none, e.g. only --mnist)")
    p.add_argument("--mnist", type=int, default=0, metavar="N",
                   help="add the MNIST DRN-XS levels row on N training images (0: no)")
    p.add_argument("--mnist-epochs", type=int, default=1)
    p.add_argument("--mnist-levels", default=",".join(map(str, MNIST_LEVELS)))
    args = p.parse_args(argv)
    rules = [r.strip() for r in args.rules.split(",") if r.strip()]
    chosen = list(SWEEPS) if args.sweeps is None else \
        [t.strip() for t in args.sweeps.split(",") if t.strip()]
    unknown = sorted(set(chosen) - set(SWEEPS))
    if unknown:
        print(f"nonideality_sweep: error: --sweeps: unknown {', '.join(unknown)} (known: "
              f"{', '.join(SWEEPS)})", file=sys.stderr)
        return 2
    try:
        cfg = load_task(args.config)
        cfg["train"]["n_check"] = 0
        # current nudging: conductance nudging's -beta phase is unstable on outputs whose
        # devices a coarse grid rounds down (4 levels put most of them at g_min)
        cfg["algorithm"]["nudging"], cfg["algorithm"]["beta"] = "current", 0.1
        data = load_task_data(cfg)
        sweeps = {k: v for k, v in (SMOKE if args.smoke else SWEEPS).items() if k in chosen}
        epochs = args.epochs or (1 if args.smoke else cfg["train"]["epochs"])
        if args.smoke:
            data = (data[0][:48], data[1][:48], data[2][:40], data[3][:40], *data[4:])
        os.makedirs(args.out, exist_ok=True)
        results = {}
        for name, values in sweeps.items():
            r = {"values": values}
            for rule in rules:
                run_dir = os.path.join(args.out, f"{name}_{rule}")
                if name == "drift_time_s":
                    one = run_one(cfg, data, device_table(name, 0), rule, epochs, run_dir,
                                  tuple(values))
                    r[rule] = one["test_error"]
                    r[f"{rule}_runs"] = [one]
                    continue
                runs = [run_one(cfg, data, device_table(name, v), rule, epochs,
                                os.path.join(run_dir, str(v))) for v in values]
                r[rule] = [x["test_error"] for x in runs]
                r[f"{rule}_runs"] = runs
                print(f"{name} {rule}: " + ", ".join(
                    f"{v}: " + ("failed" if e is None else f"{100 * e:.1f}%")
                    for v, e in zip(values, r[rule])), file=sys.stderr)
            results[name] = r
        if args.mnist:
            results["mnist_levels"] = mnist_row(
                [int(v) for v in args.mnist_levels.split(",")], args.mnist, args.mnist_epochs,
                args.out)
        summary = {"rules": rules, "epochs": epochs, "n_train": int(len(data[0])),
                   "n_test": int(len(data[2]))} if set(results) - {"mnist_levels"} else {}
        if "levels" in results:
            summary = {"levels": results["levels"]["values"],
                       "test_error_vs_levels": results["levels"][rules[0]]} | summary
        summary |= {f"{name}_{rule}": results[name][rule] for name in results for rule in rules
                    if rule in results[name]}
        if "mnist_levels" in results:
            m = results["mnist_levels"]
            summary |= {"mnist_levels": m["values"], "mnist_test_error_vs_levels": m["ep"],
                        "mnist_test_error_ideal": m["ideal"], "mnist_n_train": m["n_train"]}
        write_json(os.path.join(args.out, "sweep.json"),
                   {"summary": summary, "results": results, "provenance": provenance()})
        figure(results, os.path.join(args.out, "sweep.png"), rules)
    except CircuitLearnError as exc:
        print(f"nonideality_sweep: error: {exc}", file=sys.stderr)
        return 1
    print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())
