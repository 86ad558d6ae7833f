"""Device physics (issue 8): each step-response family against its formula, variation and
noise statistics against their parameters, stuck devices, drift, levels, resume."""
import json
import os
import subprocess
import sys

import numpy as np
import pytest

from circuitlearn.device.physics import PulseModel, PulsedArray, model_from_dict, pulse_response
from circuitlearn.errors import ConfigError

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _array(n=1, seed=0, **kw):
    return PulsedArray(PulseModel(**kw), n, np.random.default_rng(seed))


def test_soft_bounds_saturate_at_w_max_as_the_geometric_law_says():
    a = _array(model="soft-bounds", dw_min=0.02, w_min=-1.0, w_max=1.0)
    a.set(0.0)
    for k in range(1, 400):
        a.pulse(1)
        assert a.w[0] == pytest.approx(1.0 - (1.0 - 0.02) ** k, rel=1e-12)
    assert 1.0 - a.w[0] < 1e-3 and a.w[0] <= 1.0
    a.pulse(-400)                                  # and towards w_min on the way down
    assert a.w[0] > -1.0 and a.w[0] + 1.0 < 1e-3


def test_constant_and_linear_steps_are_linear():
    a = _array(model="constant-step", dw_min=0.01, up_down=0.2)
    a.set(-0.5)
    a.pulse(30)
    assert a.w[0] == pytest.approx(-0.5 + 30 * 0.012, abs=1e-12)
    a.pulse(-10)
    assert a.w[0] == pytest.approx(-0.5 + 30 * 0.012 - 10 * 0.008, abs=1e-12)
    b = _array(model="linear-step", dw_min=0.01, gamma_up=0.5, w_max=2.0)
    w = np.linspace(-1, 1.9, 7)
    assert np.allclose(b.step(True, w), 0.01 * (1 - 0.5 * w / 2.0))   # linear in w


def test_exp_and_pow_steps_follow_their_formulas():
    w = np.linspace(-0.9, 0.9, 11)
    e = _array(model="exp-step", dw_min=0.01, A_up=0.1, A_down=0.2, gamma_up=2.0,
               gamma_down=3.0, a=0.5, b=0.1)
    z = 2 * 0.5 * w / 2.0 + 0.1
    assert np.allclose(e.step(True, w), 0.01 * np.maximum(1 - 0.1 * np.exp(2.0 * z), 0))
    assert np.allclose(e.step(False, w), 0.01 * np.maximum(1 - 0.2 * np.exp(-3.0 * z), 0))
    p = _array(model="pow-step", dw_min=0.01, pow_gamma=2.0, pow_up_down=0.25)
    u = (w + 1) / 2
    assert np.allclose(p.step(True, w), 0.01 * (1 - u) ** 2.5)
    assert np.allclose(p.step(False, w), 0.01 * u ** 1.5)


def test_piecewise_step_interpolates_a_measured_table(tmp_path):
    csv = tmp_path / "resp.csv"
    csv.write_text("up,down\n1.0,0.2\n0.5,0.5\n0.0,1.0\n")
    from circuitlearn.device.physics import piecewise_from_csv
    up, down = piecewise_from_csv(str(csv))
    a = _array(model="piecewise-step", dw_min=0.1, piecewise_up=up, piecewise_down=down)
    assert np.allclose(a.step(True, np.array([-1.0, -0.5, 0.0, 1.0])), [0.1, 0.075, 0.05, 0.0])
    assert np.allclose(a.step(False, np.array([-1.0, 0.0, 1.0])), [0.02, 0.05, 0.1])


