"""Builders: netlists for crossbars, deep resistive networks and random test graphs.

Every builder returns a flattened :class:`~circuitlearn.netlist.model.Netlist`
(elements named as in ``docs/CONVENTIONS.md``), so its result can be compiled
(:func:`~circuitlearn.compile.circuit.compile_netlist`), written for ngspice,
or read back into arrays (:func:`crossbar_conductance`, :func:`drn_arrays`).

Conductances and resistances
----------------------------
A netlist stores a resistor as its *resistance* ``R`` and a compiled circuit
computes ``g = 1.0 / R``.  In binary64 not every conductance is ``1/R`` of
some double (about one value in six is not), so a builder picks, for each
``g``, the double ``R`` next to ``1/g`` whose ``1.0 / R`` is closest to ``g``
-- equal to ``g`` whenever that is possible.  Reading back therefore gives
``g`` exactly or within one unit in the last place, and
:func:`representable_conductance` gives the values that survive the round
trip bit for bit (a fixed point: writing and reading them again changes
nothing).  Zero conductances are simply not written.
"""
from __future__ import annotations

import re
from typing import Sequence

import numpy as np

from circuitlearn.netlist.model import DiodeModel, Element, Netlist

__all__ = [
    "crossbar_netlist", "crossbar_conductance",
    "drn_netlist", "drn_arrays", "drn_sizes", "drn_source_vector",
    "random_resistor_diode_graph", "representable_conductance", "DRN_DIODE_PARAMS",
]

#: Default ``.model`` parameters of the DRN diode: a near-ideal diode.
#: ``vth = 0`` makes circuitlearn's ideal diode switch at 0 V (the published
#: DRN); for ngspice the small emission coefficient ``n`` makes the Shockley
#: curve steep (n*kT/q = 0.26 mV), so the forward drop stays a few mV.
DRN_DIODE_PARAMS: dict[str, float] = {"is": 1e-12, "n": 0.01, "rs": 0.0, "vth": 0.0}


# ------------------------------------------------------------------ resistances
def _resistance_for(g: np.ndarray) -> np.ndarray:
    """Resistances ``R`` (for ``g > 0``) with ``1.0 / R`` as close to ``g`` as binary64 allows."""
    g = np.asarray(g, dtype=np.float64)
    r0 = 1.0 / g
    best, err = r0, np.abs(1.0 / r0 - g)
    for direction in (np.inf, 0.0):
        r = r0
        for _ in range(2):
            r = np.nextafter(r, direction)
            e = np.abs(1.0 / r - g)
            better = e < err
            best, err = np.where(better, r, best), np.where(better, e, err)
    return best


def representable_conductance(g) -> np.ndarray:
    """The conductances a netlist can hold exactly: ``1.0 / R`` for the builders' ``R``.

    Zeros stay zero.  ``representable_conductance(g)`` differs from ``g`` by at
    most one unit in the last place, and passing a network's conductances
    through it first makes ``drn_arrays(drn_netlist(W))`` return ``W`` bit for bit.
    """
    g = np.array(g, dtype=np.float64)
    pos = g > 0
    g[pos] = 1.0 / _resistance_for(g[pos])
    return g


def _check_conductance(g, what: str) -> np.ndarray:
    g = np.asarray(g, dtype=np.float64)
    if g.ndim != 2:
        raise ValueError(f"{what} must be a 2-D conductance matrix, got shape {g.shape}")
    if not np.all(np.isfinite(g)):
        raise ValueError(f"{what} contains NaN or infinity")
    if np.any(g < 0):
        raise ValueError(f"{what} has negative conductances (a resistor needs g >= 0)")
    return g


def _vector(v, n: int, what: str) -> np.ndarray:
    v = np.zeros(n) if v is None else np.asarray(v, dtype=np.float64).reshape(-1)
    if v.shape != (n,):
        raise ValueError(f"{what} must have length {n}, got {v.shape[0]}")
    if not np.all(np.isfinite(v)):
        raise ValueError(f"{what} contains NaN or infinity")
    return v


def _resistors(g: np.ndarray, name_of, node_a: Sequence[str], node_b: Sequence[str]):
    """Element tuples for the nonzero entries of ``g`` (row-major order)."""
    rows, cols = np.nonzero(g)
    res = _resistance_for(g[rows, cols])
    return [Element(name_of(i, k), "R", (node_a[i], node_b[k]), r)
            for i, k, r in zip(rows.tolist(), cols.tolist(), res.tolist())]


def _branches(circuit_or_netlist):
    """(names, node-name pairs, conductances, isources) of a Circuit or a Netlist.

    ``isources`` is a list of (name, (n+, n-), value).  Conductances of a
    netlist are computed as ``1.0 / R``, exactly as compile_netlist does.
    """
    if isinstance(circuit_or_netlist, Netlist):
        rs = circuit_or_netlist.of_kind("R")
        names = [e.name for e in rs]
        nodes = [e.nodes for e in rs]
        g = 1.0 / np.array([e.value for e in rs], dtype=np.float64)
        isrc = [(e.name, e.nodes, e.value) for e in circuit_or_netlist.of_kind("I")]
        all_nodes = circuit_or_netlist.nodes
    else:
        c = circuit_or_netlist
        nn = c.node_names
        names = list(c.resistor_names)
        nodes = [(nn[a], nn[b]) for a, b in c.resistor_nodes.tolist()]
        g = np.asarray(c.conductance, dtype=np.float64)
        isrc = [(name, (nn[a], nn[b]), float(v)) for name, (a, b), v in
                zip(c.isource_names, c.isource_nodes.tolist(), c.isource_value)]
        all_nodes = nn
    return names, nodes, g, isrc, all_nodes


