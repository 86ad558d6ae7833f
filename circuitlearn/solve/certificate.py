"""The per-node KCL certificate the ideal and Shockley solvers (and the dense path of
:mod:`circuitlearn.solve.linalg.dense`) judge each sample by.

A solver's own convergence test is in volts, and a circuit-wide current threshold
(``gscale * tol``) is loosened for every node by one stiff element: on a chain of
1 µΩ, 1 µΩ and 1 MΩ coordinate descent met 1e-10 V with the source current 60x
wrong.  Here each free node's Kirchhoff residual is judged against the currents
that meet *at that node*::

    |sum of currents at i|  <=  NODE_RTOL * sum |currents at i|
                               +  NODE_FLOOR * sum g (|v_a| + |v_b| + v_max)

(the second term is what float64 resolves: voltages near 1 V are known to ~1e-16 V,
so ``g * dv`` is uncertain by ``g * 1e-16``; ``v_max``, the sample's largest node
voltage, because a node near 0 V in a circuit driven at volts is known to ~1e-16 V
absolute, not to 1e-16 of itself -- without it a node in a region cut off by
non-conducting diodes failed on a residual of 1e-19 A).  Resistor currents come from the
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
    [B, n_sources]; the nodes in ``free`` are judged.  G sources (VCCS) enter as the
    currents their controlling voltages give, each with its own float64 floor."""
    B = vext.shape[1]
    nv = len(circuit.vsource_names)
    ii = S[:, nv:].T                                   # [ni, B]
    inn, dn, gn = circuit.isource_nodes, ex.dnodes, circuit.vccs_nodes
    vc = vext[gn[:, 2]] - vext[gn[:, 3]]               # VCCS: gm v_c from n+ through it to n-
    ig = circuit.vccs_gain[:, None] * vc
    fg = NODE_FLOOR * np.abs(circuit.vccs_gain)[:, None] * (np.abs(vext[gn[:, 2]])
                                                           + np.abs(vext[gn[:, 3]]))
    inj = np.ascontiguousarray(np.concatenate([ii, -ii, -lam.T, lam.T, -ig, ig], axis=0))
    floor = np.zeros_like(inj)
    if gn.shape[0]:
        floor[-2 * gn.shape[0]:] = np.concatenate([fg, fg])
    nodes = np.concatenate([inn[:, 1], inn[:, 0], dn[:, 0], dn[:, 1], gn[:, 0],
                            gn[:, 1]]).astype(np.int64)
    check = np.zeros(ex.n_ext, bool)
    check[free] = True
    out = np.empty(B)
    kcl_ratios(np.ascontiguousarray(vext), np.ascontiguousarray(ex.res_nodes[:, 0]),
               np.ascontiguousarray(ex.res_nodes[:, 1]), np.ascontiguousarray(ex.g), inj,
               np.ascontiguousarray(floor), nodes, check, NODE_RTOL, NODE_FLOOR, out)
    return out <= 1.0


def mna_free(circuit, ex) -> np.ndarray:
    """Nodes whose KCL the MNA solution can be judged by: every node but ground and the
    terminals of V and E sources (whose branch currents balance any residual)."""
    tied = np.zeros(ex.n_ext, bool)
    tied[0] = True
    tied[circuit.vsource_nodes.ravel()] = True
    tied[circuit.vcvs_nodes[:, :2].ravel()] = True
    return np.flatnonzero(~tied)


def thresholds(tol, gscale, vmax):
    """Circuit-wide ``(kcl A, voltage V)`` thresholds of a sample: ``10 tol`` plus 64 ulp
    of the largest voltage, the current one scaled by ``gscale`` (largest node conductance)."""
    vtol = 10.0 * tol + 64.0 * np.finfo(np.float64).eps * vmax
    return gscale * vtol, vtol


def certify(r, lam, vd, vth, dscale):
    """Certificate of one or many samples.

    r     : float64[B, k] KCL residual at free nodes (A)
    lam   : float64[B, d] diode currents (A), anode to cathode
    vd    : float64[B, d] junction voltages; vth : float64[d]
    dscale: float64[d] each diode's own conductance scale (S): the complementarity
            ``min(i / dscale, vth - vd)`` of a diode is judged in volts at its own scale,
            never at the circuit's largest conductance (which would let an off diode
            carry current unseen next to one stiff element)
    Returns ``(kcl float64[B], violation float64[B])``.
    """
    kcl = np.max(np.abs(r), axis=1, initial=0.0)
    comp = np.minimum(lam / dscale, vth - vd)
    viol = np.max(np.abs(comp), axis=1, initial=0.0)
    return kcl, viol
