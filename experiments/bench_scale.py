"""Large circuits at the linear-solver limit: diode solves against one linear solve of the same network.

For random sparse graphs (:func:`~circuitlearn.compile.builders.random_resistor_diode_graph`,
degree 4, a diode per 10 nodes, a voltage source per 50), square lattices of the same
node counts (:func:`~circuitlearn.compile.builders.lattice_resistor_diode_graph`) and
crossbars as built (:func:`~circuitlearn.compile.builders.crossbar_array_netlist`: 2 ohm
wire segments, 10 ohm drivers, 5 ohm sense resistors into TIAs, devices 10 kOhm-1 MOhm,
inputs +-0.2 V; ``crossbar`` has a selector diode per cell (1D1R, N x N with ~3 N^2
nodes), ``crossbar-wires`` none (~2 N^2 nodes: a linear network, the 1024 x 1024 array of
issue 10 at 2.1x10^6 nodes)), one run measures

* ``ideal_s`` / ``shockley_s`` -- :func:`circuitlearn.solve.solve` with ideal and Shockley
  diodes (one sample, default tolerance 1e-10 V), its method, iterations and success;
* ``linear_s`` -- the limit: one solve of the same network with its diodes removed (for
  ``crossbar``, the same array without selectors, devices on the lines), the
  best of scipy's sparse LU (``spsolve``; not on random graphs above ``LU_MAX_RANDOM``
  nodes, where it only measures fill-in), pyamg smoothed aggregation with CG
  acceleration and scipy's Jacobi-preconditioned CG, each to a relative residual of
  1e-12 (about the 1e-10 V the diode solvers are held to); ``linear_best`` names the
  winner.  ``forest_cg_s`` is our own linear solver on the same system (set-up included;
  :mod:`circuitlearn.solve.linalg.spd`), reported beside it and in ``*_x_forest``;
* ``batch_marginal_s`` -- the ideal solve of ``BATCH`` input vectors in one call, less one
  vector's time, per extra vector;
* the ratios ``ideal_x`` / ``shockley_x`` (diode solve / linear solve) and the time per
  resistor, and the peak resident memory of the process that ran the case.

Each case runs in its own process (``--one``), so its peak memory is its own and a case
that outlives ``--time-limit`` is recorded as a timeout instead of stopping the run.
The goals of issue 10: every ratio within 5x; 10^6 nodes in under 2 minutes and 8 GB;
time per resistor flat (within +-50 %) from 10^4 to 10^6.  Writes ``bench_scale.json`` and
``bench_scale.png`` to ``--out``; the last stdout line is a JSON summary.

    python experiments/bench_scale.py [--sizes 10000,100000,1000000] [--time-limit 600]
    python experiments/bench_scale.py --smoke            # 2,000 nodes, for CI
"""
from __future__ import annotations

import argparse
import json
import math
import os
import resource
import subprocess
import sys
import time

import numpy as np

LINEAR_RTOL = 1e-12
#: input vectors of the batched solve
BATCH = 8
TOPOLOGIES = ("random", "lattice", "crossbar", "crossbar-wires")
GOAL_RATIO = 5.0
#: scipy's sparse LU is not run on random graphs above this many nodes: it fills in (10^4
#: nodes took 28 s here, against 0.04 s for Jacobi-CG) and would only measure the fill
LU_MAX_RANDOM = 5000
#: pyamg and scipy's Jacobi-CG are not run on crossbars above this many nodes: on a 128 x 128
#: array (3.3x10^4 nodes) they took 457 and 1,042 iterations, 36x and 5x scipy's LU, and
#: both grow with the wire length
ITERATIVE_MAX_CROSSBAR = 100_000


def build(topology: str, n: int, seed: int = 1):
    from circuitlearn.compile import compile_netlist
    from circuitlearn.compile.builders import (lattice_resistor_diode_graph,
                                               random_resistor_diode_graph)
    if topology == "random":
        return random_resistor_diode_graph(n, seed=seed)
    if topology == "lattice":
        side = int(round(math.sqrt(n)))
        return lattice_resistor_diode_graph(side, side, seed=seed)
    from circuitlearn.compile.builders import crossbar_array_netlist
    sel = topology == "crossbar"
    side = max(2, int(round(math.sqrt(n / (3 if sel else 2)))))
    rng = np.random.default_rng(seed)
    g = 10 ** rng.uniform(-6, -4, (side, side))
    return crossbar_array_netlist(g, inputs=rng.uniform(-0.2, 0.2, side), r_wire=2.0,
                                  r_driver=10.0, r_sense=5.0,
                                  selector="dsel" if sel else None)


