"""Ideal-diode solver: physics (KCL, complementarity), exactness against independent references."""
from __future__ import annotations

import itertools

import numpy as np
import pytest
import scipy.sparse as sp
import scipy.sparse.linalg as spla

from circuitlearn.compile.builders import random_resistor_diode_graph
from circuitlearn.compile.circuit import compile_netlist
from circuitlearn.netlist.model import DiodeModel, Element, Netlist
from circuitlearn.solve import solve


def model(name="d0", vth=0.0, **kw):
    params = {"is": 1e-14, "n": 1.0, "rs": 0.0, "vth": vth}
    params.update(kw)
    return DiodeModel(name, tuple(params.items()))


def R(name, a, b, r):
    return Element(name, "R", (a, b), float(r))


def V(name, a, b, v):
    return Element(name, "V", (a, b), float(v))


def I(name, a, b, v):
    return Element(name, "I", (a, b), float(v))


def D(name, a, c, m="d0"):
    return Element(name, "D", (a, c), 1.0, m)


def circuit(*els, models=(model(),)):
    return compile_netlist(Netlist("t", tuple(els), tuple(models)))


def without_fixed_fixed_diodes(netlist):
    """Drop diodes joining two source-fixed nodes (an ideal diode there may short a source)."""
    fixed = {"0"} | {e.nodes[0] for e in netlist.elements if e.kind == "V"}
    els = tuple(e for e in netlist.elements
                if not (e.kind == "D" and e.nodes[0] in fixed and e.nodes[1] in fixed))
    return Netlist(netlist.title, els, netlist.models)


def independent_kcl(c, res):
    """KCL at every node not touched by a V source, from the result's voltages and currents."""
    B = res.voltages.shape[0]
    net = np.zeros((B, c.n_nodes))
    v = res.voltages
    a, b = c.resistor_nodes[:, 0], c.resistor_nodes[:, 1]
    i_r = (v[:, a] - v[:, b]) * c.conductance          # a -> b
    for k in range(len(a)):
        net[:, a[k]] -= i_r[:, k]
        net[:, b[k]] += i_r[:, k]
    for k, (p, m) in enumerate(c.diode_nodes):
        net[:, p] -= res.diode_currents[:, k]
        net[:, m] += res.diode_currents[:, k]
    for k, (p, m) in enumerate(c.isource_nodes):
        net[:, m] += c.isource_value[k]
        net[:, p] -= c.isource_value[k]
    touched = {0} | set(c.vsource_nodes.ravel().tolist())
    free = [i for i in range(c.n_nodes) if i not in touched]
    return np.abs(net[:, free]).max(axis=1, initial=0.0)


def brute_force_ideal(c):
    """Reference by enumeration: try every on/off pattern, keep the one meeting all conditions.

    Each pattern is a linear MNA system (on diode = source of vth, off = open) solved with
    dense numpy; valid only for tiny circuits."""
    n = c.n_nodes - 1
    nv, d = len(c.vsource_names), len(c.diode_names)
    for on in itertools.product([False, True], repeat=d):
        idx = [k for k in range(d) if on[k]]
        m = n + nv + len(idx)
        A = np.zeros((m, m))
        rhs = np.zeros(m)
        for (p, q), g in zip(c.resistor_nodes, c.conductance):
            for x, y, s in ((p, p, g), (q, q, g), (p, q, -g), (q, p, -g)):
                if x and y:
                    A[x - 1, y - 1] += s
        for k, (p, q) in enumerate(c.isource_nodes):
            if q:
                rhs[q - 1] += c.isource_value[k]
            if p:
                rhs[p - 1] -= c.isource_value[k]
        branches = [(p, q, c.vsource_value[k]) for k, (p, q) in enumerate(c.vsource_nodes)]
        branches += [(c.diode_nodes[k, 0], c.diode_nodes[k, 1], c.diode_vth[k]) for k in idx]
        for j, (p, q, val) in enumerate(branches):
            row = n + j
            if p:
                A[p - 1, row] += 1
                A[row, p - 1] += 1
            if q:
                A[q - 1, row] -= 1
                A[row, q - 1] -= 1
            rhs[row] = val
        try:
            x = np.linalg.solve(A, rhs)
        except np.linalg.LinAlgError:
            continue
        v = np.concatenate([[0.0], x[:n]])
        cur = np.zeros(d)
        cur[idx] = x[n + nv:]
        vd = v[c.diode_nodes[:, 0]] - v[c.diode_nodes[:, 1]]
        if np.all(cur >= -1e-12) and np.all(vd <= c.diode_vth + 1e-12):
            return v, cur
    raise AssertionError("no consistent diode pattern")


