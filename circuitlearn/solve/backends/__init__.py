"""External simulators as solve backends: ngspice's shared library (:mod:`.ngspice`) and program (:mod:`.ngspice_batch`)."""
