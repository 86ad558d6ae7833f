"""The train/demo commands: resume is bit-identical, bad input gives located errors."""
import json
import os
import subprocess
import sys

import numpy as np
import pytest

from circuitlearn.cli import main
from circuitlearn.cli import train as cli_train
from circuitlearn.errors import ConfigError

SMALL = ["--hidden", "16", "--n-train", "160", "--n-test", "80", "--batch-size", "8",
         "--momentum", "0.5", "--estimator", "random", "--nudging", "current",
         "--lr", "0.05,0.02", "--no-progress"]


def _ckpt(out):
    with np.load(os.path.join(out, "checkpoint.npz")) as z:
        arrays = {k: z[k] for k in z.files if k != "meta"}
        meta = json.loads(str(z["meta"]))
    return arrays, meta


def _strip_times(history):
    return [{k: v for k, v in h.items() if "seconds" not in k} for h in history]


def test_resume_is_bit_identical(tmp_path, capsys):
    a, b = str(tmp_path / "a"), str(tmp_path / "b")
    assert main(["train", "--out", a, "--epochs", "3", *SMALL]) == 0
    assert main(["train", "--out", b, "--epochs", "1", *SMALL]) == 0
    assert main(["train", "--out", b, "--epochs", "3", "--resume", "--no-progress"]) == 0
    arr_a, meta_a = _ckpt(a)
    arr_b, meta_b = _ckpt(b)
    assert meta_a["epoch"] == meta_b["epoch"] == 3
    assert set(arr_a) == set(arr_b) and "vel0" in arr_a
    for k in arr_a:
        np.testing.assert_array_equal(arr_a[k], arr_b[k])
    assert meta_a["rng"] == meta_b["rng"]
    assert _strip_times(meta_a["history"]) == _strip_times(meta_b["history"])
    res = json.load(open(os.path.join(b, "results.json")))
    assert len(res["epochs"]) == 3 and os.path.exists(os.path.join(b, "curves.png"))
    last = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert 0 <= last["test_error"] <= 1


def _run_cli(*args):
    return subprocess.run([sys.executable, "-m", "circuitlearn", *args],
                          capture_output=True, text=True, timeout=300)


@pytest.mark.parametrize("body, key", [
    ("[model]\ngain = 30.0\nbogus = 1\n", "model.bogus"),
    ("[nonsense]\nx = 1\n", "nonsense"),
    ("[algorithm]\nbeta = -1.0\n", "algorithm.beta"),
    ("[algorithm]\nestimator = \"sideways\"\n", "algorithm.estimator"),
    ("[train]\nepochs = \"ten\"\n", "train.epochs"),
    ("[model]\nhidden = [15]\n", "model.hidden"),
    ("[optim]\nlr = [0.1, 0.1, 0.1]\n", "optim.lr"),
    ("[algorithm]\nloss = \"xent\"\n", "algorithm.nudging"),
])
def test_bad_config_is_located(tmp_path, body, key):
    cfg = tmp_path / "bad.toml"
    cfg.write_text(body)
    with pytest.raises(ConfigError) as err:
        cli_train.load_config(str(cfg))
    assert err.value.file == str(cfg) and err.value.key == key
    assert str(cfg) in str(err.value) and key in str(err.value)


def test_bad_config_exits_1_without_traceback(tmp_path):
    cfg = tmp_path / "bad.toml"
    cfg.write_text("[model]\ngain = 30.0\nbogus = 1\n")
    r = _run_cli("train", "--config", str(cfg), "--out", str(tmp_path / "o"))
    assert r.returncode == 1
    assert "Traceback" not in r.stderr and str(cfg) in r.stderr and "model.bogus" in r.stderr
    cfg.write_text("[model\ngain = ")
    r = _run_cli("train", "--config", str(cfg), "--out", str(tmp_path / "o"))
    assert r.returncode == 1 and "Traceback" not in r.stderr and "TOML" in r.stderr
    r = _run_cli("train", "--gain", "abc", "--out", str(tmp_path / "o"))
    assert r.returncode == 1 and "--gain" in r.stderr and "Traceback" not in r.stderr


def test_corrupt_data_file_exits_1(tmp_path):
    root = tmp_path / "fashion"
    root.mkdir()
    for name in ("train-images-idx3-ubyte", "train-labels-idx1-ubyte",
                 "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"):
        (root / name).write_bytes(b"\x00\x00\x08\x03" + (5).to_bytes(4, "big") * 3 + b"\x01" * 7)
    r = _run_cli("train", "--dataset", "fashion-mnist", "--data-root", str(root),
                 "--out", str(tmp_path / "o"), "--no-progress")
    assert r.returncode == 1 and "Traceback" not in r.stderr
    assert "train-images-idx3-ubyte" in r.stderr and "truncated" in r.stderr


def test_config_file_and_flags_merge(tmp_path):
    cfg = tmp_path / "c.toml"
    cfg.write_text("[model]\nhidden = [20, 10]\ng_max = inf\n[optim]\nlr = 0.05\n")
    c = cli_train.load_config(str(cfg), {("model", "gain"): 7.0})
    assert c["model"]["hidden"] == [20, 10] and c["model"]["gain"] == 7.0
    assert c["optim"]["lr"] == [0.05] and c["model"]["g_max"] == float("inf")


