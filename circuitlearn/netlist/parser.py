"""SPICE-subset netlist parser: text -> flattened :class:`~circuitlearn.netlist.model.Netlist`.

Accepted cards (the element table is :data:`circuitlearn.netlist.elements.ELEMENT_KINDS`)::

    Rname n+ n- value                    value > 0, finite
    Vname n+ n- [DC] value               Iname n+ n- [DC] value
    Dname anode cathode model [area | area=value]
    Ename n+ n- nc+ nc- gain             Gname n+ n- nc+ nc- gain
    Xname node... subckt [params:] [p=value ...]
    .model name D [(] p=value ... [)]
    .subckt name port... [params:] [p=value ...]   ...   .ends [name]
    .param p=expr [q=expr ...]
    .include file  .inc file  .lib file section   (see :mod:`circuitlearn.netlist.reader`)
    .title text  .op  .options ...  .option ...  .global ...  .end

Values are SPICE numbers (``1.5k``, ``10uA``) or ``{expressions}`` over
parameters (:mod:`circuitlearn.netlist.expr`).  Names and keywords are case
insensitive (everything is lower-cased), node ``gnd`` is ground ``0``.

Choices where SPICE dialects differ:

* diode instance parameters other than the area (``off``, ``temp=``, ``m=``)
  are refused with a clear error, since they do not change the DC answer the
  same way in every simulator;
* a bare fourth diode token is read as the area (SPICE3); ngspice 39 refuses
  it (it expects a thermal node there), so decks meant for both should write
  ``area=value``, as :func:`~circuitlearn.netlist.writer.write_netlist` does;
* ``.model`` cards inside a ``.subckt`` are global (their names must be unique);
* a subcircuit body sees its caller's parameters, then its defaults, then the
  instance overrides, then its own ``.param`` lines (later ones win).

Subcircuits are flattened with ngspice's names: element ``R1`` in instance
``X1`` -> ``r.x1.r1``, node ``mid`` -> ``x1.mid``; nested ``X2`` in ``X1`` ->
``r.x1.x2.r1`` and ``x1.x2.mid``; ports become the caller's nodes and ground
stays global.  Every problem raises :class:`~circuitlearn.errors.NetlistError`
with file, line, the card and the reason.
"""
from __future__ import annotations

import os
import re
from collections import ChainMap
from dataclasses import dataclass, field

from circuitlearn.errors import NetlistError
from circuitlearn.netlist.elements import (DIODE_PARAMS, DIODE_PARAMS_NO_DC_EFFECT,
                                           DIODE_PARAMS_REFUSED,
                                           DOT_COMMANDS, ELEMENT_KINDS, GROUND,
                                           GROUND_NAMES, UNSUPPORTED, UNSUPPORTED_DOT)
from circuitlearn.netlist.expr import ExprError, eval_value, evaluate
from circuitlearn.netlist.model import DiodeModel, Element, Location, Netlist
from circuitlearn.netlist.reader import Includer, Line, decode, logical_lines, read_text

#: Largest flattened circuit accepted (guards against exponential subcircuit nesting).
MAX_ELEMENTS = 1_000_000
MAX_SUBCKT_DEPTH = 100

NAME_RE = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.:#$\-+\[\]<>/|!@%&~^?]*\Z")
PARAM_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_.]*\Z")
#: source keywords outside the DC subset
WAVEFORMS = frozenset({"ac", "pulse", "sin", "exp", "pwl", "sffm", "am", "trnoise",
                       "trrandom", "distof1", "distof2", "portnum", "z0"})


# --------------------------------------------------------------------------- cards
def split_card(card: Line) -> list[str]:
    """Tokens of a card: whitespace, ``( ) ,`` separate; ``=`` is a token; ``{...}``
    and ``'...'`` stay whole."""
    toks: list[str] = []
    cur, depth, quote = "", 0, False
    for ch in card.text:
        if quote:
            cur += ch
            quote = ch != "'"
        elif depth:
            cur += ch
            depth += (ch == "{") - (ch == "}")
        elif ch == "{":
            cur += ch
            depth = 1
        elif ch == "'":
            cur += ch
            quote = True
        elif ch == "}":
            raise card.error("unbalanced '}' (no matching '{')")
        elif ch in " \t\r(),=":
            if cur:
                toks.append(cur)
            cur = ""
            if ch == "=":
                toks.append("=")
        else:
            cur += ch
    if depth or quote:
        raise card.error("unbalanced '{' or quote: expression is never closed")
    if cur:
        toks.append(cur)
    return toks


