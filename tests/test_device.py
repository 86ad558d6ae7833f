"""Devices: the fast simulator and compiled circuits (numba, ngspice) measure the
same voltages, and the same EP script trains them to the same conductances."""
import numpy as np
import pytest

from circuitlearn.device.simulator import CircuitDevice, LayeredSimulator
from circuitlearn.errors import BackendError
from circuitlearn.learn import ep, losses, optim
from finite_differences import central_differences

SIZES = (8, 6, 3)


def _params(seed=0, sizes=SIZES):
    rng = np.random.default_rng(seed)
    ws = [rng.uniform(0.05, 1.0, (a, b)) for a, b in zip(sizes[:-1], sizes[1:])]
    bs = [0.1 * rng.standard_normal(n) for n in sizes[1:]]
    return ws, bs, rng.uniform(0, 1, (3, sizes[0] // 2)), rng.integers(0, sizes[-1], 3)


def _pair(backend="numba", g_min=1e-3):
    ws, bs, x, y = _params()
    sim = LayeredSimulator(SIZES, gain=2.0, g_min=g_min, sweeps=100000, tol=1e-13,
                           warm_start=False)
    cir = CircuitDevice(SIZES, gain=2.0, g_min=g_min, backend=backend, diodes="ideal",
                        solve_kwargs={"tol": 1e-12})
    for d in (sim, cir):
        d.set_parameters(ws, bs)
    return sim, cir, x, y


def test_circuit_device_measures_what_the_simulator_does():
    sim, cir, x, y = _pair()
    for d in (sim, cir):
        d.set_inputs(x)
        d.inject_currents(np.full((3, 3), 0.05))
    a, b = sim.measure(), cir.measure()
    for va, vb in zip(a, b):
        np.testing.assert_allclose(vb, va, atol=1e-8)


def test_same_training_script_on_both_devices():
    sim, cir, x, y = _pair()
    loss = losses.Loss("mse")
    cfg = ep.EPConfig("centered", "current", 0.1)
    sgd = optim.SGDConfig(lrs=(0.05,), momentum=0.5)
    for dev in (sim, cir):
        st = optim.sgd_init(sgd, dev.conductances() + dev.biases())
        for _ in range(5):
            r = ep.ep_step(dev, x, y, loss, cfg)
            d, st = optim.sgd_update(sgd, st, r.grad_w + r.grad_b)
            dev.program(*optim.split(d, 2))
    for wa, wb in zip(sim.conductances(), cir.conductances()):
        assert np.max(np.abs(wa - wb)) < 1e-7
        assert wa.min() >= 1e-3
    assert not np.allclose(sim.conductances()[0], _params()[0][0])   # it did learn


def test_circuit_device_refuses_conductance_nudging():
    _, cir, x, y = _pair()
    cir.set_inputs(x)
    with pytest.raises(BackendError, match="current"):
        ep.ep_step(cir, x, y, losses.Loss("mse"), ep.EPConfig("centered", "conductance", 0.1))


@pytest.mark.ngspice
def test_ngspice_device_close_to_ideal_simulator():
    sim, cir, x, y = _pair("ngspice")
    va = ep.free_phase(sim, x)
    vb = ep.free_phase(cir, x)
    # ngspice's near-ideal diode (n = 0.01) conducts a few mV past 0 V
    for l in (1, 2):
        assert np.max(np.abs(va[l] - vb[l])) < 0.02
    cir.inject_currents(np.full((3, 3), 0.05))
    sim.inject_currents(np.full((3, 3), 0.05))
    assert np.max(np.abs(sim.measure()[-1] - cir.measure()[-1])) < 0.02


def test_centered_ep_on_shockley_circuit_matches_finite_differences():
    """EP through the general solver with Shockley diodes (conducting: gain 10)."""
    sizes = (6, 6, 3)
    rng = np.random.default_rng(0)
    ws = [rng.uniform(0.05, 1, (a, b)) for a, b in zip(sizes[:-1], sizes[1:])]
    bs = [0.01 * rng.standard_normal(n) for n in sizes[1:]]
    x, y = rng.uniform(0, 1, (3, 3)), rng.integers(0, 3, 3)
    dev = CircuitDevice(sizes, gain=10.0, g_min=1e-3, backend="numba", diodes="shockley",
                        builder_kwargs={"diode_params": {"n": 1.0, "is": 1e-9}},
                        solve_kwargs={"tol": 1e-13})
    dev.set_parameters(ws, bs)
    loss = losses.Loss("mse")
    h = ep.free_phase(dev, x)[1]
    assert np.any(h[:, :3] < -0.3) or np.any(h[:, 3:] > 0.3)   # some diodes conduct

    def mean_loss(w0):
        dev.set_parameters(w0 + ws[1:], bs)
        return loss(ep.free_phase(dev, x)[-1], y)[0].mean()

    g_fd = central_differences(mean_loss, [ws[0]], 1e-5)[0]
    dev.set_parameters(ws, bs)
    g = ep.ep_step(dev, x, y, loss, ep.EPConfig("centered", "current", 1e-3)).grad_w[0]
    cos = g.ravel() @ g_fd.ravel() / np.linalg.norm(g) / np.linalg.norm(g_fd)
    assert cos >= 0.999
    assert np.linalg.norm(g - g_fd) / np.linalg.norm(g_fd) < 1e-4


def test_measure_by_name_follows_the_drn_convention():
    sim, cir, x, y = _pair()
    for d in (sim, cir):
        d.set_inputs(x)
    a, b = sim.measure_by_name(), cir.measure_by_name()
    assert set(a) == set(b) and {"x0", "h1_5", "o2"} <= set(a)
    np.testing.assert_allclose(a["x0"], 2.0 * x[:, 0])
    np.testing.assert_allclose(a["h1_5"], b["h1_5"], atol=1e-8)
