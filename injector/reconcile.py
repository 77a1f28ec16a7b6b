"""Bringing the record level with the gun at connect: after a crash, a kill, a full disk or a
lost link, the gun may have done things the record never heard of. Its event ring holds them
(the last 256 events of this boot); the host reads it back from the record's last event of
this gun and records what it missed, marked recovered, in the session they belong to. What
cannot be read back (the gun rebooted since, or the ring moved past it) is recorded as a gap,
so the record says what it does not hold.
"""

from __future__ import annotations

from dataclasses import dataclass

from drivers.codes import alarm_name
from drivers.messages import AlarmRaised, DeviceState, Identity, ShotDone, ShotFlags, StateChanged
from drivers.sequence import seq_next
from injector.store import Store


@dataclass
class Reconciliation:
    """One connect's read-back: where it starts, and what it found."""

    store: Store
    serial: str = ""
    boot_id: int = 0
    rebooted_from: tuple[int, int] | None = None
    """(boot id, event number) of the record's last event of this gun, when the gun has
    rebooted since."""
    session_id: int | None = None
    shots: int = 0
    alarms: int = 0

    def resume_from(self, identity: Identity) -> int | None:
        """Where the gun's history should be read from (the driver calls it once the gun is
        identified), or None: nothing to read back, or nothing that can be."""
        self.serial, self.boot_id = identity.serial_number, identity.boot_id
        last = self.store.last_device_event(identity.serial_number)
        if last is None:
            return None
        boot, seq = last
        if boot != identity.boot_id:
            self.rebooted_from = last
            return None
        return seq_next(seq)

    def target_session(self) -> int | None:
        """History belongs to the gun's last session in the record (the one the crash cut
        short)."""
        if self.session_id is None:
            self.session_id = self.store.last_session(self.serial)
        return self.session_id

    def record(self, seq: int, event) -> None:
        """One event from the gun's history, recorded as recovered."""
        session = self.target_session()
        common = {"boot_id": self.boot_id, "event_seq": seq, "recovered": True}
        if isinstance(event, ShotDone):
            if session is None or self.store.has_shot(session, event.shot_index):
                return
            self.shots += 1
            commanded = self.store.planned_volume_nl(session) or event.measured_nl
            self.store.record_shot(
                session, shot_index=event.shot_index, depth_um=event.depth_reached_um,
                volume_nl=event.measured_nl, commanded_nl=commanded,
                delivered_nl=event.delivered_nl, peak_pressure_kpa=event.peak_pressure_kpa,
                interrupted=bool(event.flags & ShotFlags.INTERRUPTED),
                device_time_ms=event.time_ms, **common)
        elif isinstance(event, AlarmRaised):
            self.alarms += 1
            self.store.record_alarm(session, self.serial, code=event.code,
                                    name=alarm_name(event.code), shot_index=event.shot_index,
                                    value=event.value, device_time_ms=event.time_ms, **common)
        elif isinstance(event, StateChanged):
            self.store.record_state(session, self.serial, "device",
                                    DeviceState(event.previous).name.lower(),
                                    DeviceState(event.state).name.lower(), str(event.cause),
                                    **common)

    def record_gaps(self, history_gap: tuple[int, int] | None) -> None:
        if self.rebooted_from is not None:
            boot, seq = self.rebooted_from
            self.store.record_gap(
                self.serial, self.target_session(),
                f"gun {self.serial} rebooted (boot {self.boot_id:08x}) after event {seq} of "
                f"boot {boot:08x}, the last in the record: what it did between is not in the "
                "record", boot_id=boot, from_seq=seq_next(seq))
        if history_gap is not None:
            first, oldest = history_gap
            self.store.record_gap(
                self.serial, self.target_session(),
                f"gun {self.serial} no longer held its events {first} to {oldest - 1}: they "
                "are not in the record", boot_id=self.boot_id, from_seq=first, to_seq=oldest)
