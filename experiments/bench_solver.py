"""Benchmark the DC solvers against ngspice, and the layered sweep against its GEMMs.

Every ratio is measured in one run on one machine (these machines are noisy):

1. DRN-XS-shaped deck (1568 inputs, 100 hidden diode nodes, 10 outputs):
   per-sample time of circuitlearn (ideal and Shockley diodes, batch 1 and 256)
   versus ``ngspice -b`` (one process per sample, as a user runs a deck) and the
   shared-library ngspice backend, with the max |dV| against ngspice.
2. Random sparse resistor-diode graphs, 10^3 .. 10^5 nodes (ngspice -b where it
   finishes within the time limit).
3. One layered sweep versus the numpy GEMMs it contains (the hardware limit).
4. Time per coordinate-descent sweep versus the number of resistors, 10^3 .. 10^7.

Writes ``bench_solver.json`` and ``bench_solver.png`` into ``--out``.  ``--smoke``
shrinks every part so CI runs it in seconds.

    python experiments/bench_solver.py --out results/bench_solver
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import time

import numpy as np

from circuitlearn.compile import compile_netlist
from circuitlearn.compile.builders import (drn_netlist, drn_source_vector,
                                           random_resistor_diode_graph)
from circuitlearn.compile.circuit import Circuit
from circuitlearn.netlist import write_netlist
from circuitlearn.solve import solve
from circuitlearn.solve.layered import network as layered
from circuitlearn.solve.backends.ngspice import solve_ngspice
from circuitlearn.solve.backends.ngspice_batch import run_ngspice_batch
from circuitlearn.results import provenance, write_json


def timed(fn, repeat: int = 3):
    """Best wall time of ``repeat`` calls (after one warm-up call), and the last value."""
    out = fn()
    best = np.inf
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t0)
    return best, out


def drn_circuit(sizes, seed: int = 0, gain: float = 100.0, batch: int = 256):
    """A DRN with the published initialisation and MNIST-like sparse inputs."""
    rng = np.random.default_rng(seed)
    weights = [np.clip(rng.uniform(-1, 1, (a, b)) / np.sqrt(a), 0.0, None)
               for a, b in zip(sizes[:-1], sizes[1:])]
    biases = [rng.uniform(-1, 1, b) / np.sqrt(a) * 0.1 for a, b in zip(sizes[:-1], sizes[1:])]
    n_x = sizes[0] // 2
    x = (rng.random((batch, n_x)) < 0.2) * rng.random((batch, n_x))
    circuit = compile_netlist(drn_netlist(weights, biases, gain=gain))
    return circuit, drn_source_vector(x, sizes, gain=gain, biases=biases), weights, biases, x


def ngspice_b_voltages(circuit, sources) -> tuple[float, np.ndarray]:
    """One ``ngspice -b`` run of the deck at ``sources``: wall time and node voltages."""
    deck = write_netlist(circuit.with_sources(sources).to_netlist())
    t0 = time.perf_counter()
    ref = run_ngspice_batch(deck)
    dt = time.perf_counter() - t0
    return dt, np.array([ref[n] for n in circuit.node_names])


def part_drn(sizes, batch: int, n_spice: int) -> dict:
    circuit, S, *_ = drn_circuit(sizes, batch=batch)
    out = {"sizes": list(sizes), "nodes": circuit.n_nodes,
           "resistors": int(circuit.conductance.size), "batch": batch}
    spice_t, spice_v = [], []
    for b in range(n_spice):
        dt, v = ngspice_b_voltages(circuit, S[b])
        spice_t.append(dt)
        spice_v.append(v)
    spice_v = np.array(spice_v)
    out["ngspice_b_s_per_sample"] = float(np.median(spice_t))
    t0 = time.perf_counter()
    shared = solve_ngspice(circuit, S[:n_spice])
    out["ngspice_shared_s_per_sample"] = (time.perf_counter() - t0) / n_spice
    out["ngspice_shared_vs_b_max_dv"] = float(np.abs(shared.voltages - spice_v).max())
    for diodes in ("ideal", "shockley"):
        for B in sorted({1, batch}):
            dt, res = timed(lambda: solve(circuit, S[:B], diodes=diodes))
            key = f"{diodes}_batch{B}"
            out[key] = {"s_per_sample": dt / B, "success": bool(res.success), "nit": int(res.nit),
                        "method": res.method, "kcl_residual": float(res.kcl_residual.max()),
                        "speedup_vs_ngspice_b": out["ngspice_b_s_per_sample"] / (dt / B)}
            if diodes == "shockley":
                out[key]["max_dv_vs_ngspice_b"] = float(
                    np.abs(res.voltages[:n_spice] - spice_v[:min(B, n_spice)]).max()
                    if B >= n_spice else np.abs(res.voltages[:B] - spice_v[:B]).max())
    return out


def part_random_graphs(sizes, spice_limit: int) -> list:
    rows = []
    for n in sizes:
        circuit = compile_netlist(random_resistor_diode_graph(n, seed=1))
        row = {"nodes": n, "resistors": int(circuit.conductance.size),
               "diodes": len(circuit.diode_names)}
        for diodes in ("ideal", "shockley"):
            dt, res = timed(lambda: solve(circuit, diodes=diodes), repeat=1)
            row[f"{diodes}_s"] = dt
            row[f"{diodes}_success"] = bool(res.success)
            row[f"{diodes}_method"] = res.method
            if diodes == "shockley":
                v_sh = res.voltages[0]
        if n <= spice_limit:
            dt, v = ngspice_b_voltages(circuit, circuit.default_sources())
            row["ngspice_b_s"] = dt
            row["max_dv_shockley_vs_ngspice"] = float(np.abs(v_sh - v).max())
            row["speedup_shockley_vs_ngspice_b"] = dt / row["shockley_s"]
        rows.append(row)
    return rows


def part_layered_vs_gemm(shapes, batch: int) -> list:
    rows = []
    rng = np.random.default_rng(2)
    for sizes in shapes:
        net = layered.make_network(sizes)
        params = layered.init_params(net, rng)
        v_in = rng.random((batch, sizes[0]))
        ws = params.weights

        def sweep():
            # the input drive and one exact sweep, on a state array that a solver
            # keeps between calls (as the EP phases and the device do)
            prep = layered.prepare(params, v_in, params_denominator)
            layered.relax(prep, state, max_sweeps=1)
            return state

        def gemms():
            # what one sweep multiplies: the input drive, then every layer from
            # below (odd update) and from above (even update)
            h = [v_in]
            for w in ws:
                h.append(h[-1] @ w)
            for w, a in zip(ws[1:], h[2:]):
                a @ w.T
            return h
        params_denominator = layered.conductance_sums(params)
        state = layered.init_state(layered.prepare(params, v_in, params_denominator))
        t_sweep, _ = timed(sweep, repeat=5)
        t_gemm, _ = timed(gemms, repeat=5)
        rows.append({"sizes": list(sizes), "batch": batch, "sweep_s": t_sweep, "gemm_s": t_gemm,
                     "ratio": t_sweep / t_gemm})
    return rows


def random_circuit_arrays(n_nodes: int, n_res: int, seed: int = 3) -> Circuit:
    """A random connected resistor network built straight as arrays (no netlist)."""
    rng = np.random.default_rng(seed)
    tree_child = np.arange(1, n_nodes + 1)
    tree_parent = np.floor(rng.random(n_nodes) * tree_child).astype(np.int64)  # 0 = ground
    extra = n_res - n_nodes
    a = rng.integers(1, n_nodes + 1, extra)
    b = rng.integers(1, n_nodes + 1, extra)
    b = np.where(a == b, (b % n_nodes) + 1, b)
    nodes = np.concatenate([np.stack([tree_child, tree_parent], 1), np.stack([a, b], 1)])
    g = 10 ** rng.uniform(-5, -3, len(nodes))
    empty2 = np.zeros((0, 2), np.int64)
    return Circuit(
        node_names=("0",) + tuple(f"n{i}" for i in range(1, n_nodes + 1)),
        resistor_names=tuple(f"r{i}" for i in range(len(nodes))), resistor_nodes=nodes,
        conductance=g, diode_names=(), diode_models=(), diode_nodes=empty2,
        diode_is=[], diode_n=[], diode_rs=[], diode_vth=[], diode_area=[],
        vsource_names=("v1",), vsource_nodes=[[1, 0]], vsource_value=[1.0],
        isource_names=("i1",), isource_nodes=[[0, n_nodes]], isource_value=[1e-4],
        vcvs_names=(), vcvs_nodes=np.zeros((0, 4), np.int64), vcvs_gain=[],
        vccs_names=(), vccs_nodes=np.zeros((0, 4), np.int64), vccs_gain=[])


def part_scaling(resistor_counts, sweeps: int) -> list:
    rows = []
    for m in resistor_counts:
        circuit = random_circuit_arrays(max(m // 4, 10), m)
        dt, res = timed(lambda: solve(circuit, maxiter=sweeps, tol=1e-300, method="cd"), repeat=1)
        rows.append({"resistors": m, "nodes": circuit.n_nodes - 1, "sweeps": int(res.nit),
                     "s_per_sweep": dt / max(res.nit, 1),
                     "ns_per_resistor_sweep": dt / max(res.nit, 1) / m * 1e9})
    return rows


def plot(report: dict, path: str) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, axes = plt.subplots(1, 3, figsize=(15, 4.2))
    d = report["drn_xs"]
    labels = ["ngspice -b", "ngspice shared", "ideal b=1", f"ideal b={d['batch']}",
              "shockley b=1", f"shockley b={d['batch']}"]
    vals = [d["ngspice_b_s_per_sample"], d["ngspice_shared_s_per_sample"],
            d["ideal_batch1"]["s_per_sample"], d[f"ideal_batch{d['batch']}"]["s_per_sample"],
            d["shockley_batch1"]["s_per_sample"], d[f"shockley_batch{d['batch']}"]["s_per_sample"]]
    ax = axes[0]
    ax.bar(range(len(vals)), vals, color=["grey", "grey", "C0", "C0", "C1", "C1"])
    ax.set_yscale("log")
    ax.set_xticks(range(len(vals)), labels, rotation=30, ha="right")
    ax.set_ylabel("seconds per sample")
    ax.set_title(f"DRN-{'-'.join(map(str, d['sizes']))}")
    ax = axes[1]
    rg = report["random_graphs"]
    n = [r["nodes"] for r in rg]
    ax.loglog(n, [r["ideal_s"] for r in rg], "o-", label="circuitlearn ideal")
    ax.loglog(n, [r["shockley_s"] for r in rg], "s-", label="circuitlearn shockley")
    sp = [(r["nodes"], r["ngspice_b_s"]) for r in rg if "ngspice_b_s" in r]
    if sp:
        ax.loglog(*zip(*sp), "k^-", label="ngspice -b")
    ax.set_xlabel("nodes")
    ax.set_ylabel("seconds per solve")
    ax.set_title("random resistor-diode graphs")
    ax.legend()
    ax = axes[2]
    sc = report["scaling"]
    ax.loglog([r["resistors"] for r in sc], [r["s_per_sweep"] for r in sc], "o-")
    m = np.array([r["resistors"] for r in sc], float)
    ax.loglog(m, sc[-1]["s_per_sweep"] * m / m[-1], "k:", label="linear")
    ax.set_xlabel("resistors")
    ax.set_ylabel("seconds per CD sweep")
    ax.set_title("time per sweep vs resistors")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--out", default="results/bench_solver")
    p.add_argument("--smoke", action="store_true", help="tiny sizes, for CI")
    args = p.parse_args(argv)
    os.makedirs(args.out, exist_ok=True)
    if args.smoke:
        drn_sizes, batch, n_spice = (64, 12, 4), 16, 2
        graph_sizes, spice_limit = (200, 1000), 1000
        shapes, lbatch = [(64, 32, 10)], 16
        scaling, sweeps = (1_000, 10_000), 5
    else:
        drn_sizes, batch, n_spice = (1568, 100, 10), 256, 3
        graph_sizes, spice_limit = (1_000, 10_000, 100_000), 1_000
        shapes, lbatch = [(1568, 100, 10), (1568, 1024, 10), (1568, 512, 512, 10)], 256
        scaling, sweeps = (1_000, 10_000, 100_000, 1_000_000, 10_000_000), 10
    report = {"machine": f"{platform.machine()} {os.cpu_count()} cores, {platform.python_version()}",
              "smoke": args.smoke}
    t0 = time.perf_counter()
    report["drn_xs"] = part_drn(drn_sizes, batch, n_spice)
    report["random_graphs"] = part_random_graphs(graph_sizes, spice_limit)
    report["layered_vs_gemm"] = part_layered_vs_gemm(shapes, lbatch)
    report["scaling"] = part_scaling(scaling, sweeps)
    report["wall_s"] = time.perf_counter() - t0
    write_json(os.path.join(args.out, "bench_solver.json"), report | {"provenance": provenance()})
    plot(report, os.path.join(args.out, "bench_solver.png"))
    d = report["drn_xs"]
    summary = {
        "drn_speedup_ideal_batch": d[f"ideal_batch{batch}"]["speedup_vs_ngspice_b"],
        "drn_speedup_shockley_batch": d[f"shockley_batch{batch}"]["speedup_vs_ngspice_b"],
        "drn_max_dv_shockley": d[f"shockley_batch{batch}"]["max_dv_vs_ngspice_b"],
        "layered_sweep_over_gemm": [r["ratio"] for r in report["layered_vs_gemm"]],
        "ns_per_resistor_sweep": [r["ns_per_resistor_sweep"] for r in report["scaling"]],
    }
    print(json.dumps(summary))
    return report


if __name__ == "__main__":
    main()
