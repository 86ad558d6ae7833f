"""The dense path for small linear circuits equals the general solver in every nudge mode,
certifies each node's KCL, and steps aside where it does not apply."""
import os

import numpy as np
import pytest

from circuitlearn.compile import compile_netlist
from circuitlearn.compile.builders import crossbar_netlist
from circuitlearn.device.netlist_device import NetlistDevice, match_trainable
from circuitlearn.netlist import read_netlist
from circuitlearn.netlist.model import Element, Netlist
from circuitlearn.solve.kernels_certificate import kcl_ratio
from circuitlearn.solve import solve
from circuitlearn.solve.linalg.dense import DenseLinear, DenseUnsuitable, unsuitable_reason

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
NET = os.path.join(ROOT, "netlists")


def _random_network_with_current_source():
    c = compile_netlist(read_netlist(os.path.join(NET, "random_network_30.cir")))
    net = c.to_netlist()
    # a floating voltage source stacked on V1 and a current source: the source tree and Q
    extra = (Element("vstack", "V", ("top", "n1"), 0.25), Element("rtop", "R", ("top", "n9"), 3e3),
             Element("ib", "I", ("n4", "n13"), 2e-4))
    return compile_netlist(Netlist(net.title, net.elements + extra, net.models))


def _crossbar():
    rng = np.random.default_rng(2)
    return compile_netlist(crossbar_netlist(rng.uniform(1e-5, 1e-4, (6, 5)), output_load=1e-3))


CASES = [(_random_network_with_current_source, ["v1", "v2", "v3"], ["n6", "n16"]),
         (_crossbar, [f"vrow{i}" for i in range(6)], [f"col{j}" for j in range(5)])]


@pytest.mark.parametrize("case", CASES, ids=["random+sources", "crossbar"])
def test_dense_path_equals_the_general_solver_in_every_mode(case):
    make, inputs, outputs = case
    c = make()
    devs = [NetlistDevice(c, inputs, outputs, match_trainable(c.resistor_names, ["r*"]),
                          1e-7, 1.0, tol=1e-13, dense=d) for d in (True, False)]
    rng = np.random.default_rng(0)
    x = rng.uniform(-1, 1, (4, len(inputs)))
    p = len(outputs)
    g = devs[0].conductances() * rng.uniform(0.5, 2.0, devs[0].n_trainable)
    values = {"inject": rng.uniform(-1e-4, 1e-4, (4, p)), "target": rng.uniform(-.3, .3, (4, p))}
    for d in devs:
        d.set_conductances(g)
    out = []
    for d in devs:
        d.set_inputs(x)
        states = [d.measure()]
        d.inject_currents(values["inject"])
        states.append(d.measure())
        d.connect_targets(0.02, values["target"])
        states.append(d.measure())
        d.connect_targets(-1e-6, values["target"])
        states.append(d.measure())
        d.clamp_outputs(values["target"])
        states.append(d.measure())
        d.clear_nudge()
        out.append(states)
    assert devs[0].last_status()["method"] == "dense"
    assert devs[1].last_status().get("method") != "dense"
    for a, b in zip(*out):
        np.testing.assert_allclose(a, b, rtol=0, atol=1e-11 * np.abs(b).max())
    # programming changes the answer the same way on both paths
    for d in devs:
        d.program(np.full(d.n_trainable, 1e-5))
        d.set_inputs(x)
    np.testing.assert_allclose(devs[0].measure(), devs[1].measure(), atol=1e-11)


def test_dense_free_solve_matches_solve_and_its_certificate_can_fail():
    c = _random_network_with_current_source()
    S = np.tile(c.default_sources(), (3, 1))
    S[:, 0] = [0.1, -0.7, 1.3]
    probe = [c.node_index("n6")]
    d = DenseLinear(c, probe)
    d.set_conductance(c.conductance)
    V, ratio = d.solve(S)
    ref = solve(c, S, diodes="ideal", tol=1e-13)
    np.testing.assert_allclose(V, ref.voltages, atol=1e-12)
    assert ratio <= 1.0
    # a wrong voltage at one free node breaks that node's KCL, however small the node's currents
    bad = V.copy()
    bad[1, c.node_index("n9")] += 1e-6
    inn = c.isource_nodes
    nv = len(c.vsource_names)
    inj = np.ascontiguousarray(np.concatenate([S[:, nv:], -S[:, nv:]], axis=1).T)
    nodes = np.concatenate([inn[:, 1], inn[:, 0]]).astype(np.int64)
    check = np.ones(c.n_nodes, bool)
    check[0] = False
    for k in range(len(c.vsource_names)):
        check[c.vsource_nodes[k, 0]] = False
    check[c.node_index("top")] = False
    args = (c.resistor_nodes[:, 0].copy(), c.resistor_nodes[:, 1].copy(), c.conductance.copy(),
            inj, nodes, check, 1e-9, 1e-12)
    assert kcl_ratio(np.ascontiguousarray(V.T), *args) <= 1.0
    assert kcl_ratio(np.ascontiguousarray(bad.T), *args) > 1e3


def test_dense_path_steps_aside_where_it_does_not_apply():
    diode = compile_netlist(read_netlist(os.path.join(NET, "diode_crossbar_3x2.cir")))
    assert "diodes" in unsuitable_reason(diode)
    with pytest.raises(DenseUnsuitable):
        DenseLinear(diode, [1])
    # a floating node: the Cholesky factor fails, the device falls back to the general solver
    c = compile_netlist(read_netlist(os.path.join(NET, "crossbar_3x2.cir")))
    net = c.to_netlist()
    extra = (Element("rf1", "R", ("fa", "fb"), 1e3),)
    cf = compile_netlist(Netlist(net.title, net.elements + extra, net.models), check=False)
    with pytest.raises(DenseUnsuitable, match="singular"):
        d = DenseLinear(cf, [cf.node_index("c1")])
        d.set_conductance(cf.conductance)
        d.solve(np.tile(cf.default_sources(), (1, 1)))
