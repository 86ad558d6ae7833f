"""Every learning rule on one circuit and one data set, with what the hardware pays for each.

The circuit is the deep resistive network deck ``netlists/drn_digits_4x4.cir`` (32 input
sources, 16 hidden nodes with ideal diodes, 10 outputs, 672 trainable resistors) and the data
are sklearn's digits pooled to 4x4 (``experiments/configs/drn_digits_4x4.toml``: the same
split for every rule).  Each rule trains through the netlist device's bench verbs
(:mod:`circuitlearn.learn.rules`, :mod:`circuitlearn.learn.forward_only`,
:mod:`circuitlearn.learn.ffebm`) for ``--epochs`` epochs with its own settings (``RULES``:
the learning rate and the rule's knobs, found by short runs; everything else is the task
file's).  The device counts what it did during training (:mod:`circuitlearn.device.costs`;
evaluation is not counted): settles (phases), node-voltage reads, conductance writes and the
energy dissipated in the resistors while each settled state is held ``--settle-time`` s.

Rows:

* ``ep-centered``, ``ep-one-sided`` -- EP by a conductance ``beta`` to the targets;
* ``coupled`` -- coupled learning (outputs clamped at ``(1-eta) v_F + eta t``);
* ``weight-perturbation``, ``node-perturbation`` -- zeroth order, antithetic pairs;
* ``activation-relaxation``, ``pepita``, ``forward-forward`` -- forward-only rules;
* ``exact`` -- implicit differentiation of the circuit as programmed (a digital twin: only the
  free settle is a bench cost);
* ``ff-ebm`` -- two digital layers (32 -> 64 -> 32, tanh) in front of the same circuit, EP in
  the circuit, softmax cross-entropy; its ``cosine_vs_implicit`` is the cosine similarity of
  the chained EP gradient with implicit differentiation of the whole chain (beta = 1e-5,
  16 test samples, after training).  Its digital arithmetic is not in the hardware costs.
  ``ff-ebm-exact`` is the same chain trained with the exact gradient (seed 003 compares EP
  chaining against implicit differentiation the same way).

The variance of the zeroth-order estimates is measured apart (``zo_variance``): on one
batch of 8 training samples at the initial conductances, for 1, 4, 16 and 64 directions,
the mean cosine with the exact gradient and the relative error ``E|g_est - g|^2 / |g|^2``
over ``--zo-repeats`` independent estimates, for weight and node perturbation.

Writes ``compare_rules.md`` (the table), ``compare_rules.json`` (rows, curves, settings,
provenance) and ``compare_rules.png`` (test error per epoch; settles and energy per sample)
to ``--out``; each rule's run folder is ``--out/<rule>``.  The last stdout line is one JSON
object: per rule ``test_error``, ``settles_per_sample``, ``reads_per_sample``,
``writes_per_sample``, ``energy_per_sample_J``, ``seconds``; ``ff-ebm`` adds
``cosine_vs_implicit``; ``out`` names the folder.

    python experiments/compare_rules.py [--epochs 10] [--rules ep-centered,pepita] [--smoke]
"""
from __future__ import annotations

import argparse
import os
import sys
import time

import numpy as np

from circuitlearn import bundled, results
from circuitlearn.learn import learners
from circuitlearn.learn.task import build_device, load_task, load_task_data

TASK = "drn_digits_4x4.toml"

#: rule -> overrides of the task file ({"section.key": value})
RULES = {
    "ep-centered": {},
    "ep-one-sided": {"algorithm.estimator": "one-sided"},
    "coupled": {"algorithm.rule": "coupled", "algorithm.eta": 0.1},
    "weight-perturbation": {"algorithm.rule": "weight-perturbation", "algorithm.samples": 16,
                            "algorithm.perturbation": 1e-3, "optim.lr": 0.001},
    "node-perturbation": {"algorithm.rule": "node-perturbation", "algorithm.samples": 16,
                          "algorithm.node_perturbation": 1e-6},
    "activation-relaxation": {"algorithm.rule": "activation-relaxation", "algorithm.beta": 1e-3},
    "pepita": {"algorithm.rule": "pepita", "algorithm.feedback_scale": 0.02},
    "forward-forward": {"algorithm.rule": "forward-forward", "algorithm.target_scale": 4.0,
                        "optim.lr": 3e-4},
    "exact": {"algorithm.rule": "exact"},
    "ff-ebm": {"digital.front": 2, "digital.hidden": 64, "digital.lr": 0.1,
               "algorithm.nudging": "current", "algorithm.beta": 0.01, "algorithm.loss": "xent",
               "algorithm.scale": 20.0, "optim.momentum": 0.5, "optim.decay": 0.97},
}
RULES["ff-ebm-exact"] = RULES["ff-ebm"] | {"algorithm.rule": "exact"}
ZO_SAMPLES = (1, 4, 16, 64)
#: --smoke: fewer perturbation samples (the row still runs the rule)
SMOKE = {"weight-perturbation": {"algorithm.samples": 2},
         "node-perturbation": {"algorithm.samples": 2}}


