"""Training the user's own netlist: EP -> exact gradient, coupled learning, the task file,
the CLI (resume, divergence, located errors) and ngspice in the loop."""
import json
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest

from circuitlearn.cli import main
from circuitlearn.compile import compile_netlist
from circuitlearn.device.netlist_device import NetlistDevice, match_trainable
from circuitlearn.errors import ConfigError, TrainingError
from circuitlearn.learn import learners, loop, rules
from circuitlearn.learn.ep import EPConfig
from circuitlearn.learn.task import build_device, load_task, load_task_data
from circuitlearn.netlist import read_netlist

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
NET = os.path.join(ROOT, "netlists")
CONFIGS = os.path.join(ROOT, "experiments", "configs")
XBAR = os.path.join(CONFIGS, "crossbar_regression.toml")
RANDOM = os.path.join(CONFIGS, "random_network_coupled.toml")
IRIS = os.path.join(CONFIGS, "iris_diode_crossbar.toml")
DRN = os.path.join(CONFIGS, "drn_digits_4x4.toml")


def _device(deck, inputs, outputs, trainable, diodes="ideal", **kw):
    c = compile_netlist(read_netlist(os.path.join(NET, deck)))
    return NetlistDevice(c, inputs, outputs, match_trainable(c.resistor_names, trainable),
                         1e-6, 1e-2, diodes=diodes, tol=1e-13, **kw)


def _cos(a, b):
    return float(np.dot(a, b) / (np.linalg.norm(a) * np.linalg.norm(b)))


CASES = [("diode_crossbar_3x2.cir", ["v1", "v2", "v3"], ["c1", "c2"], ["rx*"]),
         ("random_network_30.cir", ["v1", "v2", "v3"], ["n6", "n16"], ["r*"]),
         ("iris_diode_crossbar.cir", ["v1", "v2", "v3", "v4"], ["p1-m1", "p2-m2", "p3-m3"],
          ["rx*"])]


@pytest.mark.parametrize("diodes", ["ideal", "shockley"])
@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_centered_ep_converges_to_the_exact_gradient(case, diodes):
    deck, inputs, outputs, trainable = case
    dev = _device(deck, inputs, outputs, trainable, diodes)
    rng = np.random.default_rng(0)
    x = rng.uniform(-1, 1, (6, len(inputs)))
    t = rng.uniform(-0.2, 0.2, (6, len(outputs)))
    loss = rules.TaskLoss("mse", "regression")
    exact = rules.exact_gradient(dev, x, t, loss)
    errs = []
    for beta in (1e-4, 1e-5, 1e-6):
        g = rules.ep_step(dev, x, t, loss, EPConfig("centered", "current", beta)).grad
        errs.append(np.abs(g - exact).max() / np.abs(exact).max())
    assert _cos(g, exact) >= 0.999
    assert errs[-1] < 1e-4
    # one-sided is O(beta): worse than centered at the same (small) beta
    one = rules.ep_step(dev, x, t, loss, EPConfig("one-sided", "current", 1e-6)).grad
    assert np.abs(one - exact).max() > 10 * errs[-1] * np.abs(exact).max()


def test_conductance_nudging_and_coupled_learning_point_downhill():
    dev = _device("random_network_30.cir", ["v1", "v2", "v3"], ["n6", "n16"], ["r*"])
    rng = np.random.default_rng(1)
    x = rng.uniform(-1, 1, (8, 3))
    t = rng.uniform(-0.2, 0.2, (8, 2))
    loss = rules.TaskLoss("mse", "regression")
    exact = rules.exact_gradient(dev, x, t, loss)
    g = rules.ep_step(dev, x, t, loss, EPConfig("centered", "conductance", 1e-6)).grad
    assert _cos(g, exact) >= 0.999
    cl = rules.coupled_step(dev, x, t, loss, 1e-3).grad
    assert _cos(cl, exact) > 0.5


def test_device_verbs_obey_kirchhoff_at_the_probes():
    dev = _device("diode_crossbar_3x2.cir", ["v1", "v2", "v3"], ["c1", "c2"], ["rx*"])
    x = np.array([[0.3, -0.2, 0.9]])
    dev.set_inputs(x)
    dev.clamp_outputs(np.array([[0.05, -0.07]]))
    V = dev.measure()
    np.testing.assert_allclose(dev.readout(V), [[0.05, -0.07]], atol=1e-12)
    # injecting 1 uA at c1 raises it by (1 uA) x the driving-point resistance (> 0)
    dev.clear_nudge()
    v0 = dev.measure()
    dev.inject_currents(np.array([[1e-6, 0.0]]))
    v1 = dev.measure()
    assert v1[0, dev.probe_index[0]] > v0[0, dev.probe_index[0]]
    # programming is clamped to the range
    dev.program(np.full(dev.n_trainable, 1.0))
    np.testing.assert_array_equal(dev.conductances(), 1e-2)
    with pytest.raises(ValueError, match="probe"):
        dev.inject_currents(np.zeros((1, 3)))


