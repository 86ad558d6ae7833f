"""Small linear circuits solved densely: the fixed cost of one solve in microseconds.

A circuit without diodes or controlled sources, whose voltage sources are tied
to ground by other voltage sources (a source tree, as the reduced path of
:mod:`circuitlearn.solve.assemble` needs), is the linear system
``K v_f = M v_s + Q i_s`` over its free nodes.  :class:`DenseLinear` builds the
structure once (node codes, the source-tree map ``P``, the I-source map ``Q``)
(taken from the reduction of :mod:`circuitlearn.solve.assemble`) and, per set
of conductances, the dense blocks ``K`` and ``M`` -- numba
kernels over arrays (:mod:`circuitlearn.solve.linalg.kernels_dense`).  A Cholesky
factor is kept per operating mode, so the phases of a learning step that share
a matrix (free, current injection) share one factorisation.

Modes (the nudges of :class:`~circuitlearn.device.netlist_device.NetlistDevice`,
acting on ``probes``, free nodes of the circuit):

* ``"free"``; ``"inject"``: currents ``values[B, p]`` into the probes;
* ``"conduct"``: each probe tied through ``beta`` (S) to a source at ``values``;
* ``"clamp"``: the probes held at ``values`` (they leave the free set);
* ``"nodes"``: currents ``values[B, n_nodes]`` into every node (node perturbation; zero
  at the nodes voltage sources fix).

Every solve is certified node by node with the thresholds of
:mod:`circuitlearn.solve.certificate`: a node's KCL residual is judged against the
currents that meet at that node.
A factorisation that fails (a floating node) or a certificate that is not met
raises :class:`DenseUnsuitable`: the caller then uses the general solver.
Only for small circuits (``DENSE_MAX`` free nodes); larger ones are the sparse
solvers' job.
"""
from __future__ import annotations

import numpy as np
from scipy.linalg import lapack

from circuitlearn.solve.linalg import kernels_dense as kd
from circuitlearn.solve.certificate import NODE_FLOOR, NODE_RTOL
from circuitlearn.solve.kernels_certificate import kcl_ratio

#: largest free-node count solved densely (Cholesky is n^3/3: ~1 ms at 300)
DENSE_MAX = 300


class DenseUnsuitable(Exception):
    """The dense path cannot solve this circuit (or this state) to its certificate."""


def unsuitable_reason(circuit) -> str | None:
    """Why ``circuit`` cannot take the dense path (None when it can)."""
    from circuitlearn.solve.assemble import prepared
    if len(circuit.diode_names):
        return "it has diodes"
    red = prepared(circuit)["red"]
    if not red.ok:
        return red.why
    if red.free.size > DENSE_MAX:
        return f"{red.free.size} free nodes (dense up to {DENSE_MAX})"
    return None


