"""experiments/bench_training.py: our side runs end to end (no torch, no reference
needed), and ``--reference`` fails with a clear message when it cannot run."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

ROOT = os.path.join(os.path.dirname(__file__), "..")
SCRIPT = os.path.join(ROOT, "experiments", "bench_training.py")


def _run(*args, timeout=600):
    return subprocess.run([sys.executable, SCRIPT, *args], capture_output=True, text=True,
                          timeout=timeout)


def test_smoke_writes_json(tmp_path):
    out_path = tmp_path / "bench.json"
    out = _run("--smoke", "--out", str(out_path))
    assert out.returncode == 0, out.stderr[-3000:]
    res = json.loads(out_path.read_text())
    assert res.pop("provenance")["circuitlearn"]          # the file records where it came from
    assert res == json.loads(out.stdout.strip().splitlines()[-1])
    assert res["smoke"] and res["batch_size"] == 4 and res["sizes"] == [1568, 100, 10]
    b = res["batch_ms"]
    assert b["n"] == 200 and 0 < b["q1"] <= b["median"] <= b["q3"]
    assert res["epoch_images"] == 2000
    assert res["epoch_seconds_per_50k"] == pytest.approx(res["epoch_seconds_measured"] * 25)
    assert res["test_pass_seconds_10k"] > 0
    assert 0.0 <= res["test_error_pct_at_end"] <= 100.0
    # the speed-up is the recorded reference epoch over ours per 50k images, as stated
    assert res["speedup_vs_reference_epoch"] == pytest.approx(
        res["reference"]["epoch_seconds_median"] / res["epoch_seconds_per_50k"])
    assert res["reference_measured"] is None                      # not re-measured


def test_reference_not_a_checkout_fails_clearly(tmp_path):
    out = _run("--smoke", "--out", str(tmp_path / "x.json"), "--reference", str(tmp_path))
    assert out.returncode == 2
    assert "cannot run the reference" in out.stderr
    assert "not a checkout of rain-neuromorphics/energy-based-learning" in out.stderr
    assert not (tmp_path / "x.json").exists()


def test_reference_bad_thread_list(tmp_path):
    out = _run("--smoke", "--reference", str(tmp_path), "--torch-threads", "two")
    assert out.returncode == 2 and "--torch-threads" in out.stderr
