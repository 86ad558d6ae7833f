"""Results files: strict JSON (non-finite floats as null, documented) with provenance."""
import json
import math
import os
import subprocess
import sys

import numpy as np
import pytest

from circuitlearn import __version__, results
from circuitlearn.cli import main

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def strict_load(path):
    """json.load that refuses NaN/Infinity tokens."""
    def refuse(tok):
        raise ValueError(f"non-strict JSON token {tok}")
    with open(path) as fh:
        return json.load(fh, parse_constant=refuse)


def test_encoding_writes_non_finite_as_null_and_configs_read_it_back_as_inf():
    o = {"g_max": math.inf, "cos": float("nan"), "a": np.arange(3), "x": np.float32(0.5),
         "n": np.int64(7), "nested": [(-math.inf, 1.0)]}
    text = results.dumps(o)
    back = json.loads(text, parse_constant=lambda t: pytest.fail(f"token {t}"))
    assert back == {"g_max": None, "cos": None, "a": [0, 1, 2], "x": 0.5, "n": 7,
                    "nested": [[None, 1.0]]}
    assert results.decode_config({"model": {"g_max": None, "g_min": 0.0}}) == \
        {"model": {"g_max": math.inf, "g_min": 0.0}}
    assert results.decode_config({"g_max": "inf"})["g_max"] == math.inf   # older files


def test_provenance_names_versions_commit_date_host_and_command():
    p = results.provenance(["circuitlearn", "train", "--epochs", "2"])
    assert p["circuitlearn"] == __version__
    assert p["python"].count(".") == 2 and p["numpy"] == np.__version__
    for key in ("scipy", "numba", "pyspice", "date", "host", "platform"):
        assert p[key], key
    assert p["command"] == "circuitlearn train --epochs 2"
    if os.path.exists(os.path.join(ROOT, ".git")):
        head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True,
                              text=True).stdout.strip()
        assert p["git"]["commit"] == head and isinstance(p["git"]["dirty"], bool)
    assert p["ngspice"] and p["ngspice"][0].isdigit()       # ngspice is installed in CI


def test_train_results_and_summary_are_strict_with_provenance(tmp_path, capsys):
    out = tmp_path / "run"
    rc = main(["train", "--hidden", "8", "--n-train", "80", "--n-test", "40", "--epochs", "1",
               "--no-progress", "--n-check", "0", "--nudging", "current", "--out", str(out)])
    assert rc == 0
    res = strict_load(out / "results.json")
    assert res["config"]["model"]["g_max"] is None          # g_max = inf, documented as null
    assert res["provenance"]["circuitlearn"] == __version__
    summ = strict_load(out / "summary.json")
    assert summ["provenance"]["date"] and summ["config"]["train"]["epochs"] == 1
    # resume reads the null back as inf: training goes on with the same config
    rc = main(["train", "--hidden", "8", "--n-train", "80", "--n-test", "40", "--epochs", "2",
               "--no-progress", "--n-check", "0", "--nudging", "current", "--out", str(out),
               "--resume"])
    assert rc == 0
    assert strict_load(out / "results.json")["config"]["model"]["g_max"] is None
    capsys.readouterr()


def test_an_experiment_records_its_provenance(tmp_path):
    path = tmp_path / "resp.json"
    p = subprocess.run([sys.executable, os.path.join(ROOT, "experiments", "device_response.py"),
                        "--devices", "10", "--pulses", "5", "--out", str(path)],
                       capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stderr
    d = strict_load(path)
    assert d["provenance"]["command"].startswith("device_response.py")