def split_assignments(toks: list[str], card: Line) -> tuple[list[str], list[tuple[str, str]]]:
    """Split tokens into positional ones and trailing ``name = value`` pairs."""
    pos: list[str] = []
    pairs: list[tuple[str, str]] = []
    i = 0
    while i < len(toks):
        if i + 1 < len(toks) and toks[i + 1] == "=":
            if i + 2 >= len(toks) or toks[i + 2] == "=":
                raise card.error(f"missing value after '{toks[i]}='")
            pairs.append((toks[i].lower(), toks[i + 2]))
            i += 3
            continue
        if toks[i] == "=":
            raise card.error("'=' without a name before it")
        if pairs:
            raise card.error(f"unexpected {toks[i]!r} after name=value parameters")
        pos.append(toks[i])
        i += 1
    return pos, pairs


def check_name(name: str, what: str, card: Line) -> str:
    if not NAME_RE.match(name):
        raise card.error(f"invalid {what} name {name!r} (use letters, digits, _ . : and the like)")
    return name.lower()


def value(token: str, params: dict, card: Line, what: str) -> float:
    try:
        return eval_value(token, params)
    except ExprError as exc:
        raise card.error(f"{what}: {exc}") from None


# --------------------------------------------------------------------------- structure
@dataclass
class Subckt:
    """A ``.subckt`` definition (or the top level, ``name=""``)."""
    name: str
    ports: tuple[str, ...] = ()
    defaults: list[tuple[str, str]] = field(default_factory=list)
    body: list = field(default_factory=list)      # Line cards, in order
    subckts: dict = field(default_factory=dict)   # nested definitions
    parent: "Subckt | None" = None
    card: Line | None = None

    def lookup(self, name: str) -> "Subckt | None":
        scope = self
        while scope is not None:
            if name in scope.subckts:
                return scope.subckts[name]
            scope = scope.parent
        return None


