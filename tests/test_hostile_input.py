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


def test_a_diode_driven_beyond_bv_is_a_failed_solve_not_a_wrong_answer(tmp_path, capsys):
    from circuitlearn.compile import compile_netlist
    from circuitlearn.netlist import read_netlist
    from circuitlearn.solve import solve
    deck = tmp_path / "z.cir"
    deck.write_text("reverse bias past BV\n.model dz D (is=1e-14 n=1 bv=5 ibv=1m)\n"
                    "V1 a 0 DC -12\nR1 a k 1k\nD1 k 0 dz\n.end\n")
    c = compile_netlist(read_netlist(str(deck)))
    for diodes in ("ideal", "shockley"):
        res = solve(c, np.array([[-12.0], [-1.0]]), diodes=diodes)
        assert not res.success and res.status == 4 and "BV = 5" in res.message
        assert list(res.sample_success) == [False, True]
    assert main(["solve", str(deck), "--diodes", "shockley"]) == 2
    assert "breakdown is not modelled" in capsys.readouterr().out


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
