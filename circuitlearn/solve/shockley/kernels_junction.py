"""numba kernels of ngspice's level-1 junction: current, conductance, voltage limiting.

Every diode's parameters are one row of ``jp`` (float64[d, 5], built by
:func:`circuitlearn.solve.assemble.junction_params`), columns :data:`IS`, :data:`VTE`,
:data:`VCRIT`, :data:`BV` (ngspice's knee-matched breakdown voltage ``tBrkdwnV``,
``inf`` without ``BV``) and :data:`VTEBRK` (``NBV * Vt``).  ngspice 39's ``dioload.c``:

* ``vd >= -3 vte``:          ``i = IS (exp(vd / vte) - 1)``
* ``-BV <= vd < -3 vte``:    ``i = -IS (1 + (3 vte / (e vd))^3)``
* ``vd < -BV``:              ``i = -IS exp(-(BV + vd) / vtebrk)`` (breakdown)

plus ``gmin * vd`` across the junction.
"""
from __future__ import annotations

import math

from numba import njit

#: columns of the junction-parameter array ``jp``
IS, VTE, VCRIT, BV, VTEBRK = 0, 1, 2, 3, 4


@njit(cache=True)
def junction(vd, jp, k, gmin):
    """Current and conductance ``(i, di/dvd)`` of diode ``k`` at junction voltage ``vd``."""
    isat, vte, bv = jp[k, IS], jp[k, VTE], jp[k, BV]
    if vd >= -3.0 * vte:
        ev = math.exp(vd / vte)
        i = isat * (ev - 1.0)
        g = isat * ev / vte
    elif vd >= -bv:
        a = 3.0 * vte / (vd * math.e)
        a = a * a * a
        i = -isat * (1.0 + a)
        g = isat * 3.0 * a / vd
    else:
        vtb = jp[k, VTEBRK]
        ev = math.exp(-(bv + vd) / vtb)
        i = -isat * ev
        g = isat * ev / vtb
    return i + gmin * vd, g + gmin


@njit(cache=True)
def pnjlim(vnew, vold, vt, vcrit):
    """SPICE-style junction voltage limiting of a Newton update.

    When the new junction voltage is above ``vcrit`` and moved by more than
    ``2 vt``, the step is compressed logarithmically (the exponential is
    followed along its own scale) so Newton cannot overflow.  Returns
    ``(v_limited, was_limited)``.
    """
    if vnew > vcrit and abs(vnew - vold) > 2.0 * vt:
        if vold > 0.0:
            arg = 1.0 + (vnew - vold) / vt
            if arg > 0.0:
                return vold + vt * math.log(arg), True
            return vcrit, True
        return vt * math.log(vnew / vt), True
    return vnew, False


@njit(cache=True)
def limit_junction(v, vprev, first, jp, k):
    """The junction voltage of diode ``k`` a Newton iteration may use, and whether it was limited.

    Later iterations: SPICE's pnjlim against the previous value ``vprev`` -- in
    breakdown (``v < min(0, -BV + 10 vtebrk)``) on the mirrored voltage ``-(v + BV)``
    with ``vtebrk``, as ngspice does.  First iteration (no previous iterate): a junction
    hotter than ``vcrit`` starts at ``vcrit`` (in breakdown: at ``-(BV + vcrit)``).
    """
    vte, vcrit, bv, vtb = jp[k, VTE], jp[k, VCRIT], jp[k, BV], jp[k, VTEBRK]
    if first:
        if v > vcrit:
            return vcrit, True
        if v < -(bv + vcrit):
            return -(bv + vcrit), True
        return v, False
    if v < min(0.0, -bv + 10.0 * vtb):
        u, lim = pnjlim(-(v + bv), -(vprev + bv), vtb, vcrit)
        return -(u + bv), lim
    return pnjlim(v, vprev, vte, vcrit)


@njit(cache=True)
def companion(v, vprev, first, vfix, jp, k, gmin):
    """One Newton step's companion model of diode ``k`` at junction voltage ``v`` (before
    limiting; ``vprev`` the last limited value, ``vfix`` the part of ``v_d`` fixed by the
    sources): returns ``(g, ieq, v_limited, limited)`` with the linearised current
    ``i + g (v_d - v_limited) = g (C x) + ieq``."""
    v, lim = limit_junction(v, vprev, first, jp, k)
    i, g = junction(v, jp, k, gmin)
    return g, i + g * (vfix - v), v, lim


@njit(cache=True)
def junctions(VD, jp, gmin, I, G):
    """``I, G <- junction(VD)`` elementwise for ``VD`` float64[d, B] (diode-major)."""
    d, B = VD.shape
    for k in range(d):
        for b in range(B):
            I[k, b], G[k, b] = junction(VD[k, b], jp, k, gmin)


@njit(cache=True)
def limit_junctions(VD, VPREV, first, jp, out):
    """``out <- limit_junction(VD, VPREV)`` for float64[d] arrays; returns whether any was limited."""
    any_lim = False
    for k in range(VD.shape[0]):
        out[k], lim = limit_junction(VD[k], VPREV[k], first, jp, k)
        any_lim = any_lim or lim
    return any_lim


@njit(cache=True)
def junction_voltage(x, b, c0, ia, ic, k):
    """v_d of diode ``k`` in sample ``b``: fixed part plus anode minus cathode unknowns."""
    v = c0[b, k]
    if ia[k] >= 0:
        v += x[b, ia[k]]
    if ic[k] >= 0:
        v -= x[b, ic[k]]
    return v


@njit(cache=True)
def accept_step(x, b, xn):
    """Write the Newton iterate ``xn`` into ``x[b]`` unless it is non-finite.

    Returns (max |change|, finite); ``x[b]`` is left untouched when not finite.
    """
    n = xn.shape[0]
    dmax = 0.0
    for q in range(n):
        if not math.isfinite(xn[q]):
            return dmax, False
        dq = abs(xn[q] - x[b, q])
        if dq > dmax:
            dmax = dq
    for q in range(n):
        x[b, q] = xn[q]
    return dmax, True


@njit(cache=True)
def junction_currents(x, b, c0, ia, ic, jp, gmin, icur):
    """icur[b, k] <- the Shockley current of every diode at the state ``x[b]``."""
    for k in range(ia.shape[0]):
        i, g = junction(junction_voltage(x, b, c0, ia, ic, k), jp, k, gmin)
        icur[b, k] = i