def test_unstable_conductance_nudging_is_refused():
    dev = _device("random_network_30.cir", ["v1", "v2", "v3"], ["n6", "n16"], ["r*"])
    x = np.zeros((2, 3))
    t = np.zeros((2, 2))
    beta = 0.95 * dev.probe_conductance().min()
    with pytest.raises(TrainingError, match="unstable nudging"):
        rules.ep_step(dev, x, t, rules.TaskLoss(), EPConfig("centered", "conductance", beta))


def test_coupled_learning_lowers_the_loss(tmp_path):
    cfg = load_task(RANDOM, {("train", "epochs"): 3, ("train", "n_check"): 0})
    dev = build_device(cfg)
    res = learners.fit_task(cfg, dev, load_task_data(cfg), str(tmp_path), log=lambda s: None)
    mses = [res["initial"]["test"]["mse"]] + [h["test_mse"] for h in res["epochs"]]
    assert all(b < a for a, b in zip(mses, mses[1:]))
    assert mses[-1] < 0.5 * mses[0]


def _last_json(text):
    return json.loads(text.strip().splitlines()[-1])


def _cli(*args):
    return subprocess.run([sys.executable, "-m", "circuitlearn", *args],
                          capture_output=True, text=True, cwd=ROOT, timeout=600)


@pytest.mark.ngspice
def test_crossbar_learns_its_teacher_and_ngspice_reproduces_it(tmp_path, capsys):
    out = str(tmp_path / "xbar")
    assert main(["train", "--config", XBAR, "--out", out, "--no-progress"]) == 0
    s = _last_json(capsys.readouterr().out)
    assert s["test_mse"] < 1e-8 * s["initial_test_mse"]
    assert os.path.exists(s["netlist"]) and os.path.exists(os.path.join(out, "curves.png"))
    assert s["ngspice"]["checked"] == 5 and s["ngspice"]["max_abs_dy_same_model"] < 1e-9
    # the trained deck holds the teacher's resistances
    import importlib.util
    spec = importlib.util.spec_from_file_location(
        "mtd", os.path.join(ROOT, "experiments", "make_task_data.py"))
    mtd = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mtd)
    trained = compile_netlist(read_netlist(s["netlist"]))
    for name, r in mtd.TEACHER_XBAR.items():
        k = trained.resistor_names.index(name)
        assert abs(1.0 / trained.conductance[k] - r) < 1e-3 * r


@pytest.mark.ngspice
def test_iris_diode_crossbar_classifies(tmp_path, capsys):
    out = str(tmp_path / "iris")
    assert main(["train", "--config", IRIS, "--out", out, "--no-progress"]) == 0
    s = _last_json(capsys.readouterr().out)
    assert s["test_error"] <= 0.15 < s["initial_test_error"]
    assert s["ngspice"]["agree_argmax"] == s["ngspice"]["checked"] == 5
    assert s["ngspice"]["max_abs_dy_same_model"] < 1e-9


@pytest.mark.ngspice
def test_drn_deck_trains_through_the_general_path(tmp_path, capsys):
    """The DRN example: a builder-written 32-16-10 deck trained as a plain netlist task."""
    out = str(tmp_path / "drn")
    assert main(["train", "--config", DRN, "--out", out, "--no-progress", "--epochs", "4"]) == 0
    s = _last_json(capsys.readouterr().out)
    assert s["initial_test_error"] > 0.7 and s["test_error"] < 0.35
    assert s["ngspice"]["agree_argmax"] == s["ngspice"]["checked"] == 5
    assert s["ngspice"]["max_abs_dy_same_model"] < 1e-9


def _copy_task(tmp_path, text_edit=None, name="task.toml", src=XBAR):
    """The crossbar task copied into tmp_path (deck and data beside it), optionally edited."""
    shutil.copy(os.path.join(NET, "crossbar_3x2.cir"), tmp_path / "xbar.cir")
    shutil.copy(os.path.join(CONFIGS, "crossbar_teacher.csv"), tmp_path / "data.csv")
    text = open(src).read().replace("../netlists/crossbar_3x2.cir", "xbar.cir") \
        .replace("crossbar_teacher.csv", "data.csv")
    if text_edit:
        text = text_edit(text)
    p = tmp_path / name
    p.write_text(text)
    return str(p)


