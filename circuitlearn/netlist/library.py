"""Diode model libraries: every ``.model NAME D (...)`` card in ``spice_models/*.lib``.

:class:`ModelLibrary` scans the folders it is given (default: the
``CIRCUITLEARN_MODELS`` environment variable, else the libraries bundled with the
package, :mod:`circuitlearn.bundled`, which a checkout also shows as ``spice_models/``) and indexes the diode models by
(lower-case) name.  The same name in two files is an error naming both.
Cards are read with the netlist reader, so comments, ``+`` continuations and
unit suffixes work as in a netlist; ``.lib SECTION`` / ``.endl`` lines are
section markers and are looked through.
"""
from __future__ import annotations

import glob
import os

from circuitlearn.netlist.model import DiodeModel
from circuitlearn.netlist.parser import parse_model_card
from circuitlearn.netlist.reader import logical_lines, read_text


def default_model_dirs() -> list[str]:
    env = os.environ.get("CIRCUITLEARN_MODELS")
    if env:
        return [p for p in env.split(os.pathsep) if p]
    from circuitlearn import bundled
    return [bundled.folder("models")]


class ModelLibrary:
    """Diode models found in ``*.lib`` files of ``paths`` (folders or single files)."""

    def __init__(self, paths=None):
        if paths is None:
            paths = default_model_dirs()
        elif isinstance(paths, (str, os.PathLike)):
            paths = [paths]
        self.paths = [os.fspath(p) for p in paths]
        self._models: dict[str, DiodeModel] = {}
        self._files: dict[str, str] = {}
        for path in self.paths:
            files = sorted(glob.glob(os.path.join(path, "*.lib"))) if os.path.isdir(path) \
                else [path]
            for f in files:
                self._scan(f)

    def _scan(self, path: str) -> None:
        for card in logical_lines(read_text(path), path, has_title=False)[1]:
            if card.text.split(None, 1)[0].lower() != ".model":
                continue
            m = parse_model_card(card, {})
            if m.name in self._models:
                raise card.error(f"diode model {m.name} defined in both {self._files[m.name]} "
                                 f"and {path}")
            self._models[m.name] = m
            self._files[m.name] = path

    def get(self, name: str) -> DiodeModel:
        """The model called ``name`` (case-insensitive); KeyError listing the known ones."""
        try:
            return self._models[name.lower()]
        except KeyError:
            raise KeyError(f"no diode model {name!r} in {', '.join(self.paths)} "
                           f"(known: {', '.join(self.names())})") from None

    def file_of(self, name: str) -> str:
        """Path of the library file that defines ``name``."""
        self.get(name)
        return self._files[name.lower()]

    def names(self) -> list[str]:
        return sorted(self._models)

    def __contains__(self, name: str) -> bool:
        return name.lower() in self._models

    def __len__(self) -> int:
        return len(self._models)

    def __iter__(self):
        return iter(self._models[n] for n in self.names())