class _Builder:
    def __init__(self):
        self.top = Subckt("")
        self.title_card: str | None = None
        self.model_cards: list[Line] = []
        self.elements: list[Element] = []
        self.names: dict[str, Element] = {}
        self.work = 0
        self.tokens: dict[Line, list[str]] = {}   # split_card results, per card

    # -- pass 1: structure
    def structure(self, cards: list[Line]) -> None:
        cur = self.top
        for card in cards:
            word = card.text.split(None, 1)[0].lower()
            if not word.startswith("."):
                cur.body.append(card)
                continue
            if word == ".subckt":
                cur = self._open_subckt(card, cur)
            elif word == ".ends":
                if cur is self.top:
                    raise card.error(".ends without an open .subckt")
                args = split_card(card)[1:]
                if args and args[0].lower() != cur.name:
                    raise card.error(f".ends {args[0]} closes .subckt {cur.name}")
                cur = cur.parent
            elif word == ".model":
                self.model_cards.append(card)
            elif word == ".param":
                cur.body.append(card)
            elif word == ".title":
                parts = card.text.split(None, 1)
                self.title_card = parts[1].strip() if len(parts) > 1 else ""
            elif word in UNSUPPORTED_DOT:
                raise card.error(f"{word} ({UNSUPPORTED_DOT[word]}) is outside the DC subset "
                                 "circuitlearn simulates (only .op)")
            elif word in DOT_COMMANDS:
                continue   # .op, .options, .option, .global: nothing to do
            else:
                raise card.error(f"unknown dot command {word}")
        if cur is not self.top:
            raise cur.card.error(f".subckt {cur.name} is never closed by .ends")

    def _open_subckt(self, card: Line, parent: Subckt) -> Subckt:
        pos, pairs = split_assignments(split_card(card)[1:], card)
        if pos and pos[-1].lower() == "params:":
            pos = pos[:-1]
        if not pos:
            raise card.error(".subckt needs a name (.subckt NAME PORT... [params: p=v ...])")
        name = check_name(pos[0], "subcircuit", card)
        ports = tuple(_node(p, card) for p in pos[1:])
        if GROUND in ports:
            raise card.error(f".subckt {name}: ground (0/gnd) cannot be a port")
        if len(set(ports)) != len(ports):
            raise card.error(f".subckt {name}: a port is listed twice")
        if name in parent.subckts:
            other = parent.subckts[name].card
            raise card.error(f"duplicate .subckt {name} (first defined at {other.file}:{other.line})")
        for p, _ in pairs:
            _param_name(p, card)
        sub = Subckt(name, ports, pairs, parent=parent, card=card)
        parent.subckts[name] = sub
        return sub

    # -- pass 2: parameters, models, elements
    def expand(self, sub: Subckt, params: dict, prefix: str, nodemap: dict, stack: tuple):
        """Flatten ``sub``'s body (top-level .param cards were evaluated beforehand)."""
        for card in sub.body:
            self.work += 1
            if self.work > MAX_ELEMENTS:
                raise card.error(f"circuit needs more than {MAX_ELEMENTS} cards after flattening")
            if card.text.split(None, 1)[0].lower() == ".param":
                if sub is self.top:
                    continue
                params = ChainMap(parse_param_card(card, params), params)   # shared, not copied
                continue
            self.element(card, params, prefix, nodemap, sub, stack)

    def element(self, card, params, prefix, nodemap, sub, stack):
        toks = self.tokens.get(card)
        if toks is None:
            toks = self.tokens[card] = split_card(card)
        if not toks:
            raise card.error("card has no element name")
        name = check_name(toks[0], "element", card)
        letter = name[0].upper()
        if letter not in ELEMENT_KINDS:
            if letter in UNSUPPORTED:
                raise card.error(f"{toks[0]}: {UNSUPPORTED[letter]} ({letter}) is outside "
                                 "the DC subset circuitlearn simulates (R V I D E G X)")
            raise card.error(f"{toks[0]}: unknown element kind {letter!r} "
                             "(known: R V I D E G X)")

        def node(tok):
            n = _node(tok, card)
            if n == GROUND:
                return GROUND
            if n in nodemap:
                return nodemap[n]
            return f"{prefix}.{n}" if prefix else n

        full = f"{name[0]}.{prefix}.{name}" if prefix else name
        loc = Location(card.file, card.line, card.text)
        if letter == "X":
            self.instance(card, toks, name, params, prefix, node, sub, stack)
            return
        kind = ELEMENT_KINDS[letter]
        pos, pairs = split_assignments(toks[1:], card)
        if letter == "D":
            el = self._diode(card, name, pos, pairs, params, node, full, loc)
        else:
            if pairs:
                raise card.error(f"{kind.name} {name}: unexpected parameter {pairs[0][0]}= "
                                 f"(syntax: {kind.spice})")
            if letter in "VI":
                pos = self._source_args(card, pos, kind)
            want = kind.n_nodes + 1
            if len(pos) != want:
                few = "too few" if len(pos) < want else "too many"
                raise card.error(f"{kind.name} {name}: {few} fields, expected {kind.n_nodes} "
                                 f"nodes and a value (syntax: {kind.spice})")
            nodes = tuple(node(t) for t in pos[:-1])
            v = value(pos[-1], params, card, f"{kind.name} {name}")
            if letter == "R" and not v > 0:
                raise card.error(f"resistor {name}: resistance must be > 0, got {v!r}")
            el = Element(full, letter, nodes, v, None, loc)
        self.add(el, card)

    def _source_args(self, card, pos, kind):
        rest = pos[2:]
        for t in rest:
            if t.lower() in WAVEFORMS:
                raise card.error(f"{kind.name}: {t.upper()} source is outside the DC subset "
                                 "circuitlearn simulates (use [DC] value)")
        if rest and rest[0].lower() == "dc":
            rest = rest[1:]
        return pos[:2] + rest

    def _diode(self, card, name, pos, pairs, params, node, full, loc):
        syntax = ELEMENT_KINDS["D"].spice
        if len(pos) < 3:
            raise card.error(f"diode {name}: too few fields (syntax: {syntax})")
        if len(pos) > 4:
            raise card.error(f"diode {name}: too many fields (syntax: {syntax})")
        area_tok = pos[3] if len(pos) == 4 else None
        if area_tok is not None and area_tok.lower() == "off":
            raise card.error(f"diode {name}: instance parameter 'off' is not supported "
                             "(only the area)")
        for k, v in pairs:
            if k != "area" or area_tok is not None:
                raise card.error(f"diode {name}: instance parameter {k!r} is not supported "
                                 "(only the area: area=value)")
            area_tok = v
        model = check_name(pos[2], "model", card)
        area = 1.0 if area_tok is None else value(area_tok, params, card, f"diode {name} area")
        if not area > 0:
            raise card.error(f"diode {name}: area must be > 0, got {area!r}")
        return Element(full, "D", (node(pos[0]), node(pos[1])), area, model, loc)

    def instance(self, card, toks, name, params, prefix, node, sub, stack):
        pos, pairs = split_assignments(toks[1:], card)
        if pos and pos[-1].lower() == "params:":
            pos = pos[:-1]
        if not pos:
            raise card.error(f"subcircuit instance {name}: missing subcircuit name "
                             "(syntax: Xname node... subckt [p=value ...])")
        subname = check_name(pos[-1], "subcircuit", card)
        definition = sub.lookup(subname)
        if definition is None:
            raise card.error(f"{name}: undefined subcircuit {subname!r}")
        if subname in stack:
            chain = " -> ".join(stack[stack.index(subname):] + (subname,))
            raise card.error(f"recursive subcircuit instantiation: {chain}")
        if len(stack) >= MAX_SUBCKT_DEPTH:
            raise card.error(f"subcircuits nested more than {MAX_SUBCKT_DEPTH} deep")
        nodes = [node(t) for t in pos[:-1]]
        if len(nodes) != len(definition.ports):
            raise card.error(f"{name}: subcircuit {subname} has {len(definition.ports)} ports "
                             f"({' '.join(definition.ports)}), got {len(nodes)} nodes")
        # scope: caller's parameters, then defaults, then the instance's overrides
        scope = ChainMap({}, params)      # writes go to the instance's own layer
        for p, expr in definition.defaults:
            scope[p] = value(expr, scope, definition.card, f"default of parameter {p}")
        known = {p for p, _ in definition.defaults}
        for p, expr in pairs:
            if p not in known:
                raise card.error(f"{name}: subcircuit {subname} has no parameter {p!r}"
                                 + (f" (has: {', '.join(sorted(known))})" if known else ""))
            scope[p] = value(expr, params, card, f"parameter {p}")
        path = f"{prefix}.{name}" if prefix else name
        self.expand(definition, scope, path, dict(zip(definition.ports, nodes)),
                    stack + (subname,))

    def add(self, el: Element, card: Line) -> None:
        if el.name in self.names:
            first = self.names[el.name].loc
            raise card.error(f"duplicate element name {el.name} "
                             f"(first at {first.file}:{first.line})")
        if len(self.elements) >= MAX_ELEMENTS:
            raise card.error(f"circuit has more than {MAX_ELEMENTS} elements after flattening")
        self.names[el.name] = el
        self.elements.append(el)

    def models(self, params: dict) -> tuple[DiodeModel, ...]:
        seen: dict[str, DiodeModel] = {}
        for card in self.model_cards:
            m = parse_model_card(card, params)
            if m.name in seen:
                first = seen[m.name].loc
                raise card.error(f"duplicate .model {m.name} (first at {first.file}:{first.line})")
            seen[m.name] = m
        return tuple(seen.values())


