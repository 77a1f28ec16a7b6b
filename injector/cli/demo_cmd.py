"""`injector demo`: the whole product in a minute, with no hardware.

An embedded simulated gun, reached over a real pseudo-terminal through the serial bridge (or
Modbus TCP with --modbus): connect, home, prime, load superficial nappage for the face, run a
short session with a live progress bar, record it, and print the summary and a picture.
"""

from __future__ import annotations

import argparse
import asyncio

from injector import inputs
from injector.cli.common import add_catalog_options, add_value, catalog_from, plot_option
from injector.cli.progress import SessionProgress
from injector.cli.session_cmds import add_db_option, print_result
from injector.controller import Controller
from injector.plots import plot_session
from injector.checklist import for_simulated_patient
from injector.cli.signals import stop_on_signals
from injector.session import SessionRequest, run_session
from injector.store import Store, default_db_path
from drivers.serial_link import serial_driver
from drivers.transport import open_serial_port
from drivers.urls import open_url_driver
from simulator.gun import GunOptions, SimulatedGun


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "demo", help="a simulated treatment session, start to finish",
        description="Start a simulated gun, connect through the serial bridge (or Modbus TCP), "
                    "home, prime and run a short superficial nappage session on the face with "
                    "a live progress bar; record it and print its summary and the path of a "
                    "PNG of the session.",
        epilog="example: injector demo --shots 40 --modbus")
    add_catalog_options(p)
    add_db_option(p)
    p.add_argument("--modbus", action="store_true", help="connect over Modbus TCP instead")
    add_value(p, "--shots", inputs.SHOTS, "shots in the demo session", default=60)
    p.add_argument("--plot", type=plot_option, metavar="FILE.png",
                   help="where to write the picture (default: beside the record)")
    p.add_argument("--json", action="store_true")
    p.set_defaults(handler=demo_command)


def demo_command(args: argparse.Namespace) -> int:
    result, picture = asyncio.run(_demo(args))
    print_result(result, args.json, picture)
    if not args.json:
        print(f"  record     {default_db_path() if args.db is None else args.db} (injector "
              f"session show {result.session_id})")
        print(f"  picture    {picture}")
    return 0 if result.status == "completed" else 1


async def _demo(args):
    catalog = catalog_from(args)
    store = Store(args.db)
    gun = SimulatedGun(GunOptions(serial_number="SIM-DEMO-01"))
    try:
        if args.modbus:
            port = await gun.serve_modbus_tcp()
            driver = open_url_driver(f"modbus-tcp://127.0.0.1:{port}")
        else:
            path = gun.serve_pty()
            driver = serial_driver(lambda: open_serial_port(path), name=path)
        controller = Controller(driver, store)
        request = SessionRequest("nappage-superficial", "face", "32G-4mm", shots=args.shots,
                                 checklist=for_simulated_patient())
        progress = SessionProgress(args.shots, enabled=not args.json)
        try:
            with progress, stop_on_signals() as signalled:
                result = await run_session(controller, catalog, request,
                                           on_shot=progress.update,
                                           stop_reason=lambda: signalled.reason)
        finally:
            await controller.close()
        if args.plot:
            picture = args.plot
        else:                           # our own folder beside the record: made when missing
            folder = store.path.parent / "sessions"
            folder.mkdir(parents=True, exist_ok=True)
            picture = folder / f"session-{result.session_id}.png"
        session = store.session(result.session_id)
        plot_session(session, store.shots(result.session_id),
                     store.alarms(result.session_id), picture)
        return result, picture
    finally:
        await gun.aclose()
