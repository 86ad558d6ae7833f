"""The compiled circuit: a frozen object of flat numpy arrays.

Built once from a :class:`~circuitlearn.netlist.model.Netlist` by
:func:`compile_netlist`; everything downstream (solvers, learning, devices)
takes a :class:`Circuit`, never netlist text.  Node index 0 is ground.

Sign conventions (as in SPICE):

* ``vsource_nodes[k] = (n+, n-)``: ``v[n+] - v[n-] = vsource_value[k]``.
* ``isource_nodes[k] = (n+, n-)``: the current flows from ``n+`` through the
  source to ``n-``, i.e. it is *drawn from* ``n+`` and *injected into* ``n-``.
* ``diode_nodes[k] = (anode, cathode)``.
* ``vcvs_nodes[k] = (n+, n-, nc+, nc-)``: ``v[n+] - v[n-] = gain * (v[nc+] - v[nc-])``.
* ``vccs_nodes[k] = (n+, n-, nc+, nc-)``: a current ``gain * (v[nc+] - v[nc-])``
  flows from ``n+`` through the source to ``n-``.

The *sources vector* of a circuit lists the independent source values in the
order of :attr:`Circuit.source_names`: voltage sources first, then current
sources, each in netlist order.  Batched solves take ``[batch, n_sources]``
arrays in that order.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np

from circuitlearn.errors import NetlistError
from circuitlearn.netlist.elements import GROUND
from circuitlearn.netlist.model import Netlist


def _frozen(a, dtype) -> np.ndarray:
    a = np.ascontiguousarray(a, dtype=dtype)
    a.flags.writeable = False
    return a


@dataclass(frozen=True, eq=False)
class Circuit:
    """Flat-array description of a DC circuit (see module docstring for signs)."""
    node_names: tuple[str, ...]
    resistor_names: tuple[str, ...]
    resistor_nodes: np.ndarray      # int64[m, 2]
    conductance: np.ndarray         # float64[m], siemens, > 0
    diode_names: tuple[str, ...]
    diode_models: tuple[str, ...]
    diode_nodes: np.ndarray         # int64[d, 2] (anode, cathode)
    diode_is: np.ndarray            # float64[d], IS * area
    diode_n: np.ndarray             # float64[d], emission coefficient N
    diode_rs: np.ndarray            # float64[d], RS / area (ohm)
    diode_vth: np.ndarray           # float64[d], ideal-diode threshold (V)
    diode_area: np.ndarray          # float64[d], instance area factor
    vsource_names: tuple[str, ...]
    vsource_nodes: np.ndarray       # int64[nv, 2]
    vsource_value: np.ndarray       # float64[nv]
    isource_names: tuple[str, ...]
    isource_nodes: np.ndarray       # int64[ni, 2]
    isource_value: np.ndarray       # float64[ni]
    vcvs_names: tuple[str, ...]
    vcvs_nodes: np.ndarray          # int64[ne, 4]
    vcvs_gain: np.ndarray           # float64[ne]
    vccs_names: tuple[str, ...]
    vccs_nodes: np.ndarray          # int64[ng, 4]
    vccs_gain: np.ndarray           # float64[ng]
    title: str = ""
    models: tuple = ()              # the netlist's DiodeModel cards (for writing back)
    diode_bv: np.ndarray | None = None    # float64[d], breakdown voltage BV (V; inf: none)
    diode_ibv: np.ndarray | None = None   # float64[d], IBV (A; ngspice 39 does not scale it by area)
    diode_nbv: np.ndarray | None = None   # float64[d], breakdown emission coefficient NBV

    def __post_init__(self):
        d = len(self.diode_names)
        for name, default in (("diode_bv", np.inf), ("diode_ibv", 1e-3), ("diode_nbv", None)):
            if getattr(self, name) is None:
                val = np.asarray(self.diode_n, np.float64) if default is None else np.full(d, default)
                object.__setattr__(self, name, np.array(val, dtype=np.float64))
        int_fields = ("resistor_nodes", "diode_nodes", "vsource_nodes", "isource_nodes",
                      "vcvs_nodes", "vccs_nodes")
        widths = {"vcvs_nodes": 4, "vccs_nodes": 4}
        for f in dataclasses.fields(self):
            val = getattr(self, f.name)
            if f.name in int_fields:
                arr = np.asarray(val, dtype=np.int64).reshape(-1, widths.get(f.name, 2))
                object.__setattr__(self, f.name, _frozen(arr, np.int64))
            elif isinstance(val, (np.ndarray, list)) and f.type != "tuple[str, ...]":
                object.__setattr__(self, f.name, _frozen(val, np.float64))
            elif f.type == "tuple[str, ...]":
                object.__setattr__(self, f.name, tuple(val))

    # ----------------------------------------------------------------- sizes
    @property
    def n_nodes(self) -> int:
        """Number of nodes, ground (index 0) included."""
        return len(self.node_names)

    @property
    def source_names(self) -> tuple[str, ...]:
        """Independent sources in sources-vector order: V sources, then I sources."""
        return self.vsource_names + self.isource_names

    @property
    def n_sources(self) -> int:
        return len(self.vsource_names) + len(self.isource_names)

    def default_sources(self) -> np.ndarray:
        """The netlist's own source values as a ``float64[n_sources]`` vector."""
        return np.concatenate([self.vsource_value, self.isource_value])

    def split_sources(self, sources) -> tuple[np.ndarray, np.ndarray]:
        """Check a ``[batch, n_sources]`` (or ``[n_sources]``) array; return (V, I) parts as 2-D."""
        s = np.asarray(sources, dtype=np.float64)
        if s.ndim == 1:
            s = s[None, :]
        if s.ndim != 2 or s.shape[1] != self.n_sources:
            raise ValueError(f"sources must have shape [batch, {self.n_sources}] "
                             f"(order: {', '.join(self.source_names)}), got {np.shape(sources)}")
        if not np.all(np.isfinite(s)):
            raise ValueError("sources contain NaN or infinity")
        nv = len(self.vsource_names)
        return s[:, :nv], s[:, nv:]

    def node_index(self, name: str) -> int:
        try:
            return self.node_names.index(name.lower())
        except ValueError:
            raise KeyError(f"no node named {name!r}") from None

    def with_conductance(self, conductance) -> "Circuit":
        """A copy with new resistor conductances (same topology); ``conductance`` is copied
        (the circuit's arrays are frozen, the caller's stays writable)."""
        g = np.array(conductance, dtype=np.float64)
        if g.shape != self.conductance.shape:
            raise ValueError(f"conductance must have shape {self.conductance.shape}, got {g.shape}")
        return dataclasses.replace(self, conductance=g)

    def to_netlist(self) -> Netlist:
        """The circuit as a flattened netlist (current values), e.g. to write it for ngspice."""
        from circuitlearn.netlist.model import Element
        nn = self.node_names
        els = []

        def add(names, nodes, values, kind, models=None):
            for k, name in enumerate(names):
                els.append(Element(name, kind, tuple(nn[i] for i in nodes[k]), float(values[k]),
                                   None if models is None else models[k]))
        add(self.vsource_names, self.vsource_nodes, self.vsource_value, "V")
        add(self.isource_names, self.isource_nodes, self.isource_value, "I")
        add(self.resistor_names, self.resistor_nodes, 1.0 / self.conductance, "R")
        add(self.diode_names, self.diode_nodes, self.diode_area, "D", self.diode_models)
        add(self.vcvs_names, self.vcvs_nodes, self.vcvs_gain, "E")
        add(self.vccs_names, self.vccs_nodes, self.vccs_gain, "G")
        used = set(self.diode_models)
        return Netlist(self.title, tuple(els), tuple(m for m in self.models if m.name in used))

    def with_sources(self, sources) -> "Circuit":
        """A copy whose netlist source values are ``sources`` (``float64[n_sources]``)."""
        v, i = self.split_sources(np.asarray(sources, dtype=np.float64).reshape(1, -1))
        return dataclasses.replace(self, vsource_value=v[0], isource_value=i[0])


