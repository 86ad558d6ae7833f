"""SPICE-in-the-loop: one small DRN trained by EP on three devices, side by side.

The library's training loop (:func:`circuitlearn.learn.loop.fit` through
:func:`train_run`, written against the :class:`~circuitlearn.device.base.Device`
interface only) trains the same
network -- same initial conductances, same data order, same hyper-parameters --
on:

* ``ideal``: the fast :class:`~circuitlearn.device.simulator.LayeredSimulator`
  (ideal diodes, relaxed to convergence);
* ``shockley``: :class:`~circuitlearn.device.simulator.CircuitDevice` solved by
  the numba Shockley solver with the builders' near-ideal diode ``.model``
  (``is = 1e-12``, ``n = 0.01``);
* ``ngspice``: the same ``CircuitDevice`` circuit and diode model, every
  operating point solved by ngspice (shared library, tight tolerances).

EP: centered estimator, nudging by currents injected at the outputs (the one
form all three devices offer), MSE on the output voltages, plain SGD.  Data:
sklearn digits average-pooled to 4x4 (16 pixels -> 32 input nodes at
``gain * [x, -x]``), the fixed digits train/test split.

After every epoch it records, for each device, train and test accuracy (free
phase, argmax of the outputs), the test predictions, the weights and biases, and
the seconds spent training (and evaluating); then, for each pair of devices,
the largest absolute and the relative (Frobenius) gap of the conductances and
the fraction of test predictions that agree.  ngspice vs numba-Shockley solve
the same equations, so their gap measures solver disagreement carried through
training; ideal vs Shockley is the gap of the diode *model*.  A control run
(``--control-eps``) trains the ideal device from the initial conductances plus
noise of 1e-13 S: SGD on this network amplifies tiny differences (much faster
with ideal diodes, whose active set switches), so the control shows which part
of a weight gap any perturbation would have produced.

Writes ``spice_in_the_loop.json`` and ``spice_in_the_loop.png`` into ``--out``
(and each device's checkpoint, results and curves into ``--out/<device>``) and prints a JSON summary as its last stdout line.

    python experiments/spice_in_the_loop.py            # full run (a few minutes)
    python experiments/spice_in_the_loop.py --smoke    # seconds
"""
from __future__ import annotations

import argparse
import cProfile
import io
import json
import os
import pstats
import sys
import time

import numpy as np

from circuitlearn.data.datasets import load_digits
from circuitlearn.device.simulator import CircuitDevice, LayeredSimulator
from circuitlearn.learn import ep, loop, optim
from circuitlearn.learn.learners import LayeredLearner
from circuitlearn.learn.losses import Loss
from circuitlearn.solve.layered import network as ly
from circuitlearn.results import provenance, write_json

DEVICES = ("ideal", "shockley", "ngspice")
PAIRS = (("ngspice", "shockley"), ("shockley", "ideal"), ("ngspice", "ideal"),
         ("ideal_perturbed", "ideal"))


# ------------------------------------------------------------------ devices
def make_device(kind: str, sizes, gain: float, g_min: float):
    """The only place that knows which device is which."""
    if kind == "ideal":
        return LayeredSimulator(sizes, gain=gain, g_min=g_min, sweeps=1_000_000, tol=1e-13,
                                warm_start=False)
    if kind == "shockley":
        return CircuitDevice(sizes, gain=gain, g_min=g_min, backend="numba", diodes="shockley",
                             solve_kwargs={"tol": 1e-12})
    if kind == "ngspice":
        return CircuitDevice(sizes, gain=gain, g_min=g_min, backend="ngspice", diodes="shockley")
    raise ValueError(f"unknown device {kind!r}; choose from {DEVICES}")


# ------------------------------------------------------------------ data
def pooled_digits(n_train: int | None, n_test: int | None):
    """Digits average-pooled 8x8 -> 4x4 (values stay in [0, 1])."""
    d = load_digits()

    def pool(x):
        return x.reshape(-1, 4, 2, 4, 2).mean(axis=(2, 4)).reshape(-1, 16)

    return (pool(d.x_train)[:n_train], d.y_train[:n_train],
            pool(d.x_test)[:n_test], d.y_test[:n_test])


