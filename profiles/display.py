"""Untrusted text and values shown in one short line of printable ASCII.

Names, paths and values in our messages come from files and command lines that a careless or
hostile user wrote. A newline would split the line, an ANSI escape or a right-to-left override
would repaint the terminal, a Cyrillic letter would pass for a Latin one, and a 10 MB value would
bury the message. So every character outside printable ASCII is shown as a Python escape
(`\\u0430`), and everything is cut to a bounded width; the work done is bounded by the width,
never by the size of the value.
"""

from __future__ import annotations

import reprlib
from collections.abc import Callable
from typing import Any

MESSAGE_MAX_CHARS = 200
"""The longest error message, source to reason: one readable line."""
VALUE_MAX_CHARS = 48
"""The longest value shown inside a message."""
CUT = "..."
_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def escape_char(ch: str) -> str:
    """One character as printable ASCII: itself, or its Python escape."""
    if " " <= ch <= "~":
        return ch
    if ch in _NAMED:
        return _NAMED[ch]
    code = ord(ch)
    if code < 0x100:
        return f"\\x{code:02x}"
    return f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}"


def _quoted_char(ch: str) -> str:
    return "\\\\" if ch == "\\" else "\\'" if ch == "'" else escape_char(ch)


def _prefix(text: str, width: int, one: Callable[[str], str]) -> tuple[str, bool]:
    """The escaped start of `text` in at most `width` characters, and whether it was cut."""
    out: list[str] = []
    used = 0
    for ch in text:
        piece = one(ch)
        if used + len(piece) > width:
            return "".join(out), True
        out.append(piece)
        used += len(piece)
    return "".join(out), False


def escape(text: str, width: int = MESSAGE_MAX_CHARS, *,
           one: Callable[[str], str] = escape_char) -> str:
    """`text` escaped to printable ASCII and cut to `width` characters (ending in ...)."""
    whole, cut = _prefix(text, width, one)
    if not cut or width < len(CUT):
        return whole
    return _prefix(text, width - len(CUT), one)[0] + CUT


def clip_middle(text: str, width: int) -> str:
    """Like `escape`, but cut in the middle: a path keeps its start and its file name."""
    whole, cut = _prefix(text, width, escape_char)
    if not cut or width < len(CUT) + 2:
        return escape(text, width)
    keep = width - len(CUT)
    head = _prefix(text, keep // 3, escape_char)[0]
    tail: list[str] = []
    used = len(head)
    for ch in reversed(text):
        piece = escape_char(ch)
        if used + len(piece) > keep:
            break
        tail.append(piece)
        used += len(piece)
    return head + CUT + "".join(reversed(tail))


def integer_text(value: int, width: int = VALUE_MAX_CHARS) -> str:
    """An integer, cut short with its length when long: 1234567...(400 digits)."""
    try:
        digits = str(value)
    except ValueError:          # beyond the interpreter's int-to-text limit (4300 digits)
        sign = "-" if value < 0 else ""
        return f"{sign}an integer of about {int(value.bit_length() * 0.30103)} digits"
    if len(digits) <= width:
        return digits
    note = f"({len(digits.lstrip('-'))} digits)"
    return digits[:max(width - len(CUT) - len(note), 1)] + CUT + note


class _Shown(reprlib.Repr):
    """reprlib's bounded depth and width, with strings escaped and long integers cut."""

    def __init__(self) -> None:
        super().__init__()
        self.maxlevel = 3
        self.maxlist = self.maxtuple = self.maxset = self.maxfrozenset = 4
        self.maxdict = 3
        self.maxstring = 40
        self.maxother = 30
        self.maxlong = 24

    def repr_str(self, x: str, level: int) -> str:
        return f"'{escape(x, self.maxstring, one=_quoted_char)}'"

    def repr_int(self, x: int, level: int) -> str:
        return integer_text(x, self.maxlong)


_SHOWN = _Shown()
"""Holds settings only: reprlib keeps no state between calls."""


def shown(value: Any, width: int = VALUE_MAX_CHARS) -> str:
    """A value as Python would write it, non-ASCII escaped (`'n\\u0430ppage'`), in `width`."""
    try:
        text = _SHOWN.repr(value)
    except Exception:               # a value whose own repr fails still gets a message
        text = f"<{type(value).__name__}>"
    return escape(text, width)
