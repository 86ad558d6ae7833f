"""``solve``: one entry point for every DC solver (scipy-style names and results)."""
from __future__ import annotations

import numpy as np

from circuitlearn.solve.result import SolveResult

DIODE_MODELS = ("ideal", "shockley")
BACKENDS = ("numba", "ngspice")


#: the numba solvers' voltage tolerance when none is given (V)
DEFAULT_TOL = 1e-10


def solve(circuit, sources=None, diodes: str = "ideal", backend: str = "numba",
          tol: float | None = None, maxiter: int | None = None, x0=None,
          **options) -> SolveResult:
    """DC operating points of ``circuit`` for a batch of source vectors.

    Parameters
    ----------
    circuit : Circuit
        A compiled circuit (:func:`circuitlearn.compile.circuit.compile_netlist`).
    sources : array_like ``[batch, n_sources]`` or ``[n_sources]``, optional
        Source values in ``circuit.source_names`` order (V sources, then I
        sources).  ``None``: the netlist's values, batch 1.
    diodes : ``"ideal"`` or ``"shockley"``
        Ideal diodes (threshold ``vth`` of the ``.model``) or ngspice's
        Shockley model.
    backend : ``"numba"`` or ``"ngspice"``
        ``"ngspice"`` dispatches to :func:`circuitlearn.solve.backends.ngspice.solve_ngspice`.
    tol : float, optional
        Voltage tolerance (V, default ``DEFAULT_TOL``): ideal -- CD stops once no
        node moves more than ``tol`` in a sweep; Shockley -- Newton stops once a
        step moves no unknown by more than ``tol``.  The certificate thresholds
        derive from it (see :mod:`circuitlearn.solve.ideal`).  ngspice: its
        ``vntol`` (default: :data:`~circuitlearn.solve.backends.ngspice.TIGHT_OPTIONS`).
    maxiter : int, optional
        Ideal: maximum CD sweeps (default 10000) and active-set iterations
        (default 200); Shockley: maximum Newton iterations (default 200);
        ngspice: its DC iteration limit ``itl1``.
    x0 : array_like ``[batch, n_nodes]``, optional
        Warm start (node voltages, ground included), e.g. a previous result.
        Not taken by ngspice (refused: it finds its own starting point).
    **options
        ngspice: ``session=`` an open :class:`~circuitlearn.solve.backends.ngspice.NgspiceSession`
        holding this circuit (reused across calls), ``options=`` the ``.options`` line.
        Ideal diodes: ``method="auto"|"cd"|"active-set"``, ``omega`` (CD
        relaxation, see :func:`circuitlearn.solve.ideal.solve_ideal`) and
        ``record_energy=True`` (adds ``result.energy``, ``float64[sweeps+1,
        batch]``: the energy after each CD sweep).

    Returns
    -------
    SolveResult
        ``success`` is True only when every sample's certificate holds;
        a sample that did not converge has ``status`` 1 (iterations) or 2
        (non-finite values / singular system, voltages then set to the last
        finite iterate or zeros).
    """
    if diodes not in DIODE_MODELS:
        raise ValueError(f"diodes must be one of {DIODE_MODELS}, got {diodes!r}")
    if backend not in BACKENDS:
        raise ValueError(f"backend must be one of {BACKENDS}, got {backend!r}")
    if tol is not None and not (isinstance(tol, (int, float, np.floating)) and np.isfinite(tol)
                                and tol > 0):
        raise ValueError(f"tol must be a positive finite number, got {tol!r}")
    if maxiter is not None and (int(maxiter) != maxiter or maxiter < 1):
        raise ValueError(f"maxiter must be a positive integer, got {maxiter!r}")
    if sources is None:
        sources = circuit.default_sources()[None, :]
    vs, is_ = circuit.split_sources(sources)          # shape and finiteness checks
    S = np.ascontiguousarray(np.concatenate([vs, is_], axis=1))
    if x0 is not None:
        x0 = np.asarray(x0, dtype=np.float64)
        if x0.ndim == 1:
            x0 = x0[None, :]
        if x0.ndim != 2 or x0.shape[1] != circuit.n_nodes or x0.shape[0] not in (1, S.shape[0]):
            raise ValueError(f"x0 must have shape [{S.shape[0]}, {circuit.n_nodes}] "
                             f"(batch, n_nodes), got {np.shape(x0)}")
        if not np.all(np.isfinite(x0)):
            raise ValueError("x0 contains NaN or infinity")
        x0 = np.ascontiguousarray(np.broadcast_to(x0, (S.shape[0], circuit.n_nodes)))
    if backend == "ngspice":
        from circuitlearn.solve.backends.ngspice import solve_ngspice
        unknown = set(options) - {"session", "options"}
        if unknown:
            raise ValueError(f"unknown option(s) for ngspice: {', '.join(sorted(unknown))}")
        if x0 is not None:
            raise ValueError("the ngspice backend takes no x0 (ngspice finds its own starting "
                             "point)")
        return solve_ngspice(circuit, S, diodes=diodes, tol=tol, maxiter=maxiter, **options)
    tol = DEFAULT_TOL if tol is None else tol
    if diodes == "ideal":
        from circuitlearn.solve.ideal import solve_ideal
        unknown = set(options) - {"method", "record_energy", "omega"}
        if unknown:
            raise ValueError(f"unknown option(s) for ideal diodes: {', '.join(sorted(unknown))}")
        return solve_ideal(circuit, S, tol=tol, maxiter=maxiter, x0=x0, **options)
    if options:
        raise ValueError(f"unknown option(s) for Shockley diodes: {', '.join(sorted(options))}")
    from circuitlearn.solve.shockley import solve_shockley
    return solve_shockley(circuit, S, tol=tol, maxiter=maxiter, x0=x0)
