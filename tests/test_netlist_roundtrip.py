"""parse(write(n)) == n on every example deck; the real ngspice solves each deck and its export identically."""
from __future__ import annotations

import glob
import os
import shutil

import numpy as np
import pytest

from circuitlearn.errors import BackendError
from circuitlearn.netlist import Element, Netlist, DiodeModel, parse_netlist, read_netlist, \
    write_netlist
from circuitlearn.solve.backends.ngspice_batch import parse_ascii_raw, run_ngspice_batch

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DECK_DIR = os.path.join(ROOT, "netlists")
DECKS = sorted(glob.glob(os.path.join(DECK_DIR, "*.cir")))
IDS = [os.path.basename(d) for d in DECKS]


def test_there_are_the_six_examples():
    names = set(IDS)
    assert {"divider.cir", "diode_clipper.cir", "bridge.cir", "crossbar_4x4.cir",
            "amplifier_two_layers.cir", "drn_small.cir"} <= names


@pytest.mark.parametrize("deck", DECKS, ids=IDS)
def test_round_trip_is_exact(deck):
    n = read_netlist(deck)
    text = write_netlist(n)
    again = parse_netlist(text)
    assert again == n
    assert write_netlist(again) == text
    # the written deck is flat: no subcircuits, includes or parameters left
    cards = text.lower().split("\n", 1)[1]          # after the title
    for word in (".subckt", ".include", ".lib", ".param", "{"):
        assert word not in cards


def test_writer_layout_and_diode_area():
    n = Netlist("t", (Element("v1", "V", ("a", "0"), 1.0),
                      Element("d1", "D", ("a", "b"), 1.0, "dm"),
                      Element("d2", "D", ("b", "0"), 0.1, "dm"),
                      Element("r.x1.r1", "R", ("b", "x1.m"), 1 / 3),
                      Element("r.x1.r2", "R", ("x1.m", "0"), 2.2e3)),
                (DiodeModel("dm", (("is", 2.52e-9), ("n", 1.752), ("vth", 0.6))),))
    lines = write_netlist(n).splitlines()
    assert lines[0] == "t"
    assert lines[1] == ".model dm D (is=2.52e-09 n=1.752 vth=0.6)"
    assert lines[2] == "v1 a 0 DC 1"
    assert lines[3] == "d1 a b dm"                    # no area token when area == 1
    assert lines[4] == "d2 b 0 dm area=0.1"           # never a bare 4th token
    assert lines[5] == "r.x1.r1 b x1.m 0.3333333333333333"
    assert lines[-2:] == [".op", ".end"]
    assert parse_netlist("\n".join(lines)) == n


def test_awkward_values_round_trip():
    vals = [1e-300, 5e-324, 1.7976931348623157e308, 0.1 + 0.2, 1 / 7, 123456789.123456789]
    n = Netlist("", tuple(Element(f"r{k}", "R", (f"n{k}", "0"), v) for k, v in enumerate(vals))
                + (Element("i1", "I", ("0", "n0"), -0.0),))
    assert parse_netlist(write_netlist(n)) == n


def test_parse_ascii_raw():
    raw = ("Title: t\nPlotname: Operating Point\nFlags: real\nNo. Variables: 3\nNo. Points: 1\n"
           "Variables:\n\t0\tv(in)\tvoltage\n\t1\tv(x1.mid)\tvoltage\n\t2\ti(v1)\tcurrent\n"
           "Values:\n0\t\t5.000000000000000e+00\n\t6.1e-01\n\t-4.3e-03\n")
    assert parse_ascii_raw(raw) == {"0": 0.0, "in": 5.0, "x1.mid": 0.61, "i(v1)": -4.3e-3}


# ----------------------------------------------------------------------------- real ngspice
def _voltages(deck_text, cwd=None):
    return run_ngspice_batch(deck_text, cwd=cwd)


@pytest.mark.ngspice
@pytest.mark.parametrize("deck", DECKS, ids=IDS)
def test_ngspice_solves_deck_and_export_identically(deck):
    with open(deck, encoding="utf-8") as fh:
        original = _voltages(fh.read(), cwd=DECK_DIR)
    n = read_netlist(deck)
    exported = _voltages(write_netlist(n))
    assert set(original) == set(exported)
    assert set(n.nodes) <= set(original)       # every node, flattened names as ngspice's
    for key in original:
        assert exported[key] == pytest.approx(original[key], rel=1e-9, abs=1e-12), key


