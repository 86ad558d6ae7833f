"""Sweeps: many trainings, config keys x seeds, run on dask.distributed.

A sweep file (TOML)::

    base = "config.toml"            # a training config (DRN or netlist task), relative
                                    # to this file (a bundled name works too: "digits")
    seeds = [0, 1, 2]               # train.seed of each run (default [0])

    [grid]                          # every combination of these values
    "optim.lr" = [[0.05], [0.1]]
    "device.levels" = [16, 64]

    [random]                        # optional: random settings beside the grid points
    samples = 4                     # how many
    seed = 0                        # of the sampler (default 0)
    "algorithm.beta" = {log_uniform = [0.01, 1.0]}
    "optim.decay" = {uniform = [0.9, 1.0]}
    "model.hidden" = {choice = [[16], [32]]}

Keys are ``section.key`` of the base config (``device.*`` are ``[device]`` keys); values
are what the TOML file would hold.  A setting is one grid point or one random sample;
every setting runs once per seed.

Each run is ``circuitlearn train --config BASE --set KEY=VALUE ... --out
DIR/runs/RUN_ID`` (the same ``results.json``, ``checkpoint.npz``, ``trained.cir`` and
``summary.json``): the run id names the setting, carries a hash of its values and the
seed, so it is stable when the sweep file is edited or reordered.  A rerun skips runs
with a ``summary.json``, resumes runs with a checkpoint, and retries failed ones; a run
that fails (a diverging setting, an ngspice error) is recorded with its message
(``failed.json``), never fatal to the sweep.  Every setting is checked before anything
is submitted (a bad key or value is an error naming the sweep file and key).

Aggregated (:func:`aggregate`) per setting over its seeds: mean and sample std of the
final ``test_error`` (classification) or ``test_mse`` (regression), runs done and
failed, mean training seconds -- written as ``table.csv`` and ``table.json`` -- and a
figure ``sweep.png`` (per swept key: mean +- std band over the runs with each value,
marginal over the other keys).

Runs execute on a :class:`~dask.distributed.LocalCluster` of ``workers`` processes on
this machine (loopback only, no dashboard, one thread each and numba/BLAS limited to
one thread per run), or on an existing cluster given by its scheduler address.
"""
from __future__ import annotations

import contextlib
import csv
import hashlib
import io
import itertools
import json
import math
import os
import re
import time

import numpy as np

from circuitlearn import results
from circuitlearn.errors import ConfigError, read_toml

DISTRIBUTIONS = ("uniform", "log_uniform", "choice")


# ----------------------------------------------------------------- the sweep file
def load_sweep(path: str) -> dict:
    """``{"path", "base", "seeds", "settings": [{key: value}, ...], "keys"}`` of a sweep
    file, checked (ConfigError naming the file and key)."""
    data = read_toml(path, "sweep file")
    unknown = sorted(set(data) - {"base", "seeds", "grid", "random"})
    if unknown:
        raise ConfigError("unknown key (known: base, seeds, [grid], [random])", path, unknown[0])
    if not isinstance(data.get("base"), str) or not data["base"]:
        raise ConfigError("missing: the training config to sweep (a path relative to the "
                          "sweep file)", path, "base")
    from circuitlearn import bundled
    base = os.path.join(os.path.dirname(os.path.abspath(path)), data["base"])
    if not os.path.exists(base):
        base = bundled.lookup(data["base"], "configs") or base
    if not os.path.isfile(base):
        raise ConfigError(f"no such config: {base}", path, "base")
    seeds = data.get("seeds", [0])
    if not (isinstance(seeds, list) and seeds and all(
            isinstance(s, int) and not isinstance(s, bool) and s >= 0 for s in seeds)) \
            or len(set(seeds)) != len(seeds):
        raise ConfigError(f"expected a list of distinct whole numbers >= 0, got {seeds!r}", path,
                          "seeds")
    grid = data.get("grid", {})
    if not isinstance(grid, dict):
        raise ConfigError("expected a table of \"section.key\" = [values]", path, "grid")
    for key, values in grid.items():
        _check_key(key, path, "grid")
        if not isinstance(values, list) or not values:
            raise ConfigError(f"expected a non-empty list of values, got {values!r}", path,
                              f"grid.{key}")
    settings = [dict(zip(grid, combo)) for combo in itertools.product(*grid.values())] \
        if grid else []
    rand = data.get("random")
    if rand is not None:
        settings += _random_settings(rand, path)
    if not settings:
        settings = [{}]
    keys = sorted({k for s in settings for k in s})
    return {"path": os.path.abspath(path), "base": os.path.abspath(base), "seeds": seeds,
            "settings": settings, "keys": keys}


