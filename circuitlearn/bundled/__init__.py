"""The files circuitlearn ships inside the package (so a wheel carries them).

* ``models/``   diode model libraries (``diodes.lib``, ``ideal.lib``): found by name from a
  deck's ``.include`` / ``.lib`` when the deck's folder has no such file (search path:
  the deck's folder, then these, then the folders in ``CIRCUITLEARN_MODELS``);
* ``netlists/`` the example decks (``bridge.cir``, ``drn_small.cir``, ...);
* ``configs/``  the training configs and their data (``digits.toml``,
  ``crossbar_regression.toml`` with ``crossbar_teacher.csv``, ...).

In a checkout the top-level ``spice_models/``, ``netlists/`` and ``experiments/configs/``
are links to these folders.  From any other directory the documented paths still work:
a deck or config path that does not exist and is written as the checkout writes it
(``netlists/bridge.cir``, ``experiments/configs/digits.toml``) or as a bare file name
(``bridge.cir``, ``digits.toml``, ``digits``) names the bundled file; the command says
on stderr that it uses it.  Any other missing path is an error, as it should be.
"""
from __future__ import annotations

import os
from importlib.resources import files

#: kind -> (bundled folder, how a checkout spells it, file extension)
KINDS = {
    "models": ("models", "spice_models", ".lib"),
    "netlists": ("netlists", "netlists", ".cir"),
    "configs": ("configs", "experiments/configs", ".toml"),
}


def folder(kind: str) -> str:
    """The bundled folder of ``kind`` (``models``, ``netlists`` or ``configs``)."""
    return os.fspath(files(__name__) / KINDS[kind][0])


def names(kind: str) -> list[str]:
    """The bundled files of ``kind`` (their names, sorted)."""
    ext = KINDS[kind][2]
    return sorted(f for f in os.listdir(folder(kind)) if f.endswith(ext))


def lookup(path: str, kind: str) -> str | None:
    """The bundled file ``path`` names when ``path`` itself does not exist (see the module
    docstring); None when it exists or names nothing bundled."""
    if os.path.exists(path):
        return None
    sub, checkout, ext = KINDS[kind]
    norm = os.path.normpath(path).replace(os.sep, "/")
    head, _, name = norm.rpartition("/")
    if head not in ("", checkout):
        return None
    for cand in (name, name + ext):
        full = os.path.join(folder(kind), cand)
        if cand and os.path.isfile(full):
            return full
    return None


def example(name: str) -> str:
    """The path of the bundled file ``name``: an example deck (``"bridge.cir"``), a config
    (``"digits.toml"``, ``"crossbar_teacher.csv"``) or a model library (``"diodes.lib"``).
    Raises FileNotFoundError listing what there is."""
    for kind in ("netlists", "configs", "models"):
        path = os.path.join(folder(kind), name)
        if os.path.isfile(path):
            return path
    have = ", ".join(sorted(set(os.listdir(folder("netlists"))) | set(os.listdir(
        folder("configs"))) | set(os.listdir(folder("models")))))
    raise FileNotFoundError(f"no bundled file {name!r} (bundled: {have})")


def resolve(path: str, kind: str, log=None) -> str:
    """``path``, or the bundled file it names (announced through ``log``)."""
    hit = lookup(path, kind)
    if hit is None:
        return path
    if log is not None:
        log(f"circuitlearn: {path} not found here; using the bundled {hit}")
    return hit