def test_device_to_device_and_cycle_to_cycle_statistics():
    n = 40_000
    a = _array(n, seed=1, dw_min=0.01, dw_min_dtod=0.2, w_max_dtod=0.1)
    assert np.std(a.dw) / 0.01 == pytest.approx(0.2, rel=0.05)
    assert np.std(a.w_hi) / 1.0 == pytest.approx(0.1, rel=0.05)
    c = _array(n, seed=2, dw_min=0.01, dw_min_std=0.3)
    c.set(0.0)
    c.pulse(1)
    assert np.std(c.w) / 0.01 == pytest.approx(0.3, rel=0.05)
    assert np.mean(c.w) == pytest.approx(0.01, rel=0.02)
    wn = _array(n, seed=3, dw_min=0.01, write_noise_std=2.0)
    wn.set(0.3)
    assert np.all(wn.w == 0.3)
    assert np.std(wn.apparent() - 0.3) == pytest.approx(0.02, rel=0.05)


def test_stuck_devices_never_move_and_come_in_their_fractions():
    n = 20_000
    a = _array(n, seed=4, dw_min=0.05, stuck_on_prob=0.1, stuck_off_prob=0.05)
    assert np.mean(a.stuck == 1) == pytest.approx(0.1, abs=0.01)
    assert np.mean(a.stuck == -1) == pytest.approx(0.05, abs=0.01)
    a.set(0.0)
    a.pulse(np.where(np.arange(n) % 2, 7, -7))
    on, off = a.stuck == 1, a.stuck == -1
    assert np.all(a.w[on] == a.w_hi[on]) and np.all(a.w[off] == a.w_lo[off])
    assert np.all(np.abs(a.w[a.stuck == 0]) == pytest.approx(0.35))


def test_drift_is_a_power_law_in_time_since_programming():
    a = _array(3, model="constant-step", w_min=0.0, w_max=1.0, drift_nu=0.05, drift_t0=2.0)
    a.set([0.2, 0.5, 1.0], t=10.0)
    for t in (10.0, 12.0, 110.0, 1e4):
        want = np.array([0.2, 0.5, 1.0]) * ((t - 10.0 + 2.0) / 2.0) ** -0.05
        assert np.allclose(a.apparent(t), want, rtol=1e-12)
    a.pulse([1, 0, 0], t=100.0)                      # reprogramming restarts its clock
    assert a.apparent(100.0)[0] == pytest.approx(a.w[0])


def test_finite_levels_put_every_programmed_value_on_the_grid():
    a = _array(1000, seed=5, levels=5, dw_min=0.07, dw_min_std=0.5)
    a.set(np.linspace(-1, 1, 1000))
    a.pulse(3)
    assert set(np.round(a.w, 12)) <= {-1.0, -0.5, 0.0, 0.5, 1.0}


def test_resume_from_the_state_is_bit_identical():
    a = _array(500, seed=6, model="soft-bounds", dw_min=0.01, dw_min_std=0.3, dw_min_dtod=0.1,
               write_noise_std=1.0)
    a.set(0.0)
    a.pulse(5)
    st = a.state()
    b = _array(500, seed=99, model="soft-bounds", dw_min=0.01, dw_min_std=0.3, dw_min_dtod=0.1,
               write_noise_std=1.0)
    b.load_state(st)
    for arr in (a, b):
        arr.pulse(np.arange(500) % 7 - 3)
    assert np.array_equal(a.w, b.w) and np.array_equal(a.apparent(), b.apparent())
    assert a.pulses == b.pulses


def test_bad_device_tables_name_the_key():
    with pytest.raises(ConfigError, match=r"\[device\] unknown key\(s\) dwmin"):
        model_from_dict({"dwmin": 0.1}, "cfg.toml")
    with pytest.raises(ConfigError, match=r"cfg.toml: \[device.dw_min_std\]"):
        model_from_dict({"dw_min_std": -1.0}, "cfg.toml")
    with pytest.raises(ConfigError, match="model must be one of"):
        PulseModel(model="memristor")