def compile_netlist(netlist: Netlist, check: bool = True) -> Circuit:
    """Compile a flattened netlist into a :class:`Circuit`.

    With ``check=True`` the topology is verified (see
    :func:`circuitlearn.compile.topology.check_topology`): floating nodes,
    loops of voltage sources and shorted sources raise
    :class:`~circuitlearn.errors.TopologyError` naming the nodes.
    """
    names: dict[str, int] = {GROUND: 0}
    for e in netlist.elements:
        for n in e.nodes:
            names.setdefault(n, len(names))
    models = {m.name: m for m in netlist.models}

    def idx(e):
        return [names[n] for n in e.nodes]

    groups: dict[str, list] = {k: [] for k in "RVIDEG"}
    for e in netlist.elements:
        if e.kind not in groups:
            raise NetlistError(f"element kind {e.kind!r} cannot be compiled",
                               *(_where(e)))
        groups[e.kind].append(e)

    diodes = groups["D"]
    dparams = []
    for e in diodes:
        if e.model not in models:
            raise NetlistError(f"diode {e.name}: unknown model {e.model!r}", *_where(e))
        m = models[e.model]
        area = e.value
        nbv = m.get("nbv")
        dparams.append((m.get("is") * area, m.get("n"), m.get("rs") / area, m.get("vth"), area,
                        m.get("bv"), m.get("ibv"), m.get("n") if np.isnan(nbv) else nbv))
    dparams = np.asarray(dparams, dtype=np.float64).reshape(-1, 8)

    def table(kind):
        els = groups[kind]
        return (tuple(e.name for e in els), [idx(e) for e in els],
                np.array([e.value for e in els], dtype=np.float64))

    _check_ranges(groups, dparams, diodes)
    rn, rnodes, rval = table("R")
    vn, vnodes, vval = table("V")
    inames, inodes, ival = table("I")
    en, enodes, egain = table("E")
    gn, gnodes, ggain = table("G")
    circuit = Circuit(
        node_names=tuple(names),
        resistor_names=rn, resistor_nodes=rnodes, conductance=1.0 / rval,
        diode_names=tuple(e.name for e in diodes), diode_models=tuple(e.model for e in diodes),
        diode_nodes=[idx(e) for e in diodes],
        diode_is=dparams[:, 0], diode_n=dparams[:, 1], diode_rs=dparams[:, 2],
        diode_vth=dparams[:, 3], diode_area=dparams[:, 4],
        diode_bv=dparams[:, 5], diode_ibv=dparams[:, 6], diode_nbv=dparams[:, 7],
        vsource_names=vn, vsource_nodes=vnodes, vsource_value=vval,
        isource_names=inames, isource_nodes=inodes, isource_value=ival,
        vcvs_names=en, vcvs_nodes=enodes, vcvs_gain=egain,
        vccs_names=gn, vccs_nodes=gnodes, vccs_gain=ggain,
        title=netlist.title, models=tuple(netlist.models),
    )
    if check:
        from circuitlearn.compile.topology import check_topology
        check_topology(circuit, netlist)
        spread, big, small = conductance_spread(circuit)
        if spread > SPREAD_LIMIT:
            import warnings
            from circuitlearn.errors import ConditioningWarning
            where = next((e.loc.file for e in netlist.elements if e.loc is not None), None)
            warnings.warn(f"{where + ': ' if where else ''}conductances span {spread:.3g}x "
                          f"({big} .. {small}), more than float64 resolves (1/eps = 4.5e15): "
                          "a solve may fail its node certificate (status 4)",
                          ConditioningWarning, stacklevel=2)
    return circuit


