"""Devices backed by simulation: the fast layered solver, or any DC backend.

* :class:`LayeredSimulator` — ideal-diode DRN relaxed by exact block coordinate
  descent (:mod:`circuitlearn.solve.layered.network`), a fixed number of sweeps per
  phase as in the published DRN.  Nudged phases start from the free state.
* :class:`CircuitDevice` — the same DRN compiled to a :class:`~circuitlearn.compile.circuit.Circuit`
  by the builders and solved by :func:`circuitlearn.solve.solve` (backend
  ``"numba"`` with ideal or Shockley diodes, or ``"ngspice"``); programmed
  conductances are written into the circuit with ``with_conductance``.
"""
from __future__ import annotations

import numpy as np

from circuitlearn.device.base import Device
from circuitlearn.device.kernels import add_clip_sums
from circuitlearn.errors import BackendError, SolveError
from circuitlearn.solve.result import NUMERICAL
from circuitlearn.solve.layered import network as ly


class LayeredSimulator(Device):
    """Fast ideal-diode DRN simulator.

    Parameters
    ----------
    sizes : layer sizes ``(n0, ..., nL)`` (``n0`` = 2 x number of pixels)
    gain : input gain (sources at ``gain * [x, -x]``)
    g_min, g_max : programmable conductance range (S)
    vth : diode threshold of the hidden nodes
    sweeps : sweeps per phase (published: 4); ``tol > 0`` stops earlier
    warm_start : the free phase starts from the previous free state (as the
        published trainer does; ``False`` starts from 0 for every batch)
    load : conductance from each output node to ground (a sense resistor; 0: none)
    """

    def __init__(self, sizes, gain: float = 1.0, g_min: float = 0.0, g_max: float = np.inf,
                 vth: float = 0.0, sweeps: int = 4, tol: float = 0.0, warm_start: bool = True,
                 load: float = 0.0):
        self.net = ly.make_network(sizes, vth, load)
        self.sizes = self.net.sizes
        self.gain = float(gain)
        self.g_min, self.g_max = float(g_min), float(g_max)
        if not (0.0 <= self.g_min <= self.g_max):
            raise ValueError(f"need 0 <= g_min <= g_max, got {g_min}, {g_max}")
        self.sweeps, self.tol, self.warm_start = int(sweeps), float(tol), bool(warm_start)
        self.params = ly.make_params(self.net, [np.zeros((a, b)) for a, b in
                                                zip(self.sizes[:-1], self.sizes[1:])])
        self._denom = None
        self._prep = None
        self._v_in = None
        self._rowsum = [np.zeros(a) for a in self.sizes[:-1]]
        self._colsum = [np.zeros(b) for b in self.sizes[1:]]
        self._free = None          # last free state (flat), start of the nudged phases
        self._current = None
        self._beta = 0.0
        self._target = None
        self._nudged = False
        self._status = {}

    @property
    def load(self) -> float:
        """The output load (the network's)."""
        return self.net.load

    # -- parameters -------------------------------------------------------
    def set_parameters(self, weights, biases=None):
        for dst, src in zip(self.params.weights, weights):
            dst[...] = np.clip(src, self.g_min, self.g_max)
        if biases is not None:
            for dst, src in zip(self.params.biases, biases):
                dst[...] = src
        for l, W in enumerate(self.params.weights):
            self._rowsum[l][...] = W.sum(axis=1)
            self._colsum[l][...] = W.sum(axis=0)
        self._invalidate()

    def program(self, delta_w, delta_b=None):
        if self._denom is None:
            self._denom = ly.conductance_sums(self.params)
        o = self.net.offsets
        L = self.net.n_layers
        for l, (W, dW) in enumerate(zip(self.params.weights, delta_w)):
            add_clip_sums(W, np.ascontiguousarray(dW, dtype=np.float64), self.g_min,
                             self.g_max, self._rowsum[l], self._colsum[l], l > 0)
        # total conductance into each node: column sums of W_l + row sums of W_{l+1}
        # (row sums of W_1 belong to the fixed input nodes: not needed, not kept)
        for l in range(L + 1):
            d = self._denom[o[l]:o[l + 1]]
            d[...] = self._colsum[l - 1] if l >= 1 else 0.0
            if l < L:
                d += self._rowsum[l]
            else:
                d += self.net.load
        if delta_b is not None:
            for b, db in zip(self.params.biases, delta_b):
                b += db
        self._prep = None

    def conductances(self):
        return [W.copy() for W in self.params.weights]

    def biases(self):
        return [b.copy() for b in self.params.biases]

    def _invalidate(self):
        self._denom = None
        self._prep = None

    # -- stimulus ---------------------------------------------------------
    def set_inputs(self, x):
        x = np.asarray(x, dtype=np.float64)
        if x.ndim != 2 or 2 * x.shape[1] != self.sizes[0]:
            raise ValueError(f"inputs must be [batch, {self.sizes[0] // 2}], got {x.shape}")
        self._v_in = ly.input_voltages(x, self.gain)
        self._prep = None
        if self._free is not None and self._free.shape[0] != x.shape[0]:
            self._free = None

    def inject_currents(self, currents):
        self._current = np.ascontiguousarray(currents, dtype=np.float64)
        self._nudged = True

    def connect_targets(self, beta, target):
        self._beta = beta
        self._target = np.asarray(target, dtype=np.float64)
        self._nudged = True

    def clear_nudge(self):
        self._current, self._beta, self._target = None, 0.0, None
        self._nudged = False

    @property
    def nudged(self) -> bool:
        return self._nudged

    # -- read-out ---------------------------------------------------------
    def _prepared(self):
        if self._v_in is None:
            raise RuntimeError("set_inputs() before measure()")
        if self._prep is None:
            if self._denom is None:
                self._denom = ly.conductance_sums(self.params)
            self._prep = ly.prepare(self.params, self._v_in, self._denom)
        return self._prep

    def measure(self):
        prep = self._prepared()
        nudged = self.nudged
        if nudged and self._free is not None:
            v = self._free.copy()
        elif not nudged and self.warm_start and self._free is not None:
            v = self._free
        else:
            v = ly.init_state(prep)
        res = ly.relax(prep, v, self.sweeps, self.tol, self._current, self._beta, self._target)
        if res.status == NUMERICAL:
            raise SolveError("layered simulator produced non-finite voltages")
        if not nudged:
            self._free = v
        self._status = {"nit": res.nit, "delta": res.delta, "status": res.status,
                        "unstable": res.unstable, "message": res.message}
        return [a.copy() for a in ly.layer_views(self.net, v)]

    def last_status(self):
        return dict(self._status)

    def reset_state(self):
        """Forget the warm-start state (next free phase starts from 0) and recompute the
        conductance sums from the weights: :meth:`program` updates them incrementally,
        so without this a run resumed from a checkpoint (sums computed afresh) would
        differ from an uninterrupted one in the last bits."""
        self._free = None
        for l, W in enumerate(self.params.weights):
            self._rowsum[l][...] = W.sum(axis=1)
            self._colsum[l][...] = W.sum(axis=0)
        self._invalidate()