def _check_key(key, path, table):
    sec, dot, name = key.partition(".")
    if not dot or not sec or not name:
        raise ConfigError("keys are \"section.key\" of the base config", path, f"{table}.{key}")


def _random_settings(rand, path) -> list:
    if not isinstance(rand, dict):
        raise ConfigError("expected a table", path, "random")
    n, seed = rand.get("samples"), rand.get("seed", 0)
    for name, v in (("samples", n), ("seed", seed)):
        if not isinstance(v, int) or isinstance(v, bool) or v < (1 if name == "samples" else 0):
            raise ConfigError(f"expected a whole number {'>= 1' if name == 'samples' else '>= 0'}"
                              f", got {v!r}", path, f"random.{name}")
    specs = {k: v for k, v in rand.items() if k not in ("samples", "seed")}
    if not specs:
        raise ConfigError("no keys to sample", path, "random")
    for key, spec in specs.items():
        _check_key(key, path, "random")
        where = f"random.{key}"
        if not isinstance(spec, dict) or len(spec) != 1 or next(iter(spec)) not in DISTRIBUTIONS:
            raise ConfigError(f"expected one of {{uniform = [lo, hi]}}, {{log_uniform = [lo, "
                              f"hi]}}, {{choice = [values]}}, got {spec!r}", path, where)
        kind, arg = next(iter(spec.items()))
        if kind == "choice":
            if not isinstance(arg, list) or not arg:
                raise ConfigError("choice needs a non-empty list", path, where)
        elif not (isinstance(arg, list) and len(arg) == 2 and all(
                isinstance(a, (int, float)) and not isinstance(a, bool) and math.isfinite(a)
                for a in arg) and arg[0] < arg[1] and (kind == "uniform" or arg[0] > 0)):
            raise ConfigError(f"{kind} needs [lo, hi] with lo < hi" +
                              (" and lo > 0" if kind == "log_uniform" else ""), path, where)
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        s = {}
        for key, spec in specs.items():
            kind, arg = next(iter(spec.items()))
            if kind == "choice":
                s[key] = arg[int(rng.integers(len(arg)))]
            elif kind == "uniform":
                s[key] = float(rng.uniform(arg[0], arg[1]))
            else:
                s[key] = float(np.exp(rng.uniform(np.log(arg[0]), np.log(arg[1]))))
        out.append(s)
    return out


def toml_value(v) -> str:
    """``v`` as a TOML inline value (numbers, strings, booleans and lists of them)."""
    if isinstance(v, float) and math.isinf(v):
        return "inf" if v > 0 else "-inf"
    if isinstance(v, list):
        return "[" + ", ".join(toml_value(x) for x in v) + "]"
    return json.dumps(v)


def train_args(base: str, setting: dict, seed: int, run_dir: str, resume: bool) -> list:
    """The ``circuitlearn train`` command line of one run."""
    args = ["train", "--config", base, "--out", run_dir, "--no-progress"]
    for key, val in setting.items():
        args += ["--set", f"{key}={toml_value(val)}"]
    args += ["--set", f"train.seed={seed}"]
    return args + (["--resume"] if resume else [])


