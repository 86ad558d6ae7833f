"""What every results JSON carries (provenance) and how its numbers are written.

**Encoding.** Results files are strictly valid JSON (RFC 8259): no ``NaN`` or
``Infinity`` tokens, and no strings standing for numbers.  A float that is not finite
is written as ``null``:

* in a **config** (``"config"`` of ``results.json``, a checkpoint's config) ``null`` is
  ``+inf``: TOML has no null, so a config key can hold ``null`` only for the one
  non-finite value a key takes -- no upper clamp, ``g_max = inf``
  (:func:`decode_config` reads it back);
* in a **measurement** ``null`` means "not available": a NaN (an undefined cosine) or
  a value that was not measured (a run that failed).

numpy scalars and arrays are written as numbers and lists.

**Provenance** (:func:`provenance`): the package version; the git commit when run from
a checkout (and whether the work tree had uncommitted changes); Python, numpy, scipy,
numba, PySpice and ngspice versions; the date (UTC, ISO 8601); the host and platform;
and the command line.  The full config sits beside it in each results file.
"""
from __future__ import annotations

import datetime as _dt
import json
import math
import os
import platform
import shlex
import subprocess
import sys

#: the packages whose versions a result records (distribution names)
PACKAGES = ("numpy", "scipy", "numba", "PySpice", "networkx", "matplotlib")


def encode(o):
    """``o`` as strictly valid JSON data (see the module docstring)."""
    if isinstance(o, dict):
        return {str(k): encode(v) for k, v in o.items()}
    if isinstance(o, (list, tuple)):
        return [encode(v) for v in o]
    if hasattr(o, "tolist") and type(o).__module__ == "numpy":   # arrays and numpy scalars
        return encode(o.tolist())
    if isinstance(o, float) and not math.isfinite(o):
        return None
    return o


def decode_config(o):
    """A config read back from JSON: ``null`` is ``+inf`` (see the module docstring);
    the strings ``"inf"``/``"-inf"`` of files written before this encoding are
    accepted too."""
    if isinstance(o, dict):
        return {k: decode_config(v) for k, v in o.items()}
    if isinstance(o, list):
        return [decode_config(v) for v in o]
    if o is None or o == "inf":
        return math.inf
    if o == "-inf":
        return -math.inf
    return o


def dumps(o, **kw) -> str:
    """:func:`json.dumps` of :func:`encode` ``(o)``; refuses anything not strict JSON."""
    return json.dumps(encode(o), allow_nan=False, **kw)


def write_json(path: str, o) -> None:
    """Write ``o`` as strict JSON to ``path`` atomically (a temporary file renamed)."""
    tmp = f"{path}.tmp"
    with open(tmp, "w", encoding="utf-8") as fh:
        fh.write(dumps(o, indent=1))
        fh.write("\n")
    os.replace(tmp, path)


def write_summary(path: str, summary: dict, config: dict) -> None:
    """A command's ``summary.json`` / ``demo.json``: its summary with the provenance and
    the full config it ran."""
    write_json(path, summary | {"provenance": provenance(), "config": config})


def _version(dist: str):
    from importlib.metadata import PackageNotFoundError, version
    try:
        return version(dist)
    except PackageNotFoundError:
        return None


def _run(cmd, cwd=None):
    try:
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=10, cwd=cwd)
    except (OSError, subprocess.SubprocessError):
        return None
    return p.stdout if p.returncode == 0 else None


def _git(root: str) -> dict | None:
    """Commit and dirtiness of the checkout at ``root`` (None outside a checkout)."""
    if not os.path.exists(os.path.join(root, ".git")):
        return None
    head = _run(["git", "rev-parse", "HEAD"], root)
    if not head:
        return None
    status = _run(["git", "status", "--porcelain", "--untracked-files=no"], root)
    return {"commit": head.strip(), "dirty": bool(status and status.strip())}


_NGSPICE = []


def ngspice_version():
    """``"39"`` from ``ngspice --version`` (None without ngspice); asked once."""
    if not _NGSPICE:
        out = _run(["ngspice", "--version"]) or ""
        ver = None
        for word in out.replace(":", " ").split():
            if word.lower().startswith("ngspice-"):
                ver = word.split("-", 1)[1]
                break
        _NGSPICE.append(ver)
    return _NGSPICE[0]


def provenance(argv=None) -> dict:
    """Where a result comes from (see the module docstring); ``argv``: the command line
    (default ``sys.argv``)."""
    from circuitlearn import __version__
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    argv = sys.argv if argv is None else argv
    return {
        "circuitlearn": __version__,
        "git": _git(root),
        "python": platform.python_version(),
        **{p.lower(): _version(p) for p in PACKAGES},
        "ngspice": ngspice_version(),
        "date": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "host": platform.node(),
        "platform": platform.platform(),
        "command": shlex.join([os.path.basename(argv[0]) if argv else "", *argv[1:]]),
    }
