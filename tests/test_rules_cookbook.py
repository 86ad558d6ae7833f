"""The rules cookbook on circuits (seeds 000, 003): node perturbation, the bench's cost
counters, and ff-EBMs (digital layers chained with a circuit trained by EP)."""
import json
import os

import numpy as np
import pytest

from circuitlearn import bundled
from circuitlearn.cli import main
from circuitlearn.compile import compile_netlist
from circuitlearn.device.netlist_device import NetlistDevice, match_trainable
from circuitlearn.learn import ffebm, rules
from circuitlearn.learn.ep import EPConfig
from circuitlearn.learn.learners import NetlistLearner, task_loss
from circuitlearn.learn.task import build_device, load_task, load_task_data
from circuitlearn.netlist import read_netlist


def _task(name, **algorithm):
    cfg = load_task(bundled.example(name), {("algorithm", k): v for k, v in algorithm.items()})
    return cfg, build_device(cfg), load_task_data(cfg)


def _cos(a, b):
    return float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b)))


# ------------------------------------------------------------------ node perturbation
def test_node_sensitivities_give_the_exact_gradient():
    """Coordinate-wise node perturbation (one free node at a time) and the adjoint formula
    -(mu_a - mu_b)(v_a - v_b) reproduce implicit differentiation on a diode network."""
    cfg, dev, data = _task("drn_digits_4x4.toml")
    loss = task_loss(cfg)
    x, t = data[0][:4], data[1][:4]
    exact = rules.exact_gradient(dev, x, t, loss)
    V = rules.free_state(dev, x)
    n, d = dev.free_nodes.size, 1e-7
    mu = np.zeros((4, n))
    for i in range(n):
        inj = np.zeros((4, n))
        inj[:, i] = d
        dev.inject_node_currents(inj)
        lp = rules.sample_losses(dev, t, loss)
        dev.inject_node_currents(-inj)
        lm = rules.sample_losses(dev, t, loss)
        mu[:, i] = (lp - lm) / (2 * d)
    g = rules.adjoint_gradient(dev, V, mu)
    assert np.abs(g - exact).max() <= 1e-5 * np.abs(exact).max()
    bad = rules.adjoint_gradient(dev, V, -mu)             # the sign matters
    assert _cos(bad, exact) < -0.99


@pytest.mark.parametrize("estimator", ["antithetic", "forward"])
def test_node_perturbation_is_unbiased(estimator):
    cfg, dev, data = _task("random_network_coupled.toml")
    loss = task_loss(cfg)
    x, t = data[0][:8], data[1][:8]
    exact = rules.exact_gradient(dev, x, t, loss)
    rng = np.random.default_rng(1)
    est = rules.node_perturbation_step(dev, x, t, loss, 1e-7, 2000, rng, estimator).grad
    assert _cos(est, exact) >= 0.95
    one = rules.node_perturbation_step(dev, x, t, loss, 1e-7, 1, rng, estimator).grad
    assert np.linalg.norm(one - exact) > np.linalg.norm(est - exact)


def test_node_perturbation_trains_a_task(tmp_path, capsys):
    rc = main(["train", "--config", "crossbar_regression.toml", "--set",
               'algorithm.rule="node-perturbation"', "--set", "algorithm.samples=4",
               "--set", "algorithm.node_perturbation=1e-7", "--set", "train.epochs=4",
               "--set", "train.n_check=0", "--no-progress", "--out", str(tmp_path / "np")])
    assert rc == 0
    s = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert s["rule"] == "node-perturbation"
    assert s["test_mse"] < 0.2 * s["initial_test_mse"]


def test_node_currents_are_checked():
    cfg, dev, data = _task("crossbar_regression.toml")
    with pytest.raises(ValueError, match="free nodes"):
        dev.inject_node_currents(np.zeros((2, dev.free_nodes.size + 1)))


# ------------------------------------------------------------------ cost counters
def _divider(tmp_path, **kw):
    """1 V across two 1 ohm resistors: 0.5 W in every settled state."""
    p = tmp_path / "div.cir"
    p.write_text("divider\nv1 in 0 1\nr1 in out 1\nr2 out 0 1\n.end\n")
    c = compile_netlist(read_netlist(str(p)))
    return NetlistDevice(c, ["v1"], ["out"], match_trainable(c.resistor_names, ["r*"]),
                         1e-3, 10.0, settle_time=2e-6, **kw)


