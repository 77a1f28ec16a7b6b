"""`injector alarm list` and `injector alarm ack`: the latched alarms of a gun, and a person's
acknowledgement of them, recorded with their name."""

from __future__ import annotations

import argparse
import asyncio

from drivers.codes import ALARMS, alarm_name
from injector import documents, inputs
from injector.cli.common import add_value, format_table, open_port_and_record, print_json, typed
from injector.cli.session_cmds import add_db_option
from injector.controller import Controller
from injector.errors import InjectorError


class UnknownAlarmError(InjectorError):
    def __init__(self, given: str, latched: list[str]) -> None:
        self.given, self.latched = given, latched
        super().__init__(f"alarm {given!r} is not latched on this gun (latched: "
                         f"{', '.join(latched) or 'none'})")


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


def describe(code: int) -> dict:
    name = alarm_name(code)
    known = ALARMS.get(name)
    return {"code": f"0x{code:04X}", "name": name,
            "severity": known.severity.value if known else "stop",
            "text": known.text if known else "an alarm this program does not know",
            "action": known.action if known else "see the gun's manual, then acknowledge",
            "forces_homing": bool(known and known.forces_homing)}


def _code_of(given: str, latched: dict[int, int]) -> int:
    names = {alarm_name(code): code for code in latched}
    text = given.strip().lower()
    if text in names:
        return names[text]
    try:
        code = int(text, 0)
    except ValueError:
        raise UnknownAlarmError(given, sorted(names)) from None
    if code not in latched:
        raise UnknownAlarmError(given, sorted(names))
    return code


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
        return [describe(code) for code in controller.latched]

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
        codes = ([_code_of(args.alarm, controller.latched)] if args.alarm
                 else list(controller.latched))
        for code in codes:
            await controller.acknowledge(code, args.person)
        return {"acknowledged": [describe(code) for code in codes],
                "by": args.person, "still_latched": [describe(c) for c in controller.latched],
                "state": controller.state}

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
