"""``circuitlearn solve FILE``: DC operating point(s) of a deck.

    circuitlearn solve FILE [--diodes ideal|shockley] [--backend numba|ngspice]
                            [--json] [--sources IN.npy] [--out OUT.npz]

``--sources`` takes a ``[batch, n_sources]`` (or ``[n_sources]``) ``.npy``
array in the order ``circuitlearn check`` lists the sources (V sources, then I
sources).  ``--json`` prints one JSON object: node voltages keyed by node name
(a list over the batch when batch > 1), status, success, message, nit and the
certificate residuals.  ``--out`` saves ``voltages [batch, n_nodes]``,
``node_names``, ``source_currents``, ``source_names``, ``diode_currents``,
``diode_names``, ``status`` and the residuals in an ``.npz`` file.
Exit status: 0 when every sample converged, 2 when some did not (the result
is still printed), 1 on bad input.
"""
from __future__ import annotations

import json
import math

import numpy as np

from circuitlearn.errors import ConfigError, DataError


def positive_float(text: str) -> float:
    """argparse type: a finite number > 0."""
    import argparse
    try:
        v = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not (math.isfinite(v) and v > 0):
        raise argparse.ArgumentTypeError(f"must be a finite number > 0, got {text!r}")
    return v


def positive_int(text: str) -> int:
    """argparse type: a whole number >= 1."""
    import argparse
    try:
        v = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if v < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {text!r}")
    return v


def add_parser(sub) -> None:
    p = sub.add_parser("solve", help="DC operating point of a netlist (ideal or Shockley diodes)")
    p.add_argument("file", help="netlist (.cir)")
    p.add_argument("--diodes", choices=("ideal", "shockley"), default="ideal",
                   help="diode model (default: ideal, with the .model's vth threshold)")
    p.add_argument("--backend", choices=("numba", "ngspice"), default="numba")
    p.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    p.add_argument("--sources", metavar="IN.npy",
                   help="[batch, n_sources] source values (order as `circuitlearn check` lists them)")
    p.add_argument("--out", metavar="OUT.npz", help="save the voltages of the whole batch")
    p.add_argument("--tol", type=positive_float, default=None,
                   help="tolerance, volts (default 1e-10; ngspice: its vntol, default 1e-12)")
    p.add_argument("--maxiter", type=positive_int, default=None,
                   help="iteration limit (ngspice: its DC limit itl1)")
    p.add_argument("--allow-outside-include", action="store_true",
                   help="let .include/.lib read files outside the deck's folder")
    p.set_defaults(func=run)


def load_sources(path: str, circuit) -> np.ndarray:
    """Read a ``[batch, n_sources]`` ``.npy``; :class:`DataError` with the reason when unusable."""
    try:
        arr = np.load(path, allow_pickle=False)
    except FileNotFoundError:
        raise DataError(f"{path}: no such file") from None
    except (ValueError, OSError, EOFError) as exc:
        raise DataError(f"{path}: not a readable .npy array ({exc})") from None
    if not isinstance(arr, np.ndarray) or arr.dtype.kind not in "iuf":
        raise DataError(f"{path}: expected a numeric array, got dtype {getattr(arr, 'dtype', '?')}")
    if arr.ndim == 1:
        arr = arr[None, :]
    if arr.ndim != 2 or arr.shape[1] != circuit.n_sources or arr.shape[0] == 0:
        raise DataError(f"{path}: sources must have shape [batch, {circuit.n_sources}] "
                        f"(order: {', '.join(circuit.source_names)}), got {list(np.shape(arr))}")
    arr = arr.astype(np.float64)
    if not np.all(np.isfinite(arr)):
        raise DataError(f"{path}: sources contain NaN or infinity")
    return arr


def _num(x):
    x = float(x)
    return x if math.isfinite(x) else None


def run(args) -> int:
    from circuitlearn.compile.circuit import compile_netlist
    from circuitlearn.netlist.parser import read_netlist
    from circuitlearn.solve import solve

    import os
    out = args.out
    if out:
        if os.path.isdir(out):
            raise ConfigError(f"{out} is a folder; give a file name (OUT.npz)", "command line",
                              "--out")
        if not out.endswith(".npz"):
            out += ".npz"             # what numpy writes: say so instead of surprising
    circuit = compile_netlist(read_netlist(args.file, allow_outside=args.allow_outside_include))
    diodes = args.diodes
    if args.backend == "ngspice" and diodes == "ideal":
        if len(circuit.diode_names):
            raise ConfigError("ngspice has no ideal diode: add --diodes shockley (with a "
                              "near-ideal .model such as 'dideal' in spice_models/ to "
                              "approximate one)", "command line", "--diodes")
        diodes = "shockley"           # no diodes: the diode model does not matter
    sources = load_sources(args.sources, circuit) if args.sources else None
    res = solve(circuit, sources, diodes=diodes, backend=args.backend, tol=args.tol,
                maxiter=args.maxiter)
    batch = res.voltages.shape[0]
    if args.out:
        try:
            np.savez(out, voltages=res.voltages, node_names=np.array(circuit.node_names),
                     source_currents=res.source_currents,
                     source_names=np.array(circuit.vsource_names, dtype=str),
                     diode_currents=res.diode_currents,
                     diode_names=np.array(circuit.diode_names, dtype=str),
                     status=np.int64(res.status), sample_success=res.sample_success,
                     sample_status=res.sample_status,
                     kcl_residual=res.kcl_residual, diode_violation=res.diode_violation)
        except OSError as exc:
            raise DataError(f"cannot write {out}: {exc.strerror or exc}") from None
    if args.json:
        def per_node(col):
            vals = [_num(x) for x in res.voltages[:, col]]
            return vals[0] if batch == 1 else vals
        obj = {
            "file": args.file, "diodes": args.diodes, "backend": args.backend, "batch": batch,
            "voltages": {name: per_node(k) for k, name in enumerate(circuit.node_names)},
            "status": int(res.status), "success": bool(res.success), "message": res.message,
            "sample_status": [int(s) for s in res.sample_status],
            "nit": int(res.nit) if res.nit >= 0 else None, "method": res.method,
            "kcl_residual": [_num(x) for x in res.kcl_residual],
            "diode_violation": [_num(x) for x in res.diode_violation],
        }
        print(json.dumps(obj))
    else:
        its = f"{res.nit} iterations" if res.nit >= 0 else "iterations not reported"
        print(f"{args.file}: {res.message} (status {res.status}, {its}, "
              f"{res.method}, batch {batch})")
        print(f"max KCL residual {np.max(res.kcl_residual):.3g} A, "
              f"max diode violation {np.max(res.diode_violation):.3g} V")
        if batch == 1:
            width = max(len(n) for n in circuit.node_names)
            for k, name in enumerate(circuit.node_names):
                print(f"  v({name}){' ' * (width - len(name))} = {res.voltages[0, k]:.12g} V")
        if args.out:
            print(f"wrote {out}")
    return 0 if res.success else 2
