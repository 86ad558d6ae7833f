"""Reading netlist text into located logical lines, with includes expanded.

This is the first stage of :mod:`circuitlearn.netlist.parser`.  It follows
ngspice's conventions:

* the first physical line of the top file is the title (never a card);
* ``*`` starts a comment line; ``;`` starts an inline comment anywhere; ``$``
  starts one when it is preceded by whitespace (or starts the line);
* a line starting with ``+`` continues the previous card; the joined card is
  located at its first physical line;
* ``.include FILE`` / ``.inc FILE`` reads FILE (path relative to the including
  file) in place; ``.lib FILE SECTION`` reads the lines between
  ``.lib SECTION`` and ``.endl`` in FILE; a one-argument ``.lib NAME`` in any
  file opens a section definition, which is skipped unless requested;
* ``.end`` stops reading the file it is in.

Bad bytes (NUL, control characters, text that is not UTF-8) raise
:class:`~circuitlearn.errors.NetlistError` at the offending line, as does an
include that would leave the top netlist's folder (unless allowed), a missing
file, or a recursive include (the message names the chain).
"""
from __future__ import annotations

import os
import re
from dataclasses import dataclass

from circuitlearn.errors import NetlistError

MAX_FILE_BYTES = 50_000_000
MAX_INCLUDE_DEPTH = 50
#: logical lines a deck may have once every include is read in place (each inclusion counts,
#: so a fan-out of includes is stopped here instead of expanding forever; a little above
#: the parser's MAX_ELEMENTS, which a deck could not exceed anyway)
MAX_CARDS = 1_200_000


@dataclass(frozen=True)
class Line:
    """One logical line (card): text with comments removed and continuations joined."""
    file: str
    line: int
    text: str

    def error(self, reason: str) -> NetlistError:
        text = self.text if len(self.text) <= 300 else self.text[:300] + " ..."
        return NetlistError(reason, self.file, self.line, text)


def decode(data: bytes, file: str) -> str:
    """Bytes -> text; NUL bytes or invalid UTF-8 raise a located NetlistError."""
    if b"\x00" in data:
        line = data.count(b"\n", 0, data.index(b"\x00")) + 1
        raise NetlistError("binary data (NUL byte): this is not a text netlist", file, line)
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise NetlistError(f"not UTF-8 text (byte 0x{data[exc.start]:02x}): "
                           "this is not a text netlist", file, line) from None


def read_text(path: str, where: Line | None = None) -> str:
    """Read and decode a file; OSError becomes a NetlistError (at ``where`` if given)."""
    import stat
    try:
        # only regular files: a FIFO or a device would block or never end
        mode = os.stat(path).st_mode
        if not stat.S_ISREG(mode):
            what = "a folder" if stat.S_ISDIR(mode) else "not a regular file"
            reason = f"cannot read {path}: {what}"
            if where is not None:
                raise where.error(reason)
            raise NetlistError(reason, path)
        with open(path, "rb") as fh:
            data = fh.read(MAX_FILE_BYTES + 1)
    except OSError as exc:
        reason = f"cannot read {path}: {exc.strerror or exc}"
        if where is not None:
            raise where.error(reason) from None
        raise NetlistError(reason, path) from None
    if len(data) > MAX_FILE_BYTES:
        raise NetlistError(f"file larger than {MAX_FILE_BYTES} bytes", path)
    return decode(data, path)


#: control characters (Unicode category Cc but tab/CR/LF), line/paragraph separators, surrogates
_BAD_CHAR = re.compile("[\x00-\x08\x0b-\x0c\x0e-\x1f\x7f-\x9f\u2028\u2029\ud800-\udfff]")


def _check_chars(text: str, file: str) -> None:
    """Refuse text with control characters (binary garbage), located at its line."""
    m = _BAD_CHAR.search(text)
    if m:
        line = text.count("\n", 0, m.start()) + 1
        raw = text.split("\n")[line - 1]
        raise NetlistError(f"control character {m.group(0)!r}: this is not a text netlist",
                           file, line, _BAD_CHAR.sub("?", raw.strip())[:200])


def strip_comment(text: str) -> str:
    """Remove ``;`` comments and ``$`` comments that follow whitespace (ngspice rules)."""
    if ";" not in text and "$" not in text:
        return text
    cut = text.find(";")
    if cut >= 0:
        text = text[:cut]
    for i, ch in enumerate(text):
        if ch == "$" and (i == 0 or text[i - 1] in " \t\r"):
            return text[:i]
    return text


def logical_lines(text: str, file: str, has_title: bool) -> tuple[str | None, list[Line]]:
    """Split text into (title, cards).  ``has_title``: the first line is the title."""
    _check_chars(text, file)
    # lines end at LF (CRLF too); a lone CR inside a line is plain whitespace
    physical = text.replace("\r\n", "\n").replace("\r", " ").split("\n")
    title = None
    start = 0
    if has_title:
        title = physical[0].strip(" \t\r")
        start = 1
    pending: list[tuple[int, list[str]]] = []     # (line number, text parts) per card
    for i in range(start, len(physical)):
        stripped = physical[i].strip()
        if not stripped or stripped.startswith("*"):
            continue
        body = strip_comment(stripped).strip()
        if stripped.startswith("+"):
            if not pending:
                raise NetlistError("continuation line '+' with no card before it to continue",
                                   file, i + 1, stripped)
            extra = body[1:].strip()
            if extra:
                pending[-1][1].append(extra)
            continue
        if body:
            pending.append((i + 1, [body]))
    cards = [Line(file, line, " ".join(parts)) for line, parts in pending]
    return title, cards


def _first_word(text: str) -> str:
    return text.split(None, 1)[0].lower() if text.split() else ""


