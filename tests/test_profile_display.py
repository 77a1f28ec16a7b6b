"""Every message of profiles: one line of printable ASCII, short, whatever the value held.

A newline would split the line, an escape or a bidi override would repaint the terminal, a
10 MB value would bury the message, a 400-digit integer or a deep list would crash repr.
"""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from profiles.display import MESSAGE_MAX_CHARS, clip_middle, escape, shown
from profiles.errors import NameRuleError, PresetFileError, ProfileError, UnknownNameError

PRINTABLE_LINE = re.compile(r"[ -~]*")


def assert_one_safe_line(message: str, limit: int = MESSAGE_MAX_CHARS) -> None:
    """One line of printable ASCII, short: nothing can split, repaint or bury it."""
    assert PRINTABLE_LINE.fullmatch(message), message
    assert len(message) <= limit, (len(message), message)


def test_a_huge_value_is_never_echoed_whole():
    refused = PresetFileError("must be a number", source="mine/x.toml", field="summary",
                              value="x" * 10_000_000)
    assert len(str(refused)) <= MESSAGE_MAX_CHARS
    assert "x" * 60 not in str(refused)


@pytest.mark.parametrize("value, words", [
    (int("9" * 400), "999999999...(400 digits)"),
    (-int("9" * 400), "-99999999...(400 digits)"),
    (1 << 20000, "an integer of about 6020 digits"),     # beyond int-to-text's 4300 digits
    ("n\u0430ppage", "'n\\u0430ppage'"),
    ("it's a \\ path", "'it\\'s a \\\\ path'"),
], ids=["400 digits", "minus 400 digits", "6021 digits", "homoglyph", "quote and backslash"])
def test_values_are_shown_as_python_writes_them_escaped_and_cut(value, words):
    assert shown(value) == words


def test_deeply_nested_values_are_shown_without_recursing():
    nested: list = []
    innermost = nested
    for _ in range(100_000):
        innermost.append([])
        innermost = innermost[0]
    assert shown(nested) == "[[[[...]]]]"


def test_a_value_whose_repr_fails_still_gets_a_message():
    class Hostile:
        def __repr__(self):
            raise RuntimeError("no")

    assert shown(Hostile()).startswith("<Hostile")


def test_a_long_path_keeps_its_file_name():
    path = "/srv/" + "deep/" * 60 + "my-preset.toml"
    assert clip_middle(path, 60).endswith("/my-preset.toml")
    assert clip_middle(path, 60).startswith("/srv/")
    assert len(clip_middle(path, 60)) <= 60


@settings(max_examples=60, deadline=None)
@given(reason=st.text(max_size=300), source=st.none() | st.text(max_size=300),
       field=st.none() | st.text(max_size=80),
       value=st.recursive(st.none() | st.booleans() | st.integers() | st.floats() | st.text(),
                          lambda inner: st.lists(inner) | st.dictionaries(st.text(), inner),
                          max_leaves=20))
def test_every_profile_error_is_one_short_printable_line(reason, source, field, value):
    for error in (ProfileError(reason, source=source, field=field, value=value),
                  UnknownNameError(reason, kind="preset", value=value),
                  NameRuleError(reason, kind="zone", source=source, value=value)):
        assert_one_safe_line(str(error))


@settings(max_examples=200, deadline=None)
@given(text=st.text(), width=st.integers(3, 120))
def test_escape_and_clip_are_printable_and_bounded(text, width):
    for out in (escape(text, width), clip_middle(text, width)):
        assert PRINTABLE_LINE.fullmatch(out) and len(out) <= width