def _indexed(nodes, pattern: str) -> dict[str, int]:
    """Nodes whose names fully match ``pattern`` (one integer group) -> that integer."""
    rx = re.compile(pattern)
    out = {}
    for n in nodes:
        m = rx.fullmatch(n)
        if m:
            out[n] = int(m.group(1))
    return out


def _count(indices, what: str) -> int:
    idx = sorted(indices)
    if idx != list(range(len(idx))):
        raise ValueError(f"{what} nodes are not numbered 0..{len(idx) - 1}: {idx[:10]}")
    return len(idx)


# -------------------------------------------------------------------- crossbar
def crossbar_netlist(g, *, inputs=None, title: str = "crossbar", row_prefix: str = "row",
                     col_prefix: str = "col", output_load=None) -> Netlist:
    """A resistive crossbar computing ``I_col = g.T @ V_row``.

    Parameters
    ----------
    g : float64[n_rows, n_cols]
        Conductance (S) of the device at each row/column crossing; ``g >= 0``,
        zeros are left out (no device).
    inputs : float64[n_rows], optional
        Row voltages (V), default zeros.
    row_prefix, col_prefix : str
        Node names are ``{row_prefix}{i}`` and ``{col_prefix}{j}``.
    output_load : float or float64[n_cols], optional
        How the columns are read (see below).

    Notes
    -----
    Convention (the usual memristor vector-matrix multiplier): row ``i`` is
    driven by ``v{row_prefix}{i} {row_prefix}{i} 0 inputs[i]``; device
    ``r{i}_{j}`` joins row ``i`` to column ``j``.  With ``output_load=None``
    (the default) every column is held at virtual ground by a 0 V sense source
    ``v{col_prefix}{j} {col_prefix}{j} 0 0`` -- the transimpedance amplifier of
    a real crossbar -- and the current through it (SPICE ``i(vcolj)``, from
    the column through the source to ground) is exactly
    ``sum_i g[i, j] * inputs[i]``.  With ``output_load`` given, each column instead goes to
    ground through a load resistor ``rload{j}`` of that conductance, and the
    column *voltage* is the output (a passive read-out that loads the array).
    """
    g = _check_conductance(g, "crossbar conductance g")
    n_rows, n_cols = g.shape
    v_in = _vector(inputs, n_rows, "inputs")
    rows = [f"{row_prefix}{i}" for i in range(n_rows)]
    cols = [f"{col_prefix}{j}" for j in range(n_cols)]
    els = [Element(f"v{n}", "V", (n, "0"), float(v)) for n, v in zip(rows, v_in.tolist())]
    if output_load is None:
        els += [Element(f"v{n}", "V", (n, "0"), 0.0) for n in cols]
    else:
        load = np.broadcast_to(np.asarray(output_load, dtype=np.float64), (n_cols,))
        if not np.all(np.isfinite(load) & (load > 0)):
            raise ValueError("output_load must be a positive finite conductance (S)")
        els += [Element(f"rload{j}", "R", (n, "0"), r)
                for j, (n, r) in enumerate(zip(cols, _resistance_for(load).tolist()))]
    els += _resistors(g, lambda i, j: f"r{i}_{j}", rows, cols)
    return Netlist(title, tuple(els))


def _positive(v, shape, what: str, allow_zero: bool = True) -> np.ndarray:
    a = np.broadcast_to(np.asarray(v, dtype=np.float64), shape)
    ok = np.isfinite(a) & ((a >= 0) if allow_zero else (a > 0))
    if not np.all(ok):
        raise ValueError(f"{what} must be finite and {'>= 0' if allow_zero else '> 0'}")
    return a


