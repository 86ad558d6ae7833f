"""``solve()`` input checking and the ``circuitlearn solve`` command."""
from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from circuitlearn.compile.circuit import compile_netlist
from circuitlearn.netlist.model import DiodeModel, Element, Netlist
from circuitlearn.solve import SolveResult, solve

DECK = """clipper for the CLI test
V1 in 0 DC 2
R1 in x 1k
D1 x 0 dclip
R2 x 0 1k
I1 0 x 0
.model dclip D (is=1e-14 n=1 vth=0.5)
.op
.end
"""


def small():
    return compile_netlist(Netlist("t", (
        Element("v1", "V", ("in", "0"), 2.0), Element("r1", "R", ("in", "x"), 1e3),
        Element("d1", "D", ("x", "0"), 1.0, "dclip"), Element("r2", "R", ("x", "0"), 1e3),
        Element("i1", "I", ("0", "x"), 0.0)),
        (DiodeModel("dclip", (("is", 1e-14), ("n", 1.0), ("rs", 0.0), ("vth", 0.5))),)))


def test_result_type_shapes_and_default_sources():
    c = small()
    res = solve(c)
    assert isinstance(res, SolveResult)
    assert res.voltages.shape == (1, 3) and res.source_currents.shape == (1, 1)
    assert res.diode_currents.shape == (1, 1) and res.sample_success.shape == (1,)
    # clipped at vth: 2 V through 1k, 0.5 V across 1k to ground: diode takes 1.5 mA - 0.5 mA
    assert res.node("x")[0] == pytest.approx(0.5, abs=1e-12)
    assert res.diode_currents[0, 0] == pytest.approx(1.0e-3, abs=1e-15)
    assert res.source_currents[0, 0] == pytest.approx(-1.5e-3, abs=1e-15)


@pytest.mark.parametrize("kwargs,match", [
    ({"sources": [[np.nan, 0.0]]}, "NaN"),
    ({"sources": [[1.0, np.inf]]}, "NaN or infinity"),
    ({"sources": np.zeros((2, 3))}, r"shape \[batch, 2\]"),
    ({"diodes": "exponential"}, "diodes must be"),
    ({"backend": "spectre"}, "backend must be"),
    ({"tol": -1.0}, "tol"),
    ({"tol": float("nan")}, "tol"),
    ({"maxiter": 0}, "maxiter"),
    ({"x0": np.zeros((1, 5))}, "x0 must have shape"),
    ({"x0": np.full((1, 3), np.nan)}, "x0 contains NaN"),
    ({"method": "newton"}, "method must be"),
    ({"diodes": "shockley", "method": "cd"}, "unknown option"),
])
def test_invalid_inputs_raise_value_error(kwargs, match):
    with pytest.raises(ValueError, match=match):
        solve(small(), **kwargs)


def test_batch_of_sources_in_source_names_order():
    c = small()
    assert c.source_names == ("v1", "i1")
    S = np.array([[2.0, 0.0], [0.2, 0.0], [0.2, 1e-3]])
    res = solve(c, S)
    assert res.success and res.voltages.shape == (3, 3)
    assert res.node("x") == pytest.approx([0.5, 0.1, 0.5], abs=1e-12)
    # the injected 1 mA lifts x to 0.6 V unclipped -> clipped at 0.5, diode carries the rest
    assert res.diode_currents[2, 0] == pytest.approx((0.2 - 0.5) / 1e3 + 1e-3 - 0.5e-3, abs=1e-15)


def run_cli(*args, cwd):
    code = "import sys; from circuitlearn.cli import main; sys.exit(main(sys.argv[1:]))"
    return subprocess.run([sys.executable, "-c", code, *args], cwd=cwd,
                          capture_output=True, text=True, timeout=300)


@pytest.fixture
def deck(tmp_path):
    pytest.importorskip("circuitlearn.netlist.parser", reason="the netlist parser is not built yet")
    p = tmp_path / "clip.cir"
    p.write_text(DECK)
    return p


