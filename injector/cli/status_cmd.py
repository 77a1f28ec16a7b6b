"""`injector status`: ask a gun who and how it is."""

from __future__ import annotations

import argparse
import asyncio

from drivers.messages import Identity, Status
from injector import documents
from injector.cli.common import print_json
from injector.ports import open_driver


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "status", help="identity and state of a gun",
        description="Connect to a gun, check its identity and print its state.",
        epilog="example: injector status --port /dev/ttyACM0 --json\n"
               "         injector status --port sim://",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--port", required=True, metavar="URL",
                   help="serial:///dev/pts/N (or a device path), modbus-tcp://HOST:PORT, "
                        "modbus-rtu:///dev/pts/N, or sim:// (embedded simulator)")
    p.add_argument("--json", action="store_true")
    p.set_defaults(handler=status_command)


def status_command(args: argparse.Namespace) -> int:
    report = documents.status(*asyncio.run(_status(args.port)))
    if args.json:
        print_json(report)
        return 0
    print(f"{report['model']} serial {report['serial_number']}, firmware "
          f"{report['firmware_version']}, protocol {report['protocol_version']}, "
          f"config {report['config_hash']}")
    flags = [name for name in ("homed", "needle_present", "syringe_present",
                               "program_loaded") if report[name]]
    print(f"state {report['state']} ({', '.join(flags) or 'nothing ready'}); alarms: "
          f"{', '.join(report['alarms']) or 'none'}")
    print(f"shots {report['shots_done']}, delivered {report['volume_delivered_ul']:g} ul, "
          f"syringe {report['syringe_remaining_ul']:g} ul, needle at "
          f"{report['depth_mm']:g} mm, line {report['pressure_kpa']} kPa")
    return 0


async def _status(url: str) -> tuple[Identity, Status]:
    driver, gun = open_driver(url)
    try:
        identity = await driver.connect()
        return identity, await driver.status()
    finally:
        await driver.close()
        if gun is not None:
            gun.close()