def crossbar_array_netlist(g, *, inputs=None, r_wire=1.0, r_driver=0.0, r_sense=0.0,
                           output_load=None, selector: str | None = None, r_series=0.0,
                           selector_model: DiodeModel | None = None,
                           column_bias=None, floating_rows=(), floating_columns=(),
                           r_open=None, title: str = "crossbar array") -> Netlist:
    """A crossbar as built: wire resistance on every row and column segment, driver and
    sense resistances, and optionally a selector diode (1D1R) or a series resistor per cell.

    Parameters
    ----------
    g : float64[n_rows, n_cols]
        Device conductances (S, ``>= 0``; zeros: no device).
    inputs : float64[n_rows], optional
        Row drive voltages (V), default zeros.
    r_wire : float or (float, float)
        Resistance (ohm, ``> 0``) of one wire segment between neighbouring crossings,
        rows and columns alike or ``(row, column)``.  (Ideal lines:
        :func:`crossbar_netlist`.)
    r_driver, r_sense : float
        Output resistance of each row driver, and the resistance between each column's
        end and its read-out (ohm, ``>= 0``; 0: none).
    output_load : float or float64[n_cols], optional
        ``None`` (default): each column ends in a transimpedance amplifier, a 0 V source
        ``vout{j}`` whose current is the column's output (as in
        :func:`crossbar_netlist`); a conductance (S): a load resistor ``rload{j}`` to
        ground instead, whose voltage is the output.  The column end is ``col{n-1}_{j}``,
        or ``out{j}`` behind ``rsen{j}`` when ``r_sense > 0``.
    selector : str, optional
        Name of a diode model: every cell gets a selector diode ``ds{i}_{j}`` from the row
        into the device (1D1R), conducting when the row is above the column.
    selector_model : DiodeModel, optional
        The ``.model`` card for ``selector`` (default: the near-ideal DRN diode).
    r_series : float
        A series resistance ``rs{i}_{j}`` (ohm) in every cell (0: none).
    column_bias : float64[n_cols], optional
        The voltage each column's TIA holds its end at (V, default 0: virtual ground).
    floating_rows, floating_columns : sequence of int
        Lines left open (no driver, no TIA): how unselected lines of a passive array are
        read (:func:`crossbar_read_netlist`).
    r_open : float, optional
        The leakage (ohm) of a switched-off driver or TIA: each open line's end is tied to
        ground through ``ropen_r{i}`` / ``ropen_c{j}``.  Without it (None) an open line of a
        1D1R array is held only by reverse-biased selectors, whose operating point neither
        Newton here nor ngspice at tight tolerances finds.

    Notes
    -----
    Row ``i`` is driven by ``vin{i} in{i} 0 inputs[i]`` at its column-0 end (through
    ``rdrv{i}`` when ``r_driver > 0``); its crossings are the nodes ``row{i}_{j}``,
    joined by ``rrow{i}_{j}`` (segment before crossing ``j``).  Column ``j``'s crossings
    are ``col{i}_{j}``, joined by ``rcol{i}_{j}``, read at the row-``n_rows - 1`` end.
    Device ``r{i}_{j}`` joins ``row{i}_{j}`` (or its selector or series node) to
    ``col{i}_{j}``.  :func:`crossbar_readout` compares what the array computes with
    ``g.T @ inputs``.
    """
    g = _check_conductance(g, "crossbar conductance g")
    n, m = g.shape
    v_in = _vector(inputs, n, "inputs")
    rw = _positive(r_wire, (2,), "r_wire", allow_zero=False)
    r_drv = float(_positive(r_driver, (), "r_driver"))
    r_sen = float(_positive(r_sense, (), "r_sense"))
    r_ser = float(_positive(r_series, (), "r_series"))
    v_col = _vector(column_bias, m, "column_bias")
    open_rows = _line_set(floating_rows, n, "floating_rows")
    open_cols = _line_set(floating_columns, m, "floating_columns")
    r_opn = None if r_open is None else float(_positive(r_open, (), "r_open", allow_zero=False))
    els = []
    for i in range(n):
        start = f"row{i}_0"
        if i in open_rows:
            if r_opn is not None:
                els.append(Element(f"ropen_r{i}", "R", (start, "0"), r_opn))
        elif r_drv > 0:
            els += [Element(f"vin{i}", "V", (f"in{i}", "0"), float(v_in[i])),
                    Element(f"rdrv{i}", "R", (f"in{i}", start), r_drv)]
        else:
            els.append(Element(f"vin{i}", "V", (start, "0"), float(v_in[i])))
        els += [Element(f"rrow{i}_{j}", "R", (f"row{i}_{j - 1}", f"row{i}_{j}"), float(rw[0]))
                for j in range(1, m)]
    outs = []
    for j in range(m):
        els += [Element(f"rcol{i}_{j}", "R", (f"col{i - 1}_{j}", f"col{i}_{j}"), float(rw[1]))
                for i in range(1, n)]
        out = f"col{n - 1}_{j}"
        if r_sen > 0:
            els.append(Element(f"rsen{j}", "R", (out, f"out{j}"), r_sen))
            out = f"out{j}"
        outs.append(out)
        if output_load is None and j not in open_cols:
            els.append(Element(f"vout{j}", "V", (out, "0"), float(v_col[j])))
        elif j in open_cols and r_opn is not None:
            els.append(Element(f"ropen_c{j}", "R", (out, "0"), r_opn))
    if output_load is not None:
        load = _positive(output_load, (m,), "output_load", allow_zero=False)
        els += [Element(f"rload{j}", "R", (o, "0"), r)
                for j, (o, r) in enumerate(zip(outs, _resistance_for(load).tolist()))
                if j not in open_cols]
    models = ()
    rows_i, cols_j = np.nonzero(g)
    res = _resistance_for(g[rows_i, cols_j])
    for i, j, r in zip(rows_i.tolist(), cols_j.tolist(), res.tolist()):
        a = f"row{i}_{j}"
        if selector is not None:
            els.append(Element(f"ds{i}_{j}", "D", (a, f"sel{i}_{j}"), 1.0, selector.lower()))
            a = f"sel{i}_{j}"
        if r_ser > 0:
            els.append(Element(f"rs{i}_{j}", "R", (a, f"ser{i}_{j}"), r_ser))
            a = f"ser{i}_{j}"
        els.append(Element(f"r{i}_{j}", "R", (a, f"col{i}_{j}"), r))
    if selector is not None:
        models = (selector_model or DiodeModel(selector.lower(), tuple(DRN_DIODE_PARAMS.items())),)
    return Netlist(title, tuple(els), models)


