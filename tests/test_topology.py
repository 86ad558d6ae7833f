"""Topology checks: every ill-posed circuit graph is refused with the nodes named."""
import time

import numpy as np
import pytest

from circuitlearn.compile import check_topology, compile_netlist, random_resistor_diode_graph
from circuitlearn.errors import NetlistError, TopologyError
from circuitlearn.netlist.model import DiodeModel, Element, Location, Netlist

DMOD = DiodeModel("dm", (("is", 1e-14), ("n", 1.0)))


def net(*cards, models=(DMOD,)):
    """Netlist from (name, nodes, value[, model]) tuples; kind = first letter; line k+2 of deck.cir."""
    els = []
    for k, card in enumerate(cards):
        name, nodes, value = card[:3]
        model = card[3] if len(card) > 3 else None
        text = f"{name} {' '.join(nodes)} {value}"
        els.append(Element(name, name[0].upper(), tuple(nodes), float(value), model,
                           Location("deck.cir", k + 2, text)))
    return Netlist("t", tuple(els), models)


def refused(netlist, **kw) -> TopologyError:
    circuit = compile_netlist(netlist, check=False)
    with pytest.raises(TopologyError) as info:
        check_topology(circuit, netlist, **kw)
    assert isinstance(info.value, NetlistError)
    return info.value


# ------------------------------------------------------------------ valid ones
def test_valid_circuits_pass():
    divider = net(("v1", ("in", "0"), 1), ("r1", ("in", "mid"), 1e3), ("r2", ("mid", "0"), 1e3))
    compile_netlist(divider)  # check=True by default: no exception
    clipper = net(("v1", ("in", "0"), 1), ("r1", ("in", "out"), 1e3),
                  ("d1", ("out", "0"), 1, "dm"), ("d2", ("0", "out"), 1, "dm"))
    compile_netlist(clipper)
    # I in parallel with V, a self-looped I source, an E buffer with its own load: all fine
    mixed = net(("v1", ("a", "0"), 1), ("i1", ("a", "0"), 1e-3), ("i2", ("a", "a"), 1e-3),
                ("r1", ("a", "0"), 1e3), ("e1", ("b", "0", "a", "0"), 2), ("r2", ("b", "0"), 1e3),
                ("g1", ("b", "0", "a", "0"), 1e-3))
    c = compile_netlist(mixed)
    assert c.n_nodes == 3


def test_node_reached_only_through_diodes_depends_on_diode_paths():
    n = net(("v1", ("a", "0"), 1), ("r1", ("a", "0"), 1e3), ("d1", ("a", "k"), 1, "dm"),
            ("d2", ("k", "0"), 1, "dm"))
    check_topology(compile_netlist(n, check=False), n)  # Shockley: a diode is a DC path
    err = refused(n, diode_paths=False)
    assert "k" in err.reason.split("floating nodes ")[1].split(" (")[0].split(", ")
    assert "diodes not counted" in err.reason


# ------------------------------------------------------------------ (a) ground
def test_no_ground_names_nodes():
    n = net(("v1", ("a", "b"), 1), ("r1", ("a", "b"), 1e3))
    err = refused(n)
    assert "no ground" in err.reason and "a, b" in err.reason


def test_ground_only_on_a_control_input_is_no_ground():
    n = net(("v1", ("a", "b"), 1), ("r1", ("a", "b"), 1e3), ("e1", ("c", "b", "a", "0"), 2))
    assert "no ground" in refused(n).reason


def test_empty_netlist_has_no_ground():
    with pytest.raises(TopologyError, match="no ground"):
        compile_netlist(Netlist("empty", ()))


# ---------------------------------------------------------------- (b) islands
def test_floating_island_named_with_location():
    n = net(("v1", ("a", "0"), 1), ("r1", ("a", "0"), 1e3),
            ("r2", ("b", "c"), 1e3), ("r3", ("c", "b"), 2e3))
    err = refused(n)
    assert "floating nodes b, c" in err.reason
    assert (err.file, err.line) == ("deck.cir", 4)
    assert str(err).startswith("deck.cir:4: ")


def test_node_seen_only_by_a_control_input_is_floating():
    n = net(("v1", ("a", "0"), 1), ("r1", ("a", "0"), 1e3),
            ("e1", ("out", "0", "sense", "0"), 2), ("r2", ("out", "0"), 1e3))
    err = refused(n)
    assert "floating nodes sense " in err.reason and "e1" in err.reason
    assert err.line == 4


def test_island_hanging_on_a_voltage_source_is_floating():
    # v2 fixes v(p) - v(q) but nothing ties the pair to ground
    n = net(("v1", ("a", "0"), 1), ("r1", ("a", "0"), 1e3),
            ("v2", ("p", "q"), 1), ("r2", ("p", "q"), 1e3))
    err = refused(n)
    assert "floating nodes p, q" in err.reason


def test_subcircuit_flattened_names_are_reported_verbatim():
    n = net(("v1", ("in", "0"), 1), ("r1", ("in", "0"), 1e3),
            ("r.x1.r1", ("x1.mid", "x1.out"), 1e3), ("d.x1.d1", ("x1.out", "x1.mid"), 1, "dm"))
    err = refused(n)
    assert "floating nodes x1.mid, x1.out" in err.reason
    assert "r.x1.r1" in err.reason and err.line == 4


