"""The spanning-forest preconditioned CG (circuitlearn.solve.linalg.spd) against direct solves."""
import numpy as np
import pytest
import scipy.sparse as sp
import scipy.sparse.linalg as spla

from circuitlearn.compile import compile_netlist, crossbar_array_netlist
from circuitlearn.compile.builders import lattice_resistor_diode_graph, random_resistor_diode_graph
from circuitlearn.netlist.model import Netlist
from circuitlearn.solve.assemble import prepared
from circuitlearn.solve.linalg.kernels_krylov import forest_apply, forest_factor
from circuitlearn.solve.linalg.spd import ForestCG, forest_cg


def laplacian(net):
    lin = Netlist(net.title, tuple(e for e in net.elements if e.kind != "D"), ())
    c = compile_netlist(lin)
    red = prepared(c)["red"]
    S = c.default_sources()[None]
    return red.Lff.tocsr(), np.asarray(red.rhs(S, red.fixed_voltages(S)))[:, 0]


def networks():
    rng = np.random.default_rng(0)
    g = 10 ** rng.uniform(-6, -4, (24, 24))
    yield "crossbar", crossbar_array_netlist(g, inputs=rng.uniform(-0.2, 0.2, 24), r_wire=2.0,
                                             r_driver=10.0, r_sense=5.0)
    yield "random", random_resistor_diode_graph(1500, seed=2)
    yield "lattice", lattice_resistor_diode_graph(30, 30, seed=2)


@pytest.mark.parametrize("name,net", list(networks()), ids=lambda v: v if isinstance(v, str) else "")
def test_forest_pcg_equals_the_direct_solve(name, net):
    A, b = laplacian(net)
    cg = ForestCG(A)
    assert cg.name == "forest-pcg"
    x = np.zeros(A.shape[0])
    it = cg.solve(b, x, 1e-13, 5000)
    assert 0 < it < 5000
    ref = spla.spsolve(A.tocsc(), b)
    assert np.max(np.abs(x - ref)) <= 1e-10 * max(1.0, np.max(np.abs(ref)))
    # better than Jacobi on every topology (on the crossbar by far)
    n = A.shape[0]
    xj = np.zeros(n)
    from circuitlearn.solve.linalg.kernels_krylov import pcg
    itj = pcg(cg.indptr, cg.indices, cg.data, np.arange(n), np.full(n, -1), np.zeros(n),
              A.diagonal().copy(), b, xj, 1e-13, 20000)
    assert it < itj
    if name == "crossbar":
        assert 5 * it < itj


def test_the_forest_factor_is_exact_on_a_tree():
    """On a matrix that is its own forest plus diagonal (a grounded chain and a star) one
    preconditioner application is the exact solve."""
    rng = np.random.default_rng(1)
    n = 40
    g = rng.uniform(0.1, 2.0, n - 1)
    A = sp.diags([np.r_[g, 0] + np.r_[0, g] + np.r_[0.3, np.zeros(n - 1)], -g, -g], [0, 1, -1]).tocsr()
    cg = ForestCG(A)
    b = rng.normal(size=n)
    z = np.empty(n)
    forest_apply(cg.order, cg.parent, cg.a, cg.piv, b[cg.perm], z)   # renumbered by the forest
    x = np.empty(n)
    x[cg.perm] = z
    np.testing.assert_allclose(A @ x, b, atol=1e-12)
    x = np.zeros(n)
    assert cg.solve(b, x, 1e-14, 50) <= 2


def test_a_matrix_not_diagonally_dominant_falls_back_to_jacobi():
    rng = np.random.default_rng(2)
    Q = rng.normal(size=(30, 30))
    A = sp.csr_matrix(Q @ Q.T + 0.5 * np.eye(30))     # SPD, positive off-diagonals, not dominant
    cg = ForestCG(A)
    b = rng.normal(size=30)
    x = np.zeros(30)
    if cg.name == "jacobi-pcg":
        assert np.all(cg._parent_used == -1)
    it = cg.solve(b, x, 1e-12, 2000)
    assert 0 < it < 2000
    np.testing.assert_allclose(A @ x, b, atol=1e-8)
    # and the factor reports a non-positive pivot rather than dividing by it
    piv = np.empty(2)
    assert not forest_factor(np.array([0, 1]), np.array([-1, 0]), np.array([0.0, 2.0]),
                             np.array([1.0, 1.0]), piv)


def test_refactor_keeps_the_forest_and_takes_new_values():
    A, b = laplacian(random_resistor_diode_graph(800, seed=5))
    cg = ForestCG(A)
    A2 = A.copy()
    A2.data = A2.data * 1.7
    again = forest_cg(A2, cg)
    assert again is cg and cg.same_pattern(A2)
    x = np.zeros(A.shape[0])
    cg.solve(b, x, 1e-13, 5000)
    np.testing.assert_allclose(A2 @ x, b, atol=1e-9 * np.abs(b).max())
    other = forest_cg(A[:-1, :-1], cg)
    assert other is not cg
