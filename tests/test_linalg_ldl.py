"""Batched sparse LDL^T (linalg.ldl, linalg.kernels_ldl): dense-solve agreement and the Shockley Newton path."""
from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from circuitlearn.compile.builders import drn_netlist, drn_source_vector, random_resistor_diode_graph
from circuitlearn.compile.circuit import compile_netlist
from circuitlearn.solve.linalg import kernels_ldl as kl
from circuitlearn.solve.linalg import ldl
from circuitlearn.solve.shockley import kernels_newton as kn
from circuitlearn.solve import solve


def _bipartite(rng, h=100, o=10, p=0.5):
    e = np.array([(i, h + j) for i in range(h) for j in range(o) if rng.random() < p])
    return h + o, e[:, 0], e[:, 1]


def _random_graph(rng, n=150, m=450):
    return n, rng.integers(0, n, m), rng.integers(0, n, m)


def _grid(rng, k=12):
    idx = np.arange(k * k).reshape(k, k)
    r = np.concatenate([idx[:, :-1].ravel(), idx[:-1, :].ravel()])
    c = np.concatenate([idx[:, 1:].ravel(), idx[1:, :].ravel()])
    return k * k, r, c


def _star_and_chain(rng, n=60):
    hub = np.zeros(n - 1, np.int64)
    return n, np.concatenate([hub, np.arange(1, n - 1)]), np.concatenate([np.arange(1, n), np.arange(2, n)])


def _complete(rng, n=25):
    r, c = np.triu_indices(n, 1)
    return n, r, c


def _isolated(rng, n=7):
    return n, np.zeros(0, np.int64), np.zeros(0, np.int64)


PATTERNS = [_bipartite, _random_graph, _grid, _star_and_chain, _complete, _isolated]


def _spd_batch(rng, n, rows, cols, B):
    """Laplacian-like SPD matrices on one pattern: random positive edge weights per sample
    and a positive diagonal shift (the conductance to fixed nodes), ``float64[B, n, n]``."""
    off = rows != cols
    r, c = rows[off], cols[off]
    mats = np.empty((B, n, n))
    for b in range(B):
        w = rng.uniform(1e-3, 1.0, r.size) * 10.0 ** rng.uniform(-3, 3)
        G = sp.coo_matrix((w, (r, c)), shape=(n, n)).toarray()
        G = G + G.T
        mats[b] = np.diag(G.sum(axis=1) + rng.uniform(1e-6, 1e-2, n)) - G
    return mats


@pytest.mark.parametrize("pattern", PATTERNS, ids=lambda f: f.__name__.strip("_"))
@pytest.mark.parametrize("B", [1, 37, 64])
def test_batched_ldl_solve_matches_dense_solves(pattern, B):
    rng = np.random.default_rng(hash(pattern.__name__) % 2**32 + B)
    n, rows, cols = pattern(rng)
    plan = ldl.ldl_plan(n, rows, cols)
    mats = _spd_batch(rng, n, rows, cols, B)
    vals = np.stack([plan.values_of(m) for m in mats])
    rhs = rng.normal(size=(B, n))
    out = np.full((B, n), np.nan)
    ok = kl.ldl_solve_batch(plan.colptr, plan.rowidx, plan.uptr, plan.ua, plan.ub, plan.udst,
                            plan.perm, vals, rhs, out)
    assert ok.all()
    for b in range(B):
        ref = np.linalg.solve(mats[b], rhs[b])
        # normwise backward-stable: relative error bounded by cond * eps
        cond = np.linalg.cond(mats[b])
        err = np.max(np.abs(out[b] - ref)) / np.max(np.abs(ref))
        assert err <= max(1e-12, 1e-15 * cond), (b, err, cond)
        res = np.max(np.abs(mats[b] @ out[b] - rhs[b])) / (np.max(np.abs(mats[b])) * np.max(np.abs(out[b])))
        assert res <= 1e-13


def test_plan_is_a_permutation_with_a_closed_fill_pattern():
    rng = np.random.default_rng(3)
    n, rows, cols = _random_graph(rng)
    plan = ldl.ldl_plan(n, rows, cols)
    assert np.array_equal(np.sort(plan.perm), np.arange(n))
    # every column starts with its diagonal, off-diagonal rows below it and sorted
    for j in range(n):
        seg = plan.rowidx[plan.colptr[j]:plan.colptr[j + 1]]
        assert seg[0] == j and np.all(np.diff(seg) > 0)
    assert np.all(plan.udst >= 0)
    # the symbolic pattern contains the numeric fill of a dense factorisation
    A = _spd_batch(rng, n, rows, cols, 1)[0][np.ix_(plan.perm, plan.perm)]
    Lnum = np.linalg.cholesky(A)
    pattern = np.zeros((n, n), bool)
    cidx = np.repeat(np.arange(n), np.diff(plan.colptr))
    pattern[plan.rowidx, cidx] = True
    assert not np.any((np.abs(Lnum) > 1e-14 * np.abs(Lnum).max()) & ~pattern)