# ----------------------------------------------------------------- linear nets
@pytest.mark.parametrize("n", [40, 800])
def test_linear_network_matches_spsolve(n):
    c = compile_netlist(random_resistor_diode_graph(n, n_diodes=0, seed=n))
    res = solve(c, tol=1e-13)
    assert res.success and res.status == 0
    # reference: eliminate source-fixed nodes, spsolve the free Laplacian
    N = c.n_nodes
    a, b = c.resistor_nodes.T
    g = c.conductance
    L = sp.csr_matrix((np.r_[g, g, -g, -g], (np.r_[a, b, a, b], np.r_[a, b, b, a])), (N, N))
    vfix = np.full(N, np.nan)
    vfix[0] = 0.0
    for (p, m), val in zip(c.vsource_nodes, c.vsource_value):
        assert m == 0
        vfix[p] = val
    inj = np.zeros(N)
    np.add.at(inj, c.isource_nodes[:, 1], c.isource_value)
    np.subtract.at(inj, c.isource_nodes[:, 0], c.isource_value)
    fx = ~np.isnan(vfix)
    fr = np.flatnonzero(~fx)
    Lff = L[fr][:, fr].tocsc()
    ref = spla.spsolve(Lff, inj[fr] - L[fr][:, np.flatnonzero(fx)] @ vfix[fx])
    assert np.max(np.abs(res.voltages[0, fr] - ref)) <= 1e-10
    assert np.allclose(res.voltages[0, fx], vfix[fx], atol=0, rtol=0)


def test_source_currents_balance_the_network():
    c = circuit(V("v1", "a", "0", 2.0), R("r1", "a", "b", 1e3), R("r2", "b", "0", 1e3),
                V("v2", "c", "b", 0.5), R("r3", "c", "0", 500.0))
    res = solve(c)
    # v(a)=2, b and c=b+0.5: KCL at the supernode {b, c}: (2-b)/1k = b/1k + (b+0.5)/500
    b = (2.0 / 1e3 - 0.5 / 500) / (2 / 1e3 + 1 / 500)
    assert res.node("b")[0] == pytest.approx(b, abs=1e-10)
    assert res.node("c")[0] == pytest.approx(b + 0.5, abs=1e-10)
    # SPICE sign: current from n+ through the source to n- (a delivering source is negative)
    assert res.source_currents[0, 0] == pytest.approx(-(2.0 - b) / 1e3, abs=1e-12)
    assert res.source_currents[0, 1] == pytest.approx(-(b + 0.5) / 500, abs=1e-12)


# ------------------------------------------------------------- closed forms
@pytest.mark.parametrize("vin", [-3.0, -0.2, 0.0, 0.25, 1.0, 4.0])
@pytest.mark.parametrize("vth", [0.0, 0.3])
def test_single_diode_clipper_closed_form(vin, vth):
    # V - R - node - diode(anode node, cathode ground): v = min(vin, vth), i = max(vin - vth, 0)/R
    c = circuit(V("v1", "in", "0", vin), R("r1", "in", "x", 1e3), D("d1", "x", "0", "dt"),
                models=(model("dt", vth),))
    res = solve(c)
    assert res.success and res.method == "cd"    # box bounds only: CD alone is exact
    assert res.node("x")[0] == pytest.approx(min(vin, vth), abs=1e-12)
    assert res.diode_currents[0, 0] == pytest.approx(max(vin - vth, 0.0) / 1e3, abs=1e-15)
    # reversed diode clips from below: v = max(vin, -vth)
    c2 = circuit(V("v1", "in", "0", vin), R("r1", "in", "x", 1e3), D("d1", "0", "x", "dt"),
                 models=(model("dt", vth),))
    res2 = solve(c2)
    assert res2.node("x")[0] == pytest.approx(max(vin, -vth), abs=1e-12)


