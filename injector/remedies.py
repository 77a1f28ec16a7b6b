"""What a person does about a refusal, in the words of the interface they use.

The domain's refusals name their remedy in the command line's words (the command line is
where most of them are met); each carries which remedy it is, so the service can say the
same thing in its own words (a request field or route) instead of a flag it does not have.
One table for both, so the two cannot drift."""

from __future__ import annotations

from enum import Enum


class Remedy(Enum):
    OVERRIDE = "override"
    SIGN_LIBRARY = "sign the library"
    ACKNOWLEDGE = "acknowledge"
    CHECKLIST = "checklist"
    INSTRUMENT_SERIAL = "an instrument's serial number"
    INSTRUMENT_DUE = "an instrument's due date"
    TEMPERATURE = "the temperature"


COMMAND_LINE = {
    Remedy.OVERRIDE: "--override REASON --person NAME",
    Remedy.SIGN_LIBRARY: "injector library --sign FILE --person NAME",
    Remedy.ACKNOWLEDGE: "injector alarm ack --port {port} --person NAME",
    Remedy.CHECKLIST: "--checklist FILE.json, or at a terminal",
    Remedy.INSTRUMENT_SERIAL: "--{instrument}-serial SERIAL",
    Remedy.INSTRUMENT_DUE: "--{instrument}-due YYYY-MM-DD",
    Remedy.TEMPERATURE: "--temperature-c",
}

SERVICE = {
    Remedy.OVERRIDE: 'the request\'s "override": a reason, taken by the signed-in user',
    Remedy.SIGN_LIBRARY: "a technician signs it: POST /api/v1/library/sign",
    Remedy.ACKNOWLEDGE: "POST /api/v1/guns/{gun}/alarms/acknowledge",
    Remedy.CHECKLIST: 'the request\'s "checklist": every question answered',
    Remedy.INSTRUMENT_SERIAL: 'the request\'s "{instrument}_serial"',
    Remedy.INSTRUMENT_DUE: 'the request\'s "{instrument}_due" (YYYY-MM-DD)',
    Remedy.TEMPERATURE: 'the request\'s "temperature_c"',
}


def command_line(remedy: Remedy, **values: str) -> str:
    return COMMAND_LINE[remedy].format(**values)


def needing(error: Exception, remedy: Remedy, **values: str) -> Exception:
    """`error`, marked with its remedy (and the command line's words as it says them)."""
    error.remedy = remedy
    error.remedy_words = command_line(remedy, **values)
    error.remedy_values = values
    return error


def in_service_words(error: Exception, text: str, gun: str = "GUN") -> str:
    """`text` (the error's message) with its remedy in the service's words."""
    remedy = getattr(error, "remedy", None)
    if remedy is None:
        return text
    values = {"gun": gun} | getattr(error, "remedy_values", {})
    return text.replace(error.remedy_words, SERVICE[remedy].format(**values))