def test_resume_is_bit_identical_in_a_second_process(tmp_path):
    task = _copy_task(tmp_path, lambda t: t.replace("momentum = 0.5", "momentum = 0.7\ndecay = 0.9"))
    a, b = str(tmp_path / "a"), str(tmp_path / "b")
    common = ["train", "--config", task, "--no-progress"]
    r = _cli(*common, "--out", a, "--epochs", "3")
    assert r.returncode == 0, r.stderr
    r = _cli(*common, "--out", b, "--epochs", "1")
    assert r.returncode == 0, r.stderr
    r = _cli(*common, "--out", b, "--epochs", "3", "--resume")
    assert r.returncode == 0, r.stderr
    za, zb = np.load(os.path.join(a, "checkpoint.npz")), np.load(os.path.join(b, "checkpoint.npz"))
    np.testing.assert_array_equal(za["g"], zb["g"])
    np.testing.assert_array_equal(za["vel0"], zb["vel0"])
    ha = json.loads(str(za["meta"]))["history"]
    hb = json.loads(str(zb["meta"]))["history"]
    assert [h["test_mse"] for h in ha] == [h["test_mse"] for h in hb]
    # an incompatible flag on resume is refused, a compatible one honoured
    r = _cli(*common, "--out", b, "--epochs", "4", "--resume", "--beta", "0.5")
    assert r.returncode == 1 and "cannot change algorithm.beta" in r.stderr
    assert "Traceback" not in r.stderr


def test_divergence_stops_with_the_last_good_checkpoint(tmp_path, monkeypatch):
    # a 1 mA bias current into c1 and trainable loads: voltages grow without bound as
    # g -> g_min.  A rule with the wrong sign (gradient ascent) drives it there.
    task = _copy_task(tmp_path, lambda t: t.replace('trainable = ["rx*"]', 'trainable = ["r*"]')
                      .replace("g_min = 1e-5", "g_min = 1e-12"))
    deck = tmp_path / "xbar.cir"
    deck.write_text(deck.read_text().replace(".op", "IB 0 c1 DC 1m\n.op"))
    out = str(tmp_path / "d")
    cfg = load_task(task, {("train", "epochs"): 1, ("train", "n_check"): 0})
    dev = build_device(cfg)
    data = load_task_data(cfg)
    learners.fit_task(cfg, dev, data, out, log=lambda s: None)
    before = np.load(os.path.join(out, "checkpoint.npz"))["g"]
    good = learners.run_step

    def ascent(*a):
        r = good(*a)
        return rules.StepResult(-1e3 * r.grad, r.free, r.y, r.loss)
    monkeypatch.setattr(learners, "run_step", ascent)
    cfg = loop.resumed_config(cfg, {("train", "epochs"): 5}, learners.TASK_RESUMABLE)
    with pytest.raises(TrainingError, match="diverged") as exc:
        learners.fit_task(cfg, dev, data, out, resume=True, log=lambda s: None)
    assert "epoch 1" in str(exc.value) and out in str(exc.value)
    np.testing.assert_array_equal(np.load(os.path.join(out, "checkpoint.npz"))["g"], before)


@pytest.mark.ngspice
def test_ngspice_backend_trains_like_numba(tmp_path, capsys):
    task = _copy_task(tmp_path)
    res = {}
    for backend in ("numba", "ngspice"):
        out = str(tmp_path / backend)
        assert main(["train", "--config", task, "--out", out, "--no-progress", "--epochs", "1",
                     "--device", backend]) == 0
        res[backend] = _last_json(capsys.readouterr().out)
        res[backend]["g"] = np.load(os.path.join(out, "checkpoint.npz"))["g"]
    assert res["ngspice"]["backend"] == "ngspice"
    np.testing.assert_allclose(res["ngspice"]["g"], res["numba"]["g"], rtol=1e-6)