def test_series_resistance_of_an_ideal_diode_is_kept():
    # 1 V through 1k into an ideal diode with RS = 1k: i = 1 V / 2k, node at RS*i
    c = circuit(V("v1", "in", "0", 1.0), R("r1", "in", "x", 1e3), D("d1", "x", "0", "drs"),
                models=(model("drs", 0.0, rs=1e3),))
    res = solve(c)
    assert res.success
    assert res.diode_currents[0, 0] == pytest.approx(0.5e-3, rel=1e-10)
    assert res.node("x")[0] == pytest.approx(0.5, abs=1e-10)


# -------------------------------------------------------------- certificates
@pytest.mark.parametrize("thresholds", [False, True])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_random_networks_certified(thresholds, seed):
    nl = without_fixed_fixed_diodes(
        random_resistor_diode_graph(300, n_diodes=60, seed=seed, thresholds=thresholds))
    c = compile_netlist(nl)
    kinds = {("0" == e.nodes[0]) * 1 + ("0" == e.nodes[1]) * 2 for e in nl.elements if e.kind == "D"}
    assert kinds >= {0, 1, 2}   # diodes from ground, to ground and between nodes are present
    res = solve(c)
    assert res.success, res.message
    v = res.voltages[0]
    vd = v[c.diode_nodes[:, 0]] - v[c.diode_nodes[:, 1]]
    i = res.diode_currents[0]
    scale = 1e-3 * c.n_nodes
    assert np.all(vd <= c.diode_vth + 1e-9)
    assert np.all(i >= -1e-12)
    assert np.max(np.abs(i * (c.diode_vth - vd))) <= 1e-12
    assert independent_kcl(c, res)[0] <= 1e-9 * scale
    assert res.kcl_residual[0] <= 1e-9 * scale and res.diode_violation[0] <= 1e-9


@pytest.mark.parametrize("seed", range(6))
def test_tiny_random_networks_match_brute_force_enumeration(seed):
    nl = without_fixed_fixed_diodes(
        random_resistor_diode_graph(9, degree=3.0, n_diodes=6, n_sources=2, seed=seed,
                                    thresholds=seed % 2 == 1))
    c = compile_netlist(nl)
    v_ref, i_ref = brute_force_ideal(c)
    res = solve(c)
    assert res.success, res.message
    assert np.max(np.abs(res.voltages[0] - v_ref)) <= 1e-9
    # currents are unique unless diodes form a loop of conducting diodes; compare KCL instead
    assert independent_kcl(c, res)[0] <= 1e-12


def stall_circuit():
    # a <- 1k <- +2 V, b <- 1k <- -1 V, ideal diode a -> b: optimum a = b = 0.5 V, i = 1.5 mA.
    return circuit(V("v1", "p", "0", 2.0), R("r1", "p", "a", 1e3),
                   V("v2", "q", "0", -1.0), R("r2", "q", "b", 1e3), D("d1", "a", "b"))


def test_free_free_diode_stall_is_detected_and_solved_exactly():
    c = stall_circuit()
    cd = solve(c, method="cd")
    # from v = 0 each node is pinned by the other: CD cannot move, KCL is off by 0.5 mA
    assert not cd.success and cd.status == 4 and cd.sample_status[0] == 4
    assert cd.kcl_residual[0] >= 0.4e-3
    res = solve(c)
    assert res.success and res.status == 0 and res.method == "cd+active-set"
    assert res.node("a")[0] == pytest.approx(0.5, abs=1e-12)
    assert res.node("b")[0] == pytest.approx(0.5, abs=1e-12)
    assert res.diode_currents[0, 0] == pytest.approx(1.5e-3, abs=1e-15)
    assert res.kcl_residual[0] <= 1e-15
    exact = solve(c, method="active-set")
    assert np.allclose(exact.voltages, res.voltages, atol=1e-13)


