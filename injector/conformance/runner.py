"""Run the checks against one gun and collect what each proved or why it failed.

Between checks the gun is brought back to LOCKED or IDLE with the alarms the checks provoked
acknowledged, so one failure does not hide the others. A gun that stops answering fails the
checks still to run, each saying so.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from drivers.errors import DriverError
from drivers.framing import Frame, encode_frame
from drivers.messages import MsgType
from drivers.transport import ByteTransport
from injector.conformance.bench import Bench
from injector.conformance.checks import WATCHDOG_TOLERANCE_MS, Check, all_checks
from injector.conformance.errors import CheckFailed, GunNotReady
from injector.conformance.link import REPLY_TIMEOUT_S, RawLink

SCHEMA_VERSION = 1


@dataclass(frozen=True)
class CheckResult:
    name: str
    proves: str
    section: str
    moves: bool
    passed: bool
    reason: str
    """What the check saw when it passed, or the broken promise when it failed."""


@dataclass(frozen=True)
class GunSeen:
    model: str
    serial_number: str
    firmware_version: str
    protocol_version: int
    boot_id: int


@dataclass(frozen=True)
class Report:
    port: str
    gun: GunSeen
    results: tuple[CheckResult, ...]

    @property
    def passed(self) -> bool:
        return all(result.passed for result in self.results)

    def as_json(self) -> dict:
        return {"schema_version": SCHEMA_VERSION, "port": self.port,
                "gun": {"model": self.gun.model, "serial_number": self.gun.serial_number,
                        "firmware_version": self.gun.firmware_version,
                        "protocol_version": self.gun.protocol_version,
                        "boot_id": f"{self.gun.boot_id:08x}"},
                "passed": self.passed,
                "checks": [{"name": r.name, "passed": r.passed, "reason": r.reason,
                            "proves": r.proves, "section": f"docs/protocol.md, \"{r.section}\"",
                            "moves_the_gun": r.moves} for r in self.results]}

    def as_text(self) -> str:
        gun = self.gun
        lines = [f"conformance of {gun.model} serial {gun.serial_number}, firmware "
                 f"{gun.firmware_version}, protocol {gun.protocol_version}, boot "
                 f"{gun.boot_id:08x}, on {self.port}"]
        width = max(len(r.name) for r in self.results)
        for result in self.results:
            lines.append(f"  {'pass' if result.passed else 'FAIL'}  {result.name:<{width}}  "
                         f"{result.reason}")
            if not result.passed:
                lines.append(f"        {'':<{width}}  promise: {result.proves} "
                             f"(docs/protocol.md, \"{result.section}\")")
        failed = sum(not r.passed for r in self.results)
        count = len(self.results)
        lines.append(f"{count} check{'s' if count != 1 else ''}: {count - failed} passed, "
                     f"{failed} failed")
        return "\n".join(lines)


def select(names: Sequence[str] | None,
           watchdog_tolerance_ms: int = WATCHDOG_TOLERANCE_MS) -> tuple[Check, ...]:
    """The checks named (all when none), in the suite's own order."""
    checks = all_checks(watchdog_tolerance_ms)
    return checks if not names else tuple(c for c in checks if c.name in set(names))


async def run_suite(open_transport: Callable[[], ByteTransport], port: str,
                    checks: Sequence[Check], *, reply_timeout_s: float = REPLY_TIMEOUT_S
                    ) -> Report:
    """Every check in `checks` against the gun `open_transport` reaches; GunNotReady when
    it cannot start (no answer, an alarm latched, a run in progress)."""
    link = RawLink(open_transport, reply_timeout_s=reply_timeout_s)
    link.open()
    bench = Bench.on(link)
    results: list[CheckResult] = []
    try:
        await bench.start()
        identity = bench.identity
        gun = GunSeen(identity.model, identity.serial_number, identity.firmware_version,
                      identity.protocol_version, identity.boot_id)
        stopped: str | None = None
        for check in checks:
            if stopped is not None:
                results.append(_result(check, False, f"not run: {stopped}"))
                continue
            try:
                results.append(_result(check, True, await check.run(bench)))
            except CheckFailed as failed:
                results.append(_result(check, False, failed.reason))
            except (DriverError, ValueError) as exc:
                # An answer that does not decode (a short payload, a state out of the table)
                # is the gun's broken promise too, not the suite's crash.
                results.append(_result(check, False, f"an answer did not decode: {exc}"))
            try:
                await bench.settle()
            except (CheckFailed, GunNotReady, DriverError, ValueError) as exc:
                stopped = f"after {check.name} the gun could not be brought back ({exc})"
    except asyncio.CancelledError:
        hold_and_disarm(link)
        raise
    finally:
        await bench.silence()
        link.close()
    return Report(port, gun, tuple(results))


def hold_and_disarm(link: RawLink) -> None:
    """Interrupted mid-check: stop whatever the gun does and disarm it, without waiting for
    answers (a gun left LOCKED or IDLE has nothing for its watchdog to catch)."""
    if link.lost is None:
        for command in (MsgType.HOLD, MsgType.DISARM):
            link.write(encode_frame(Frame(command, link.next_seq())))


def _result(check: Check, passed: bool, reason: str) -> CheckResult:
    return CheckResult(check.name, check.proves, check.section, check.moves, passed, reason)
