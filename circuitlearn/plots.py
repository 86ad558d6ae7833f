"""Figures of training runs, for a lab notebook.

* :func:`curves` -- test error (%) or test MSE on a log axis, and the loss, per epoch
  (epoch 0: before training), one colour per run; test curves solid, train curves
  dashed and named for what they are: running averages over the epoch's batches (free
  phases, weights still moving), not a re-evaluation;
* :func:`conductances` -- per layer (DRN) or for the trainable resistors (netlist
  task): a histogram of the trained conductances (log-spaced bins) and, for a layer
  matrix or a crossbar, a heatmap;
* :func:`voltages` -- the node voltages of a trained deck (``trained.cir``, its first
  test input applied) as ngspice-comparable DC values: one heat row per DRN layer, or a
  bar per node for any other deck.

:command:`circuitlearn plot RUN_DIR...` draws them for one or more run folders.
"""
from __future__ import annotations

import os
import re

import numpy as np


def _plt():
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    return plt


def run_title(res: dict) -> str:
    """What a run trained: network and data (DRN) or the task file, and its rule."""
    cfg = res.get("config") or {}
    if "circuit" in cfg:
        a = cfg.get("algorithm", {})
        return (f"{os.path.basename(cfg.get('task_file', 'task'))}: {a.get('rule', '?')} "
                f"on {cfg['circuit'].get('backend', '?')}")
    sizes = res.get("sizes")
    net = "-".join(map(str, sizes)) if sizes else "DRN"
    t, a = cfg.get("train", {}), cfg.get("algorithm", {})
    return (f"DRN {net} on {t.get('dataset', '?')}: {a.get('estimator', '?')} EP, "
            f"{a.get('nudging', '?')} nudging")


def _final(res: dict) -> str:
    h = res.get("epochs") or []
    if not h:
        return "not trained"
    last = h[-1]
    if last.get("test_error") is not None:
        return f"{100 * last['test_error']:.2f} % after {last['epoch']} epochs"
    if last.get("test_mse") is not None:
        return f"MSE {last['test_mse']:.3g} after {last['epoch']} epochs"
    return f"{last['epoch']} epochs"


def is_classification(res: dict) -> bool:
    """Whether a run's results are error rates (else mean squared errors)."""
    h = res.get("epochs") or []
    if h:
        return "test_error" in h[0]
    return "error" in ((res.get("initial") or {}).get("test") or {})


