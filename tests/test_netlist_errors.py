"""Every kind of bad input gives a NetlistError with file, line, text and a reason that says what is wrong."""
from __future__ import annotations

import pytest

from circuitlearn.errors import NetlistError
from circuitlearn.netlist import parse_netlist, read_netlist

OK = "V1 a 0 1\nR1 a 0 1k\n"

# (deck after the title line, expected line number, words the reason must contain)
CASES = [
    # unsupported elements and analyses
    ("R1 a 0 1\nC1 a 0 1p\n", 3, "capacitor (C) is outside the DC subset"),
    ("L1 a 0 1u\n", 2, "inductor (L) is outside the DC subset"),
    ("M1 d g s b nmos\n", 2, "MOSFET (M) is outside the DC subset"),
    ("Q1 c b e npn\n", 2, "bipolar transistor (Q) is outside the DC subset"),
    ("B1 a 0 v=1\n", 2, "behavioural source (B) is outside the DC subset"),
    (OK + ".tran 1n 1u\n", 4, ".tran (transient analysis) is outside the DC subset"),
    (OK + ".ac dec 10 1 1k\n", 4, ".ac (AC analysis) is outside the DC subset"),
    (OK + ".dc V1 0 1 0.1\n", 4, ".dc (DC sweep) is outside the DC subset"),
    (OK + ".control\n", 4, "control block"),
    ("V1 a 0 PULSE(0 1 1n 1n 1n 1u 2u)\nR1 a 0 1\n", 2, "PULSE source is outside the DC subset"),
    ("V1 a 0 DC 1 AC 1\nR1 a 0 1\n", 2, "AC source is outside the DC subset"),
    ("I1 a 0 SIN(0 1 1k)\nR1 a 0 1\n", 2, "SIN source is outside the DC subset"),
    (".model q1 NPN (bf=100)\n" + OK, 2, "model type 'NPN' is outside the DC subset"),
    (OK + ".foo bar\n", 4, "unknown dot command .foo"),
    (OK + "Yz a b\n", 4, "outside the DC subset"),
    (OK + "%x a b\n", 4, "invalid element name"),
    # malformed numbers and values
    ("R1 a 0 1..5\n", 2, "malformed number '1..5'"),
    ("R1 a 0 abc\n", 2, "malformed number 'abc'"),
    ("R1 a 0 1k5\n", 2, "malformed number '1k5'"),
    ("R1 a 0 1e999\n", 2, "out of range"),
    ("V1 a 0 DC\nR1 a 0 1\n", 2, "too few fields"),
    ("R1 a 0 {1/0}\n", 2, "division by zero"),
    ("R1 a 0 {x*2}\n", 2, "undefined parameter 'x'"),
    ("R1 a 0 {1+}\n", 2, "expected a number"),
    ("R1 a 0 {1+2\n", 2, "never closed"),
    ("R1 a 0 1}\n", 2, "unbalanced '}'"),
    (".param a=10**10**10\n" + OK, 2, "overflow"),
    (".param a\n" + OK, 2, ".param needs name=value"),
    (".param a=\n" + OK, 2, "missing value"),
    # nodes and fields
    ("R1 a 1k\n", 2, "too few fields"),
    ("R1 a b c 1k\n", 2, "too many fields"),
    ("R1\n", 2, "too few fields"),
    ("E1 o 0 a 1\n" + OK, 2, "too few fields"),
    ("G1 o 0 a 0 1 2\n" + OK, 2, "too many fields"),
    ("R1 a 0 1 tc1=2\n", 2, "unexpected parameter tc1"),
    ("D1 a 0\n" + OK, 2, "too few fields"),
    (".model dm D\nD1 a 0 dm 1 2\n" + OK, 3, "too many fields"),
    (".model dm D\nD1 a 0 dm off\n" + OK, 3, "'off' is not supported"),
    (".model dm D\nD1 a 0 dm temp=30\n" + OK, 3, "'temp' is not supported"),
    (".model dm D\nD1 a 0 dm area=0\n" + OK, 3, "area must be > 0"),
    # resistances
    ("R1 a 0 0\n", 2, "resistance must be > 0"),
    ("R1 a 0 -5\n", 2, "resistance must be > 0"),
    ("R1 a 0 {-1k}\n", 2, "resistance must be > 0"),
    # names and models
    (OK + "r1 b 0 2\n", 4, "duplicate element name r1 (first at deck.cir:3)"),
    ("D1 a 0 nomodel\n" + OK, 2, "unknown model 'nomodel'"),
    (".model dm D (is=1e-14)\n.MODEL DM D (is=2e-14)\n" + OK, 3, "duplicate .model dm"),
    (".model dm D (foo=1)\n" + OK, 2, "unknown diode parameter 'foo'"),
    (".model dm D (is=-1)\n" + OK, 2, "IS must be > 0"),
    (".model dm D (n=0)\n" + OK, 2, "N must be > 0"),
    (".model dm D (rs=-1)\n" + OK, 2, "RS must be >= 0"),
    (".model dm\n" + OK, 2, ".model needs a name and a type"),
    # subcircuits
    ("X1 a b nosuch\n" + OK, 2, "undefined subcircuit 'nosuch'"),
    (OK + ".subckt s a b\nR1 a b 1\n", 4, ".subckt s is never closed"),
    (OK + ".ends\n", 4, ".ends without an open .subckt"),
    (".subckt s a\nR1 a 0 1\n.ends t\n" + OK, 4, ".ends t closes .subckt s"),
    (".subckt s a b\nR1 a b 1\n.ends\nX1 a s\n" + OK, 5, "has 2 ports (a b), got 1 nodes"),
    (".subckt s a b\nR1 a b 1\n.ends\nX1 a b c s\n" + OK, 5, "has 2 ports"),
    (".subckt s a\nR1 a 0 1\n.ends\n.subckt S b\n.ends\n" + OK, 5, "duplicate .subckt s"),
    (".subckt s a\nX1 a s\n.ends\nX1 b s\n" + OK, 3, "recursive subcircuit instantiation: s -> s"),
    (".subckt p a\nX1 a q\n.ends\n.subckt q a\nX1 a p\n.ends\nX1 b p\n" + OK, 6,
     "recursive subcircuit instantiation: p -> q -> p"),
    (".subckt s a r=1\nR1 a 0 {r}\n.ends\nX1 b s q=2\n" + OK, 5, "has no parameter 'q'"),
    (".subckt s a r=1\nR1 a 0 {r}\n.ends\nX1 b s r={1/0}\n" + OK, 5, "division by zero"),
    (".subckt s a\nR1 a 0 1\nR1 a 0 2\n.ends\nX1 b s\n" + OK, 4, "duplicate element name r.x1.r1"),
    (".subckt s a 0\n.ends\n" + OK, 2, "ground (0/gnd) cannot be a port"),
    ("X1 a\n" + OK, 2, "undefined subcircuit 'a'"),
    # structure
    ("+ R1 a 0 1\n", 2, "continuation line"),
    ("* only comments\n.op\n", 1, "netlist has no elements"),
    (OK + ".include\n", 4, ".include takes exactly one file name"),
    (OK + ".include nosuchfile.inc\n", 4, "cannot read"),
    (OK + ".lib\n", 4, ".lib takes FILE SECTION"),
    (OK + ".lib sec\nR2 a 0 1\n", 4, "never closed by .endl"),
    (OK + ".endl\n", 4, ".endl without an open .lib section"),
]


