"""DC solvers: ``solve(circuit, sources, diodes=..., backend=...)`` -> :class:`SolveResult`.

The package itself is callable as :func:`~circuitlearn.solve.api.solve`, so
``circuitlearn.solve(circuit, sources)`` means the function whether or not this package
was imported first (Python binds ``circuitlearn.solve`` to the package on import)."""
import sys
import types

from circuitlearn.solve.api import solve
from circuitlearn.solve.result import STATUS_MESSAGES, SolveResult

__all__ = ["solve", "SolveResult", "STATUS_MESSAGES"]


class _CallablePackage(types.ModuleType):
    def __call__(self, *args, **kwargs):
        return solve(*args, **kwargs)


sys.modules[__name__].__class__ = _CallablePackage
