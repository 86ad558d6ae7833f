"""A small, safe evaluator for ``.param`` values and ``{...}`` expressions.

Grammar (recursive descent; never ``eval``)::

    expr    := term (('+' | '-') term)*
    term    := unary (('*' | '/') unary)*
    unary   := ('-' | '+') unary | power
    power   := atom (('**' | '^') unary)?          right associative
    atom    := NUMBER | NAME | NAME '(' expr (',' expr)* ')' | '(' expr ')'

NUMBER is a SPICE number with optional scale suffix and unit letters
(``1.5k``, ``10u``, ``2meg``); NAME is a parameter or the constant ``pi``.
Functions: sqrt exp log ln log10 abs min max pow sin cos tan atan (``log``
is the natural logarithm, as in ngspice).  ``-2**2`` is ``-4``.

Every problem raises :class:`ExprError` (a :class:`ValueError`) whose message
says what is wrong: undefined parameter, division by zero, overflow, syntax.
Results are always finite floats.
"""
from __future__ import annotations

import math
import re
from collections.abc import Mapping

from circuitlearn.netlist.units import parse_value


class ExprError(ValueError):
    """An expression cannot be evaluated; the message says why."""


def _min(*a):
    return min(a)


def _max(*a):
    return max(a)


#: function name -> (callable, minimum arity, maximum arity)
FUNCTIONS = {
    "sqrt": (math.sqrt, 1, 1), "exp": (math.exp, 1, 1), "log": (math.log, 1, 1),
    "ln": (math.log, 1, 1), "log10": (math.log10, 1, 1), "abs": (abs, 1, 1),
    "min": (_min, 1, 64), "max": (_max, 1, 64), "pow": (math.pow, 2, 2),
    "sin": (math.sin, 1, 1), "cos": (math.cos, 1, 1), "tan": (math.tan, 1, 1),
    "atan": (math.atan, 1, 1),
}
CONSTANTS = {"pi": math.pi}

_TOKEN = re.compile(r"""
    (?P<ws>\s+)
  | (?P<num>(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?[a-zA-Z_]*)
  | (?P<name>[a-zA-Z_][a-zA-Z0-9_.]*)
  | (?P<op>\*\*|[-+*/^(),])
""", re.VERBOSE)

MAX_DEPTH = 100
MAX_LENGTH = 10_000


def tokenize(text: str) -> list[tuple[str, str]]:
    """Split an expression into (kind, text) tokens; kind is num, name or op."""
    if len(text) > MAX_LENGTH:
        raise ExprError(f"expression longer than {MAX_LENGTH} characters")
    out, pos = [], 0
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if not m:
            raise ExprError(f"unexpected character {text[pos]!r} in expression {text!r}")
        pos = m.end()
        if m.lastgroup != "ws":
            out.append((m.lastgroup, m.group(0)))
    return out


