"""``circuitlearn plot RUN_DIR...``: figures of one or more training runs.

Each ``RUN_DIR`` is a ``train`` output folder (``results.json``; ``checkpoint.npz`` and
``trained.cir`` when present) or a sweep folder (every run under its ``runs/``).  Writes
into ``--out`` (default: the first folder): ``curves.png`` (the runs' learning curves
overlaid: log error axis, test solid, train running averages dashed, final figures in
the legend; regression runs in ``curves_regression.png``), and per run ``conductances_<run>.png`` (histograms and layer heatmaps of
the trained conductances) and ``voltages_<run>.png`` (node voltages of its trained deck).
The last stdout line is one JSON object listing the files (see :mod:`circuitlearn.plots`).
"""
from __future__ import annotations

import json
import os
import re

from circuitlearn.errors import DataError


def add_parser(sub) -> None:
    p = sub.add_parser("plot", help="figures of training runs (curves, conductances, voltages)",
                       description="Overlay the learning curves of train/sweep output folders "
                                   "and draw each run's conductances and node voltages.")
    p.add_argument("runs", nargs="+", metavar="RUN_DIR", help="train or sweep output folders")
    p.add_argument("--out", default=None, help="folder for the figures (default: the first "
                                               "RUN_DIR)")
    p.add_argument("--no-voltages", action="store_true", help="skip the node-voltage maps "
                                                              "(they solve each trained deck)")
    p.set_defaults(func=run)


def _run_dirs(paths) -> list[str]:
    out = []
    for p in paths:
        if os.path.isfile(os.path.join(p, "results.json")):
            out.append(p)
        elif os.path.isdir(os.path.join(p, "runs")):
            subs = sorted(d for d in (os.path.join(p, "runs", x) for x in os.listdir(
                os.path.join(p, "runs"))) if os.path.isfile(os.path.join(d, "results.json")))
            if not subs:
                raise DataError(f"{p}: a sweep folder without finished runs")
            out += subs
        else:
            raise DataError(f"{p}: no results.json (not a train output folder) and no runs/ "
                            "(not a sweep folder)")
    return out


def _load(d: str) -> dict:
    path = os.path.join(d, "results.json")
    try:
        with open(path) as fh:
            res = json.load(fh)
    except (OSError, json.JSONDecodeError) as exc:
        raise DataError(f"{path}: not readable as JSON ({exc})") from None
    if not isinstance(res, dict) or not isinstance(res.get("epochs"), list):
        raise DataError(f"{path}: not a circuitlearn results file (no epochs list)")
    return res


def _arrays(d: str, res: dict):
    """``([(name, conductances), ...], labels)`` of a run: a DRN's layers from its
    checkpoint; a netlist task's trainable resistors from its trained deck, as a crossbar
    matrix when they join two disjoint node sets (rows x columns)."""
    import numpy as np
    cfg = res.get("config") or {}
    deck = os.path.join(d, "trained.cir")
    if "circuit" in cfg and os.path.exists(deck):
        from circuitlearn import plots
        from circuitlearn.compile import compile_netlist
        from circuitlearn.device.netlist_device import match_trainable
        from circuitlearn.netlist import read_netlist
        c = compile_netlist(read_netlist(deck))
        try:
            idx = match_trainable(c.resistor_names, cfg["circuit"].get("trainable", ["*"]))
        except KeyError:
            idx = np.arange(len(c.resistor_names))
        pairs = [(c.node_names[a], c.node_names[b]) for a, b in c.resistor_nodes[idx]]
        g = c.conductance[idx]
        xbar = plots.crossbar_matrix(pairs, g)
        if xbar is not None:
            return [("crossbar", xbar[0])], [(xbar[1], xbar[2])]
        return [("trainable resistors", g)], None
    path = os.path.join(d, "checkpoint.npz")
    if not os.path.exists(path):
        return [], None
    from circuitlearn.learn.loop import load_checkpoint
    _, arrays = load_checkpoint(path)
    ws = sorted((k for k in arrays if re.fullmatch(r"w\d+", k)), key=lambda k: int(k[1:]))
    if ws:
        return [(f"layer {int(k[1:]) + 1}", np.asarray(arrays[k])) for k in ws], None
    return ([("trainable resistors", np.asarray(arrays["g"]))] if "g" in arrays else []), None


def run(args) -> int:
    from circuitlearn import plots, results
    dirs = _run_dirs(args.runs)
    out = args.out or args.runs[0]
    os.makedirs(out, exist_ok=True)
    runs = [(os.path.basename(os.path.normpath(d)), _load(d)) for d in dirs]
    files = {"curves": [], "conductances": [], "voltages": []}
    for clf, name in ((True, "curves.png"), (False, "curves_regression.png")):
        group = [r for r in runs if plots.is_classification(r[1]) == clf]
        if group:      # error rates and mean squared errors get a figure each
            files["curves"].append(os.path.join(out, name))
            plots.curves(group, files["curves"][-1])
    for d, (label, res) in zip(dirs, runs):
        tag = re.sub(r"[^A-Za-z0-9=,._-]+", "_", label)
        arrays, labels = _arrays(d, res)
        if arrays:
            f = os.path.join(out, f"conductances_{tag}.png")
            plots.conductances(arrays, f, f"{label}: {plots.run_title(res)}", labels)
            files["conductances"].append(f)
        deck = os.path.join(d, "trained.cir")
        if not args.no_voltages and os.path.exists(deck):
            f = os.path.join(out, f"voltages_{tag}.png")
            plots.voltages(deck, f)
            files["voltages"].append(f)
    print(results.dumps({"runs": len(runs), **files}))
    return 0
