"""``circuitlearn sweep`` on a real dask LocalCluster (2 workers, loopback, no dashboard):
runs, skips finished runs, resumes unfinished ones, records failures, aggregates."""
import csv
import json
import os

import pytest

from circuitlearn.cli import main
from circuitlearn.errors import ConfigError
from circuitlearn.sweep import load_sweep, run_id

TINY = {"model.hidden": [[8]], "train.epochs": [1], "train.n_train": [80],
        "train.n_test": [40], "train.n_check": [0]}


def _write(path, grid, seeds=(0, 1), base="digits", extra=""):
    lines = [f'base = "{base}"', f"seeds = {list(seeds)}", "[grid]"]
    lines += [f'"{k}" = {json.dumps(v)}' for k, v in grid.items()]
    path.write_text("\n".join(lines) + "\n" + extra)
    return str(path)


def _last_json(capsys):
    return json.loads(capsys.readouterr().out.strip().splitlines()[-1])


def test_a_sweep_runs_skips_resumes_and_records_failures(tmp_path, capsys):
    grid = {**TINY, "algorithm.nudging": ["current", "conductance"]}
    f = _write(tmp_path / "s.toml", grid)
    out = tmp_path / "out"
    assert main(["sweep", f, "--out", str(out), "--workers", "2", "--no-progress"]) == 0
    s = _last_json(capsys)
    # conductance nudging of this tiny net is unstable: a recorded failure, not a crash
    assert (s["runs"], s["done"], s["failed"]) == (4, 2, 2)
    assert s["table"] == str(out / "table.csv") and os.path.exists(s["figure"])
    rows = list(csv.DictReader(open(s["table"])))
    assert [r["algorithm.nudging"] for r in rows] == ["current", "conductance"]
    assert rows[0]["n_ok"] == "2" and rows[1]["n_failed"] == "2" and rows[1]["test_error_mean"] == ""
    fails = [json.load(open(os.path.join(d, "failed.json")))
             for d in (out / "runs").iterdir() if (d / "failed.json").exists()]
    assert len(fails) == 2 and all("unstable nudging" in x["message"] for x in fails)
    # a rerun skips the finished runs and retries the failed ones
    assert main(["sweep", f, "--out", str(out), "--no-progress"]) == 0
    s2 = _last_json(capsys)
    assert (s2["skipped"], s2["failed"], s2["done"]) == (2, 2, 0)
    assert s2["best"]["mean"] == s["best"]["mean"]
    # an unfinished run (checkpoint, no summary) is resumed, not restarted
    setting = {**{k: v[0] for k, v in TINY.items()}, "algorithm.nudging": "current"}
    d = out / "runs" / run_id(setting, 0)
    os.remove(d / "summary.json")
    assert (d / "checkpoint.npz").exists()
    assert main(["sweep", f, "--out", str(out), "--no-progress"]) == 0
    s3 = _last_json(capsys)
    assert (s3["done"], s3["skipped"]) == (1, 1)
    detail = json.load(open(out / "sweep.json"))["runs_detail"]
    assert [r.get("resumed") for r in detail if r["status"] == "done"] == [True]
    assert json.load(open(out / "sweep.json"))["provenance"]["circuitlearn"]


def test_a_netlist_task_sweeps_too(tmp_path, capsys):
    grid = {"optim.lr": [1e-6, 2e-6], "train.epochs": [1], "train.n_check": [0]}
    f = _write(tmp_path / "s.toml", grid, seeds=[0], base="crossbar_regression")
    assert main(["sweep", f, "--out", str(tmp_path / "o"), "--no-progress"]) == 0
    s = _last_json(capsys)
    assert s["metric"] == "test_mse" and s["done"] == 2 and s["best"]["mean"] < 0.011


def test_random_samples_are_seeded_and_in_range(tmp_path):
    extra = ('[random]\nsamples = 5\nseed = 3\n"algorithm.beta" = {log_uniform = [0.01, 1.0]}\n'
             '"model.hidden" = {choice = [[8], [16]]}\n')
    f = _write(tmp_path / "s.toml", {"train.epochs": [1]}, extra=extra)
    a, b = load_sweep(f), load_sweep(f)
    assert a["settings"] == b["settings"] and len(a["settings"]) == 1 + 5
    for s in a["settings"][1:]:
        assert 0.01 <= s["algorithm.beta"] <= 1.0 and s["model.hidden"] in ([8], [16])


@pytest.mark.parametrize("body, key", [
    ('seeds = [0]\n[grid]\n"optim.lr" = [[0.1]]\n', "base"),
    ('base = "nosuch.toml"\n', "base"),
    ('base = "digits"\nseeds = [0, 0]\n', "seeds"),
    ('base = "digits"\n[grid]\nlr = [0.1]\n', "grid.lr"),
    ('base = "digits"\n[grid]\n"optim.lr" = []\n', "grid.optim.lr"),
    ('base = "digits"\n[grid]\n"optim.lrr" = [[0.1]]\n', "optim.lrr"),
    ('base = "digits"\n[grid]\n"device.levels" = ["abc"]\n', "levels"),
    ('base = "digits"\n[random]\nsamples = 2\n"optim.decay" = {uniform = [1, 0]}\n',
     "random.optim.decay"),
    ('base = "digits"\ncolour = 1\n', "colour"),
])
def test_bad_sweep_files_are_located_errors(tmp_path, capsys, body, key):
    f = tmp_path / "bad.toml"
    f.write_text(body)
    assert main(["sweep", str(f), "--out", str(tmp_path / "o"), "--no-progress"]) == 1
    err = capsys.readouterr().err
    assert str(f) in err and key in err and "Traceback" not in err
    with pytest.raises(ConfigError):
        from circuitlearn.sweep import check_settings
        check_settings(load_sweep(str(f)))


def test_a_sweep_runs_on_an_existing_scheduler(tmp_path, capsys):
    """--scheduler ADDRESS sends the runs to a cluster the user already has."""
    import logging
    from dask.distributed import LocalCluster
    f = _write(tmp_path / "s.toml", {**TINY, "algorithm.nudging": ["current"]}, seeds=[0, 1])
    with LocalCluster(n_workers=2, threads_per_worker=1, host="127.0.0.1",
                      dashboard_address=None, silence_logs=logging.ERROR) as cluster:
        assert main(["sweep", f, "--out", str(tmp_path / "o"), "--scheduler",
                     cluster.scheduler_address, "--no-progress"]) == 0
    s = _last_json(capsys)
    assert (s["runs"], s["done"], s["failed"]) == (2, 2, 0)
    assert 0.0 <= s["best"]["mean"] <= 1.0 and s["best"]["n_ok"] == 2
