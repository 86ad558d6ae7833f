"""Crossbars as built: wire resistance, driver and sense resistances, selectors; what the
array computes against the ideal product; ngspice agreement; trainable as a task."""
import json
import os

import numpy as np
import pytest

from circuitlearn.cli import main
from circuitlearn.compile import compile_netlist, crossbar_array_netlist, crossbar_readout
from circuitlearn.netlist import Element, Netlist, read_netlist, write_netlist
from circuitlearn.solve import solve


def _solve(g, x, diodes="ideal", backend="numba", **kw):
    c = compile_netlist(crossbar_array_netlist(g, inputs=x[0], **kw))
    S = np.tile(c.default_sources(), (len(x), 1))
    S[:, [c.source_names.index(f"vin{i}") for i in range(g.shape[0])]] = x
    return c, solve(c, S, diodes=diodes, backend=backend)


def test_thin_wires_compute_the_ideal_product_and_ir_drop_grows_with_wire_resistance():
    rng = np.random.default_rng(0)
    g = rng.uniform(1e-6, 1e-4, (8, 6))
    x = rng.uniform(-0.3, 0.3, (5, 8))
    errs, drops = [], []
    for r in (1e-6, 1.0, 10.0, 100.0):
        c, res = _solve(g, x, r_wire=r)
        assert res.success
        ro = crossbar_readout(g, x, c, res)
        errs.append(ro["rel_error"].max())
        drops.append(ro["ir_drop_row"].max())
    assert errs[0] < 1e-8 and drops[0] < 1e-8                 # ideal lines: the product
    assert errs == sorted(errs) and drops == sorted(drops)    # more wire, more error
    assert errs[-1] > 1e-2


def test_selector_diodes_block_cells_whose_row_is_below_their_column():
    g = np.full((2, 2), 1e-4)
    x = np.array([[0.5, -0.5]])
    c, res = _solve(g, x, r_wire=1e-3, selector="dsel")
    ro = crossbar_readout(g, x, c, res)
    # the negative row's cells are reverse biased: only row 0 conducts
    np.testing.assert_allclose(ro["actual"], [[0.5e-4, 0.5e-4]], rtol=1e-6)
    assert np.allclose(ro["ideal"], 0.0)
    c2, res2 = _solve(g, x, r_wire=1e-3)                        # no selectors: both do
    np.testing.assert_allclose(crossbar_readout(g, x, c2, res2)["actual"], 0.0, atol=1e-10)


@pytest.mark.ngspice
@pytest.mark.parametrize("selector", [None, "dsel"])
def test_a_32x32_array_agrees_with_ngspice(selector):
    rng = np.random.default_rng(1)
    g = rng.uniform(1e-6, 1e-4, (32, 32))
    x = rng.uniform(-0.3, 0.3, (4, 32))
    kw = dict(r_wire=2.0, r_driver=10.0, r_sense=5.0, r_series=100.0, selector=selector)
    c, ours = _solve(g, x, diodes="shockley", **kw)
    _, spice = _solve(g, x, diodes="shockley", backend="ngspice", **kw)
    assert ours.success and spice.success
    assert np.max(np.abs(ours.voltages - spice.voltages)) <= 1e-6
    np.testing.assert_allclose(ours.source_currents, spice.source_currents, atol=1e-12)


def test_the_writer_refuses_a_name_spice_would_read_as_another_kind():
    n = Netlist("t", (Element("cw1", "R", ("a", "0"), 1.0), Element("v1", "V", ("a", "0"), 1.0)))
    with pytest.raises(ValueError, match="must start with 'R'"):
        write_netlist(n)


def test_an_array_with_parasitics_trains_as_a_netlist_task(tmp_path, capsys):
    rng = np.random.default_rng(2)
    teacher = rng.uniform(1e-5, 1e-4, (4, 3))
    kw = dict(r_wire=5.0, r_sense=10.0, output_load=1e-3)
    (tmp_path / "xbar.cir").write_text(write_netlist(crossbar_array_netlist(
        np.full((4, 3), 5e-5), **kw)))
    x = rng.uniform(0, 0.5, (120, 4))
    c = compile_netlist(crossbar_array_netlist(teacher, **kw))
    S = np.tile(c.default_sources(), (len(x), 1))
    S[:, [c.source_names.index(f"vin{i}") for i in range(4)]] = x
    y = solve(c, S, diodes="ideal").voltages[:, [c.node_index(f"out{j}") for j in range(3)]]
    cols = [f"x{i}" for i in range(4)] + [f"y{j}" for j in range(3)]
    np.savetxt(tmp_path / "data.csv", np.hstack([x, y]), delimiter=",", header=",".join(cols),
               comments="")
    (tmp_path / "task.toml").write_text(f'''
[circuit]
netlist = "xbar.cir"
inputs = ["vin0", "vin1", "vin2", "vin3"]
outputs = ["out0", "out1", "out2"]
trainable = ["r[0-9]*_*"]
g_min = 1e-6
g_max = 2e-4
[data]
path = "data.csv"
features = {json.dumps(cols[:4])}
targets = {json.dumps(cols[4:])}
[algorithm]
nudging = "current"
beta = 1e-6
[optim]
lr = 2e-7
momentum = 0.5
[train]
epochs = 6
n_check = 0
''')
    assert main(["train", "--config", str(tmp_path / "task.toml"), "--out",
                 str(tmp_path / "run"), "--no-progress"]) == 0
    s = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert s["test_mse"] < 0.3 * s["initial_test_mse"]
    trained = read_netlist(str(tmp_path / "run" / "trained.cir"))
    wires = [e for e in trained.elements if e.name.startswith(("rrow", "rcol"))]
    assert wires and all(e.value == pytest.approx(5.0) for e in wires)   # wires untouched