def check_settings(sweep: dict) -> None:
    """Build each setting's config as ``train`` would (nothing is trained): a bad key or
    value is a ConfigError naming the sweep file and the setting."""
    from circuitlearn.cli.task import parse_sets
    from circuitlearn.cli.train import DEFAULTS as DRN_DEFAULTS
    from circuitlearn.cli.train import load_config
    from circuitlearn.learn.task import DEFAULTS as TASK_DEFAULTS
    from circuitlearn.learn.task import is_task_file, load_task
    task = is_task_file(sweep["base"])
    for s in sweep["settings"]:
        sets = [f"{k}={toml_value(v)}" for k, v in s.items()]
        try:
            ov, dev = parse_sets(sets, TASK_DEFAULTS if task else DRN_DEFAULTS)
            (load_task if task else load_config)(sweep["base"], ov, dev)
        except ConfigError as exc:
            raise ConfigError(f"setting {s}: {exc}", sweep["path"], "grid") from None


def run_id(setting: dict, seed: int) -> str:
    """A folder name for one run: the setting's values, a hash of them, the seed."""
    text = json.dumps(setting, sort_keys=True)
    digest = hashlib.sha1(text.encode()).hexdigest()[:8]
    words = ""
    for k, v in sorted(setting.items()):          # whole key=value pairs, up to 60 characters
        word = re.sub(r"[^A-Za-z0-9=._-]+", "", f"{k.rpartition('.')[2]}={_plain(v)}")
        if len(words) + len(word) + 1 > 60:
            break
        words = f"{words},{word}" if words else word
    return f"{words or 'base'}-{digest}_seed{seed}"


def _plain(v) -> str:
    """A value as a table cell or a folder name shows it (strings without quotes)."""
    return v if isinstance(v, str) else toml_value(v)


# ----------------------------------------------------------------- one run
def run_one(base: str, setting: dict, seed: int, run_dir: str) -> dict:
    """Train one run (on a worker); never raises for a failed training: returns
    ``{"id", "setting", "seed", "status": done|skipped|failed, "summary", "message",
    "seconds"}``."""
    rid = os.path.basename(run_dir)
    out = {"id": rid, "setting": setting, "seed": seed, "dir": run_dir}
    done = os.path.join(run_dir, "summary.json")
    timing = os.path.join(run_dir, "sweep_run.json")
    if os.path.exists(done):
        with open(done) as fh:
            summary = json.load(fh)
        seconds = None
        if os.path.exists(timing):
            with open(timing) as fh:
                seconds = json.load(fh).get("seconds")
        return out | {"status": "skipped", "summary": summary, "seconds": seconds}
    os.makedirs(run_dir, exist_ok=True)
    resume = os.path.exists(os.path.join(run_dir, "checkpoint.npz"))
    from circuitlearn.cli import main
    so, se = io.StringIO(), io.StringIO()
    t0 = time.perf_counter()
    with contextlib.redirect_stdout(so), contextlib.redirect_stderr(se):
        try:
            rc = main(train_args(base, setting, seed, run_dir, resume))
        except SystemExit as exc:            # argparse refusing a flag
            rc = exc.code if isinstance(exc.code, int) else 2
    seconds = time.perf_counter() - t0
    with open(os.path.join(run_dir, "train.log"), "w") as fh:
        fh.write(se.getvalue())
    failed = os.path.join(run_dir, "failed.json")
    if rc == 0 and os.path.exists(done):
        if os.path.exists(failed):
            os.remove(failed)
        results.write_json(timing, {"seconds": seconds, "resumed": resume, "setting": setting,
                                    "seed": seed})
        with open(done) as fh:
            return out | {"status": "done", "summary": json.load(fh), "seconds": seconds,
                          "resumed": resume}
    lines = [ln for ln in se.getvalue().splitlines() if ln.strip()]
    msg = lines[-1] if lines else f"train exited with status {rc}"
    results.write_json(failed, {"message": msg, "exit_status": rc, "setting": setting,
                                "seed": seed})
    return out | {"status": "failed", "message": msg, "seconds": seconds}