# --------------------------------------------------------- (c) source loops
def test_loop_of_three_voltage_sources_names_them():
    n = net(("r0", ("a", "0"), 1e3), ("v1", ("a", "0"), 1), ("v2", ("a", "b"), 1),
            ("v3", ("b", "0"), 0), ("r1", ("b", "0"), 1e3))
    err = refused(n)
    assert "loop of voltage sources" in err.reason
    assert {"v1", "v2", "v3"} <= set(err.reason.replace(",", " ").split())
    assert err.line in (3, 4, 5)


def test_parallel_voltage_sources_are_a_loop_even_if_equal():
    n = net(("v1", ("a", "0"), 1), ("v2", ("a", "0"), 1), ("r1", ("a", "0"), 1e3))
    err = refused(n)
    assert "loop of voltage sources" in err.reason and "v1" in err.reason and "v2" in err.reason


def test_e_output_in_a_voltage_loop():
    n = net(("v1", ("a", "0"), 1), ("r1", ("a", "0"), 1e3), ("v2", ("c", "0"), 1),
            ("r2", ("c", "0"), 1e3), ("e1", ("a", "0", "c", "0"), 2))
    err = refused(n)
    assert "e1" in err.reason and "v1" in err.reason and "v2" not in err.reason.split("through")[0]


def test_loop_in_a_big_graph_is_found():
    big = random_resistor_diode_graph(2000, seed=3)
    v = big.of_kind("V")
    a, b = v[0].nodes[0], v[1].nodes[0]
    bad = Netlist(big.title, big.elements + (Element("vloop", "V", (a, b), 0.5),), big.models)
    err = refused(bad)
    assert "vloop" in err.reason and v[0].name in err.reason and v[1].name in err.reason


# ------------------------------------------------------------- (d) shorted
def test_shorted_voltage_source():
    n = net(("v1", ("a", "0"), 1), ("r1", ("a", "0"), 1e3), ("v2", ("a", "a"), 1))
    err = refused(n)
    assert "v2 is shorted" in err.reason and "node a" in err.reason and err.line == 4


def test_shorted_e_output():
    n = net(("v1", ("a", "0"), 1), ("r1", ("a", "0"), 1e3), ("e1", ("0", "0", "a", "0"), 3))
    assert "e1 is shorted" in refused(n).reason


# -------------------------------------------------------- (e) current cut-set
def test_current_source_cut_set_names_nodes_and_sources():
    n = net(("v1", ("a", "0"), 1), ("r1", ("a", "0"), 1e3), ("i1", ("a", "b"), 1e-3),
            ("r2", ("b", "c"), 1e3), ("i2", ("c", "0"), 1e-3))
    err = refused(n)
    assert "nodes b, c" in err.reason and "current sources i1, i2" in err.reason
    assert err.line == 4


def test_current_source_into_a_bare_node():
    n = net(("v1", ("a", "0"), 1), ("r1", ("a", "0"), 1e3), ("i1", ("0", "x"), 1e-6))
    err = refused(n)
    assert "nodes x " in err.reason and "i1" in err.reason


def test_vccs_output_is_not_a_dc_path():
    n = net(("v1", ("a", "0"), 1), ("r1", ("a", "0"), 1e3), ("g1", ("0", "y", "a", "0"), 1e-3),
            ("r2", ("y", "z"), 1e3))
    err = refused(n)
    assert "nodes y, z" in err.reason and "g1" in err.reason


# ------------------------------------------------------------------ scale
def test_large_random_graph_checks_fast_and_finds_a_planted_island():
    big = random_resistor_diode_graph(100_000, seed=11)
    c = compile_netlist(big, check=False)
    t0 = time.perf_counter()
    check_topology(c, big)
    assert time.perf_counter() - t0 < 3.0
    planted = Netlist(big.title, big.elements + (
        Element("rlost", "R", ("lost1", "lost2"), 1e3),
        Element("ilost", "I", ("n5", "lost1"), 1e-6)), big.models)
    c2 = compile_netlist(planted, check=False)
    t0 = time.perf_counter()
    with pytest.raises(TopologyError, match=r"nodes lost1, lost2 .*current sources ilost"):
        check_topology(c2, planted)
    assert time.perf_counter() - t0 < 3.0


@pytest.mark.parametrize("seed", range(6))
def test_components_agree_with_scipy(seed):
    import scipy.sparse as sp
    from scipy.sparse.csgraph import connected_components
    from circuitlearn.compile.topology import components
    rng = np.random.default_rng(seed)
    n = int(rng.integers(1, 3000))
    m = int(rng.integers(0, 2 * n))
    edges = rng.integers(0, n, (m, 2))
    if seed == 0:                                   # a long path in random order
        perm = rng.permutation(n)
        edges = np.stack([perm[:-1], perm[1:]], 1)
    k, labels = components(n, edges)
    adj = sp.coo_matrix((np.ones(len(edges)), (edges[:, 0], edges[:, 1])), shape=(n, n))
    k2, labels2 = connected_components(adj, directed=False)
    assert k == k2
    # the same partition, numbered by smallest node
    assert len(set(zip(labels.tolist(), labels2.tolist()))) == k
    firsts = [int(np.flatnonzero(labels == c)[0]) for c in range(k)]
    assert firsts == sorted(firsts)
