"""Builders: crossbars, deep resistive networks (DRN) and random graphs."""
import shutil
import time

import numpy as np
import pytest
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from circuitlearn.compile import (
    DRN_DIODE_PARAMS, compile_netlist, crossbar_conductance, crossbar_netlist, drn_arrays,
    drn_netlist, drn_source_vector, random_resistor_diode_graph, representable_conductance,
)
from circuitlearn.netlist import parse_netlist, write_netlist

needs_ngspice = pytest.mark.skipif(shutil.which("ngspice") is None, reason="ngspice not installed")


def rand_weights(sizes, seed=0, zero_frac=0.2):
    """Conductances U(0.1, 1)/sqrt(fan_in) mS with a fraction ``zero_frac`` of absent devices."""
    rng = np.random.default_rng(seed)
    ws = []
    for a, b in zip(sizes[:-1], sizes[1:]):
        w = rng.uniform(0.1, 1, (a, b)) / np.sqrt(a) * 1e-3
        w[rng.random((a, b)) < zero_frac] = 0.0
        ws.append(w)
    return ws


def by_name(netlist):
    return {e.name: e for e in netlist.elements}


# ------------------------------------------------------------------ crossbar
def test_crossbar_structure_and_zero_omission():
    g = np.array([[1e-3, 0.0, 2e-4], [5e-5, 3e-4, 0.0]])
    n = crossbar_netlist(g, inputs=[0.5, -0.25])
    els = by_name(n)
    assert [e.name for e in n.of_kind("V")] == ["vrow0", "vrow1", "vcol0", "vcol1", "vcol2"]
    assert els["vrow1"].nodes == ("row1", "0") and els["vrow1"].value == -0.25
    assert els["vcol2"].nodes == ("col2", "0") and els["vcol2"].value == 0.0
    assert sorted(e.name for e in n.of_kind("R")) == ["r0_0", "r0_2", "r1_0", "r1_1"]
    assert els["r0_2"].nodes == ("row0", "col2")
    c = compile_netlist(n)
    assert c.source_names == ("vrow0", "vrow1", "vcol0", "vcol1", "vcol2")
    back = crossbar_conductance(c)
    assert back.shape == (2, 3)
    assert np.array_equal(back, representable_conductance(g))
    assert np.array_equal(crossbar_conductance(n), back)


def test_crossbar_with_load_and_prefixes():
    g = representable_conductance(np.random.default_rng(2).uniform(0, 1e-3, (3, 4)))
    n = crossbar_netlist(g, output_load=1e-3, row_prefix="wl", col_prefix="bl")
    assert [e.name for e in n.of_kind("V")] == ["vwl0", "vwl1", "vwl2"]
    loads = [e for e in n.of_kind("R") if e.name.startswith("rload")]
    assert len(loads) == 4 and all(e.value == 1000.0 and e.nodes[1] == "0" for e in loads)
    assert np.array_equal(crossbar_conductance(compile_netlist(n), row_prefix="wl",
                                               col_prefix="bl"), g)


@pytest.mark.parametrize("bad", [np.ones(3), -np.ones((2, 2)), np.full((2, 2), np.nan)])
def test_crossbar_rejects_bad_conductance(bad):
    with pytest.raises(ValueError):
        crossbar_netlist(bad)


@needs_ngspice
@pytest.mark.ngspice
def test_crossbar_sense_currents_in_ngspice_are_g_transpose_v():
    from circuitlearn.solve.backends.ngspice_batch import run_ngspice_batch
    rng = np.random.default_rng(5)
    g = rng.uniform(0, 1e-3, (4, 3))
    g[1, 2] = 0.0
    v = rng.uniform(-1, 1, 4)
    res = run_ngspice_batch(write_netlist(crossbar_netlist(g, inputs=v)))
    sense = np.array([res[f"i(vcol{j})"] for j in range(3)])
    # SPICE branch current flows into + (the column) and through the source to ground
    assert np.allclose(sense, g.T @ v, rtol=1e-9, atol=1e-15)
    assert all(abs(res[f"col{j}"]) < 1e-12 for j in range(3))


