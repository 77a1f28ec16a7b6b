"""Names of presets, zones and needles: one alphabet, lookups that help, messages that are
one short line of printable ASCII whatever a careless or hostile user typed."""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from profiles import NAME_RULE, NameRuleError, ProfileError, UnknownNameError, check_name
from profiles.display import MESSAGE_MAX_CHARS
from profiles.names import name_problem, text_problem
from tests.conftest import REPO
from tests.test_profile_display import assert_one_safe_line

# The rule written out independently of the code under test.
RULE = re.compile(r"[a-z0-9]+(-[a-z0-9]+)*")


# A corpus of bad names: homoglyphs, invisible and bidi characters, line breaks, terminal
# escapes, path pieces, and names too long or oddly hyphenated.
BAD_NAMES = {
    "cyrillic a": ("n\u0430ppage-middle", "'\\u0430' (CYRILLIC SMALL LETTER A)"),
    "greek omicron": ("pinp\u03bfint", "'\\u03bf' (GREEK SMALL LETTER OMICRON)"),
    "fullwidth": ("\uff43lassical", "(FULLWIDTH LATIN SMALL LETTER C)"),
    "kelvin sign": ("\u212aelvin", "(KELVIN SIGN)"),
    "zero-width space": ("nappage\u200b-middle", "'\\u200b' (ZERO WIDTH SPACE)"),
    "zero-width joiner": ("pin\u200dpoint", "(ZERO WIDTH JOINER)"),
    "byte order mark": ("\ufeffpinpoint", "(ZERO WIDTH NO-BREAK SPACE)"),
    "right-to-left override": ("\u202epinpoint", "'\\u202e' (RIGHT-TO-LEFT OVERRIDE)"),
    "newline": ("nappage\ndeep", "'\\n' (a control character)"),
    "carriage return": ("pinpoint\r", "'\\r' (a control character)"),
    "ansi escape": ("\x1b[31mpinpoint\x1b[0m", "'\\x1b' (a control character)"),
    "nul": ("pin\x00point", "'\\x00' (a control character)"),
    "dot dot": ("..", "'.' (FULL STOP)"),
    "path": ("../../etc/passwd", "'.' (FULL STOP)"),
    "slash": ("nappage/deep", "'/' (SOLIDUS)"),
    "backslash": ("nappage\\deep", "'\\\\' (REVERSE SOLIDUS)"),
    "space": ("nappage deep", "' ' (SPACE)"),
    "underscore": ("nappage_deep", "'_' (LOW LINE)"),
    "overlong": ("a" * 41, "it is 41 characters long, over 40"),
    "huge": ("x" * 10_000_000, "it is 10000000 characters long, over 40"),
    "empty": ("", "it is empty"),
    "leading hyphen": ("-pinpoint", "starts or ends with a hyphen"),
    "trailing hyphen": ("pinpoint-", "starts or ends with a hyphen"),
    "double hyphen": ("nappage--deep", "character 9 doubles a hyphen"),
}


@pytest.mark.parametrize("name", ["pinpoint", "nappage-middle", "30g-13mm", "1ml", "a",
                                  "a" * 40, "x-1-y"])
def test_a_name_under_the_rule_is_accepted(name):
    assert name_problem(name) is None
    assert check_name(name, "preset") == name


@pytest.mark.parametrize("case", sorted(BAD_NAMES))
def test_a_bad_name_is_refused_pointing_at_the_offending_character(case):
    name, words = BAD_NAMES[case]
    with pytest.raises(NameRuleError) as refused:
        check_name(name, "preset", source="mine/x.toml")
    message = str(refused.value)
    assert words in message
    assert NAME_RULE in message or len(message) == MESSAGE_MAX_CHARS
    assert refused.value.value == name and refused.value.limit == NAME_RULE
    assert_one_safe_line(message)


def test_uppercase_in_a_file_is_refused_as_such():
    with pytest.raises(NameRuleError, match="character 1 is 'C', uppercase"):
        check_name("Classical", "preset")


WORDS = st.lists(st.text(alphabet="az09", min_size=1, max_size=12), min_size=1, max_size=5)


@settings(max_examples=300, deadline=None)
@given(st.one_of(st.text(max_size=60), WORDS.map("-".join),
                 st.text(alphabet="abcz09-AZ._/\\ \u0430\u200b\u202e\n", max_size=45)))
def test_the_rule_is_exactly_the_documented_alphabet(text):
    expected = RULE.fullmatch(text) is not None and len(text) <= 40
    assert (name_problem(text) is None) == expected


# Lookups: a user's name is forgiven its ASCII case, never its alphabet.

@pytest.mark.parametrize("typed, kind, name", [
    ("Pinpoint", "preset", "pinpoint"), ("NAPPAGE-MIDDLE", "preset", "nappage-middle"),
    ("32G-4mm", "needle", "32g-4mm"), ("30G-13MM", "needle", "30g-13mm"),
    ("Face", "zone", "face"),
])
def test_an_ascii_case_difference_is_forgiven(catalog, typed, kind, name):
    assert getattr(catalog, kind)(typed).name == name