@pytest.mark.parametrize("dense", [True, False])
def test_costs_count_what_the_bench_did(tmp_path, dense):
    dev = _divider(tmp_path, dense=dense)
    x, t = np.ones((2, 1)), np.full((2, 1), 0.4)
    loss = rules.TaskLoss("mse", "regression")
    # free state: 2 samples, 2 non-ground nodes read each, 0.5 W for 2 us each
    V = rules.free_state(dev, x)
    np.testing.assert_allclose(V[:, dev.circuit.node_index("out")], 0.5)
    c = dev.costs.snapshot()
    assert (c["settles"], c["sample_settles"], c["reads"], c["writes"]) == (1, 2, 4, 0)
    assert c["energy_J"] == pytest.approx(2 * 0.5 * 2e-6, rel=1e-12)
    # weight perturbation, 3 antithetic directions: 6 settles reading the output only, each
    # direction writes both devices and restores them twice
    before = dev.costs.snapshot()
    rules.weight_perturbation_step(dev, x, t, loss, 1e-3, 3, np.random.default_rng(0))
    d = dev.costs.since(before)
    assert (d["settles"], d["sample_settles"], d["reads"], d["writes"]) == (7, 14, 4 + 12, 24)
    # programming writes each changed device once; evaluation is not counted
    before = dev.costs.snapshot()
    dev.program(np.array([0.1, 0.0]))
    learner = NetlistLearner.__new__(NetlistLearner)
    learner.device, learner.loss, learner.cfg = dev, loss, {"algorithm": {"rule": "ep"}}
    learner.evaluate(x, t)
    d = dev.costs.since(before)
    assert (d["settles"], d["writes"], d["energy_J"]) == (0, 1, 0.0)
    # EP centered by current: three settles of all nodes
    before = dev.costs.snapshot()
    rules.ep_step(dev, x, t, loss, EPConfig("centered", "current", 1e-3))
    d = dev.costs.since(before)
    assert (d["settles"], d["sample_settles"], d["reads"]) == (3, 6, 12)


# ------------------------------------------------------------------ ff-EBM
@pytest.mark.parametrize("diodes", ["ideal", "shockley"])
def test_ffebm_chained_gradient_is_implicit_differentiation(diodes):
    cfg = load_task(bundled.example("drn_digits_4x4.toml"))
    cfg["circuit"]["diodes"] = diodes
    dev, data = build_device(cfg), load_task_data(cfg)
    x, t = data[0][:8], data[1][:8]
    rng = np.random.default_rng(0)
    blocks = [ffebm.Digital(x.shape[1], 24, "tanh", 1.0, rng),
              ffebm.Digital(24, dev.input_index.size, "tanh", 1.0, rng),
              ffebm.Analog(dev, EPConfig("centered", "current", 1e-5)),
              ffebm.Digital(dev.n_outputs, dev.n_outputs, "identity", 1.0, rng)]
    chain = ffebm.Chain(blocks, task_loss(cfg))
    cos = chain.cosine(x, t)
    assert min(cos.values()) >= 0.99, cos
    # the input error read from the sources' currents is what carries the gradient upstream
    ep, _, _ = chain.gradients(x, t, "ep")
    ex, _, _ = chain.gradients(x, t, "exact")
    np.testing.assert_allclose(ep[0][0], ex[0][0], rtol=1e-3, atol=1e-6 * np.abs(ex[0][0]).max())


def test_ffebm_refuses_inputs_whose_current_it_cannot_read(tmp_path):
    p = tmp_path / "d.cir"
    p.write_text("diode at the input\nv1 in 0 1\nd1 in 0 dd\nr1 in out 1\nr2 out 0 1\n"
                 ".model dd d\n.end\n")
    c = compile_netlist(read_netlist(str(p)))
    dev = NetlistDevice(c, ["v1"], ["out"], match_trainable(c.resistor_names, ["r*"]))
    with pytest.raises(ValueError, match="v1"):
        ffebm.Analog(dev)


def test_ffebm_task_trains_digits(tmp_path, capsys):
    rc = main(["train", "--config", "ffebm_digits.toml", "--set", "train.epochs=3",
               "--set", "train.n_check=1", "--no-progress", "--out", str(tmp_path / "ff")])
    assert rc == 0
    s = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert s["model"] == "ff-ebm"
    assert s["test_error"] < 0.3 and s["initial_test_error"] > 0.6
    assert s["ngspice"]["checked"] == 1 and s["ngspice"]["agree_argmax"] == 1
    assert os.path.exists(tmp_path / "ff" / "trained.cir")


def test_ffebm_task_resumes(tmp_path, capsys):
    out = str(tmp_path / "ff")
    base = ["train", "--config", "ffebm_digits.toml", "--set", "train.n_check=0",
            "--no-progress", "--out", out]
    assert main(base + ["--set", "train.epochs=1"]) == 0
    assert main(base + ["--set", "train.epochs=2", "--resume"]) == 0
    resumed = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert main(base[:-1] + [str(tmp_path / "once"), "--set", "train.epochs=2"]) == 0
    once = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert resumed["test_error"] == once["test_error"]