@pytest.mark.slow
@pytest.mark.ngspice
def test_demo_meets_the_digits_figure(tmp_path):
    r = _run_cli("demo", "--out", str(tmp_path / "demo"), "--no-progress", "--n-check", "5")
    assert r.returncode == 0, r.stderr[-2000:]
    summary = json.loads(r.stdout.strip().splitlines()[-1])
    assert summary["test_accuracy"] >= 0.97
    assert summary["ngspice"]["agree"] == summary["ngspice"]["checked"] == 5
    assert summary["ngspice"]["max_abs_dv_out"] < 1e-3      # V, on +-0.2 V inputs
    assert summary["physical"]["g_per_model_siemens"] == 1e-3
    from circuitlearn.netlist import read_netlist
    els = read_netlist(summary["netlist"]).elements
    r = np.array([e.value for e in els if e.kind == "R"])
    assert r.min() >= 1e3 * (1 - 1e-9) and r.max() <= 1e6 * (1 + 1e-9)   # 1 kOhm - 1 MOhm
    assert max(abs(e.value) for e in els if e.kind == "V") <= 0.2 + 1e-12


@pytest.mark.parametrize("name", ["digits", "mnist_xs"])
def test_shipped_configs_load(name):
    root = os.path.join(os.path.dirname(__file__), "..", "experiments", "configs")
    c = cli_train.load_config(os.path.join(root, f"{name}.toml"))
    assert c["algorithm"]["estimator"] == "centered"
    if name == "digits":
        assert c == cli_train.load_config(None)     # the demo's settings are the defaults


def test_resume_in_a_second_process_is_bit_identical_for_conductance_nudging(tmp_path):
    """digits.toml (conductance nudging, decay) plus momentum: 3 epochs straight equal
    1 epoch, then a resume to 3 in another process, to the last bit."""
    cfg = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                       "experiments", "configs", "digits.toml")
    a, b = str(tmp_path / "a"), str(tmp_path / "b")
    common = ["--config", cfg, "--hidden", "32", "--n-train", "200", "--n-test", "50",
              "--momentum", "0.5", "--beta", "0.5", "--no-progress"]

    def run(*args):
        r = subprocess.run([sys.executable, "-m", "circuitlearn", "train", *args],
                           capture_output=True, text=True, timeout=600)
        assert r.returncode == 0, r.stderr
    run("--out", a, "--epochs", "3", *common)
    run("--out", b, "--epochs", "1", *common)
    run("--out", b, "--epochs", "3", "--resume", "--no-progress")
    arr_a, meta_a = _ckpt(a)
    arr_b, meta_b = _ckpt(b)
    assert meta_b["epoch"] == 3 and "vel0" in arr_a
    for k in arr_a:
        np.testing.assert_array_equal(arr_a[k], arr_b[k])


def test_resume_honours_compatible_flags_and_refuses_the_others(tmp_path, capsys):
    out = str(tmp_path / "r")
    assert main(["train", "--out", out, "--epochs", "1", *SMALL]) == 0
    capsys.readouterr()
    assert main(["train", "--out", out, "--epochs", "2", "--resume", "--hidden", "64",
                 "--lr", "0.5", "--no-progress"]) == 1
    err = capsys.readouterr().err
    assert "cannot change model.hidden when resuming" in err and "Traceback" not in err
    assert main(["train", "--out", out, "--epochs", "2", "--resume", "--lr", "0.5,0.5",
                 "--no-progress"]) == 0
    res = json.load(open(os.path.join(out, "results.json")))
    assert res["config"]["optim"]["lr"] == [0.5, 0.5] and len(res["epochs"]) == 2


def test_barely_stable_conductance_nudging_stops_the_run(tmp_path, capsys):
    """beta just below an output's total conductance: refused, not trained into 1e10 gradients."""
    out = str(tmp_path / "u")
    args = ["train", "--out", out, "--epochs", "2", "--hidden", "16", "--n-train", "64",
            "--n-test", "32", "--init-gain", "0.5", "--no-progress"]
    assert main(args + ["--beta", "1.0"]) == 1
    err = capsys.readouterr().err
    assert "unstable nudging" in err and "Traceback" not in err
    assert main(args + ["--beta", "0.01"]) == 0


def test_exploding_loss_stops_a_drn_run_with_exit_1(tmp_path, capsys):
    """One-sided current nudging at beta = 1 on digits blows the loss up in epoch 2
    (4e6 per sample): the run stops, names the last good checkpoint, exits 1."""
    cfg = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                       "experiments", "configs", "digits.toml")
    out = str(tmp_path / "x")
    assert main(["train", "--config", cfg, "--nudging", "current", "--estimator", "one-sided",
                 "--epochs", "3", "--n-train", "600", "--n-test", "100", "--out", out,
                 "--no-progress"]) == 1
    err = capsys.readouterr().err
    assert "diverged" in err and "Last good checkpoint: epoch 1" in err
    _, meta = _ckpt(out)
    assert meta["epoch"] == 1