def test_infeasible_diode_between_sources_is_reported():
    c = circuit(V("v1", "a", "0", 1.0), D("d1", "a", "0"), R("r1", "a", "0", 1e3))
    res = solve(c)
    assert not res.success and res.status == 2
    assert "d1" in res.message and "short" in res.message


# ----------------------------------------------------------- CD properties
@pytest.mark.parametrize("omega", [1.0, None, 1.8])
def test_energy_never_increases_across_sweeps(omega):
    nl = without_fixed_fixed_diodes(random_resistor_diode_graph(400, seed=5, thresholds=True))
    c = compile_netlist(nl)
    rng = np.random.default_rng(0)
    S = c.default_sources() * rng.uniform(0.5, 1.5, (4, c.n_sources))
    res = solve(c, S, method="cd", record_energy=True, maxiter=300, omega=omega)
    E = res.energy
    assert E.shape[1] == 4 and E.shape[0] > 10
    scale = np.abs(E).max()
    assert np.all(np.diff(E, axis=0) <= 1e-13 * scale)
    assert np.all(E[-1] < E[0])


def test_batch_equals_one_by_one():
    nl = without_fixed_fixed_diodes(random_resistor_diode_graph(200, seed=3, thresholds=True))
    c = compile_netlist(nl)
    rng = np.random.default_rng(1)
    S = c.default_sources() * rng.uniform(-1.5, 1.5, (5, c.n_sources))
    batch = solve(c, S, tol=1e-12)
    assert batch.voltages.shape == (5, c.n_nodes)
    for b in range(5):
        one = solve(c, S[b], tol=1e-12)
        assert one.success and batch.sample_success[b]
        assert np.max(np.abs(one.voltages[0] - batch.voltages[b])) <= 1e-9
        assert np.max(np.abs(one.source_currents[0] - batch.source_currents[b])) <= 1e-12


def test_warm_start_reduces_iterations():
    nl = without_fixed_fixed_diodes(random_resistor_diode_graph(500, seed=4))
    c = compile_netlist(nl)
    cold = solve(c, method="cd", maxiter=100000)
    warm = solve(c, method="cd", x0=cold.voltages, maxiter=100000)
    assert cold.nit > 20
    assert warm.nit < cold.nit / 5
    assert np.max(np.abs(warm.voltages - cold.voltages)) <= 1e-9


def test_non_convergence_is_reported_not_hidden():
    nl = without_fixed_fixed_diodes(random_resistor_diode_graph(300, seed=6))
    c = compile_netlist(nl)
    res = solve(c, method="cd", maxiter=1)
    assert not res.success and res.status == 1
    assert not res.sample_success[0]
    assert res.kcl_residual[0] > 1e-9
    assert np.all(np.isfinite(res.voltages))


