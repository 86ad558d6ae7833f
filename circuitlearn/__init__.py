"""circuitlearn: simulate analog resistive/diode circuits and train them like learning hardware.

Architecture (one sub-package per stage):

``netlist``  parse SPICE-subset text into a flattened :class:`Netlist`, write it back
``compile``  turn a netlist into a frozen :class:`Circuit` of flat arrays; builders
``solve``    DC equilibrium: exact ideal-diode solver, Shockley solver, ngspice backend
``learn``    Equilibrium Propagation, losses, exact gradients, optimisers
``device``   hardware-in-the-loop interface over the simulator or ngspice
``data``     data sets (sklearn digits bundled, MNIST, Fashion-MNIST)
"""
__version__ = "0.1.0"

from circuitlearn.errors import (BackendError, CircuitLearnError, ConfigError,  # noqa: F401
                                 DataError, NetlistError, TopologyError)