BAD = [
    (lambda t: t.replace("[data]", "colour = 3\n[data]"), "circuit.colour", "unknown key"),
    (lambda t: t.replace('"v1", "v2", "v3"]', '"v1", "v2", "vx"]'), "circuit.inputs",
     "not an independent source"),
    (lambda t: t.replace('trainable = ["rx*"]', 'trainable = ["q*"]'), "circuit.trainable",
     "matches no resistor"),
    (lambda t: t.replace('outputs = ["c1", "c2"]', 'outputs = ["c1", "r1"]'), "circuit.outputs",
     "fixed by a voltage source"),
    (lambda t: t.replace('outputs = ["c1", "c2"]', 'outputs = ["c1", "zz"]'), "circuit.outputs",
     "no node"),
    (lambda t: t.replace('targets = ["y0", "y1"]', 'targets = ["y0", "y9"]'), "data.targets",
     "no column"),
    (lambda t: t.replace('netlist = "xbar.cir"\n', ''), "circuit.netlist", "missing"),
    (lambda t: t.replace('kind = "regression"', 'kind = "classification"'), "data.targets",
     "one label column"),
    (lambda t: t.replace('targets = ["y0", "y1"]', 'targets = ["y0"]')
     .replace('kind = "regression"', 'kind = "classification"'), "data.targets",
     "integers"),
    (lambda t: t.replace('nudging = "current"', 'nudging = "current"\nloss = "xent"'),
     "algorithm.loss", "classification"),
    (lambda t: t.replace("g_max = 1e-2", "g_max = 1e-7"), "circuit.g_max", "g_min"),
    (lambda t: t.replace("beta = 1e-5", "beta = -1"), "algorithm.beta", "> 0"),
    (lambda t: t.replace('rule = "ep"', 'rule = "hebb"'), "algorithm.rule", "one of"),
    (lambda t: t.replace('outputs = ["c1", "c2"]', 'outputs = ["c1-c2", "c2"]')
     .replace('rule = "ep"', 'rule = "coupled"'), "circuit.outputs", "single-ended"),
]


@pytest.mark.parametrize("edit,key,words", BAD, ids=[b[1] + ":" + b[2] for b in BAD])
def test_every_bad_key_gives_a_located_error(tmp_path, edit, key, words, capsys):
    task = _copy_task(tmp_path, edit)
    with pytest.raises(ConfigError) as exc:
        cfg = load_task(task)
        build_device(cfg)
        load_task_data(cfg)
    assert exc.value.file == task and exc.value.key == key, str(exc.value)
    assert words in str(exc.value)
    # the CLI prints it with the file and key, no traceback
    assert main(["train", "--config", task, "--out", str(tmp_path / "o"), "--no-progress"]) == 1
    err = capsys.readouterr().err
    assert task in err and f"[{key}]" in err


def test_drn_flags_are_refused_for_a_netlist_task(tmp_path, capsys):
    task = _copy_task(tmp_path)
    assert main(["train", "--config", task, "--out", str(tmp_path / "o"), "--hidden", "8"]) == 1
    assert "--hidden is a DRN option" in capsys.readouterr().err


@pytest.mark.parametrize("deck", ["drn_small.cir", "drn_digits_4x4.cir"])
@pytest.mark.parametrize("nudging", ["current", "conductance"])
def test_general_path_equals_the_layered_path_on_a_drn_deck(nudging, deck):
    """A DRN deck read from its file: the general device's exact gradient and its EP
    estimate match the layered DRN's exact gradient (the DRN is the fast special case)."""
    from circuitlearn.compile.builders import drn_arrays
    from circuitlearn.learn.gradients import layered_equilibrium, layered_gradients
    c = compile_netlist(read_netlist(os.path.join(NET, deck)))
    W, b, sizes = drn_arrays(c)
    inputs = [f"vx{k}" for k in range(sizes[0])]
    outputs = [f"o{k}" for k in range(sizes[-1])]
    dev = NetlistDevice(c, inputs, outputs, match_trainable(c.resistor_names, ["r*"]),
                        0.0, np.inf, tol=1e-13)
    rng = np.random.default_rng(3)
    xs = rng.uniform(0, 1, (5, sizes[0] // 2))
    v_in = np.concatenate([xs, -xs], axis=1)          # gain 1
    t = rng.uniform(-0.1, 0.1, (5, sizes[-1]))
    loss = rules.TaskLoss("mse", "regression")
    free = layered_equilibrium(W, b, v_in)
    gw, _ = layered_gradients(W, b, free, free[-1] - t)
    lik = [tuple(int(s) for s in name[1:].split("_")) for name in dev.trainable_names]
    layered = np.array([gw[l - 1][i, k] for l, i, k in lik])
    exact = rules.exact_gradient(dev, v_in, t, loss)
    np.testing.assert_allclose(exact, layered, rtol=1e-9, atol=1e-9 * np.abs(layered).max())
    ep = rules.ep_step(dev, v_in, t, loss, EPConfig("centered", nudging, 1e-7)).grad
    np.testing.assert_allclose(ep, layered, rtol=0, atol=1e-6 * np.abs(layered).max())