# ---------------------------------------------------------- controlled sources
def test_two_layer_amplifier_with_diodes_matches_enumeration():
    # layer 1 (R + clipping diodes) -> E amplifiers (gain 4) -> layer 2 (R + diodes); G stage
    els = [V("vin1", "in1", "0", 0.3), V("vin2", "in2", "0", -0.4),
           R("r11", "in1", "h1", 1e3), R("r21", "in2", "h1", 2e3),
           R("r12", "in1", "h2", 3.3e3), R("r22", "in2", "h2", 1.5e3),
           R("rh1", "h1", "0", 1e4), R("rh2", "h2", "0", 1e4),
           D("dh1", "h1", "0"), D("dh2", "0", "h2"),
           Element("e1", "E", ("a1", "0", "h1", "0"), 4.0),
           Element("e2", "E", ("a2", "0", "h2", "0"), 4.0),
           R("s11", "a1", "o1", 2.2e3), R("s21", "a2", "o1", 4.7e3),
           R("s12", "a1", "o2", 1e3), R("s22", "a2", "o2", 6.8e3),
           R("ro1", "o1", "0", 1e4), R("ro2", "o2", "0", 1e4),
           D("do1", "o1", "0", "dt"), D("do2", "0", "o2", "dt"),
           Element("g1", "G", ("0", "o3", "o1", "o2"), 1e-3), R("ro3", "o3", "0", 1e3)]
    c = circuit(*els, models=(model(), model("dt", 0.1)))
    res = solve(c)
    assert res.success, res.message
    assert res.method == "mna-active-set"
    v = {n: res.node(n)[0] for n in c.node_names}
    # E outputs follow their inputs exactly; diodes clip; G current = 1 mA/V * (o1 - o2) into o3
    assert v["a1"] == pytest.approx(4 * v["h1"], abs=1e-12)
    assert v["a2"] == pytest.approx(4 * v["h2"], abs=1e-12)
    assert v["h1"] <= 1e-12 and v["h2"] >= -1e-12
    assert v["o3"] == pytest.approx(1e-3 * (v["o1"] - v["o2"]) * 1e3, abs=1e-12)
    # reference: with the known E/G behaviour each layer is a small ideal-diode net
    l1 = circuit(*els[:10])
    v1, _ = brute_force_ideal(l1)
    assert v["h1"] == pytest.approx(v1[l1.node_index("h1")], abs=1e-12)
    assert v["h2"] == pytest.approx(v1[l1.node_index("h2")], abs=1e-12)
    l2 = circuit(V("va1", "a1", "0", 4 * v1[l1.node_index("h1")]),
                 V("va2", "a2", "0", 4 * v1[l1.node_index("h2")]), *els[12:20],
                 models=(model(), model("dt", 0.1)))
    v2, _ = brute_force_ideal(l2)
    for n in ("o1", "o2"):
        assert v[n] == pytest.approx(v2[l2.node_index(n)], abs=1e-11)


def test_iterative_kkt_path_gives_the_same_certified_solution(monkeypatch):
    # large systems use MINRES instead of SuperLU: force it on a small one and compare
    import circuitlearn.solve.ideal.solver as ideal
    nl = without_fixed_fixed_diodes(random_resistor_diode_graph(400, seed=8, thresholds=True))
    direct = solve(compile_netlist(nl))
    monkeypatch.setattr(ideal, "DIRECT_MAX", 0)
    iterative = solve(compile_netlist(nl))
    assert direct.success and iterative.success, iterative.message
    assert np.max(np.abs(direct.voltages - iterative.voltages)) <= 1e-9
    stall = solve(stall_circuit())
    assert stall.success and stall.node("a")[0] == pytest.approx(0.5, abs=1e-12)


def test_over_relaxation_converges_to_the_same_point_in_fewer_sweeps():
    c = compile_netlist(random_resistor_diode_graph(2000, n_diodes=0, seed=9))
    exact = solve(c, omega=1.0, tol=1e-12)
    auto = solve(c, tol=1e-12)
    assert exact.success and auto.success
    assert auto.nit < exact.nit / 3
    assert np.max(np.abs(auto.voltages - exact.voltages)) <= 1e-9
    with pytest.raises(ValueError, match="omega"):
        solve(c, omega=2.0)


@pytest.mark.parametrize("diodes", ["ideal", "shockley"])
def test_floating_voltage_source_uses_mna_with_warm_start(diodes):
    # V2 floats between b and c: v(b) - v(c) = s; KCL: (v1 - b)/1k = c/1k, diode 0 -> c open
    c = circuit(V("v1", "a", "0", 1.0), R("r1", "a", "b", 1e3), V("v2", "b", "c", 0.3),
                R("r2", "c", "0", 1e3), D("d1", "0", "c"))
    S = np.array([[1.0, 0.3], [2.0, -0.5]])
    res = solve(c, S, diodes=diodes, x0=np.zeros((1, c.n_nodes)), tol=1e-12)
    assert res.success and res.method.startswith("mna")
    for b, (v1, s) in enumerate(S):
        vb = (v1 + s) / 2
        assert res.node("b")[b] == pytest.approx(vb, abs=1e-9)
        assert res.node("c")[b] == pytest.approx(vb - s, abs=1e-9)
        # the floating source carries the loop current from b to c (n+ -> n-)
        assert res.source_currents[b, 1] == pytest.approx((vb - s) / 1e3, abs=1e-11)