# ----------------------------------------------------------------------- DRN
def test_drn_naming_follows_conventions():
    sizes = [4, 5, 3, 2]
    ws = rand_weights(sizes, zero_frac=0)
    ws[1][2, 1] = 0.0
    bs = [np.arange(5) * 1e-6, -np.arange(3) * 1e-6, np.array([1e-5, -2e-5])]
    n = drn_netlist(ws, bs, x=[0.25, 1.0], gain=100.0)
    els = by_name(n)
    assert [(e.name, e.nodes, e.value) for e in n.of_kind("V")] == [
        ("vx0", ("x0", "0"), 25.0), ("vx1", ("x1", "0"), 100.0),
        ("vx2", ("x2", "0"), -25.0), ("vx3", ("x3", "0"), -100.0)]
    assert [e.name for e in n.of_kind("I")] == (
        [f"ih1_{k}" for k in range(5)] + [f"ih2_{k}" for k in range(3)] + ["io0", "io1"])
    assert els["ih2_2"].nodes == ("0", "h2_2") and els["ih2_2"].value == -2e-6
    assert els["io1"].nodes == ("0", "o1") and els["io1"].value == -2e-5
    assert "r2_2_1" not in els
    assert els["r2_0_1"].nodes == ("h1_0", "h2_1")
    assert els["r3_1_0"].nodes == ("h2_1", "o0")
    n_res = sum(int(np.count_nonzero(w)) for w in ws)
    assert len(n.of_kind("R")) == n_res
    # diode halves: 5 nodes -> 2 held >= 0 (anode 0) and 3 held <= 0 (cathode 0)
    assert [els[f"dh1_{k}"].nodes for k in range(5)] == [
        ("0", "h1_0"), ("0", "h1_1"), ("h1_2", "0"), ("h1_3", "0"), ("h1_4", "0")]
    assert [els[f"dh2_{k}"].nodes[0] for k in range(3)] == ["0", "h2_1", "h2_2"]
    assert not any(e.name.startswith("do") for e in n.of_kind("D"))  # linear outputs
    assert {e.model for e in n.of_kind("D")} == {"dideal"}
    assert dict(n.model("dideal").params) == DRN_DIODE_PARAMS
    assert n.of_kind("E") == ()


def test_drn_compiles_with_sources_in_batch_order():
    sizes = [6, 4, 3]
    ws = rand_weights(sizes, seed=1)
    bs = [np.linspace(-1e-5, 1e-5, 4), np.array([3e-6, 0.0, -1e-6])]
    x = np.array([0.1, 0.7, 0.0])
    c = compile_netlist(drn_netlist(ws, bs, x=x, gain=7.0))
    assert c.source_names == tuple(f"vx{i}" for i in range(6)) + (
        "ih1_0", "ih1_1", "ih1_2", "ih1_3", "io0", "io1", "io2")
    assert c.node_names[:7] == ("0", "x0", "x1", "x2", "x3", "x4", "x5")
    assert np.array_equal(drn_source_vector(x, sizes, gain=7.0, biases=bs)[0],
                          c.default_sources())
    assert drn_source_vector(np.zeros((5, 3)), sizes).shape == (5, 13)


def test_drn_arrays_round_trip_is_exact_for_representable_conductances():
    sizes = [8, 6, 4, 3]
    ws = [representable_conductance(w) for w in rand_weights(sizes, seed=4)]
    rng = np.random.default_rng(4)
    bs = [rng.normal(0, 1e-5, s) for s in sizes[1:]]
    n = drn_netlist(ws, bs, x=rng.random(4), gain=3.0)
    for source in (n, compile_netlist(n), parse_netlist(write_netlist(n))):
        w2, b2, s2 = drn_arrays(source)
        assert s2 == sizes
        assert all(np.array_equal(a, b) for a, b in zip(w2, ws))
        assert all(np.array_equal(a, b) for a, b in zip(b2, bs))