@pytest.mark.parametrize("typed, message", [
    ("nappage-midle", "unknown preset 'nappage-midle': did you mean nappage-middle?"),
    ("pinpiont", "unknown preset 'pinpiont': did you mean pinpoint?"),
    ("infusion", "unknown preset 'infusion': did you mean continuous-infusion?"),
    ("nappage", "unknown preset 'nappage': did you mean nappage-deep, nappage-middle or "
                "nappage-superficial?"),
    ("xyz", "unknown preset 'xyz': known: classical, continuous-infusion, infiltration,"),
])
def test_a_miss_suggests_the_closest_names_or_lists_the_known(catalog, typed, message):
    with pytest.raises(UnknownNameError) as refused:
        catalog.preset(typed)
    assert str(refused.value).startswith(message)
    assert refused.value.field == "preset" and refused.value.value == typed
    assert refused.value.limit == sorted(catalog.presets)


def test_a_long_list_of_known_names_is_cut_and_counted(catalog):
    with pytest.raises(UnknownNameError, match=r"and 2 more$"):
        catalog.preset("xyz")


@pytest.mark.parametrize("case", sorted(BAD_NAMES))
def test_a_bad_typed_name_is_refused_before_any_lookup(catalog, case):
    name, words = BAD_NAMES[case]
    for kind in ("preset", "zone", "needle"):
        with pytest.raises(NameRuleError) as refused:
            getattr(catalog, kind)(name)
        assert str(refused.value).startswith(f"{kind} name ")
        assert words in str(refused.value)
        assert_one_safe_line(str(refused.value))


@pytest.mark.parametrize("typed", ["n\u0430ppage-middle", "nappage\u200b-middle",
                                   "nappage-middle\u202e", "NAPPAGE-MIDDLE\n"])
def test_a_name_spoiled_by_a_stray_character_suggests_the_real_one(catalog, typed):
    with pytest.raises(NameRuleError, match=r"did you mean nappage-middle\? Names are "):
        catalog.preset(typed)


@pytest.mark.parametrize("typed", [[], None, 7, b"pinpoint"])
def test_a_name_that_is_not_text_is_refused(catalog, typed):
    """argparse hands over [] for `--preset=--`."""
    with pytest.raises(NameRuleError, match=r"^preset name .*: is not text; names are 1 to 40"):
        catalog.preset(typed)


def test_a_homoglyph_never_reaches_a_preset(catalog):
    """Folding case must not fold KELVIN SIGN or dotted capitals into ASCII letters."""
    for typed in ("\u212aelvin", "P\u0130NPOINT", "pinpo\u0131nt"):
        with pytest.raises(NameRuleError):
            catalog.preset(typed)


@settings(max_examples=300, deadline=None)
@given(typed=st.one_of(st.text(max_size=50), st.sampled_from(["Pinpoint", "classical",
                                                               "NAPPAGE-DEEP"])),
       kind=st.sampled_from(["preset", "zone", "needle"]))
def test_any_typed_name_finds_its_own_entry_or_one_safe_line(catalog, typed, kind):
    try:
        found = getattr(catalog, kind)(typed)
    except ProfileError as refused:
        assert_one_safe_line(str(refused))
    else:
        assert typed.isascii() and found.name == typed.lower()


# Texts shown to people (summary, notes, quotes): printable, no invisible or bidi character.

@pytest.mark.parametrize("text, lines, problem", [
    ("quick shots", False, None),
    ("“prick by prick”, 45°", False, None),
    ("two\nlines", True, None),
    ("two\nlines", False, "'\\n' (a control character)"),
    ("safe\u202e", True, "RIGHT-TO-LEFT OVERRIDE"),
    ("zero\u200bwidth", True, "ZERO WIDTH SPACE"),
    ("\x1b[2Jclear", True, "'\\x1b' (a control character)"),
    ("private \ue000", True, "an unnamed character"),
])
def test_texts_may_be_any_printable_unicode(text, lines, problem):
    found = text_problem(text, lines=lines)
    assert (found is None) if problem is None else (problem in found)


def test_every_built_in_name_follows_the_rule(catalog):
    for table in (catalog.presets, catalog.zones, catalog.needles, catalog.syringes):
        for name in table:
            assert RULE.fullmatch(name) and len(name) <= 40, name
    assert {p.technique for p in catalog.presets.values()} <= set(catalog.presets) | {"nappage"}
    assert all(p.builtin for p in catalog.presets.values())
    assert (REPO / "profiles" / "needles.toml").read_text().count('[needle."3') == 6


def test_the_documented_rule_is_the_codes():
    docs = (REPO / "docs" / "presets.md").read_text(encoding="utf-8")
    assert f"> {NAME_RULE}\n" in docs
    assert MESSAGE_MAX_CHARS == 200