# ----------------------------------------------------------------- aggregation
def metric_of(summary: dict):
    """("test_error" | "test_mse", value) of a run's summary."""
    for name in ("test_error", "test_mse"):
        if summary.get(name) is not None:
            return name, float(summary[name])
    return None, None


def aggregate(sweep: dict, runs: list) -> dict:
    """Per setting: mean and std over seeds of the final metric, counts, seconds."""
    rows, metric = [], None
    for s in sweep["settings"]:
        mine = [r for r in runs if r["setting"] == s]
        vals, secs = [], []
        for r in mine:
            if r["status"] != "failed":
                name, v = metric_of(r["summary"])
                metric = metric or name
                if v is not None:
                    vals.append(v)
                if r.get("seconds") is not None:
                    secs.append(r["seconds"])
        rows.append({**{k: s.get(k) for k in sweep["keys"]},
                     "mean": float(np.mean(vals)) if vals else None,
                     "std": float(np.std(vals, ddof=1)) if len(vals) > 1 else (0.0 if vals
                                                                                else None),
                     "n_ok": len(vals), "n_failed": sum(r["status"] == "failed" for r in mine),
                     "seconds_mean": float(np.mean(secs)) if secs else None})
    ok = [r for r in rows if r["mean"] is not None]
    best = min(ok, key=lambda r: r["mean"]) if ok else None
    return {"metric": metric or "test_error", "keys": sweep["keys"], "rows": rows, "best": best}


def write_table(table: dict, out_dir: str) -> tuple[str, str]:
    """``table.csv`` and ``table.json`` of :func:`aggregate`'s table."""
    csv_path, json_path = os.path.join(out_dir, "table.csv"), os.path.join(out_dir, "table.json")
    m = table["metric"]
    cols = table["keys"] + [f"{m}_mean", f"{m}_std", "n_ok", "n_failed", "seconds_mean"]
    with open(csv_path, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(cols)
        for r in table["rows"]:
            w.writerow([_plain(r[k]) if isinstance(r[k], (list, str)) else r[k]
                        for k in table["keys"]] +
                       ["" if r[k] is None else r[k]
                        for k in ("mean", "std", "n_ok", "n_failed", "seconds_mean")])
    results.write_json(json_path, table | {"provenance": results.provenance()})
    return csv_path, json_path


def figure(table: dict, runs: list, path: str, title: str) -> None:
    """Per swept key: mean +- std of the metric over the runs with each value."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    keys = [k for k in table["keys"] if len({toml_value(r[k]) for r in table["rows"]}) > 1] \
        or table["keys"][:1]
    m = table["metric"]
    fig, axes = plt.subplots(1, max(1, len(keys)), figsize=(4.5 * max(1, len(keys)), 3.6),
                             squeeze=False)
    ok = [r for r in runs if r["status"] != "failed" and metric_of(r["summary"])[1] is not None]
    for ax, key in zip(axes[0], keys or [None]):
        if key is None:
            vals = [metric_of(r["summary"])[1] for r in ok]
            ax.bar([0], [np.mean(vals) if vals else np.nan], yerr=[np.std(vals) if vals else 0])
            ax.set_xticks([0], ["base"])
        else:
            labels = sorted({toml_value(r["setting"].get(key)) for r in ok},
                            key=lambda t: (_num(t) is None, _num(t) or 0.0, t))
            ys = [[metric_of(r["summary"])[1] for r in ok
                   if toml_value(r["setting"].get(key)) == lab] for lab in labels]
            numeric = all(_num(t) is not None for t in labels)
            xs = [_num(t) for t in labels] if numeric else list(range(len(labels)))
            mean = np.array([np.mean(y) for y in ys])
            std = np.array([np.std(y, ddof=1) if len(y) > 1 else 0.0 for y in ys])
            scale = 100.0 if m == "test_error" else 1.0
            ax.plot(xs, scale * mean, "o-")
            ax.fill_between(xs, scale * (mean - std), scale * (mean + std), alpha=0.25,
                            label="mean ± std over runs")
            if numeric and len(xs) > 1 and min(xs) > 0 and max(xs) / min(xs) >= 10:
                ax.set_xscale("log")
            if not numeric:
                ax.set_xticks(xs, labels, rotation=20)
            ax.set_xlabel(key + (" (marginal over the other keys)" if len(keys) > 1 else ""))
            ax.legend(fontsize=8)
        ax.set_ylabel("test error (%)" if m == "test_error" else "test MSE")
        if m == "test_mse":
            ax.set_yscale("log")
        ax.grid(alpha=0.3)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _num(text: str):
    """The number a value's text shows (a one-element list counts as its element)."""
    t = text.strip()
    if t.startswith("[") and t.endswith("]") and "," not in t:
        t = t[1:-1]
    try:
        return float(t)
    except ValueError:
        return None


# ----------------------------------------------------------------- the driver
def _client(scheduler: str | None, workers: int):
    import logging
    from dask.distributed import Client, LocalCluster
    if scheduler:
        return Client(scheduler), None
    one = {"NUMBA_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1",
           "MKL_NUM_THREADS": "1"}
    cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                           host="127.0.0.1", dashboard_address=None,
                           silence_logs=logging.ERROR, env=one)
    return Client(cluster), cluster


