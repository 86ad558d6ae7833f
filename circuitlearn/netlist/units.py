"""SPICE numbers: ``1.5k``, ``10uA``, ``3V``, ``1e-3``, ``2.2meg``.

A SPICE value is a decimal number (optional sign, optional exponent) followed
by an optional scale suffix and then any unit letters, which are ignored::

    f=1e-15  p=1e-12  n=1e-9  u=1e-6  m=1e-3  k=1e3  meg=1e6  g=1e9  t=1e12

Suffixes are case-insensitive and ``meg`` and ``mil`` (25.4e-6, as in ngspice)
are tried before ``m`` (``1M`` is one milli, as in every SPICE).  ``1.5kohm`` is 1500, ``10uA`` is 1e-5, ``3V`` is 3.

:func:`format_value` writes a float so that :func:`parse_value` gives back the
very same float (``repr`` has the shortest string that round-trips).
"""
from __future__ import annotations

import math
import re
from decimal import Decimal

#: scale suffixes (lower case), longest first so ``meg`` wins over ``m``
#: as powers of ten, applied in decimal so that ``100u`` is exactly the double nearest 1e-4
SUFFIXES: tuple[tuple[str, int], ...] = (
    ("meg", 6), ("f", -15), ("p", -12), ("n", -9), ("u", -6),
    ("m", -3), ("k", 3), ("g", 9), ("t", 12),
)

_NUMBER = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?")
_UNIT = re.compile(r"[a-zA-Z_]*")


def split_number(token: str) -> tuple[str, str] | None:
    """Split ``token`` into (numeric part, rest) or ``None`` if it does not start with a number.

    A trailing ``e`` not followed by digits belongs to the rest (``1e`` has
    no exponent), which the regular expression takes care of.
    """
    m = _NUMBER.match(token)
    if not m:
        return None
    return m.group(0), token[m.end():]


def parse_value(token: str) -> float:
    """Parse one SPICE number; raise :class:`ValueError` saying what is wrong.

    The result is always finite: overflow such as ``1e999`` is an error.
    """
    tok = token.strip()
    parts = split_number(tok)
    if parts is None:
        raise ValueError(f"malformed number {token!r}: expected digits like 1.5k, 10u, 2e-3")
    num, rest = parts
    shift = 0
    low = rest.lower()
    if low.startswith("mil"):          # 1 mil = 25.4e-6, as in ngspice (checked before m)
        if not _UNIT.fullmatch(low[3:]):
            raise ValueError(f"malformed number {token!r}: unexpected {rest!r} after {num!r}")
        try:
            value = float(Decimal(num) * Decimal("25.4e-6"))
        except ArithmeticError:
            value = math.inf
        if not math.isfinite(value):
            raise ValueError(f"number {token!r} is out of range (not a finite double)")
        return value
    for suf, power in SUFFIXES:
        if low.startswith(suf):
            shift = power
            low = low[len(suf):]
            break
    if not _UNIT.fullmatch(low):
        raise ValueError(f"malformed number {token!r}: unexpected {rest!r} after {num!r}")
    try:
        value = float(Decimal(num).scaleb(shift)) if shift else float(num)
    except ArithmeticError:
        value = math.inf
    if not math.isfinite(value):
        raise ValueError(f"number {token!r} is out of range (not a finite double)")
    return value


def is_number(token: str) -> bool:
    """True when ``token`` parses as a SPICE number."""
    try:
        parse_value(token)
    except ValueError:
        return False
    return True


def format_value(x: float) -> str:
    """Write ``x`` for a netlist so that ``parse_value(format_value(x)) == x`` exactly.

    Uses the shortest round-tripping decimal (Python's ``repr``); integers
    come out without a trailing ``.0``.  Non-finite values are refused.
    """
    x = float(x)
    if not math.isfinite(x):
        raise ValueError(f"cannot write non-finite value {x!r} in a netlist")
    if x == 0.0:
        return "0"  # -0.0 and 0.0 are equal; SPICE has no signed zero
    if x.is_integer() and abs(x) < 1e16:
        return str(int(x))
    return repr(x)
