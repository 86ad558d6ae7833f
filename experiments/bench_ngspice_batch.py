"""ngspice batched: one DC sweep per batch against one ``alter`` + ``op`` per sample.

The circuit is the DRN of ``experiments/spice_in_the_loop.py`` (32-16-10, near-ideal
diodes, published initialisation) with random 4x4-digit-like inputs; for each batch
size the same source vectors are solved by :func:`~circuitlearn.solve.solve` with
``backend="ngspice"`` (a batch of two or more is one DC sweep, see
:mod:`circuitlearn.solve.backends.ngspice`) and by the ``alter`` loop of one
:class:`~circuitlearn.solve.backends.ngspice.NgspiceSession`, in one run on one
machine; best of ``--repeat``.  Reports the time per sample of both, their ratio and the
largest voltage gap.  Goal (issue 10): >= 20x less time per sample.  Last stdout line:
one JSON object.

    python experiments/bench_ngspice_batch.py --out results/bench_ngspice_batch
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time

import numpy as np

from circuitlearn.compile import compile_netlist
from circuitlearn.compile.builders import drn_netlist, drn_source_vector
from circuitlearn.results import provenance, write_json
from circuitlearn.solve import solve
from circuitlearn.solve.backends.ngspice import NgspiceSession
from circuitlearn.solve.layered import network as ly

SIZES = (32, 16, 10)
GOAL = 20.0


def best(fn, repeat):
    out, t = None, np.inf
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        t = min(t, time.perf_counter() - t0)
    return t, out


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--batches", default="2,8,32,128,512")
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--out", default=None)
    p.add_argument("--smoke", action="store_true")
    args = p.parse_args(argv)
    batches = [2, 8] if args.smoke else [int(b) for b in args.batches.split(",")]
    rng = np.random.default_rng(0)
    params = ly.init_params(ly.make_network(SIZES), rng, g_min=1e-4)
    circuit = compile_netlist(drn_netlist(params.weights, gain=4.0))
    rows = []
    for B in batches:
        S = drn_source_vector(rng.random((B, SIZES[0] // 2)), list(SIZES), gain=4.0)
        solve(circuit, S[:2], diodes="shockley", backend="ngspice")            # warm
        t_sweep, res = best(lambda: solve(circuit, S, diodes="shockley", backend="ngspice"),
                            args.repeat)
        sess = NgspiceSession(circuit)
        batch = np.concatenate(circuit.split_sources(S), axis=1)
        try:
            t_loop, V = best(lambda: np.array([sess.op(s)[0] for s in batch]), args.repeat)
        finally:
            sess.close()
        row = {"batch": B, "sweep_ms_per_sample": 1e3 * t_sweep / B,
               "loop_ms_per_sample": 1e3 * t_loop / B, "ratio": t_loop / t_sweep,
               "max_abs_dv": float(np.max(np.abs(res.voltages - V))), "method": res.method}
        rows.append(row)
        print(f"batch {B:4d}: sweep {row['sweep_ms_per_sample']:.3f} ms/sample, loop "
              f"{row['loop_ms_per_sample']:.3f} ms/sample, x{row['ratio']:.1f}, max |dV| "
              f"{row['max_abs_dv']:.1e} V", file=sys.stderr)
    summary = {"sizes": list(SIZES), "rows": rows, "goal_ratio": GOAL,
               "best_ratio": max(r["ratio"] for r in rows),
               "goal_met": bool(max(r["ratio"] for r in rows) >= GOAL),
               "max_abs_dv": max(r["max_abs_dv"] for r in rows)}
    if args.out:
        os.makedirs(args.out, exist_ok=True)
        write_json(os.path.join(args.out, "bench_ngspice_batch.json"),
                   summary | {"provenance": provenance()})
    print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())
