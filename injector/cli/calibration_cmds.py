"""`injector calibrate dose|depth|verify` and `injector calibration list|show|mark-bad`."""

from __future__ import annotations

import argparse
import asyncio
import sys

from drivers.calibration_table import MAX_POINTS
from injector.calibration import DEPTHS_MM, DOSE_VOLUMES_UL, SHOTS_EACH, VERIFY_SHOTS_EACH
from injector.calibration_runs import CalibrationRequest, calibration_run, check_calibration
from injector.calibration_state import TECHNICIAN_VALID_DAYS, TECHNICIAN_VALID_SHOTS
from injector.cli import metrology_cmds
from injector.cli.typed_readings import TypedReadings
from drivers.values import ValueRefused
from injector import documents, inputs
from injector.cli.common import (
    open_port_and_record,
    OptionRefused, add_catalog_options, add_value, catalog_from, format_table, plot_option,
    print_json, typed,
)
from injector.cli.session_cmds import add_db_option
from injector.controller import Controller
from injector.session import AlarmLatched
from injector.store import Store


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "calibrate", help="calibrate a gun's dose or depth, or verify it",
        description="Technician calibration. dose: shots at each set volume into a cup on a "
                    "balance (MT-SICS over serial, or typed in with --balance prompt). depth: "
                    "commanded against a depth gauge. verify: every test volume (and depth) "
                    "with the calibration in force, within +-2%% or +-0.5 ul and a standard "
                    "deviation within 1%% or 0.15 ul (depth +-0.05 mm, 0.03 mm); recorded. "
                    "With a sim:// port the simulator's own balance and gauge are used unless "
                    "given.",
        epilog="example: injector calibrate dose --port /dev/pts/3 --balance /dev/pts/4\n"
               "         injector calibrate verify --port sim://?volume_gain=1.07 --json",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("what", choices=("dose", "depth", "verify"))
    add_catalog_options(p)
    add_db_option(p)
    p.add_argument("--port", required=True, metavar="URL")
    p.add_argument("--balance", metavar="URL|prompt", help="MT-SICS balance port, or prompt")
    p.add_argument("--gauge", metavar="URL|prompt", help="depth gauge port, or prompt")
    add_value(p, "--volumes", inputs.SET_VOLUMES_UL, "set volumes; a calibration takes 3 to "
              f"{MAX_POINTS}, a verification 1 to 10", default=DOSE_VOLUMES_UL,
              metavar="UL,UL,...")
    add_value(p, "--depths", inputs.SET_DEPTHS_MM, f"set depths; 3 to {MAX_POINTS} for a "
              "calibration, 1 to 10 for a verification", default=DEPTHS_MM,
              metavar="MM,MM,...")
    add_value(p, "--shots-each", inputs.SHOTS_EACH, "replicates at each set value (default "
              f"{SHOTS_EACH}, verify {VERIFY_SHOTS_EACH})")
    add_value(p, "--temperature-c", inputs.TEMPERATURE_C, "the water's and the room's "
              "temperature (default: the balance's sensor, MT-SICS M28)")
    add_value(p, "--density", inputs.DENSITY_G_ML, "a liquid other than water (default: "
              "water, its density from the temperature)")
    add_value(p, "--balance-serial", inputs.INSTRUMENT_SERIAL, "the balance's serial number "
              "(default: its own answer to I4)")
    add_value(p, "--balance-due", inputs.DUE_DATE, "when the balance's own calibration is due "
              "(needed for any balance but the simulator's)")
    add_value(p, "--gauge-serial", inputs.INSTRUMENT_SERIAL, "the depth gauge's serial number")
    add_value(p, "--gauge-due", inputs.DUE_DATE, "when the gauge's own calibration is due")
    p.add_argument("--needle", default="30G-4mm", help="the needle mounted for calibration")
    add_value(p, "--expires-days", inputs.EXPIRES_DAYS, "the calibration is due after",
              default=TECHNICIAN_VALID_DAYS)
    add_value(p, "--expires-shots", inputs.EXPIRES_SHOTS, "or after this many shots",
              default=TECHNICIAN_VALID_SHOTS)
    add_value(p, "--person", inputs.PERSON, "who calibrates (recorded)", default="technician")
    p.add_argument("--plot", type=plot_option, metavar="FILE.png", help="each set value's "
                   "error with its tolerance band (verify), or the fit (dose, depth)")
    p.add_argument("--json", action="store_true")
    p.set_defaults(handler=calibrate_command)

    p = subparsers.add_parser("calibration", help="the recorded calibrations",
                              description="List, show or mark bad a recorded calibration.",
                              epilog="example: injector calibration mark-bad 4 --reason "
                                     "'balance was not level'")
    actions = p.add_subparsers(dest="action", required=True, metavar="ACTION")
    listing = actions.add_parser("list", help="every calibration, newest first",
                                 epilog="example: injector calibration list --json")
    add_db_option(listing)
    listing.add_argument("--json", action="store_true")
    listing.set_defaults(handler=list_command)
    show = actions.add_parser("show", help="one calibration, its points and fit",
                              epilog="example: injector calibration show 4")
    add_db_option(show)
    show.add_argument("id", type=typed(inputs.RECORD_ID, "calibration id"))
    show.add_argument("--json", action="store_true")
    show.set_defaults(handler=show_command)
    bad = actions.add_parser("mark-bad", help="take a calibration out of force",
                             epilog="example: injector calibration mark-bad 4 --reason "
                                    "'balance was not level' --person 'A. Novak'")
    add_db_option(bad)
    bad.add_argument("id", type=typed(inputs.RECORD_ID, "calibration id"))
    add_value(bad, "--reason", inputs.REASON, "why it is taken out of force", required=True)
    add_value(bad, "--person", inputs.PERSON, "who marks it (recorded)", default="technician")
    bad.set_defaults(handler=mark_bad_command)
    metrology_cmds.register_calibration_actions(actions)


