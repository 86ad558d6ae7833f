"""Units, expressions and the parser's accepted syntax (values, comments, subcircuits, includes)."""
from __future__ import annotations

import math
import os

import pytest

from circuitlearn.netlist import ModelLibrary, parse_netlist, read_netlist
from circuitlearn.netlist.expr import ExprError, eval_value, evaluate
from circuitlearn.netlist.units import format_value, parse_value

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


# ----------------------------------------------------------------------------- units
@pytest.mark.parametrize("text, value", [
    ("1", 1.0), ("-2.5", -2.5), ("+.5", 0.5), ("1e-3", 1e-3), ("1E3", 1000.0),
    ("1.5k", 1500.0), ("1.5kohm", 1500.0), ("10uA", 1e-5), ("3V", 3.0), ("100u", 1e-4),
    ("2.2meg", 2.2e6), ("2.2MEG", 2.2e6), ("1M", 1e-3), ("1m", 1e-3), ("4.7n", 4.7e-9),
    ("3p", 3e-12), ("7f", 7e-15), ("2g", 2e9), ("1t", 1e12), ("5megohm", 5e6),
    ("1e3k", 1e6), ("0", 0.0), ("1mil", 25.4e-6), ("2MILS", 50.8e-6),
])
def test_parse_value(text, value):
    assert parse_value(text) == value


@pytest.mark.parametrize("text", ["", "k", "abc", "1..2", "1k2", "--1", "1e999", "-1e400k",
                                  "1.2.3", "0x10", "1,5"])
def test_parse_value_rejects(text):
    with pytest.raises(ValueError):
        parse_value(text)


@pytest.mark.parametrize("x", [0.1, 1 / 3, -2.5e-300, 5e-324, 1.7976931348623157e308, 1e16,
                               123456789012345678.0, 4.7e-9, -0.0, 2.0 ** 0.5])
def test_format_value_round_trips_exactly(x):
    assert parse_value(format_value(x)) == x


def test_format_value_refuses_non_finite():
    for x in (math.inf, -math.inf, math.nan):
        with pytest.raises(ValueError):
            format_value(x)


# ----------------------------------------------------------------------------- expressions
@pytest.mark.parametrize("text, value", [
    ("1+2*3", 7.0), ("(1+2)*3", 9.0), ("-2**2", -4.0), ("2^3^2", 512.0), ("2**-1", 0.5),
    ("10/4", 2.5), ("--3", 3.0), ("1k/2", 500.0), ("2*r0 + 1k", 2000.0),
    ("sqrt(16)", 4.0), ("exp(0)", 1.0), ("ln(1)", 0.0), ("log(1)", 0.0), ("abs(-3)", 3.0),
    ("min(3, 1, 2)", 1.0), ("max(3, 1, 2)", 3.0), ("pow(2, 10)", 1024.0), ("sin(0)", 0.0),
    ("cos(0)", 1.0), ("tan(0)", 0.0), ("atan(0)", 0.0), ("pi", math.pi), ("2*PI", 2 * math.pi),
    ("R0*R0", 250000.0),
])
def test_evaluate(text, value):
    assert evaluate(text, {"r0": 500.0}) == pytest.approx(value, rel=1e-15)


@pytest.mark.parametrize("text, words", [
    ("1/0", "division by zero"), ("x+1", "undefined parameter 'x'"), ("(1+2", "expected ')'"),
    ("1+", "expected a number"), ("1 2", "unexpected '2'"), ("10**10**10", "overflow"),
    ("exp(1000)", "overflow"), ("1e308*10", "overflow"), ("log(-1)", "undefined for"),
    ("foo(1)", "unknown function"), ("sqrt", "needs arguments"), ("pow(1)", "takes 2"),
    ("", "empty"), ("1 @ 2", "unexpected character"), ("(" * 500 + "1" + ")" * 500, "nested"),
    ("-" * 5000 + "1", "nested"), ("__import__('os')", "unexpected character"),
])
def test_evaluate_errors(text, words):
    with pytest.raises(ExprError, match=None) as info:
        evaluate(text)
    assert words in str(info.value)


def test_eval_value_needs_braces_for_expressions():
    assert eval_value("{a*2}", {"a": 3.0}) == 6.0
    assert eval_value("'a*2'", {"a": 3.0}) == 6.0
    assert eval_value("2.2k") == 2200.0
    with pytest.raises(ExprError, match=r"\{a\}"):
        eval_value("a", {"a": 3.0})


# ----------------------------------------------------------------------------- parser
def parse(body: str, **kw):
    return parse_netlist("title line\n" + body, **kw)


def test_title_comments_continuations_case_and_ground():
    n = parse_netlist("My Title ; not a comment in the title\n"
                      "* a comment line\n"
                      "R1 IN Gnd 1K ; inline\n"
                      "   * indented comment\n"
                      "V1 in 0 $ dollar comment\n"
                      "+ DC\n"
                      "+ 5   $ value\n"
                      "RX in mid$weird 2k\n"
                      "RY mid$weird GND 3k\n")
    assert n.title == "My Title ; not a comment in the title"
    assert [e.name for e in n.elements] == ["r1", "v1", "rx", "ry"]
    assert n.elements[0].nodes == ("in", "0") and n.elements[0].value == 1000.0
    assert n.elements[1].value == 5.0 and n.elements[1].loc.line == 5
    assert n.elements[2].nodes == ("in", "mid$weird")


