"""Every text of the touchscreen is in one file per language (injector/service/ui/i18n/):
both languages have the same keys and the same {placeholders}, every key a page asks for
exists, the alarms, checklist questions and zones the service names have their words, and no
page writes a literal text of its own."""

from __future__ import annotations

import json
import re
from html.parser import HTMLParser

import pytest

from drivers.codes import ALARMS
from injector.checklist import QUESTIONS
from injector.service.pages import UI_DIR

LANGUAGES = ("en", "de")
PLACEHOLDER = re.compile(r"\{(\w+)\}")
SCRIPTS = sorted((UI_DIR / "js").rglob("*.js"))


def texts(language: str) -> dict[str, str]:
    return json.loads((UI_DIR / "i18n" / f"{language}.json").read_text(encoding="utf-8"))


def test_both_languages_have_the_same_keys_and_placeholders():
    english, german = texts("en"), texts("de")
    assert english.keys() == german.keys()
    for key, text in english.items():
        assert text.strip() and german[key].strip(), key
        assert set(PLACEHOLDER.findall(text)) == set(PLACEHOLDER.findall(german[key])), key


def test_every_key_a_script_asks_for_exists():
    english = texts("en")
    prefixes = "|".join(sorted({key.split(".")[0] for key in english}))
    named = re.compile(rf"\"((?:{prefixes})\.[a-z_.]+)\"")
    asked = set()
    for script in SCRIPTS:
        source = script.read_text(encoding="utf-8")
        asked |= set(named.findall(source))            # keys listed for a table's heads
        asked |= set(re.findall(r"\bt\(\s*\"([a-z_.]+ ?[a-z_]*)\"", source))
        asked |= set(re.findall(r"data-i18n(?:-placeholder)?\"?\s*:\s*\"([a-z_.]+)\"", source))
    asked |= set(re.findall(r'data-i18n="([a-z_.]+)"',
                            (UI_DIR / "index.html").read_text(encoding="utf-8")))
    assert len(asked) > 100
    assert not sorted(asked - english.keys())


@pytest.mark.parametrize("language", LANGUAGES)
def test_what_the_service_names_has_its_words(language, catalog):
    words = texts(language)
    for name in ALARMS:
        for part in ("name", "text", "action"):
            assert f"alarm.{name}.{part}" in words
    for question in QUESTIONS:
        assert f"checklist.{question.id}" in words
    for zone in catalog.zones:
        assert f"zone.{zone}" in words
    for status in ("running", "completed", "failed", "interrupted", "aborted"):
        assert f"status.{status}" in words


class _TextNodes(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.found: list[str] = []

    def handle_data(self, data: str) -> None:
        if data.strip():
            self.found.append(data.strip())


def test_the_page_has_no_text_of_its_own():
    parser = _TextNodes()
    parser.feed((UI_DIR / "index.html").read_text(encoding="utf-8"))
    assert parser.found == []


LITERAL_TEXT = [
    re.compile(r"\bh\(\s*\"\w+\"\s*,\s*\{[^{}]*\}\s*,\s*[\"'`][^\"'`]*[A-Za-z]{2}"),
    re.compile(r"\.textContent\s*=\s*[\"'`][^\"'`]*[A-Za-z]{2}"),
    re.compile(r"\bbutton\(\s*[\"'`][^\"'`]*[A-Za-z]{2}"),
    re.compile(r"\.(?:placeholder|title|alt)\s*=\s*[\"'`][^\"'`]*[A-Za-z]{2}"),
    re.compile(r"\balt:\s*[\"'`][^\"'`]*[A-Za-z]{2}"),
]


def without_substitutions(source: str) -> str:
    """A template literal's ${...} is code, not text: each one read as a number."""
    for _ in range(3):
        source = re.sub(r"\$\{[^{}]*\}", "0", source)
    return source


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: p.relative_to(UI_DIR).as_posix())
def test_no_script_writes_a_literal_text(script):
    source = without_substitutions(script.read_text(encoding="utf-8"))
    found = [m.group(0) for pattern in LITERAL_TEXT for m in pattern.finditer(source)]
    assert found == []


def test_the_literal_text_check_can_fail():
    """The patterns above catch what they are for (a check that cannot fail proves nothing)."""
    for sample in ('h("p", {}, "Hello there")', 'el.textContent = "Running";',
                   'button("Stop", stop)', 'input.placeholder = "number"',
                   'h("img", { alt: "picture" })', 'h("td", {}, `${n} shots`)'):
        assert any(p.search(without_substitutions(sample)) for p in LITERAL_TEXT), sample
    for fine in ('h("p", {}, t("live.running"))', 'el.textContent = t("x.y");',
                 'button(t("live.stop"), stop)', 'button("-10", step(-10))',
                 'h("td", {}, `${f.mm(a.depth_mm)} / ${f.ul(a.dose_ul)}`)'):
        assert not any(p.search(without_substitutions(fine)) for p in LITERAL_TEXT), fine