# ------------------------------------------------------------------ the loop
def train_run(device, init_w, init_b, data, loss: Loss, ep_cfg: ep.EPConfig,
              sgd_cfg: optim.SGDConfig, epochs: int, batch_size: int, seed: int, out_dir: str,
              profile: bool = False):
    """Train ``device`` from the given parameters by the library's loop
    (:func:`circuitlearn.learn.loop.fit`, checkpoints in ``out_dir``); device-agnostic.

    Returns a list of per-epoch records (epoch 0 = the initial network) with the
    accuracies, test predictions and parameters after each epoch.  With ``profile``
    the first epoch (its training and the loop's test pass) is cProfile'd."""
    xtr, ytr, xte, yte = data
    device.set_parameters(init_w, init_b)
    learner = LayeredLearner(device, loss, ep_cfg, eval_batch=100)
    rng = np.random.default_rng(seed)          # data order: the same for every device
    records = []
    prof = cProfile.Profile() if profile else None

    def snapshot(epoch, lr, rec):
        if prof is not None and epoch == 1:
            prof.disable()
        t0 = time.perf_counter()
        ptr, pte = learner.predict(xtr), learner.predict(xte)
        records.append({
            "epoch": epoch, "train_acc": float(np.mean(ptr == ytr)),
            "test_acc": float(np.mean(pte == yte)),
            "train_seconds": rec["seconds"] if rec else 0.0,
            "eval_seconds": time.perf_counter() - t0,
            "running_train_acc": None if rec is None else 1.0 - rec["train_error"],
            "pred_test": pte, "weights": device.conductances(), "biases": device.biases()})
        if prof is not None and epoch == 1:
            records[-1]["profile"] = _profile_table(prof)
        if prof is not None and epoch == 0:
            prof.enable()

    loop.fit(learner, data, sgd_cfg, rng, epochs=epochs, batch_size=batch_size, out_dir=out_dir,
             config={"device": type(device).__name__, "sizes": list(device.sizes)},
             log=lambda m: None, on_epoch=snapshot)
    return records


def _profile_table(prof, n: int = 14) -> list:
    """Top functions by cumulative time: [[seconds, calls, 'file:line(func)'], ...]."""
    st = pstats.Stats(prof, stream=io.StringIO())
    rows = []
    for (fn, line, name), (cc, nc, tt, ct, _) in st.stats.items():
        rows.append([ct, nc, f"{os.path.basename(fn)}:{line}({name})", tt])
    rows.sort(key=lambda r: -r[0])
    return [[round(ct, 4), nc, where, round(tt, 4)] for ct, nc, where, tt in rows[:n]]


# ------------------------------------------------------------------ comparison
def weight_gap(wa, wb):
    """(max |Wa - Wb| over all layers, ||Wa - Wb||_F / ||Wb||_F)."""
    diff = np.concatenate([(a - b).ravel() for a, b in zip(wa, wb)])
    ref = np.concatenate([b.ravel() for b in wb])
    return float(np.max(np.abs(diff))), float(np.linalg.norm(diff) / np.linalg.norm(ref))


def compare(runs: dict) -> dict:
    """Per pair and epoch: weight/bias gaps and test-prediction agreement."""
    out = {}
    for a, b in PAIRS:
        if a not in runs or b not in runs:
            continue
        rows = []
        for ra, rb in zip(runs[a], runs[b]):
            wmax, wrel = weight_gap(ra["weights"], rb["weights"])
            bmax = float(max(np.max(np.abs(x - y)) for x, y in zip(ra["biases"], rb["biases"])))
            rows.append({"epoch": ra["epoch"], "w_max_abs": wmax, "w_rel": wrel,
                         "b_max_abs": bmax,
                         "pred_agreement": float(np.mean(ra["pred_test"] == rb["pred_test"])),
                         "test_acc_diff": ra["test_acc"] - rb["test_acc"]})
        out[f"{a}_vs_{b}"] = rows
    return out