def run_rule(name, overrides, epochs, out, settle_time, n_train=None, n_test=None):
    """Train one rule; its row of the table."""
    o = {tuple(k.split(".", 1)): v for k, v in overrides.items()}
    o |= {("train", "epochs"): epochs, ("train", "n_check"): 0}
    cfg = load_task(bundled.example(TASK), o)
    device = build_device(cfg)
    device.costs.settle_time = settle_time
    x_tr, t_tr, x_te, t_te = load_task_data(cfg)
    data = (x_tr[:n_train], t_tr[:n_train], x_te[:n_test], t_te[:n_test])
    learner = learners.task_learner(cfg, device, data[0].shape[1])
    t0 = time.perf_counter()
    res = learners.fit_task(cfg, device, data, os.path.join(out, name), log=lambda s: None,
                            learner=learner)
    seconds = time.perf_counter() - t0
    n = epochs * len(data[0])
    c = device.costs.snapshot()
    h = res["epochs"]
    row = {"test_error": h[-1]["test_error"] if h else res["initial"]["test"]["error"],
           "initial_test_error": res["initial"]["test"]["error"], "epochs": len(h),
           "seconds": round(seconds, 2),
           "settles_per_sample": c["sample_settles"] / n, "reads_per_sample": c["reads"] / n,
           "writes_per_sample": c["writes"] / n, "energy_per_sample_J": c["energy_J"] / n,
           "curve": [e["test_error"] for e in h], "settings": overrides}
    if name.startswith("ff-ebm"):
        from circuitlearn.learn.ep import EPConfig
        chain = learner.chain
        analog = [b for b in chain.blocks if b.kind == "analog"][0]
        analog.ep = EPConfig("centered", "current", 1e-5)
        cos = chain.cosine(data[2][:16], data[3][:16])
        row["cosine_vs_implicit"] = cos["all"]
        row["cosine_per_block"] = {k: v for k, v in cos.items() if k != "all"}
    return row


def zo_variance(samples, repeats: int, batch: int = 8) -> dict:
    """Cosine and relative error of weight and node perturbation against the exact gradient
    (one batch, the task's initial conductances), per number of directions."""
    from circuitlearn.learn import rules
    cfg = load_task(bundled.example(TASK))
    device = build_device(cfg)
    x, t = load_task_data(cfg)[:2]
    x, t = x[:batch], t[:batch]
    loss = learners.task_loss(cfg)
    exact = rules.exact_gradient(device, x, t, loss)
    n2 = float(exact @ exact)
    c = cfg["circuit"]
    est = {"weight-perturbation": lambda S, rng: rules.weight_perturbation_step(
               device, x, t, loss, 1e-3 * (c["g_max"] - c["g_min"]), S, rng).grad,
           "node-perturbation": lambda S, rng: rules.node_perturbation_step(
               device, x, t, loss, 1e-6, S, rng).grad}
    out = {}
    for name, f in est.items():
        rows = []
        for S in samples:
            cos, rel = [], []
            for k in range(repeats):
                g = f(S, np.random.default_rng([S, k]))
                cos.append(float(g @ exact / np.sqrt(n2 * float(g @ g))))
                rel.append(float((g - exact) @ (g - exact)) / n2)
            rows.append({"samples": S, "settles": 1 + 2 * S, "cosine_mean": float(np.mean(cos)),
                         "cosine_std": float(np.std(cos)), "relative_error": float(np.mean(rel))})
        out[name] = rows
    out["parameters"] = {"weights": int(device.n_trainable),
                         "free_nodes": int(device.free_nodes.size), "batch": batch,
                         "repeats": repeats}
    return out


def zo_table(zo) -> str:
    lines = ["| rule | directions | settles per step | cosine with exact (mean ± std) | "
             "E|g - g_exact|² / |g_exact|² |", "|---|---|---|---|---|"]
    for name in ("weight-perturbation", "node-perturbation"):
        for r in zo[name]:
            lines.append(f"| {name} | {r['samples']} | {r['settles']} | {r['cosine_mean']:.3f} ± "
                         f"{r['cosine_std']:.3f} | {r['relative_error']:.3g} |")
    return "\n".join(lines) + "\n"


