"""A gun's latched alarms in plain words, and a person's acknowledgement of them: one home
for `injector alarm` and the service's alarm routes."""

from __future__ import annotations

from drivers.codes import ALARMS, alarm_name
from injector.controller import Controller
from injector.errors import InjectorError


class UnknownAlarmError(InjectorError):
    """An acknowledgement names an alarm this gun has not latched."""

    def __init__(self, given: str, latched: list[str]) -> None:
        self.given, self.latched = given, latched
        super().__init__(f"alarm {given!r} is not latched on this gun (latched: "
                         f"{', '.join(latched) or 'none'})")


def describe(code: int) -> dict:
    """An alarm as a person reads it: what it is and what to do."""
    name = alarm_name(code)
    known = ALARMS.get(name)
    return {"code": f"0x{code:04X}", "name": name,
            "severity": known.severity.value if known else "stop",
            "text": known.text if known else "an alarm this program does not know",
            "action": known.action if known else "see the gun's manual, then acknowledge",
            "forces_homing": bool(known and known.forces_homing)}


def latched(controller: Controller) -> list[dict]:
    return [describe(code) for code in controller.latched]


def code_of(given: str, latched_codes: dict[int, int]) -> int:
    """The latched alarm `given` names (its name or its code), or UnknownAlarmError."""
    names = {alarm_name(code): code for code in latched_codes}
    text = given.strip().lower()
    if text in names:
        return names[text]
    try:
        code = int(text, 0)
    except ValueError:
        raise UnknownAlarmError(given, sorted(names)) from None
    if code not in latched_codes:
        raise UnknownAlarmError(given, sorted(names))
    return code


async def acknowledge(controller: Controller, given: str | None, person: str) -> dict:
    """Acknowledge one latched alarm (`given`) or every one, recorded with `person`: what
    was acknowledged, by whom, what stays latched and the gun's state after."""
    codes = [code_of(given, controller.latched)] if given else list(controller.latched)
    for code in codes:
        await controller.acknowledge(code, person)
    return {"acknowledged": [describe(code) for code in codes], "by": person,
            "still_latched": latched(controller), "state": controller.state}