def plot(path, runs, gaps):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 4))
    colors = {"ideal": "C0", "shockley": "C1", "ngspice": "C2"}
    styles = {"ideal": "-", "shockley": "-", "ngspice": ":"}
    for kind, recs in runs.items():
        if kind not in colors:
            continue
        e = [r["epoch"] for r in recs]
        ax1.plot(e, [r["test_acc"] for r in recs], styles[kind], marker="o", color=colors[kind],
                 label=f"{kind}: test")
        ax1.plot(e, [r["train_acc"] for r in recs], styles[kind], marker="x", color=colors[kind],
                 alpha=0.5, label=f"{kind}: train")
    ax1.set_xlabel("epoch")
    ax1.set_ylabel("accuracy")
    ax1.set_title("digits 4x4, same init / data order / hyper-parameters")
    ax1.legend(fontsize=7)
    ax1.grid(alpha=0.3)
    labels = {"ngspice_vs_shockley": "ngspice vs numba-Shockley (solver)",
              "shockley_vs_ideal": "numba-Shockley vs ideal (diode model)",
              "ngspice_vs_ideal": "ngspice vs ideal",
              "ideal_perturbed_vs_ideal": "control: ideal, init + tiny noise"}
    for i, (name, rows) in enumerate(gaps.items()):
        e = [r["epoch"] for r in rows]
        ok = [k for k, r in enumerate(rows) if r["w_rel"] > 0]
        c = f"C{i}"
        ax2.semilogy([e[k] for k in ok], [rows[k]["w_rel"] for k in ok], "o-", color=c,
                     label=f"{labels.get(name, name)}: ||dW||/||W||")
        ax2.semilogy([e[k] for k in ok], [rows[k]["w_max_abs"] for k in ok], "x--", color=c,
                     alpha=0.6, label="  max |dW| (S)")
    ax2.xaxis.get_major_locator().set_params(integer=True)
    ax1.xaxis.get_major_locator().set_params(integer=True)
    ax2.set_xlabel("epoch")
    ax2.set_title("weight gap between devices")
    ax2.legend(fontsize=7)
    ax2.grid(alpha=0.3, which="both")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


