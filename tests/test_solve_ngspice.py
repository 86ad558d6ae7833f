"""The ngspice shared-library backend against the ngspice program, on the same decks.

These tests run the real ngspice (libngspice through PySpice, and ``ngspice -b``).
"""
from __future__ import annotations

import glob
import os
import resource
import subprocess
import sys

import numpy as np
import pytest

from circuitlearn.compile import compile_netlist
from circuitlearn.errors import BackendError
from circuitlearn.netlist import parse_netlist, read_netlist, write_netlist
from circuitlearn.solve.backends.ngspice import NgspiceSession, solve_ngspice
from circuitlearn.solve.backends.ngspice_batch import run_ngspice_batch

pytestmark = pytest.mark.ngspice
DECKS = sorted(glob.glob(os.path.join(os.path.dirname(__file__), "..", "netlists", "*.cir")))


def _reference(circuit, sources):
    """Node voltages from the ngspice program for one source vector."""
    deck = write_netlist(circuit.with_sources(sources).to_netlist())
    ref = run_ngspice_batch(deck)
    return np.array([ref[n] for n in circuit.node_names])


@pytest.mark.parametrize("deck", DECKS, ids=os.path.basename)
def test_shared_backend_equals_ngspice_program(deck):
    circuit = compile_netlist(read_netlist(deck))
    rng = np.random.default_rng(0)
    base = circuit.default_sources()
    sources = np.stack([base, base * 0.5 + rng.normal(0, 0.1, base.shape) * (base != 0)])
    res = solve_ngspice(circuit, sources)
    assert res.success and res.status == 0
    assert res.voltages.shape == (2, circuit.n_nodes)
    assert np.all(np.isfinite(res.voltages)) and np.all(np.isfinite(res.diode_currents))
    for b in range(2):
        np.testing.assert_allclose(res.voltages[b], _reference(circuit, sources[b]), atol=1e-9)


def test_alter_reuse_matches_fresh_loads_and_kcl():
    """Changing sources with alter on one loaded circuit = loading the circuit anew each time."""
    circuit = compile_netlist(read_netlist(os.path.join(os.path.dirname(__file__), "..",
                                                         "netlists", "bridge.cir")))
    sources = np.linspace(-2, 3, 7)[:, None] * np.ones((1, circuit.n_sources))
    batched = solve_ngspice(circuit, sources)
    for b in range(len(sources)):
        fresh = solve_ngspice(circuit.with_sources(sources[b]))
        np.testing.assert_allclose(batched.voltages[b], fresh.voltages[0], atol=1e-12)
    # a linear bridge: voltages scale with the (single) source
    s0 = sources[:, 0]
    nz = s0 != 0
    ratio = batched.voltages[nz] / s0[nz, None]
    np.testing.assert_allclose(ratio, np.broadcast_to(ratio[0], ratio.shape), atol=1e-9)


def test_programmed_conductance_equals_rebuilt_circuit():
    circuit = compile_netlist(read_netlist(os.path.join(os.path.dirname(__file__), "..",
                                                         "netlists", "crossbar_4x4.cir")))
    g = circuit.conductance * np.linspace(0.5, 2.0, circuit.conductance.size)
    with NgspiceSession(circuit) as sess:
        before = solve_ngspice(circuit, session=sess).voltages
        sess.set_conductance(g)
        after = solve_ngspice(sess.circuit, session=sess)
    rebuilt = solve_ngspice(circuit.with_conductance(g))
    np.testing.assert_allclose(after.voltages, rebuilt.voltages, atol=1e-12)
    assert after.source_currents.shape == rebuilt.source_currents.shape
    np.testing.assert_allclose(after.source_currents, rebuilt.source_currents, rtol=1e-9)
    assert not np.allclose(after.source_currents, solve_ngspice(circuit).source_currents)
    del before


def test_two_sessions_interleaved():
    """Sessions share one ngspice: each reloads its circuit when it becomes active."""
    a = compile_netlist(read_netlist(DECKS[0]))
    b = compile_netlist(read_netlist(DECKS[-1]))
    sa, sb = NgspiceSession(a), NgspiceSession(b)
    va1 = solve_ngspice(a, session=sa).voltages
    vb1 = solve_ngspice(b, session=sb).voltages
    va2 = solve_ngspice(a, session=sa).voltages
    vb2 = solve_ngspice(b, session=sb).voltages
    np.testing.assert_array_equal(va1, va2)
    np.testing.assert_array_equal(vb1, vb2)
    sa.close()
    sb.close()


