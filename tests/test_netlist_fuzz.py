"""Property tests: any input gives a Netlist or a located NetlistError -- nothing else, no hang.

* >= 900 generated flat netlists: ``parse(write(n)) == n`` exactly;
* >= 700 decks of random cards built from SPICE-ish tokens (valid and not);
* >= 1,100 random mutations of the example decks (deleted tokens, swapped and
  duplicated lines, junk bytes, huge numbers, unicode, truncation).

Whenever a text parses, writing and re-reading it must give the same netlist.
"""
from __future__ import annotations

import glob
import os

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from circuitlearn.errors import NetlistError
from circuitlearn.netlist import DiodeModel, Element, Netlist, parse_netlist, write_netlist
from circuitlearn.netlist.elements import DIODE_PARAMS

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DECK_DIR = os.path.join(ROOT, "netlists")
DECK_TEXTS = [open(p, "rb").read() for p in sorted(glob.glob(os.path.join(DECK_DIR, "*.cir")))]
SETTINGS = dict(deadline=None, derandomize=True, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                       HealthCheck.filter_too_much])


def parse_or_error(text):
    """Parse; the only exception allowed is a located NetlistError."""
    try:
        n = parse_netlist(text, os.path.join(DECK_DIR, "fuzz.cir"), base_dir=DECK_DIR)
    except NetlistError as err:
        assert err.reason and err.file and isinstance(err.line, int) and err.line >= 1, err
        assert str(err).startswith(f"{err.file}:{err.line}: ")
        return err
    assert isinstance(n, Netlist) and n.elements
    again = parse_netlist(write_netlist(n))
    assert again == n
    return n


# ----------------------------------------------------------------------------- flat netlists
names = st.from_regex(r"[a-z0-9_][a-z0-9_.$#:\[\]-]{0,6}", fullmatch=True)
nodes = st.one_of(st.sampled_from(["0", "a", "b", "x1.mid", "n-1", "q[2]"]), names)
pos_floats = st.floats(min_value=5e-324, max_value=1.7976931348623157e308, allow_nan=False)
any_floats = st.floats(allow_nan=False, allow_infinity=False)
titles = st.text(st.characters(blacklist_categories=("Cc", "Cs", "Zl", "Zp")),
                 max_size=30).map(str.strip)


@st.composite
def netlists(draw):
    keys = sorted(DIODE_PARAMS) + ["cjo", "ibv", "tt"]
    models = []
    for k, name in enumerate(draw(st.lists(names, max_size=3, unique=True))):
        chosen = draw(st.lists(st.sampled_from(keys), unique=True, max_size=5))
        params = tuple((p, draw(pos_floats if p in ("is", "n") else
                                st.floats(min_value=0, max_value=1e300) if p == "rs"
                                else any_floats)) for p in chosen)
        models.append(DiodeModel(name, params))
    kinds = "RVIEG" + ("D" if models else "")
    els = []
    for i in range(draw(st.integers(1, 12))):
        kind = draw(st.sampled_from(kinds))
        name = f"{kind.lower()}{i}{draw(st.sampled_from(['', '.x1.r', '_a', '.x2.x3.q']))}"
        n_nodes = 4 if kind in "EG" else 2
        ns = tuple(draw(nodes) for _ in range(n_nodes))
        if kind == "R":
            els.append(Element(name, "R", ns, draw(pos_floats)))
        elif kind == "D":
            area = draw(st.one_of(st.just(1.0), pos_floats))
            els.append(Element(name, "D", ns, area, draw(st.sampled_from(models)).name))
        else:
            els.append(Element(name, kind, ns, draw(any_floats)))
    return Netlist(draw(titles), tuple(els), tuple(models))


@settings(max_examples=900, **SETTINGS)
@given(netlists())
def test_generated_netlists_round_trip(n):
    text = write_netlist(n)
    assert parse_netlist(text) == n
    assert write_netlist(parse_netlist(text)) == text


