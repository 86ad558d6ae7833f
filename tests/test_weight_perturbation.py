"""Weight perturbation (seed 000, Eq. 9) on any netlist task, from output voltages only:
unbiased against the exact gradient, trains, leaves the conductances as it found them."""
import json

import numpy as np
import pytest

from circuitlearn import bundled
from circuitlearn.cli import main
from circuitlearn.learn import rules
from circuitlearn.learn.learners import task_loss
from circuitlearn.learn.task import build_device, load_task, load_task_data


def _task(**algorithm):
    cfg = load_task(bundled.example("crossbar_regression.toml"),
                    {("algorithm", k): v for k, v in algorithm.items()})
    device = build_device(cfg)
    data = load_task_data(cfg)
    return cfg, device, data


@pytest.mark.parametrize("estimator", ["antithetic", "forward"])
def test_the_mean_estimate_is_the_exact_gradient(estimator):
    cfg, device, data = _task()
    loss = task_loss(cfg)
    x, t = data[0][:16], data[1][:16]
    exact = rules.exact_gradient(device, x, t, loss)
    g0 = device.conductances()
    rng = np.random.default_rng(0)
    delta = 1e-6 * (cfg["circuit"]["g_max"] - cfg["circuit"]["g_min"])
    est = rules.weight_perturbation_step(device, x, t, loss, delta, 2000, rng, estimator).grad
    cos = est @ exact / (np.linalg.norm(est) * np.linalg.norm(exact))
    assert cos >= 0.95, cos
    np.testing.assert_array_equal(device.conductances(), g0)        # restored
    one = rules.weight_perturbation_step(device, x, t, loss, delta, 1, rng, estimator).grad
    assert np.linalg.norm(one - exact) > np.linalg.norm(est - exact)  # more samples, less noise


def test_weight_perturbation_trains_a_task(tmp_path, capsys):
    out = tmp_path / "run"
    rc = main(["train", "--config", "crossbar_regression.toml", "--set",
               'algorithm.rule="weight-perturbation"', "--set", "algorithm.samples=4",
               "--set", "algorithm.perturbation=1e-4", "--set", "train.epochs=4",
               "--set", "train.n_check=0", "--no-progress", "--out", str(out)])
    assert rc == 0
    s = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert s["rule"] == "weight-perturbation"
    assert s["test_mse"] < 0.2 * s["initial_test_mse"]


def test_bad_perturbation_settings_are_located_errors(tmp_path, capsys):
    for bad, key in (("algorithm.perturbation=0", "algorithm.perturbation"),
                     ("algorithm.samples=0", "algorithm.samples"),
                     ('algorithm.zo_estimator="both"', "algorithm.zo_estimator")):
        rc = main(["train", "--config", "crossbar_regression.toml", "--set", bad,
                   "--out", str(tmp_path / "x")])
        assert rc == 1
        err = capsys.readouterr().err
        assert key in err and "Traceback" not in err