@pytest.mark.parametrize("body, line, words", CASES)
def test_located_error(body, line, words):
    with pytest.raises(NetlistError) as info:
        parse_netlist("title\n" + body, "deck.cir", base_dir=".")
    err = info.value
    assert words in err.reason, err.reason
    assert (err.file, err.line) == ("deck.cir", line)
    if line > 1:
        assert err.text and err.text == ("title\n" + body).split("\n")[line - 1].strip()
    assert str(err).startswith(f"deck.cir:{line}: ")


def test_empty_input():
    for text in ("", "\n\n", "   "):
        with pytest.raises(NetlistError, match="empty netlist"):
            parse_netlist(text)


@pytest.mark.parametrize("data, line, words", [
    (b"title\nR1 a 0 1\n\x00\x01\x02binary", 3, "NUL byte"),
    (b"title\nR1 a 0 1\nR2 a 0 \xff\xfe\n", 3, "not UTF-8"),
    (b"title\nR1 a 0 1\x07\n", 2, "control character"),
    (b"\x89PNG\r\n\x1a\n\x00\x00", 3, "NUL byte"),
])
def test_binary_garbage(tmp_path, data, line, words):
    path = tmp_path / "bin.cir"
    path.write_bytes(data)
    with pytest.raises(NetlistError, match=words) as info:
        read_netlist(path)
    assert info.value.file == str(path) and info.value.line == line


