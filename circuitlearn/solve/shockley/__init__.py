"""Shockley-diode DC solver (ngspice's level-1 diode, junction-limited Newton): :func:`solve_shockley`."""
from circuitlearn.solve.shockley.solver import solve_shockley

__all__ = ["solve_shockley"]
