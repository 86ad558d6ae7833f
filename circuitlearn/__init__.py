"""circuitlearn: simulate analog resistive/diode circuits and train them like learning hardware.

Architecture (one sub-package per stage):

``netlist``  parse SPICE-subset text into a flattened :class:`Netlist`, write it back
``compile``  turn a netlist into a frozen :class:`Circuit` of flat arrays; builders
``solve``    DC equilibrium: exact ideal-diode solver, Shockley solver, ngspice backend
``learn``    Equilibrium Propagation, losses, exact gradients, optimisers, netlist tasks
``device``   hardware-in-the-loop interface over the simulator or ngspice; device physics
``data``     data sets (sklearn digits bundled, MNIST, Fashion-MNIST)

The names most scripts need are importable from the top level (each is loaded on first
use, so ``import circuitlearn`` stays fast)::

    import circuitlearn as cl
    circuit = cl.compile_netlist(cl.read_netlist(cl.example("bridge.cir")))
    result = cl.solve(circuit, circuit.default_sources()[None], diodes="ideal")
"""
from __future__ import annotations

import importlib

__version__ = "0.1.0"

from circuitlearn.errors import (BackendError, CircuitLearnError, ConfigError,  # noqa: F401
                                 DataError, NetlistError, SolveError, TopologyError,
                                 TrainingError)

#: the public API: name -> module it lives in
API = {
    # netlists
    "read_netlist": "circuitlearn.netlist", "parse_netlist": "circuitlearn.netlist",
    "write_netlist": "circuitlearn.netlist", "Netlist": "circuitlearn.netlist",
    "Element": "circuitlearn.netlist", "DiodeModel": "circuitlearn.netlist",
    "ModelLibrary": "circuitlearn.netlist",
    # compile and build
    "compile_netlist": "circuitlearn.compile", "Circuit": "circuitlearn.compile",
    "check_topology": "circuitlearn.compile", "crossbar_netlist": "circuitlearn.compile",
    "drn_netlist": "circuitlearn.compile", "drn_arrays": "circuitlearn.compile",
    "random_resistor_diode_graph": "circuitlearn.compile",
    "lattice_resistor_diode_graph": "circuitlearn.compile",
    # solve
    "solve": "circuitlearn.solve", "SolveResult": "circuitlearn.solve",
    # learn
    "load_task": "circuitlearn.learn.task", "load_task_data": "circuitlearn.learn.task",
    "build_device": "circuitlearn.learn.task", "fit_task": "circuitlearn.learn.learners",
    "evaluate_task": "circuitlearn.learn.learners",
    "circuit_gradients": "circuitlearn.learn.gradients",
    "Loss": "circuitlearn.learn.losses", "EPConfig": "circuitlearn.learn.ep",
    # devices
    "NetlistDevice": "circuitlearn.device.netlist_device",
    "LayeredSimulator": "circuitlearn.device.simulator",
    "CircuitDevice": "circuitlearn.device.simulator",
    "PulseModel": "circuitlearn.device.physics", "ReadOut": "circuitlearn.device.readout",
    "PhysicalScale": "circuitlearn.device.scaling",
    # data, runs, results
    "load_dataset": "circuitlearn.data.datasets", "run_sweep": "circuitlearn.sweep",
    "load_sweep": "circuitlearn.sweep", "provenance": "circuitlearn.results",
    "example": "circuitlearn.bundled",
}

__all__ = sorted(API) + ["__version__", "BackendError", "CircuitLearnError", "ConfigError",
                         "DataError", "NetlistError", "SolveError", "TopologyError",
                         "TrainingError"]


def __getattr__(name):
    if name in API:
        value = getattr(importlib.import_module(API[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'circuitlearn' has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(API))
