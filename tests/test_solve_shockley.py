"""Shockley-diode solver: closed forms, an independent fsolve reference, ngspice, limits to ideal."""
from __future__ import annotations

import math
import shutil

import numpy as np
import pytest
from scipy.optimize import fsolve
from scipy.special import lambertw

from circuitlearn.compile.builders import drn_netlist, random_resistor_diode_graph
from circuitlearn.compile.circuit import compile_netlist
from circuitlearn.netlist.model import DiodeModel, Element, Netlist
from circuitlearn.solve import solve

VT = 1.38064852e-23 * 300.15 / 1.6021766208e-19     # ngspice's kT/q at 27 C
GMIN = 1e-12


def model(name="d0", **kw):
    params = {"is": 1e-14, "n": 1.0, "rs": 0.0, "vth": 0.0}
    params.update(kw)
    return DiodeModel(name, tuple(params.items()))


def el(kind, name, nodes, value, m=None):
    return Element(name, kind, tuple(nodes), float(value), m)


def circuit(*els, models=(model(),)):
    return compile_netlist(Netlist("t", tuple(els), tuple(models)))


def ngspice_current(vd, isat, n):
    """ngspice level-1 diode DC current, written independently of the solver."""
    vte = n * VT
    if vd >= -3 * vte:
        return isat * math.expm1(vd / vte) + GMIN * vd
    return -isat * (1 + (3 * vte / (vd * math.e)) ** 3) + GMIN * vd


@pytest.mark.parametrize("vin,r,isat,n,rs", [(1.0, 1e3, 1e-14, 1.0, 0.0), (5.0, 100.0, 1e-9, 1.5, 0.0),
                                             (0.3, 1e4, 1e-12, 0.5, 0.0), (2.0, 1e3, 1e-14, 1.0, 50.0)])
def test_resistor_diode_matches_lambert_w(vin, r, isat, n, rs):
    c = circuit(el("V", "v1", ("in", "0"), vin), el("R", "r1", ("in", "x"), r),
                el("D", "d1", ("x", "0"), 1.0, "dm"), models=(model("dm", **{"is": isat, "n": n, "rs": rs}),))
    res = solve(c, diodes="shockley", tol=1e-13)
    assert res.success, res.message
    # Thevenin source seen by the junction: (vin, r + rs) in parallel with GMIN
    rt = r + rs
    req = 1.0 / (1.0 / rt + GMIN)
    veq = vin / rt * req
    vte = n * VT
    # veq = vd + req * isat * (exp(vd/vte) - 1)  =>  Lambert W closed form
    a = veq + req * isat
    w = lambertw(req * isat / vte * np.exp(a / vte)).real
    vd = a - vte * w
    i = (vin - vd) / rt
    assert res.diode_currents[0, 0] == pytest.approx(isat * math.expm1(vd / vte) + GMIN * vd, rel=1e-9)
    assert res.node("x")[0] == pytest.approx(vin - r * i, abs=1e-9)


def test_reverse_branch_and_orientations_match_fsolve():
    # a bridge with diodes forward, reverse (deep reverse: ngspice's cubic branch), free-free
    isat, n = 1e-10, 1.2
    els = (el("V", "v1", ("p", "0"), 1.5), el("V", "v2", ("q", "0"), -4.0),
           el("R", "r1", ("p", "a"), 2e3), el("R", "r2", ("a", "b"), 1e3), el("R", "r3", ("b", "q"), 3e3),
           el("R", "r4", ("b", "0"), 5e3), el("I", "i1", ("0", "a"), 1e-4),
           el("D", "d1", ("a", "0"), 1.0, "dm"), el("D", "d2", ("b", "a"), 1.0, "dm"),
           el("D", "d3", ("q", "b"), 1.0, "dm"), el("D", "d4", ("0", "b"), 2.0, "dm"))
    c = circuit(*els, models=(model("dm", **{"is": isat, "n": n}),))
    res = solve(c, diodes="shockley", tol=1e-13)
    assert res.success, res.message

    def kcl(x):
        v = {"0": 0.0, "p": 1.5, "q": -4.0, "a": x[0], "b": x[1]}
        net = {"a": 1e-4, "b": 0.0}
        for e in els:
            if e.kind == "R":
                i = (v[e.nodes[0]] - v[e.nodes[1]]) / e.value
            elif e.kind == "D":
                i = ngspice_current(v[e.nodes[0]] - v[e.nodes[1]], isat * e.value, n)
            else:
                continue
            net[e.nodes[0]] = net.get(e.nodes[0], 0.0) - i
            net[e.nodes[1]] = net.get(e.nodes[1], 0.0) + i
        return [net["a"] * 1e3, net["b"] * 1e3]

    x = fsolve(kcl, [0.5, -0.5], xtol=1e-14)
    assert np.max(np.abs(kcl(x))) < 1e-12
    assert res.node("a")[0] == pytest.approx(x[0], abs=1e-9)
    assert res.node("b")[0] == pytest.approx(x[1], abs=1e-9)
    vd3 = res.node("q")[0] - res.node("b")[0]
    assert vd3 < -3 * n * VT                      # d3 really is in the reverse (cubic) branch
    assert res.diode_currents[0, 2] == pytest.approx(ngspice_current(vd3, isat, n), rel=1e-9)


