"""The one rule for names of presets, zones, needles and syringes, and for catalog texts.

A name is what a clinician types and reads back in a plan, a table and the record, so it must
look like exactly one thing: no homoglyph (a Cyrillic "a" passes for a Latin one), no invisible
or reordering character (zero-width space, right-to-left override), no newline or escape that
splits or repaints a table, no path pieces (`..`, `/`, `\\`), and no uppercase letter, so that
`I` and `l` never meet and case never tells two names apart. Texts (a summary, a note, a
quote) may use any printable Unicode, but no control, format or unassigned character.
"""

from __future__ import annotations

import unicodedata

from profiles.display import shown
from profiles.errors import NameRuleError

NAME_MAX_CHARS = 40
NAME_RULE = (f"names are 1 to {NAME_MAX_CHARS} characters of a-z, 0-9 and single hyphens "
             "between them")
_ALLOWED = frozenset("abcdefghijklmnopqrstuvwxyz0123456789-")
_LOOKALIKES = (("rn", "m"), ("vv", "w"), ("0", "o"), ("1", "l"))
"""Pairs that read alike inside the alphabet in common fonts."""


def _character(text: str, index: int) -> str:
    ch = text[index]
    what = unicodedata.name(ch, "a control character" if unicodedata.category(ch) == "Cc"
                            else "an unnamed character")
    return f"character {index + 1} is {shown(ch)} ({what})"


def name_problem(text: str) -> str | None:
    """Why `text` is not a name under the rule, pointing at the first offending character."""
    if not text:
        return "it is empty"
    for index, ch in enumerate(text[:NAME_MAX_CHARS + 1]):
        if ch not in _ALLOWED:
            if "A" <= ch <= "Z":
                return f"character {index + 1} is {shown(ch)}, uppercase"
            return _character(text, index)
    if len(text) > NAME_MAX_CHARS:
        return f"it is {len(text)} characters long, over {NAME_MAX_CHARS}"
    if text.startswith("-") or text.endswith("-"):
        return "it starts or ends with a hyphen"
    if "--" in text:
        return f"character {text.index('--') + 2} doubles a hyphen"
    return None


def check_name(text: str, kind: str, *, source: str | None = None,
               field: str | None = None) -> str:
    """`text` itself when it is a name under the rule; else NameRuleError saying why."""
    if not isinstance(text, str):
        raise NameRuleError(f"must be a string; {NAME_RULE}", kind=kind, source=source,
                            field=field, value=text, limit=NAME_RULE)
    problem = name_problem(text)
    if problem:
        raise NameRuleError(f"{problem}; {NAME_RULE}", kind=kind, source=source, field=field,
                            value=text, limit=NAME_RULE)
    return text


def typed_name(text: str) -> str:
    """The spelling to look up for a name a user typed: ASCII case does not matter.

    Only ASCII is folded: str.lower() would turn some non-ASCII letters into ASCII ones
    (KELVIN SIGN into "k"), and those must be refused, not matched.
    """
    return text.lower() if text.isascii() else text


def near_name(text: str) -> str:
    """What is left of a refused name once every character outside the alphabet is gone,
    to suggest the name the user probably meant (a zero-width space pasted into a name)."""
    return "".join(ch for ch in typed_name(text[:4 * NAME_MAX_CHARS]) if ch in _ALLOWED)


def lookalike_key(name: str) -> str:
    """Two names with the same key read alike (`pinp0int`, `pinpoint`): refuse the second."""
    for seen, means in _LOOKALIKES:
        name = name.replace(seen, means)
    return name


def text_problem(text: str, *, lines: bool = False) -> str | None:
    """Why a catalog text may not be shown: a control, format (bidi, zero-width), private or
    unassigned character; newlines and tabs only where `lines` allows them."""
    for index, ch in enumerate(text):
        if lines and ch in "\n\t":
            continue
        if unicodedata.category(ch)[0] == "C":
            return _character(text, index)
    return None