@pytest.mark.ngspice
def test_ngspice_values_are_physical():
    v = _voltages(write_netlist(read_netlist(os.path.join(DECK_DIR, "divider.cir"))))
    assert v["out"] == pytest.approx(10 * 2 / 3, rel=1e-9)
    assert v["i(v1)"] == pytest.approx(-10 / 3e3, rel=1e-9)
    # crossbar: column j sits at sum_i G_ij V_i / (sum_i G_ij + 1/RL)
    n = read_netlist(os.path.join(DECK_DIR, "crossbar_4x4.cir"))
    g = np.zeros((4, 4))
    for e in n.of_kind("R"):
        if e.name.startswith("r.xr"):
            g[int(e.nodes[0][3]) - 1, int(e.nodes[1][3]) - 1] += 1 / e.value
    vin = np.array([e.value for e in n.of_kind("V")])
    expect = g.T @ vin / (g.sum(axis=0) + 1 / 100.0)
    v = _voltages(write_netlist(n))
    got = np.array([v[f"col{j}"] for j in range(1, 5)])
    np.testing.assert_allclose(got, expect, rtol=1e-8)
    # the clipper's diodes hold the output near one diode drop
    v = _voltages(write_netlist(read_netlist(os.path.join(DECK_DIR, "diode_clipper.cir"))))
    assert 0.5 < v["out"] < 0.8 and -0.8 < v["neg"] < -0.5


@pytest.mark.ngspice
def test_ngspice_error_text_is_reported():
    with pytest.raises(BackendError, match="could not find a valid modelname"):
        run_ngspice_batch("bad\nv1 a 0 DC 1\nq1 a b c nosuch\n.op\n.end\n")


def test_missing_ngspice_binary(monkeypatch):
    monkeypatch.setattr(shutil, "which", lambda name: None)
    with pytest.raises(BackendError, match="apt-get install ngspice"):
        run_ngspice_batch("t\nv1 a 0 1\nr1 a 0 1\n.op\n.end\n")


@pytest.mark.ngspice
def test_ngspice_runs_written_decks_with_awkward_names_and_values():
    """Random resistor networks with odd (legal) names: ngspice's answer satisfies nodal analysis."""
    from hypothesis import given, settings, strategies as st

    node_names = st.from_regex(r"[a-z0-9_][a-z0-9_.$#:\[\]<>-]{0,8}", fullmatch=True) \
        .filter(lambda s: s not in ("0", "gnd"))

    @settings(max_examples=25, deadline=None, derandomize=True, database=None)
    @given(st.lists(node_names, min_size=2, max_size=6, unique=True), st.data())
    def check(nodes, data):
        nodes = ["0"] + nodes
        els = [Element("v.x1.src", "V", (nodes[1], "0"),
                       data.draw(st.floats(-100, 100).filter(lambda v: abs(v) > 1e-3)))]
        for k in range(1, len(nodes)):        # a chain keeps every node connected
            els.append(Element(f"r.x{k}.chain", "R", (nodes[k - 1], nodes[k]),
                               data.draw(st.floats(1.0, 1e6))))
        for k in range(data.draw(st.integers(0, 6))):
            a, b = data.draw(st.sampled_from(nodes)), data.draw(st.sampled_from(nodes))
            if a != b:
                els.append(Element(f"rextra{k}", "R", (a, b), data.draw(st.floats(1.0, 1e6))))
        n = Netlist("random network", tuple(els))
        v = run_ngspice_batch(write_netlist(n))
        # nodal analysis: G v = i with node 1 fixed by the source
        idx = {name: i for i, name in enumerate(nodes)}
        size = len(nodes)
        g = np.zeros((size, size))
        for e in els[1:]:
            i, j = idx[e.nodes[0]], idx[e.nodes[1]]
            for p, q in ((i, i), (j, j)):
                g[p, q] += 1 / e.value
            g[i, j] -= 1 / e.value
            g[j, i] -= 1 / e.value
        free = list(range(2, size))
        x = np.zeros(size)
        x[1] = els[0].value
        if free:
            x[free] = np.linalg.solve(g[np.ix_(free, free)], -g[np.ix_(free, [1])][:, 0] * x[1])
        for name in nodes:
            assert v[name] == pytest.approx(x[idx[name]], rel=1e-6, abs=1e-9), name

    check()
