"""The flattened netlist: what the parser produces and the writer consumes.

A :class:`Netlist` is immutable and fully flattened: subcircuit instances are
expanded (ngspice naming: element ``R1`` inside instance ``X1`` becomes
``r.x1.r1`` and its internal node ``mid`` becomes ``x1.mid``), parameters are
evaluated to floats and all names are lower case.  Source locations are kept
for error messages but do not take part in equality, so
``parse(write(n)) == n`` holds for every netlist ``n``.
"""
from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Location:
    """Where a line came from: file path and 1-based line number."""
    file: str
    line: int
    text: str = ""

    def __str__(self) -> str:
        return f"{self.file}:{self.line}"


@dataclass(frozen=True)
class Element:
    """One flattened circuit element.

    ``kind`` is a key of :data:`circuitlearn.netlist.elements.ELEMENT_KINDS`
    (never ``"X"`` after flattening).  ``value`` means: R resistance (ohm),
    V/I DC value (V/A), E gain (V/V), G transconductance (S), D area factor.
    ``model`` is the diode model name (D only, else ``None``).
    """
    name: str
    kind: str
    nodes: tuple[str, ...]
    value: float
    model: str | None = None
    loc: Location | None = field(default=None, compare=False, repr=False)


@dataclass(frozen=True)
class DiodeModel:
    """A ``.model NAME D (...)`` card: parameter names lower case, values floats."""
    name: str
    params: tuple[tuple[str, float], ...]
    loc: Location | None = field(default=None, compare=False, repr=False)

    def get(self, key: str, default: float | None = None) -> float:
        from circuitlearn.netlist.elements import DIODE_PARAMS
        for k, v in self.params:
            if k == key:
                return v
        if default is None and key in DIODE_PARAMS:
            return DIODE_PARAMS[key][0]
        return default

    def as_dict(self) -> dict[str, float]:
        return dict(self.params)


@dataclass(frozen=True)
class Netlist:
    """A flattened DC netlist: title, elements in file order, diode models by name."""
    title: str
    elements: tuple[Element, ...]
    models: tuple[DiodeModel, ...] = ()
    source: str | None = field(default=None, compare=False, repr=False)

    def model(self, name: str) -> DiodeModel:
        for m in self.models:
            if m.name == name:
                return m
        raise KeyError(name)

    def of_kind(self, kind: str) -> tuple[Element, ...]:
        return tuple(e for e in self.elements if e.kind == kind)

    @property
    def nodes(self) -> tuple[str, ...]:
        """Node names in order of first appearance (ground first when present)."""
        seen: dict[str, None] = {}
        for e in self.elements:
            for n in e.nodes:
                seen.setdefault(n, None)
        names = list(seen)
        if "0" in seen:
            names.remove("0")
            names.insert(0, "0")
        return tuple(names)
