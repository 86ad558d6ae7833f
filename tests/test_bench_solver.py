"""The solver benchmark's smoke mode runs end to end and its figures are physical."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

ROOT = os.path.join(os.path.dirname(__file__), "..")


@pytest.mark.ngspice
def test_bench_solver_smoke(tmp_path):
    out = subprocess.run([sys.executable, os.path.join(ROOT, "experiments", "bench_solver.py"),
                          "--smoke", "--out", str(tmp_path)],
                         capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-3000:]
    summary = json.loads(out.stdout.strip().splitlines()[-1])
    report = json.loads((tmp_path / "bench_solver.json").read_text())
    assert (tmp_path / "bench_solver.png").stat().st_size > 10_000
    d = report["drn_xs"]
    # the Shockley solver agrees with the ngspice program on the same deck
    assert summary["drn_max_dv_shockley"] <= 1e-6
    assert d["ngspice_shared_vs_b_max_dv"] <= 1e-9
    for key in ("ideal_batch1", "ideal_batch16", "shockley_batch1", "shockley_batch16"):
        assert d[key]["success"], key
    for row in report["random_graphs"]:
        assert row["ideal_success"] and row["shockley_success"]
        if "max_dv_shockley_vs_ngspice" in row:
            assert row["max_dv_shockley_vs_ngspice"] <= 1e-6
    assert all(r["sweeps"] >= 1 for r in report["scaling"])


def test_bench_scale_smoke(tmp_path):
    """experiments/bench_scale.py --smoke: every topology (random, lattice, 1D1R crossbar,
    wires-only crossbar) measured against the linear limit, with our forest-CG beside it."""
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    p = subprocess.run([sys.executable, os.path.join(root, "experiments", "bench_scale.py"),
                        "--smoke", "--out", str(tmp_path)], capture_output=True, text=True,
                       timeout=600)
    assert p.returncode == 0, p.stderr
    summary = json.loads(p.stdout.strip().splitlines()[-1])
    assert summary["cases"] == 4 and summary["timeouts"] == 0
    rows = json.load(open(tmp_path / "bench_scale.json"))["rows"]
    for r in rows:
        assert r["ideal_success"] and r["shockley_success"]
        assert r["linear_s"] > 0 and r["ideal_x"] > 0
        assert r[r["linear_best"] + "_rres"] <= 1e-9 and r["forest_cg_rres"] <= 1e-9
        assert r["batch_success"] and r["batch_marginal_s"] >= 0
    assert {r["topology"] for r in rows} == {"random", "lattice", "crossbar", "crossbar-wires"}
    assert (tmp_path / "bench_scale.png").exists()
