"""Time per training sample of an EP step and a coupled-learning step on three circuits.

Circuits: a 20-node random resistor network (~40 edges), a 1,500-node random
network with ~10,500 edges, and a 64x64 crossbar with loaded columns.  For
each, in one run on the same machine:

* ``ours``: :class:`~circuitlearn.device.netlist_device.NetlistDevice` (numba,
  ideal diodes), one batch of ``--batch`` samples per step -- centered EP
  (current nudging, three phases) and coupled learning (free + clamped);
* ``scipy``: the loop the coupled-learning codes write (read, not copied:
  maguzj/learning_circuit, tehruhn/sparse_coupled_learning) -- per sample,
  assemble the sparse Laplacian from the current conductances, ``spsolve``
  the free and the clamped state, update the conductances;
* ``ngspice``: the same NetlistDevice on the ngspice backend (a few samples).

Writes ``bench_learning.json`` into ``--out`` and prints a table; ratios are
per-sample times.  Goals (issue 7): >= 20x the scipy loop, >= 10^3x ngspice.
"""
from __future__ import annotations

import argparse
import json
import os
import time

import numpy as np
import scipy.sparse as sp
import scipy.sparse.linalg as spla

from circuitlearn.compile import compile_netlist
from circuitlearn.compile.builders import crossbar_netlist, random_resistor_diode_graph
from circuitlearn.device.netlist_device import NetlistDevice
from circuitlearn.learn import rules
from circuitlearn.learn.ep import EPConfig


def circuits(smoke: bool):
    sizes = [("random-20", 20, 4.0), ("random-1500", 1500, 14.0)]
    if smoke:
        sizes = [("random-20", 20, 4.0), ("random-200", 200, 6.0)]
    out = []
    for name, n, deg in sizes:
        net = random_resistor_diode_graph(n, degree=deg, n_diodes=0, n_sources=3,
                                          n_current_sources=0, seed=1)
        c = compile_netlist(net)
        free = [nm for nm in c.node_names if nm != "0" and not any(
            nm == c.node_names[c.vsource_nodes[k, 0]] for k in range(len(c.vsource_names)))]
        out.append((name, c, list(c.vsource_names), free[-2:]))
    k = 8 if smoke else 64
    rng = np.random.default_rng(0)
    c = compile_netlist(crossbar_netlist(rng.uniform(1e-5, 1e-4, (k, k)), output_load=1e-3))
    out.append((f"crossbar-{k}x{k}", c, [f"vrow{i}" for i in range(k)],
                [f"col{j}" for j in range(k)]))
    return out


def scipy_loop(c, inputs, outputs, trainable, g, x, t, eta, lr, ep_beta=None):
    """Per-sample spsolve loop of coupled learning (or EP by current injection).

    Returns (conductances after the loop, gradient estimate of the first sample)."""
    n = c.n_nodes
    ends = c.resistor_nodes
    src_nodes = c.vsource_nodes[:, 0]
    index = {nm: i for i, nm in enumerate(c.source_names)}
    fixed = np.concatenate([[0], src_nodes])
    free = np.setdiff1d(np.arange(n), fixed)
    pos = -np.ones(n, np.int64)
    pos[free] = np.arange(free.size)
    out_nodes = np.array([c.node_index(o) for o in outputs])
    g = g.copy()
    vs = np.tile(c.vsource_value, (len(x), 1))
    vs[:, [index[nm] for nm in inputs]] = x
    first = None
    for s in range(len(x)):
        a, b = ends[:, 0], ends[:, 1]
        L = sp.csr_matrix((np.concatenate([g, g, -g, -g]),
                           (np.concatenate([a, b, a, b]), np.concatenate([a, b, b, a]))),
                          shape=(n, n))
        vfix = np.zeros(n)
        vfix[src_nodes] = vs[s]
        Lff = L[free][:, free].tocsc()
        rhs = -L[free][:, fixed] @ vfix[fixed]
        vf = vfix.copy()
        vf[free] = spla.spsolve(Lff, rhs)
        if ep_beta is None:              # coupled learning: clamp the outputs
            clamp = np.concatenate([fixed, out_nodes])
            rest = np.setdiff1d(np.arange(n), clamp)
            vc = vf.copy()
            vc[out_nodes] = (1 - eta) * vf[out_nodes] + eta * t[s]
            vc[rest] = spla.spsolve(L[rest][:, rest].tocsc(), -L[rest][:, clamp] @ vc[clamp])
            d1, d0 = vc[a] - vc[b], vf[a] - vf[b]
            grad = 0.5 * (d1 * d1 - d0 * d0) / eta
        else:                            # centered EP: two nudged solves
            dc = vf[out_nodes] - t[s]
            dv = []
            for beta in (ep_beta, -ep_beta):
                r = rhs.copy()
                r[pos[out_nodes]] -= beta * dc
                v = vfix.copy()
                v[free] = spla.spsolve(Lff, r)
                dv.append(v[a] - v[b])
            grad = 0.5 * (dv[0] ** 2 - dv[1] ** 2) / (2 * ep_beta)
        if first is None:
            first = grad[trainable].copy()
        g[trainable] = np.clip(g[trainable] - lr * grad[trainable], 1e-6, 1e-2)
    return g, first