def test_pulse_response_tool_prints_mean_and_std_per_pulse(tmp_path):
    out = tmp_path / "resp.json"
    cmd = [sys.executable, os.path.join(ROOT, "experiments", "device_response.py"), "--model",
           "soft-bounds", "--dw-min", "0.01", "--dw-min-std", "0.3", "--up-down", "0.0",
           "--w-min", "-1", "--w-max", "1", "--devices", "200", "--pulses", "50", "--out",
           str(out)]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    last = json.loads(r.stdout.strip().splitlines()[-1])
    assert len(last["mean"]) == len(last["std"]) == 100
    saved = json.loads(out.read_text())
    assert saved["mean"] == last["mean"] and saved["model"]["model"] == "soft-bounds"
    # up then down: the mean rises, then falls back
    assert last["mean"][49] > last["mean"][0] > 0 and last["mean"][-1] < last["mean"][49]
    bad = subprocess.run(cmd[:4] + ["--w-min", "2"], capture_output=True, text=True, timeout=60)
    assert bad.returncode == 1 and "w_min" in bad.stderr and "Traceback" not in bad.stderr


def test_pulse_response_matches_the_noise_free_law():
    r = pulse_response(PulseModel(model="soft-bounds", dw_min=0.05), devices=3, pulses=20)
    k = np.arange(1, 21)
    assert np.allclose(r["mean"][:20], 1 - 0.95 ** k) and np.allclose(r["std"], 0.0)


# ------------------------------------------------------------------ update schemes
def _programmer(n=1, **scheme):
    from circuitlearn.device.programming import Programmer, Scheme
    return Programmer(PulseModel(model="constant-step", dw_min=0.01), Scheme(**scheme), n,
                      1e-5, 1e-3, np.random.default_rng(0))


def test_pulse_counts_follow_the_scheme():
    p = _programmer(4, rounding="deterministic")
    per_pulse = p.scale * 0.01                       # S per pulse
    dg = np.array([2.4, -2.6, 0.4, 7.0]) * per_pulse
    assert list(p.pulses_for(dg)) == [2, -3, 0, 7]
    assert list(_programmer(4, manhattan=True).pulses_for(dg)) == [1, -1, 1, 1]
    assert list(_programmer(4, rounding="deterministic", threshold=3).pulses_for(dg)) == \
        [0, -3, 0, 7]
    assert list(_programmer(4, rounding="deterministic", pulse_budget=2).pulses_for(dg)) == \
        [2, -2, 0, 2]


def test_stochastic_rounding_is_unbiased():
    p = _programmer(200_000)
    n = p.pulses_for(np.full(200_000, 0.3 * p.scale * 0.01))
    assert set(np.unique(n)) == {0, 1} and np.mean(n) == pytest.approx(0.3, abs=0.005)


def test_programmer_maps_the_window_and_counts_pulses_and_energy():
    from circuitlearn.device.programming import Programmer, Scheme
    p = Programmer(PulseModel(model="constant-step", dw_min=0.01, w_min=-1, w_max=1),
                   Scheme(rounding="deterministic", pulse_energy=1e-12, step_time=0.5), 2,
                   1e-5, 1e-3, np.random.default_rng(0))
    assert np.allclose(p.set([1e-5, 1e-3]), [1e-5, 1e-3])
    g = p.program(np.array([5, -5]) * p.scale * 0.01)
    assert np.allclose(g, [1e-5 + 5 * p.scale * 0.01, 1e-3 - 5 * p.scale * 0.01])
    rep = p.report()
    assert rep["pulses"] == 10 and rep["programming_energy_J"] == pytest.approx(1e-11)
    assert rep["device_time_s"] == 0.5


def _task(tmp_path, device_lines):
    src = os.path.join(ROOT, "experiments", "configs", "crossbar_regression.toml")
    text = open(src).read().replace('"../netlists/', f'"{ROOT}/netlists/').replace(
        '"crossbar_teacher.csv"', f'"{ROOT}/experiments/configs/crossbar_teacher.csv"')
    path = tmp_path / "task.toml"
    path.write_text(text + "\n[device]\n" + device_lines)
    return str(path)