def _node(tok: str, card: Line) -> str:
    n = check_name(tok, "node", card)
    return GROUND if n in GROUND_NAMES else n


def _param_name(p: str, card: Line) -> str:
    if not PARAM_RE.match(p):
        raise card.error(f"invalid parameter name {p!r}")
    return p.lower()


#: ``name =`` in a .param card; starts only at a name boundary so long text stays linear
_ASSIGN = re.compile(r"(?<![A-Za-z0-9_.])([A-Za-z_][A-Za-z0-9_.]*+)\s*+=(?!=)")


def parse_param_card(card: Line, params: dict) -> dict[str, float]:
    """``.param a=1 b={a*2} c = 2*a`` -> values, each seeing the ones before it."""
    rest = card.text.split(None, 1)[1] if len(card.text.split(None, 1)) > 1 else ""
    matches = list(_ASSIGN.finditer(rest))
    if not matches or rest[:matches[0].start()].strip():
        raise card.error(".param needs name=value assignments (.param p=1k q={2*p})")
    out = {}
    scope = ChainMap(out, params)     # sees the card's own earlier names; no copy per card
    for k, m in enumerate(matches):
        end = matches[k + 1].start() if k + 1 < len(matches) else len(rest)
        text = rest[m.end():end].strip()
        name = m.group(1).lower()
        if not text:
            raise card.error(f".param {name}: missing value")
        if len(text) >= 2 and text[0] == "{" and text[-1] == "}" or \
                len(text) >= 2 and text[0] == text[-1] == "'":
            text = text[1:-1]
        try:
            out[name] = evaluate(text, scope)
        except ExprError as exc:
            raise card.error(f".param {name}: {exc}") from None
    return out


