"""What every DC solve returns: voltages plus a certificate and a status."""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

import numpy as np

#: The one status table of every solver and backend (``SolveResult.sample_status`` per
#: sample, ``SolveResult.status`` the largest code in the batch, the layered relaxation's
#: :class:`~circuitlearn.solve.layered.network.RelaxResult` and the devices' ``last_status``).
#: As in scipy, 0 means success; every other code is a failed sample whose voltages are
#: not an operating point (non-finite values are replaced by zeros, never returned).
STATUS_MESSAGES = {
    0: "converged",
    1: "maximum number of iterations reached before the tolerance",
    2: "numerical failure (singular system or non-finite values)",
    3: "backend error",
    4: "certificate failed: the state does not satisfy Kirchhoff's law or the diode law to "
       "the tolerance at some node (the conductances may span more than float64 resolves)",
    5: "nudging conductance makes an output node unstable (sum g + beta <= 0)",
}
#: code of each failure class, by name (for readable comparisons)
CONVERGED, MAXITER, NUMERICAL, BACKEND, CERTIFICATE, UNSTABLE = range(6)


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
        Key of :data:`STATUS_MESSAGES`: the largest code in ``sample_status``.
    message : str
    nit : int
        Iterations (sweeps or Newton steps) used, max over the batch.
    kcl_residual : float64[batch]
        Max ``|sum of currents|`` (A) at any node not fixed by a voltage source.
    diode_violation : float64[batch]
        Ideal diodes, in volts: ``max_k |min(i_k / s_k, vth_k - v_d,k)|``,
        zero exactly when every diode is either off (``v_d <= vth``, no
        current) or on (``v_d = vth``, forward current); ``s_k`` is the
        diode's own conductance scale (see :mod:`circuitlearn.solve.ideal.solver`).
        Shockley diodes and ngspice: 0 (the diode law is solved, not a
        complementarity condition).
    sample_success : bool[batch]
        ``sample_status == 0``: each sample is judged on its own, never by the batch.
    sample_status : int64[batch]
        Key of :data:`STATUS_MESSAGES` for each sample.
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
    sample_status: np.ndarray | None = field(default=None, repr=False)

    def __post_init__(self):
        if self.sample_status is None:       # results built from a success mask alone
            st = np.where(np.asarray(self.sample_success, bool), 0, max(int(self.status), 1))
            object.__setattr__(self, "sample_status", st.astype(np.int64))

    def node(self, name: str) -> np.ndarray:
        """Voltages of one node over the batch."""
        return self.voltages[:, self.node_names.index(name.lower())]


def failed_result(circuit, B, status, msg, method):
    """Every sample of a batch of ``B`` failed with ``status`` before any solve."""
    n, nv, d = circuit.n_nodes, len(circuit.vsource_names), len(circuit.diode_names)
    return SolveResult(np.zeros((B, n)), np.zeros((B, nv)), np.zeros((B, d)), False, status,
                       msg, 0, np.full(B, np.inf), np.full(B, np.inf), np.zeros(B, bool),
                       circuit.node_names, method, sample_status=np.full(B, status, np.int64))


def make_result(circuit, vext, isrc, lam, status, nit, kcl, viol, messages, method):
    """A :class:`SolveResult` from the expanded voltages ``vext`` [n_ext, B], the per-sample
    ``status`` (int[B]) and messages (``{code: first message}``).  A sample with any
    non-finite voltage, current or residual fails with status 2 and is zeroed."""
    B = vext.shape[1]
    V = np.ascontiguousarray(vext[:circuit.n_nodes].T)
    isrc, lam = np.ascontiguousarray(isrc), np.ascontiguousarray(lam)
    kcl, viol = np.asarray(kcl, np.float64), np.asarray(viol, np.float64)
    status = np.asarray(status, np.int64).copy()
    bad = ~(np.all(np.isfinite(V), axis=1) & np.all(np.isfinite(isrc), axis=1)
            & np.all(np.isfinite(lam), axis=1) & np.isfinite(kcl) & np.isfinite(viol))
    if bad.any():
        V, isrc, lam, kcl, viol = V.copy(), isrc.copy(), lam.copy(), kcl.copy(), viol.copy()
        V[bad], isrc[bad], lam[bad] = 0.0, 0.0, 0.0
        kcl[bad], viol[bad] = np.inf, np.inf
        status[bad & (status == 0)] = NUMERICAL
        messages = {NUMERICAL: "non-finite voltages or currents", **messages}
    worst = int(status.max(initial=0))
    if worst == 0:
        msg = STATUS_MESSAGES[0]
    else:
        fails = np.flatnonzero(status)
        msg = (f"{fails.size} of {B} samples failed (first: sample {fails[0]}): "
               + "; ".join(messages.get(s, STATUS_MESSAGES[s])
                           for s in sorted(set(status[fails].tolist()))))
    return SolveResult(V, isrc, lam, worst == 0, worst, msg, int(np.max(nit, initial=0)), kcl,
                       viol, status == 0, circuit.node_names, method, sample_status=status)


def merge_samples(res: SolveResult, idx, sub: SolveResult, method: str) -> SolveResult:
    """``res`` with the samples ``idx`` replaced by ``sub`` (their re-solve, in order)."""
    arrays = {}
    for name in ("voltages", "source_currents", "diode_currents", "kcl_residual",
                 "diode_violation", "sample_status"):
        a = np.array(getattr(res, name))
        a[idx] = getattr(sub, name)
        arrays[name] = a
    status = arrays["sample_status"]
    worst = int(status.max(initial=0))
    B = status.size
    if worst == 0:
        msg = STATUS_MESSAGES[0]
    else:
        fails = np.flatnonzero(status)
        why = sub.message if np.isin(fails[0], idx) else res.message
        why = why.split("): ", 1)[-1]
        msg = f"{fails.size} of {B} samples failed (first: sample {fails[0]}): {why}"
    return dataclasses.replace(res, success=worst == 0, status=worst, message=msg,
                               nit=max(res.nit, sub.nit), sample_success=status == 0,
                               method=method, **arrays)
