"""Physical units of an exported DRN: a conductance window and an input read range.

The exported deck is the trained network's exact image (conductances times k, voltages
times s): its equilibrium is s times the model's, its values are those of the window,
and ngspice reproduces its predictions."""
import json
import os

import numpy as np
import pytest

from circuitlearn.cli import main
from circuitlearn.cli import train as cli_train
from circuitlearn.compile import compile_netlist
from circuitlearn.device.scaling import PhysicalScale, scale_from_table
from circuitlearn.errors import ConfigError
from circuitlearn.learn import export
from circuitlearn.netlist import read_netlist
from circuitlearn.solve import solve
from circuitlearn.solve.layered import network as ly

SMALL = ["--hidden", "16", "--n-train", "160", "--n-test", "60", "--batch-size", "8",
         "--estimator", "centered", "--nudging", "current", "--lr", "0.05,0.02",
         "--epochs", "2", "--no-progress"]
PHYS = ["--g-max", "1", "--device-set", "g_window=[1e-6, 1e-3]",
        "--device-set", "input_range=0.2"]


def _summary(capsys):
    return json.loads(capsys.readouterr().out.strip().splitlines()[-1])


def _elements(path):
    return {e.name: e for e in read_netlist(path).elements}


def test_the_physical_deck_is_the_exact_image_of_the_trained_network():
    rng = np.random.default_rng(3)
    sizes = (8, 6, 3)
    ws = [rng.uniform(0.01, 1.0, (a, b)) for a, b in zip(sizes[:-1], sizes[1:])]
    bs = [rng.normal(0, 0.1, n) for n in sizes[1:]]
    x = rng.random(4)
    gain = 30.0
    scale = PhysicalScale(k=1e-3, s=0.2 / gain)
    c = compile_netlist(scale.drn_netlist(ws, bs, x=x, gain=gain))
    v = solve(c, c.default_sources()[None], diodes="ideal")
    layers, _ = ly.solve_layered(ws, bs, ly.input_voltages(x[None], gain), 100000, 1e-14)
    names = [f"h1_{k}" for k in range(6)] + [f"o{k}" for k in range(3)]
    got = np.array([v.voltages[0, c.node_index(n)] for n in names])
    want = scale.s * np.concatenate([layers[1][0], layers[2][0]])
    np.testing.assert_allclose(got, want, rtol=1e-9, atol=1e-10 * 0.2)   # the solvers agree to 1e-10 of the range
    g = np.array([1 / e.value for e in scale.drn_netlist(ws, bs, x=x, gain=gain).elements
                  if e.kind == "R"])
    assert 1e-5 <= g.min() and g.max() <= 1e-3 * (1 + 1e-12)


def test_a_window_sets_g_min_and_refuses_what_does_not_fit(tmp_path):
    c = cli_train.load_config(None, {("model", "g_max"): 2.0}, {"g_window": [1e-6, 1e-4]})
    assert c["model"]["g_min"] == pytest.approx(0.02)
    sc = scale_from_table(c["device"], c["model"]["g_min"], 2.0, c["model"]["gain"])
    assert sc.k == pytest.approx(5e-5) and sc.s == 1.0
    bad = [({}, {"g_window": [1e-6, 1e-4]}, "device.g_window"),            # g_max = inf
           ({("model", "g_max"): 1.0, ("model", "g_min"): 1e-3}, {"g_window": [1e-6, 1e-4]},
            "model.g_min"),
           ({("model", "g_max"): 1.0}, {"g_window": [1e-4, 1e-6]}, "device.g_window"),
           ({("model", "g_max"): 1.0}, {"g_window": "1u"}, "device.g_window"),
           ({}, {"input_range": -0.2}, "device.input_range"),
           ({}, {"input_range": "low"}, "device.input_range")]
    for ov, dev, key in bad:
        with pytest.raises(ConfigError) as e:
            cli_train.load_config(None, ov, dev)
        assert e.value.key == key, (dev, e.value)


def test_read_out_keys_are_physical_volts_with_an_input_range():
    from circuitlearn.device.readout import ReadOut
    r = PhysicalScale(k=1e-3, s=0.01).readout(ReadOut(1e-3, 8, 0.2))
    assert r.read_noise_std == pytest.approx(0.1) and r.adc_range == pytest.approx(20.0)
    assert r.adc_bits == 8


def test_a_netlist_task_refuses_the_drn_scale_keys(tmp_path, capsys):
    root = os.path.join(os.path.dirname(__file__), "..", "experiments", "configs")
    rc = main(["train", "--config", os.path.join(root, "crossbar_regression.toml"),
               "--out", str(tmp_path / "x"), "--device-set", "input_range=0.2"])
    assert rc == 1
    err = capsys.readouterr().err
    assert "device.input_range" in err and "input_scale" in err


@pytest.mark.ngspice
def test_a_drn_trained_in_a_window_exports_a_physical_deck_ngspice_reproduces(tmp_path, capsys):
    out = str(tmp_path / "p")
    assert main(["train", "--out", out, *SMALL, *PHYS, "--n-check", "3"]) == 0
    s = _summary(capsys)
    assert s["physical"]["g_per_model_siemens"] == pytest.approx(1e-3)
    assert s["physical"]["volts_per_model_volt"] == pytest.approx(0.2 / 30)
    assert s["ngspice"]["agree"] == s["ngspice"]["checked"] == 3
    assert s["ngspice"]["max_abs_dv_out"] < 1e-3            # volts, on a 0.2 V read range
    els = _elements(s["netlist"])
    g = np.array([1 / e.value for e in els.values() if e.kind == "R"])
    assert g.min() >= 1e-6 * (1 - 1e-9) and g.max() <= 1e-3 * (1 + 1e-9)
    vin = np.array([e.value for e in els.values() if e.kind == "V"])
    assert np.abs(vin).max() <= 0.2 + 1e-12 and np.abs(vin).max() > 0.1


def test_the_trained_deck_in_model_units_without_a_window(tmp_path, capsys):
    out = str(tmp_path / "m")
    assert main(["train", "--out", out, *SMALL, "--n-check", "0"]) == 0
    s = _summary(capsys)
    assert "physical" not in s and "ngspice" not in s
    vin = np.array([e.value for e in _elements(s["netlist"]).values() if e.kind == "V"])
    assert np.abs(vin).max() > 1.0           # gain 30 V per unit input


def test_export_uses_what_the_devices_show():
    class Dev:
        sizes = (4, 2, 1)

        def conductances(self):
            return [np.full((4, 2), 0.5), np.full((2, 1), 0.25)]

        def biases(self):
            return [np.zeros(2), np.zeros(1)]
    deck = export.drn_deck(Dev(), np.ones(2), 10.0, scale=PhysicalScale(1e-4, 0.02))
    r = [float(t.split()[3]) for t in deck.splitlines() if t.lower().startswith("r")]
    assert sorted(set(np.round(r))) == [20000.0, 40000.0]