def parse_model_card(card: Line, params: dict) -> DiodeModel:
    """``.model NAME D (p=value ...)`` -> DiodeModel; other model types are refused."""
    pos, pairs = split_assignments(split_card(card)[1:], card)
    if len(pos) < 2:
        raise card.error(".model needs a name and a type (.model NAME D (IS=... N=...))")
    if len(pos) > 2:
        raise card.error(f".model: unexpected {pos[2]!r} (parameters are written name=value)")
    name = check_name(pos[0], "model", card)
    mtype = pos[1].lower()
    if mtype != "d":
        raise card.error(f".model {name}: model type {pos[1]!r} is outside the DC subset "
                         "circuitlearn simulates (only D diode models)")
    values: dict[str, float] = {}
    for k, tok in pairs:
        if k not in DIODE_PARAMS and k not in DIODE_PARAMS_NO_DC_EFFECT:
            raise card.error(f".model {name}: unknown diode parameter {k!r}")
        v = value(tok, params, card, f".model {name} {k}")
        if k in ("is", "n") and not v > 0:
            raise card.error(f".model {name}: {k.upper()} must be > 0, got {v!r}")
        if k == "rs" and v < 0:
            raise card.error(f".model {name}: RS must be >= 0, got {v!r}")
        if k in DIODE_PARAMS_REFUSED and v != DIODE_PARAMS_REFUSED[k][0]:
            default, why = DIODE_PARAMS_REFUSED[k]
            raise card.error(f".model {name}: {k.upper()}={v:g} changes the DC curve in "
                             f"ngspice ({why}), which circuitlearn does not model; remove it "
                             f"or set it to {default:g}")
        values[k] = v
    return DiodeModel(name, tuple(values.items()), Location(card.file, card.line, card.text))


# --------------------------------------------------------------------------- entry points
def parse_netlist(text: str, file: str = "<string>", *, base_dir: str | None = None,
                  allow_outside: bool = False) -> Netlist:
    """Parse netlist text (first line = title) into a flattened :class:`Netlist`.

    ``base_dir`` is the folder relative includes are resolved against and may
    not be left (default: the folder of ``file`` if it is a path, else the
    current directory) unless ``allow_outside``.  Raises NetlistError only.
    """
    if isinstance(text, bytes):
        text = decode(text, file)
    if base_dir is None:
        base_dir = os.path.dirname(os.path.abspath(file)) if not file.startswith("<") \
            else os.getcwd()
    if not text.strip():
        raise NetlistError("empty netlist", file, 1)
    title, cards = logical_lines(text, file, has_title=True)
    cards = Includer(base_dir, allow_outside).expand(cards, (os.path.realpath(file),))
    b = _Builder()
    b.structure(cards)
    params: dict[str, float] = {}
    for card in b.top.body:
        if card.text.split(None, 1)[0].lower() == ".param":
            params.update(parse_param_card(card, params))
    models = b.models(params)
    b.expand(b.top, params, "", {}, ())
    if not b.elements:
        raise NetlistError("netlist has no elements", file, 1, title)
    names = {m.name for m in models}
    for el in b.elements:
        if el.kind == "D" and el.model not in names:
            raise NetlistError(f"diode {el.name}: unknown model {el.model!r} "
                               "(no .model card with that name)", el.loc.file, el.loc.line,
                               el.loc.text)
    return Netlist(b.title_card if b.title_card is not None else title,
                   tuple(b.elements), models, file)


def read_netlist(path, *, allow_outside: bool = False) -> Netlist:
    """Read and parse a netlist file; includes may not leave its folder unless allowed."""
    path = os.fspath(path)
    text = read_text(path)
    return parse_netlist(text, path, base_dir=os.path.dirname(os.path.abspath(path)),
                         allow_outside=allow_outside)
