"""Finding a name a user gave among the catalog's names, helpfully and safely.

Order matters: a name outside the alphabet is refused before any lookup (so a homoglyph can
never match), an ASCII case difference is forgiven (`Pinpoint`, `32G-4mm`), and a miss is
answered with the closest names (difflib) or, when nothing is close, the known ones.
"""

from __future__ import annotations

import difflib
from collections.abc import Collection, Iterable

from profiles.errors import NameRuleError, UnknownNameError
from profiles.names import NAME_RULE, name_problem, near_name, typed_name

KNOWN_MAX_CHARS = 130
"""The longest list of known names in a message; the rest are counted."""


CLOSE_CUTOFF = 0.6
"""difflib's similarity (0..1) below which a name is not suggested."""
CLOSE_SPREAD = 0.1
"""Only names about as close as the closest are suggested: `nappage-midle` gets
nappage-middle (0.96), not nappage-deep (0.72) as well."""


def close_names(word: str, names: Iterable[str], *, most: int = 3) -> list[str]:
    """The names that `word` is probably a misspelling or a part of, closest first
    (`infusion` is a word of continuous-infusion)."""
    names = sorted(names)
    holding = [name for name in names if word in name.split("-")]
    if holding:
        return holding[:most]
    matches = difflib.get_close_matches(word, names, n=most, cutoff=CLOSE_CUTOFF)
    ratios = [difflib.SequenceMatcher(None, word, name).ratio() for name in matches]
    return [name for name, ratio in zip(matches, ratios) if ratio >= ratios[0] - CLOSE_SPREAD]


def did_you_mean(names: list[str]) -> str:
    if len(names) == 1:
        return f"did you mean {names[0]}?"
    return f"did you mean {', '.join(names[:-1])} or {names[-1]}?"


def known_names(names: Iterable[str], width: int = KNOWN_MAX_CHARS) -> str:
    """`a, b, c and 4 more`, in at most about `width` characters."""
    names = sorted(names)
    shown: list[str] = []
    used = 0
    for name in names:
        if used + len(name) + 2 > width and shown:
            break
        shown.append(name)
        used += len(name) + 2
    rest = len(names) - len(shown)
    return ", ".join(shown) + (f" and {rest} more" if rest else "")


def resolve_name(names: Collection[str], text: str, kind: str, *, source: str | None = None,
                 field: str | None = None) -> str:
    """The catalog's spelling of the name `text` stands for, or an error that helps.

    `kind` ("preset", "zone", ...) names the table in messages; `source` and `field` say where
    the name was given when it was not on the command line (a preset file's `zones`).
    """
    if not isinstance(text, str):       # argparse gives [] for `--preset=--`
        raise NameRuleError(f"is not text; {NAME_RULE}", kind=kind, source=source,
                            field=field, value=text, limit=NAME_RULE)
    wanted = typed_name(text)
    problem = name_problem(wanted)
    if problem:
        near = close_names(near_name(text), names, most=1) if near_name(text) else []
        rule = f"; {did_you_mean(near)} {NAME_RULE.capitalize()}" if near else f"; {NAME_RULE}"
        raise NameRuleError(f"{problem}{rule}", kind=kind, source=source,
                            field=field, value=text, limit=NAME_RULE)
    if wanted in names:
        return wanted
    near = close_names(wanted, names)
    hint = did_you_mean(near) if near else f"known: {known_names(names)}"
    raise UnknownNameError(hint, kind=kind, source=source, field=field, value=text,
                           limit=sorted(names))