def test_a_netlist_task_trains_on_pulsed_devices_and_resumes_bit_identically(tmp_path, capsys):
    from circuitlearn.cli import main
    cfg = _task(tmp_path, 'model = "soft-bounds"\ndw_min = 0.002\ndw_min_std = 0.2\n'
                          'dw_min_dtod = 0.1\nwrite_noise_std = 0.5\nstuck_off_prob = 0.2\n'
                          'pulse_energy = 1e-12\n')
    common = ["train", "--config", cfg, "--no-progress", "--epochs"]
    assert main(common + ["3", "--out", str(tmp_path / "a")]) == 0
    full = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert full["device"]["pulses"] > 0 and full["test_mse"] < full["initial_test_mse"]
    # the exported deck holds the devices' conductances: ngspice reproduces the outputs
    assert full["ngspice"]["checked"] == 5 and full["ngspice"]["max_abs_dy_same_model"] < 1e-9
    assert full["device"]["programming_energy_J"] == pytest.approx(
        1e-12 * full["device"]["pulses"])
    res = json.loads((tmp_path / "a" / "results.json").read_text())
    assert res["device"] == full["device"]
    assert main(common + ["1", "--out", str(tmp_path / "b")]) == 0
    capsys.readouterr()
    assert main(common + ["3", "--out", str(tmp_path / "b"), "--resume"]) == 0
    resumed = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert resumed["test_mse"] == full["test_mse"] and resumed["device"] == full["device"]
    a = np.load(tmp_path / "a" / "checkpoint.npz")
    b = np.load(tmp_path / "b" / "checkpoint.npz")
    assert np.array_equal(a["g"], b["g"]) and np.array_equal(a["dev_w"], b["dev_w"])


def test_bad_device_settings_are_located_errors(tmp_path, capsys):
    from circuitlearn.cli import main
    cfg = _task(tmp_path, 'model = "soft-bounds"\ndw_mn = 0.1\n')
    assert main(["train", "--config", cfg, "--out", str(tmp_path / "o")]) == 1
    err = capsys.readouterr().err
    assert f"{cfg}: [device] unknown key(s) dw_mn" in err
    cfg = _task(tmp_path, 'rounding = "up"\n')
    assert main(["train", "--config", cfg, "--out", str(tmp_path / "o")]) == 1
    assert "[device.rounding]" in capsys.readouterr().err
    assert main(["train", "--out", str(tmp_path / "o"), "--device-set", "adc_bits=99"]) == 1
    assert "[device.adc_bits]" in capsys.readouterr().err


def test_read_noise_and_adc_act_on_what_measure_returns():
    from circuitlearn.device.readout import ReadOut
    rng = np.random.default_rng(0)
    V = np.full((2000, 50), 0.123456)
    noisy = ReadOut(read_noise_std=1e-3).read(V, rng)
    assert np.std(noisy - V) == pytest.approx(1e-3, rel=0.02)
    adc = ReadOut(adc_bits=4, adc_range=1.0)
    q = adc.read(np.array([-2.0, -1.0, 0.0, 0.1, 0.2, 0.9, 3.0]), rng)
    codes = -1.0 + np.arange(16) * adc.step
    assert np.all(np.isin(np.round(q, 12), np.round(codes, 12)))
    assert q[0] == -1.0 and q[-1] == 1.0 and abs(q[3] - 0.1) <= adc.step / 2


def test_a_task_with_read_noise_resumes_bit_identically(tmp_path, capsys):
    from circuitlearn.cli import main
    cfg = _task(tmp_path, 'read_noise_std = 1e-4\nadc_bits = 12\nadc_range = 2.0\n')
    common = ["train", "--config", cfg, "--no-progress", "--epochs"]
    assert main(common + ["2", "--out", str(tmp_path / "a")]) == 0
    full = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert main(common + ["1", "--out", str(tmp_path / "b")]) == 0
    assert main(common + ["2", "--out", str(tmp_path / "b"), "--resume"]) == 0
    resumed = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert resumed["test_mse"] == full["test_mse"] and "device" not in full


def test_nonideality_sweep_smoke_prints_levels_and_errors(tmp_path):
    cmd = [sys.executable, os.path.join(ROOT, "experiments", "nonideality_sweep.py"), "--smoke",
           "--out", str(tmp_path / "sweep")]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr
    last = json.loads(r.stdout.strip().splitlines()[-1])
    assert last["levels"] == [4, 256] and len(last["test_error_vs_levels"]) == 2
    assert all(0 <= e <= 1 for e in last["test_error_vs_levels"])
    assert len(last["drift_time_s_ep"]) == 2 and "stuck_fraction_exact" in last
    assert (tmp_path / "sweep" / "sweep.png").exists()


