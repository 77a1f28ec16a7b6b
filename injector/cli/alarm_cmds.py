"""`injector alarm list` and `injector alarm ack`: the latched alarms of a gun, and a person's
acknowledgement of them, recorded with their name."""

from __future__ import annotations

import argparse
import asyncio

from injector import documents, inputs
from injector.alarm_actions import acknowledge, latched
from injector.cli.common import add_value, format_table, open_port_and_record, print_json, typed
from injector.cli.session_cmds import add_db_option
from injector.controller import Controller


def register(subparsers) -> None:
    p = subparsers.add_parser("alarm", help="a gun's latched alarms: list, acknowledge",
                              description="List a gun's latched alarms, or acknowledge them "
                                          "(recorded with the person's name).")
    actions = p.add_subparsers(dest="action", required=True, metavar="ACTION")
    listing = actions.add_parser("list", help="the latched alarms, with what to do",
                                 epilog="example: injector alarm list --port /dev/ttyACM0")
    listing.add_argument("--port", required=True, metavar="URL")
    add_db_option(listing)
    listing.add_argument("--json", action="store_true")
    listing.set_defaults(handler=list_command)
    ack = actions.add_parser("ack", help="acknowledge latched alarms (all, or one)",
                             epilog="example: injector alarm ack --port /dev/ttyACM0 "
                                    "--person 'Dr. A. Ilić' occlusion")
    ack.add_argument("--port", required=True, metavar="URL")
    add_value(ack, "--person", inputs.PERSON, "who acknowledges (recorded)", required=True)
    ack.add_argument("alarm", nargs="?", type=typed(inputs.ALARM_NAME, "alarm"),
                     help="the alarm's name or code (default: every one latched)")
    add_db_option(ack)
    ack.add_argument("--json", action="store_true")
    ack.set_defaults(handler=ack_command)


async def _with_controller(args, work):
    driver, gun, store = await open_port_and_record(args.port, args.db)
    controller = Controller(driver, store)
    try:
        await controller.connect()
        return await work(controller)
    finally:
        await controller.close()
        if gun is not None:
            await gun.aclose()
        store.close()


def list_command(args: argparse.Namespace) -> int:
    async def work(controller: Controller) -> list[dict]:
        return latched(controller)

    alarms = asyncio.run(_with_controller(args, work))
    if args.json:
        print_json(documents.alarms(alarms))
    elif alarms:
        print(format_table(["alarm", "code", "severity", "what to do"],
                           [[a["name"], a["code"], a["severity"], a["action"]]
                            for a in alarms]))
    else:
        print("no alarm latched")
    return 0


def ack_command(args: argparse.Namespace) -> int:
    async def work(controller: Controller) -> dict:
        return await acknowledge(controller, args.alarm, args.person)

    result = asyncio.run(_with_controller(args, work))
    if args.json:
        print_json(documents.acknowledgement(result))
        return 0
    if not result["acknowledged"]:
        print("no alarm latched")
        return 0
    names = ", ".join(a["name"] for a in result["acknowledged"])
    print(f"acknowledged {names} (recorded: {args.person}); the gun is {result['state']}")
    if result["state"] == "locked":
        print("  the needle's position was lost: the gun homes before the next session")
    return 0
