"""The files the package carries: found by the documented paths from any directory, and
by name from a deck's includes (the deck's folder, the bundled libraries, then
CIRCUITLEARN_MODELS)."""
import os
import subprocess
import sys

import pytest

from circuitlearn import bundled
from circuitlearn.errors import NetlistError
from circuitlearn.netlist import read_netlist

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_the_checkout_links_to_the_bundled_folders():
    for kind, (_, checkout, _) in bundled.KINDS.items():
        assert os.path.realpath(os.path.join(ROOT, checkout)) == \
            os.path.realpath(bundled.folder(kind))
    assert "bridge.cir" in bundled.names("netlists") and "digits.toml" in bundled.names("configs")
    assert bundled.names("models") == ["diodes.lib", "ideal.lib"]


def test_lookup_takes_the_documented_spellings_only(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    want = os.path.join(bundled.folder("netlists"), "bridge.cir")
    assert bundled.lookup("netlists/bridge.cir", "netlists") == want
    assert bundled.lookup("bridge.cir", "netlists") == want
    assert bundled.lookup("bridge", "netlists") == want
    assert bundled.lookup("experiments/configs/digits.toml", "configs") == \
        os.path.join(bundled.folder("configs"), "digits.toml")
    assert bundled.lookup("digits", "configs").endswith("digits.toml")
    assert bundled.lookup("myproject/bridge.cir", "netlists") is None   # a typo stays an error
    assert bundled.lookup("nosuch.cir", "netlists") is None
    (tmp_path / "bridge.cir").write_text("mine\nR1 a 0 1\nV1 a 0 1\n.end\n")
    assert bundled.lookup("bridge.cir", "netlists") is None             # the user's file wins


def test_an_include_finds_the_bundled_library_then_CIRCUITLEARN_MODELS(tmp_path, monkeypatch):
    deck = tmp_path / "mine.cir"
    deck.write_text("mine\n.include diodes.lib\n.lib ideal.lib ideal\nV1 in 0 5\nR1 in out 1k\n"
                    "D1 out 0 d1n4148\nD2 out 0 dideal\n.end\n")
    n = read_netlist(deck)
    assert {m.name for m in n.models} >= {"d1n4148", "dideal"}
    # the deck's own folder comes first
    (tmp_path / "diodes.lib").write_text(".model d1n4148 D (IS=1e-9 N=2)\n")
    n = read_netlist(deck)
    assert dict(next(m for m in n.models if m.name == "d1n4148").params)["is"] == 1e-9
    # a library found in neither is looked for in CIRCUITLEARN_MODELS
    other = tmp_path / "lib"
    other.mkdir()
    (other / "mylib.lib").write_text(".model dmine D (IS=1e-14)\n")
    deck2 = tmp_path / "sub" / "two.cir"
    deck2.parent.mkdir()
    deck2.write_text("two\n.include mylib.lib\nV1 a 0 1\nD1 a 0 dmine\n.end\n")
    with pytest.raises(NetlistError, match="mylib.lib"):
        read_netlist(deck2)
    monkeypatch.setenv("CIRCUITLEARN_MODELS", str(other))
    assert read_netlist(deck2).models[0].name == "dmine"


def test_the_cli_says_when_it_uses_a_bundled_file(tmp_path):
    code = "import sys; from circuitlearn.cli import main; sys.exit(main())"
    p = subprocess.run([sys.executable, "-c", code, "check", "netlists/bridge.cir"],
                       capture_output=True, text=True, cwd=tmp_path, timeout=120)
    assert p.returncode == 0 and "using the bundled" in p.stderr and ": OK" in p.stdout
    p = subprocess.run([sys.executable, "-c", code, "check", "elsewhere/bridge.cir"],
                       capture_output=True, text=True, cwd=tmp_path, timeout=120)
    assert p.returncode == 1 and "Traceback" not in p.stderr and "elsewhere/bridge.cir" in p.stderr


def test_the_model_search_path_is_no_way_out_of_the_decks_folder(tmp_path):
    """Only a plain file name is looked for among the bundled libraries: a relative path
    that climbs out of the deck's folder stays refused even if it exists from there."""
    from circuitlearn.netlist.reader import _model_search
    assert _model_search("diodes.lib") == os.path.join(os.path.realpath(bundled.folder("models")),
                                                       "diodes.lib")
    climb = os.path.relpath(os.path.join(ROOT, "README.md"), bundled.folder("models"))
    assert os.path.exists(os.path.join(bundled.folder("models"), climb))
    assert _model_search(climb) is None
    deck = tmp_path / "d.cir"
    deck.write_text(f"d\n.include {climb}\nV1 a 0 1\nR1 a 0 1\n.end\n")
    with pytest.raises(NetlistError, match="outside the netlist's folder|cannot read"):
        read_netlist(deck)