def test_memory_flat_over_thousands_of_runs():
    circuit = compile_netlist(read_netlist(os.path.join(os.path.dirname(__file__), "..",
                                                         "netlists", "diode_clipper.cir")))
    sources = np.tile(circuit.default_sources(), (1500, 1)) * np.linspace(-1, 1, 1500)[:, None]
    with NgspiceSession(circuit) as sess:
        solve_ngspice(circuit, sources, session=sess)  # warm up
        rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        for _ in range(3):
            res = solve_ngspice(circuit, sources, session=sess)
        rss1 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    assert res.success
    assert sess.n_runs == 4 * 1500
    assert rss1 - rss0 < 8_000, f"ngspice memory grew by {rss1 - rss0} kB over 4500 runs"


def test_diode_currents_obey_kcl_at_clipper():
    """Diode currents read from ngspice close KCL with the resistor currents."""
    text = ("clipper\nv1 in 0 dc 5\nr1 in out 1k\nd1 out 0 dm\n"
            ".model dm d (is=1e-14 n=1)\n.end\n")
    circuit = compile_netlist(parse_netlist(text))
    res = solve_ngspice(circuit)
    v = res.voltages[0]
    i_r = (v[circuit.node_index("in")] - v[circuit.node_index("out")]) / 1e3
    assert abs(i_r - res.diode_currents[0, 0]) < 1e-12
    assert abs(res.source_currents[0, 0] + i_r) < 1e-12  # SPICE sign: delivering source < 0


def test_ngspice_error_is_surfaced_with_its_own_message():
    """A voltage-source loop (compiled without the topology check) makes ngspice fail."""
    text = "loop\nv1 a 0 dc 1\nv2 a 0 dc 2\nr1 a 0 1k\n.end\n"
    circuit = compile_netlist(parse_netlist(text), check=False)
    with pytest.raises(BackendError, match="(?i)ngspice: .*(timestep too small|aborted)"):
        solve_ngspice(circuit)


def test_singular_matrix_reported_not_hidden():
    text = "float\nv1 a 0 dc 1\nr1 a 0 1k\nr2 b c 1k\n.end\n"
    circuit = compile_netlist(parse_netlist(text), check=False)
    res = solve_ngspice(circuit)
    assert not res.success and res.status == 2
    assert "singular" in res.message
    assert np.all(np.isfinite(res.voltages))


def test_gmin_stepping_chatter_is_not_an_error():
    """Near-ideal diodes make ngspice print Note:/gmin lines; the solve still succeeds."""
    text = ("hard\nv1 a 0 dc 10\nr1 a b 1\nd1 b 0 dm\nd2 0 b dm\nr2 b 0 1e9\n"
            ".model dm d (is=1e-12 n=0.01)\n.end\n")
    circuit = compile_netlist(parse_netlist(text))
    res = solve_ngspice(circuit)
    assert res.success
    assert 0 < res.voltages[0, circuit.node_index("b")] < 0.05


def test_ideal_diodes_refused_by_ngspice():
    circuit = compile_netlist(read_netlist(DECKS[0]))
    with pytest.raises(ValueError, match="no ideal diode"):
        solve_ngspice(circuit, diodes="ideal")