def test_minimum_degree_eliminates_a_drn_hidden_layer_first():
    rng = np.random.default_rng(4)
    n, rows, cols = _bipartite(rng, h=100, o=10)
    plan = ldl.ldl_plan(n, rows, cols)
    assert set(plan.perm[:100].tolist()) == set(range(100))
    # hidden columns hold only output rows: nnz(L) <= n + edges + dense 10x10 block
    assert plan.nnz <= n + rows.size + 45


def test_plan_gives_up_when_the_fill_is_too_large():
    rng = np.random.default_rng(5)
    n, rows, cols = _complete(rng, 40)
    assert ldl.ldl_plan(n, rows, cols, max_updates=1000) is None
    assert ldl.ldl_plan(n, rows, cols, max_updates=40 ** 3) is not None


def test_non_positive_pivot_is_reported():
    n, rows, cols = 3, np.array([0, 1]), np.array([1, 2])
    plan = ldl.ldl_plan(n, rows, cols)
    A = np.array([[1.0, -1.0, 0.0], [-1.0, 1.0, -1.0], [0.0, -1.0, 2.0]])   # singular leading 2x2
    good = np.eye(3) * 2.0
    vals = np.stack([plan.values_of(A), plan.values_of(good)])
    out = np.empty((2, 3))
    ok = kl.ldl_solve_batch(plan.colptr, plan.rowidx, plan.uptr, plan.ua, plan.ub, plan.udst,
                            plan.perm, vals, np.ones((2, 3)), out)
    assert not ok[0] and ok[1]
    assert np.allclose(out[1], 0.5)


# ------------------------------------------------------------- Shockley Newton
def _both_paths(monkeypatch, c, S, **kw):
    import circuitlearn.solve.shockley.solver as shockley
    monkeypatch.setattr(shockley, "LDL_MAX_UPDATES", 2_000_000)
    new = solve(c, S, diodes="shockley", **kw)
    monkeypatch.setattr(shockley, "LDL_MAX_UPDATES", 0)
    monkeypatch.setattr(shockley, "SCHUR_MIN_FRACTION", 2.0)     # the plain dense kernel
    old = solve(c, S, diodes="shockley", **kw)
    return new, old


def _agree(new, old, vtol=1e-9):
    assert new.method == "newton-ldl" and old.method == "newton-dense"
    assert new.status == old.status and np.array_equal(new.sample_success, old.sample_success)
    assert np.max(np.abs(new.voltages - old.voltages)) <= vtol
    scale = max(1e-12, np.max(np.abs(old.diode_currents)))
    assert np.max(np.abs(new.diode_currents - old.diode_currents)) <= 1e-7 * scale