@pytest.mark.parametrize("diodes", ["ideal", "shockley"])
def test_cli_json_prints_one_object(deck, tmp_path, diodes):
    r = run_cli("solve", str(deck), "--diodes", diodes, "--json", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    obj = json.loads(r.stdout)          # exactly one JSON document on stdout
    assert obj["status"] == 0 and obj["success"] is True and obj["nit"] >= 1
    assert set(obj["voltages"]) == {"0", "in", "x"}
    assert obj["voltages"]["in"] == pytest.approx(2.0, abs=1e-12)
    if diodes == "ideal":
        assert obj["voltages"]["x"] == pytest.approx(0.5, abs=1e-12)
    else:   # 1 mA-ish through a 1e-14 A diode: about 0.6 V, below the 1 V of the divider
        assert 0.55 < obj["voltages"]["x"] < 0.7
    assert obj["kcl_residual"][0] <= 1e-12


def test_cli_sources_and_out(deck, tmp_path):
    S = np.array([[2.0, 0.0], [0.2, 0.0], [-1.0, 0.0]])
    np.save(tmp_path / "in.npy", S)
    r = run_cli("solve", str(deck), "--sources", "in.npy", "--out", "out.npz", "--json",
                cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    obj = json.loads(r.stdout)
    assert obj["batch"] == 3 and obj["voltages"]["x"] == pytest.approx([0.5, 0.1, -0.5], abs=1e-12)
    z = np.load(tmp_path / "out.npz")
    assert z["voltages"].shape == (3, 3)
    names = list(z["node_names"])
    assert z["voltages"][:, names.index("x")] == pytest.approx([0.5, 0.1, -0.5], abs=1e-12)
    assert z["voltages"][:, names.index("in")] == pytest.approx(S[:, 0])


@pytest.mark.parametrize("content,match", [
    (np.zeros((2, 5)), r"shape \[batch, 2\]"),
    (np.array([[np.nan, 0.0]]), "NaN"),
    (b"not a numpy file", "not a readable .npy"),
])
def test_cli_rejects_bad_sources_file(deck, tmp_path, content, match):
    p = tmp_path / "bad.npy"
    if isinstance(content, bytes):
        p.write_bytes(content)
    else:
        np.save(p, content)
    r = run_cli("solve", str(deck), "--sources", str(p), cwd=tmp_path)
    assert r.returncode == 1
    assert "Traceback" not in r.stderr
    assert pytest.importorskip("re").search(match, r.stderr), r.stderr


def test_cli_text_output_and_missing_file(deck, tmp_path):
    r = run_cli("solve", str(deck), cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert "v(x)" in r.stdout and "converged" in r.stdout
    r = run_cli("solve", str(tmp_path / "missing.cir"), cwd=tmp_path)
    assert r.returncode == 1 and "Traceback" not in r.stderr


@pytest.mark.parametrize("diodes", ["ideal", "shockley"])
def test_new_conductances_on_a_carried_structure_solve_like_a_fresh_circuit(diodes):
    """carry_structure keeps the reduction/colouring/plans and recomputes only values."""
    from circuitlearn.compile.builders import random_resistor_diode_graph
    from circuitlearn.solve.assemble import _CACHE, carry_structure
    c = compile_netlist(random_resistor_diode_graph(60, n_diodes=8, seed=4))
    S = np.tile(c.default_sources(), (3, 1)) * np.array([[1.0], [-0.7], [0.3]])
    solve(c, S, diodes=diodes)                          # prepares c
    g = c.conductance * np.random.default_rng(0).uniform(0.5, 2.0, c.conductance.size)
    carried = c.with_conductance(g)
    assert carry_structure(c, carried) and carried in _CACHE
    fresh = c.with_conductance(g.copy())
    a = solve(carried, S, diodes=diodes, tol=1e-12)
    b = solve(fresh, S, diodes=diodes, tol=1e-12)
    assert a.success and b.success
    np.testing.assert_allclose(a.voltages, b.voltages, rtol=0, atol=1e-10)
    np.testing.assert_allclose(a.source_currents, b.source_currents, rtol=1e-9, atol=1e-15)