class DenseLinear:
    """The dense nodal system of a small linear ``circuit`` with nudges at ``probes``
    (node indices, all free).  :meth:`set_conductance` then :meth:`solve`."""

    def __init__(self, circuit, probes):
        from circuitlearn.solve.assemble import prepared
        why = unsuitable_reason(circuit)
        if why:
            raise DenseUnsuitable(why)
        red = prepared(circuit)["red"]       # the reduction's free/fixed split and P, shared
        n, nv = circuit.n_nodes, len(circuit.vsource_names)
        fixed, free = red.fixed, red.free
        is_fixed = np.zeros(n, bool)
        is_fixed[fixed] = True
        code = np.empty(n, np.int64)
        code[free] = np.arange(free.size)
        code[fixed] = -1 - np.arange(fixed.size)
        P = red.P.toarray()                  # v_fixed = P @ v_src
        # I sources: drawn from n+, injected into n-
        ni = len(circuit.isource_names)
        Q = np.zeros((free.size, ni))
        for k, (a, b) in enumerate(circuit.isource_nodes):
            if code[b] >= 0:
                Q[code[b], k] += 1.0
            if code[a] >= 0:
                Q[code[a], k] -= 1.0
        probes = np.asarray(probes, dtype=np.int64)
        if np.any(code[probes] < 0):
            raise DenseUnsuitable("a probe node is fixed by a voltage source")
        self.n_nodes, self.nv, self.free, self.fixed = n, nv, free, fixed
        self.P, self.Q = P, Q
        self.ca = np.ascontiguousarray(code[circuit.resistor_nodes[:, 0]])
        self.cb = np.ascontiguousarray(code[circuit.resistor_nodes[:, 1]])
        self.ra = np.ascontiguousarray(circuit.resistor_nodes[:, 0])
        self.rb = np.ascontiguousarray(circuit.resistor_nodes[:, 1])
        self.probes, self.pc = probes, code[probes]
        inn = circuit.isource_nodes
        self._src_nodes = np.concatenate([inn[:, 1], inn[:, 0]]).astype(np.int64)
        self._check = ~is_fixed
        self._K = np.empty((free.size, free.size))
        self._Kx = np.empty((free.size, fixed.size))
        self._keep = np.setdiff1d(np.arange(free.size), self.pc)
        self._g = None
        self._factors = {}

    def set_conductance(self, g) -> None:
        """The resistor conductances (S, in the circuit's resistor order)."""
        self._g = np.ascontiguousarray(g, dtype=np.float64).copy()
        kd.assemble(self.ca, self.cb, self._g, self._K, self._Kx)
        self._M = -(self._Kx @ self.P)          # rhs = M v_s + Q i_s
        self._factors.clear()

    def _factor(self, key, A):
        """``U = L^T`` (F-ordered upper factor, LAPACK's layout) of ``A``, cached per mode."""
        U = self._factors.get(key)
        if U is None:
            L = np.empty_like(A)
            if not kd.cholesky(np.ascontiguousarray(A), L):
                raise DenseUnsuitable("the nodal matrix is singular (a floating node?)")
            U = self._factors[key] = L.T
        return U

    @staticmethod
    def _cho_solve(U, R):
        """Solve ``A x = r`` for every row of ``R`` [B, n] (C order), in place (LAPACK potrs
        on the F-ordered transpose: no copy)."""
        if R.shape[1] == 0:
            return
        _, info = lapack.dpotrs(U, R.T, lower=0, overwrite_b=1)
        if info != 0:
            raise DenseUnsuitable(f"LAPACK dpotrs failed (info {info})")

    def solve(self, S, mode="free", values=None, beta=None):
        """Node voltages ``[B, n_nodes]`` for sources ``S`` [B, n_sources] (the circuit's
        order) in ``mode``; raises :class:`DenseUnsuitable` when not certified."""
        vs, isrc = S[:, :self.nv], S[:, self.nv:]
        rhs = vs @ self._M.T
        if isrc.shape[1]:
            rhs += isrc @ self.Q.T
        inj_nodes = self._src_nodes
        sign_inj = np.concatenate([isrc, -isrc], axis=1) if isrc.shape[1] else isrc
        V = np.empty((S.shape[0], self.n_nodes))
        V[:, self.fixed] = vs @ self.P.T
        check = self._check
        if mode == "clamp":
            keep, pc = self._keep, self.pc
            K = self._K
            x = np.ascontiguousarray(rhs[:, keep] - values @ K[np.ix_(pc, keep)])
            if keep.size:
                self._cho_solve(self._factor("clamp", K[np.ix_(keep, keep)]), x)
            xf = np.empty_like(rhs)
            xf[:, keep] = x
            xf[:, pc] = values
            check = check.copy()
            check[self.probes] = False
        else:
            if mode == "free":
                L = self._factor("free", self._K)
            elif mode == "inject":
                L = self._factor("free", self._K)
                rhs[:, self.pc] += values
            elif mode == "nodes":
                L = self._factor("free", self._K)
                rhs += values[:, self.free]
            elif mode == "conduct":
                A = self._K.copy()
                A[self.pc, self.pc] += beta
                L = self._factor(("conduct", float(beta)), A)
                rhs[:, self.pc] += beta * values
            else:
                raise ValueError(f"unknown mode {mode!r}")
            xf = np.ascontiguousarray(rhs)
            self._cho_solve(L, xf)
        V[:, self.free] = xf
        # injected currents for the certificate: I sources, then the nudges
        parts, nodes = [sign_inj], [inj_nodes]
        if mode == "inject":
            parts.append(values)
            nodes.append(self.probes)
        elif mode == "conduct":
            parts.append(beta * (values - V[:, self.probes]))
            nodes.append(self.probes)
        elif mode == "nodes":
            parts.append(values[:, self.free])
            nodes.append(self.free)
        inj = np.concatenate(parts, axis=1) if len(parts) > 1 else sign_inj
        ratio = kcl_ratio(np.ascontiguousarray(V.T), self.ra, self.rb, self._g,
                          np.ascontiguousarray(inj.T), np.concatenate(nodes).astype(np.int64), check, NODE_RTOL, NODE_FLOOR)
        if not ratio <= 1.0:
            raise DenseUnsuitable(f"KCL certificate not met (worst node at {ratio:.3g} x its "
                                  "tolerance)")
        return V, ratio