def test_shockley_ldl_matches_dense_newton_on_a_drn(monkeypatch):
    rng = np.random.default_rng(0)
    sizes = (392, 100, 10)
    W = [np.clip(rng.uniform(-1, 1, (sizes[i], sizes[i + 1])) / np.sqrt(sizes[i]), 0, None)
         for i in range(2)]
    b = [rng.normal(0, 0.01, sizes[1]), rng.normal(0, 0.01, sizes[2])]
    c = compile_netlist(drn_netlist(W, b, gain=100.0))
    x = (rng.random((40, sizes[0] // 2)) < 0.2) * rng.random((40, sizes[0] // 2))
    S = drn_source_vector(x, sizes, gain=100.0, biases=b)
    new, old = _both_paths(monkeypatch, c, S)
    assert new.success and old.success
    _agree(new, old)
    assert np.array_equal(new.nit, old.nit)


@pytest.mark.parametrize("seed", [14, 21])
def test_shockley_ldl_matches_dense_newton_on_a_random_graph(monkeypatch, seed):
    c = compile_netlist(random_resistor_diode_graph(300, seed=seed, thresholds=True))
    rng = np.random.default_rng(seed)
    S = c.default_sources() * rng.uniform(0.5, 1.5, (35, c.n_sources))
    new, old = _both_paths(monkeypatch, c, S)
    assert new.success and old.success
    _agree(new, old)


def test_shockley_ldl_keeps_maxiter_and_warm_start_semantics(monkeypatch):
    c = compile_netlist(random_resistor_diode_graph(120, seed=3))
    rng = np.random.default_rng(1)
    # more samples than lanes (kl.CHUNK): lanes are refilled as samples stop at maxiter
    S = c.default_sources() * rng.uniform(0.2, 3.0, (kl.CHUNK * 2 + 7, c.n_sources))
    new, old = _both_paths(monkeypatch, c, S, maxiter=3)
    assert new.status == old.status == 1 and new.nit == old.nit == 3
    assert np.array_equal(new.sample_success, old.sample_success)
    assert np.max(np.abs(new.voltages - old.voltages)) <= 1e-9
    full = solve(c, S, diodes="shockley")
    new, old = _both_paths(monkeypatch, c, S, x0=full.voltages)
    _agree(new, old)
    assert np.all(new.nit <= 2)


def test_shockley_ldl_absurd_warm_start_does_not_overflow(monkeypatch):
    # x0 puts 50 V across forward junctions: hot junctions must start at vcrit as in newton_dense
    c = compile_netlist(random_resistor_diode_graph(100, seed=15))
    x0 = np.where(np.arange(c.n_nodes) % 2 == 0, 50.0, -50.0)[None, :]
    x0[0, 0] = 0.0
    new, old = _both_paths(monkeypatch, c, None, x0=x0)
    assert new.success, new.message
    _agree(new, old)
    assert np.array_equal(new.nit, old.nit)


@pytest.mark.parametrize("maxiter", [2, 5, 200])
def test_newton_ldl_kernel_matches_newton_dense_per_sample(maxiter):
    """Per-sample status, iteration counts, voltages and currents of the two kernels."""
    from circuitlearn.solve.assemble import GMIN, prepared
    c = compile_netlist(random_resistor_diode_graph(150, seed=7, thresholds=True))
    hit = prepared(c)
    ex, red = hit["ex"], hit["red"]
    rng = np.random.default_rng(2)
    B = 2 * kl.CHUNK + 5
    S = c.default_sources() * rng.uniform(0.1, 4.0, (B, c.n_sources))
    nv = len(c.vsource_names)
    vfx = np.asarray(red.P @ S[:, :nv].T)
    rhs = np.ascontiguousarray(np.asarray(red.Bmat @ S.T).T)
    c0 = np.ascontiguousarray(np.asarray(red.Cx @ vfx).T)
    nf, d = red.free.size, ex.dnodes.shape[0]
    x0 = rng.normal(0, 0.5, (B, nf))
    out = {}
    for name in ("ldl", "dense"):
        x = x0.copy()
        st, nit, cur = np.zeros(B, np.int64), np.zeros(B, np.int64), np.zeros((B, d))
        if name == "ldl":
            L = ldl.reduced_plan(red, 10 ** 7)
            kn.newton_ldl(L["colptr"], L["rowidx"], L["uptr"], L["ua"], L["ub"], L["udst"],
                          L["perm"], L["mvals"], L["ia"], L["ic"], L["paa"], L["pcc"], L["pac"],
                          rhs, c0, ex.jp, GMIN, x, maxiter, 1e-10, st, nit, cur)
        else:
            kn.newton_dense(red.Lff.toarray(), rhs, red.fa, red.fc, c0, ex.jp,
                            GMIN, x, maxiter, 1e-10, st, nit, cur)
        out[name] = x, st, nit, cur
    (x1, s1, n1, i1), (x2, s2, n2, i2) = out["ldl"], out["dense"]
    assert np.array_equal(s1, s2) and np.array_equal(n1, n2)
    if maxiter == 200:
        assert np.all(s1 == 0) and len(set(n1.tolist())) > 1
    assert np.max(np.abs(x1 - x2)) <= 1e-9
    assert np.max(np.abs(i1 - i2)) <= 1e-9 * max(1e-12, np.max(np.abs(i2)))


def test_in_place_product_equals_scipy_bitwise():
    rng = np.random.default_rng(10)
    A = sp.random(300, 200, density=0.02, random_state=11, format="csr")
    S = rng.normal(size=(17, 230))
    X = rng.normal(size=(200, 17))
    base = rng.normal(size=(300, 17))
    out = base.copy()
    kl.csr_acc_cols(A.indptr, A.indices, A.data, S[:, 30:].T, -1.0, out)  # transposed view
    assert np.array_equal(out, base - A @ S[:, 30:].T)
    out = base.copy()
    kl.csr_acc_cols(A.indptr, A.indices, A.data, X, 1.0, out)
    assert np.array_equal(out, base + A @ X)
