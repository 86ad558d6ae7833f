"""The one table of element kinds circuitlearn understands.

The parser, the writer and the documentation are all driven by
:data:`ELEMENT_KINDS`: one entry per SPICE prefix, with the SPICE line it
accepts (as in the ngspice manual), the number of nodes and what the single
numeric value means.  Prefixes listed in :data:`UNSUPPORTED` are real SPICE
elements outside circuitlearn's DC resistive subset; the parser names them in
its error instead of calling them unknown.
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ElementKind:
    prefix: str      #: first letter of the element name (upper case)
    name: str        #: what it is, in words
    n_nodes: int     #: number of node tokens after the name
    value: str       #: meaning of the numeric value (``""`` when none)
    unit: str        #: SI unit of the value
    spice: str       #: the accepted SPICE syntax


ELEMENT_KINDS: dict[str, ElementKind] = {k.prefix: k for k in (
    ElementKind("R", "resistor", 2, "resistance", "ohm", "Rname n+ n- value"),
    ElementKind("V", "independent voltage source", 2, "DC voltage", "V",
                "Vname n+ n- [DC] value"),
    ElementKind("I", "independent current source", 2, "DC current", "A",
                "Iname n+ n- [DC] value   (current flows from n+ through the source to n-)"),
    ElementKind("D", "diode", 2, "area factor", "",
                "Dname anode cathode model [area | area=value]"),
    ElementKind("E", "voltage-controlled voltage source", 4, "voltage gain", "V/V",
                "Ename n+ n- nc+ nc- gain"),
    ElementKind("G", "voltage-controlled current source", 4, "transconductance", "S",
                "Gname n+ n- nc+ nc- gain   (current gain*(v(nc+)-v(nc-)) from n+ through the source to n-)"),
    ElementKind("X", "subcircuit instance", -1, "", "",
                "Xname node... subckt [param=value ...]"),
)}

#: SPICE elements that exist but lie outside circuitlearn's DC resistive subset.
UNSUPPORTED: dict[str, str] = {
    "C": "capacitor", "L": "inductor", "K": "coupled inductor", "M": "MOSFET",
    "Q": "bipolar transistor", "J": "JFET", "Z": "MESFET", "T": "transmission line",
    "O": "lossy transmission line", "U": "uniform RC line", "B": "behavioural source",
    "F": "current-controlled current source", "H": "current-controlled voltage source",
    "S": "voltage-controlled switch", "W": "current-controlled switch",
    "A": "XSPICE code model", "N": "device-level (OSDI/Verilog-A) element",
    "P": "coupled multiconductor line", "Y": "transmission line",
}

#: Dot commands accepted and what happens to them.
DOT_COMMANDS: dict[str, str] = {
    ".title": "sets the title",
    ".model": "defines a diode model (type D)",
    ".subckt": "opens a subcircuit definition (nestable, with default parameters)",
    ".ends": "closes a subcircuit definition",
    ".include": "reads another file, path relative to the including file",
    ".inc": "same as .include",
    ".lib": "reads a section of a library file (.lib FILE SECTION), or opens/closes a section",
    ".endl": "closes a .lib section",
    ".param": "defines parameters; values may be {expressions}",
    ".op": "DC operating point (the only analysis; accepted and implied)",
    ".end": "ends the netlist; anything after it is ignored",
    ".options": "simulator options; accepted and ignored by circuitlearn",
    ".option": "same as .options",
    ".global": "accepted: node 0/gnd is the only global node circuitlearn uses",
}

#: Analyses and dot commands outside the DC subset.
UNSUPPORTED_DOT: dict[str, str] = {
    ".tran": "transient analysis", ".ac": "AC analysis", ".dc": "DC sweep",
    ".noise": "noise analysis", ".tf": "transfer-function analysis",
    ".sens": "sensitivity analysis", ".pz": "pole-zero analysis",
    ".disto": "distortion analysis", ".four": "Fourier analysis", ".meas": "measurement",
    ".measure": "measurement", ".ic": "initial conditions", ".nodeset": "node set",
    ".func": "user-defined functions", ".control": "control block", ".endc": "control block",
    ".temp": "temperature setting", ".save": "save list", ".print": "print list",
    ".plot": "plot list", ".probe": "probe list", ".csparam": "control parameters",
    ".if": "conditional netlist", ".else": "conditional netlist", ".endif": "conditional netlist",
}

#: Diode .model parameters used by circuitlearn (ngspice names, lower case) and defaults.
#: ``vth`` is circuitlearn's own: the forward threshold of the *ideal* diode
#: (``diodes="ideal"``).  ngspice warns "unrecognized parameter (vth) - ignored"
#: and runs the deck unchanged, so one file serves both simulators.
DIODE_PARAMS: dict[str, tuple[float, str]] = {
    "is": (1e-14, "saturation current (A)"),
    "n": (1.0, "emission coefficient"),
    "rs": (0.0, "ohmic series resistance (ohm)"),
    "vth": (0.0, "circuitlearn: forward threshold of the ideal diode (V)"),
    "bv": (float("inf"), "reverse breakdown voltage (V), > 0: Shockley diodes break down as "
           "ngspice's do (the knee matched to IBV); ideal diodes clamp at -BV"),
    "ibv": (1e-3, "current at the breakdown voltage (A), as ngspice's default"),
    "nbv": (float("nan"), "breakdown emission coefficient (default: N, as ngspice)"),
}

#: Further diode parameters accepted (and written back) without a DC effect at the nominal
#: temperature: capacitances, noise, and temperature coefficients (circuitlearn, like a
#: deck without .temp, simulates at TNOM = TEMP = 27 C, where they do not act).  ``ibvl``
#: and ``nbvl`` are not used by ngspice 39's level-1 diode.
DIODE_PARAMS_NO_DC_EFFECT = frozenset({
    "cjo", "cj0", "vj", "m", "tt", "eg", "xti", "kf", "af", "fc", "tnom", "level",
    "jsw", "ns", "trs", "trs2", "tm1", "tm2", "ttt1", "ttt2", "cjsw", "vjsw", "mjsw",
    "ikf", "ikr", "ibvl", "nbvl", "tbv1", "tbv2", "tcv", "isr", "nr",
})

#: Parameters that change ngspice's DC curve at 27 C, refused (with the card's location)
#: unless at their no-effect value: (that value, what the parameter does).
DIODE_PARAMS_REFUSED: dict[str, tuple[float, str]] = {
    "tnom": (27.0, "the model's nominal temperature: IS, N and RS are rescaled to 27 C"),
    "level": (1.0, "a diode model other than level 1"),
    "ikf": (0.0, "forward high-injection knee current"),
    "ikr": (0.0, "reverse high-injection knee current"),
    "isr": (0.0, "recombination saturation current"),
}

#: Node names meaning ground.
GROUND_NAMES = frozenset({"0", "gnd"})
GROUND = "0"
