"""Typed input values: one definition per kind of value (its unit and limits), checked before
anything moves. The host's options, the simulator's parameters and the service's requests
all go through these, so a limit is written once and every refusal reads the same:

    volume 1e+308: more than the most, 1000 ml; give a volume over 0 and up to 1000 ml

It lives beside the wire definitions because both sides use it (the simulator never imports
the host).
"""

from __future__ import annotations

import math
import re
import unicodedata
from dataclasses import dataclass

SHOWN_CHARS = 40
"""A value is shown cut to this length in a refusal: the line stays readable."""


class ValueRefused(ValueError):
    """A value outside its definition. Carries what was given and the limit."""

    def __init__(self, name: str, value: object, problem: str, limit: str) -> None:
        self.name, self.value, self.problem, self.limit = name, value, problem, limit
        super().__init__(f"{name} {shown(value)}: {problem}")


def checked_as(name: str, kind, value):
    """`value` through its definition `kind`, the refusal naming the field as the caller
    gave it (an API field, a file's key); None passes as None (not given)."""
    if value is None:
        return None
    try:
        return kind.check(value)
    except ValueRefused as refused:
        raise ValueRefused(name, value, refused.problem, refused.limit) from None


def shown(value: object, most: int = SHOWN_CHARS) -> str:
    """The value as the user typed it, cut short and made printable. A whole number that a
    JSON parser made a float is told back as it was sent: 0, not 0.0."""
    text = value if isinstance(value, str) else repr(value)
    if isinstance(value, float) and text.endswith(".0"):
        text = text[:-2]
    if not text or text != text.strip() or not all(" " <= c <= "~" for c in text):
        text = ascii(text)      # quoted, anything unprintable escaped: nothing hides
    return text if len(text) <= most else text[:most - 3] + "..."


def _number_text(x: float) -> str:
    """10000000 as 10,000,000; 0.5 as 0.5."""
    return f"{int(x):,}" if float(x).is_integer() else f"{x:g}"


def quoted(value: object, most: int = SHOWN_CHARS) -> str:
    """`shown`, always in quotes: for a value inside a sentence."""
    text = shown(value, most)
    return text if text.startswith("'") else f"'{text}'"


@dataclass(frozen=True)
class Quantity:
    """A number with a unit and its limits. `above` makes the low limit exclusive (a volume
    over 0); `whole` asks for an integer."""

    name: str
    unit: str
    low: float
    high: float
    above: bool = False
    whole: bool = False

    @property
    def limit(self) -> str:
        unit = f" {self.unit}" if self.unit else ""
        kind = "a whole number" if self.whole else "a number"
        low = "over" if self.above else "from"
        return f"{kind} {low} {_number_text(self.low)} and up to {_number_text(self.high)}{unit}"

    def check(self, value: object) -> float | int:
        """The value as a number in range, or ValueRefused. Text is parsed ("1e3", "12")."""
        number = self._number(value)
        unit = f" {self.unit}" if self.unit else ""
        if number < self.low or self.above and number == self.low:
            word = "must be over" if self.above else "below the least,"
            raise ValueRefused(self.name, value, f"{word} {_number_text(self.low)}{unit}; give "
                               f"{self.limit}", self.limit)
        if number > self.high:
            raise ValueRefused(self.name, value, f"over the most, {_number_text(self.high)}"
                               f"{unit}; give {self.limit}", self.limit)
        return number

    def _number(self, given: object) -> float | int:
        def refuse(problem: str) -> ValueRefused:
            return ValueRefused(self.name, given, f"{problem}; give {self.limit}", self.limit)

        value = given
        if isinstance(value, bool):
            raise refuse("is not a number")
        if isinstance(value, str):
            text = value.strip()
            if len(text) > 64:
                raise refuse(f"has {len(text)} characters, too many for a number")
            if not text.isascii() or "_" in text:
                raise refuse("is not a number")
            if self.whole and not re.fullmatch(r"[+-]?[0-9]+", text):
                raise refuse("is not a whole number written in digits")
            try:
                value = int(text) if re.fullmatch(r"[+-]?[0-9]+", text) else float(text)
            except ValueError:
                raise refuse("is not a number") from None
        if not isinstance(value, (int, float)):
            raise refuse("is not a number")
        if isinstance(value, float) and not math.isfinite(value):
            raise refuse("is not a finite number")
        if self.whole:
            if isinstance(value, float) and not value.is_integer():
                raise refuse("is not whole")
            return int(value)
        return float(value)


@dataclass(frozen=True)
class NumberList:
    """Comma-separated numbers of one quantity, each different: a calibration's set points."""

    item: Quantity
    fewest: int
    most: int

    @property
    def name(self) -> str:
        return self.item.name

    @property
    def limit(self) -> str:
        return f"{self.fewest} to {self.most} different values, each {self.item.limit}"

    def check(self, value: object) -> tuple[float, ...]:
        parts = value.split(",") if isinstance(value, str) else list(value)
        if not self.fewest <= len(parts) <= self.most:
            raise ValueRefused(self.name, value, f"has {len(parts)} values; give {self.limit}",
                               self.limit)
        numbers = []
        for part in parts:
            try:
                numbers.append(self.item.check(part))
            except ValueRefused as refused:
                raise ValueRefused(self.name, value, f"{shown(part)} {refused.problem}",
                                   self.limit) from None
        if len(set(numbers)) != len(numbers):
            raise ValueRefused(self.name, value, f"repeats a value; give {self.limit}",
                               self.limit)
        return tuple(numbers)


@dataclass(frozen=True)
class Text:
    """A short line of text: a person's name, a reason, a serial number. With no `pattern`,
    any letters, marks, digits, punctuation and symbols of any script (a person is Dr. Ilic
    with her accent) and plain spaces; never control or format characters (newlines, ANSI
    escapes, right-to-left overrides, zero-width spaces), so a record, a table or a
    terminal cannot be broken or disguised by one."""

    name: str
    most_chars: int
    pattern: str | None = None
    rule: str = "letters, digits, punctuation and spaces"

    @property
    def limit(self) -> str:
        return f"1 to {self.most_chars} characters of {self.rule}"

    def _allowed(self, char: str) -> bool:
        if self.pattern is not None:
            return re.fullmatch(self.pattern, char) is not None
        return char == " " or unicodedata.category(char)[0] in "LMNPS"

    def check(self, value: object) -> str:
        if not isinstance(value, str):
            raise ValueRefused(self.name, value, f"is not text; give {self.limit}", self.limit)
        text = value.strip(" ")
        if not text:
            raise ValueRefused(self.name, value, f"is empty; give {self.limit}", self.limit)
        if len(text) > self.most_chars:
            raise ValueRefused(self.name, value, f"is {len(text)} characters; give "
                               f"{self.limit}", self.limit)
        bad = next((c for c in text if not self._allowed(c)), None)
        if bad is not None:
            raise ValueRefused(self.name, value, f"holds {ascii(bad)}; give {self.limit}",
                               self.limit)
        return text
