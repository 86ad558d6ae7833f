"""Regenerate the bundled teacher data sets of the netlist-task examples.

* ``experiments/configs/crossbar_teacher.csv``: 240 input vectors x in [-1, 1]^3
  applied to ``netlists/crossbar_3x2.cir`` with *teacher* cross-point
  resistances; targets are the teacher's two column voltages.  The student
  (``crossbar_regression.toml``) starts from the deck's uniform 2k values.
* ``netlists/random_network_30.cir`` and ``experiments/configs/random_network_teacher.csv``:
  a 30-node, 62-edge random resistor network (a ring plus random chords, so it
  is connected), three input sources, two output nodes; targets from a teacher
  with random conductances, the deck itself holds a different random student
  (the Stern et al. 2021 / Dillavou et al. 2022 setting).

Run: ``python experiments/make_task_data.py`` (deterministic, seed 0).
"""
from __future__ import annotations

import os

import numpy as np

from circuitlearn.compile import compile_netlist
from circuitlearn.netlist import read_netlist
from circuitlearn.solve import solve

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TEACHER_XBAR = {"rx11": 1.2e3, "rx12": 4.7e3, "rx21": 3.3e3, "rx22": 1.5e3,
                "rx31": 6.8e3, "rx32": 2.2e3}


def teacher_outputs(circuit, inputs, outputs, x):
    src = list(circuit.source_names)
    S = np.tile(circuit.default_sources(), (len(x), 1))
    S[:, [src.index(n) for n in inputs]] = x
    res = solve(circuit, S, diodes="ideal", tol=1e-13)
    assert res.success, res.message
    return res.voltages[:, [circuit.node_index(n) for n in outputs]]


def write_csv(path, x, y):
    cols = [f"x{i}" for i in range(x.shape[1])] + [f"y{i}" for i in range(y.shape[1])]
    np.savetxt(path, np.concatenate([x, y], axis=1), delimiter=",", header=",".join(cols),
               comments="", fmt="%.10g")


def crossbar(rng):
    c = compile_netlist(read_netlist(os.path.join(ROOT, "netlists", "crossbar_3x2.cir")))
    g = c.conductance.copy()
    for k, name in enumerate(c.resistor_names):
        if name in TEACHER_XBAR:
            g[k] = 1.0 / TEACHER_XBAR[name]
    x = rng.uniform(-1.0, 1.0, (240, 3))
    y = teacher_outputs(c.with_conductance(g), ["v1", "v2", "v3"], ["c1", "c2"], x)
    write_csv(os.path.join(ROOT, "experiments", "configs", "crossbar_teacher.csv"), x, y)


def random_network(rng, n=30, chords=32):
    edges = [(i, (i + 1) % n) for i in range(n)]
    have = {tuple(sorted(e)) for e in edges}
    while len(edges) < n + chords:
        a, b = (int(v) for v in rng.integers(0, n, 2))
        if a != b and tuple(sorted((a, b))) not in have:
            have.add(tuple(sorted((a, b))))
            edges.append((a, b))
    node = lambda i: "0" if i == 0 else f"n{i}"  # noqa: E731 -- node 0 of the ring is ground
    student = rng.uniform(1e3, 1e4, len(edges))
    teacher = rng.uniform(1e3, 1e4, len(edges))
    lines = ["Random resistor network: 30 nodes, 62 edges, inputs at n1 n11 n21, outputs n6 n16",
             "* made by experiments/make_task_data.py (seed 0); the values are the untrained student",
             "V1 n1 0 DC 0.5", "V2 n11 0 DC -0.5", "V3 n21 0 DC 1"]
    lines += [f"R{k} {node(a)} {node(b)} {student[k]:.6g}" for k, (a, b) in enumerate(edges)]
    lines += [".op", ".end", ""]
    path = os.path.join(ROOT, "netlists", "random_network_30.cir")
    with open(path, "w") as fh:
        fh.write("\n".join(lines))
    c = compile_netlist(read_netlist(path))
    g = np.array([1.0 / teacher[int(name[1:])] for name in c.resistor_names])
    x = rng.uniform(-1.0, 1.0, (240, 3))
    y = teacher_outputs(c.with_conductance(g), ["v1", "v2", "v3"], ["n6", "n16"], x)
    write_csv(os.path.join(ROOT, "experiments", "configs", "random_network_teacher.csv"), x, y)


