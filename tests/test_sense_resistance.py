"""Sense resistors on a DRN's outputs: part of the circuit the network is trained,
differentiated, exported and checked in ngspice with.

A load ``g_s`` from each output node to ground must show in every solver alike (the
layered relaxation, the compiled circuit, ngspice), in the energy and in the KCL
residual, and the exact gradient must be that of the loaded network."""
import json

import numpy as np
import pytest

from circuitlearn.cli import main
from circuitlearn.cli import train as cli_train
from circuitlearn.compile import builders, compile_netlist
from circuitlearn.device.simulator import CircuitDevice, LayeredSimulator
from circuitlearn.errors import ConfigError
from circuitlearn.learn import gradients
from circuitlearn.learn.losses import Loss
from circuitlearn.netlist import read_netlist
from circuitlearn.solve import solve
from circuitlearn.solve.layered import network as ly

SIZES = (8, 6, 3)


def _net(seed=0):
    rng = np.random.default_rng(seed)
    ws = [rng.uniform(0.05, 1.0, (a, b)) for a, b in zip(SIZES[:-1], SIZES[1:])]
    bs = [rng.normal(0, 0.05, n) for n in SIZES[1:]]
    return ws, bs, rng.random((5, SIZES[0] // 2))


def test_a_load_pulls_the_outputs_to_ground_the_same_in_every_solver():
    ws, bs, x = _net()
    gain, load = 2.0, 0.7
    v_in = ly.input_voltages(x, gain)
    free, res = ly.solve_layered(ws, bs, v_in, 100000, 1e-14)
    loaded, res = ly.solve_layered(ws, bs, v_in, 100000, 1e-14, load=load)
    assert res.success
    assert np.all(np.abs(loaded[-1]) < np.abs(free[-1]) + 1e-12)    # a divider to ground
    assert not np.allclose(loaded[-1], free[-1])
    net = ly.make_network(SIZES, 0.0, load)
    params = ly.make_params(net, ws, bs)
    v = np.concatenate(loaded, axis=1)
    r = ly.kcl_residual(params, v)
    inside = ~((v[:, SIZES[0]:] <= net.lo[SIZES[0]:] + 1e-12) |
               (v[:, SIZES[0]:] >= net.hi[SIZES[0]:] - 1e-12))
    assert np.max(np.abs(r[inside])) < 1e-10                       # KCL with the load in it
    # the energy is minimal at the loaded state: moving an output raises it
    e0 = ly.energy(params, v)
    for k in range(SIZES[-1]):
        for d in (1e-4, -1e-4):
            w = v.copy()
            w[:, -SIZES[-1] + k] += d
            assert np.all(ly.energy(params, w) > e0)
    # the compiled deck (sense resistors rs{k}) and its circuit solve agree
    nl = builders.drn_netlist(ws, bs, x=x[0], gain=gain, load=load)
    assert sum(e.name.startswith("rs") for e in nl.elements) == SIZES[-1]
    c = compile_netlist(nl)
    got = solve(c, c.default_sources()[None], diodes="ideal").voltages[0]
    np.testing.assert_allclose([got[c.node_index(f"o{k}")] for k in range(3)], loaded[-1][0],
                               atol=1e-10)
    w_back, b_back, sizes = builders.drn_arrays(nl)        # the loads are not weights
    assert sizes == list(SIZES)
    for a, b in zip(w_back, ws):
        np.testing.assert_allclose(a, b, rtol=1e-12)


def test_devices_carry_the_load_through_programming():
    ws, bs, x = _net(1)
    load = 0.4
    sim = LayeredSimulator(SIZES, 2.0, 0.0, np.inf, load=load, sweeps=400, tol=1e-14)
    cd = CircuitDevice(SIZES, 2.0, 1e-9, np.inf, backend="numba", load=load)
    for dev in (sim, cd):
        dev.set_parameters(ws, bs)
        dev.program([0.01 * np.ones_like(w) for w in ws])
        dev.set_inputs(x)
    want, _ = ly.solve_layered([w + 0.01 for w in ws], bs, ly.input_voltages(x, 2.0), 100000,
                               1e-14, load=load)
    np.testing.assert_allclose(sim.measure()[-1], want[-1], atol=1e-9)
    np.testing.assert_allclose(cd.measure()[-1], want[-1], atol=1e-9)


def test_exact_gradients_of_the_loaded_network_match_finite_differences():
    ws, bs, x = _net(2)
    gain, load = 2.0, 0.9
    labels = np.array([0, 1, 2, 1, 0])
    loss = Loss("mse", False, 1.0)
    v_in = ly.input_voltages(x, gain)

    def total(ws_):
        free = gradients.layered_equilibrium(ws_, bs, v_in, load=load)
        return float(np.mean(loss(free[-1], labels)[0]))

    free = gradients.layered_equilibrium(ws, bs, v_in, load=load)
    gw, _ = gradients.layered_loss_gradients(ws, bs, free, labels, loss, load=load)
    h = 1e-6
    for l, (i, k) in ((0, (1, 2)), (1, (3, 0)), (1, (5, 2))):
        wp = [w.copy() for w in ws]
        wm = [w.copy() for w in ws]
        wp[l][i, k] += h
        wm[l][i, k] -= h
        fd = (total(wp) - total(wm)) / (2 * h)
        assert gw[l][i, k] == pytest.approx(fd, rel=1e-4, abs=1e-9)
    # the load is not a bystander: without it the gradient differs
    gw0, _ = gradients.layered_loss_gradients(
        ws, bs, gradients.layered_equilibrium(ws, bs, v_in), labels, loss)
    assert not np.allclose(gw0[1], gw[1])


def test_train_with_sense_resistors_exports_them_and_ngspice_agrees(tmp_path, capsys):
    out = tmp_path / "run"
    rc = main(["train", "--hidden", "16", "--n-train", "160", "--n-test", "60",
               "--batch-size", "8", "--nudging", "current", "--lr", "0.05,0.02",
               "--epochs", "2", "--no-progress", "--g-max", "1",
               "--device-set", "g_window=[1e-6, 1e-3]", "--device-set", "input_range=0.2",
               "--device-set", "sense_resistance=1e5", "--n-check", "3", "--out", str(out)])
    assert rc == 0
    s = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert s["ngspice"]["agree"] == 3
    assert s["ngspice"]["max_abs_dv_out"] < 1e-3
    rs = {e.name: e.value for e in read_netlist(str(out / "trained.cir")).elements
          if e.name.startswith("rs")}
    assert len(rs) == 10 and all(v == pytest.approx(1e5) for v in rs.values())


def test_a_bad_sense_resistance_is_a_located_error(tmp_path):
    with pytest.raises(ConfigError, match="device.sense_resistance"):
        cli_train.load_config(None, {}, {"sense_resistance": -5})
    with pytest.raises(ConfigError, match="device.sense_resistance"):
        cli_train.load_config(None, {}, {"sense_resistance": "big"})
