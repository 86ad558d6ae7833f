"""EP estimates against finite differences of the loss; bias orders; training."""

import numpy as np
import pytest

from circuitlearn.device.simulator import LayeredSimulator
from circuitlearn.learn import ep, losses, optim
from circuitlearn.solve.layered import network as ly
from finite_differences import central_differences

SIZES = (6, 8, 4)


def _device(seed=0, sizes=SIZES, gain=2.0):
    rng = np.random.default_rng(seed)
    dev = LayeredSimulator(sizes, gain=gain, sweeps=20000, tol=1e-14, warm_start=False)
    net = dev.net
    p = ly.init_params(net, rng, gains=2.0)
    ws = [np.clip(W, 0.05, None) for W in p.weights]   # every resistor present
    dev.set_parameters(ws, [0.1 * rng.standard_normal(n) for n in sizes[1:]])
    x = rng.uniform(0, 1, (5, sizes[0] // 2))
    y = rng.integers(0, sizes[-1], 5)
    return dev, x, y


def _mean_loss(dev, x, y, loss):
    v = ep.free_phase(dev, x)
    return loss(v[-1], y)[0].mean()


def _fd_grads(dev, x, y, loss, eps=1e-5):
    """Central finite differences of the batch-mean loss w.r.t. every W and b."""
    ws, bs = dev.conductances(), dev.biases()
    nw = len(ws)

    def mean_loss(arrays):
        dev.set_parameters(arrays[:nw], arrays[nw:])
        return _mean_loss(dev, x, y, loss)
    grads = central_differences(mean_loss, ws + bs, eps)
    dev.set_parameters(ws, bs)
    return np.concatenate([g.ravel() for g in grads])


def _ep_vec(dev, x, y, loss, cfg):
    r = ep.ep_step(dev, x, y, loss, cfg)
    return np.concatenate([g.ravel() for g in r.grad_w + r.grad_b])


def _cos(a, b):
    return a @ b / np.linalg.norm(a) / np.linalg.norm(b)


@pytest.fixture(scope="module")
def setup():
    dev, x, y = _device()
    loss = losses.Loss("mse")
    return dev, x, y, loss, _fd_grads(dev, x, y, loss)


@pytest.mark.parametrize("nudging", ["conductance", "current"])
def test_centered_matches_finite_differences(setup, nudging):
    dev, x, y, loss, g_fd = setup
    g = _ep_vec(dev, x, y, loss, ep.EPConfig("centered", nudging, 1e-3))
    assert _cos(g, g_fd) >= 0.999
    assert np.linalg.norm(g - g_fd) / np.linalg.norm(g_fd) < 1e-3


def test_bias_orders_one_sided_vs_centered(setup):
    """Error of one-sided EP ~ beta, of centered EP ~ beta^2 (seed 001, Lemma 2)."""
    dev, x, y, loss, g_fd = setup
    betas = np.array([0.08, 0.04, 0.02, 0.01])
    err = {}
    for est in ("one-sided", "centered"):
        err[est] = [np.linalg.norm(_ep_vec(dev, x, y, loss, ep.EPConfig(est, "conductance", b))
                                   - g_fd) for b in betas]
    s1 = np.polyfit(np.log(betas), np.log(err["one-sided"]), 1)[0]
    s2 = np.polyfit(np.log(betas), np.log(err["centered"]), 1)[0]
    assert 0.8 < s1 < 1.2, s1
    assert 1.7 < s2 < 2.3, s2
    assert err["centered"][-1] < err["one-sided"][-1]


def test_negative_and_random_estimators(setup):
    dev, x, y, loss, g_fd = setup
    g_neg = _ep_vec(dev, x, y, loss, ep.EPConfig("negative", "current", 1e-4))
    assert _cos(g_neg, g_fd) >= 0.999
    rng = np.random.default_rng(0)
    r = ep.ep_step(dev, x, y, loss, ep.EPConfig("random", "current", 1e-4), rng)
    g = np.concatenate([a.ravel() for a in r.grad_w + r.grad_b])
    assert _cos(g, g_fd) >= 0.999 and r.betas[0] * r.betas[1] == 0


def test_cross_entropy_and_differential_readout():
    dev, x, y = _device(seed=1, sizes=(6, 8, 6))
    loss = losses.Loss("xent", differential=True, scale=2.0)
    y = y % 3
    g_fd = _fd_grads(dev, x, y, loss)
    g = _ep_vec(dev, x, y, loss, ep.EPConfig("centered", "current", 1e-3))
    assert _cos(g, g_fd) >= 0.999
    with pytest.raises(ValueError):
        ep.ep_step(dev, x, y, loss, ep.EPConfig("centered", "conductance", 0.1))


def test_loss_gradients_match_finite_differences():
    rng = np.random.default_rng(3)
    v = rng.standard_normal((4, 6))
    y = rng.integers(0, 3, 4)
    for loss in (losses.Loss("mse", True), losses.Loss("mse"), losses.Loss("xent", True, 1.7)):
        yy = y if loss.differential else y
        _, g = loss(v, yy)
        num = np.zeros_like(v)
        for idx in np.ndindex(v.shape):
            d = np.zeros_like(v)
            d[idx] = 1e-6
            num[idx] = (loss(v + d, yy)[0][idx[0]] - loss(v - d, yy)[0][idx[0]]) / 2e-6
        np.testing.assert_allclose(g, num, atol=1e-7)


def test_negative_beta_instability_is_reported():
    dev, x, y = _device(seed=2)
    big = 100.0
    with pytest.warns(RuntimeWarning, match="unstable"):
        r = ep.ep_step(dev, x, y, losses.Loss("mse"), ep.EPConfig("centered", "conductance", big))
    assert r.unstable > 0
    assert all(np.all(np.isfinite(g)) for g in r.grad_w)


def test_training_lowers_loss_and_keeps_conductances_in_range():
    rng = np.random.default_rng(4)
    sizes, g_min, g_max = (8, 12, 2), 1e-3, 0.3
    dev = LayeredSimulator(sizes, gain=4.0, g_min=g_min, g_max=g_max, sweeps=8)
    p = ly.init_params(dev.net, rng)
    dev.set_parameters(p.weights, p.biases)
    X = rng.uniform(0, 1, (64, 4))
    Y = (X[:, 0] + X[:, 1] > X[:, 2] + X[:, 3]).astype(int)
    loss = losses.Loss("mse")
    cfg = ep.EPConfig("centered", "conductance", 0.5)
    sgd = optim.SGDConfig(lrs=(0.05,), momentum=0.5)
    st = optim.sgd_init(sgd, dev.conductances() + dev.biases())

    def total_loss():
        return np.mean(loss(ep.free_phase(dev, X)[-1], Y)[0])

    before = total_loss()
    for epoch in range(30):
        for i in range(0, 64, 8):
            r = ep.ep_step(dev, X[i:i + 8], Y[i:i + 8], loss, cfg, rng)
            d, st = optim.sgd_update(sgd, st, r.grad_w + r.grad_b)
            dev.program(*optim.split(d, 2))
    after = total_loss()
    assert after < 0.7 * before
    for W in dev.conductances():
        assert W.min() >= g_min and W.max() <= g_max
    # the conductance sums the simulator keeps up to date while programming are exact
    # (input nodes are fixed: their sums are not needed and not kept)
    o = dev.net.offsets[1]
    np.testing.assert_allclose(dev._denom[o:], ly.conductance_sums(dev.params)[o:], rtol=1e-12)


def test_sgd_is_pure_and_decays():
    cfg = optim.SGDConfig(lrs=(0.1, 0.2), momentum=0.9, decay=0.5)
    g = [np.ones(3), np.ones(2)]
    s0 = optim.sgd_init(cfg, g)
    d1, s1 = optim.sgd_update(cfg, s0, g)
    assert np.all(s0.velocity[0] == 0)            # old state untouched
    np.testing.assert_allclose(d1[1], -0.2)
    d2, s2 = optim.sgd_update(cfg, optim.next_epoch(s1), g)
    np.testing.assert_allclose(d2[0], -0.1 * 0.5 * 1.9)
