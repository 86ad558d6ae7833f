"""Netlist -> compiled :class:`Circuit`, topology checks and netlist builders."""
from circuitlearn.compile.builders import (
    DRN_DIODE_PARAMS, crossbar_array_netlist, crossbar_conductance, crossbar_netlist,
    crossbar_cell_read, crossbar_read_netlist, crossbar_readout, drn_arrays, drn_netlist,
    drn_sizes, drn_source_vector, lattice_resistor_diode_graph, random_resistor_diode_graph,
    representable_conductance,
)
from circuitlearn.compile.circuit import Circuit, compile_netlist
from circuitlearn.compile.topology import check_topology

__all__ = [
    "Circuit", "compile_netlist", "check_topology",
    "crossbar_netlist", "crossbar_conductance", "crossbar_array_netlist", "crossbar_readout",
    "crossbar_read_netlist", "crossbar_cell_read",
    "drn_netlist", "drn_arrays", "drn_sizes", "drn_source_vector",
    "random_resistor_diode_graph", "lattice_resistor_diode_graph", "representable_conductance",
    "DRN_DIODE_PARAMS",
]