def _line_set(lines, n: int, what: str) -> set[int]:
    out = {int(k) for k in np.asarray(lines, dtype=np.int64).reshape(-1)}
    bad = [k for k in out if not 0 <= k < n]
    if bad:
        raise ValueError(f"{what}: line {bad[0]} is outside 0..{n - 1}")
    return out


#: bias of the unselected rows and columns, as fractions of the read voltage (None: open)
READ_SCHEMES = {"grounded": (0.0, 0.0), "half": (0.5, 0.5), "third": (1 / 3, 2 / 3),
                "floating": (None, None)}


def crossbar_read_netlist(g, cell, *, v_read=0.2, scheme="floating", **array) -> Netlist:
    """A :func:`crossbar_array_netlist` array biased to read the single cell ``cell =
    (i, j)``: row ``i`` at ``v_read``, column ``j`` at the TIA's 0 V, the other lines by
    ``scheme`` -- ``"grounded"`` (all at 0 V), ``"half"`` (all at ``v_read / 2``: the
    V/2 scheme), ``"third"`` (rows at ``v_read / 3``, columns at ``2 v_read / 3``) or
    ``"floating"`` (left open: the sneak paths of a passive array).  ``array``: the
    other keywords of :func:`crossbar_array_netlist` (wires, drivers, selector ...).
    :func:`crossbar_cell_read` reads the result."""
    g = _check_conductance(g, "crossbar conductance g")
    n, m = g.shape
    i, j = (int(k) for k in cell)
    if not (0 <= i < n and 0 <= j < m):
        raise ValueError(f"cell {cell} is outside the {n} x {m} array")
    if scheme not in READ_SCHEMES:
        raise ValueError(f"unknown read scheme {scheme!r} (one of {', '.join(READ_SCHEMES)})")
    if array.get("output_load") is not None:
        raise ValueError("a single-cell read needs the TIA read-out (output_load=None)")
    fr, fc = READ_SCHEMES[scheme]
    v = float(v_read)
    rows = np.full(n, 0.0 if fr is None else fr * v)
    rows[i] = v
    cols = np.full(m, 0.0 if fc is None else fc * v)
    cols[j] = 0.0
    others_r = [k for k in range(n) if k != i] if fr is None else []
    others_c = [k for k in range(m) if k != j] if fc is None else []
    return crossbar_array_netlist(g, inputs=rows, column_bias=cols, floating_rows=others_r,
                                  floating_columns=others_c, **array)


def crossbar_cell_read(g, cell, circuit, result, *, v_read=0.2) -> dict:
    """What a single-cell read (:func:`crossbar_read_netlist`) measured: ``current`` (A,
    into column ``j``'s TIA, per sample), ``cell_current`` (the cell alone, ``g[i, j]
    v_read``), ``sneak_current`` (their difference: sneak paths and IR drop),
    ``relative_error`` (its size against the cell's current) and ``read_conductance``
    (what the read infers: ``current / v_read``)."""
    g = np.asarray(g, dtype=np.float64)
    i, j = (int(k) for k in cell)
    k = list(circuit.vsource_names).index(f"vout{j}")
    current = np.asarray(result.source_currents)[:, k]
    ideal = g[i, j] * float(v_read)
    sneak = current - ideal
    return {"current": current, "cell_current": ideal, "sneak_current": sneak,
            "relative_error": np.abs(sneak) / max(abs(ideal), np.finfo(float).tiny),
            "read_conductance": current / float(v_read)}


def crossbar_readout(g, inputs, circuit, result) -> dict:
    """What a :func:`crossbar_array_netlist` array computed against the ideal product.

    ``inputs`` float64[B, n_rows] (the row drives of each sample) and ``result`` the
    :func:`~circuitlearn.solve.solve` result of the compiled ``circuit`` at them.
    Returns ``ideal`` = ``inputs @ g`` [B, n_cols] (A), ``actual`` (the column currents
    into the TIAs; arrays read by a load resistor are refused), ``abs_error``,
    ``rel_error`` (``max |actual - ideal| / max |ideal|`` per sample), and the worst
    ``ir_drop_row`` (V: the drive minus the voltage at a
    crossing) and ``ir_drop_col`` (V: a column crossing's voltage above 0)."""
    g = np.asarray(g, dtype=np.float64)
    x = np.atleast_2d(np.asarray(inputs, dtype=np.float64))
    n, m = g.shape
    names = list(circuit.vsource_names)
    try:
        k = [names.index(f"vout{j}") for j in range(m)]
    except ValueError:
        raise ValueError("crossbar_readout needs the TIA read-out (output_load=None)") from None
    actual = result.source_currents[:, k]
    ideal = x @ g
    V = result.voltages
    idx = circuit.node_index
    row = np.stack([V[:, idx(f"row{i}_{j}")] for i in range(n) for j in range(m)], axis=1)
    col = np.stack([V[:, idx(f"col{i}_{j}")] for i in range(n) for j in range(m)], axis=1)
    drive = np.repeat(x, m, axis=1)
    scale = np.maximum(np.max(np.abs(ideal), axis=1), np.finfo(float).tiny)
    err = actual - ideal
    return {"ideal": ideal, "actual": actual, "abs_error": err,
            "rel_error": np.max(np.abs(err), axis=1) / scale,
            "ir_drop_row": np.max(np.abs(drive - row), axis=1),
            "ir_drop_col": np.max(np.abs(col), axis=1)}


