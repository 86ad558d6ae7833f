"""The exceptions circuitlearn raises on bad input or failed solves.

Every error about a netlist carries where it happened (file and line) and the
offending text, so the CLI can print ``file:line: message`` and stop without a
Python traceback.
"""
from __future__ import annotations


class CircuitLearnError(Exception):
    """Base class of every error circuitlearn raises on purpose."""


class NetlistError(CircuitLearnError):
    """A netlist (or an included file) cannot be read or is not a valid circuit.

    Attributes
    ----------
    file : str or None
        Path of the file (``"<string>"`` for text given directly).
    line : int or None
        1-based line number in ``file`` (the first line of a continued line).
    text : str or None
        The offending source line, stripped.
    reason : str
        What is wrong, in words.
    """

    def __init__(self, reason: str, file: str | None = None, line: int | None = None,
                 text: str | None = None):
        self.reason = reason
        self.file = file
        self.line = line
        self.text = text
        super().__init__(self.located())

    def located(self) -> str:
        where = ""
        if self.file is not None:
            where = f"{self.file}:{self.line}: " if self.line is not None else f"{self.file}: "
        msg = f"{where}{self.reason}"
        if self.text:
            msg += f"\n    {self.text}"
        return msg


class TopologyError(NetlistError):
    """The circuit graph has no unique DC solution (floating nodes, source loops, shorts)."""


class ConfigError(CircuitLearnError):
    """A training/experiment configuration (TOML file or flags) is invalid."""

    def __init__(self, reason: str, file: str | None = None, key: str | None = None):
        self.reason, self.file, self.key = reason, file, key
        where = f"{file}: " if file else ""
        what = f"[{key}] " if key else ""
        super().__init__(f"{where}{what}{reason}")


class DataError(CircuitLearnError):
    """A data set is missing or corrupt; the message says how to get it."""


class BackendError(CircuitLearnError):
    """A simulation backend (ngspice) is missing or reported an error."""


class TrainingError(CircuitLearnError):
    """Training stopped: the loss diverged or the nudging would be unstable.

    The message says what happened and where the last good checkpoint is."""


class ConditioningWarning(UserWarning):
    """A deck whose conductances span more than float64 resolves (see
    :func:`circuitlearn.compile.circuit.conductance_spread`)."""


class SolveError(CircuitLearnError, FloatingPointError):
    """A solve a device or gradient needed failed or gave non-finite values (the message
    says which); a :class:`FloatingPointError`, so numerical callers may catch it as one."""


def read_toml(path: str, what: str) -> dict:
    """The TOML file at ``path`` (a ``what``: "config", "task file", "sweep file") as a
    dict; an unreadable or invalid file is a ConfigError naming it."""
    import tomllib
    try:
        with open(path, "rb") as fh:
            return tomllib.load(fh)
    except OSError as exc:
        raise ConfigError(f"cannot read {what} ({exc.strerror})", path) from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"not valid TOML: {exc}", path) from None
