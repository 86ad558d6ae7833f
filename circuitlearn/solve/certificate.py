"""The per-node KCL certificate the ideal and Shockley solvers (and the dense path of
:mod:`circuitlearn.solve.dense`) judge each sample by.

A solver's own convergence test is in volts, and a circuit-wide current threshold
(``gscale * tol``) is loosened for every node by one stiff element: on a chain of
1 µΩ, 1 µΩ and 1 MΩ coordinate descent met 1e-10 V with the source current 60x
wrong.  Here each free node's Kirchhoff residual is judged against the currents
that meet *at that node*::

    |sum of currents at i|  <=  NODE_RTOL * sum |currents at i|  +  NODE_FLOOR * sum g (|v_a| + |v_b|)

(the second term is what float64 resolves: voltages near 1 V are known to ~1e-16 V,
so ``g * dv`` is uncertain by ``g * 1e-16``).  Resistor currents come from the
voltages; diode and I-source currents enter as injections.
"""
from __future__ import annotations

import numpy as np

from circuitlearn.solve.kernels_certificate import kcl_ratios

#: relative KCL residual a node may keep, against the sum of its currents
NODE_RTOL = 1e-6
#: float64 floor, in units of the node's sum g (|v_a| + |v_b|): 64 ulp
NODE_FLOOR = 64 * np.finfo(np.float64).eps
#: what a sample that fails the node certificate is told
NODE_MESSAGE = ("a node's KCL residual exceeds what the currents meeting there allow (the "
                "conductances may span more than float64 resolves)")


def nodes_certified(circuit, ex, free, vext, lam, S) -> np.ndarray:
    """bool[B] for the expanded circuit ``ex`` (internal RS nodes included): voltages
    ``vext`` [n_ext, B], diode currents ``lam`` [B, d] (anode to cathode), sources ``S``
    [B, n_sources]; the nodes in ``free`` are judged."""
    B = vext.shape[1]
    nv = len(circuit.vsource_names)
    ii = S[:, nv:].T                                   # [ni, B]
    inn, dn = circuit.isource_nodes, ex.dnodes
    inj = np.ascontiguousarray(np.concatenate([ii, -ii, -lam.T, lam.T], axis=0))
    nodes = np.concatenate([inn[:, 1], inn[:, 0], dn[:, 0], dn[:, 1]]).astype(np.int64)
    check = np.zeros(ex.n_ext, bool)
    check[free] = True
    out = np.empty(B)
    kcl_ratios(np.ascontiguousarray(vext), np.ascontiguousarray(ex.res_nodes[:, 0]),
               np.ascontiguousarray(ex.res_nodes[:, 1]), np.ascontiguousarray(ex.g), inj, nodes,
               check, NODE_RTOL, NODE_FLOOR, out)
    return out <= 1.0