def crossbar_conductance(circuit_or_netlist, *, row_prefix: str = "row",
                         col_prefix: str = "col") -> np.ndarray:
    """Read the ``float64[n_rows, n_cols]`` conductance matrix back from a crossbar.

    Rows and columns are found by node name (``{row_prefix}{i}``,
    ``{col_prefix}{j}``); every resistor joining a row to a column adds its
    conductance to that entry (parallel devices sum).
    """
    names, nodes, g, _, all_nodes = _branches(circuit_or_netlist)
    rows = _indexed(all_nodes, re.escape(row_prefix) + r"(\d+)")
    cols = _indexed(all_nodes, re.escape(col_prefix) + r"(\d+)")
    out = np.zeros((_count(rows.values(), "row"), _count(cols.values(), "column")))
    for (a, b), gk in zip(nodes, g.tolist()):
        if a in rows and b in cols:
            out[rows[a], cols[b]] += gk
        elif b in rows and a in cols:
            out[rows[b], cols[a]] += gk
    return out


# ------------------------------------------------------------------------- DRN
def _layer_nodes(sizes: Sequence[int]) -> list[list[str]]:
    """Node names of every layer: inputs x*, hidden h{l}_*, outputs o*."""
    last = len(sizes) - 1
    out = [[f"x{i}" for i in range(sizes[0])]]
    for l in range(1, last):
        out.append([f"h{l}_{k}" for k in range(sizes[l])])
    out.append([f"o{k}" for k in range(sizes[last])])
    return out


def drn_sizes(weights) -> list[int]:
    """Layer sizes ``[2*n_x, n_1, ..., n_out]`` of a list of weight matrices (checked)."""
    if len(weights) < 1:
        raise ValueError("a DRN needs at least one weight matrix")
    sizes = [int(np.shape(weights[0])[0])]
    for l, w in enumerate(weights):
        shape = np.shape(w)
        if len(shape) != 2 or shape[0] != sizes[-1]:
            raise ValueError(f"weights[{l}] has shape {shape}; expected ({sizes[-1]}, n_next)")
        sizes.append(int(shape[1]))
    if sizes[0] % 2:
        raise ValueError(f"the input layer must have 2*n_x nodes (x and -x), got {sizes[0]}")
    return sizes


def drn_netlist(weights, biases=None, *, x=None, gain: float = 1.0,
                diode_model: str = "dideal", diode_params: dict | None = None,
                amplifier_gain=None, load: float = 0.0,
                title: str = "deep resistive network") -> Netlist:
    """A deep resistive network (Scellier 2024) as a netlist, named per docs/CONVENTIONS.md.

    Parameters
    ----------
    weights : list of float64[n_{l-1}, n_l]
        Conductances (S, >= 0) between consecutive layers; layer 0 is the
        ``2*n_x`` input nodes.  ``weights[l-1][i, k]`` becomes resistor
        ``r{l}_{i}_{k}`` from node ``i`` of layer ``l-1`` to node ``k`` of
        layer ``l``; zero entries are left out.
    biases : list of float64[n_l], optional
        Current injected into each node of every non-input layer, as
        ``I ih{l}_{k} 0 h{l}_{k} value`` and ``I io{k} 0 o{k} value``.  ``None``
        means zeros; the sources are written anyway so that a batch of
        source vectors can change them.
    x : float64[n_x], optional
        Input in [0, 1] (default zeros).  Inputs ``x{i}`` are driven by
        ``vx{i}`` at ``gain * [x, -x]``.
    gain : float
        Input amplification (the paper uses 100 for DRN-XS, 480 for DRN-1H,
        800 for DRN-XL).
    diode_model, diode_params :
        Name and parameters of the hidden diodes' ``.model`` card; the
        parameters update :data:`DRN_DIODE_PARAMS`.
    amplifier_gain : float or sequence of floats, optional
        If given, every hidden layer ``l`` drives the next layer through
        voltage buffers ``ea{l}_{k} a{l}_{k} 0 h{l}_{k} 0 A``, and the
        resistors ``r{l+1}_{i}_{k}`` start at the buffer outputs ``a{l}_{i}``.
        Physically these are ideal voltage amplifiers (op-amp stages) between
        layers: they draw no current from layer ``l``, present layer ``l+1``
        with ``A`` times its voltages from a low-impedance output (restoring
        the signal that each passive divider attenuates), and cut the
        backward path -- layer ``l+1`` can no longer pull on layer ``l``.
        The network then is a chain of energy-based blocks coupled
        feed-forward (an ff-EBM) rather than one circuit minimising a single
        power function.  A sequence gives one gain per hidden layer.
    load : float
        Conductance (S) of a sense resistor ``rs{k} o{k} 0`` loading each output node
        (0: none).  :func:`drn_arrays` ignores these fixed resistors.

    Notes
    -----
    Hidden node ``k`` of a layer of ``n`` nodes has diode ``dh{l}_{k}``: for
    ``k < n // 2`` from ground to the node (anode 0, holds ``V >= -vth``),
    otherwise from the node to ground (holds ``V <= vth``).  Output nodes are
    linear (no diode).  Element order: ``vx*``, the bias sources layer by
    layer, resistors layer by layer, sense resistors, diodes, buffers -- so a compiled DRN's
    sources vector is ``[vx0.., ih1_0.., ..., io0..]``.
    """
    sizes = drn_sizes(weights)
    n_layers = len(sizes) - 1
    ws = [_check_conductance(w, f"weights[{l}]") for l, w in enumerate(weights)]
    if biases is None:
        biases = [None] * n_layers
    if len(biases) != n_layers:
        raise ValueError(f"need {n_layers} bias vectors (one per non-input layer), got {len(biases)}")
    bs = [_vector(b, sizes[l + 1], f"biases[{l}]") for l, b in enumerate(biases)]
    n_x = sizes[0] // 2
    xv = _vector(x, n_x, "x")
    if not np.isfinite(gain):
        raise ValueError("gain must be finite")
    amps = _amplifier_gains(amplifier_gain, n_layers - 1)
    nodes = _layer_nodes(sizes)

    vin = float(gain) * np.concatenate([xv, -xv])
    els = [Element(f"vx{i}", "V", (n, "0"), v) for i, (n, v) in enumerate(zip(nodes[0], vin.tolist()))]
    for l in range(1, n_layers + 1):
        els += [Element("i" + n, "I", ("0", n), v) for n, v in zip(nodes[l], bs[l - 1].tolist())]
    for l in range(1, n_layers + 1):
        src = nodes[l - 1]
        if amps is not None and l >= 2:
            src = [f"a{l - 1}_{i}" for i in range(sizes[l - 1])]
        els += _resistors(ws[l - 1], lambda i, k, l=l: f"r{l}_{i}_{k}", src, nodes[l])
    if not (np.isfinite(load) and load >= 0):
        raise ValueError(f"load must be a finite conductance >= 0, got {load}")
    if load > 0:
        els += _resistors(np.full((1, sizes[-1]), float(load)), lambda i, k: f"rs{k}",
                          ["0"], nodes[-1])
    for l in range(1, n_layers):
        half = sizes[l] // 2
        els += [Element("d" + n, "D", ("0", n) if k < half else (n, "0"), 1.0, diode_model)
                for k, n in enumerate(nodes[l])]
    if amps is not None:
        for l in range(1, n_layers):
            els += [Element(f"ea{l}_{k}", "E", (f"a{l}_{k}", "0", n, "0"), amps[l - 1])
                    for k, n in enumerate(nodes[l])]
    models = ()
    if n_layers > 1:
        params = dict(DRN_DIODE_PARAMS)
        params.update({k.lower(): float(v) for k, v in (diode_params or {}).items()})
        models = (DiodeModel(diode_model, tuple(params.items())),)
    return Netlist(title, tuple(els), models)