def test_diode_free_circuit_is_one_direct_solve_for_the_batch():
    c = compile_netlist(random_resistor_diode_graph(1500, degree=8.0, n_diodes=0,
                                                    n_current_sources=0, seed=3))
    S = np.tile(c.default_sources(), (4, 1)) * np.array([[1.0], [-0.5], [2.0], [0.1]])
    direct = solve(c, S, tol=1e-12)
    cd = solve(c, S, tol=1e-12, method="cd")
    assert direct.success and direct.method == "direct" and direct.nit == 1
    assert cd.method == "cd" and cd.nit > 100
    assert np.max(np.abs(direct.voltages - cd.voltages)) <= 1e-8
    assert direct.kcl_residual.max() <= 1e-15


@pytest.mark.parametrize("seed", [1, 2])
def test_a_node_cut_off_near_zero_volts_is_judged_at_the_circuits_voltage_scale(seed):
    """Random graphs whose off diodes leave a region floating near 0 V: its nodes' KCL
    residuals of ~1e-19 A are float64 noise at the circuit's volt scale, not a failure
    (the node certificate refused them, judging them against their own ~0 V)."""
    from circuitlearn.compile import compile_netlist, random_resistor_diode_graph
    from circuitlearn.solve import solve
    c = compile_netlist(random_resistor_diode_graph(2000, seed=seed))
    for diodes in ("ideal", "shockley"):
        res = solve(c, c.default_sources()[None], diodes=diodes)
        assert res.success, (diodes, res.message)
        assert res.kcl_residual.max() < 1e-15


def test_large_linear_circuits_take_forest_pcg_and_lu_when_it_does_not_converge(monkeypatch):
    """Above DIRECT_MAX free nodes a diode-free circuit is solved by forest-preconditioned CG
    (a random graph, and a crossbar with long wires, whose wires are the forest), else by
    one sparse LU; all equal the active-set solve and pass the node certificate."""
    import circuitlearn.solve.ideal.solver as ideal
    from circuitlearn.compile import crossbar_array_netlist
    from circuitlearn.solve.linalg.kkt import DIRECT_MAX
    rng = np.random.default_rng(4)
    c = compile_netlist(random_resistor_diode_graph(2 * DIRECT_MAX, n_diodes=0, seed=4))
    S = np.tile(c.default_sources(), (3, 1)) * rng.uniform(0.5, 1.5, (3, c.n_sources))
    r = solve(c, S, diodes="ideal")
    assert r.success and r.method == "forest-pcg", r.method
    ref = solve(c, S, diodes="ideal", method="active-set")
    np.testing.assert_allclose(r.voltages, ref.voltages, atol=1e-9)
    g = rng.uniform(1e-6, 1e-4, (128, 128))
    x = crossbar_array_netlist(g, r_wire=2.0, inputs=rng.uniform(-0.3, 0.3, 128))
    c = compile_netlist(x)
    r = solve(c, None, diodes="ideal")
    assert r.success and r.method == "forest-pcg", r.method
    assert int(np.max(r.nit)) <= 30          # Jacobi-PCG needed over 1,000 iterations here
    ref = solve(c, None, diodes="ideal", method="active-set")
    np.testing.assert_allclose(r.voltages, ref.voltages, atol=1e-9)
    monkeypatch.setattr(ideal, "LINEAR_PCG_MAXITER", 3)     # CG "does not converge": LU
    c = compile_netlist(x)
    lu = solve(c, None, diodes="ideal")
    assert lu.success and lu.method == "direct"
    assert solve(c, None, diodes="ideal").method == "direct"     # the choice is kept
    np.testing.assert_allclose(lu.voltages, ref.voltages, atol=1e-9)


