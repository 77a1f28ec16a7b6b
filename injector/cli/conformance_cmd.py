"""`injector conformance`: hold a gun's firmware to the serial protocol's promises."""

from __future__ import annotations

import argparse
import asyncio
import sys
import textwrap

from drivers.transport import open_serial_port
from drivers.urls import PortURL, PortURLError
from drivers.values import Quantity
from injector.cli import exit_codes
from injector.cli.common import add_value, print_json
from injector.cli.signals import stop_on_signals
from injector.conformance import (
    CHECK_NAMES, WATCHDOG_TOLERANCE_MS, MotionNotAllowed, Report, run_suite, select,
)
from injector.conformance.checks import all_checks

MOTION_FLAG = "--i-understand-this-moves-the-gun"
TOLERANCE = Quantity("watchdog_tolerance_ms", "ms", 0, 5_000, whole=True)


DESCRIPTION = (
    "Run the serial protocol's promises (docs/protocol.md) against the gun on PORT through "
    "raw frames, one check each, and print a pass or fail line per check; exit 1 on any "
    "failure.",
    "THE SUITE MOVES THE GUN: it homes it and fires single test shots of the smallest dose at "
    "the shallowest depth the gun's own envelope allows (10 ul at 0.5 mm on a factory gun). "
    "A conformant gun fires one; a gun that breaks exactly-once or stop-first may fire one "
    f"more for each. On a real port those checks run only with {MOTION_FLAG}: mount a needle and "
    "a syringe of saline or water, and point the gun into a waste cup. sim:// needs no flag.",
    "The suite starts only on a gun LOCKED or IDLE with no alarm latched, acknowledges only "
    "the alarms it provokes (watchdog, emergency_stop, link_degraded), and leaves the gun "
    "disarmed; Ctrl-C holds and disarms it. docs/firmware.md tells more.",
)


def register(subparsers) -> None:
    listing = "\n".join(
        textwrap.fill(f"{c.name}{' (moves)' if c.moves else ''}: {c.proves}", 88,
                      initial_indent="  ", subsequent_indent="      ")
        for c in all_checks())
    p = subparsers.add_parser(
        "conformance", help="check a gun's firmware against the serial protocol's promises",
        description="\n\n".join(textwrap.fill(paragraph, 88) for paragraph in DESCRIPTION),
        epilog=f"checks, in the order they run:\n{listing}\n\n"
               "example: injector conformance --port sim://\n"
               f"         injector conformance --port /dev/ttyACM0 {MOTION_FLAG}\n"
               "         injector conformance --port /dev/ttyACM0 --check framing --check crc",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--port", required=True, metavar="URL",
                   help="serial:///dev/ttyACM0?baud=115200 (or a device path), or sim:// "
                        "(the simulated gun, in this process)")
    p.add_argument("--check", action="append", choices=CHECK_NAMES, metavar="NAME",
                   help="run only this check (repeatable; default: all)")
    p.add_argument(MOTION_FLAG, dest="motion_allowed", action="store_true",
                   help="allow the checks that home the gun and fire test shots on a real "
                        "port")
    add_value(p, "--watchdog-tolerance-ms", TOLERANCE, "how late the watchdog may trip, by "
              "the gun's clock", default=WATCHDOG_TOLERANCE_MS, metavar="MS")
    p.add_argument("--json", action="store_true", help="the report as JSON")
    p.set_defaults(handler=conformance_command)


def opener(url: str):
    """(open the port, the embedded gun or None) for a serial URL or sim://."""
    parsed = PortURL.parse(url)
    if parsed.scheme == "sim":
        from injector.ports import gun_options_from
        from simulator.gun import SimulatedGun

        options = gun_options_from(url, parsed)
        holder: list[SimulatedGun] = []

        def open_memory():
            if not holder:
                holder.append(SimulatedGun(options))
            return holder[0].memory_port()
        return open_memory, holder
    if parsed.scheme != "serial":
        raise PortURLError(url, "the conformance suite speaks the serial protocol: give the "
                                "gun's serial port (serial:///dev/ttyACM0 or a device path) "
                                "or sim://")
    unknown = set(parsed.params) - {"baud"}
    if unknown or not parsed.location:
        raise PortURLError(url, f"unknown parameter {sorted(unknown)[0]!r} (known: baud)"
                           if unknown else "no device path")
    baud = int(parsed.number("baud", 115_200, 1_200, 4_000_000, url))
    return (lambda: open_serial_port(parsed.location, baud)), None


def conformance_command(args: argparse.Namespace) -> int:
    checks = select(args.check, args.watchdog_tolerance_ms)
    open_port, embedded = opener(args.port)
    moving = tuple(c.name for c in checks if c.moves)
    if embedded is None and moving and not args.motion_allowed:
        raise MotionNotAllowed(args.port, moving, MOTION_FLAG)
    report, stop = asyncio.run(_conform(open_port, embedded, args.port, checks))
    if stop is not None:
        print(f"injector: {stop.reason}; the gun was held and disarmed", file=sys.stderr)
        return stop.exit_code
    if args.json:
        print_json(report.as_json())
    else:
        print(report.as_text())
    return exit_codes.OK if report.passed else exit_codes.FAILED


async def _conform(open_port, embedded, port: str, checks) -> tuple[Report | None, object]:
    with stop_on_signals() as stop:
        try:
            return await run_suite(open_port, port, checks), None
        except asyncio.CancelledError:
            if stop.signal is None:
                raise                   # Ctrl-C: asyncio.run reports it as KeyboardInterrupt
            return None, stop
        finally:
            for gun in embedded or ():
                await gun.aclose()
