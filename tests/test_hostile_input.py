"""Hostile input to the CLI (damaged, truncated, foreign or NaN checkpoints and data, bad flag
values, unusable paths, closed pipes) ends in one located
error with exit 1 -- never a traceback, never a resumed run on bad state (issue 12)."""
import json
import os
import subprocess
import sys

import numpy as np
import pytest

from circuitlearn.cli import main

SMALL = ["--hidden", "8", "--n-train", "48", "--n-test", "24", "--batch-size", "8",
         "--momentum", "0.5", "--nudging", "current", "--no-progress"]


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    out = str(tmp_path_factory.mktemp("ck") / "run")
    assert main(["train", "--out", out, "--epochs", "1", *SMALL]) == 0
    with open(os.path.join(out, "checkpoint.npz"), "rb") as fh:
        return out, fh.read()


def _resume(out, capsys):
    rc = main(["train", "--out", out, "--epochs", "2", "--resume", "--no-progress"])
    return rc, capsys.readouterr().err


def _rewrite(out, **changes):
    path = os.path.join(out, "checkpoint.npz")
    with np.load(path) as z:
        arrays = {k: z[k] for k in z.files}
    meta = json.loads(str(arrays["meta"]))
    for k, v in changes.items():
        if k == "meta":
            meta.update(v)
        else:
            arrays[k] = v
    arrays["meta"] = np.array(json.dumps(meta))
    np.savez(path, **arrays)