def test_a_drn_config_trains_on_pulsed_devices_and_resumes_bit_identically(tmp_path, capsys):
    from circuitlearn.cli import main
    common = ["train", "--no-progress", "--n-train", "96", "--n-test", "48", "--hidden", "16",
              "--beta", "0.1",
              "--g-max", "1.0", "--device-set", "model=soft-bounds", "--device-set",
              "dw_min=0.01", "--device-set", "dw_min_std=0.2", "--device-set",
              "stuck_on_prob=0.05", "--epochs"]
    assert main(common + ["2", "--out", str(tmp_path / "a")]) == 0
    full = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert full["device"]["pulses"] > 0 and full["device"]["stuck_on"] > 0
    assert main(common + ["1", "--out", str(tmp_path / "b")]) == 0
    assert main(common + ["2", "--out", str(tmp_path / "b"), "--resume"]) == 0
    resumed = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert resumed["test_error"] == full["test_error"] and resumed["device"] == full["device"]
    # a changed device on resume is refused; an infinite window is a located error
    assert main(common[:-1] + ["--device-set", "levels=8", "--epochs", "3", "--out",
                               str(tmp_path / "b"), "--resume"]) == 1
    assert "cannot change [device]" in capsys.readouterr().err
    assert main(["train", "--out", str(tmp_path / "c"), "--device-set", "levels=4"]) == 1
    assert "finite conductance window" in capsys.readouterr().err


def test_read_noise_on_a_drn_config_changes_training_and_resumes(tmp_path, capsys):
    from circuitlearn.cli import main
    base = ["train", "--no-progress", "--n-train", "96", "--n-test", "48", "--hidden", "16",
            "--beta", "0.1"]
    common = base + ["--device-set", "read_noise_std=0.05", "--device-set", "adc_bits=8",
                     "--device-set", "adc_range=40", "--epochs"]
    assert main(common + ["2", "--out", str(tmp_path / "a")]) == 0
    noisy = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert main(base + ["--epochs", "2", "--out", str(tmp_path / "c")]) == 0
    clean = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    a, c = np.load(tmp_path / "a" / "checkpoint.npz"), np.load(tmp_path / "c" / "checkpoint.npz")
    assert not np.array_equal(a["w0"], c["w0"])            # the read-out acted on learning
    assert main(common + ["1", "--out", str(tmp_path / "b")]) == 0
    assert main(common + ["2", "--out", str(tmp_path / "b"), "--resume"]) == 0
    resumed = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    b = np.load(tmp_path / "b" / "checkpoint.npz")
    assert resumed["test_error"] == noisy["test_error"] and np.array_equal(a["w0"], b["w0"])
    assert clean["test_error"] is not None


@pytest.mark.parametrize("setting, key", [
    ("levels=abc", "device.levels"), ("levels=2.5", "device.levels"),
    ("piecewise_up=abc", "device.piecewise_up"), ("dw_min=true", "device.dw_min"),
    ("read_noise_std=true", "device.read_noise_std"), ("pulse_energy=false", "device.pulse_energy"),
    ("threshold=-1", "device.threshold"), ("adc_range=0", "device.adc_range"),
    ("w_min=2", "device.w_max"), ("model=memristor", "device.model")])
def test_any_bad_device_value_is_a_located_error_not_a_traceback(setting, key, tmp_path, capsys):
    from circuitlearn.cli import main
    cfg = os.path.join(ROOT, "experiments", "configs", "crossbar_regression.toml")
    rc = main(["train", "--config", cfg, "--out", str(tmp_path / "o"), "--no-progress",
               "--device-set", setting])
    err = capsys.readouterr().err
    assert rc == 1 and f"[{key}]" in err and "internal error" not in err, err
