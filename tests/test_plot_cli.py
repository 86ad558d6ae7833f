"""``circuitlearn plot``: curves of several runs, conductances, node-voltage maps."""
import json
import os

import numpy as np
import pytest

from circuitlearn import plots
from circuitlearn.cli import main

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TINY = ["--hidden", "8", "--n-train", "80", "--n-test", "40", "--epochs", "2", "--no-progress",
        "--nudging", "current", "--n-check", "0"]


def test_plot_overlays_runs_and_draws_each_runs_devices(tmp_path, capsys):
    a, b = tmp_path / "a", tmp_path / "b"
    assert main(["train", *TINY, "--out", str(a)]) == 0
    assert main(["train", *TINY, "--seed", "1", "--out", str(b)]) == 0
    assert main(["train", "--config", "crossbar_regression.toml", "--set", "train.epochs=1",
                 "--set", "train.n_check=0", "--no-progress", "--out", str(tmp_path / "x")]) == 0
    capsys.readouterr()
    assert main(["plot", str(a), str(b), str(tmp_path / "x"), "--out", str(tmp_path / "p")]) == 0
    out = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert out["runs"] == 3 and [os.path.basename(f) for f in out["curves"]] == \
        ["curves.png", "curves_regression.png"]
    assert all(os.path.getsize(f) > 10_000 for f in out["curves"])
    assert len(out["conductances"]) == 3 and len(out["voltages"]) == 3
    assert all(os.path.exists(f) for f in out["conductances"] + out["voltages"])


def test_plot_refuses_what_is_not_a_run(tmp_path, capsys):
    assert main(["plot", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert "no results.json" in err and "Traceback" not in err
    (tmp_path / "results.json").write_text("{not json")
    assert main(["plot", str(tmp_path)]) == 1
    assert "not readable as JSON" in capsys.readouterr().err


def test_voltage_map_reports_the_solved_voltages(tmp_path):
    v = plots.voltages(os.path.join(ROOT, "netlists", "divider.cir"), str(tmp_path / "v.png"))
    assert os.path.exists(tmp_path / "v.png")
    from circuitlearn.compile import compile_netlist
    from circuitlearn.netlist import read_netlist
    from circuitlearn.solve import solve
    c = compile_netlist(read_netlist(os.path.join(ROOT, "netlists", "divider.cir")))
    r = solve(c, c.default_sources()[None], diodes="ideal")
    for n, val in v.items():
        assert val == pytest.approx(r.voltages[0, c.node_index(n)], abs=1e-12)


def test_a_crossbar_is_recognised_by_its_topology():
    pairs = [("r1", "c1"), ("r1", "c2"), ("r2", "c1"), ("r3", "c2")]
    m, rows, cols = plots.crossbar_matrix(pairs, [1.0, 2.0, 3.0, 4.0])
    assert rows == ["r1", "r2", "r3"] and cols == ["c1", "c2"]
    assert m[0, 1] == 2.0 and m[2, 1] == 4.0 and np.isnan(m[1, 1])
    # a chain (a node on both sides) or a repeated crossing is not a crossbar
    assert plots.crossbar_matrix([("a", "b"), ("b", "c")], [1.0, 1.0]) is None
    assert plots.crossbar_matrix([("a", "b"), ("a", "b"), ("c", "b")], [1.0] * 3) is None
