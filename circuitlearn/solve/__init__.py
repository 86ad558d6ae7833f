"""DC solvers: ``solve(circuit, sources, diodes=..., backend=...)`` -> :class:`SolveResult`."""
from circuitlearn.solve.api import solve
from circuitlearn.solve.result import STATUS_MESSAGES, SolveResult

__all__ = ["solve", "SolveResult", "STATUS_MESSAGES"]
