"""One-sided (PCM-like) devices: only up by pulses, RESET to go down, differential pairs
with refresh; the PCM preset against its exp-step law and its state-dependent noise."""
import json
import os

import numpy as np
import pytest

from circuitlearn.device.physics import PulseModel, PulsedArray, preset
from circuitlearn.device.programming import Programmer, Scheme
from circuitlearn.errors import ConfigError

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _prog(n, model=None, **scheme):
    model = model or PulseModel(model="constant-step", dw_min=0.01, w_min=0.0, w_max=2.0,
                                one_sided=True, reset=0.0)
    return Programmer(model, Scheme(**({"rounding": "deterministic"} | scheme)), n, 0.0, 2e-3,
                      np.random.default_rng(1))


def test_the_pcm_preset_follows_the_exp_step_law_and_only_goes_up():
    m = preset("pcm", dw_min_std=0.0, dw_min_dtod=0.0, up_down_dtod=0.0, w_max_dtod=0.0)
    arr = PulsedArray(m, 3, np.random.default_rng(0))
    arr.set(0.0)
    w = 0.0
    for _ in range(30):
        z = 2 * m.a * w / (m.w_max - m.w_min) + m.b
        w = min(w + m.dw_min * max(1 - m.A_up * np.exp(m.gamma_up * z), 0.0), m.w_max)
        arr.pulse(np.ones(3, np.int64))
        assert np.allclose(arr.w, w)
    before = arr.w.copy()
    arr.pulse(-np.ones(3, np.int64) * 5)           # no gradual way down
    assert np.array_equal(arr.w, before) and arr.pulses == 90


def test_complex_cycle_to_cycle_noise_has_its_state_dependent_std():
    m = preset("pcm", dw_min_dtod=0.0, up_down_dtod=0.0, w_max_dtod=0.0)
    arr = PulsedArray(m, 200_000, np.random.default_rng(2))
    arr.set(1.0)
    s = arr.step(True)[0]
    arr.pulse(np.ones(arr.n, np.int64))
    d = arr.w - 1.0
    want = m.dw_min_std * (s + m.dw_min_std_add + m.dw_min_std_slope * 1.0)
    assert np.mean(d) == pytest.approx(s, abs=4 * want / np.sqrt(arr.n))
    assert np.std(d) == pytest.approx(want, rel=0.02)


def test_reset_lands_at_the_reset_value_with_its_spreads_and_stuck_devices_stay():
    m = PulseModel(model="constant-step", w_min=0.0, w_max=2.0, one_sided=True, reset=0.1,
                   reset_dtod=0.02, reset_std=0.01, stuck_on_prob=0.1)
    arr = PulsedArray(m, 100_000, np.random.default_rng(3))
    arr.set(1.5)
    arr.reset_devices(np.ones(arr.n, bool))
    free = arr.stuck == 0
    assert np.all(arr.w[~free] == arr.w_hi[~free])
    assert np.mean(arr.w[free]) == pytest.approx(0.1, abs=1e-3)
    assert np.std(arr.w[free]) == pytest.approx(np.hypot(0.02, 0.01), rel=0.03)
    assert arr.resets == int(free.sum())


def test_program_and_verify_reaches_the_target_within_one_step():
    arr = PulsedArray(preset("pcm"), 5000, np.random.default_rng(4))
    arr.reset_devices(np.ones(arr.n, bool))
    target = np.full(arr.n, 1.2)
    arr.pulse_up_to(target, np.ones(arr.n, bool), 1000)
    ok = arr.w >= target
    assert ok.mean() > 0.97         # the rest saturated below 1.2 (w_max_dtod)
    assert np.all(arr.w[~ok] >= 0.9 * arr.w_hi[~ok])
    assert arr.pulses > 0


