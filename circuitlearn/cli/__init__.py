"""The ``circuitlearn`` command line.

Each sub-command lives in its own module of this package with two functions:
``add_parser(subparsers)`` registering its arguments and ``run(args) -> int``.
Errors that circuitlearn raises on purpose (bad netlists, configs, data,
backends) are printed as ``file:line: message`` on stderr with exit status 1,
never as a Python traceback.
"""
from __future__ import annotations

import argparse
import importlib
import os
import sys

from circuitlearn.errors import CircuitLearnError

#: sub-command name -> module (in this package) implementing it
COMMANDS = {
    "check": "check",
    "export": "check",
    "solve": "solve",
    "validate": "validate",
    "train": "train",
    "demo": "train",
    "sweep": "sweep",
    "plot": "plot",
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="circuitlearn",
        description="Simulate resistive/diode circuits and train them like learning hardware.")
    from circuitlearn import __version__
    parser.add_argument("--version", action="version", version=f"circuitlearn {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    seen = set()
    for module in COMMANDS.values():
        if module in seen:
            continue
        seen.add(module)
        importlib.import_module(f"circuitlearn.cli.{module}").add_parser(sub)
    return parser


def _show_warning(message, category, filename, lineno, file=None, line=None):
    """Warnings reach a CLI user as one line, without Python's source location."""
    print(f"circuitlearn: warning: {message}", file=sys.stderr if file is None else file)


def _bundled_paths(args) -> None:
    """A deck or config path that does not exist may name a bundled file
    (:mod:`circuitlearn.bundled`): ``netlists/bridge.cir``, ``digits.toml``."""
    from circuitlearn import bundled
    log = lambda s: print(s, file=sys.stderr)  # noqa: E731
    if isinstance(getattr(args, "file", None), str):
        args.file = bundled.resolve(args.file, "netlists", log)
    if isinstance(getattr(args, "config", None), str):
        args.config = bundled.resolve(args.config, "configs", log)


def main(argv=None) -> int:
    import warnings
    warnings.showwarning = _show_warning
    parser = build_parser()
    args = parser.parse_args(argv)
    _bundled_paths(args)
    try:
        return int(args.func(args) or 0)
    except CircuitLearnError as exc:
        print(f"circuitlearn: error: {exc}" if not getattr(exc, "file", None)
              else str(exc), file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("circuitlearn: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # the reader of stdout went away (``circuitlearn ... | head``): stop quietly
        try:
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        except OSError:
            pass
        return 1
    except OSError as exc:
        # an unwritable or unreadable path the command did not anticipate: say which
        where = exc.filename or "circuitlearn"
        print(f"{where}: error: {exc.strerror or exc}", file=sys.stderr)
        return 1
    except Exception as exc:            # a bug: one line for the user, the trace on request
        if os.environ.get("CIRCUITLEARN_DEBUG"):
            raise
        print(f"circuitlearn: internal error: {type(exc).__name__}: {exc} (a bug: please "
              f"report it; CIRCUITLEARN_DEBUG=1 shows the traceback)", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