def run_sweep(path: str, out_dir: str, scheduler: str | None = None, workers: int = 2,
              progress: bool = True, log=print) -> dict:
    """Run (or continue) the sweep of the file at ``path`` into ``out_dir``; returns the
    summary (``runs``, ``done``, ``skipped``, ``failed``, ``table``, ...)."""
    sweep = load_sweep(path)
    check_settings(sweep)
    os.makedirs(os.path.join(out_dir, "runs"), exist_ok=True)
    jobs = [(s, seed, os.path.join(os.path.abspath(out_dir), "runs", run_id(s, seed)))
            for s in sweep["settings"] for seed in sweep["seeds"]]
    t0 = time.perf_counter()
    client, cluster = _client(scheduler, workers)
    runs = []
    try:
        from dask.distributed import as_completed
        from tqdm import tqdm
        futures = [client.submit(run_one, sweep["base"], s, seed, d, pure=False,
                                 key=f"circuitlearn-run-{os.path.basename(d)}-{time.time_ns()}")
                   for s, seed, d in jobs]
        bar = tqdm(total=len(futures), unit="run", disable=not progress, desc="sweep")
        for fut in as_completed(futures):
            try:
                r = fut.result()
            except Exception as exc:        # noqa: BLE001 -- a worker lost, a bug: recorded
                s, seed, d = jobs[futures.index(fut)]
                r = {"id": os.path.basename(d), "setting": s, "seed": seed, "dir": d,
                     "status": "failed", "message": f"{type(exc).__name__}: {exc}",
                     "seconds": 0.0}
            runs.append(r)
            bar.update()
            if r["status"] == "failed":
                log(f"run {r['id']} failed: {r['message']}")
        bar.close()
    finally:
        client.close()
        if cluster is not None:
            cluster.close()
    runs.sort(key=lambda r: r["id"])
    table = aggregate(sweep, runs)
    csv_path, json_path = write_table(table, out_dir)
    fig = os.path.join(out_dir, "sweep.png")
    figure(table, runs, fig, f"sweep of {os.path.basename(sweep['base'])}: "
                             f"{len(sweep['settings'])} settings x {len(sweep['seeds'])} seeds")
    count = {k: sum(r["status"] == k for r in runs) for k in ("done", "skipped", "failed")}
    summary = {"runs": len(runs), **count, "table": csv_path, "table_json": json_path,
               "figure": fig, "metric": table["metric"], "best": table["best"],
               "seconds": round(time.perf_counter() - t0, 2)}
    results.write_json(os.path.join(out_dir, "sweep.json"),
                       summary | {"sweep": sweep, "runs_detail": runs,
                                  "provenance": results.provenance()})
    return summary
