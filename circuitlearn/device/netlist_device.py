"""A hardware-in-the-loop device over any compiled circuit (the user's own netlist).

:class:`NetlistDevice` offers the bench verbs on a circuit whose inputs are
some of its independent sources, whose outputs are node voltages (or
differences of two nodes) and whose trainable elements are some of its
resistors:

* ``set_inputs(values)`` -- the DC values of the input sources, ``[B, n_inputs]`` (V or A);
* ``inject_currents(I)`` -- currents ``[B, n_probe]`` (A, into the node) at the output nodes;
* ``connect_targets(beta, t)`` -- each output node through a conductance ``beta``
  (S, may be negative) to a source at ``t`` ``[B, n_probe]``;
* ``clamp_outputs(v)`` -- the output nodes held at ``v`` ``[B, n_probe]`` by sources;
* ``inject_node_currents(I)`` -- currents ``[B, n_free]`` (A) into every free node
  (:attr:`free_nodes`: the nodes no voltage source fixes), as node perturbation needs;
* ``clear_nudge()`` -- the free circuit again;
* ``measure()`` -- all node voltages ``[B, n_nodes]`` (what probes would read);
  ``measure_outputs()`` -- only the outputs ``[B, n_outputs]`` (fewer reads);
* ``program(delta)`` / ``conductances()`` / ``set_conductances(g)`` -- the trainable
  conductances as one flat vector, clamped to ``[g_min, g_max]`` like real hardware.

"Probe nodes" are the distinct non-ground nodes named by the outputs (an
output ``"a-b"`` reads ``v_a - v_b`` and probes both ``a`` and ``b``).

Each way of nudging is a *variant* of the user's circuit with a few elements
added after the user's own (so the user's resistors keep their indices):
current sources ``inudge.<node>`` for injection, a resistor ``rnudge.<node>``
to a node driven by ``vnudge.<node>`` for conductance nudging, sources
``vclamp.<node>`` for clamping, current sources ``inode.<node>`` at every free
node for node perturbation.  Each variant is compiled once, on first
use; programming changes only conductances.  Backends: ``"numba"`` with
``diodes="ideal"`` or ``"shockley"``, and ``"ngspice"`` (one session per
variant, conductances re-programmed with ``alter``).

What the bench did is counted in :attr:`NetlistDevice.costs`
(:class:`~circuitlearn.device.costs.Costs`): settles, node-voltage reads,
conductance writes and the energy the circuit's resistors dissipate while settled.
"""
from __future__ import annotations

import fnmatch
from contextlib import contextmanager

import numpy as np

from circuitlearn.errors import BackendError, SolveError

from circuitlearn.device.costs import Costs

VARIANTS = ("free", "inject", "conduct", "clamp", "nodes")


def parse_output(spec: str) -> tuple[str, str]:
    """``"o1"`` -> ``("o1", "0")``; ``"a-b"`` -> ``("a", "b")`` (names lower case)."""
    s = str(spec).strip().lower()
    if "-" in s:
        a, b = s.split("-", 1)
        return a.strip(), b.strip()
    return s, "0"


def match_trainable(names, patterns) -> np.ndarray:
    """Indices of the resistors whose (flattened) names match any glob in ``patterns``,
    in circuit order; raises ``KeyError(pattern)`` for a glob that matches nothing."""
    hit = np.zeros(len(names), bool)
    for p in patterns:
        m = np.array([fnmatch.fnmatchcase(n, str(p).lower()) for n in names], bool)
        if not m.any():
            raise KeyError(p)
        hit |= m
    return np.flatnonzero(hit).astype(np.int64)