def linear_system(net):
    """The diode-free network's reduced system ``L_ff v = b`` (what every diode solve repeats)."""
    from circuitlearn.compile import compile_netlist
    from circuitlearn.netlist.model import Netlist
    from circuitlearn.solve.assemble import prepared
    lin = Netlist(net.title, tuple(e for e in net.elements if e.kind != "D"), ())
    c = compile_netlist(lin)
    red = prepared(c)["red"]
    S = c.default_sources()[None]
    b = np.asarray(red.rhs(S, red.fixed_voltages(S)))[:, 0]
    return red.Lff.tocsr(), b


def linear_solves(A, b, lu: bool = True, iterative: bool = True) -> dict:
    """Seconds of each linear solver on ``A x = b`` (to LINEAR_RTOL), and the best;
    ``lu=False`` skips scipy's sparse LU, ``iterative=False`` pyamg and Jacobi-CG (recorded
    as None)."""
    import scipy.sparse.linalg as spla
    out = {"scipy_lu_s": None, "pyamg_s": None, "jacobi_cg_s": None}
    nb = np.linalg.norm(b)

    def check(x):
        return float(np.linalg.norm(A @ x - b) / nb)

    if lu:
        t0 = time.perf_counter()
        try:
            x = spla.spsolve(A.tocsc(), b)
            out["scipy_lu_s"], out["scipy_lu_rres"] = time.perf_counter() - t0, check(x)
        except MemoryError:
            pass
    try:
        import pyamg
    except ImportError:
        iterative_amg = False
    else:
        iterative_amg = iterative
    if iterative_amg:
        t0 = time.perf_counter()
        ml = pyamg.smoothed_aggregation_solver(A, symmetry="symmetric")
        x = ml.solve(b, tol=LINEAR_RTOL, accel="cg", maxiter=500)
        out["pyamg_s"], out["pyamg_rres"] = time.perf_counter() - t0, check(x)
    if iterative:
        t0 = time.perf_counter()
        d = A.diagonal()
        M = spla.LinearOperator(A.shape, matvec=lambda r: r / d)
        x, info = spla.cg(A, b, rtol=LINEAR_RTOL, atol=0.0, M=M, maxiter=20000)
        out["jacobi_cg_s"], out["jacobi_cg_rres"] = time.perf_counter() - t0, check(x)
    ok = {k[:-2]: v for k, v in out.items() if k.endswith("_s") and v is not None
          and out[k[:-2] + "_rres"] <= 1e3 * LINEAR_RTOL}
    best = min(ok, key=ok.get)
    out["linear_best"], out["linear_s"] = best, ok[best]
    from circuitlearn.solve.linalg.spd import ForestCG
    t0 = time.perf_counter()
    cg = ForestCG(A)
    x = np.zeros(A.shape[0])
    out["forest_cg_it"] = cg.solve(b, x, LINEAR_RTOL, 20000)
    out["forest_cg_s"], out["forest_cg_rres"] = time.perf_counter() - t0, check(x)
    return out


