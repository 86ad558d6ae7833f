"""How fast the command line starts: ``circuitlearn check`` of every bundled deck.

Each command runs as a fresh process (``python -m circuitlearn ...``, as a user's shell
or a ``make`` rule starts it), ``--repeat`` times; the best and median wall times are
reported beside what the interpreter alone costs (``python -c pass``) and ``import
numpy``, measured in the same run.  Goal (issue 11): ``check`` of a small deck within
0.5 s wall on these machines.  The last stdout line is one JSON object.

    python experiments/bench_cli.py --out results/bench_cli
"""
from __future__ import annotations

import argparse
import glob
import json
import os
import subprocess
import sys
import time

import numpy as np

from circuitlearn.results import provenance, write_json

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
GOAL_S = 0.5


def wall(cmd, repeat: int) -> dict:
    """Best and median wall seconds of ``repeat`` fresh runs of ``cmd`` (must exit 0)."""
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                       cwd=ROOT)
        times.append(time.perf_counter() - t0)
    return {"best_s": float(min(times)), "median_s": float(np.median(times))}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--out", default=None, help="folder for bench_cli.json (default: none)")
    p.add_argument("--repeat", type=int, default=5)
    p.add_argument("--smoke", action="store_true", help="two decks, two runs each")
    args = p.parse_args(argv)
    py = sys.executable
    decks = sorted(glob.glob(os.path.join(ROOT, "netlists", "*.cir")))
    if args.smoke:
        decks, args.repeat = decks[:2], 2
    out = {"python": wall([py, "-c", "pass"], args.repeat),
           "import_numpy": wall([py, "-c", "import numpy"], args.repeat),
           "version": wall([py, "-m", "circuitlearn", "--version"], args.repeat),
           "check": {}}
    for deck in decks:
        out["check"][os.path.basename(deck)] = wall([py, "-m", "circuitlearn", "check", deck],
                                                    args.repeat)
    worst = max(v["median_s"] for v in out["check"].values())
    out |= {"goal_s": GOAL_S, "check_worst_median_s": worst, "goal_met": bool(worst <= GOAL_S)}
    for name, v in out["check"].items():
        print(f"check {name:28s} best {v['best_s']:.3f} s, median {v['median_s']:.3f} s",
              file=sys.stderr)
    if args.out:
        os.makedirs(args.out, exist_ok=True)
        write_json(os.path.join(args.out, "bench_cli.json"), out | {"provenance": provenance()})
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