def _amplifier_gains(amplifier_gain, n_hidden: int):
    """One gain per hidden layer (a scalar is repeated), or None for no buffers."""
    if amplifier_gain is None:
        return None
    a = np.asarray(amplifier_gain, dtype=np.float64)
    a = np.full(n_hidden, float(a)) if a.ndim == 0 else a.reshape(-1)
    if a.shape != (n_hidden,):
        raise ValueError(f"amplifier_gain needs one value per hidden layer ({n_hidden}), "
                         f"got {a.shape[0]}")
    if not np.all(np.isfinite(a)):
        raise ValueError("amplifier_gain must be finite")
    return a.tolist()


_R_NAME = re.compile(r"r(\d+)_(\d+)_(\d+)")
_IH_NAME = re.compile(r"ih(\d+)_(\d+)")
_IO_NAME = re.compile(r"io(\d+)")


def drn_arrays(circuit_or_netlist):
    """Read ``(weights, biases, sizes)`` back from a DRN circuit or netlist.

    The inverse of :func:`drn_netlist`: layers are recognised by node name
    (``x*``, ``h{l}_*``, ``o*``), conductances by resistor name
    ``r{l}_{i}_{k}`` (checked against its nodes; parallel duplicates add up)
    and biases by the current sources ``ih{l}_{k}`` / ``io{k}`` (a source
    written ``I name node 0 v`` counts as ``-v``).  Missing resistors read as
    zero conductance.  Raises ``ValueError`` if the circuit is not a DRN.
    """
    names, nodes, g, isrc, all_nodes = _branches(circuit_or_netlist)
    n_x2 = _count(_indexed(all_nodes, r"x(\d+)").values(), "input")
    n_out = _count(_indexed(all_nodes, r"o(\d+)").values(), "output")
    hidden: dict[int, list[int]] = {}
    for n in all_nodes:
        m = re.fullmatch(r"h(\d+)_(\d+)", n)
        if m:
            hidden.setdefault(int(m.group(1)), []).append(int(m.group(2)))
    if sorted(hidden) != list(range(1, len(hidden) + 1)):
        raise ValueError(f"hidden layers are not numbered 1..{len(hidden)}: {sorted(hidden)}")
    sizes = [n_x2] + [_count(hidden[l], f"hidden layer {l}") for l in sorted(hidden)] + [n_out]
    if n_x2 == 0 or n_out == 0:
        raise ValueError("not a DRN: no input nodes x* or no output nodes o*")
    n_layers = len(sizes) - 1
    layer_nodes = _layer_nodes(sizes)
    weights = [np.zeros((sizes[l - 1], sizes[l])) for l in range(1, n_layers + 1)]
    for name, (a, b), gk in zip(names, nodes, g.tolist()):
        m = _R_NAME.fullmatch(name)
        if not m:
            continue
        l, i, k = (int(s) for s in m.groups())
        if not (1 <= l <= n_layers and i < sizes[l - 1] and k < sizes[l]):
            raise ValueError(f"resistor {name} is outside the DRN's layers {sizes}")
        if a not in (layer_nodes[l - 1][i], f"a{l - 1}_{i}") or b != layer_nodes[l][k]:
            raise ValueError(f"resistor {name} joins {a} and {b}, not layer {l - 1} node {i} "
                             f"and layer {l} node {k}")
        weights[l - 1][i, k] += gk
    biases = [np.zeros(s) for s in sizes[1:]]
    for name, (a, b), v in isrc:
        m = _IH_NAME.fullmatch(name)
        if m:
            l, k = int(m.group(1)), int(m.group(2))
        elif (m := _IO_NAME.fullmatch(name)):
            l, k = n_layers, int(m.group(1))
        else:
            continue
        if not (1 <= l <= n_layers and k < sizes[l]):
            raise ValueError(f"bias source {name} is outside the DRN's layers {sizes}")
        node = layer_nodes[l][k]
        if (a, b) == ("0", node):
            biases[l - 1][k] += v
        elif (a, b) == (node, "0"):
            biases[l - 1][k] -= v
        else:
            raise ValueError(f"bias source {name} joins {a} and {b}, not ground and {node}")
    return weights, biases, sizes