def calibrate_command(args: argparse.Namespace) -> int:
    request = calibration_request(args)
    try:
        result = asyncio.run(_calibrate(args, request))
    except AlarmLatched as latched:
        raise AlarmLatched(latched.names, port=args.port) from None
    if args.json:
        print_json(documents.verification(result) if args.what == "verify"
                   else documents.calibration_result(result))
    elif args.what == "verify":
        print(verification_text(result))
    else:
        fit = result["fit"]
        shape = (f"delivered = {fit['gain']:.5f} x commanded {fit['offset']:+.4f}"
                 if fit["kind"] == "linear" else "piecewise through the measured points")
        print(f"{args.what} calibration {result['calibration_id']} recorded: {shape}; "
              f"max residual {fit['max_residual']:.4f}; expires {result['expires_at'][:10]} "
              f"or after {result['expires_after_shots']} shots")
    if args.plot:
        from injector.plots import plot_calibration, plot_verification
        drawn = (plot_verification(result["points"], args.plot) if args.what == "verify"
                 else plot_calibration(result, args.plot))
        print(f"plot: {drawn}")
    return 0 if args.what != "verify" or result["pass"] else 1


def verification_text(result: dict) -> str:
    rows = [[p["kind"], f"{p['set']:g} {p['unit']}", str(p["n"]), f"{p['mean']:.3f}",
             f"{p['error']:+.3f}", f"+-{p['systematic_limit']:.3f}", f"{p['sd']:.3f}",
             f"{p['random_limit']:.3f}", "pass" if p["pass"] else "FAIL"]
            for p in result["points"]]
    table = format_table(["kind", "set", "n", "mean", "error", "limit", "sd", "limit",
                          "result"], rows)
    return (f"{table}\nverification {result['verification_id']} recorded: "
            f"{'PASS' if result['pass'] else 'FAIL'}")


def calibration_request(args: argparse.Namespace) -> CalibrationRequest:
    """The options as a calibration request, checked before anything opens; a refused
    number of set values named by its option."""
    request = CalibrationRequest(
        what=args.what, port=args.port, person=args.person, needle=args.needle,
        volumes=tuple(args.volumes), depths=tuple(args.depths), balance=args.balance,
        gauge=args.gauge, shots_each=args.shots_each, balance_serial=args.balance_serial,
        balance_due=args.balance_due, gauge_serial=args.gauge_serial,
        gauge_due=args.gauge_due, temperature_c=args.temperature_c, density=args.density,
        expires_days=args.expires_days, expires_shots=args.expires_shots)
    try:
        check_calibration(request, catalog_from(args))
    except ValueRefused as refused:
        raise OptionRefused(ValueRefused(f"--{refused.name}", refused.value, refused.problem,
                                         refused.limit)) from None
    return request


async def _calibrate(args: argparse.Namespace, request: CalibrationRequest) -> dict:
    catalog = catalog_from(args)
    driver, gun, store = await open_port_and_record(args.port, args.db)
    controller = Controller(driver, store, person=args.person)
    try:
        return await calibration_run(controller, catalog, request, gun, TypedReadings)
    finally:
        await controller.close()
        if gun is not None:
            await gun.aclose()
        store.close()


def list_command(args: argparse.Namespace) -> int:
    items = Store(args.db, readonly=True).calibrations()
    if args.json:
        print_json(documents.calibrations(items))
    elif items:
        print(format_table(["id", "gun", "kind", "fit", "status", "by", "made", "expires",
                            "shots since"],
                           [[str(c["id"]), c["device_serial"], c["kind"], c["fit"]["kind"],
                             c["status"], c["person"], c["created_at"][:19],
                             (c["expires_at"] or "-")[:10], str(c["shots_since"])]
                            for c in items]))
    else:
        print("no calibrations recorded", file=sys.stderr)
    return 0


def show_command(args: argparse.Namespace) -> int:
    item = Store(args.db, readonly=True).calibration(args.id)
    if args.json:
        print_json(documents.calibration(item))
        return 0
    print(f"calibration {item['id']}: {item['kind']} of {item['device_serial']}, "
          f"{item['status']}, by {item['person']} at {item['created_at'][:19]}")
    print(f"  fit {item['fit']}")
    for point in item["points"]:
        print(f"  set {point['set_value']:g}: commanded {point['commanded']:.4f}, readings "
              f"{', '.join(f'{r:.4f}' for r in point['readings'])}")
    return 0


def mark_bad_command(args: argparse.Namespace) -> int:
    Store(args.db, readonly=True).calibration(args.id)     # no record is made to say "no"
    store = Store(args.db)
    item = store.calibration(args.id)
    store.set_calibration_status(item["id"], "bad", args.reason, args.person).result()
    print(f"calibration {item['id']} marked bad: {args.reason}")
    return 0