#: the DRN example: sizes, input gain, conductance floor (S)
DRN_SIZES, DRN_GAIN, DRN_G_MIN = (32, 16, 10), 4.0, 1e-3


def drn_digits(rng):
    from sklearn.datasets import load_digits
    from circuitlearn.compile.builders import drn_netlist
    from circuitlearn.netlist.writer import write_netlist
    from circuitlearn.solve.layered import network as ly
    d = load_digits()
    x = (d.data / 16.0).reshape(-1, 4, 2, 4, 2).mean(axis=(2, 4)).reshape(-1, 16)
    np.savez_compressed(os.path.join(ROOT, "experiments", "configs", "digits_4x4.npz"),
                        x=x, label=d.target.astype(np.int64))
    p = ly.init_params(ly.make_network(DRN_SIZES), rng, g_min=DRN_G_MIN)
    net = drn_netlist(p.weights, p.biases, gain=DRN_GAIN,
                      title="DRN 32-16-10 for 4x4 digits (untrained, published init, seed 0)")
    with open(os.path.join(ROOT, "netlists", "drn_digits_4x4.cir"), "w") as fh:
        fh.write(write_netlist(net))
    n = DRN_SIZES[0] // 2
    names = ", ".join(f'"vx{i}"' for i in range(2 * n))
    scales = ", ".join([f"{DRN_GAIN:g}"] * n + [f"{-DRN_GAIN:g}"] * n)
    toml = f"""# A deep resistive network 32-16-10 written as a plain deck (netlists/drn_digits_4x4.cir,
# made by experiments/make_task_data.py) trained through the general path: the deck's
# 32 input sources carry gain * [x, -x] (feature i drives vx{{i}} at +{DRN_GAIN:g} V and
# vx{{i+16}} at -{DRN_GAIN:g} V per unit), its 672 resistors are trained, the bias current
# sources stay as written (zero).  Digits average-pooled to 4x4 (experiments/configs/digits_4x4.npz).
#   circuitlearn train --config experiments/configs/drn_digits_4x4.toml --out runs/drn_deck
[circuit]
netlist = "../../netlists/drn_digits_4x4.cir"
inputs = [{names}]
input_scale = [{scales}]
outputs = [{", ".join(f'"o{k}"' for k in range(DRN_SIZES[-1]))}]
trainable = ["r*"]
g_min = {DRN_G_MIN:g}
g_max = 1.0
diodes = "ideal"

[data]
path = "digits_4x4.npz"
features = ["x", "x"]               # the same 16 pixels twice: once for +x, once for -x
targets = ["label"]
kind = "classification"
test_fraction = 0.2

[algorithm]
rule = "ep"
estimator = "centered"
nudging = "conductance"
beta = 0.1
loss = "mse"
target_scale = 0.3                  # the "on" output at 0.3 V (inputs reach +-4 V)

[optim]
lr = 0.02
momentum = 0.9
decay = 0.9

[train]
epochs = 15
batch_size = 8
seed = 0
n_check = 5
"""
    with open(os.path.join(ROOT, "experiments", "configs", "drn_digits_4x4.toml"), "w") as fh:
        fh.write(toml)


if __name__ == "__main__":
    rng = np.random.default_rng(0)
    crossbar(rng)
    random_network(rng)
    drn_digits(np.random.default_rng(0))
    print("wrote crossbar_teacher.csv, random_network_30.cir, random_network_teacher.csv, "
          "drn_digits_4x4.cir, drn_digits_4x4.toml, digits_4x4.npz")