def drn_source_vector(x, sizes, *, gain: float = 1.0, biases=None) -> np.ndarray:
    """Sources vectors ``float64[batch, n_sources]`` of a compiled :func:`drn_netlist`.

    ``x`` is ``[batch, n_x]`` (or ``[n_x]``); the order is the circuit's:
    ``vx*`` at ``gain * [x, -x]``, then the bias currents layer by layer.
    """
    xb = np.atleast_2d(np.asarray(x, dtype=np.float64))
    if xb.shape[1] * 2 != sizes[0]:
        raise ValueError(f"x must have {sizes[0] // 2} columns, got {xb.shape[1]}")
    if biases is None:
        b = np.zeros(sum(sizes[1:]))
    else:
        b = np.concatenate([_vector(v, s, f"biases[{l}]")
                            for l, (v, s) in enumerate(zip(biases, sizes[1:]))])
    return np.concatenate([gain * xb, -gain * xb, np.broadcast_to(b, (len(xb), b.size))], axis=1)


# ---------------------------------------------------------------- random graphs
def random_resistor_diode_graph(n_nodes: int, *, degree: float = 4.0, n_diodes: int | None = None,
                                n_sources: int | None = None, n_current_sources: int | None = None,
                                seed: int = 0, thresholds: bool = False,
                                g_range: tuple[float, float] = (1e-5, 1e-3),
                                title: str | None = None) -> Netlist:
    """A random sparse connected resistor/diode network for solver tests and benchmarks.

    ``n_nodes`` free nodes ``n0..`` (ground ``0`` not counted) joined by a
    random recursive spanning tree (node ``i`` to a uniformly chosen earlier
    node) plus random extra resistors up to an average degree ``degree``;
    conductances are log-uniform in ``g_range``.  Further:

    * ``n_sources`` grounded voltage sources ``v*`` (default ``max(1, n/50)``)
      on distinct nodes, values uniform in [-1, 1] V -- they anchor the graph,
      so the result always passes :func:`check_topology`;
    * ``n_current_sources`` current sources ``i*`` (default ``n_sources``),
      half to ground and half between two nodes, uniform in +-10 uA;
    * ``n_diodes`` diodes ``d*`` (default ``n/10``) in every orientation: a
      quarter from ground to a node, a quarter from a node to ground, half
      between two distinct nodes (random direction); no diode touches a node
      fixed by a voltage source, so the ideal-diode problem is always feasible.  With
      ``thresholds=True`` they use four models with ``vth`` 0.1..0.5 V,
      otherwise one model ``drand`` with ``vth = 0``.

    Construction is vectorised in numpy; 10^5 nodes build in about a second.
    """
    if n_nodes < 1:
        raise ValueError("n_nodes must be >= 1")
    rng = np.random.default_rng(seed)

    # resistors: spanning tree + extra random edges (no self-loops)
    child = np.arange(1, n_nodes)
    parent = (rng.random(n_nodes - 1) * child).astype(np.int64)
    n_extra = max(0, int(round(n_nodes * degree / 2)) - (n_nodes - 1)) if n_nodes > 1 else 0
    ea = rng.integers(0, n_nodes, n_extra)
    eb = (ea + rng.integers(1, max(n_nodes, 2), n_extra)) % n_nodes
    keep = ea != eb
    ra = np.concatenate([child, ea[keep]])
    rb = np.concatenate([parent, eb[keep]])
    title = title or f"random resistor-diode graph, {n_nodes} nodes, seed {seed}"
    return _decorated_graph(n_nodes, ra, rb, rng, g_range, n_diodes, n_sources,
                            n_current_sources, thresholds, title)