@pytest.mark.parametrize("topology", ["random", "lattice"])
def test_reduced_active_set_equals_the_direct_kkt_solve(topology, monkeypatch):
    """Above DIRECT_MAX the active set's KKT systems are reduced (conducting diodes merge or
    pin nodes) and solved by PCG; on mid-size cases that equals the factorised KKT to 1e-8 V,
    and MINRES (the fallback) too."""
    from circuitlearn.compile.builders import (lattice_resistor_diode_graph,
                                               random_resistor_diode_graph)
    import circuitlearn.solve.linalg.kkt as kkt
    net = random_resistor_diode_graph(4000, seed=3) if topology == "random" else \
        lattice_resistor_diode_graph(64, 64, seed=3)
    c = compile_netlist(net)
    fast = solve(c, diodes="ideal")
    assert fast.success and fast.method == "cd+active-set(reduced-forest-pcg)", fast.method
    monkeypatch.setattr(kkt, "DIRECT_MAX", 10 ** 7)
    direct = solve(compile_netlist(net), diodes="ideal")
    assert direct.success and direct.method == "cd+active-set"
    np.testing.assert_allclose(fast.voltages, direct.voltages, atol=1e-8, rtol=0)
    # (diode currents are certified by KCL in both; where conducting diodes form a loop the
    # split of current around it is not determined, and the two solvers may split it apart)
    monkeypatch.setattr(kkt, "DIRECT_MAX", 3000)
    monkeypatch.setattr(kkt, "solve_reduced", lambda *a, **k: (None, None))
    slow = solve(compile_netlist(net), diodes="ideal")
    assert slow.success and slow.method == "cd+active-set(minres)"
    np.testing.assert_allclose(fast.voltages, slow.voltages, atol=1e-8, rtol=0)


def test_reduced_kkt_refuses_inconsistent_pins():
    """Two conducting diodes pinning one node at different voltages: not reducible (MINRES or
    the caller's certificate decides), never a wrong answer."""
    import scipy.sparse as sp
    from circuitlearn.solve.linalg.kkt import solve_reduced
    n = 3
    M = sp.csr_matrix(np.array([[2.0, -1, 0], [-1, 2, -1], [0, -1, 2]]))
    CA = sp.csr_matrix(np.array([[1.0, 0, 0], [1.0, 0, 0]]))
    rh = np.array([0.0, 0, 0, 0.5, 0.7])
    assert solve_reduced(M, CA, rh, np.zeros(5), 1.0, 1e-10) == (None, None)
    CA = sp.csr_matrix(np.array([[1.0, -1.0, 0], [0, 1.0, 0]]))      # merge 0-1, pin 1
    rh = np.array([0.0, 0, 1.0, 0.2, 0.3])
    sol, how = solve_reduced(M, CA, rh, np.zeros(5), 1.0, 1e-10)
    K = sp.bmat([[M, CA.T], [CA, None]]).toarray()
    np.testing.assert_allclose(sol, np.linalg.solve(K, rh), atol=1e-12)


def test_a_1d1r_crossbar_above_direct_max_is_certified_node_by_node(monkeypatch):
    """A 1D1R array with signed inputs: the cells of reverse-biased rows sit behind blocked
    selectors, their nodes carry almost no current, and the reduced-PCG solution is polished
    by exact CD sweeps until each node's own KCL holds; equal to the factorised KKT."""
    from circuitlearn.compile import crossbar_array_netlist
    import circuitlearn.solve.linalg.kkt as kkt
    rng = np.random.default_rng(1)
    n = 141                    # 60,000 nodes: the smallest of bench_scale's that needs it
    net = crossbar_array_netlist(10 ** rng.uniform(-6, -4, (n, n)),
                                 inputs=rng.uniform(-0.2, 0.2, n), r_wire=2.0, r_driver=10.0,
                                 r_sense=5.0, selector="dsel")
    c = compile_netlist(net)
    assert c.n_nodes > kkt.DIRECT_MAX
    fast = solve(c, diodes="ideal")
    assert fast.success, fast.message
    assert fast.method == "cd+active-set(reduced-forest-pcg)", fast.method
    monkeypatch.setattr(kkt, "DIRECT_MAX", 10 ** 7)
    direct = solve(compile_netlist(net), diodes="ideal")
    assert direct.success
    np.testing.assert_allclose(fast.voltages, direct.voltages, atol=1e-8, rtol=0)