#: conductance spread (largest / smallest) above which a deck is warned about: currents
#: through the smallest element fall below float64's resolution of the largest
SPREAD_LIMIT = 1e15


def conductance_spread(circuit) -> tuple[float, str, str]:
    """``(g_max / g_min, name of the largest, name of the smallest)`` over the resistors and
    diode series resistances (1.0 and empty names for fewer than two)."""
    names = list(circuit.resistor_names)
    g = list(circuit.conductance)
    for name, rs in zip(circuit.diode_names, circuit.diode_rs):
        if rs > 0:
            names.append(f"{name} (RS)")
            g.append(1.0 / rs)
    if len(g) < 2:
        return 1.0, "", ""
    g = np.asarray(g)
    hi, lo = int(np.argmax(g)), int(np.argmin(g))
    return float(g[hi] / g[lo]), names[hi], names[lo]


#: magnitudes a compiled circuit accepts: resistances (and diode RS) within
#: [RANGE_MIN, RANGE_MAX] ohm, source values and controlled-source gains at most RANGE_MAX.
#: Beyond them products of a few values leave float64 (1e308) or lose it to sub-normals,
#: and a solve would report infinities or NaN; ngspice itself works in far narrower ranges.
RANGE_MIN, RANGE_MAX = 1e-100, 1e100