def table(rows) -> str:
    head = ("| rule | test error | epochs | wall s | settles / sample | reads / sample | "
            "writes / sample | energy / sample (J) |\n|---|---|---|---|---|---|---|---|\n")
    lines = []
    for name, r in rows.items():
        extra = f" (cos vs implicit {r['cosine_vs_implicit']:.6f})" \
            if name == "ff-ebm" else ""
        twin = " (digital twin)" if name == "exact" else ""
        lines.append(f"| {name}{twin}{extra} | {100 * r['test_error']:.2f} % | {r['epochs']} | "
                     f"{r['seconds']:.1f} | {r['settles_per_sample']:.3g} | "
                     f"{r['reads_per_sample']:.4g} | {r['writes_per_sample']:.4g} | "
                     f"{r['energy_per_sample_J']:.3g} |")
    return head + "\n".join(lines) + "\n"


def figure(rows, path):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(1, 3, figsize=(15, 4.5))
    for name, r in rows.items():
        ax[0].plot(range(1, len(r["curve"]) + 1), 100 * np.array(r["curve"]), marker="o",
                   ms=3, label=name)
    ax[0].set(xlabel="epoch", ylabel="test error (%)", yscale="log",
              title="digits 4x4 on the 32-16-10 DRN deck")
    ax[0].legend(fontsize=7)
    names = list(rows)
    for a, key, lab in ((ax[1], "settles_per_sample", "settles per training sample"),
                        (ax[2], "energy_per_sample_J", "energy per training sample (J)")):
        a.barh(names, [rows[n][key] for n in names])
        a.set(xscale="log", xlabel=lab)
        a.tick_params(axis="y", labelsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--out", default="results/compare_rules")
    p.add_argument("--epochs", type=int, default=10)
    p.add_argument("--rules", default=",".join(RULES),
                   help=f"comma-separated subset of {', '.join(RULES)}")
    p.add_argument("--settle-time", type=float, default=1e-6,
                   help="seconds each settled state is held (energy = power x this)")
    p.add_argument("--smoke", action="store_true",
                   help="1 epoch on 200 training and 100 test samples (CI)")
    p.add_argument("--zo-repeats", type=int, default=20,
                   help="independent estimates per point of the variance measurement")
    args = p.parse_args(argv)
    names = [n.strip() for n in args.rules.split(",") if n.strip()]
    bad = [n for n in names if n not in RULES]
    if bad or args.epochs < 1 or not args.settle_time > 0:
        print(f"compare_rules: unknown rule {bad[0]!r} (known: {', '.join(RULES)})" if bad
              else "compare_rules: need --epochs >= 1 and --settle-time > 0", file=sys.stderr)
        return 2
    epochs = 1 if args.smoke else args.epochs
    n_train, n_test = (200, 100) if args.smoke else (None, None)
    os.makedirs(args.out, exist_ok=True)
    rows = {}
    for name in names:
        over = RULES[name] | (SMOKE.get(name, {}) if args.smoke else {})
        rows[name] = run_rule(name, over, epochs, args.out, args.settle_time, n_train, n_test)
        r = rows[name]
        print(f"{name}: test error {100 * r['test_error']:.2f} % after {r['epochs']} epochs, "
              f"{r['seconds']:.1f} s, {r['settles_per_sample']:.3g} settles and "
              f"{r['energy_per_sample_J']:.3g} J per sample", file=sys.stderr)
    zo = zo_variance(ZO_SAMPLES[:2] if args.smoke else ZO_SAMPLES,
                     2 if args.smoke else args.zo_repeats)
    md = table(rows)
    with open(os.path.join(args.out, "compare_rules.md"), "w") as fh:
        fh.write(f"Rules compared on {TASK} ({epochs} epochs, settle time "
                 f"{args.settle_time:g} s)\n\n" + md + "\nZeroth-order estimates against the "
                 "exact gradient\n\n" + zo_table(zo))
    results.write_json(os.path.join(args.out, "compare_rules.json"),
                       {"task": TASK, "epochs": epochs, "settle_time_s": args.settle_time,
                        "smoke": args.smoke, "rows": rows, "zo_variance": zo,
                        "provenance": results.provenance()})
    figure(rows, os.path.join(args.out, "compare_rules.png"))
    print(md + "\n" + zo_table(zo), file=sys.stderr)
    keys = ("test_error", "settles_per_sample", "reads_per_sample", "writes_per_sample",
            "energy_per_sample_J", "seconds", "cosine_vs_implicit")
    last = {n: {k: r[k] for k in keys if k in r} for n, r in rows.items()}
    print(results.dumps(last | {"out": args.out}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
