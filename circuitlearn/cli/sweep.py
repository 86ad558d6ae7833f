"""``circuitlearn sweep SWEEP.toml --out DIR``: many trainings on dask.distributed.

The sweep file, the run folders, skipping, resuming and the aggregated table are
described in :mod:`circuitlearn.sweep`.  The last stdout line is one JSON object with
``runs``, ``done``, ``skipped``, ``failed``, ``table`` (the CSV), ``table_json``,
``figure``, ``metric`` and ``best``.
"""
from __future__ import annotations

import os
import sys


def add_parser(sub) -> None:
    p = sub.add_parser("sweep", help="run a grid of trainings (config keys x seeds) on dask",
                       description="Run every setting of a sweep file (a [grid] of config keys "
                                   "and/or [random] samples, x seeds) as a train run, on a "
                                   "local dask cluster or an existing one.")
    p.add_argument("file", help="sweep file (TOML: base, seeds, [grid], [random])")
    p.add_argument("--out", default="runs/sweep", help="output folder (runs/, table.csv, ...)")
    p.add_argument("--scheduler", default=None, metavar="ADDRESS",
                   help="an existing dask scheduler (e.g. tcp://10.0.0.5:8786); default: a "
                        "LocalCluster on this machine")
    p.add_argument("--workers", type=int, default=min(2, os.cpu_count() or 1),
                   help="LocalCluster worker processes (default: min(2, CPUs))")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=run)


def run(args) -> int:
    from circuitlearn import results
    from circuitlearn.errors import ConfigError
    from circuitlearn.sweep import run_sweep
    if args.workers < 1:
        raise ConfigError(f"must be >= 1, got {args.workers}", "command line", "--workers")
    log = lambda s: print(s, file=sys.stderr)  # noqa: E731
    summary = run_sweep(args.file, args.out, args.scheduler, args.workers,
                        progress=not args.no_progress, log=log)
    log(f"{summary['runs']} runs: {summary['done']} done, {summary['skipped']} skipped "
        f"(finished before), {summary['failed']} failed; table {summary['table']}")
    print(results.dumps(summary))
    return 0