def test_title_card_overrides_first_line():
    n = parse(".title  The real title \nR1 a 0 1\n")
    assert n.title == "The real title"


def test_first_line_is_always_the_title():
    n = parse_netlist("R1 a 0 1\nR2 a 0 2\n")
    assert n.title == "R1 a 0 1" and [e.name for e in n.elements] == ["r2"]


def test_sources_with_and_without_dc():
    n = parse("V1 a 0 DC 1.5\nV2 b 0 -2\nI1 0 a dc 1mA\nI2 a b 3u\nR1 a 0 1\nR2 b 0 1\n")
    assert [(e.kind, e.value) for e in n.elements[:4]] == [
        ("V", 1.5), ("V", -2.0), ("I", 1e-3), ("I", 3e-6)]


def test_controlled_sources_and_diode_area_forms():
    n = parse(".model dm D (is=1e-14 n=1.5 rs=2)\n"
              "E1 o 0 a 0 10\nG1 0 o a 0 1m\nD1 a 0 dm\nD2 a 0 DM 2\nD3 a 0 dm area=3\n"
              "D4 a 0 dm area = {1.5*2}\nR1 a 0 1k\nR2 o 0 1k\nV1 a 0 1\n")
    e, g, d1, d2, d3, d4 = n.elements[:6]
    assert e.nodes == ("o", "0", "a", "0") and e.value == 10.0
    assert g.kind == "G" and g.value == 1e-3
    assert [d.value for d in (d1, d2, d3, d4)] == [1.0, 2.0, 3.0, 3.0]
    assert d2.model == "dm"
    m = n.model("dm")
    assert m.params == (("is", 1e-14), ("n", 1.5), ("rs", 2.0))
    assert m.get("vth") == 0.0


def test_model_without_parentheses_and_continued():
    n = parse(".MODEL Dx d IS=2.52n\n+ N=1.752 rs=.568 vth=0.6 bv=100 ibv=100u\nD1 a 0 dx\n"
              "V1 a 0 1\n")
    assert n.model("dx").as_dict() == {"is": 2.52e-9, "n": 1.752, "rs": 0.568, "vth": 0.6,
                                       "bv": 100.0, "ibv": 1e-4}


def test_params_in_order_and_expressions():
    n = parse(".param a=2 b = {a*3} c='b+1'\n.param d=a*b-1\nR1 x 0 {a*b*c*d}\nV1 x 0 {-a}\n")
    assert n.elements[0].value == 2 * 6 * 7 * 11
    assert n.elements[1].value == -2.0


def test_param_used_before_its_card():
    n = parse("R1 x 0 {r0}\n.param r0=3k\nV1 x 0 1\n")
    assert n.elements[0].value == 3000.0


def test_subckt_flattening_uses_ngspice_names():
    n = parse(".subckt inner a b params: r=1k\nR1 a mid {r}\nR2 mid b {r}\n.ends inner\n"
              ".subckt outer p q\nX2 p m inner r=2k\nR3 m q 5\nX3 m 0 inner\n.ends\n"
              "V1 in 0 1\nX1 in out outer\nRL out gnd 1\n")
    names = {e.name: e for e in n.elements}
    assert set(names) == {"v1", "r.x1.x2.r1", "r.x1.x2.r2", "r.x1.r3", "r.x1.x3.r1",
                          "r.x1.x3.r2", "rl"}
    assert names["r.x1.x2.r1"].nodes == ("in", "x1.x2.mid")
    assert names["r.x1.x2.r1"].value == 2000.0
    assert names["r.x1.x2.r2"].nodes == ("x1.x2.mid", "x1.m")
    assert names["r.x1.r3"].nodes == ("x1.m", "out")
    assert names["r.x1.x3.r2"].nodes == ("x1.x3.mid", "0") and names["r.x1.x3.r2"].value == 1000
    assert names["r.x1.x2.r1"].loc.line == 3


def test_subckt_params_defaults_overrides_and_local_param():
    n = parse(".param g=4\n"
              ".subckt cell a b r=10 k={2*g}\n.param rr={r*k}\nR1 a b {rr}\n.ends\n"
              "X1 in 0 cell\nX2 in 0 cell r=1 k=3\nX3 in 0 cell PARAMS: k={g}\nV1 in 0 1\n")
    assert [e.value for e in n.elements[:3]] == [80.0, 3.0, 40.0]


def test_nested_definition_is_local_to_its_parent():
    text = (".subckt outer a\n.subckt leaf p\nR1 p 0 1\n.ends leaf\nX1 a leaf\n.ends outer\n"
            "X9 n outer\nV1 n 0 1\n")
    n = parse(text)
    assert n.elements[0].name == "r.x9.x1.r1"
    from circuitlearn.errors import NetlistError
    with pytest.raises(NetlistError, match="undefined subcircuit 'leaf'"):
        parse(text + "X8 n leaf\n")