def test_missing_file_is_a_netlist_error(tmp_path):
    with pytest.raises(NetlistError, match="cannot read") as info:
        read_netlist(tmp_path / "nope.cir")
    assert info.value.file.endswith("nope.cir")
    with pytest.raises(NetlistError, match="cannot read"):
        read_netlist(tmp_path)          # a directory


def test_error_inside_included_file_names_that_file(tmp_path):
    (tmp_path / "bad.inc").write_text("* first\n\nR9 a 0 -1\n")
    (tmp_path / "top.cir").write_text("t\nV1 a 0 1\n.include bad.inc\n")
    with pytest.raises(NetlistError, match="resistance must be > 0") as info:
        read_netlist(tmp_path / "top.cir")
    assert info.value.file == str(tmp_path / "bad.inc") and info.value.line == 3


def test_recursive_include_names_the_chain(tmp_path):
    (tmp_path / "a.inc").write_text("R1 a 0 1\n.include b.inc\n")
    (tmp_path / "b.inc").write_text("R2 a 0 1\n.include a.inc\n")
    (tmp_path / "top.cir").write_text("t\nV1 a 0 1\n.include a.inc\n")
    with pytest.raises(NetlistError, match="recursive include") as info:
        read_netlist(tmp_path / "top.cir")
    err = info.value
    assert err.file == str(tmp_path / "b.inc") and err.line == 2
    assert "a.inc -> " in err.reason and "b.inc -> " in err.reason


def test_self_include(tmp_path):
    (tmp_path / "top.cir").write_text("t\nV1 a 0 1\nR1 a 0 1\n.include top.cir\n")
    with pytest.raises(NetlistError, match="recursive include") as info:
        read_netlist(tmp_path / "top.cir")
    assert info.value.line == 4


def test_lib_section_missing(tmp_path):
    (tmp_path / "m.lib").write_text(".lib a\n.model da D\n.endl\n")
    (tmp_path / "top.cir").write_text("t\nV1 a 0 1\nR1 a 0 1\n.lib m.lib b\n")
    with pytest.raises(NetlistError, match="section 'b' not found") as info:
        read_netlist(tmp_path / "top.cir")
    assert info.value.line == 4


def test_include_outside_is_refused_even_through_a_nested_include(tmp_path):
    (tmp_path / "secret.inc").write_text("R5 a 0 1\n")
    d = tmp_path / "deck"
    (d / "sub").mkdir(parents=True)
    (d / "sub" / "x.inc").write_text("R2 a 0 1\n.include ../../secret.inc\n")
    (d / "top.cir").write_text("t\nV1 a 0 1\n.include sub/x.inc\n")
    with pytest.raises(NetlistError, match="outside the netlist's folder") as info:
        read_netlist(d / "top.cir")
    assert info.value.file.endswith("x.inc") and info.value.line == 2
    n = read_netlist(d / "top.cir", allow_outside=True)
    assert [e.name for e in n.elements] == ["v1", "r2", "r5"]


def test_exponential_subcircuit_nesting_is_refused_quickly(monkeypatch):
    import circuitlearn.netlist.parser as parser
    monkeypatch.setattr(parser, "MAX_ELEMENTS", 20_000)
    levels = ["t", ".subckt s0 a", "R1 a 0 1", ".ends"]
    for k in range(1, 12):
        levels.append(f".subckt s{k} a")
        levels += [f"X{j} a s{k - 1}" for j in range(10)]
        levels.append(".ends")
    levels.append("X1 n s11")
    with pytest.raises(NetlistError, match="more than"):
        parse_netlist("\n".join(levels))
