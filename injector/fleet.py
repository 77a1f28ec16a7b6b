"""The guns a record knows and where each stands with its calibration: what a technician
plans the week's visits from (`injector devices`).

From the record alone: the technician calibrations of each axis, how many days and shots are
left before each is due, and the last verification. A gun calibrated only at the factory shows
as such; the gun itself holds that calibration's date (`injector status`).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime

from injector.store import Store

DUE_SOON_DAYS = 14
DUE_SOON_SHOTS = 1_000


@dataclass(frozen=True)
class AxisDue:
    kind: str
    calibration_id: int | None
    made_at: str | None
    expires_at: str | None
    days_left: int | None
    shots_since: int | None
    shots_left: int | None
    state: str
    """"none" (factory only), "valid", "due soon", "due" or "bad"."""


@dataclass(frozen=True)
class DeviceDue:
    serial_number: str
    model: str
    firmware: str
    first_seen: str
    last_session: str | None
    dose: AxisDue
    depth: AxisDue
    last_verification: dict | None
    """{"id", "at", "pass"} of the newest verification, or None."""

    @property
    def state(self) -> str:
        order = ("bad", "due", "none", "due soon", "valid")
        return min((self.dose.state, self.depth.state), key=order.index)

    def describe(self) -> dict:
        return asdict(self) | {"state": self.state}


def _axis(store: Store, serial: str, kind: str, now: datetime) -> AxisDue:
    mine = [c for c in store.calibrations(serial) if c["kind"] == kind]
    current = next((c for c in mine if c["status"] in ("active", "bad")), None)
    if current is None:
        return AxisDue(kind, None, None, None, None, None, None, "none")
    days_left = shots_left = None
    if current["expires_at"]:
        days_left = (datetime.fromisoformat(current["expires_at"]) - now).days
    if current["expires_after_shots"]:
        shots_left = current["expires_after_shots"] - current["shots_since"]
    if current["status"] == "bad":
        state = "bad"
    elif (days_left is not None and days_left < 0) or (shots_left is not None
                                                        and shots_left <= 0):
        state = "due"
    elif ((days_left is not None and days_left < DUE_SOON_DAYS)
          or (shots_left is not None and shots_left < DUE_SOON_SHOTS)):
        state = "due soon"
    else:
        state = "valid"
    return AxisDue(kind, current["id"], current["created_at"], current["expires_at"],
                   days_left, current["shots_since"], shots_left, state)


def devices_due(store: Store, now: datetime) -> list[DeviceDue]:
    out = []
    for device in store.devices():
        serial = device["serial_number"]
        verifications = store.verifications(serial)
        last = verifications[0] if verifications else None
        out.append(DeviceDue(
            serial, device["model"], device["firmware"], device["first_seen"],
            device["last_session"], _axis(store, serial, "dose", now),
            _axis(store, serial, "depth", now),
            {"id": last["id"], "at": last["created_at"], "pass": last["pass"]} if last
            else None))
    return out
