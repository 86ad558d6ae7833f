"""What every DC solve returns: voltages plus a certificate and a status."""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

#: Status codes (``SolveResult.status``), as in scipy: 0 means success.
STATUS_MESSAGES = {
    0: "converged",
    1: "maximum number of iterations reached before the tolerance",
    2: "numerical failure (singular system or non-finite values)",
    3: "backend error",
    4: "a diode is reverse-biased beyond its BV (breakdown is not modelled)",
}


@dataclass(frozen=True, eq=False)
class SolveResult:
    """DC steady state of a batch of source vectors.

    Attributes
    ----------
    voltages : float64[batch, n_nodes]
        Node voltages, ground (index 0) included.
    source_currents : float64[batch, n_vsources]
        Current through each voltage source, from n+ through the source to n-
        (SPICE's sign: a source delivering power has a negative current).
    diode_currents : float64[batch, n_diodes]
        Anode-to-cathode current of each diode.
    success : bool
        Every sample converged to ``tol``.
    status : int
        Key of :data:`STATUS_MESSAGES` (worst over the batch).
    message : str
    nit : int
        Iterations (sweeps or Newton steps) used, max over the batch.
    kcl_residual : float64[batch]
        Max |sum of currents| (A) at any node not fixed by a voltage source.
    diode_violation : float64[batch]
        Ideal diodes, in volts: ``max_k |min(i_k / gscale, vth_k - v_d,k)|``,
        zero exactly when every diode is either off (``v_d <= vth``, no
        current) or on (``v_d = vth``, forward current); ``gscale`` is the
        circuit's conductance scale (see :mod:`circuitlearn.solve.ideal`).
        Shockley diodes and ngspice: 0 (the diode law is solved, not a
        complementarity condition).
    sample_success : bool[batch]
    """
    voltages: np.ndarray
    source_currents: np.ndarray
    diode_currents: np.ndarray
    success: bool
    status: int
    message: str
    nit: int
    kcl_residual: np.ndarray
    diode_violation: np.ndarray
    sample_success: np.ndarray
    node_names: tuple[str, ...] = field(default=(), repr=False)
    method: str = ""
    #: ideal diodes with ``record_energy=True``: float64[sweeps + 1, batch], the
    #: circuit's energy after each coordinate-descent sweep (else ``None``)
    energy: np.ndarray | None = field(default=None, repr=False)

    def node(self, name: str) -> np.ndarray:
        """Voltages of one node over the batch."""
        return self.voltages[:, self.node_names.index(name.lower())]