@pytest.mark.parametrize("bad,key", [('algorithm.rule="coupled"', "algorithm.rule"),
                                     ('algorithm.nudging="conductance"', "algorithm.nudging"),
                                     ("digital.hidden=0", "digital.hidden"),
                                     ('digital.activation="sigmoid"', "digital.activation")])
def test_ffebm_config_errors_are_located(tmp_path, capsys, bad, key):
    rc = main(["train", "--config", "ffebm_digits.toml", "--set", bad,
               "--out", str(tmp_path / "x")])
    assert rc == 1
    err = capsys.readouterr().err
    assert key in err and "Traceback" not in err


# ------------------------------------------------------------------ the other forward-only rules
@pytest.mark.parametrize("rule,extra", [
    ("activation-relaxation", ["--set", "algorithm.beta=1e-3"]),
    ("pepita", ["--set", "algorithm.feedback_scale=0.02"]),
    ("forward-forward", ["--set", "algorithm.target_scale=4.0", "--set", "optim.lr=3e-4"])])
def test_forward_only_rules_lower_the_loss(tmp_path, capsys, rule, extra):
    rc = main(["train", "--config", "drn_digits_4x4.toml", "--set", f'algorithm.rule="{rule}"',
               "--set", "train.epochs=2", "--set", "train.n_check=0", "--no-progress",
               "--out", str(tmp_path / rule)] + extra)
    assert rc == 0
    s = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert s["rule"] == rule
    assert s["test_error"] < 0.8 * s["initial_test_error"]


def test_activation_relaxation_is_the_exact_gradient():
    """The circuit's own relaxation under small error currents carries the backprop error."""
    from circuitlearn.learn import forward_only
    cfg, dev, data = _task("drn_digits_4x4.toml")
    loss = task_loss(cfg)
    x, t = data[0][:8], data[1][:8]
    exact = rules.exact_gradient(dev, x, t, loss)
    g = forward_only.activation_relaxation_step(dev, x, t, loss, 1e-4).grad
    assert np.abs(g - exact).max() <= 1e-6 * np.abs(exact).max()


def test_forward_forward_local_gradient_matches_finite_differences():
    """One hidden layer: the node's own balance is the whole derivative of the goodness."""
    from circuitlearn.learn import forward_only as fo
    cfg, dev, data = _task("drn_digits_4x4.toml")
    x, t = data[0][:8], data[1][:8]
    V = fo._goodness_state(dev, x, t, 4.0, 10)
    G0 = fo.goodness(dev, V)
    local = fo.goodness_gradient(dev, V).mean(axis=0)
    ks = np.arange(0, dev.n_trainable, 23)
    fd = []
    for k in ks:
        d = np.zeros(dev.n_trainable)
        d[k] = 1e-6
        with dev.perturbed(d):
            fd.append(np.mean(fo.goodness(dev, fo._goodness_state(dev, x, t, 4.0, 10)) - G0)
                      / 1e-6)
    np.testing.assert_allclose(local[ks], fd, rtol=1e-4, atol=1e-6)


def test_forward_forward_needs_classification(tmp_path, capsys):
    rc = main(["train", "--config", "crossbar_regression.toml", "--set",
               'algorithm.rule="forward-forward"', "--out", str(tmp_path / "x")])
    assert rc == 1
    assert "algorithm.rule" in capsys.readouterr().err


def test_compare_rules_smoke(tmp_path, capsys):
    import importlib.util
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    spec = importlib.util.spec_from_file_location(
        "compare_rules", os.path.join(root, "experiments", "compare_rules.py"))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    out = tmp_path / "cr"
    assert mod.main(["--smoke", "--out", str(out)]) == 0
    last = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert set(mod.RULES) <= set(last)
    for name in mod.RULES:
        r = last[name]
        assert 0 <= r["test_error"] <= 1 and r["settles_per_sample"] >= 1
        assert r["energy_per_sample_J"] > 0
    assert last["ep-centered"]["settles_per_sample"] == 3
    assert last["ep-one-sided"]["settles_per_sample"] == 2
    assert last["exact"]["settles_per_sample"] == 1
    assert last["weight-perturbation"]["settles_per_sample"] == 5       # 1 + 2 x 2 samples
    assert last["ff-ebm"]["cosine_vs_implicit"] >= 0.99
    for f in ("compare_rules.md", "compare_rules.json", "compare_rules.png"):
        assert (out / f).exists()
    zo = json.load(open(out / "compare_rules.json"))["zo_variance"]
    for name in ("weight-perturbation", "node-perturbation"):
        assert [r["samples"] for r in zo[name]] == [1, 4]
        assert all(-1 <= r["cosine_mean"] <= 1 and r["relative_error"] > 0 for r in zo[name])