def lattice_resistor_diode_graph(rows: int, cols: int, *, n_diodes: int | None = None,
                                 n_sources: int | None = None,
                                 n_current_sources: int | None = None, seed: int = 0,
                                 thresholds: bool = False,
                                 g_range: tuple[float, float] = (1e-5, 1e-3),
                                 title: str | None = None) -> Netlist:
    """A ``rows`` x ``cols`` square lattice of resistors (node ``n{r*cols + c}`` joined to its
    right and lower neighbours), with sources and diodes placed as
    :func:`random_resistor_diode_graph` places them: the grid-like counterpart (a crossbar's
    or a mesh's structure, where sparse factorisations stay cheap and Krylov methods need
    many iterations)."""
    if rows < 1 or cols < 1:
        raise ValueError("rows and cols must be >= 1")
    rng = np.random.default_rng(seed)
    idx = np.arange(rows * cols).reshape(rows, cols)
    ra = np.concatenate([idx[:, :-1].ravel(), idx[:-1, :].ravel()])
    rb = np.concatenate([idx[:, 1:].ravel(), idx[1:, :].ravel()])
    title = title or f"resistor-diode lattice {rows}x{cols}, seed {seed}"
    return _decorated_graph(rows * cols, ra, rb, rng, g_range, n_diodes, n_sources,
                            n_current_sources, thresholds, title)


def _decorated_graph(n_nodes, ra, rb, rng, g_range, n_diodes, n_sources, n_current_sources,
                     thresholds, title) -> Netlist:
    """Resistors ``ra``-``rb`` (log-uniform conductances in ``g_range``) plus the voltage
    sources, current sources and diodes of :func:`random_resistor_diode_graph`."""
    n_sources = max(1, n_nodes // 50) if n_sources is None else int(n_sources)
    n_sources = min(max(n_sources, 1), n_nodes)
    n_current = n_sources if n_current_sources is None else int(n_current_sources)
    n_diodes = n_nodes // 10 if n_diodes is None else int(n_diodes)
    names = [f"n{i}" for i in range(n_nodes)]
    lo, hi = np.log(g_range[0]), np.log(g_range[1])
    res = _resistance_for(np.exp(rng.uniform(lo, hi, ra.size)))

    vnodes = rng.choice(n_nodes, n_sources, replace=False)
    vval = rng.uniform(-1.0, 1.0, n_sources)
    els = [Element(f"v{k}", "V", (names[a], "0"), v)
           for k, (a, v) in enumerate(zip(vnodes.tolist(), vval.tolist()))]

    ia = rng.integers(0, n_nodes, n_current)
    ib = np.where(np.arange(n_current) % 2 == 0, -1,
                  (ia + rng.integers(1, max(n_nodes, 2), n_current)) % n_nodes)
    ib = np.where(ib == ia, -1, ib)  # only possible when n_nodes == 1
    ival = rng.uniform(-1e-5, 1e-5, n_current)
    node_or_gnd = names + ["0"]  # index -1 -> ground
    els += [Element(f"i{k}", "I", (node_or_gnd[b], names[a]), v)
            for k, (a, b, v) in enumerate(zip(ia.tolist(), ib.tolist(), ival.tolist()))]

    els += [Element(f"r{k}", "R", (names[a], names[b]), r)
            for k, (a, b, r) in enumerate(zip(ra.tolist(), rb.tolist(), res.tolist()))]

    # diode ends are drawn from the nodes no voltage source fixes: an ideal
    # diode between two fixed potentials would be infeasible (it would short them)
    free = np.setdiff1d(np.arange(n_nodes), vnodes)
    if free.size == 0 and n_diodes:
        raise ValueError("every node is driven by a voltage source: no room for diodes")
    nf = max(free.size, 1)
    fa = rng.integers(0, nf, n_diodes)
    fb = (fa + rng.integers(1, max(nf, 2), n_diodes)) % nf
    da = free[fa] if free.size else fa
    db = free[fb] if free.size else fb
    kind = np.arange(n_diodes) % 4  # 0: gnd->node, 1: node->gnd, 2, 3: node<->node
    anode = np.where(kind == 0, -1, da)
    cathode = np.where(kind == 1, -1, np.where(kind >= 2, db, da))
    swap = (kind >= 2) & (rng.random(n_diodes) < 0.5)
    anode, cathode = np.where(swap, cathode, anode), np.where(swap, anode, cathode)
    cathode = np.where(anode == cathode, -1, cathode)  # only possible with one free node
    if thresholds:
        vths = (0.1, 0.2, 0.3, 0.5)
        models = tuple(DiodeModel(f"dth{j}", (("is", 1e-14), ("n", 1.0), ("rs", 0.0), ("vth", v)))
                       for j, v in enumerate(vths))
        which = rng.integers(0, len(vths), n_diodes)
        mnames = [f"dth{j}" for j in range(len(vths))]
        els += [Element(f"d{k}", "D", (node_or_gnd[a], node_or_gnd[c]), 1.0, mnames[m])
                for k, (a, c, m) in enumerate(zip(anode.tolist(), cathode.tolist(), which.tolist()))]
    else:
        models = (DiodeModel("drand", (("is", 1e-14), ("n", 1.0), ("rs", 0.0), ("vth", 0.0))),)
        els += [Element(f"d{k}", "D", (node_or_gnd[a], node_or_gnd[c]), 1.0, "drand")
                for k, (a, c) in enumerate(zip(anode.tolist(), cathode.tolist()))]
    if n_diodes == 0:
        models = ()
    return Netlist(title, tuple(els), models)