def fixed_cost(c, inputs, outputs, n=300):
    """Median time of one settle at batch 1 (``settle``: unchanged conductances;
    ``program_and_settle``: after programming every resistor), on the dense path of
    small linear circuits and on the general solver (``dense=False``)."""
    rng = np.random.default_rng(1)
    x = rng.uniform(-1, 1, (1, len(inputs)))
    tr = np.arange(len(c.resistor_names))
    out = {}
    for label, dense in (("dense", True), ("general", False)):
        dev = NetlistDevice(c, inputs, outputs, tr, 1e-6, 1e-2, dense=dense)
        dev.set_inputs(x)
        dev.measure()
        settle, prog = [], []
        delta = np.full(len(tr), 1e-9)
        for k in range(n):
            t0 = time.perf_counter()
            dev.measure()
            settle.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            dev.program(delta if k % 2 else -delta)
            dev.measure()
            prog.append(time.perf_counter() - t0)
        out[label] = {"settle_us": 1e6 * float(np.median(settle)),
                      "program_and_settle_us": 1e6 * float(np.median(prog)),
                      "method": dev.last_status().get("method", dev.last_status().get("message"))}
    return out


def bench_one(name, c, inputs, outputs, batch, n_scipy, n_spice, repeat, with_spice):
    rng = np.random.default_rng(0)
    tr = np.arange(len(c.resistor_names))
    x = rng.uniform(-1, 1, (batch, len(inputs)))
    t = rng.uniform(-0.1, 0.1, (batch, len(outputs)))
    loss = rules.TaskLoss("mse", "regression")
    rec = {"circuit": name, "nodes": c.n_nodes, "resistors": len(c.resistor_names),
           "batch": batch}
    dev = NetlistDevice(c, inputs, outputs, tr, 1e-6, 1e-2)
    steps = {"ep": lambda d, xx, tt: rules.ep_step(d, xx, tt, loss, EPConfig("centered", "current", 1e-6)),
             "coupled": lambda d, xx, tt: rules.coupled_step(d, xx, tt, loss, 0.1)}
    for rule, step in steps.items():
        step(dev, x[:2], t[:2])                       # compile kernels, build the variants
        best = np.inf
        for _ in range(repeat):
            t0 = time.perf_counter()
            r = step(dev, x, t)
            dev.program(-1e-9 * r.grad)
            best = min(best, time.perf_counter() - t0)
        rec[f"{rule}_ours_s"] = best / batch
        t0 = time.perf_counter()
        _, g_scipy = scipy_loop(c, inputs, outputs, tr, c.conductance, x[:n_scipy], t[:n_scipy],
                                0.1, 1e-9, 1e-6 if rule == "ep" else None)
        rec[f"{rule}_scipy_s"] = (time.perf_counter() - t0) / n_scipy
        # both sides compute the same rule: the first sample's estimate, fresh conductances
        g_ours = step(NetlistDevice(c, inputs, outputs, tr, 1e-6, 1e-2), x[:1], t[:1]).grad
        rec[f"{rule}_grad_rel_diff"] = float(np.abs(g_ours - g_scipy).max() / np.abs(g_scipy).max())
        rec[f"{rule}_vs_scipy"] = rec[f"{rule}_scipy_s"] / rec[f"{rule}_ours_s"]
        if with_spice:
            sdev = NetlistDevice(c, inputs, outputs, tr, 1e-6, 1e-2, backend="ngspice")
            step(sdev, x[:1], t[:1])                  # load the sessions
            t0 = time.perf_counter()
            step(sdev, x[:n_spice], t[:n_spice])
            rec[f"{rule}_ngspice_s"] = (time.perf_counter() - t0) / n_spice
            rec[f"{rule}_vs_ngspice"] = rec[f"{rule}_ngspice_s"] / rec[f"{rule}_ours_s"]
    return rec


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--out", default="results/bench_learning")
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--repeat", type=int, default=5)
    p.add_argument("--no-ngspice", action="store_true")
    p.add_argument("--smoke", action="store_true", help="small circuits, few samples (CI)")
    p.add_argument("--blas-threads", type=int, default=1,
                   help="BLAS threads for both sides (default 1: the matrices are small and "
                        "the 2 cores are shared; threads cost more than they give here)")
    a = p.parse_args(argv)
    try:
        from threadpoolctl import threadpool_limits
        threadpool_limits(a.blas_threads)
    except ImportError:
        pass
    if a.smoke:
        a.batch, a.repeat = 8, 2
    os.makedirs(a.out, exist_ok=True)
    rows = []
    first = circuits(a.smoke)[0]
    fixed = fixed_cost(*first[1:])
    print(f"fixed cost, {first[0]}, batch 1: settle {fixed['dense']['settle_us']:.1f} us, "
          f"program + settle {fixed['dense']['program_and_settle_us']:.1f} us (dense path); "
          f"general solver {fixed['general']['settle_us']:.1f} / "
          f"{fixed['general']['program_and_settle_us']:.1f} us", flush=True)
    for name, c, inputs, outputs in circuits(a.smoke):
        big = len(c.resistor_names) > 5000
        rows.append(bench_one(name, c, inputs, outputs, a.batch, 4 if big else 16,
                              2 if (big or a.smoke) else 8, a.repeat, not a.no_ngspice))
        r = rows[-1]
        print(f"{name:16s} EP {1e6 * r['ep_ours_s']:9.1f} us/sample (scipy x{r['ep_vs_scipy']:.1f}"
              + (f", ngspice x{r['ep_vs_ngspice']:.0f}" if "ep_vs_ngspice" in r else "") + ")"
              f" | CL {1e6 * r['coupled_ours_s']:9.1f} us/sample (scipy x{r['coupled_vs_scipy']:.1f}"
              + (f", ngspice x{r['coupled_vs_ngspice']:.0f}" if "coupled_vs_ngspice" in r else "")
              + ")", flush=True)
    with open(os.path.join(a.out, "bench_learning.json"), "w") as fh:
        json.dump({"rows": rows, "fixed_cost_batch1": {"circuit": first[0], **fixed},
                   "batch": a.batch, "blas_threads": a.blas_threads,
                   "loadavg_end": list(os.getloadavg())}, fh, indent=1)
    return rows, fixed


if __name__ == "__main__":
    main()
