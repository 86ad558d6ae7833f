"""Netlist -> flattened SPICE text that ngspice 39 runs unchanged.

Layout of the written deck::

    title
    .model NAME D (is=... n=... vth=...)     one card per diode model
    Rname n+ n- value                       elements in netlist order
    Vname n+ n- DC value
    Dname anode cathode model [area=value]  (area only when != 1)
    .op
    .end

Values are written with :func:`circuitlearn.netlist.units.format_value`, the
shortest decimal that reads back as the same double, so
``parse_netlist(write_netlist(n)) == n`` holds exactly.  ngspice 39 reads a
bare fourth diode token as a thermal node, hence ``area=value``; it warns
"unrecognized parameter (vth) - ignored" and runs.
"""
from __future__ import annotations

from circuitlearn.netlist.elements import ELEMENT_KINDS
from circuitlearn.netlist.model import Element, Netlist
from circuitlearn.netlist.units import format_value


def _model_card(m) -> str:
    params = " ".join(f"{k}={format_value(v)}" for k, v in m.params)
    return f".model {m.name} D ({params})" if params else f".model {m.name} D"


def _element_card(e: Element) -> str:
    if e.kind not in ELEMENT_KINDS or e.kind == "X":
        raise ValueError(f"element {e.name}: kind {e.kind!r} cannot be written "
                         "(netlists are flattened)")
    if not e.name[:1].lower() == e.kind.lower():
        # SPICE reads an element's kind from its first letter: "cw1" would be a capacitor
        raise ValueError(f"element {e.name}: a {e.kind} element's name must start with "
                         f"{e.kind!r}, or SPICE reads it as another kind")
    nodes = " ".join(e.nodes)
    if e.kind == "D":
        area = "" if e.value == 1.0 else f" area={format_value(e.value)}"
        return f"{e.name} {nodes} {e.model}{area}"
    if e.kind in "VI":
        return f"{e.name} {nodes} DC {format_value(e.value)}"
    return f"{e.name} {nodes} {format_value(e.value)}"


def write_netlist(netlist: Netlist) -> str:
    """The flattened SPICE deck of ``netlist`` (ends with a newline)."""
    lines = [" ".join(netlist.title.splitlines())]   # the first line is always the title
    lines += [_model_card(m) for m in netlist.models]
    lines += [_element_card(e) for e in netlist.elements]
    lines += [".op", ".end"]
    return "\n".join(lines) + "\n"