def test_end_stops_reading_and_options_are_ignored():
    n = parse(".options reltol=1e-6\n.option gmin=1e-12\n.global gnd\nR1 a 0 1\nV1 a 0 1\n"
              ".op\n.end\nthis is not a card\nC1 a 0 1\n")
    assert len(n.elements) == 2


def test_include_and_lib_sections_relative_to_including_file(tmp_path):
    sub = tmp_path / "sub"
    sub.mkdir()
    (sub / "parts.inc").write_text("* parts\nR2 a b 2k\n.include deeper.inc\n")
    (sub / "deeper.inc").write_text("R3 b 0 3k\n")
    (sub / "lib.lib").write_text(".lib fast\n.model dfast D (is=1e-12 n=0.5)\n.endl fast\n"
                                 ".lib slow\n.model dslow D (is=1e-15)\n.endl\n")
    (tmp_path / "top.cir").write_text("top\nV1 a 0 1\n.inc sub/parts.inc\n"
                                      ".lib 'sub/lib.lib' slow\nD1 b 0 dslow\n")
    n = read_netlist(tmp_path / "top.cir")
    assert [e.name for e in n.elements] == ["v1", "r2", "r3", "d1"]
    assert [m.name for m in n.models] == ["dslow"]
    assert n.elements[1].loc.file.endswith("parts.inc") and n.elements[1].loc.line == 2


def test_include_outside_folder_needs_permission(tmp_path):
    from circuitlearn.errors import NetlistError
    deck = tmp_path / "deck"
    deck.mkdir()
    (tmp_path / "m.lib").write_text(".model dm D (is=1e-14)\n")
    (deck / "top.cir").write_text("top\n.include ../m.lib\nD1 a 0 dm\nV1 a 0 1\n")
    with pytest.raises(NetlistError, match="outside the netlist's folder") as info:
        read_netlist(deck / "top.cir")
    assert info.value.line == 2
    assert read_netlist(deck / "top.cir", allow_outside=True).model("dm").get("is") == 1e-14


def test_parse_netlist_base_dir(tmp_path):
    (tmp_path / "r.inc").write_text("R1 a 0 1\n")
    n = parse("V1 a 0 1\n.include r.inc\n", base_dir=str(tmp_path))
    assert [e.name for e in n.elements] == ["v1", "r1"]


def test_bytes_input_and_crlf():
    n = parse_netlist(b"t\r\nR1 a 0 1k\r\nV1 a 0 1\r\n")
    assert n.elements[0].value == 1000.0 and n.title == "t"


def test_example_decks_parse_and_models_match_library():
    lib = ModelLibrary()
    assert {"d1n4148", "dideal"} <= set(lib.names())
    assert lib.file_of("D1N4148").endswith("diodes.lib")
    assert lib.get("dideal").as_dict() == {"is": 1e-12, "n": 0.01, "rs": 0.0, "vth": 0.0}
    copies = ModelLibrary([os.path.join(ROOT, "netlists", "models")])
    assert copies.names() == lib.names()
    for name in lib.names():
        assert copies.get(name) == lib.get(name)
    clip = read_netlist(os.path.join(ROOT, "netlists", "diode_clipper.cir"))
    assert clip.model("d1n4148") == lib.get("d1n4148")


def test_model_library_duplicate_across_files(tmp_path):
    from circuitlearn.errors import NetlistError
    (tmp_path / "a.lib").write_text(".model dup D (is=1e-14)\n")
    (tmp_path / "b.lib").write_text("* other\n.model DUP D (is=2e-14)\n")
    with pytest.raises(NetlistError, match=r"a\.lib and .*b\.lib"):
        ModelLibrary([tmp_path])


def test_model_library_env_var(tmp_path, monkeypatch):
    (tmp_path / "x.lib").write_text(".model dx D (is=3e-14 n=2)\n")
    monkeypatch.setenv("CIRCUITLEARN_MODELS", str(tmp_path))
    lib = ModelLibrary()
    assert lib.names() == ["dx"] and lib.get("dx").get("n") == 2.0
    with pytest.raises(KeyError):
        lib.get("nope")


def test_drn_small_follows_the_drn_naming_of_the_builders():
    """The hand-written DRN deck is the one the DRN builder makes from its own arrays."""
    from circuitlearn.compile.builders import drn_arrays, drn_netlist
    n = read_netlist(os.path.join(ROOT, "netlists", "drn_small.cir"))
    weights, biases, sizes = drn_arrays(n)
    assert list(sizes) == [4, 4, 2]
    built = drn_netlist(weights, biases, x=[0.3, 0.7], gain=1.0)
    ours = {e.name: e for e in n.elements}
    theirs = {e.name: e for e in built.elements}
    assert set(ours) == set(theirs)
    for name, e in ours.items():
        t = theirs[name]
        assert (e.kind, e.nodes, e.model) == (t.kind, t.nodes, t.model), name
        assert e.value == pytest.approx(t.value, rel=1e-12, abs=0), name
    assert built.models == n.models