class NetlistDevice:
    """Train a compiled circuit through the bench verbs (see the module docstring).

    Parameters
    ----------
    circuit : Circuit (compiled from the user's netlist)
    inputs : source names carrying the inputs, in column order
    outputs : output specs ``"node"`` or ``"a-b"``
    trainable : resistor indices that can be programmed (``match_trainable``)
    g_min, g_max : programmable range (S)
    backend, diodes : as :func:`circuitlearn.solve.solve`
    tol : the numba solvers' voltage tolerance (ngspice runs its tight validation options)
    input_scale, input_offset : ``value = offset + scale * x`` (scalars or per input)
    dense : solve small linear circuits (no diodes or controlled sources, at most
        :data:`~circuitlearn.solve.linalg.dense.DENSE_MAX` free nodes) on the numba backend by
        the dense path of :mod:`circuitlearn.solve.linalg.dense` (microseconds per solve, KCL
        certified per node); ``False``: always the general solver
    settle_time : seconds the circuit is held in each settled state (the energy counted in
        :attr:`costs` is the resistors' power times this)
    """

    def __init__(self, circuit, inputs, outputs, trainable, g_min=0.0, g_max=np.inf,
                 backend="numba", diodes="ideal", input_scale=1.0, input_offset=0.0,
                 tol=1e-10, dense=True, settle_time=1e-6):
        self.circuit = circuit
        src = {n: i for i, n in enumerate(circuit.source_names)}
        missing = [n for n in inputs if n.lower() not in src]
        if missing:
            raise KeyError(missing[0])
        self.input_index = np.array([src[n.lower()] for n in inputs], dtype=np.int64)
        self.outputs = [parse_output(o) for o in outputs]
        probes = []
        for a, b in self.outputs:
            for n in (a, b):
                if n != "0" and n not in probes:
                    probes.append(n)
        self.probe_names = tuple(probes)
        self.probe_index = np.array([circuit.node_index(n) for n in probes], dtype=np.int64)
        self._pos = np.array([probes.index(a) if a != "0" else -1 for a, _ in self.outputs])
        self._neg = np.array([probes.index(b) if b != "0" else -1 for _, b in self.outputs])
        # read-out map [n_probes, n_outputs]: y = v_probes @ _read (+1 node, -1 reference)
        self._read = np.zeros((len(probes), len(self.outputs)))
        for k, (p, q) in enumerate(zip(self._pos, self._neg)):
            if p >= 0:
                self._read[p, k] += 1.0
            if q >= 0:
                self._read[q, k] -= 1.0
        self.trainable = np.asarray(trainable, dtype=np.int64)
        self.g_min, self.g_max = float(g_min), float(g_max)
        self.devices = None             # device physics (attach_devices): Devices or None
        if not 0.0 <= self.g_min <= self.g_max:
            raise ValueError(f"need 0 <= g_min <= g_max, got {g_min}, {g_max}")
        self.backend, self.diodes, self.tol = backend, diodes, float(tol)
        if backend == "ngspice" and diodes == "ideal":
            self.diodes = "shockley"      # ngspice has no ideal diode: the .model cards as they are
        self.input_scale = np.broadcast_to(np.asarray(input_scale, float), (len(inputs),)).copy()
        self.input_offset = np.broadcast_to(np.asarray(input_offset, float), (len(inputs),)).copy()
        self._g = circuit.conductance.copy()
        self._g[self.trainable] = np.clip(self._g[self.trainable], max(self.g_min, 1e-300),
                                          self.g_max)
        ends = circuit.resistor_nodes
        self._edges = np.ascontiguousarray(ends[self.trainable])   # [m_t, 2] node indices
        self._variants = {}      # mode -> [circuit, ngspice session, stale, node map]
        # the dense path: a DenseLinear once built, False when unsuitable or not wanted
        self._dense, self._dense_stale = (None if dense else False), True
        self._sources = None                        # [B, n_sources] of the user's circuit
        self._mode, self._nudge_beta, self._nudge_values = "free", None, None
        self._status = {}
        self._free_nodes = None
        self._src_edges = None          # per input source: its resistors (source_currents)
        self.costs = Costs(settle_time=float(settle_time))

    # ------------------------------------------------------------- sizes
    @property
    def n_outputs(self) -> int:
        return len(self.outputs)

    @property
    def n_trainable(self) -> int:
        return int(self.trainable.size)

    @property
    def trainable_names(self) -> tuple:
        return tuple(self.circuit.resistor_names[i] for i in self.trainable)

    @property
    def node_names(self) -> tuple:
        return self.circuit.node_names

    # ------------------------------------------------------------- read-out helpers
    @property
    def single_ended(self) -> bool:
        """Every output is one node read against ground (needed to clamp or conductance-nudge)."""
        return not np.any(self._neg >= 0) and len(self.probe_names) == self.n_outputs

    def readout(self, V) -> np.ndarray:
        """Outputs ``[B, n_outputs]`` from node voltages ``[B, n_nodes]``."""
        return V[:, self.probe_index] @ self._read

    def output_to_probe(self, gy) -> np.ndarray:
        """Chain rule: ``dC/dy`` ``[B, n_outputs]`` -> ``dC/dv`` at the probe nodes."""
        return np.asarray(gy, dtype=np.float64) @ self._read.T

    def node_conductance(self) -> np.ndarray:
        """Total programmed resistor conductance at every node (S) ``[n_nodes]``."""
        ends = self.circuit.resistor_nodes
        tot = np.zeros(self.circuit.n_nodes)
        np.add.at(tot, ends[:, 0], self._g)
        np.add.at(tot, ends[:, 1], self._g)
        return tot

    def resistor_conductance(self) -> np.ndarray:
        """Every resistor's programmed conductance (S), the circuit's resistor order (a copy)."""
        return self._g.copy()

    def probe_conductance(self) -> np.ndarray:
        """Total resistor conductance at each probe node (S), for nudging stability."""
        return self.node_conductance()[self.probe_index]

    @property
    def free_nodes(self) -> np.ndarray:
        """int64 node indices no voltage source fixes (not ground, not tied to it through
        voltage sources alone): where node perturbation injects its currents."""
        if self._free_nodes is None:
            from circuitlearn.solve.assemble import _source_tree
            seen, _, _ = _source_tree(self.circuit)
            self._free_nodes = np.array([i for i in range(1, self.circuit.n_nodes)
                                         if i not in seen], dtype=np.int64)
        return self._free_nodes

    def source_currents(self, V) -> np.ndarray:
        """``[B, n_inputs]``: the current each input voltage source delivers into the circuit
        at the node voltages ``V`` [B, n_nodes] -- what an ammeter in series with the source
        reads, signed so that ``value * current`` is the power the source delivers (the
        derivative of the circuit's power with respect to the source's value).  Summed over
        the resistors at the node the source holds, which needs each input source to hold a
        node against ground with only resistors attached to that node (raises
        ``ValueError`` naming the source otherwise)."""
        if self._src_edges is None:
            self._src_edges = self._input_resistors()
        out = np.zeros((V.shape[0], self.input_index.size))
        for k, (r, node, other, sign) in enumerate(self._src_edges):
            out[:, k] = sign * ((V[:, [node]] - V[:, other]) @ self._g[r])
        return out

    def _input_resistors(self):
        c = self.circuit
        nv = len(c.vsource_names)
        ends = c.resistor_nodes
        parts = []
        for k in self.input_index:
            name = c.source_names[k]
            if k >= nv:
                raise ValueError(f"input {name} is a current source; its input gradient is the "
                                 "voltage at its node, not a current")
            p, m = (int(i) for i in c.vsource_nodes[k])
            if m != 0:
                p, m = m, p
            if m != 0:
                raise ValueError(f"input source {name} does not hold a node against ground")
            others = [int(np.sum(c.vsource_nodes == p)) - 1, int(np.sum(c.isource_nodes == p)),
                      int(np.sum(c.diode_nodes == p)),
                      int(np.sum(c.vcvs_nodes[:, :2] == p)) if len(c.vcvs_names) else 0,
                      int(np.sum(c.vccs_nodes[:, :2] == p)) if len(c.vccs_names) else 0]
            if any(others):
                raise ValueError(f"input source {name}: node {c.node_names[p]} has elements "
                                 "other than resistors, so its current is not read from them")
            r = np.flatnonzero((ends[:, 0] == p) | (ends[:, 1] == p))
            other = np.where(ends[r, 0] == p, ends[r, 1], ends[r, 0])
            parts.append((r, p, other, 1.0 if c.vsource_nodes[k][0] == p else -1.0))
        return parts

    @property
    def trainable_edges(self) -> np.ndarray:
        """int64[n_trainable, 2]: the node indices of each trainable resistor."""
        return self._edges

    # ------------------------------------------------------------- programming
    def conductances(self) -> np.ndarray:
        return self._g[self.trainable].copy()

    def set_conductances(self, g) -> None:
        g = np.asarray(g, dtype=np.float64)
        if g.shape != (self.n_trainable,):
            raise ValueError(f"conductances must have shape ({self.n_trainable},), got {g.shape}")
        g = np.clip(g, self.g_min, self.g_max)
        self._g[self.trainable] = g if self.programmer is None else self.programmer.set(g)
        self._mark_stale()

    def program(self, delta) -> None:
        """Change the trainable conductances by ``delta`` (flat): clamped to the range, or,
        with pulsed devices attached (:meth:`attach_devices`), applied as pulses."""
        d = np.asarray(delta, dtype=np.float64)
        if d.shape != (self.n_trainable,):
            raise ValueError(f"delta must have shape ({self.n_trainable},), got {d.shape}")
        self.costs.count_writes(np.count_nonzero(d))
        if self.programmer is None:
            self._g[self.trainable] = np.clip(self._g[self.trainable] + d, self.g_min,
                                              self.g_max)
        else:
            self._g[self.trainable] = self.programmer.program(d)
        self._mark_stale()

    @contextmanager
    def perturbed(self, delta):
        """A context in which the trainable conductances are ``g + delta`` (clipped at 0),
        restored on exit: the probe writes of zeroth-order rules (weight perturbation).
        They are written exactly, as a bench with write-verify and restore would; pulsed
        devices (:attr:`programmer`) keep their state, and only the measurements see the
        perturbed values."""
        g0 = self._g[self.trainable].copy()
        d = np.asarray(delta, dtype=np.float64)
        self.costs.count_writes(2 * np.count_nonzero(d))       # the probe write and the restore
        self._g[self.trainable] = np.maximum(g0 + d, 0.0)
        self._mark_stale()
        try:
            yield self
        finally:
            self._g[self.trainable] = g0
            self._mark_stale()

    @property
    def programmer(self):
        """The pulsed devices holding the trainable conductances (None: ideal programming)."""
        return None if self.devices is None else self.devices.programmer

    def attach_devices(self, devices) -> None:
        """Device physics from now on (:class:`~circuitlearn.device.programming.Devices`): its
        programmer holds the trainable conductances (its devices start as close to the
        present ones as they go), its reader reads every voltage :meth:`measure` returns."""
        g = self.conductances()
        self.devices = devices
        if devices is not None and devices.programmer is not None:
            self._g[self.trainable] = devices.programmer.set(g)
        self._mark_stale()

    def sync_programmer(self) -> None:
        """Re-read the conductances from the attached devices (after restoring their state)."""
        self._g[self.trainable] = self.programmer.conductances()
        self._mark_stale()

    def _mark_stale(self):
        self._dense_stale = True
        for v in self._variants.values():
            v[2] = True

    def trained_circuit(self):
        """The user's circuit with the programmed conductances."""
        return self.circuit.with_conductance(self._g.copy())

    # ------------------------------------------------------------- stimulus
    def input_values(self, x) -> np.ndarray:
        x = np.asarray(x, dtype=np.float64)
        if x.ndim != 2 or x.shape[1] != self.input_index.size:
            raise ValueError(f"inputs must be [batch, {self.input_index.size}], got {x.shape}")
        return self.input_offset + self.input_scale * x

    def source_vectors(self, x) -> np.ndarray:
        """The user's circuit's sources ``[B, n_sources]`` with inputs ``x`` applied."""
        S = np.tile(self.circuit.default_sources(), (np.shape(x)[0], 1))
        S[:, self.input_index] = self.input_values(x)
        return S

    def set_inputs(self, x) -> None:
        self._sources = self.source_vectors(x)

    def inject_currents(self, currents) -> None:
        self._mode, self._nudge_values = "inject", self._probe_array(currents)

    def connect_targets(self, beta, target) -> None:
        b = float(beta)
        if b == 0.0:
            self.clear_nudge()
            return
        self._mode, self._nudge_beta = "conduct", b
        self._nudge_values = self._probe_array(target)

    def clamp_outputs(self, voltages) -> None:
        self._mode, self._nudge_values = "clamp", self._probe_array(voltages)

    def inject_node_currents(self, currents) -> None:
        """Currents ``[B, len(free_nodes)]`` (A) into the free nodes (:attr:`free_nodes`)."""
        a = np.asarray(currents, dtype=np.float64)
        if a.ndim != 2 or a.shape[1] != self.free_nodes.size:
            raise ValueError(f"expected [batch, {self.free_nodes.size}] currents at the free "
                             f"nodes, got {a.shape}")
        if not np.all(np.isfinite(a)):
            raise SolveError("non-finite node currents")
        self._mode, self._nudge_values = "nodes", a

    def clear_nudge(self) -> None:
        self._mode, self._nudge_beta, self._nudge_values = "free", None, None

    def _probe_array(self, a):
        a = np.asarray(a, dtype=np.float64)
        if a.ndim != 2 or a.shape[1] != len(self.probe_names):
            raise ValueError(f"expected [batch, {len(self.probe_names)}] values at the probe "
                             f"nodes {', '.join(self.probe_names)}, got {a.shape}")
        if not np.all(np.isfinite(a)):
            raise SolveError("non-finite nudge values")
        return a

    # ------------------------------------------------------------- variants
    def _variant(self, mode):
        v = self._variants.get(mode)
        if v is None:
            from circuitlearn.compile.circuit import compile_netlist
            from circuitlearn.netlist.model import Element, Netlist
            base = self.circuit.with_conductance(self._g.copy()).to_netlist()
            extra = []
            for n in self.probe_names:
                if mode == "inject":
                    extra.append(Element(f"inudge.{n}", "I", ("0", n), 0.0))
                elif mode == "conduct":
                    extra.append(Element(f"rnudge.{n}", "R", (n, f"nudge.{n}"), 1.0))
                    extra.append(Element(f"vnudge.{n}", "V", (f"nudge.{n}", "0"), 0.0))
                elif mode == "clamp":
                    extra.append(Element(f"vclamp.{n}", "V", (n, "0"), 0.0))
            if mode == "nodes":
                extra = [Element(f"inode.{self.circuit.node_names[i]}", "I",
                                 ("0", self.circuit.node_names[i]), 0.0)
                         for i in self.free_nodes]
            net = Netlist(base.title, base.elements + tuple(extra), base.models)
            c = compile_netlist(net, check=(mode != "free"))
            # the variant's nodes in the user's node order (compilation renumbers them)
            # stale: the deck's text rounded 1/(1/g); the exact conductances go in below
            v = [c, None, True, np.array([c.node_index(n) for n in self.circuit.node_names])]
            self._variants[mode] = v
        if v[2]:
            g = v[0].conductance.copy()
            g[:self._g.size] = self._g
            self._refresh(v, g)
        return v

    def _refresh(self, v, g):
        from circuitlearn.solve.assemble import carry_structure
        new = v[0].with_conductance(g)
        carry_structure(v[0], new)        # programming changes values, not topology
        v[0] = new
        if v[1] is not None:
            v[1].set_conductance(g)
        v[2] = False

    def measure(self) -> np.ndarray:
        """Settle and read every node voltage of the user's circuit ``[B, n_nodes]`` (through
        the attached read-out, :meth:`attach_devices`, when there is one)."""
        V = self._settle()
        self.costs.count_settle(V, self.circuit.resistor_nodes, self._g, V.shape[1] - 1)
        d = self.devices
        if d is not None and d.reader is not None:
            V = d.reader.read(V, d.read_rng)
        return V

    def measure_outputs(self) -> np.ndarray:
        """Settle and read the outputs only ``[B, n_outputs]`` (the probe nodes' voltages,
        through the attached read-out): what output-only rules (perturbation) need."""
        V = self._settle()
        self.costs.count_settle(V, self.circuit.resistor_nodes, self._g,
                                len(self.probe_names))
        d = self.devices
        Vp = V[:, self.probe_index]
        if d is not None and d.reader is not None:
            Vp = d.reader.read(Vp, d.read_rng)
        return Vp @ self._read

    def _settle(self) -> np.ndarray:
        if self._sources is None:
            raise RuntimeError("set_inputs() before measure()")
        mode = self._mode
        V = self._measure_dense(mode)
        if V is not None:
            return V
        v = self._variant(mode)
        c = v[0]
        if mode == "conduct":
            g = c.conductance.copy()
            g[self._g.size:] = self._nudge_beta
            if not np.array_equal(g, c.conductance):
                self._refresh(v, g)
                c = v[0]
        S = self._full_sources(mode)
        from circuitlearn.solve import solve
        if self.backend == "ngspice":        # a kept session, ngspice's tight validation options
            if v[1] is None:
                from circuitlearn.solve.backends.ngspice import NgspiceSession
                v[1] = NgspiceSession(c)
            kwargs = {"session": v[1]}
        else:
            kwargs = {"tol": self.tol}
        res = solve(c, S, diodes=self.diodes, backend=self.backend, **kwargs)
        if not res.success:
            raise BackendError(f"{self.backend} solve ({mode} phase) failed: {res.message}")
        V = np.ascontiguousarray(res.voltages[:, v[3]])
        if not np.all(np.isfinite(V)):
            raise SolveError("the solve returned non-finite voltages")
        self._status = {"nit": res.nit, "status": res.status, "message": res.message,
                        "unstable": 0, "method": res.method}
        return V

    def _measure_dense(self, mode):
        """The dense path (:mod:`circuitlearn.solve.linalg.dense`) for small linear circuits on the
        numba backend; None when it does not apply (the general solver runs instead)."""
        if self.backend != "numba" or self._dense is False:
            return None
        from circuitlearn.solve.linalg.dense import DenseLinear, DenseUnsuitable
        try:
            if self._dense is None:
                self._dense = DenseLinear(self.circuit, self.probe_index)
            if self._dense_stale:
                self._dense.set_conductance(self._g)
                self._dense_stale = False
            values = self._nudge_values
            if mode == "nodes":           # the dense path takes currents at every node
                if np.isin(self.free_nodes, self._dense.fixed).any():
                    raise DenseUnsuitable("a free node is fixed in the dense reduction")
                values = np.zeros((values.shape[0], self.circuit.n_nodes))
                values[:, self.free_nodes] = self._nudge_values
            V, ratio = self._dense.solve(self._sources, mode, values, self._nudge_beta)
        except DenseUnsuitable:
            self._dense = False          # the general solver from now on
            return None
        if not np.all(np.isfinite(V)):
            raise SolveError("the solve returned non-finite voltages")
        self._status = {"nit": 1, "status": 0, "message": "dense Cholesky, KCL certified",
                        "unstable": 0, "method": "dense", "kcl_ratio": ratio}
        return V

    def _full_sources(self, mode):
        """Sources of the ``mode`` variant: the user's (inputs set), then the nudge sources."""
        nv = len(self.circuit.vsource_names)
        user = self._sources
        uv, ui = user[:, :nv], user[:, nv:]
        if mode in ("inject", "nodes"):
            return np.concatenate([uv, ui, self._nudge_values], axis=1)
        if mode in ("conduct", "clamp"):
            return np.concatenate([uv, self._nudge_values, ui], axis=1)
        return user

    def measure_by_name(self) -> dict:
        V = self.measure()
        return {n: V[:, i] for i, n in enumerate(self.circuit.node_names)}

    def last_status(self) -> dict:
        return dict(self._status)

    def close(self):
        """Release the ngspice sessions."""
        for v in self._variants.values():
            v[1] = None