def _check_ranges(groups, dparams, diodes):
    """Refuse, with the card's location, values outside float64's useful range."""
    for e in groups["R"]:
        r = abs(e.value)
        if not (np.isfinite(r) and RANGE_MIN <= r <= RANGE_MAX):
            raise NetlistError(f"resistor {e.name}: {e.value!r} ohm is outside the range "
                               f"circuitlearn can solve ({RANGE_MIN:g} .. {RANGE_MAX:g} ohm)",
                               *_where(e))
    for kind, what in (("V", "voltage source"), ("I", "current source"), ("E", "gain"),
                       ("G", "transconductance")):
        for e in groups[kind]:
            if not (np.isfinite(e.value) and abs(e.value) <= RANGE_MAX):
                raise NetlistError(f"{what} {e.name}: {e.value!r} is outside the range "
                                   f"circuitlearn can solve (|value| <= {RANGE_MAX:g})",
                                   *_where(e))
    for k, e in enumerate(diodes):
        isat, n, rs = dparams[k, 0], dparams[k, 1], dparams[k, 2]
        if not (np.isfinite(isat) and isat > RANGE_MIN and np.isfinite(n) and n > 0):
            raise NetlistError(f"diode {e.name}: IS*area = {float(isat):g} and N = {float(n):g} must be "
                               f"finite and positive (IS > {RANGE_MIN:g})", *_where(e))
        if rs != 0 and not (np.isfinite(rs) and RANGE_MIN <= rs <= RANGE_MAX):
            raise NetlistError(f"diode {e.name}: RS/area = {float(rs):g} ohm is outside the range "
                               f"circuitlearn can solve (0 or {RANGE_MIN:g} .. "
                               f"{RANGE_MAX:g})", *_where(e))
        bv, ibv, nbv = dparams[k, 5], dparams[k, 6], dparams[k, 7]
        if bv != np.inf and not (np.isfinite(bv) and 0 < bv <= RANGE_MAX and np.isfinite(ibv)
                                 and ibv > RANGE_MIN and np.isfinite(nbv) and nbv > 0):
            raise NetlistError(f"diode {e.name} (model {e.model}): BV = {float(bv):g} V, "
                               f"IBV = {float(ibv):g} A and NBV = {float(nbv):g} must be "
                               f"finite and positive", *_where(e))
        if bv != np.inf and not bv + dparams[k, 3] > 0:
            raise NetlistError(f"diode {e.name} (model {e.model}): BV = {float(bv):g} V must "
                               f"exceed -VTH = {-float(dparams[k, 3]):g} V (the ideal diode's "
                               f"breakdown clamp lies below its forward threshold)", *_where(e))


def _where(e):
    if e.loc is None:
        return (None, None, None)
    return (e.loc.file, e.loc.line, e.loc.text)