def _args(text: str) -> list[str]:
    """Arguments of a dot command, with quotes around file names removed."""
    rest = text.split(None, 1)[1] if len(text.split(None, 1)) > 1 else ""
    out, cur, quote = [], "", None
    for ch in rest:
        if quote:
            if ch == quote:
                quote = None
            else:
                cur += ch
        elif ch in "\"'":
            quote = ch
        elif ch in " \t\r":
            if cur:
                out.append(cur)
            cur = ""
        else:
            cur += ch
    if cur:
        out.append(cur)
    return out


def model_search_path() -> list[str]:
    """Where an ``.include`` / ``.lib`` file the deck's folder lacks is looked for, in
    order: the bundled model libraries (:mod:`circuitlearn.bundled`), then the folders of
    ``CIRCUITLEARN_MODELS`` (``os.pathsep``-separated)."""
    from circuitlearn import bundled
    env = os.environ.get("CIRCUITLEARN_MODELS", "")
    return [bundled.folder("models")] + [p for p in env.split(os.pathsep) if p]


def _model_search(name: str) -> str | None:
    """A plain file name (no folder part: the search path is not a way out of the deck's
    folder) found in :func:`model_search_path`, or None."""
    if os.path.basename(name) != name or name in ("", ".", ".."):
        return None
    for folder in model_search_path():
        path = os.path.realpath(os.path.join(folder, name))
        if os.path.isfile(path):
            return path
    return None


class Includer:
    """Expands ``.include`` / ``.lib`` with the folder rule and recursion check."""

    def __init__(self, root_dir: str, allow_outside: bool):
        self.root_dir = os.path.realpath(root_dir)
        self.allow_outside = allow_outside
        self.cache: dict[str, list[Line]] = {}
        self._resolved: dict[tuple, str] = {}
        self.n_cards = 0

    def resolve(self, name: str, card: Line) -> str:
        key = (card.file, name)
        hit = self._resolved.get(key)
        if hit is None:
            hit = self._resolved[key] = self._resolve(name, card)
        return hit

    def _resolve(self, name: str, card: Line) -> str:
        base = os.path.dirname(card.file) if card.file not in ("<string>", "") \
            and not card.file.startswith("<") else self.root_dir
        path = os.path.realpath(os.path.join(base, os.path.expanduser(name)))
        if not os.path.exists(path) and not os.path.isabs(os.path.expanduser(name)):
            found = _model_search(name)      # the bundled libraries, then CIRCUITLEARN_MODELS
            if found is not None:
                return found
        inside = path == self.root_dir or path.startswith(self.root_dir.rstrip(os.sep) + os.sep)
        if not inside and not self.allow_outside:
            raise card.error(f"include {name!r} resolves to {path}, outside the netlist's "
                             f"folder {self.root_dir}; allow it explicitly "
                             "(allow_outside=True, or --allow-outside-include on the command line)")
        return path

    def file_cards(self, path: str, card: Line) -> list[Line]:
        if path not in self.cache:
            self.cache[path] = logical_lines(read_text(path, card), path, has_title=False)[1]
        return self.cache[path]

    def expand(self, cards: list[Line], chain: tuple[str, ...]) -> list[Line]:
        """Return ``cards`` with includes and library sections read in place."""
        if len(chain) > MAX_INCLUDE_DEPTH:
            raise cards[0].error(f"includes nested more than {MAX_INCLUDE_DEPTH} deep")
        out: list[Line] = []
        i = 0
        while i < len(cards):
            card = cards[i]
            word = _first_word(card.text)
            i += 1
            if word == ".end":
                break
            if word in (".include", ".inc"):
                args = _args(card.text)
                if len(args) != 1:
                    raise card.error(f"{word} takes exactly one file name")
                out.extend(self._include(args[0], None, card, chain))
            elif word == ".lib":
                args = _args(card.text)
                if len(args) == 2:
                    out.extend(self._include(args[0], args[1], card, chain))
                elif len(args) == 1:       # a section definition: skip it here
                    i = _skip_section(cards, i - 1)
                else:
                    raise card.error(".lib takes FILE SECTION (or SECTION to open a section)")
            elif word == ".endl":
                raise card.error(".endl without an open .lib section")
            else:
                self.n_cards += 1
                if self.n_cards > MAX_CARDS:
                    raise card.error(f"the deck has more than {MAX_CARDS} cards with its "
                                     "includes read in place (each inclusion counts)")
                out.append(card)
        return out

    def _include(self, name, section, card, chain):
        path = self.resolve(name, card)
        key = path if section is None else f"{path} [{section.lower()}]"
        if key in chain:
            loop = " -> ".join(chain[chain.index(key):] + (key,))
            raise card.error(f"recursive include: {loop}")
        cards = self.file_cards(path, card)
        if section is not None:
            cards = _section(cards, section, path, card)
        return self.expand(cards, chain + (key,)) if cards else []


def _skip_section(cards: list[Line], start: int) -> int:
    """Index just after the ``.endl`` that closes the section opened at ``start``."""
    for j in range(start + 1, len(cards)):
        if _first_word(cards[j].text) == ".endl":
            return j + 1
    raise cards[start].error(".lib section is never closed by .endl")


def _section(cards: list[Line], section: str, path: str, card: Line) -> list[Line]:
    i = 0
    while i < len(cards):
        c = cards[i]
        if _first_word(c.text) == ".lib":
            args = _args(c.text)
            if len(args) == 1:
                end = _skip_section(cards, i)
                if args[0].lower() == section.lower():
                    return cards[i + 1:end - 1]
                i = end
                continue
        i += 1
    raise card.error(f"section {section!r} not found in library {path}")
