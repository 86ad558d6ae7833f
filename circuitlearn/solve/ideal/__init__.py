"""Ideal-diode DC solver (projected coordinate descent, active set): :func:`solve_ideal`."""
from circuitlearn.solve.ideal.solver import solve_ideal

__all__ = ["solve_ideal"]
