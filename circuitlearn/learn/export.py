"""A trained layered DRN as a SPICE deck, and the check that ngspice reproduces it.

The deck carries the conductances the devices show (write noise and drift included)
and the bias currents, in physical units when the config gives a
:class:`~circuitlearn.device.scaling.PhysicalScale` (``g_window``, ``input_range``), in
model units otherwise.  :func:`ngspice_check` solves the deck of each of a few test
inputs in real ngspice (``ngspice -b``, its near-ideal diode ``.model``) and compares
outputs and hidden voltages with the layered solver's equilibrium mapped to the same
units, and the predicted classes.
"""
from __future__ import annotations

import numpy as np

from circuitlearn.device.scaling import PhysicalScale


def drn_deck(device, x, gain: float, vth: float = 0.0, scale: PhysicalScale | None = None,
             title: str = "circuitlearn DRN") -> str:
    """The deck text of a layered ``device`` (its conductances and biases now) with input
    ``x`` (float64[n_x], in [0, 1]) applied."""
    from circuitlearn.netlist.writer import write_netlist
    scale = scale or PhysicalScale()
    load = getattr(device, "load", 0.0)        # sense resistors on the outputs
    return write_netlist(scale.drn_netlist(device.conductances(), device.biases(), x=x,
                                           gain=gain, vth=vth, load=load, title=title))


def ngspice_check(device, loss, gain: float, x, vth: float = 0.0,
                  scale: PhysicalScale | None = None, title: str = "circuitlearn DRN") -> dict:
    """Solve each sample of ``x`` in ngspice on the exported deck; returns ``checked``,
    ``agree`` (same predicted class as the layered solve), ``pred_spice`` and the largest
    voltage gaps ``max_abs_dv_out`` / ``max_abs_dv_hidden`` (volts of the deck's units).
    Raises :class:`~circuitlearn.errors.BackendError` when ngspice fails."""
    from circuitlearn.solve.backends.ngspice_batch import run_ngspice_batch
    from circuitlearn.solve.layered import network as ly
    scale = scale or PhysicalScale()
    sizes = device.sizes
    ws, bs, load = device.conductances(), device.biases(), getattr(device, "load", 0.0)
    out_s, out_m, dv_hidden = [], [], 0.0
    for xi in np.asarray(x, dtype=np.float64):
        v = run_ngspice_batch(drn_deck(device, xi, gain, vth, scale, title))
        layers, _ = ly.solve_layered(ws, bs, ly.input_voltages(xi[None], gain), 100000, 1e-13,
                                     vth=vth, load=load)
        out_s.append([v[f"o{k}"] for k in range(sizes[-1])])
        out_m.append(scale.s * layers[-1][0])
        for l, n in enumerate(sizes[1:-1], 1):
            h = np.array([v[f"h{l}_{k}"] for k in range(n)])
            dv_hidden = max(dv_hidden, float(np.max(np.abs(h - scale.s * layers[l][0]))))
    out_s, out_m = np.array(out_s), np.array(out_m)
    pred_s, pred_m = loss.predict(out_s), loss.predict(out_m)
    return {"checked": int(len(out_s)), "agree": int(np.sum(pred_s == pred_m)),
            "pred_spice": pred_s.tolist(), "max_abs_dv_out": float(np.max(np.abs(out_s - out_m))),
            "max_abs_dv_hidden": dv_hidden}