def one_case(topology: str, n: int) -> dict:
    """Build, solve with ideal and Shockley diodes, solve the linear limit; one JSON row."""
    from circuitlearn.compile import compile_netlist
    from circuitlearn.solve import solve
    warm = compile_netlist(build(topology, 400, seed=2))   # compile the kernels first
    for diodes in ("ideal", "shockley"):
        solve(warm, diodes=diodes)
    t0 = time.perf_counter()
    net = build(topology, n)
    c = compile_netlist(net)
    row = {"topology": topology, "nodes": int(c.n_nodes - 1),
           "resistors": int(c.conductance.size), "diodes": len(c.diode_names),
           "build_s": time.perf_counter() - t0}
    # a 1D1R array without its selectors falls apart into lines: its reference is the
    # same array with the devices on the lines (``crossbar-wires`` of the same size)
    A, b = linear_system(build("crossbar-wires", 2 * n // 3) if topology == "crossbar" else net)
    row |= linear_solves(A, b, lu=topology != "random" or n <= LU_MAX_RANDOM,
                         iterative=not topology.startswith("crossbar")
                         or n <= ITERATIVE_MAX_CROSSBAR)
    for diodes in ("ideal", "shockley"):
        t0 = time.perf_counter()
        res = solve(c, diodes=diodes)
        row[f"{diodes}_s"] = time.perf_counter() - t0
        row[f"{diodes}_success"] = bool(res.success)
        row[f"{diodes}_method"] = res.method
        row[f"{diodes}_nit"] = int(np.max(res.nit))
        row[f"{diodes}_x"] = row[f"{diodes}_s"] / row["linear_s"]
        row[f"{diodes}_x_forest"] = row[f"{diodes}_s"] / row["forest_cg_s"]
        row[f"{diodes}_us_per_resistor"] = 1e6 * row[f"{diodes}_s"] / row["resistors"]
    S = c.default_sources()[None] * np.random.default_rng(3).uniform(0.5, 1.5,
                                                                      (BATCH, c.n_sources))
    t0 = time.perf_counter()
    res = solve(c, S, diodes="ideal")
    row["batch_s"] = time.perf_counter() - t0
    row["batch_success"] = bool(np.all(res.success))
    row["batch_marginal_s"] = max(row["batch_s"] - row["ideal_s"], 0.0) / (BATCH - 1)
    row["peak_rss_GB"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2 ** 20
    return row


def run_case(topology, n, limit) -> dict:
    cmd = [sys.executable, os.path.abspath(__file__), "--one", topology, str(n)]
    t0 = time.perf_counter()
    try:
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=limit)
    except subprocess.TimeoutExpired:
        return {"topology": topology, "nodes": n, "timeout_s": limit}
    if p.returncode != 0:
        return {"topology": topology, "nodes": n, "error": p.stderr.strip().splitlines()[-1:]}
    row = json.loads(p.stdout.strip().splitlines()[-1])
    row["wall_s"] = time.perf_counter() - t0
    return row


def figure(rows, path):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(1, 2, figsize=(11, 4.2))
    for topo, mk in zip(TOPOLOGIES, "osd^"):
        r = [x for x in rows if x["topology"] == topo and "linear_s" in x]
        if not r:
            continue
        n = [x["nodes"] for x in r]
        for key, ls in (("ideal", "-"), ("shockley", "--"), ("linear", ":")):
            ax[0].loglog(n, [x[f"{key}_s"] for x in r], ls, marker=mk, label=f"{topo} {key}")
        for key, ls in (("ideal", "-"), ("shockley", "--")):
            ax[1].semilogx(n, [x[f"{key}_x"] for x in r], ls, marker=mk, label=f"{topo} {key}")
    ax[0].set(xlabel="nodes", ylabel="seconds (one sample)", title="diode solves vs the linear limit")
    ax[1].axhline(GOAL_RATIO, color="k", lw=0.8)
    ax[1].set(xlabel="nodes", ylabel="diode solve / linear solve", yscale="log",
              title=f"goal: within {GOAL_RATIO:g}x")
    for a in ax:
        a.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--out", default="results/bench_scale")
    p.add_argument("--sizes", default="10000,100000,1000000")
    p.add_argument("--topologies", default="random,lattice,crossbar,crossbar-wires")
    p.add_argument("--time-limit", type=float, default=600.0, help="seconds per case")
    p.add_argument("--smoke", action="store_true", help="2,000 nodes only (CI)")
    p.add_argument("--one", nargs=2, metavar=("TOPOLOGY", "NODES"), help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.one:
        print(json.dumps(one_case(args.one[0], int(args.one[1]))))
        return 0
    from circuitlearn.results import provenance, write_json
    sizes = [2000] if args.smoke else [int(s) for s in args.sizes.split(",")]
    topologies = [t.strip() for t in args.topologies.split(",")]
    bad = [t for t in topologies if t not in TOPOLOGIES]
    if bad:
        print(f"bench_scale: unknown topology {bad[0]!r} ({', '.join(TOPOLOGIES)})",
              file=sys.stderr)
        return 2
    os.makedirs(args.out, exist_ok=True)
    rows = []
    for topo in topologies:
        for n in sizes:
            row = run_case(topo, n, args.time_limit)
            rows.append(row)
            print(json.dumps(row), file=sys.stderr, flush=True)
    done = [r for r in rows if "linear_s" in r]
    summary = {"cases": len(rows), "timeouts": sum("timeout_s" in r for r in rows),
               "worst_ratio": max((max(r["ideal_x"], r["shockley_x"]) for r in done),
                                  default=None),
               "ratio_goal_met": bool(done) and all(max(r["ideal_x"], r["shockley_x"])
                                                    <= GOAL_RATIO for r in done)
               and len(done) == len(rows),
               "out": args.out}
    write_json(os.path.join(args.out, "bench_scale.json"),
               {"rows": rows, "summary": summary, "provenance": provenance()})
    figure(rows, os.path.join(args.out, "bench_scale.png"))
    print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())