# ------------------------------------------------------------------ main
def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--out", default="results/spice_in_the_loop")
    p.add_argument("--smoke", action="store_true", help="tiny run (seconds): CI")
    p.add_argument("--devices", default=",".join(DEVICES))
    p.add_argument("--epochs", type=int, default=5)
    p.add_argument("--n-train", type=int, default=None, help="default: all 1437 (smoke: 48)")
    p.add_argument("--n-test", type=int, default=None, help="default: all 360 (smoke: 60)")
    p.add_argument("--hidden", type=int, default=16)
    p.add_argument("--gain", type=float, default=12.0)
    p.add_argument("--g-min", type=float, default=1e-3)
    p.add_argument("--beta", type=float, default=0.1)
    p.add_argument("--lr", type=float, default=0.02)
    p.add_argument("--momentum", type=float, default=0.9)
    p.add_argument("--batch-size", type=int, default=8)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--control-eps", type=float, default=1e-13,
                   help="control run: the ideal device from the initial conductances plus "
                        "uniform noise of this size (S), to show how much training itself "
                        "amplifies a tiny difference; 0 = no control run")
    p.add_argument("--profile", action="store_true",
                   help="cProfile the first epoch of each device (top functions in the JSON)")
    args = p.parse_args(argv)
    if args.smoke:
        args.epochs = min(args.epochs, 2)
        args.n_train = args.n_train or 48
        args.n_test = args.n_test or 60
    kinds = [k.strip() for k in args.devices.split(",") if k.strip()]
    for k in kinds:
        if k not in DEVICES:
            p.error(f"unknown device {k!r}; choose from {', '.join(DEVICES)}")

    data = pooled_digits(args.n_train, args.n_test)
    sizes = (2 * data[0].shape[1], args.hidden, 10)
    rng = np.random.default_rng(args.seed)
    init = ly.init_params(ly.make_network(sizes), rng, g_min=args.g_min)
    init_w = [W.copy() for W in init.weights]
    init_b = [np.zeros(n) for n in sizes[1:]]
    loss = Loss("mse")
    ep_cfg = ep.EPConfig("centered", "current", args.beta)
    sgd_cfg = optim.SGDConfig(lrs=(args.lr,), momentum=args.momentum)

    runs, load0 = {}, os.getloadavg()
    for kind in kinds:
        warm = make_device(kind, sizes, args.gain, args.g_min)   # JIT / library load
        warm.set_parameters(init_w, init_b)
        ep.free_phase(warm, data[0][:2])
        t0 = time.perf_counter()
        runs[kind] = train_run(make_device(kind, sizes, args.gain, args.g_min), init_w, init_b,
                               data, loss, ep_cfg, sgd_cfg, args.epochs, args.batch_size,
                               args.seed, os.path.join(args.out, kind), args.profile)
        r = runs[kind][-1]
        print(f"{kind:9s} test {r['test_acc']:.3f} train {r['train_acc']:.3f} "
              f"({time.perf_counter() - t0:.1f} s)", file=sys.stderr)
    if "ideal" in kinds and args.control_eps > 0:
        noise = np.random.default_rng(args.seed + 1)
        pert_w = [W + args.control_eps * noise.uniform(-1, 1, W.shape) for W in init_w]
        runs["ideal_perturbed"] = train_run(make_device("ideal", sizes, args.gain, args.g_min),
                                            pert_w, init_b, data, loss, ep_cfg, sgd_cfg,
                                            args.epochs, args.batch_size, args.seed,
                                            os.path.join(args.out, "ideal_perturbed"))
    gaps = compare(runs)

    def epoch_s(kind):
        """Median training seconds per epoch (a cProfile'd epoch is left out when others exist)."""
        recs = runs[kind][1:]
        plain = [r["train_seconds"] for r in recs if "profile" not in r]
        return float(np.median(plain or [r["train_seconds"] for r in recs])) if recs else 0.0

    summary = {
        "smoke": args.smoke, "sizes": list(sizes), "epochs": args.epochs,
        "n_train": len(data[1]), "n_test": len(data[3]),
        "final_test_acc": {k: v[-1]["test_acc"] for k, v in runs.items()},
        "final_train_acc": {k: v[-1]["train_acc"] for k, v in runs.items()},
        "initial_test_acc": {k: v[0]["test_acc"] for k, v in runs.items()},
        "seconds_per_epoch": {k: epoch_s(k) for k in kinds},
        "eval_seconds": {k: float(np.median([r["eval_seconds"] for r in runs[k]])) for k in kinds},
    }
    for name, rows in gaps.items():
        summary[f"max_weight_gap_{name}"] = max(r["w_max_abs"] for r in rows)
        summary[f"rel_weight_gap_{name}"] = max(r["w_rel"] for r in rows)
        summary[f"max_bias_gap_{name}"] = max(r["b_max_abs"] for r in rows)
        summary[f"min_pred_agreement_{name}"] = min(r["pred_agreement"] for r in rows)
        rel = [r["w_rel"] for r in rows[1:]]
        if len(rel) > 1 and rel[0] > 0:   # geometric-mean growth of the relative gap per epoch
            summary[f"gap_growth_per_epoch_{name}"] = (rel[-1] / rel[0]) ** (1 / (len(rel) - 1))
    s = summary["seconds_per_epoch"]
    if "ngspice" in s and "ideal" in s and s["ideal"] > 0:
        summary["speed_ratio_ngspice_over_ideal"] = s["ngspice"] / s["ideal"]
    if "ngspice" in s and "shockley" in s and s["shockley"] > 0:
        summary["speed_ratio_ngspice_over_shockley"] = s["ngspice"] / s["shockley"]

    os.makedirs(args.out, exist_ok=True)
    result = {
        "config": {k: v for k, v in vars(args).items()} | {
            "sizes": list(sizes), "loss": "mse", "estimator": "centered", "nudging": "current",
            "optimizer": "sgd (momentum)", "data": "digits avg-pooled to 4x4, fixed split",
            "diode_model": "is=1e-12 n=0.01 (shockley, ngspice); ideal: vth=0"},
        "summary": summary,
        "epochs": {k: [{kk: vv for kk, vv in r.items()
                        if kk not in ("pred_test", "weights", "biases")} for r in v]
                   for k, v in runs.items()},
        "gaps": gaps,
        "final_weights": {k: [W.tolist() for W in v[-1]["weights"]] for k, v in runs.items()},
        "loadavg_start": list(load0), "loadavg_end": list(os.getloadavg()),
    }
    write_json(os.path.join(args.out, "spice_in_the_loop.json"),
               result | {"provenance": provenance()})
    plot(os.path.join(args.out, "spice_in_the_loop.png"), runs, gaps)
    print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())
