"""``circuitlearn check`` / ``export`` as a user runs them: real subprocesses, exit codes, no tracebacks."""
from __future__ import annotations

import glob
import os
import subprocess
import sys

import pytest

from circuitlearn.netlist import read_netlist

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DECKS = sorted(glob.glob(os.path.join(ROOT, "netlists", "*.cir")))
IDS = [os.path.basename(d) for d in DECKS]


def cli(*args, cwd=None):
    """Run the CLI in a fresh interpreter; return (exit code, stdout, stderr)."""
    code = "import sys; from circuitlearn.cli import main; sys.exit(main())"
    p = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True,
                       timeout=120, cwd=cwd)
    return p.returncode, p.stdout, p.stderr


@pytest.mark.parametrize("deck", DECKS, ids=IDS)
def test_check_passes_on_every_example(deck):
    rc, out, err = cli("check", deck)
    assert rc == 0, err
    n = read_netlist(deck)
    assert f"title: {n.title}" in out
    assert f"elements: {len(n.elements)} (" in out
    assert "Traceback" not in err


def test_check_summary_lists_sources_in_vector_order():
    rc, out, _ = cli("check", os.path.join(ROOT, "netlists", "drn_small.cir"))
    assert rc == 0
    lines = out.splitlines()
    assert "nodes: 11 (ground included)" in lines
    assert "diode models: dideal (4 diodes)" in lines
    start = lines.index("sources (10, in sources-vector order: V then I):")
    order = [ln.split()[1] for ln in lines[start + 1:start + 11]]
    assert order == ["vx0", "vx1", "vx2", "vx3", "ih1_0", "ih1_1", "ih1_2", "ih1_3",
                     "io0", "io1"]
    assert lines[start + 1] == "  [0] vx0 x0 0 = 0.3 V"
    assert lines[start + 6] == "  [5] ih1_1 0 h1_1 = -2e-05 A"


@pytest.mark.parametrize("body, line, words", [
    ("V1 a 0 1\nR1 a 0 1k\nC1 a 0 1p\n", 4, "outside the DC subset"),
    ("V1 a 0 1\nR1 a 0 -1k\n", 3, "resistance must be > 0"),
    ("V1 a 0 1\nD1 a 0 nomodel\n", 3, "unknown model"),
    ("V1 a 0 1\nX1 a b sub\n", 3, "undefined subcircuit"),
    ("V1 a 0 1\nR1 a 0 1k\n.include ../outside.lib\n", 4, "outside the netlist's folder"),
])
def test_check_bad_deck_exits_1_with_located_message(tmp_path, body, line, words):
    deck = tmp_path / "bad.cir"
    deck.write_text("bad deck\n" + body)
    rc, out, err = cli("check", str(deck))
    assert rc == 1
    assert err.startswith(f"{deck}:{line}: ") and words in err
    assert "Traceback" not in err


def test_check_binary_file_and_missing_file(tmp_path):
    junk = tmp_path / "junk.cir"
    junk.write_bytes(b"\x7fELF\x02\x01\x01\x00\x00\x00garbage")
    rc, _, err = cli("check", str(junk))
    assert rc == 1 and err.startswith(f"{junk}:1: ") and "Traceback" not in err
    rc, _, err = cli("check", str(tmp_path / "missing.cir"))
    assert rc == 1 and "cannot read" in err and "Traceback" not in err


def test_check_topology_error_is_located_not_a_traceback(tmp_path):
    deck = tmp_path / "float.cir"
    deck.write_text("floating island\nV1 a 0 1\nR1 a 0 1k\nR2 b c 1k\n")
    rc, _, err = cli("check", str(deck))
    assert rc == 1 and "Traceback" not in err
    assert err.startswith(f"{deck}:4: ") and "floating" in err


def test_allow_outside_include_flag(tmp_path):
    (tmp_path / "m.lib").write_text(".model dm D (is=1e-14)\n")
    d = tmp_path / "deck"
    d.mkdir()
    (d / "top.cir").write_text("t\n.include ../m.lib\nV1 a 0 1\nR1 a b 1k\nD1 b 0 dm\n")
    rc, _, err = cli("check", str(d / "top.cir"))
    assert rc == 1 and "--allow-outside-include" in err
    rc, out, err = cli("check", str(d / "top.cir"), "--allow-outside-include")
    assert rc == 0, err
    assert "diode models: dm (1 diode)" in out


def test_export_writes_a_deck_that_reads_back_equal(tmp_path):
    deck = os.path.join(ROOT, "netlists", "amplifier_two_layers.cir")
    out_path = tmp_path / "flat.cir"
    rc, out, err = cli("export", deck, "-o", str(out_path))
    assert rc == 0, err
    assert read_netlist(out_path) == read_netlist(deck)
    rc, _, err = cli("export", deck, "-o", str(tmp_path / "no" / "such" / "dir.cir"))
    assert rc == 1 and "cannot write" in err and "Traceback" not in err


def test_check_starts_without_the_heavy_imports():
    """``check`` needs the parser and the topology checks only: no scipy, numba,
    networkx, PySpice or matplotlib at start-up (what keeps it within 0.5 s; the wall
    time itself is measured by experiments/bench_cli.py, not asserted here)."""
    code = ("import sys; from circuitlearn.cli import main; main(['check', sys.argv[1]]); "
            "print(sorted({m.split('.')[0] for m in sys.modules} & "
            "{'scipy', 'numba', 'networkx', 'PySpice', 'matplotlib'}))")
    p = subprocess.run([sys.executable, "-c", code, os.path.join(ROOT, "netlists",
                                                                 "drn_small.cir")],
                       capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stderr
    assert p.stdout.strip().splitlines()[-1] == "[]"


def test_version_and_python_dash_m():
    from circuitlearn import __version__
    p = subprocess.run([sys.executable, "-m", "circuitlearn", "--version"],
                       capture_output=True, text=True, timeout=120)
    assert p.returncode == 0 and p.stdout.strip() == f"circuitlearn {__version__}"
    p = subprocess.run([sys.executable, "-m", "circuitlearn", "check", DECKS[0]],
                       capture_output=True, text=True, timeout=120)
    assert p.returncode == 0 and p.stdout.startswith(f"{DECKS[0]}: OK")


def test_bench_cli_smoke():
    p = subprocess.run([sys.executable, os.path.join(ROOT, "experiments", "bench_cli.py"),
                        "--smoke"], capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stderr
    import json
    out = json.loads(p.stdout.strip().splitlines()[-1])
    assert len(out["check"]) == 2 and out["check_worst_median_s"] > 0
