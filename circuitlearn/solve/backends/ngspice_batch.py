"""Run a deck through the ngspice *program* (``ngspice -b``) and read the operating point.

This is the reference the tests compare against and what the solver
benchmark times: a separate ngspice process per deck, exactly as a user would
run it::

    ngspice -b -r out.raw deck.cir        (with SPICE_ASCIIRAWFILE=1)

An ``.options`` line (tight tolerances by default) is inserted after the title.
The ASCII raw file gives ``v(node)`` for every node and ``i(vname)`` for every
voltage-source branch; they are returned as ``{"node": volts, "i(vname)": amps}``
(lower case, ground ``"0"`` included as 0.0).
"""
from __future__ import annotations

import math
import os
import shutil
import subprocess
import tempfile

from circuitlearn.errors import BackendError

DEFAULT_OPTIONS = "reltol=1e-9 vntol=1e-12 abstol=1e-15"
INSTALL_HINT = "install it with: apt-get install ngspice"


def ngspice_binary() -> str:
    """Path of the ngspice program; BackendError with the install hint if missing."""
    path = shutil.which("ngspice")
    if path is None:
        raise BackendError(f"the ngspice program was not found on PATH; {INSTALL_HINT}")
    return path


def _with_options(deck: str, options: str | None) -> str:
    lines = deck.split("\n")
    if options:
        lines.insert(1, f".options {options}")
    return "\n".join(lines) + ("" if deck.endswith("\n") else "\n")


def parse_ascii_raw(text: str) -> dict[str, float]:
    """The first point of an ngspice ASCII raw file as ``{name: value}``."""
    lines = text.splitlines()
    try:
        nvars = next(int(ln.split(":", 1)[1]) for ln in lines if ln.startswith("No. Variables:"))
        vstart = lines.index("Variables:") + 1
        dstart = lines.index("Values:") + 1
    except (StopIteration, ValueError) as exc:
        raise BackendError(f"ngspice raw file is not in the expected format ({exc})") from None
    names = [lines[vstart + k].split()[1].lower() for k in range(nvars)]
    values: list[float] = []
    for ln in lines[dstart:]:
        parts = ln.split()
        if not parts:
            continue
        values.append(float(parts[-1]))
        if len(values) == nvars:
            break
    if len(values) != nvars:
        raise BackendError(f"ngspice raw file has {len(values)} values for {nvars} variables")
    out: dict[str, float] = {"0": 0.0}
    for name, val in zip(names, values):
        if name.startswith("v(") and name.endswith(")"):
            name = name[2:-1]
        elif name.endswith("#branch"):
            name = f"i({name[:-len('#branch')]})"
        out[name] = val
    return out


def run_ngspice_batch(deck_text: str, *, timeout: float = 600,
                      options: str | None = DEFAULT_OPTIONS,
                      cwd: str | None = None) -> dict[str, float]:
    """Solve ``deck_text`` (which must contain ``.op``) with ``ngspice -b``.

    ``cwd`` is the folder ngspice runs in, so that the deck's relative
    ``.include`` / ``.lib`` paths resolve (default: a fresh temporary folder).

    Returns node voltages by lower-case node name and voltage-source currents
    under ``"i(vname)"``.  Raises :class:`BackendError` with ngspice's own
    messages when it fails, times out, or is not installed.
    """
    binary = ngspice_binary()
    with tempfile.TemporaryDirectory(prefix="circuitlearn-ngspice-") as tmp:
        deck_path = os.path.join(tmp, "deck.cir")
        raw_path = os.path.join(tmp, "out.raw")
        with open(deck_path, "w", encoding="utf-8") as fh:
            fh.write(_with_options(deck_text, options))
        env = dict(os.environ, SPICE_ASCIIRAWFILE="1")
        try:
            proc = subprocess.run([binary, "-b", "-r", raw_path, deck_path], cwd=cwd or tmp,
                                  env=env,
                                  capture_output=True, text=True, timeout=timeout,
                                  errors="replace")
        except subprocess.TimeoutExpired:
            raise BackendError(f"ngspice -b did not finish within {timeout} s") from None
        except OSError as exc:
            raise BackendError(f"cannot run {binary}: {exc}; {INSTALL_HINT}") from None
        errors = [ln.strip() for ln in proc.stderr.splitlines()
                  if "error" in ln.lower() or "interrupted" in ln.lower()
                  or "singular" in ln.lower() or "convergence" in ln.lower()]
        if proc.returncode != 0 or errors or not os.path.exists(raw_path):
            detail = proc.stderr.strip()[-3000:] or "no raw file written"
            raise BackendError(f"ngspice -b failed (exit {proc.returncode}):\n{detail}")
        with open(raw_path, encoding="utf-8", errors="replace") as fh:
            result = parse_ascii_raw(fh.read())
    bad = [k for k, v in result.items() if not math.isfinite(v)]
    if bad:
        raise BackendError(f"ngspice returned non-finite values for {', '.join(bad)}")
    return result
