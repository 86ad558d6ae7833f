"""``circuitlearn check FILE`` and ``circuitlearn export FILE -o OUT.cir``.

``check`` parses the deck (includes, subcircuits, parameters), compiles it
(topology checks included) and prints a summary: title, node count, elements
by kind, diode models used and the independent sources in sources-vector
order (voltage sources, then current sources) with their default values.
``export`` writes the flattened deck that ngspice runs unchanged.
Bad input exits 1 with ``file:line: message`` (printed by ``cli.main``).
"""
from __future__ import annotations

import os
from collections import Counter

from circuitlearn.errors import NetlistError
from circuitlearn.netlist.elements import ELEMENT_KINDS


def add_parser(sub) -> None:
    c = sub.add_parser("check", help="parse and compile a netlist, print a summary")
    c.add_argument("file", help="netlist (.cir)")
    c.add_argument("--allow-outside-include", action="store_true",
                   help="let .include/.lib read files outside the deck's folder")
    c.set_defaults(func=run_check)
    e = sub.add_parser("export", help="write the flattened deck (ngspice runs it unchanged)")
    e.add_argument("file", help="netlist (.cir)")
    e.add_argument("-o", "--output", required=True, help="path of the flattened deck to write")
    e.add_argument("--allow-outside-include", action="store_true",
                   help="let .include/.lib read files outside the deck's folder")
    e.set_defaults(func=run_export)


def _read(args):
    from circuitlearn.netlist.parser import read_netlist
    return read_netlist(args.file, allow_outside=args.allow_outside_include)


def summary(netlist, circuit) -> str:
    """The text ``check`` prints."""
    from circuitlearn.compile.circuit import SPREAD_LIMIT, conductance_spread
    from circuitlearn.netlist.units import format_value
    kinds = Counter(e.kind for e in netlist.elements)
    by_kind = ", ".join(f"{kinds[k]} {ELEMENT_KINDS[k].name}" + ("" if kinds[k] == 1 else "s")
                        for k in ELEMENT_KINDS if kinds[k])
    used = Counter(circuit.diode_models)
    lines = [
        f"title: {netlist.title}",
        f"nodes: {circuit.n_nodes} (ground included)",
        f"elements: {len(netlist.elements)} ({by_kind})",
        "diode models: " + (", ".join(f"{m} ({used[m]} diode{'s' if used[m] != 1 else ''})"
                                      for m in sorted(used)) or "none"),
        f"sources ({circuit.n_sources}, in sources-vector order: V then I):",
    ]
    spread, big, small = conductance_spread(circuit)
    note = f"conductance spread: {spread:.3g}" + (f" ({big} .. {small})" if big else "")
    if spread > SPREAD_LIMIT:
        note += " -- warning: beyond what float64 resolves; solves may fail their certificate"
    els = {e.name: e for e in netlist.elements}
    for k, name in enumerate(circuit.source_names):
        e = els[name]
        unit = "V" if e.kind == "V" else "A"
        lines.append(f"  [{k}] {name} {' '.join(e.nodes)} = {format_value(e.value)} {unit}")
    lines.insert(4, note)
    return "\n".join(lines)


def run_check(args) -> int:
    from circuitlearn.compile.circuit import compile_netlist
    netlist = _read(args)
    circuit = compile_netlist(netlist)
    print(f"{args.file}: OK")
    print(summary(netlist, circuit))
    return 0


def run_export(args) -> int:
    from circuitlearn.netlist.writer import write_netlist
    text = write_netlist(_read(args))
    try:
        with open(args.output, "w", encoding="utf-8") as fh:
            fh.write(text)
    except OSError as exc:
        raise NetlistError(f"cannot write {args.output}: {exc.strerror or exc}",
                           args.output) from None
    print(f"wrote {os.path.abspath(args.output)} ({text.count(chr(10))} lines)")
    return 0