def test_random_network_kcl_and_batch_consistency():
    c = compile_netlist(random_resistor_diode_graph(300, seed=11, thresholds=True))
    rng = np.random.default_rng(2)
    S = c.default_sources() * rng.uniform(-1.5, 1.5, (4, c.n_sources))
    res = solve(c, S, diodes="shockley")
    assert res.success, res.message
    assert np.all(res.kcl_residual <= 1e-12)
    for b in (0, 3):
        one = solve(c, S[b], diodes="shockley")
        assert np.max(np.abs(one.voltages[0] - res.voltages[b])) <= 1e-10


def test_warm_start_and_non_convergence():
    c = compile_netlist(random_resistor_diode_graph(200, seed=12))
    cold = solve(c, diodes="shockley")
    warm = solve(c, diodes="shockley", x0=cold.voltages)
    assert cold.nit >= 3 and warm.nit == 1
    assert np.max(np.abs(warm.voltages - cold.voltages)) <= 1e-10
    bad = solve(c, diodes="shockley", maxiter=1)
    assert not bad.success and bad.status == 1 and np.all(np.isfinite(bad.voltages))


def test_emission_coefficient_to_zero_approaches_the_ideal_diode():
    # Shockley with vth = 0 ideal reference: the forward drop is ~ N Vt ln(I/IS), so the
    # difference to the ideal solution shrinks linearly in N (observed: ratio ~10 per decade).
    nl = random_resistor_diode_graph(60, seed=13)
    fixed = {"0"} | {e.nodes[0] for e in nl.elements if e.kind == "V"}
    els = tuple(e for e in nl.elements
                if not (e.kind == "D" and e.nodes[0] in fixed and e.nodes[1] in fixed))
    ideal = solve(compile_netlist(Netlist("t", els, nl.models)))
    assert ideal.success
    errs = []
    for n in (1e-1, 1e-2, 1e-3):
        m = (DiodeModel("drand", (("is", 1e-14), ("n", n), ("rs", 0.0), ("vth", 0.0))),)
        res = solve(compile_netlist(Netlist("t", els, m)), diodes="shockley")
        assert res.success, res.message
        errs.append(np.max(np.abs(res.voltages - ideal.voltages)))
    assert errs[0] > errs[1] > errs[2]
    assert errs[2] < 2e-3
    assert 5 < errs[0] / errs[1] < 20 and 5 < errs[1] / errs[2] < 20


def test_saturation_current_to_zero_raises_the_knee_by_vt_ln10_per_decade():
    # IS -> 0 does not give the vth=0 ideal diode: the knee moves up by N Vt ln(10) per decade
    drops = []
    for isat in (1e-12, 1e-14, 1e-16, 1e-18):
        c = circuit(el("I", "i1", ("0", "x"), 1e-3), el("R", "r1", ("x", "0"), 1e9),
                    el("D", "d1", ("x", "0"), 1.0, "dm"), models=(model("dm", **{"is": isat}),))
        res = solve(c, diodes="shockley")
        assert res.success
        drops.append(res.node("x")[0])
    steps = np.diff(drops)
    assert np.allclose(steps, 2 * VT * math.log(10), rtol=1e-6)


def test_two_layer_amplifier_mna_newton():
    els = (el("V", "vin", ("in", "0"), 0.8), el("R", "r1", ("in", "h"), 1e3),
           el("D", "d1", ("h", "0"), 1.0, "dm"), el("E", "e1", ("a", "0", "h", "0"), 3.0),
           el("R", "r2", ("a", "o"), 2e3), el("R", "r3", ("o", "0"), 1e3),
           el("D", "d2", ("o", "0"), 1.0, "dm"))
    c = circuit(*els, models=(model("dm"),))
    res = solve(c, diodes="shockley", tol=1e-13)
    assert res.success and res.method == "mna-newton"
    h, a, o = res.node("h")[0], res.node("a")[0], res.node("o")[0]
    assert a == pytest.approx(3 * h, abs=1e-12)
    id1 = ngspice_current(h, 1e-14, 1.0)
    assert (0.8 - h) / 1e3 == pytest.approx(id1, rel=1e-9)
    assert (a - o) / 2e3 == pytest.approx(o / 1e3 + ngspice_current(o, 1e-14, 1.0), rel=1e-9)


needs_ngspice = pytest.mark.skipif(shutil.which("ngspice") is None, reason="ngspice not installed")