def test_a_pair_takes_the_signed_change_as_up_pulses_on_one_side():
    p = _prog(4)
    p.set([0.5e-3, 0.5e-3, 0.5e-3, 0.5e-3])
    p.set_pairs([0, 2], [1, 3])
    per = p.scale * 0.01
    g0 = p.conductances()
    g = p.program(np.array([3, -3, -2, 2]) * per)     # pair 0 up 3 steps, pair 1 down 2
    assert np.allclose(g - g0, np.array([3, 0, 0, 2]) * per)
    w_pair = lambda g: (g[0] - g[1], g[2] - g[3])     # noqa: E731
    assert np.allclose(np.subtract(w_pair(g), w_pair(g0)), [3 * per, -2 * per])


def test_a_saturating_pair_is_refreshed_and_keeps_its_weight():
    p = _prog(2, refresh_upper_thres=0.75, refresh_lower_thres=0.25)
    p.set([1.8e-3, 1.2e-3])                           # both high: 0.9 and 0.6 of the window
    p.set_pairs([0], [1])
    g = p.program(np.zeros(2))
    assert p.refreshes == 1 and p.devices.resets == 2
    assert g[1] == pytest.approx(0.0, abs=1e-11)      # the minus side reset (floor 1e-9 g_max)
    assert g[0] - g[1] == pytest.approx(0.6e-3, abs=p.scale * 0.01)


def test_a_single_one_sided_device_goes_down_by_reset_and_re_set():
    p = _prog(1, pulse_energy=1e-12)
    p.set([1.0e-3])
    g = p.program(np.array([-0.3e-3]))
    assert g[0] == pytest.approx(0.7e-3, abs=p.scale * 0.01)
    rep = p.report()
    assert rep["resets"] == 1 and rep["pulses"] == 70
    assert rep["programming_energy_J"] == pytest.approx(71e-12)   # 70 SETs and one RESET


def test_pairs_need_a_one_sided_device_and_matching_globs(tmp_path, capsys):
    from circuitlearn.cli import main
    cfg = os.path.join(ROOT, "experiments", "configs", "crossbar_regression.toml")
    base = ["train", "--config", cfg, "--no-progress", "--epochs", "1"]
    cases = [(["model=soft-bounds", 'pairs=[["rx1*", "rx2*"]]'], "one-sided"),
             (["preset=pcm", 'pairs=[["rx1*", "rx*2"]]'], "as many"),
             (["preset=pcm", 'pairs=[["rx1*", "rz*"]]'], "matches no"),
             (["preset=pcm", 'pairs=[["rx1*", "rx1*"]]'], "more than one pair"),
             (["preset=pcm", "pairs=3"], "expected a list")]
    for sets, msg in cases:
        flags = [a for s in sets for a in ("--device-set", s)]
        assert main(base + flags + ["--out", str(tmp_path / "o")]) == 1
        err = capsys.readouterr().err
        assert "[device.pairs]" in err and msg in err, err
    with pytest.raises(ConfigError):
        _prog(4).set_pairs([0, 1], [1, 2])
    assert main(["train", "--out", str(tmp_path / "d"), "--g-max", "1", "--device-set",
                 "preset=pcm", "--device-set", "pairs=outputs"]) == 1
    assert 'pairs = "inputs"' in capsys.readouterr().err


def test_pcm_pairs_on_a_task_train_count_resets_and_resume_bit_identically(tmp_path, capsys):
    from circuitlearn.cli import main
    cfg = os.path.join(ROOT, "experiments", "configs", "crossbar_regression.toml")
    common = ["train", "--config", cfg, "--no-progress", "--device-set", "preset=pcm",
              "--device-set", 'pairs=[["rx1*", "rx2*"]]', "--n-check", "0", "--epochs"]
    assert main(common + ["3", "--out", str(tmp_path / "a")]) == 0
    full = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert full["device"]["pairs"] == 2 and full["device"]["pulses"] > 0
    assert full["device"]["resets"] > 0          # the unpaired rx3* devices went down by RESET
    assert main(common + ["1", "--out", str(tmp_path / "b")]) == 0
    assert main(common + ["3", "--out", str(tmp_path / "b"), "--resume"]) == 0
    resumed = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert resumed["test_mse"] == full["test_mse"] and resumed["device"] == full["device"]
