"""``circuitlearn validate FILE``: the fast Shockley solver against ngspice on the same deck."""
from __future__ import annotations

import json
import time

import numpy as np


def add_parser(sub) -> None:
    p = sub.add_parser("validate", help="solve a deck with circuitlearn (Shockley diodes) and "
                                        "with ngspice; print the max |dV| and the speed ratio")
    p.add_argument("file", help="netlist (.cir)")
    p.add_argument("--sources", help="[batch, n_sources] .npy of source values (default: the deck's)")
    p.add_argument("--allow-outside-include", action="store_true",
                   help="let .include/.lib read files outside the deck's folder")
    p.add_argument("--tol", type=float, default=1e-6,
                   help="agreement required, volts (default 1e-6); exit 2 when exceeded")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=run)


def run(args) -> int:
    from circuitlearn.cli.solve import load_sources
    from circuitlearn.compile.circuit import compile_netlist
    from circuitlearn.netlist.parser import read_netlist
    from circuitlearn.solve import solve

    circuit = compile_netlist(read_netlist(args.file, allow_outside=args.allow_outside_include))
    sources = load_sources(args.sources, circuit) if args.sources else None
    solve(circuit, sources, diodes="shockley")  # compile the kernels outside the timing
    t0 = time.perf_counter()
    ours = solve(circuit, sources, diodes="shockley")
    t_ours = time.perf_counter() - t0
    t0 = time.perf_counter()
    ref = solve(circuit, sources, diodes="shockley", backend="ngspice")
    t_ref = time.perf_counter() - t0
    dv = np.abs(ours.voltages - ref.voltages)
    worst = int(np.unravel_index(np.argmax(dv), dv.shape)[1]) if dv.size else 0
    report = {
        "file": args.file, "batch": int(ours.voltages.shape[0]), "nodes": circuit.n_nodes,
        "max_abs_dv": float(dv.max()) if dv.size else 0.0,
        "worst_node": circuit.node_names[worst],
        "circuitlearn_s": t_ours, "ngspice_s": t_ref, "speedup": t_ref / max(t_ours, 1e-12),
        "circuitlearn_success": bool(ours.success), "ngspice_success": bool(ref.success),
        "agree": bool(dv.max() <= args.tol) if dv.size else True,
    }
    if args.json:
        print(json.dumps(report))
    else:
        print(f"{args.file}: {report['nodes']} nodes, batch {report['batch']}")
        print(f"  max |dV| = {report['max_abs_dv']:.3g} V (node {report['worst_node']}), "
              f"tolerance {args.tol:g} V: {'OK' if report['agree'] else 'EXCEEDED'}")
        print(f"  circuitlearn {t_ours * 1e3:.3g} ms, ngspice {t_ref * 1e3:.3g} ms, "
              f"speed ratio {report['speedup']:.3g}x")
        if not ours.success:
            print(f"  circuitlearn: {ours.message}")
        if not ref.success:
            print(f"  ngspice: {ref.message}")
    return 0 if report["agree"] and ours.success and ref.success else 2