def test_missing_library_gives_install_hint(tmp_path):
    code = ("import os\nos.environ['NGSPICE_LIBRARY_PATH'] = '/nonexistent/libngspice.so'\n"
            "from circuitlearn.compile import compile_netlist\n"
            "from circuitlearn.netlist import parse_netlist\n"
            "from circuitlearn.solve.backends.ngspice import solve_ngspice\n"
            "c = compile_netlist(parse_netlist('t\\nv1 a 0 dc 1\\nr1 a 0 1k\\n.end\\n'))\n"
            "try:\n    solve_ngspice(c)\nexcept Exception as e:\n"
            "    print(type(e).__name__, e)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert "BackendError" in out.stdout and "apt-get install" in out.stdout, out.stdout + out.stderr


@pytest.mark.parametrize("deck", DECKS, ids=os.path.basename)
def test_shockley_solver_agrees_with_ngspice_on_every_deck(deck):
    """The numba Shockley solver and ngspice (tight tolerances) agree to 1e-6 V on every node."""
    from circuitlearn.solve import solve
    circuit = compile_netlist(read_netlist(deck))
    rng = np.random.default_rng(1)
    base = circuit.default_sources()
    sources = np.stack([base, base * rng.uniform(-2, 2, base.shape), base * 0.1])
    ours = solve(circuit, sources, diodes="shockley")
    ref = solve_ngspice(circuit, sources)
    assert ours.success and ref.success
    np.testing.assert_allclose(ours.voltages, ref.voltages, rtol=0, atol=1e-6)
    np.testing.assert_allclose(ours.source_currents, ref.source_currents, rtol=1e-5, atol=1e-12)
    if circuit.diode_names:
        np.testing.assert_allclose(ours.diode_currents, ref.diode_currents, rtol=1e-5, atol=1e-12)


@pytest.mark.parametrize("deck", ["diode_clipper.cir", "drn_small.cir"])
def test_validate_command_reports_agreement(deck):
    import json
    out = subprocess.run([sys.executable, "-m", "circuitlearn", "validate",
                          os.path.join(os.path.dirname(DECKS[0]), deck), "--json"],
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    report = json.loads(out.stdout.strip().splitlines()[-1])
    assert report["agree"] and report["max_abs_dv"] <= 1e-6
    assert report["circuitlearn_success"] and report["ngspice_success"]
    assert report["speedup"] > 0


@pytest.mark.parametrize("name", ["diode_clipper.cir", "zener_regulator.cir", "drn_small.cir",
                                  "amplifier_two_layers.cir", "iris_diode_crossbar.cir"])
def test_a_batch_is_one_dc_sweep_with_the_alter_loops_voltages(name):
    """A batch runs as one ngspice DC sweep of an index source driving the varying
    sources through pwl tables; it gives the alter loop's operating points (forward,
    reverse and breakdown, E sources, many diodes) to 1e-9 V and its currents."""
    circuit = compile_netlist(read_netlist(os.path.join(os.path.dirname(__file__), "..",
                                                         "netlists", name)))
    rng = np.random.default_rng(1)
    base = circuit.default_sources()
    S = np.tile(base, (40, 1)) * (1 + 0.6 * rng.standard_normal((40, base.size)))
    S[:, 0] = np.linspace(-3.0, 9.0, 40) if name == "zener_regulator.cir" else S[:, 0]
    swept = solve_ngspice(circuit, S)
    assert "dc-sweep" in swept.method and swept.success
    sess = NgspiceSession(circuit)
    try:
        for b in range(len(S)):
            vs, is_ = circuit.split_sources(S[b:b + 1])
            v, i, d, status, _ = sess.op(np.concatenate([vs, is_], axis=1)[0])
            assert status == 0
            np.testing.assert_allclose(swept.voltages[b], v, atol=1e-9)
            np.testing.assert_allclose(swept.source_currents[b], i, atol=1e-12, rtol=1e-7)
            np.testing.assert_allclose(swept.diode_currents[b], d, atol=1e-12, rtol=1e-7)
    finally:
        sess.close()


def test_a_sweep_ngspice_cannot_finish_falls_back_to_the_alter_loop(monkeypatch):
    circuit = compile_netlist(read_netlist(os.path.join(os.path.dirname(__file__), "..",
                                                         "netlists", "diode_clipper.cir")))
    S = np.tile(circuit.default_sources(), (40, 1)) * np.linspace(0.5, 1.5, 40)[:, None]
    want = solve_ngspice(circuit, S)
    assert "dc-sweep" in want.method
    assert "dc-sweep" not in solve_ngspice(circuit, S[:8]).method     # small: the loop
    monkeypatch.setattr(NgspiceSession, "op_batch", lambda self, batch: None)
    got = solve_ngspice(circuit, S)
    assert "dc-sweep" not in got.method and got.success
    np.testing.assert_allclose(got.voltages, want.voltages, atol=1e-9)


def test_bench_ngspice_batch_smoke():
    p = subprocess.run([sys.executable, os.path.join(os.path.dirname(__file__), "..",
                                                     "experiments", "bench_ngspice_batch.py"),
                        "--smoke", "--repeat", "1"], capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stderr
    import json
    out = json.loads(p.stdout.strip().splitlines()[-1])
    assert [r["batch"] for r in out["rows"]] == [2, 8] and out["max_abs_dv"] < 1e-9
