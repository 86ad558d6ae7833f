"""Primal-dual active-set (semismooth Newton) solve of one ideal-diode sample, and its certificate."""
from __future__ import annotations

import numpy as np

from circuitlearn.solve.assemble import AffineSystem
from circuitlearn.solve.certificate import certify
from circuitlearn.solve.linalg.kkt import solve_kkt
from circuitlearn.solve.result import STATUS_MESSAGES

def active_set(system: AffineSystem, rhs, c0, vth, active, maxiter, gscale, tol, x0=None, lam0=None):
    """Primal-dual active-set (semismooth Newton) solve of one sample.

    ``M x + C^T i = rhs``, ``v_d = C x + c0``; diodes in ``active`` (bool[d])
    start conducting; ``x0``/``lam0`` warm-start the iterative linear solver.
    Returns ``(x, i, status, nit, message, how)``, ``how`` the linear solver of the last
    iteration (:func:`~circuitlearn.solve.linalg.kkt.solve_kkt`).
    """
    M, C = system.M, system.C
    n, d = M.shape[0], C.shape[0]
    seen = set()
    x = np.zeros(n) if x0 is None else np.array(x0, dtype=np.float64)
    lam = np.zeros(d) if lam0 is None else np.array(lam0, dtype=np.float64)
    i_tol = 1e-3 * tol * gscale
    v_tol = 1e-3 * tol
    loose = True        # large systems: loose solves while the set changes, then a tight one
    how = "lu"
    for it in range(1, maxiter + 1):
        idx = np.flatnonzero(active)
        CA = C[idx]
        rh = np.concatenate([rhs, vth[idx] - c0[idx]])
        warm = np.concatenate([x, lam[idx]])
        sol, err, how = solve_kkt(M, CA, rh, warm, gscale, system.symmetric, tol, loose)
        if sol is None:
            return x, lam, 2, it, err, how
        if not np.all(np.isfinite(sol)):
            return x, lam, 2, it, "non-finite values in the active-set solve", how
        x = sol[:n]
        lam = np.zeros(d)
        lam[idx] = sol[n:]
        vd = C @ x + c0
        new = np.where(active, lam > -i_tol, vd - vth > v_tol)
        if np.array_equal(new, active):
            if loose:
                loose = False           # the same set once more, solved tightly
                continue
            return x, lam, 0, it, "converged", how
        loose = True
        key = np.packbits(new).tobytes()
        if key in seen:
            return x, lam, 1, it, "active set is cycling", how
        seen.add(key)
        active = new
    return x, lam, 1, maxiter, STATUS_MESSAGES[1], how


def system_certificate(system, rhs, x, lam, c0, vth, dscale):
    r = (rhs - system.M @ x - system.C.T @ lam)[system.kcl_rows]
    vd = system.C @ x + c0
    k, v = certify(r[None], lam[None], vd[None], vth, dscale)
    return k[0], v[0]