# ----------------------------------------------------------------------------- random cards
TOKENS = ["R1", "r2", "V1", "I1", "D1", "E1", "G1", "X1", "C1", "Q1", "K1", "%", "a", "b", "0",
          "gnd", "GND", "x1.n", "1k", "1.5kohm", "10uA", "-1", "0", "1e999", "1e-999", "9" * 40,
          "{a*2}", "{1/0}", "{", "}", "'", "(", ")", "=", "area=2", "dc", "DC", "ac", "pulse(0",
          "dm", "s", "params:", "r=2", "p={r+1}", "nan", "inf", "+", "*", ";", "$", "é",
          "\u3000", "\t", "\ufeff", "1meg", "2.2n", "..", "-", ".5"]
DOTS = [".model dm D (is=1e-14 n=1)", ".model dm npn", ".model dm D (foo=1)", ".subckt s a b",
        ".subckt s a r=1", ".ends", ".ends s", ".param a=1", ".param a={a+1}", ".param",
        ".include models/diodes.lib", ".include nothere", ".include .", ".include ..",
        ".lib models/ideal.lib ideal", ".lib x", ".endl", ".end", ".op", ".tran 1 2",
        ".title T", ".options x=1", ".global", ".control", "+ 1k", "* c", ".inc models"]


@st.composite
def random_decks(draw):
    lines = [draw(st.sampled_from(["title", "", ".op", "R1 a 0 1"]))]
    for _ in range(draw(st.integers(0, 10))):
        if draw(st.booleans()):
            lines.append(draw(st.sampled_from(DOTS)))
        else:
            toks = draw(st.lists(st.sampled_from(TOKENS), min_size=1, max_size=7))
            lines.append(" ".join(toks))
    return "\n".join(lines)


@settings(max_examples=700, **SETTINGS)
@given(random_decks())
def test_random_cards_parse_or_give_located_error(text):
    parse_or_error(text)


# ----------------------------------------------------------------------------- mutations
JUNK = [b"\x00", b"\xff\xfe", b"\x1b[0m", b"\r", b"\x7f", "é".encode(), "\u2028".encode(),
        "\U0001f600".encode(), b"1e999", b"9" * 400, b"{", b"}", b"+", b";", b"$", b"\n+",
        b"\n.ends", b"\n.subckt z q", b"\nX9 a b z", b"=", b"\t"]


@st.composite
def mutants(draw):
    data = draw(st.sampled_from(DECK_TEXTS))
    for _ in range(draw(st.integers(1, 4))):
        lines = data.split(b"\n")
        op = draw(st.sampled_from(["delete_token", "swap", "duplicate", "junk", "huge",
                                   "delete_line", "truncate"]))
        i = draw(st.integers(0, len(lines) - 1))
        if op == "delete_token":
            toks = lines[i].split(b" ")
            del toks[draw(st.integers(0, len(toks) - 1))]
            lines[i] = b" ".join(toks)
        elif op == "swap":
            j = draw(st.integers(0, len(lines) - 1))
            lines[i], lines[j] = lines[j], lines[i]
        elif op == "duplicate":
            lines.insert(draw(st.integers(0, len(lines))), lines[i])
        elif op == "delete_line":
            del lines[i]
        elif op == "huge":
            toks = lines[i].split(b" ")
            toks[-1] = draw(st.sampled_from([b"1e999", b"-1e308k", b"1e-400", b"9" * 330,
                                             b"{1e308*10}", b"{10**10**10}", b"0", b"-0"]))
            lines[i] = b" ".join(toks)
        data = b"\n".join(lines)
        if op == "junk":
            at = draw(st.integers(0, len(data)))
            data = data[:at] + draw(st.sampled_from(JUNK)) + data[at:]
        elif op == "truncate":
            data = data[:draw(st.integers(0, len(data)))]
    return data


@settings(max_examples=1100, **SETTINGS)
@given(mutants())
def test_mutated_decks_parse_or_give_located_error(data):
    if not data.strip():
        with pytest.raises(NetlistError):
            parse_netlist(data)
        return
    parse_or_error(data)


def test_valid_decks_are_valid_inputs_for_the_mutator():
    for data in DECK_TEXTS:
        assert isinstance(parse_or_error(data), Netlist)