def test_drn_arrays_round_trip_of_arbitrary_doubles_within_one_ulp_then_fixed():
    rng = np.random.default_rng(9)
    ws = [rng.uniform(1e-6, 1e-3, (20, 30)), rng.uniform(1e-6, 1e-3, (30, 5))]
    w2, b2, _ = drn_arrays(drn_netlist(ws))
    for a, b in zip(w2, ws):
        assert np.all(np.abs(a - b) <= np.spacing(b))
        assert np.mean(a == b) > 0.7  # most doubles are 1/R of some double R
    assert all(np.array_equal(b, np.zeros_like(b)) for b in b2)
    w3, _, _ = drn_arrays(drn_netlist(w2))
    assert all(np.array_equal(a, b) for a, b in zip(w3, w2))


def test_drn_with_amplifiers_buffers_hidden_layers():
    sizes = [4, 4, 2, 2]
    ws = [representable_conductance(w) for w in rand_weights(sizes, seed=3, zero_frac=0)]
    n = drn_netlist(ws, amplifier_gain=[2.0, 5.0])
    els = by_name(n)
    es = n.of_kind("E")
    assert [e.name for e in es] == ["ea1_0", "ea1_1", "ea1_2", "ea1_3", "ea2_0", "ea2_1"]
    assert els["ea1_2"].nodes == ("a1_2", "0", "h1_2", "0") and els["ea1_2"].value == 2.0
    assert els["ea2_1"].value == 5.0
    assert els["r1_0_0"].nodes == ("x0", "h1_0")  # inputs are sources already: no buffer
    assert els["r2_3_1"].nodes == ("a1_3", "h2_1")
    assert els["r3_1_0"].nodes == ("a2_1", "o0")
    c = compile_netlist(n)
    assert len(c.vcvs_names) == 6 and c.n_sources == 4 + 4 + 2 + 2
    w2, _, s2 = drn_arrays(c)
    assert s2 == sizes and all(np.array_equal(a, b) for a, b in zip(w2, ws))
    with pytest.raises(ValueError, match="one value per hidden layer"):
        drn_netlist(ws, amplifier_gain=[1.0, 2.0, 3.0])


def test_drn_diode_params_override_and_validation():
    ws = rand_weights([2, 2, 1])
    n = drn_netlist(ws, diode_model="dsoft", diode_params={"N": 1.0, "vth": 0.3})
    m = n.model("dsoft")
    assert m.get("n") == 1.0 and m.get("vth") == 0.3 and m.get("is") == DRN_DIODE_PARAMS["is"]
    with pytest.raises(ValueError, match="2\\*n_x"):
        drn_netlist([np.ones((3, 2)) * 1e-3])
    with pytest.raises(ValueError, match="shape"):
        drn_netlist([np.ones((2, 3)) * 1e-3, np.ones((2, 1)) * 1e-3])
    with pytest.raises(ValueError, match="negative"):
        drn_netlist([-np.ones((2, 1))])
    with pytest.raises(ValueError, match="biases"):
        drn_netlist(ws, [np.zeros(3), np.zeros(1)])


def test_drn_arrays_refuses_miswired_resistor():
    n = drn_netlist(rand_weights([2, 2, 1], zero_frac=0))
    els = tuple(e if e.name != "r1_0_1" else type(e)("r1_0_1", "R", ("x1", "h1_1"), e.value)
                for e in n.elements)
    with pytest.raises(ValueError, match="r1_0_1 joins x1 and h1_1"):
        drn_arrays(type(n)(n.title, els, n.models))