class _Parser:
    def __init__(self, text: str, params: Mapping[str, float]):
        self.text = text
        self.toks = tokenize(text)
        self.pos = 0
        self.params = params
        self.depth = 0

    # -- helpers
    def peek(self):
        return self.toks[self.pos] if self.pos < len(self.toks) else (None, None)

    def take(self):
        tok = self.peek()
        self.pos += 1
        return tok

    def expect(self, op):
        kind, val = self.take()
        if val != op or kind != "op":
            got = "end of expression" if kind is None else repr(val)
            raise ExprError(f"expected {op!r} but found {got} in {self.text!r}")

    def check(self, x: float, what: str) -> float:
        if not math.isfinite(x):
            raise ExprError(f"{what} overflows (result is not finite) in {self.text!r}")
        return x

    # -- grammar
    def parse(self) -> float:
        if not self.toks:
            raise ExprError("empty expression")
        value = self.expr()
        if self.pos != len(self.toks):
            raise ExprError(f"unexpected {self.peek()[1]!r} in expression {self.text!r}")
        return value

    def expr(self) -> float:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise ExprError(f"expression nested more than {MAX_DEPTH} levels deep")
        value = self.term()
        while self.peek() in (("op", "+"), ("op", "-")):
            op = self.take()[1]
            rhs = self.term()
            value = self.check(value + rhs if op == "+" else value - rhs, "sum")
        self.depth -= 1
        return value

    def term(self) -> float:
        value = self.unary()
        while self.peek() in (("op", "*"), ("op", "/")):
            op = self.take()[1]
            rhs = self.unary()
            if op == "*":
                value = self.check(value * rhs, "product")
            else:
                if rhs == 0.0:
                    raise ExprError(f"division by zero in {self.text!r}")
                value = self.check(value / rhs, "quotient")
        return value

    def unary(self) -> float:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise ExprError(f"expression nested more than {MAX_DEPTH} levels deep")
        tok = self.peek()
        if tok == ("op", "-"):
            self.take()
            value = -self.unary()
        elif tok == ("op", "+"):
            self.take()
            value = self.unary()
        else:
            value = self.power()
        self.depth -= 1
        return value

    def power(self) -> float:
        base = self.atom()
        if self.peek() in (("op", "**"), ("op", "^")):
            self.take()
            exponent = self.unary()
            return _call("power", lambda a, b: math.pow(a, b), (base, exponent), self.text)
        return base

    def atom(self) -> float:
        kind, val = self.take()
        if kind == "num":
            try:
                return parse_value(val)
            except ValueError as exc:
                raise ExprError(str(exc)) from None
        if kind == "name":
            name = val.lower()
            if self.peek() == ("op", "("):
                return self.call(name)
            if name in self.params:
                return float(self.params[name])
            if name in CONSTANTS:
                return CONSTANTS[name]
            if name in FUNCTIONS:
                raise ExprError(f"function {name} needs arguments in parentheses")
            raise ExprError(f"undefined parameter {name!r} in {self.text!r}")
        if (kind, val) == ("op", "("):
            value = self.expr()
            self.expect(")")
            return value
        got = "end of expression" if kind is None else repr(val)
        raise ExprError(f"expected a number, name or '(' but found {got} in {self.text!r}")

    def call(self, name: str) -> float:
        if name not in FUNCTIONS:
            raise ExprError(f"unknown function {name!r} (known: {', '.join(sorted(FUNCTIONS))})")
        fn, lo, hi = FUNCTIONS[name]
        self.expect("(")
        args = [self.expr()]
        while self.peek() == ("op", ","):
            self.take()
            args.append(self.expr())
        self.expect(")")
        if not lo <= len(args) <= hi:
            want = str(lo) if lo == hi else f"{lo} to {hi}"
            raise ExprError(f"{name}() takes {want} argument(s), got {len(args)}")
        return _call(name, fn, args, self.text)


def _call(name, fn, args, text) -> float:
    try:
        value = float(fn(*args))
    except ZeroDivisionError:
        raise ExprError(f"division by zero in {name}() in {text!r}") from None
    except OverflowError:
        raise ExprError(f"{name}() overflows in {text!r}") from None
    except (ValueError, TypeError):
        raise ExprError(f"{name}() is undefined for argument(s) "
                        f"{', '.join(repr(a) for a in args)} in {text!r}") from None
    if not math.isfinite(value):
        raise ExprError(f"{name}() gives a non-finite result in {text!r}")
    return value


def evaluate(text: str, params: Mapping[str, float] | None = None) -> float:
    """Evaluate ``text`` with parameter values ``params`` (lower-case names).

    >>> evaluate("2*r0 + 1k", {"r0": 500})
    2000.0
    """
    return _Parser(text, params or {}).parse()


def eval_value(token: str, params: Mapping[str, float] | None = None) -> float:
    """An element value: ``{expr}`` or ``'expr'`` (evaluated) or a plain SPICE number.

    As in ngspice, expressions and parameter names need the braces.
    """
    tok = token.strip()
    if len(tok) >= 2 and ((tok[0] == "{" and tok[-1] == "}") or (tok[0] == tok[-1] == "'")):
        return evaluate(tok[1:-1], params)
    try:
        return parse_value(tok)
    except ValueError as exc:
        if params and tok.lower() in params:
            raise ExprError(f"{exc}; write {{{tok}}} to use the parameter") from None
        raise ExprError(str(exc)) from None