def _damage(kind, out, raw):
    path = os.path.join(out, "checkpoint.npz")
    data = bytearray(raw)
    if kind == "truncated":
        data = data[:len(data) // 2]
    elif kind == "bit-flipped":
        for i in range(200, len(data), 97):
            data[i] ^= 0x5A
    elif kind == "empty":
        data = bytearray()
    elif kind == "not-a-zip":
        data = bytearray(b"hello, I am not a checkpoint\n" * 20)
    with open(path, "wb") as fh:
        fh.write(bytes(data))
    if kind == "nan-weights":
        w = np.load(path)["w0"].copy()
        w[0, 0] = np.nan
        _rewrite(out, w0=w)
    elif kind == "wrong-shape":
        _rewrite(out, w0=np.ones((3, 3)))
    elif kind == "text-array":
        w = np.load(path)["w0"]
        _rewrite(out, w0=np.full(w.shape, "x"))
    elif kind == "bad-rng":
        _rewrite(out, meta={"rng": {"bit_generator": "PCG64", "state": "nonsense"}})
    elif kind == "negative-epoch":
        _rewrite(out, meta={"epoch": -3})
    elif kind == "velocity-nan":
        v = np.load(path)["vel0"].copy()
        v[:] = np.inf
        _rewrite(out, vel0=v)


KINDS = ["truncated", "bit-flipped", "empty", "not-a-zip", "nan-weights", "wrong-shape",
         "text-array", "bad-rng", "negative-epoch", "velocity-nan"]


@pytest.mark.parametrize("kind", KINDS)
def test_a_damaged_drn_checkpoint_is_one_located_error(kind, trained, tmp_path, capsys):
    src, raw = trained
    out = str(tmp_path / "run")
    os.makedirs(out)
    for name in os.listdir(src):
        with open(os.path.join(src, name), "rb") as a, open(os.path.join(out, name), "wb") as b:
            b.write(a.read())
    _damage(kind, out, raw)
    rc, err = _resume(out, capsys)
    assert rc == 1, err
    assert "Traceback" not in err and "checkpoint.npz" in err, err


def test_hidden_sizes_must_be_whole_numbers(tmp_path, capsys):
    cfg = tmp_path / "c.toml"
    cfg.write_text("[model]\nhidden = [8.5]\n")
    assert main(["train", "--config", str(cfg), "--out", str(tmp_path / "o")]) == 1
    err = capsys.readouterr().err
    assert "model.hidden" in err and "whole numbers" in err


def test_out_that_is_a_file_is_refused(tmp_path, capsys):
    f = tmp_path / "taken"
    f.write_text("mine\n")
    assert main(["train", "--out", str(f), "--epochs", "1", *SMALL]) == 1
    err = capsys.readouterr().err
    assert "is a file" in err and "Traceback" not in err
    assert f.read_text() == "mine\n"


def test_a_closed_stdout_pipe_is_no_traceback(tmp_path):
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    deck = os.path.join(root, "netlists", "random_network_30.cir")
    p = subprocess.run(f"{sys.executable} -m circuitlearn solve {deck} --json | head -c 1",
                       shell=True, capture_output=True, text=True, timeout=300)
    assert "Traceback" not in p.stderr, p.stderr


def _mnist_npz(path, **edit):
    rng = np.random.default_rng(0)
    arr = {"x_train": rng.integers(0, 256, (20, 28, 28)).astype(np.uint8),
           "y_train": rng.integers(0, 10, 20), "x_test": rng.integers(0, 256, (8, 28, 28))
           .astype(np.uint8), "y_test": rng.integers(0, 10, 8)}
    arr.update(edit)
    np.savez(path, **arr)


@pytest.mark.parametrize("edit, words", [
    ({"y_train": np.full(20, 12)}, "labels outside"),
    ({"y_test": np.arange(5)}, "images but 5 labels"),
    ({"x_test": np.zeros((0, 28, 28), np.uint8), "y_test": np.zeros(0, np.int64)}, "empty"),
    ({"y_train": np.full(20, 2.5)}, "whole numbers"),
    ({"x_train": np.full((20, 28, 28), "a")}, "not numbers"),
])
def test_a_bad_mnist_npz_is_one_located_error(tmp_path, capsys, edit, words):
    _mnist_npz(tmp_path / "mnist.npz", **edit)
    rc = main(["train", "--dataset", "mnist", "--data-root", str(tmp_path), "--hidden", "8",
               "--epochs", "1", "--out", str(tmp_path / "o"), "--no-progress"])
    err = capsys.readouterr().err
    assert rc == 1 and words in err and "mnist.npz" in err and "Traceback" not in err, err


def test_a_truncated_npz_is_one_located_error(tmp_path, capsys):
    _mnist_npz(tmp_path / "mnist.npz")
    raw = (tmp_path / "mnist.npz").read_bytes()
    (tmp_path / "mnist.npz").write_bytes(raw[:len(raw) // 3])
    rc = main(["train", "--dataset", "mnist", "--data-root", str(tmp_path), "--hidden", "8",
               "--epochs", "1", "--out", str(tmp_path / "o"), "--no-progress"])
    err = capsys.readouterr().err
    assert rc == 1 and "mnist.npz" in err and "Traceback" not in err, err


@pytest.mark.parametrize("flags, words", [
    (["--tol", "0"], "--tol"), (["--tol", "-1"], "--tol"), (["--tol", "nan"], "--tol"),
    (["--maxiter", "0"], "--maxiter"), (["--maxiter", "x"], "--maxiter"),
])
def test_solve_refuses_bad_numbers_as_usage_errors(flags, words, capsys):
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    with pytest.raises(SystemExit) as exc:
        main(["solve", os.path.join(root, "netlists", "divider.cir"), *flags])
    assert exc.value.code == 2 and words in capsys.readouterr().err


def test_solve_out_paths_and_ngspice_without_ideal_diodes(tmp_path, capsys):
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    deck = os.path.join(root, "netlists", "divider.cir")
    assert main(["solve", deck, "--out", str(tmp_path)]) == 1
    assert "is a folder" in capsys.readouterr().err
    assert main(["solve", deck, "--out", str(tmp_path / "v")]) == 0
    assert "wrote " + str(tmp_path / "v.npz") in capsys.readouterr().out
    assert (tmp_path / "v.npz").exists()
    clipper = os.path.join(root, "netlists", "diode_clipper.cir")
    assert main(["solve", clipper, "--backend", "ngspice"]) == 1
    assert "--diodes shockley" in capsys.readouterr().err


@pytest.mark.ngspice
def test_solve_ngspice_on_a_deck_without_diodes_needs_no_diode_flag(capsys):
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    assert main(["solve", os.path.join(root, "netlists", "divider.cir"), "--backend",
                 "ngspice"]) == 0


@pytest.mark.parametrize("cards, words", [
    ("V1 a 0 1\nR1 a 0 1e-320\n", "resistor r1"),
    ("V1 a 0 1e308\nR1 a 0 1k\n", "voltage source v1"),
    ("I1 0 a 1e200\nR1 a 0 1k\n", "current source i1"),
    (".model dd D (is=1e-14 rs=1e-320)\nV1 a 0 1\nD1 a 0 dd\nR1 a 0 1k\n", "diode d1"),
])
def test_values_outside_float64s_useful_range_are_refused_where_they_are(tmp_path, capsys,
                                                                        cards, words):
    deck = tmp_path / "bad.cir"
    deck.write_text("hostile values\n" + cards + ".end\n")
    assert main(["solve", str(deck)]) == 1
    err = capsys.readouterr().err
    assert words in err and f"{deck}:" in err and "Traceback" not in err, err


def test_no_ground_names_the_deck(tmp_path, capsys):
    deck = tmp_path / "ng.cir"
    deck.write_text("no ground\nV1 a b 1\nR1 a b 1k\n.end\n")
    assert main(["check", str(deck)]) == 1
    assert f"{deck}: no ground" in capsys.readouterr().err


@pytest.mark.parametrize("param", ["tnom=50", "ikf=1m", "ikr=1m", "isr=1e-9", "level=3"])
def test_model_parameters_with_a_dc_effect_are_refused_where_they_are(tmp_path, capsys, param):
    deck = tmp_path / "m.cir"
    deck.write_text(f"dc effect\n.model dd D (is=1e-14 {param})\nV1 a 0 1\nD1 a b dd\n"
                    "R1 b 0 1k\n.end\n")
    assert main(["check", str(deck)]) == 1
    err = capsys.readouterr().err
    assert f"{deck}:2:" in err and param.split("=")[0].upper() in err and "does not model" in err


ZENER = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "netlists",
                     "zener_regulator.cir")


def _zener_sweep(c):
    """VIN from -12 to 24 V and I1 from -20 to 40 mA: forward, reverse, knee and breakdown."""
    vin = np.linspace(-12.0, 24.0, 13)
    i1 = np.array([-20e-3, -1e-3, -1e-5, 0.0, 1e-6, 1e-5, 3e-5, 4.5e-5, 5e-5, 1e-4, 1e-3, 1e-2,
                   4e-2])                          # R2 = 100k: up to 51 uA stays below the knee
    return np.stack([vin, i1], axis=1)


@pytest.mark.ngspice
def test_zener_breakdown_matches_ngspice_over_the_whole_curve():
    """BV/IBV/NBV modelled as ngspice 39 does (knee matched to IBV, area not applied to IBV):
    forward, reverse and breakdown samples agree with ngspice to 1e-9 V."""
    from circuitlearn.compile import compile_netlist
    from circuitlearn.netlist import read_netlist
    from circuitlearn.solve import solve
    c = compile_netlist(read_netlist(ZENER))
    S = _zener_sweep(c)
    ours = solve(c, S, diodes="shockley")
    ref = solve(c, S, diodes="shockley", backend="ngspice")
    assert ours.success and ref.success
    assert np.max(np.abs(ours.voltages - ref.voltages)) <= 1e-9
    assert np.max(np.abs(ours.diode_currents - ref.diode_currents)) <= 1e-9
    k = c.node_names.index("k")
    assert ours.voltages[-1, k] > 5.1 and ours.voltages[0, k] < 0       # breakdown and forward
    vd = -ours.voltages[:, k]
    assert np.any(vd < -5.1) and np.any((vd > -5.0) & (vd < -0.1))     # both reverse branches


@pytest.mark.ngspice
def test_validate_shows_agreement_on_the_zener_deck(capsys):
    assert main(["validate", ZENER, "--json"]) == 0
    obj = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert obj["max_abs_dv"] <= 1e-9


def test_ideal_zener_clamps_at_minus_bv_and_conducts_backwards():
    from circuitlearn.compile import compile_netlist
    from circuitlearn.netlist import read_netlist
    from circuitlearn.solve import solve
    c = compile_netlist(read_netlist(ZENER))
    S = _zener_sweep(c)
    res = solve(c, S)
    assert res.success
    out, k = c.node_names.index("out"), c.node_names.index("k")
    vin, i1 = S[:, 0], S[:, 1]

    def clamp(drive, g, rs):
        """Node fed by ``drive`` (A) into conductance ``g``, an ideal Zener (0.6 V forward,
        5.1 V breakdown) with series ``rs`` to ground: the three linear pieces."""
        v = drive / g
        v = np.where(v > 5.1, (drive + 5.1 / rs) / (g + 1 / rs), v)
        return np.where(v < -0.6, (drive - 0.6 / rs) / (g + 1 / rs), v)
    assert np.allclose(res.voltages[:, out], clamp(vin / 330, 1 / 330 + 1e-3, 1.5), atol=1e-9)
    assert np.allclose(res.voltages[:, k], clamp(i1, 1e-5, 0.75), atol=1e-9)
    # the breakdown current flows cathode to anode (negative), the forward one positive
    j = c.diode_names.index("dz1")
    assert np.all(res.diode_currents[res.voltages[:, out] > 5.1 + 1e-6, j] < 0)
    assert np.all(res.diode_currents[res.voltages[:, out] < -0.6 - 1e-6, j] > 0)
    assert np.any(res.voltages[:, out] > 5.1 + 1e-6) and np.any(res.voltages[:, out] < -0.6)


def test_circuit_gradients_through_breakdown_match_finite_differences():
    from circuitlearn.compile import compile_netlist
    from circuitlearn.learn.gradients import circuit_gradients
    from circuitlearn.netlist import read_netlist
    from circuitlearn.solve import solve
    import dataclasses
    c = compile_netlist(read_netlist(ZENER))
    S = np.array([[12.0, 10e-3]])
    out = c.node_names.index("out")
    for diodes in ("shockley", "ideal"):
        res = solve(c, S, diodes=diodes, tol=1e-13)
        dl = np.zeros_like(res.voltages)
        dl[:, out] = 1.0
        grad = circuit_gradients(c, res, dl, diodes=diodes).conductance[0]
        fd = np.zeros_like(grad)
        for m in range(c.conductance.size):
            h = 1e-7 * c.conductance[m]
            vals = []
            for s in (1.0, -1.0):
                g = c.conductance.copy()
                g[m] += s * h
                cm = dataclasses.replace(c, conductance=g)
                vals.append(solve(cm, S, diodes=diodes, tol=1e-13).voltages[0, out])
            fd[m] = (vals[0] - vals[1]) / (2 * h)
        assert np.allclose(grad, fd, rtol=1e-4, atol=1e-9), (diodes, grad, fd)


def test_bv_must_be_positive_where_it_is(tmp_path, capsys):
    deck = tmp_path / "z.cir"
    deck.write_text("bad bv\n.model dz D (is=1e-14 bv=-5)\nV1 a 0 1\nD1 a 0 dz\nR1 a 0 1k\n.end\n")
    assert main(["check", str(deck)]) == 1
    err = capsys.readouterr().err
    assert f"{deck}:4:" in err and "BV = -5" in err


def test_a_fan_out_of_includes_is_stopped_by_the_card_limit(tmp_path, capsys):
    """10 includes per level over 9 levels (10^9 cards) ends in one located error, fast."""
    import time
    for level in range(9):
        body = (f".include l{level + 1}.inc\n" * 10) if level < 8 else "R1 a 0 1k\n"
        (tmp_path / f"l{level}.inc").write_text(body)
    deck = tmp_path / "top.cir"
    deck.write_text("fan-out\nV1 a 0 1\n.include l0.inc\n.end\n")
    t0 = time.perf_counter()
    assert main(["check", str(deck)]) == 1
    err = capsys.readouterr().err
    assert "cards with its includes" in err and time.perf_counter() - t0 < 60


def test_an_include_that_is_a_fifo_does_not_block(tmp_path, capsys):
    os.mkfifo(tmp_path / "pipe.inc")
    deck = tmp_path / "top.cir"
    deck.write_text("fifo\nV1 a 0 1\nR1 a 0 1k\n.include pipe.inc\n.end\n")
    assert main(["check", str(deck)]) == 1
    err = capsys.readouterr().err
    assert "not a regular file" in err and f"{deck}:4:" in err
    assert main(["check", str(tmp_path / "pipe.inc")]) == 1
    assert "not a regular file" in capsys.readouterr().err


def test_shared_parameter_scopes_keep_each_instance_its_own_values():
    """Scopes are layered, not copied (issue 12: 80k .param cards took 31 s): an instance's
    defaults, overrides and inner .param cards stay its own."""
    from circuitlearn.netlist import parse_netlist
    deck = """scopes
.param g=2 w=100
.subckt cell a b w=1k
.param q={w*g}
R1 a b {q}
.ends
V1 n0 0 1
X1 n0 n1 cell
X2 n1 n2 cell w=10
R2 n2 0 {w}
.end
"""
    n = parse_netlist(deck)
    r = {e.name: e.value for e in n.elements if e.kind == "R"}
    assert r == {"r.x1.r1": 2000.0, "r.x2.r1": 20.0, "r2": 100.0}


def test_a_stiff_chain_cannot_fool_the_certificate():
    """1 uOhm, 1 uOhm, 1 MOhm (issue 12): CD to 1e-10 V had the source current 60x wrong
    and called it success.  Judged node by node it now fails; the exact paths are right."""
    from circuitlearn.netlist import parse_netlist
    from circuitlearn.compile import compile_netlist
    from circuitlearn.solve import solve
    c = compile_netlist(parse_netlist("stiff\nV1 a 0 1\nR1 a b 1u\nR2 b c 1u\nR3 c 0 1meg\n.end\n"))
    cd = solve(c, method="cd")
    assert not cd.success
    for method in ("auto", "active-set"):
        r = solve(c, method=method)
        assert r.success
        np.testing.assert_allclose(r.source_currents[0, 0], -1e-6, rtol=1e-3)


def test_weakly_attached_nodes_are_solved_to_their_own_currents():
    """A dead-end node (one 74 kOhm resistor) behind a regularised KKT solve was pulled
    3e-10 V off (its resistor then carried current with nowhere to go); refinement
    against the unregularised system removes it, and the node certificate checks it."""
    from circuitlearn.compile import compile_netlist
    from circuitlearn.compile.builders import random_resistor_diode_graph
    from circuitlearn.solve import solve
    c = compile_netlist(random_resistor_diode_graph(60, n_diodes=8, seed=4))
    S = np.tile(c.default_sources(), (3, 1)) * np.array([[1.0], [-0.7], [0.3]])
    r = solve(c, S, diodes="ideal")
    assert r.success
    k, j = c.node_names.index("n36"), c.node_names.index("n33")
    assert np.max(np.abs(r.voltages[:, k] - r.voltages[:, j])) < 1e-13


def test_the_shockley_result_is_judged_node_by_node_too():
    """The same per-node certificate judges Newton's answer; 1 nV at one node of a diode
    deck is caught there (the circuit-wide threshold would let it pass)."""
    from circuitlearn.compile import compile_netlist
    from circuitlearn.netlist import read_netlist
    from circuitlearn.solve import solve
    from circuitlearn.solve.assemble import prepared
    from circuitlearn.solve.certificate import nodes_certified
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    c = compile_netlist(read_netlist(os.path.join(root, "netlists", "diode_crossbar_3x2.cir")))
    S = c.default_sources()[None, :]
    r = solve(c, S, diodes="shockley", tol=1e-13)
    assert r.success
    hit = prepared(c)
    ex, red = hit["ex"], hit["red"]
    vext = np.zeros((ex.n_ext, 1))
    vext[:c.n_nodes, 0] = r.voltages[0]
    assert nodes_certified(c, ex, red.free, vext, r.diode_currents, S)[0]
    vext[c.node_index("m1"), 0] += 1e-9
    assert not nodes_certified(c, ex, red.free, vext, r.diode_currents, S)[0]


def test_mna_path_is_judged_node_by_node_too():
    """Decks with E/G sources: every node without a V/E source is judged against its own
    currents (G currents included); the exact answer passes, a 1e-5 V nudge of one node
    fails -- in a batch whose other sample stays certified."""
    from circuitlearn.compile import compile_netlist
    from circuitlearn.netlist import read_netlist
    from circuitlearn.solve import solve
    from circuitlearn.solve.assemble import prepared
    from circuitlearn.solve.certificate import mna_free, nodes_certified
    deck = os.path.join(os.path.dirname(ZENER), "amplifier_two_layers.cir")
    c = compile_netlist(read_netlist(deck))
    assert len(c.vccs_names) and len(c.vcvs_names)
    S = np.stack([c.default_sources(), 2 * c.default_sources()])
    for diodes in ("ideal", "shockley"):
        res = solve(c, S, diodes=diodes)
        assert res.success and res.method.startswith("mna")
        ex = prepared(c)["ex"]
        free = mna_free(c, ex)
        g_nodes = set(c.vccs_nodes[:, :2].ravel()) - {0}
        assert g_nodes & set(free.tolist())            # a G terminal is among those judged
        vext = np.zeros((ex.n_ext, 2))
        vext[:c.n_nodes] = res.voltages.T
        assert nodes_certified(c, ex, free, vext, res.diode_currents, S).all()
        vext[free[0], 0] += 1e-5
        assert nodes_certified(c, ex, free, vext, res.diode_currents, S).tolist() == [False, True]


def test_diode_complementarity_is_judged_at_the_diodes_own_scale():
    """A stiff 1 uOhm element elsewhere must not hide an off diode that carries current:
    at the circuit-wide scale (1e6 S) 1 nA is 1e-15 V; at the diode's own (1 mS) 1e-6 V."""
    from circuitlearn.compile import compile_netlist
    from circuitlearn.netlist import parse_netlist
    from circuitlearn.solve.assemble import prepared
    from circuitlearn.solve.certificate import certify, thresholds
    c = compile_netlist(parse_netlist("own scale\n.model dd D (vth=0)\nV1 a 0 1\nR1 a b 1u\nR2 b 0 1meg\n"
                                      "V2 p 0 -1\nR3 p k 1k\nD1 k 0 dd\n.end\n"))
    ex = prepared(c)["ex"]
    assert ex.gscale >= 1e6 and ex.dscale[0] == pytest.approx(1e-3)
    lam = np.array([[1e-9]])                       # off (v_d = -0.5 V) yet carrying 1 nA
    vd = np.array([[-0.5]])
    r = np.zeros((1, 1))
    _, vtol = thresholds(1e-10, ex.gscale, 1.0)
    assert certify(r, lam, vd, ex.vth, ex.gscale)[1][0] <= vtol          # the old, loose test
    assert certify(r, lam, vd, ex.vth, ex.dscale)[1][0] > vtol           # what is judged now


def test_a_failed_shockley_certificate_is_refined(monkeypatch):
    """Newton stopped early (tol = 1e-3 V) leaves node KCL off; the failing samples are
    solved again from their answer with direct steps, and those then certified are right."""
    from circuitlearn.compile import compile_netlist
    from circuitlearn.netlist import read_netlist
    from circuitlearn.solve import solve
    import circuitlearn.solve.shockley.solver as sh
    deck = os.path.join(os.path.dirname(ZENER), "diode_clipper.cir")
    c = compile_netlist(read_netlist(deck))
    S = c.default_sources() * np.array([[1.0, 1.0], [2.0, 1.0], [0.5, 2.0]])
    exact = solve(c, S, diodes="shockley", tol=1e-13)
    res = solve(c, S, diodes="shockley", tol=1e-3)
    assert res.method.endswith("+refined")
    monkeypatch.setattr(sh, "merge_samples", lambda res, idx, sub, method: res)
    plain = solve(c, S, diodes="shockley", tol=1e-3)
    assert np.sum(res.sample_success) > np.sum(plain.sample_success)
    ok = res.sample_success
    # certified to 1e-6 of each node's currents: within ~1e-7 V here
    assert np.max(np.abs(res.voltages[ok] - exact.voltages[ok])) <= 1e-6
    assert list(res.sample_status[~ok]) == [4] * int(np.sum(~ok))


def test_a_long_chain_of_voltage_sources_costs_linear_work():
    """20,000 series sources (issue 12: 4,000 took 19 s and 1.6 GB, the source map being
    n x depth): the source tree is applied by walking it, never as a matrix."""
    from circuitlearn.compile import compile_netlist
    from circuitlearn.netlist import parse_netlist
    from circuitlearn.solve import solve
    from circuitlearn.solve.assemble import prepared
    n = 20_000
    lines = (["chain"] + [f"V{k} n{k} {'0' if k == 0 else f'n{k - 1}'} 1m" for k in range(n)]
             + [f"R{k} n{k} 0 1k" for k in range(0, n, 100)] + [".end"])
    c = compile_netlist(parse_netlist("\n".join(lines)))
    for diodes in ("ideal", "shockley"):
        res = solve(c, diodes=diodes)
        assert res.success
        k = c.node_names.index("n19999")
        assert res.voltages[0, k] == pytest.approx(20.0, rel=1e-12)
        # v0 carries every resistor's current: sum over k of (k + 1) mV / 1k
        want = -sum((k + 1) * 1e-3 / 1e3 for k in range(0, n, 100))
        assert res.source_currents[0, 0] == pytest.approx(want, rel=1e-12)
        # v19900 feeds only the last resistor (n19900 at 19.901 V), v19999 nothing
        assert res.source_currents[0, 19900] == pytest.approx(-19.901e-3, rel=1e-12)
        assert res.source_currents[0, -1] == 0.0
    red = prepared(c)["red"]
    assert red.tree.parent.size == n + 1 and getattr(red, "_P", None) is None