@needs_ngspice
@pytest.mark.ngspice
@pytest.mark.parametrize("amp", [None, 2.0])
def test_small_drn_in_ngspice_respects_diode_halves(amp):
    from circuitlearn.solve.backends.ngspice_batch import run_ngspice_batch
    sizes = [8, 6, 4, 3]
    ws = rand_weights(sizes, seed=7, zero_frac=0.1)
    rng = np.random.default_rng(7)
    bs = [rng.normal(0, 2e-3, s) for s in sizes[1:]]
    n = drn_netlist(ws, bs, x=rng.random(4), gain=10.0, amplifier_gain=amp)
    v = run_ngspice_batch(write_netlist(n))
    small = 0.02  # forward drop of the near-ideal diode (n = 0.01) at these currents
    active = 0
    for l, size in ((1, 6), (2, 4)):
        h = np.array([v[f"h{l}_{k}"] for k in range(size)])
        assert np.all(h[: size // 2] >= -small) and np.all(h[size // 2:] <= small)
        active += np.count_nonzero(np.abs(h) < small)
        if amp is not None:
            assert np.allclose([v[f"a{l}_{k}"] for k in range(size)], amp * h, rtol=1e-9, atol=1e-12)
    assert active > 0  # some diodes do clamp: the test exercises them
    # linear outputs obey Kirchhoff's current law with the builder's conductances
    src = np.array([v[f"a2_{i}" if amp else f"h2_{i}"] for i in range(4)])
    o = np.array([v[f"o{k}"] for k in range(3)])
    w = ws[2]
    kcl = w.T @ src - w.sum(axis=0) * o + bs[2]
    assert np.all(np.abs(kcl) <= 1e-9 * (np.abs(w.T @ src) + np.abs(bs[2]) + 1e-12))


# ------------------------------------------------------------- random graphs
def test_random_graph_is_connected_deterministic_and_varied():
    n = random_resistor_diode_graph(2000, degree=5, seed=42)
    assert n == random_resistor_diode_graph(2000, degree=5, seed=42)
    assert n != random_resistor_diode_graph(2000, degree=5, seed=43)
    c = compile_netlist(n)  # passes check_topology
    assert c.n_nodes == 2001
    r = c.resistor_nodes
    adj = coo_matrix((np.ones(len(r)), (r[:, 0], r[:, 1])), shape=(c.n_nodes,) * 2)
    n_comp, _ = connected_components(adj, directed=False)
    assert n_comp == 2  # all free nodes in one resistor component, plus ground
    assert abs(2 * len(r) / 2000 - 5) < 0.1
    assert np.all(c.conductance >= 1e-5 * (1 - 1e-12)) and np.all(c.conductance <= 1e-3 * (1 + 1e-12))
    d = c.diode_nodes
    assert len(d) == 200
    assert np.any(d[:, 0] == 0) and np.any(d[:, 1] == 0)
    free = d[(d[:, 0] != 0) & (d[:, 1] != 0)]
    assert len(free) == 100 and np.all(free[:, 0] != free[:, 1])
    vn = c.vsource_nodes
    assert len(vn) == 40 and len(np.unique(vn[:, 0])) == 40 and np.all(vn[:, 1] == 0)
    inodes = c.isource_nodes
    assert len(inodes) == 40 and np.any(inodes[:, 0] == 0) and np.any(inodes.min(axis=1) > 0)


def test_random_graph_thresholds_use_several_models():
    n = random_resistor_diode_graph(500, seed=1, thresholds=True, n_diodes=80)
    c = compile_netlist(n)
    assert set(np.round(c.diode_vth, 3)) == {0.1, 0.2, 0.3, 0.5}
    n0 = random_resistor_diode_graph(500, seed=1)
    assert np.all(compile_netlist(n0).diode_vth == 0.0)


def test_random_graph_of_1e5_nodes_builds_fast():
    t0 = time.perf_counter()
    n = random_resistor_diode_graph(100_000, seed=0)
    assert time.perf_counter() - t0 < 5.0
    assert len(n.of_kind("R")) == 200_000 and len(n.of_kind("D")) == 10_000


@needs_ngspice
@pytest.mark.ngspice
def test_random_graph_solves_in_ngspice():
    from circuitlearn.solve.backends.ngspice_batch import run_ngspice_batch
    n = random_resistor_diode_graph(200, seed=5)
    v = run_ngspice_batch(write_netlist(n))
    assert len([k for k in v if not k.startswith("i(")]) >= 200
    for e in n.of_kind("V"):
        assert v[e.nodes[0]] == pytest.approx(e.value, abs=1e-9)
