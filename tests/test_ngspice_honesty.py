"""The ngspice backend says what it did (issue 12): options mapped or refused, nit unknown,
KCL computed from what ngspice returned, any SPICE-legal name, one session reused."""
import os
import resource

import numpy as np
import pytest

from circuitlearn.compile import compile_netlist
from circuitlearn.netlist import parse_netlist, read_netlist
from circuitlearn.solve import solve
from circuitlearn.solve.backends import ngspice as ng

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
pytestmark = pytest.mark.ngspice


def _clipper():
    return compile_netlist(read_netlist(os.path.join(ROOT, "netlists", "diode_clipper.cir")))


def test_options_are_mapped_or_refused():
    assert "vntol=1e-07" in ng.ngspice_options(1e-7) and "itl1=50" in ng.ngspice_options(None, 50)
    c = _clipper()
    with pytest.raises(ValueError, match="x0"):
        solve(c, diodes="shockley", backend="ngspice", x0=np.zeros(c.n_nodes))
    with ng.NgspiceSession(c) as sess:
        with pytest.raises(ValueError, match="would be ignored"):
            solve(c, diodes="shockley", backend="ngspice", tol=1e-6, session=sess)
        ok = solve(c, diodes="shockley", backend="ngspice", session=sess)
    assert ok.success and ok.nit == -1
    loose = solve(c, diodes="shockley", backend="ngspice", tol=1e-6, maxiter=100)
    assert loose.success


def test_kcl_is_computed_from_the_returned_values_and_can_fail():
    c = _clipper()
    res = solve(c, diodes="shockley", backend="ngspice")
    ref = solve(c, diodes="shockley", tol=1e-13)
    assert res.kcl_residual.shape == (1,) and 0 <= res.kcl_residual[0] < 1e-9
    S = c.default_sources()[None, :]
    bad = res.voltages.copy()
    bad[0, 1:] += 1e-3
    tampered = ng.kcl_residuals(c, bad, res.source_currents, res.diode_currents, S)
    assert tampered[0] > 1e3 * max(res.kcl_residual[0], 1e-15)
    np.testing.assert_allclose(res.voltages, ref.voltages, atol=1e-6)


def test_any_spice_legal_name_works():
    deck = """names ngspice's vector syntax would break
.model dd D (is=1e-14 n=1)
V[in] a 0 DC 1
R<1> a b 1k
D[1] b 0 dd
I:x 0 b 1u
.end
"""
    c = compile_netlist(parse_netlist(deck))
    res = solve(c, diodes="shockley", backend="ngspice")
    ref = solve(c, diodes="shockley", tol=1e-13)
    assert res.success
    np.testing.assert_allclose(res.voltages, ref.voltages, atol=1e-6)
    np.testing.assert_allclose(res.diode_currents, ref.diode_currents, rtol=1e-5)
    np.testing.assert_allclose(res.source_currents, ref.source_currents, rtol=1e-5)


def test_one_session_is_reused_and_memory_stays_flat():
    c = _clipper()
    solve(c, diodes="shockley", backend="ngspice")
    first = ng._last["session"]
    for _ in range(200):
        solve(c, diodes="shockley", backend="ngspice")
    assert ng._last["session"] is first
    rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    for _ in range(10_000):
        solve(c, diodes="shockley", backend="ngspice")
    grown_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - rss0
    assert grown_kb < 4_000, f"{grown_kb} kB over 10,000 calls"
