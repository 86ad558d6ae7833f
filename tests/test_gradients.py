"""Exact (implicit-differentiation) gradients vs finite differences, and EP vs exact."""
import dataclasses
import json
import os
import subprocess
import sys

import numpy as np
import pytest

from circuitlearn.compile import builders
from circuitlearn.compile.circuit import compile_netlist
from circuitlearn.device.simulator import CircuitDevice, LayeredSimulator
from circuitlearn.learn import ep, gradients as gr, losses
from circuitlearn.solve.layered import network as ly
from circuitlearn.solve import solve
from finite_differences import central_differences

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _drn(seed=0, sizes=(6, 8, 3), gain=2.0, batch=4, vth=0.0):
    rng = np.random.default_rng(seed)
    net = ly.make_network(sizes, vth)
    p = ly.init_params(net, rng, gains=2.0)
    ws = [np.clip(W, 0.05, None) for W in p.weights]
    bs = [0.1 * rng.standard_normal(n) for n in sizes[1:]]
    x = rng.uniform(0, 1, (batch, sizes[0] // 2))
    y = rng.integers(0, sizes[-1], batch)
    return ws, bs, x, y, ly.input_voltages(x, gain)


def _fd_layered(ws, bs, v_in, y, loss, vth, eps=1e-6):
    nw = len(ws)

    def mean_loss(arrays):
        v = gr.layered_equilibrium(arrays[:nw], arrays[nw:], v_in, vth=vth)
        return loss(v[-1], y)[0].mean()
    return np.concatenate([g.ravel() for g in central_differences(mean_loss, ws + bs, eps)])


@pytest.mark.parametrize("loss,vth,sizes", [
    (losses.Loss("mse"), 0.0, (6, 8, 3)),
    (losses.Loss("xent", differential=True, scale=2.0), 0.05, (6, 8, 6)),
    (losses.Loss("mse"), 0.0, (4, 6, 4, 2)),          # two hidden layers
])
def test_layered_gradients_match_finite_differences(loss, vth, sizes):
    ws, bs, x, y, v_in = _drn(seed=1, sizes=sizes, vth=vth)
    y = y % (sizes[-1] // 2 if loss.differential else sizes[-1])
    free = gr.layered_equilibrium(ws, bs, v_in, vth=vth)
    net = ly.make_network(sizes, vth)
    h = np.concatenate(free[1:-1], axis=1)
    lo, hi = net.lo[net.offsets[1]:net.offsets[-2]], net.hi[net.offsets[1]:net.offsets[-2]]
    n_pinned = np.count_nonzero((h == lo) | (h == hi))
    assert 0 < n_pinned < h.size                         # both kinds of hidden node occur
    gw, gb = gr.layered_loss_gradients(ws, bs, free, y, loss, vth=vth)
    assert [g.shape for g in gw] == [W.shape for W in ws]
    assert [g.shape for g in gb] == [b.shape for b in bs]
    g = gr.flatten(gw, gb)
    g_fd = _fd_layered(ws, bs, v_in, y, loss, vth)
    assert np.linalg.norm(g - g_fd) / np.linalg.norm(g_fd) < 1e-6
    assert gr.cosine(g, g_fd) > 1 - 1e-10


def test_layered_equilibrium_is_exact_and_pinned_nodes_are_insensitive():
    ws, bs, x, y, v_in = _drn(seed=2, batch=1)
    free = gr.layered_equilibrium(ws, bs, v_in)
    params = ly.make_params(ly.make_network((6, 8, 3)), ws, bs)
    v = np.concatenate(free, axis=1)
    kcl = ly.kcl_residual(params, v)[0]
    h = free[1][0]
    pinned = h == 0.0
    assert pinned.any() and (~pinned).any()
    assert np.max(np.abs(kcl[:8][~pinned])) < 1e-13 and np.max(np.abs(kcl[8:])) < 1e-13
    # diode currents point the right way: first half held at V >= 0 (dE/dv >= 0 there)
    assert np.all(kcl[:4][pinned[:4]] >= 0) and np.all(kcl[4:8][pinned[4:]] <= 0)
    gw, gb = gr.layered_loss_gradients(ws, bs, free, y, losses.Loss("mse"))
    assert np.all(gb[0][pinned] == 0.0) and np.all(gw[0][:, pinned] == 0.0)
    assert np.all(gb[0][~pinned] != 0.0)


def test_layered_gradients_reject_bad_shapes():
    ws, bs, x, y, v_in = _drn()
    free = gr.layered_equilibrium(ws, bs, v_in)
    with pytest.raises(ValueError):
        gr.layered_gradients(ws, bs, free, np.zeros((4, 2)))


# ----------------------------------------------------------- general circuits
def _random_circuit(seed, rs=0.0, thresholds=False):
    c = compile_netlist(builders.random_resistor_diode_graph(
        30, n_diodes=8, n_sources=3, n_current_sources=4, seed=seed, thresholds=thresholds))
    if rs:
        c = dataclasses.replace(c, diode_rs=np.full(len(c.diode_names), rs))
    return c


def _node_loss(c, seed):
    rng = np.random.default_rng(seed)
    t, w = rng.standard_normal(c.n_nodes), rng.random(c.n_nodes)
    w[0] = 0.0

    def loss(V):
        return 0.5 * np.sum(w * (V - t) ** 2, axis=1), w * (V - t)
    return loss


@pytest.mark.parametrize("diodes,thresholds,rs", [
    ("ideal", False, 0.0), ("ideal", True, 0.0), ("ideal", False, 300.0),
    ("shockley", False, 0.0), ("shockley", False, 300.0)])
def test_circuit_gradients_match_finite_differences(diodes, thresholds, rs):
    c = _random_circuit(3, rs, thresholds)
    nv = len(c.vsource_names)
    S = np.tile(c.default_sources(), (2, 1))
    S[1, :nv] *= 0.5
    if diodes == "shockley":
        S[:, :nv] *= 3.0                                # drive the diodes into conduction
    loss = _node_loss(c, 1)
    r = solve(c, S, diodes=diodes, tol=1e-13)
    assert r.success
    G = gr.circuit_gradients(c, r, loss(r.voltages)[1], diodes=diodes)
    if diodes == "ideal":
        assert np.all(G.active.sum(axis=1) >= 1)        # some diodes conduct
    else:
        assert np.max(r.diode_currents) > 1e-5          # some diodes conduct hard
    num = np.zeros_like(G.conductance)
    for k in range(c.conductance.size):
        h = 1e-6 * c.conductance[k]
        vals = []
        for s in (1, -1):
            g = c.conductance.copy()
            g[k] += s * h
            vals.append(loss(solve(c.with_conductance(g), S, diodes=diodes, tol=1e-14).voltages)[0])
        num[:, k] = (vals[0] - vals[1]) / (2 * h)
    nums = np.zeros_like(G.sources)
    for k in range(c.n_sources):
        h = 1e-7 if k < nv else 1e-12
        vals = []
        for s in (1, -1):
            SS = S.copy()
            SS[:, k] += s * h
            vals.append(loss(solve(c, SS, diodes=diodes, tol=1e-14).voltages)[0])
        nums[:, k] = (vals[0] - vals[1]) / (2 * h)
    for a, b in ((G.conductance, num), (G.sources, nums)):
        assert np.max(np.abs(a - b)) <= 1e-5 * np.max(np.abs(b)), (a, b)
    assert G.isources.shape == (2, len(c.isource_names))


def test_circuit_gradients_agree_with_layered_adjoint_on_a_drn():
    sizes = (6, 8, 3)
    ws, bs, x, y, v_in = _drn(seed=4, sizes=sizes)
    loss = losses.Loss("mse")
    c = compile_netlist(builders.drn_netlist(ws, bs, gain=2.0))
    S = builders.drn_source_vector(x, sizes, gain=2.0, biases=bs)
    r = solve(c, S, diodes="ideal", tol=1e-13)
    vout = np.stack([r.node(f"o{k}") for k in range(sizes[-1])], axis=1)
    G = gr.circuit_gradients(c, r, gr.drn_node_gradient(c, loss(vout, y)[1]), diodes="ideal")
    gw, gb = gr.drn_circuit_gradients(c, G, sizes)
    free = gr.layered_equilibrium(ws, bs, v_in)
    lw, lb = gr.layered_loss_gradients(ws, bs, free, y, loss)
    a, b = gr.flatten(gw, gb), gr.flatten(lw, lb)
    assert np.linalg.norm(a - b) <= 1e-7 * np.linalg.norm(b)


def test_circuit_gradients_validate_inputs():
    c = _random_circuit(0)
    r = solve(c, c.default_sources(), tol=1e-12)
    with pytest.raises(ValueError):
        gr.circuit_gradients(c, r, np.zeros((1, c.n_nodes + 1)))
    with pytest.raises(ValueError):
        gr.circuit_gradients(c, r, np.full((1, c.n_nodes), np.nan))
    with pytest.raises(ValueError):
        gr.circuit_gradients(c, r, np.zeros((1, c.n_nodes)), diodes="pn")


# --------------------------------------------------------------- EP vs exact
@pytest.mark.parametrize("nudging,loss", [
    ("conductance", losses.Loss("mse")),
    ("current", losses.Loss("xent", differential=True, scale=2.0)),
])
def test_centered_ep_converges_to_exact_gradient_ideal_drn(nudging, loss):
    sizes = (8, 16, 4)
    rng = np.random.default_rng(5)
    dev = LayeredSimulator(sizes, gain=2.0, sweeps=100000, tol=1e-15, warm_start=False)
    p = ly.init_params(dev.net, rng, gains=2.0)
    dev.set_parameters([np.clip(W, 0.02, None) for W in p.weights],
                       [0.05 * rng.standard_normal(n) for n in sizes[1:]])
    x = rng.uniform(0, 1, (6, 4))
    y = rng.integers(0, 2 if loss.differential else 4, 6)
    gw, gb, _ = gr.device_exact_gradients(dev, x, y, loss)
    g_exact = gr.flatten(gw, gb)
    cos, err = [], []
    for beta in (1e-2, 1e-3):
        r = ep.ep_step(dev, x, y, loss, ep.EPConfig("centered", nudging, beta))
        g = gr.flatten(r.grad_w, r.grad_b)
        cos.append(gr.cosine(g, g_exact))
        err.append(np.linalg.norm(g - g_exact) / np.linalg.norm(g_exact))
    assert cos[-1] >= 0.999
    if nudging == "conductance":
        assert err[-1] < 1e-4 and err[-1] < 0.05 * err[0]      # O(beta^2)
    else:
        # a fixed injected current on a piecewise-linear circuit (active set unchanged):
        # v(beta) is linear in beta, so the centered contrast is exact up to roundoff
        assert max(err) < 1e-9


def test_centered_ep_converges_to_exact_gradient_shockley_circuit():
    """EP by current injection through the general Shockley solver vs the linearised adjoint."""
    sizes = (6, 6, 3)
    rng = np.random.default_rng(0)
    ws = [rng.uniform(0.05, 1, (a, b)) for a, b in zip(sizes[:-1], sizes[1:])]
    bs = [0.01 * rng.standard_normal(n) for n in sizes[1:]]
    x, y = rng.uniform(0, 1, (3, 3)), rng.integers(0, 3, 3)
    params = {"n": 1.0, "is": 1e-9}
    dev = CircuitDevice(sizes, gain=10.0, g_min=1e-3, backend="numba", diodes="shockley",
                        builder_kwargs={"diode_params": params}, solve_kwargs={"tol": 1e-13})
    dev.set_parameters(ws, bs)
    loss = losses.Loss("mse")
    # exact: the same circuit solved directly, adjoint on the linearised circuit
    c = compile_netlist(builders.drn_netlist(ws, bs, gain=10.0, diode_params=params))
    r = solve(c, builders.drn_source_vector(x, sizes, gain=10.0, biases=bs),
              diodes="shockley", tol=1e-13)
    assert r.success and np.max(r.diode_currents) > 1e-3       # diodes conduct
    vout = np.stack([r.node(f"o{k}") for k in range(sizes[-1])], axis=1)
    G = gr.circuit_gradients(c, r, gr.drn_node_gradient(c, loss(vout, y)[1]), diodes="shockley")
    g_exact = gr.flatten(*gr.drn_circuit_gradients(c, G, sizes))
    dw, db, free = gr.device_exact_gradients(dev, x, y, loss)   # same, read through the device
    assert np.array_equal(gr.flatten(dw, db), g_exact)
    np.testing.assert_allclose(free[-1], vout, rtol=0, atol=1e-12)
    res = ep.ep_step(dev, x, y, loss, ep.EPConfig("centered", "current", 1e-3))
    g = gr.flatten(res.grad_w, res.grad_b)
    assert gr.cosine(g, g_exact) >= 0.999
    assert np.linalg.norm(g - g_exact) / np.linalg.norm(g_exact) < 1e-4


def test_gradient_bias_experiment_smoke(tmp_path):
    out = tmp_path / "gb"
    proc = subprocess.run([sys.executable, os.path.join(ROOT, "experiments", "gradient_bias.py"),
                           "--smoke", "--out", str(out)],
                          capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr
    summary = json.loads(proc.stdout.strip().splitlines()[-1])
    assert 0.8 <= summary["slope_one_sided"] <= 1.2
    assert 1.8 <= summary["slope_centered"] <= 2.2
    assert summary["cosine_centered_min_beta"] >= 0.999
    assert summary["active_set_changes"] == 0 and summary["unstable"] == 0
    assert 0.8 <= summary["shockley_slope_one_sided"] <= 1.2
    assert 1.8 <= summary["shockley_slope_centered"] <= 2.2
    assert summary["shockley_cosine_centered_min_beta"] >= 0.999
    assert (out / "gradient_bias.png").stat().st_size > 1000
    data = json.loads((out / "errors.json").read_text())
    assert len(data["betas"]) >= 3 and data["betas"][-1] / data["betas"][0] >= 99


def test_exact_gradients_agree_across_devices_and_with_zero_conductances():
    """Published init (about half the conductances exactly 0, one hidden node isolated):
    the layered adjoint on LayeredSimulator and the circuit adjoint on an ideal-diode
    CircuitDevice give the same gradient, and centered EP converges to it."""
    sizes = (8, 10, 3)
    rng = np.random.default_rng(7)
    sim = LayeredSimulator(sizes, gain=3.0, sweeps=100000, tol=1e-15, warm_start=False)
    ws = ly.init_params(sim.net, rng).weights
    ws[0][:, 2] = 0.0
    ws[1][2, :] = 0.0
    assert np.mean(ws[0] == 0) > 0.3
    bs = [0.05 * rng.standard_normal(n) for n in sizes[1:]]
    bs[0][2] = 0.0
    sim.set_parameters(ws, bs)
    x, y = rng.uniform(0, 1, (5, 4)), rng.integers(0, 3, 5)
    loss = losses.Loss("mse")
    gw, gb, free = gr.device_exact_gradients(sim, x, y, loss)
    g = gr.flatten(gw, gb)
    assert np.all(np.isfinite(g))
    cir = CircuitDevice(sizes, gain=3.0, g_min=1e-12, diodes="ideal")
    cir.set_parameters(ws, bs)
    cw, cb, cfree = gr.device_exact_gradients(cir, x, y, loss)
    # g_min = 1e-12 S stands in for the missing resistors: agreement to ~1e-9
    assert np.linalg.norm(gr.flatten(cw, cb) - g) <= 1e-8 * np.linalg.norm(g)
    r = ep.ep_step(sim, x, y, loss, ep.EPConfig("centered", "conductance", 1e-3))
    assert gr.cosine(gr.flatten(r.grad_w, r.grad_b), g) >= 0.999