def curves(runs, path: str, title: str | None = None) -> None:
    """Overlay the learning curves of ``runs`` (``[(label, results.json dict), ...]``, all
    classification or all regression)."""
    kinds = {is_classification(r) for _, r in runs}
    if len(kinds) > 1:
        raise ValueError("curves() overlays runs of one kind: classification or regression")
    plt = _plt()
    many = len(runs) > 4                     # the legend goes below the panels
    rows = -(-len(runs) // 2) if many else 0
    fig, ax = plt.subplots(1, 2, figsize=(10, 3.8 + 0.2 * rows))
    clf = kinds.pop()
    for k, (label, res) in enumerate(runs):
        c = f"C{k % 10}"
        h = res.get("epochs") or []
        init = (res.get("initial") or {}).get("test")
        ep = [e["epoch"] for e in h]
        ep0 = ([0] if init else []) + ep
        name = f"{label}: {_final(res)}" if len(runs) > 1 else f"test ({_final(res)})"
        if clf:
            test = ([init["error"]] if init else []) + [e["test_error"] for e in h]
            ax[0].plot(ep0, [100 * v for v in test], "s-", color=c, ms=3, label=name)
            if h and "train_error" in h[0]:
                ax[0].plot(ep, [100 * e["train_error"] for e in h], "--", color=c, alpha=0.7,
                           label=None if len(runs) > 1 else "train (running average)")
        else:
            test = ([init["mse"]] if init else []) + [e["test_mse"] for e in h]
            ax[0].plot(ep0, test, "s-", color=c, ms=3, label=name)
        ax[1].plot(ep0, ([init["loss"]] if init else []) + [e["test_loss"] for e in h], "s-",
                   color=c, ms=3, label="test" if len(runs) == 1 else None)
        if h:
            ax[1].plot(ep, [e["train_loss"] for e in h], "--", color=c, alpha=0.7,
                       label="train (running average)" if len(runs) == 1 else None)
    ax[0].set_ylabel("test error (%)" if clf else "test MSE")
    ax[0].set_yscale("log")
    ax[1].set_ylabel("loss")
    ax[1].set_yscale("log")
    for a in ax:
        a.set_xlabel("epoch (0: before training)")
        a.grid(alpha=0.3, which="both")
        if a.get_legend_handles_labels()[0] and not (many and a is ax[0]):
            a.legend(fontsize=8)
    if many:
        fig.legend(*ax[0].get_legend_handles_labels(), loc="lower center", ncol=2, fontsize=7)
    if len(runs) > 1:
        ax[1].text(0.99, 0.98, "solid: test; dashed: train (running average over the epoch)",
                   transform=ax[1].transAxes, ha="right", va="top", fontsize=7)
    fig.suptitle(title or (run_title(runs[0][1]) if len(runs) == 1 else
                           f"{len(runs)} runs: " + "; ".join(sorted({run_title(r)
                                                                      for _, r in runs}))),
                 fontsize=9)
    fig.tight_layout(rect=(0, (0.2 * rows + 0.1) / (3.8 + 0.2 * rows) if many else 0, 1, 1))
    fig.savefig(path, dpi=110)
    plt.close(fig)


def conductances(arrays, path: str, title: str = "", labels=None) -> None:
    """Histograms (and heatmaps of 2-D arrays) of ``[(name, conductances), ...]`` (S);
    ``labels``: per array, ``(row names, column names)`` of its heatmap, or None."""
    plt = _plt()
    mats = [(n, a) for n, a in arrays if np.ndim(a) == 2]
    cols = len(arrays)
    rows = 2 if mats else 1
    fig, axes = plt.subplots(rows, cols, figsize=(4.2 * cols, 3.4 * rows), squeeze=False)
    for j, (name, a) in enumerate(arrays):
        v = np.asarray(a, dtype=float).ravel()
        v = v[np.isfinite(v)]
        ax = axes[0, j]
        pos = v[v > 0]
        if pos.size and pos.max() / pos.min() > 20:
            bins = np.geomspace(pos.min(), pos.max(), 40)
            ax.set_xscale("log")
            ax.hist(pos, bins=bins)
            zero = int(np.sum(v <= 0))
            if zero:
                ax.set_title(f"{name} ({zero} at 0 not shown)", fontsize=9)
        else:
            ax.hist(v, bins=40)
        if not ax.get_title():
            ax.set_title(f"{name}: {v.size} conductances", fontsize=9)
        ax.set_xlabel("conductance (S)")
        ax.set_ylabel("count")
        if mats:
            ax2 = axes[1, j]
            if np.ndim(a) == 2:
                im = ax2.imshow(np.asarray(a, dtype=float), aspect="auto", cmap="viridis",
                                interpolation="nearest")
                fig.colorbar(im, ax=ax2, label="S")
                names = labels[j] if labels else None
                if names and len(names[0]) <= 40 and len(names[1]) <= 40:
                    ax2.set_yticks(range(len(names[0])), names[0], fontsize=7)
                    ax2.set_xticks(range(len(names[1])), names[1], fontsize=7)
                ax2.set_xlabel("to node (column)" if names else "to node")
                ax2.set_ylabel("from node (row)" if names else "from node")
                ax2.set_title(f"{name} ({a.shape[0]} x {a.shape[1]})", fontsize=9)
            else:
                ax2.axis("off")
    if title:
        fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def crossbar_matrix(pairs, g):
    """The conductances ``g`` of resistors joining node ``pairs`` ``[(a, b), ...]`` as a
    crossbar matrix ``(matrix, row_nodes, col_nodes)`` when they join two disjoint node
    sets, one resistor per crossing (NaN where none); None otherwise."""
    rows = sorted({a for a, _ in pairs})
    cols = sorted({b for _, b in pairs})
    if set(rows) & set(cols) or len(set(pairs)) != len(pairs) or len(rows) < 2 or len(cols) < 1:
        return None
    m = np.full((len(rows), len(cols)), np.nan)
    for (a, b), v in zip(pairs, g):
        m[rows.index(a), cols.index(b)] = v
    return m, rows, cols


_LAYER = [("inputs", re.compile(r"x(\d+)$")), ("hidden {}", re.compile(r"h(\d+)_(\d+)$")),
          ("outputs", re.compile(r"o(\d+)$"))]


def voltages(deck: str, path: str, diodes: str = "ideal") -> dict:
    """Node-voltage map of ``deck`` solved at its own source values; returns
    ``{node: volts}``."""
    from circuitlearn.compile import compile_netlist
    from circuitlearn.netlist import read_netlist
    from circuitlearn.solve import solve
    c = compile_netlist(read_netlist(deck))
    res = solve(c, c.default_sources()[None], diodes=diodes)
    v = {n: float(res.voltages[0, i]) for i, n in enumerate(c.node_names) if n != "0"}
    layers: dict[str, list] = {}
    for n, val in v.items():
        for label, rx in _LAYER:
            m = rx.fullmatch(n)
            if m:
                key = label.format(m.group(1)) if "{}" in label else label
                layers.setdefault(key, []).append((int(m.groups()[-1]), val))
                break
    plt = _plt()
    drn = layers and sum(len(x) for x in layers.values()) == len(v)
    if drn:
        order = ["inputs"] + sorted((k for k in layers if k.startswith("hidden")),
                                    key=lambda k: int(k.split()[1])) + ["outputs"]
        order = [k for k in order if k in layers]
        fig, axes = plt.subplots(len(order), 1, figsize=(10, 1.3 * len(order) + 0.8),
                                 squeeze=False)
        for ax, k in zip(axes[:, 0], order):      # each layer on its own scale
            row = np.array([val for _, val in sorted(layers[k])])[None, :]
            lim = float(np.max(np.abs(row))) or 1.0
            im = ax.imshow(row, aspect="auto", cmap="coolwarm", vmin=-lim, vmax=lim,
                           interpolation="nearest")
            ax.set_yticks([0], [k])
            ax.set_xlabel("node index", fontsize=8)
            fig.colorbar(im, ax=ax, label="V", pad=0.01)
    else:
        names = sorted(v)
        fig, ax = plt.subplots(figsize=(max(5, 0.35 * len(names)), 3.5))
        ax.bar(range(len(names)), [v[n] for n in names])
        ax.set_xticks(range(len(names)), names, rotation=60, fontsize=7)
        ax.set_ylabel("V")
        ax.grid(alpha=0.3)
    fig.suptitle(f"node voltages of {os.path.basename(deck)} ({diodes} diodes, "
                 f"{'converged' if res.success else 'NOT converged'})", fontsize=9)
    fig.savefig(path, dpi=110, bbox_inches="tight")
    plt.close(fig)
    return v