@pytest.mark.ngspice
@needs_ngspice
@pytest.mark.parametrize("seed", [0, 1])
def test_agrees_with_ngspice_on_random_graph_and_small_drn(seed):
    from circuitlearn.netlist.writer import write_netlist
    from circuitlearn.solve.backends.ngspice_batch import run_ngspice_batch
    rng = np.random.default_rng(seed)
    nets = [random_resistor_diode_graph(120, seed=seed, thresholds=True),
            drn_netlist([rng.uniform(0, 1e-3, (8, 6)), rng.uniform(0, 1e-3, (6, 3))],
                        [rng.uniform(-1e-4, 1e-4, 6), rng.uniform(-1e-4, 1e-4, 3)],
                        x=rng.random(4), gain=2.0)]
    for nl in nets:
        c = compile_netlist(nl)
        res = solve(c, diodes="shockley", tol=1e-12)
        assert res.success, res.message
        text = write_netlist(nl)
        if ".op" not in text.lower():
            text = text.replace("\n.end", "\n.op\n.end")
        ref = run_ngspice_batch(text)
        diffs = [abs(ref[name] - res.voltages[0, k]) for k, name in enumerate(c.node_names)
                 if name in ref and name != "0"]
        assert len(diffs) >= c.n_nodes - 1
        assert max(diffs) <= 1e-6


def test_conjugate_gradient_newton_matches_direct(monkeypatch):
    import circuitlearn.solve.shockley.solver as shockley
    nl = random_resistor_diode_graph(300, seed=14, thresholds=True)
    monkeypatch.setattr(shockley, "LDL_MAX_UPDATES", 0)  # pin the dense direct path
    direct = solve(compile_netlist(nl), diodes="shockley")
    monkeypatch.setattr(shockley, "DIRECT_MAX", 0)
    monkeypatch.setattr(shockley, "DENSE_MAX", 0)
    cg = solve(compile_netlist(nl), diodes="shockley")
    assert direct.method == "newton-dense" and cg.method == "newton-sparse(forest-pcg)", cg.method
    assert direct.success and cg.success, cg.message
    assert np.max(np.abs(direct.voltages - cg.voltages)) <= 1e-9


def test_schur_elimination_of_the_hidden_layer_matches_the_full_dense_newton(monkeypatch):
    import circuitlearn.solve.shockley.solver as shockley
    rng = np.random.default_rng(5)
    nl = drn_netlist([rng.uniform(0, 1e-3, (16, 12)), rng.uniform(0, 1e-3, (12, 4))],
                     [rng.uniform(-1e-4, 1e-4, 12), rng.uniform(-1e-4, 1e-4, 4)],
                     x=rng.random(8), gain=5.0)
    c = compile_netlist(nl)
    S = c.default_sources() * rng.uniform(0.5, 1.5, (6, c.n_sources))
    monkeypatch.setattr(shockley, "LDL_MAX_UPDATES", 0)  # pin the Schur / dense paths
    schur = solve(c, S, diodes="shockley")
    monkeypatch.setattr(shockley, "SCHUR_MIN_FRACTION", 2.0)
    dense = solve(compile_netlist(nl), S, diodes="shockley")
    assert schur.method == "newton-schur" and dense.method == "newton-dense"
    assert schur.success and dense.success
    assert np.max(np.abs(schur.voltages - dense.voltages)) <= 1e-11
    assert np.max(np.abs(schur.diode_currents - dense.diode_currents)) <= 1e-12


@pytest.mark.parametrize("force_sparse", [False, True])
def test_absurd_warm_start_does_not_overflow(monkeypatch, force_sparse):
    # x0 puts 50 V across forward junctions: exp(50/0.026) overflows unless limited
    import circuitlearn.solve.shockley.solver as shockley
    if force_sparse:
        monkeypatch.setattr(shockley, "DENSE_MAX", 0)
    c = compile_netlist(random_resistor_diode_graph(100, seed=15))
    ref = solve(c, diodes="shockley")
    x0 = np.where(np.arange(c.n_nodes) % 2 == 0, 50.0, -50.0)[None, :]
    x0[0, 0] = 0.0
    res = solve(c, diodes="shockley", x0=x0)
    assert res.success, res.message
    assert np.max(np.abs(res.voltages - ref.voltages)) <= 1e-9


@pytest.mark.parametrize("topology", ["random", "lattice"])
def test_inexact_newton_cg_equals_the_factorised_newton(topology, monkeypatch):
    """Above DIRECT_MAX Newton's systems are solved by Jacobi-CG, loosely while the steps are
    large (inexact Newton); the operating point equals Newton with SuperLU to 1e-8 V."""
    from circuitlearn.compile.builders import (lattice_resistor_diode_graph,
                                               random_resistor_diode_graph)
    import circuitlearn.solve.shockley.solver as sh
    net = random_resistor_diode_graph(4000, seed=4) if topology == "random" else \
        lattice_resistor_diode_graph(64, 64, seed=4)
    fast = solve(compile_netlist(net), diodes="shockley")
    assert fast.success
    monkeypatch.setattr(sh, "DIRECT_MAX", 10 ** 7)
    lu = solve(compile_netlist(net), diodes="shockley")
    assert lu.success
    np.testing.assert_allclose(fast.voltages, lu.voltages, atol=1e-8, rtol=0)