def _read(g, cell, scheme, diodes="ideal", v_read=0.2, tol=1e-10, **kw):
    from circuitlearn.compile import crossbar_cell_read, crossbar_read_netlist
    c = compile_netlist(crossbar_read_netlist(g, cell, v_read=v_read, scheme=scheme, **kw))
    res = solve(c, None, diodes=diodes, tol=tol)
    assert np.all(res.success), res.message
    return c, res, crossbar_cell_read(g, cell, c, res, v_read=v_read)


def test_a_floating_read_of_a_passive_2x2_array_sees_the_sneak_path():
    """Read cell (0, 0) with the other row and column open: the current is the cell's plus
    the sneak path through the other three cells in series, g01 -> g11 -> g10.  Grounding
    the unselected lines removes it; V/2 and V/3 leave the half-selected cell of the
    selected column, g10, at v/2 and v/3 (1 mOhm wires: IR drop below 1e-6)."""
    g = np.array([[1e-5, 1e-4], [2e-4, 3e-4]])
    sneak = 1.0 / (1 / g[0, 1] + 1 / g[1, 1] + 1 / g[1, 0])
    _, _, r = _read(g, (0, 0), "floating", r_wire=1e-3)
    np.testing.assert_allclose(r["current"], 0.2 * (g[0, 0] + sneak), rtol=1e-6)
    np.testing.assert_allclose(r["sneak_current"], 0.2 * sneak, rtol=1e-5)
    assert r["relative_error"][0] > 5                     # the sneak path outshines the cell
    for scheme, leak in (("grounded", 0.0), ("half", 0.1), ("third", 0.2 / 3)):
        _, _, r = _read(g, (0, 0), scheme, r_wire=1e-3)
        np.testing.assert_allclose(r["current"], 0.2 * g[0, 0] + leak * g[1, 0], rtol=1e-5)


def test_selectors_block_the_sneak_path_of_a_floating_read():
    """1D1R: every sneak path runs backwards through some cell's selector, so the read
    equals the read of the same cell with every other device removed (a silicon selector,
    1 V read: the diode's drop makes both smaller than g v); a passive array's does not.
    The read agrees with ngspice to 1e-6 V.  The open lines leak 1 GOhm to ground (a
    switched-off driver): held by reverse-biased selectors alone, neither solver converges
    at tight tolerances (ngspice's gmin and source stepping fail too).  Even so an open
    line's voltage is resolved only to ~1e-8 V (1 nS against 0.5 S wires in float64), so
    the solve is asked for 1e-8 V."""
    from circuitlearn.netlist.model import DiodeModel
    from circuitlearn.solve.backends.ngspice_batch import run_ngspice_batch
    rng = np.random.default_rng(3)
    g = rng.uniform(1e-6, 1e-4, (6, 5))
    alone = np.zeros_like(g)
    alone[2, 3] = g[2, 3]
    _, _, passive = _read(g, (2, 3), "floating", r_wire=2.0)
    assert passive["relative_error"][0] > 1.0
    kw = dict(r_wire=2.0, selector="dsel", v_read=1.0, r_open=1e9, tol=1e-8,
              selector_model=DiodeModel("dsel", (("is", 1e-12), ("n", 1.0))))
    c, res, r = _read(g, (2, 3), "floating", "shockley", **kw)
    _, _, ref = _read(alone, (2, 3), "floating", "shockley", **kw)
    assert 0.2 < r["current"][0] / r["cell_current"] < 0.8       # the selector's drop
    np.testing.assert_allclose(r["current"], ref["current"], rtol=1e-3)
    ref = run_ngspice_batch(write_netlist(c.to_netlist()).replace(".end", ".op\n.end"))
    diffs = [abs(ref[n] - res.voltages[0, k]) for k, n in enumerate(c.node_names)
             if n in ref and n != "0"]
    assert len(diffs) == c.n_nodes - 1 and max(diffs) <= 1e-6


def test_read_netlist_refuses_bad_cells_and_schemes():
    from circuitlearn.compile import crossbar_read_netlist
    g = np.full((2, 2), 1e-5)
    with pytest.raises(ValueError, match="outside"):
        crossbar_read_netlist(g, (2, 0))
    with pytest.raises(ValueError, match="unknown read scheme"):
        crossbar_read_netlist(g, (0, 0), scheme="quarter")
    with pytest.raises(ValueError, match="floating_rows: line 5"):
        crossbar_array_netlist(g, floating_rows=[5])


def test_an_open_line_leakage_must_be_a_positive_resistance():
    g = np.full((2, 2), 1e-5)
    with pytest.raises(ValueError, match="r_open"):
        crossbar_array_netlist(g, floating_columns=[1], r_open=-5.0)
