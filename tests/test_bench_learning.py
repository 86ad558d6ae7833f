"""The learning benchmark's smoke mode: all three sides run, write their JSON, and our
device and the scipy loop compute the same update."""
import importlib.util
import json
import os

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.mark.ngspice
def test_bench_learning_smoke(tmp_path):
    spec = importlib.util.spec_from_file_location(
        "bench_learning", os.path.join(ROOT, "experiments", "bench_learning.py"))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    rows, fixed = mod.main(["--smoke", "--out", str(tmp_path)])
    data = json.load(open(tmp_path / "bench_learning.json"))
    assert [r["circuit"] for r in data["rows"]] == [r["circuit"] for r in rows]
    for r in rows:
        for rule in ("ep", "coupled"):
            for side in ("ours", "scipy", "ngspice"):
                assert r[f"{rule}_{side}_s"] > 0
            assert r[f"{rule}_grad_rel_diff"] < 1e-6, (r["circuit"], rule)
    # the fixed cost is measured on both paths, and the small linear circuit took the dense one
    assert fixed["dense"]["method"] == "dense" and fixed["general"]["method"] != "dense"
    for path in ("dense", "general"):
        assert fixed[path]["settle_us"] > 0 and fixed[path]["program_and_settle_us"] > 0
    assert data["fixed_cost_batch1"]["dense"]["settle_us"] == fixed["dense"]["settle_us"]
