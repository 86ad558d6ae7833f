"""The documentation builds without a warning, and every example in it runs.

Each tutorial's ```python blocks run in order in one namespace, and its ```bash lines
(each a ``circuitlearn`` command) as subprocesses, in a fresh folder, so what the pages
show is what the code does."""
import os
import re
import shlex
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DOCS = os.path.join(ROOT, "docs")
TUTORIALS = sorted(os.path.join(DOCS, "tutorials", f)
                   for f in os.listdir(os.path.join(DOCS, "tutorials")) if f.endswith(".md"))
BLOCK = re.compile(r"^```(python|bash)\n(.*?)^```", re.S | re.M)


def blocks(path):
    """``[(kind, code), ...]``; code padded with blank lines so that tracebacks give the
    page's own line numbers."""
    with open(path) as fh:
        text = fh.read()
    return [(m.group(1), "\n" * text.count("\n", 0, m.start(2)) + m.group(2))
            for m in BLOCK.finditer(text)]


def test_every_tutorial_has_runnable_examples():
    assert len(TUTORIALS) >= 6
    for t in TUTORIALS:
        assert any(kind == "python" for kind, _ in blocks(t)), t


@pytest.mark.parametrize("page", TUTORIALS, ids=[os.path.basename(t) for t in TUTORIALS])
def test_tutorial_examples_run(page, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    ns = {"__name__": "__tutorial__"}
    for kind, code in blocks(page):
        if kind == "python":
            exec(compile(code, page, "exec"), ns)        # noqa: S102 -- the docs' own code
            continue
        for line in code.splitlines():
            if not line.strip() or line.lstrip().startswith("#"):
                continue
            argv = shlex.split(line)
            assert argv[0] == "circuitlearn", f"{page}: only circuitlearn commands: {line}"
            p = subprocess.run([sys.executable, "-m", "circuitlearn", *argv[1:]], text=True,
                               capture_output=True, timeout=600)
            assert p.returncode == 0, f"{page}: {line}\n{p.stderr[-2000:]}"


def test_the_docs_build_with_warnings_as_errors(tmp_path):
    p = subprocess.run([sys.executable, "-m", "sphinx", "-E", "-W", "--keep-going", "-q",
                        "-b", "html", DOCS, str(tmp_path / "html")],
                       capture_output=True, text=True, timeout=600)
    assert p.returncode == 0, p.stderr[-5000:]
    assert os.path.exists(tmp_path / "html" / "api.html")
    assert os.path.exists(tmp_path / "html" / "tutorials" / "train.html")