def _require(module: str, what: str):
    import importlib
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise BackendError(f"{what} needs {module}, which is not available: {exc}") from exc


class CircuitDevice(Device):
    """A DRN as a compiled circuit solved by :func:`circuitlearn.solve.solve`.

    The network is built once by ``circuitlearn.compile.builders.drn_netlist`` with
    every possible resistor present (``g_min`` > 0 keeps them all in the
    netlist); programming writes new conductances into the circuit.  Inputs,
    bias currents and injected output currents are source values.  Nudging by a
    conductance to a target is not offered here (it changes the topology);
    use current nudging.

    Parameters
    ----------
    sizes, gain, g_min, g_max : as :class:`LayeredSimulator`
    backend : ``"numba"`` or ``"ngspice"`` (passed to :func:`circuitlearn.solve.solve`)
    diodes : ``"ideal"`` or ``"shockley"`` (passed as ``diodes=``); with ngspice,
        ``"ideal"`` means the near-ideal Shockley ``.model`` of the builders
    builder_kwargs : extra keyword arguments for ``drn_netlist``
    load : conductance from each output node to ground (sense resistors ``rs{k}``)
    """

    def __init__(self, sizes, gain=1.0, g_min=1e-9, g_max=np.inf, backend="numba",
                 diodes="ideal", builder_kwargs=None, solve_kwargs=None, load: float = 0.0):
        self.sizes = tuple(int(s) for s in sizes)
        self.gain, self.g_min, self.g_max = float(gain), float(g_min), float(g_max)
        if self.g_min <= 0:
            raise ValueError("CircuitDevice needs g_min > 0 so that every resistor exists")
        if backend == "ngspice" and diodes == "ideal":
            # ngspice has no ideal diode: the builders' near-ideal .model (n = 0.01) stands in
            diodes = "shockley"
        self.backend, self.diodes = backend, diodes
        self.builder_kwargs = dict(builder_kwargs or {})
        self.load = float(load)
        if self.load:
            self.builder_kwargs["load"] = self.load
        self.solve_kwargs = dict(solve_kwargs or {})
        self._w = [np.full((a, b), self.g_min) for a, b in zip(self.sizes[:-1], self.sizes[1:])]
        self._b = [np.zeros(n) for n in self.sizes[1:]]
        self._circuit = None     # compiled once: programming changes conductances only
        self._stale = True       # self._w not yet written into self._circuit
        self._where = None       # (layer, i, k) index arrays of each circuit resistor
        self._session = None     # the ngspice session holding this circuit (backend "ngspice")
        self._x = None
        self._current = None
        self._status = {}

    def set_parameters(self, weights, biases=None):
        self._w = [np.clip(np.asarray(W, dtype=float), self.g_min, self.g_max) for W in weights]
        if biases is not None:
            self._b = [np.asarray(b, dtype=float).copy() for b in biases]
        self._stale = True

    def program(self, delta_w, delta_b=None):
        self._w = [np.clip(W + dW, self.g_min, self.g_max) for W, dW in zip(self._w, delta_w)]
        if delta_b is not None:
            self._b = [b + db for b, db in zip(self._b, delta_b)]
        self._stale = True

    def conductances(self):
        return [W.copy() for W in self._w]

    def biases(self):
        return [b.copy() for b in self._b]

    def set_inputs(self, x):
        self._x = np.asarray(x, dtype=np.float64)

    def inject_currents(self, currents):
        self._current = np.asarray(currents, dtype=np.float64)

    def connect_targets(self, beta, target):
        raise BackendError("CircuitDevice nudges by injected currents only "
                           "(nudging='current'); conductance nudging needs LayeredSimulator")

    def clear_nudge(self):
        self._current = None

    def netlist(self, x=None):
        """The DRN netlist for the current parameters (inputs ``x`` or zeros)."""
        builders = _require("circuitlearn.compile.builders", "CircuitDevice")
        x0 = np.zeros(self.sizes[0] // 2) if x is None else np.asarray(x)
        return builders.drn_netlist(self._w, self._b, x=x0, gain=self.gain, **self.builder_kwargs)

    def _compiled(self):
        """The circuit with the current conductances (compiled once, then re-programmed)."""
        if self._circuit is None:
            circuit_mod = _require("circuitlearn.compile.circuit", "CircuitDevice")
            self._circuit = circuit_mod.compile_netlist(self.netlist())
            # resistor r{l}_{i}_{k} joins node i of layer l-1 to node k of layer l
            # (the output loads rs{k} are fixed: layer 0 matches no weight matrix)
            lik = np.array([[int(t) for t in name[1:].split("_")] if name[1:2].isdigit()
                            else [0, 0, 0] for name in self._circuit.resistor_names],
                           dtype=np.int64)
            self._where = [(lik[:, 0] == l + 1, lik[lik[:, 0] == l + 1, 1], lik[lik[:, 0] == l + 1, 2])
                           for l in range(len(self._w))]
            self._stale = False
        elif self._stale:
            g = self._circuit.conductance.copy()
            for W, (mask, i, k) in zip(self._w, self._where):
                g[mask] = W[i, k]
            from circuitlearn.solve.assemble import carry_structure
            new = self._circuit.with_conductance(g)
            carry_structure(self._circuit, new)   # same topology: keep the reduction and plans
            self._circuit = new
            if self._session is not None:
                self._session.set_conductance(g)
            self._stale = False
        return self._circuit

    def _sources(self, circuit):
        """Sources vector [B, n_sources] by name: inputs, biases, output currents."""
        B = self._x.shape[0]
        names = circuit.source_names
        src = np.tile(circuit.default_sources(), (B, 1))
        index = {n: i for i, n in enumerate(names)}
        vin = ly.input_voltages(self._x, self.gain)
        for k in range(vin.shape[1]):
            src[:, index[f"vx{k}"]] = vin[:, k]
        L = len(self.sizes) - 1
        for l in range(1, L + 1):
            for k in range(self.sizes[l]):
                name = f"io{k}" if l == L else f"ih{l}_{k}"
                if name in index:
                    extra = self._current[:, k] if (l == L and self._current is not None) else 0.0
                    src[:, index[name]] = self._b[l - 1][k] + extra
                elif l == L and self._current is not None:
                    raise BackendError(f"the DRN netlist has no current source {name!r} "
                                       "to inject at the outputs")
        return src

    def measure(self):
        if self._x is None:
            raise RuntimeError("set_inputs() before measure()")
        solve_mod = _require("circuitlearn.solve", "CircuitDevice")
        circuit = self._compiled()
        kwargs = dict(self.solve_kwargs)
        if self.backend == "ngspice":
            if self._session is None:
                ng = _require("circuitlearn.solve.backends.ngspice", "CircuitDevice")
                self._session = ng.NgspiceSession(circuit)
            kwargs["session"] = self._session
        res = solve_mod.solve(circuit, self._sources(circuit), diodes=self.diodes,
                              backend=self.backend, **kwargs)
        if not res.success:
            raise BackendError(f"{self.backend} solve failed: {res.message}")
        self._status = {"nit": res.nit, "status": res.status, "message": res.message, "unstable": 0}
        V = res.voltages
        idx = {n: i for i, n in enumerate(res.node_names or circuit.node_names)}
        L = len(self.sizes) - 1
        out = [V[:, [idx[f"x{k}"] for k in range(self.sizes[0])]]]
        for l in range(1, L + 1):
            names = [f"o{k}" if l == L else f"h{l}_{k}" for k in range(self.sizes[l])]
            out.append(V[:, [idx[n] for n in names]])
        return out

    def last_status(self):
        return dict(self._status)
