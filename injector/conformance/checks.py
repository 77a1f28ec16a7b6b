"""The conformance suite's checks, one per promise of docs/protocol.md, in the order they
run: those that leave the gun still first. Each starts from the gun LOCKED or IDLE with
nothing latched and returns the one line that says what it saw."""

from __future__ import annotations

from injector.conformance.common import Check
from injector.conformance.motion_checks import exactly_once, stop_first, watchdog
from injector.conformance.state_checks import boot_identity, event_replay, limits
from injector.conformance.wire_checks import answers, crc, framing, link_monitor, version

WATCHDOG_TOLERANCE_MS = 25
"""How late the watchdog may trip, by the gun's own clock: a firmware that checks it on a
10 ms tick is within it."""


def all_checks(watchdog_tolerance_ms: int = WATCHDOG_TOLERANCE_MS) -> tuple[Check, ...]:
    """Every check, in the order they run: those that leave the gun still first."""
    return (
        Check("boot_identity", "IDENTIFY names the gun and a boot id (never 0) that HEARTBEAT "
              "and STATUS repeat and that stays across a reconnection; the configuration hash "
              "is the CRC-32 of READ_CONFIG's record", "Boot identity", False, boot_identity),
        Check("framing", "frames with a broken COBS code, a length field that disagrees, or "
              "garbage before them are dropped silently; idle zeros and a frame split across "
              "writes are fine; the gun answers the next good frame", "Framing", False,
              framing),
        Check("crc", "a frame whose CRC does not check out is dropped silently, neither "
              "answered nor executed; the gun's own frames all check out", "Framing", False,
              crc),
        Check("version", "a frame of another protocol version is answered unsupported_version "
              "with its seq, never executed", "Framing", False, version),
        Check("answers", "an unknown type is refused unknown_command and a payload of the "
              "wrong length bad_length, before any state check, with one answer each",
              "Messages", False, answers),
        Check("link_monitor", "five invalid frames within a second latch the advisory alarm "
              "link_degraded, and the state does not change",
              "Priority, heartbeat and watchdog", False, link_monitor),
        Check("limits", "a shot program one field past the mechanism or the clinical envelope "
              "is refused out_of_range naming the field, the value and the limit in commanded "
              "units, and changes nothing", "Limits the firmware checks on receipt", False,
              limits),
        Check("event_replay", "GET_EVENTS replays the ring's events byte for byte from the "
              "number asked; none past the newest; events_lost for numbers no longer held",
              "Sequence numbers and exactly-once", True, event_replay),
        Check("exactly_once", "a FIRE retransmitted with the same seq, on the same connection "
              "and after a reconnection, is answered from the cache and never fires again",
              "Sequence numbers and exactly-once", True, exactly_once),
        Check("stop_first", "HOLD and ESTOP written after FIRE in the same write are executed "
              "first: FIRE is refused and no shot starts", "Priority, heartbeat and watchdog",
              True, stop_first),
        Check("watchdog", "host silence in ARMED trips the watchdog at watchdog_ms after the "
              "last frame, by the gun's clock: alarm watchdog latched, FAULT",
              "Priority, heartbeat and watchdog", True,
              lambda bench: watchdog(bench, watchdog_tolerance_ms)),
    )


CHECK_NAMES = tuple(check.name for check in all_checks())
