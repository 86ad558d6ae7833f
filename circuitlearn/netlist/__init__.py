"""SPICE-subset netlists: read (flattening subcircuits), write, and diode model libraries."""
from circuitlearn.netlist.library import ModelLibrary
from circuitlearn.netlist.model import DiodeModel, Element, Netlist
from circuitlearn.netlist.parser import parse_netlist, read_netlist
from circuitlearn.netlist.writer import write_netlist

__all__ = ["read_netlist", "parse_netlist", "write_netlist", "ModelLibrary", "Netlist",
           "Element", "DiodeModel"]
