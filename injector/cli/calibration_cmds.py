"""`injector calibrate dose|depth|verify` and `injector calibration list|show|mark-bad`."""

from __future__ import annotations

import argparse
import asyncio
import sys

from drivers.instruments import Balance, DepthGauge
from injector.calibration import DOSE_VOLUMES_UL, DEPTHS_MM, calibrate, verify
from drivers.values import ValueRefused
from injector import documents, inputs
from injector.cli.common import (
    open_port_and_record,
    OptionRefused, add_catalog_options, add_value, catalog_from, format_table, plot_option,
    print_json, typed,
)
from injector.cli.session_cmds import add_db_option
from injector.controller import Controller
from injector.errors import InjectorError
from injector.store import Store
from simulator.instruments import VirtualBalance, VirtualGauge


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "calibrate", help="calibrate a gun's dose or depth, or verify it",
        description="Technician calibration. dose: shots at each set volume into a cup on a "
                    "balance (MT-SICS over serial, or typed in with --balance prompt). depth: "
                    "commanded against a depth gauge. verify: every test volume (and depth) "
                    "with the calibration in force, within +-2%% or +-0.5 ul (depth +-0.05 mm). "
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
    add_value(p, "--volumes", inputs.SET_VOLUMES_UL, "set volumes", default=DOSE_VOLUMES_UL,
              metavar="UL,UL,...")
    add_value(p, "--depths", inputs.SET_DEPTHS_MM, "set depths", default=DEPTHS_MM,
              metavar="MM,MM,...")
    add_value(p, "--shots-each", inputs.SHOTS_EACH, "shots at each set value", default=3)
    add_value(p, "--density", inputs.DENSITY_G_ML, "fluid density", default=1.0)
    p.add_argument("--needle", default="30G-4mm", help="the needle mounted for calibration")
    add_value(p, "--expires-days", inputs.EXPIRES_DAYS, "the calibration is due after",
              default=90)
    add_value(p, "--expires-shots", inputs.EXPIRES_SHOTS, "or after this many shots",
              default=20_000)
    add_value(p, "--person", inputs.PERSON, "who calibrates (recorded)", default="technician")
    p.add_argument("--plot", type=plot_option, metavar="FILE.png", help="verify: commanded "
                   "against delivered with the fit and the tolerance band")
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


class _Prompt:
    """The technician types readings in (a balance or gauge without a data port)."""

    def __init__(self, what: str, unit: str) -> None:
        self.what, self.unit = what, unit

    async def ask(self, command: str) -> str:
        if command in ("T", "Z"):
            input(f"{self.what}: tare the balance with the cup on it, then press Enter ")
            return "T S 0.0000 g" if command == "T" else "Z A"
        text = input(f"{self.what}: reading in {self.unit}? ")
        tag = "S S" if self.unit == "g" else "D S"
        return f"{tag} {text.strip()} {self.unit}"


def _instruments(args, gun):
    balance = gauge = None
    if args.balance == "prompt":
        balance = Balance(_Prompt("balance", "g").ask, "typed balance readings")
    elif args.balance:
        balance = Balance.on_port(args.balance)
    elif gun is not None:
        balance = Balance(VirtualBalance(gun.firmware.physics, args.density).answer,
                          "simulated balance")
    if args.gauge == "prompt":
        gauge = DepthGauge(_Prompt("depth gauge", "mm").ask, "typed depth readings")
    elif args.gauge:
        gauge = DepthGauge.on_port(args.gauge)
    elif gun is not None:
        gauge = DepthGauge(VirtualGauge(gun.firmware.physics).answer, "simulated depth gauge")
    return balance, gauge


def calibrate_command(args: argparse.Namespace) -> int:
    check_calibration_args(args)
    result = asyncio.run(_calibrate(args))
    if args.json:
        print_json(documents.verification(result) if args.what == "verify"
                   else documents.calibration_result(result))
    elif args.what == "verify":
        rows = [[p["kind"], f"{p.get('set_ul', p.get('set_mm')):g}",
                 f"{p.get('mean_ul', p.get('mean_mm')):.3f}",
                 f"{p.get('error_ul', p.get('error_mm')):+.3f}",
                 f"{p.get('tolerance_ul', p.get('tolerance_mm')):.3f}",
                 "pass" if p["pass"] else "FAIL"] for p in result["points"]]
        print(format_table(["kind", "set", "mean", "error", "tolerance", "result"], rows))
        print(f"verification: {'PASS' if result['pass'] else 'FAIL'}")
    else:
        fit = result["fit"]
        shape = (f"delivered = {fit['gain']:.5f} x commanded {fit['offset']:+.4f}"
                 if fit["kind"] == "linear" else "piecewise through the measured points")
        print(f"{args.what} calibration {result['calibration_id']} recorded: {shape}; "
              f"max residual {fit['max_residual']:.4f}; expires {result['expires_at'][:10]} "
              f"or after {result['expires_after_shots']} shots")
    if args.what == "verify" and args.plot:
        from injector.plots import plot_verification
        print(f"plot: {plot_verification(result, args.plot)}")
    return 0 if args.what != "verify" or result["pass"] else 1


def check_calibration_args(args: argparse.Namespace) -> None:
    """What each option cannot say alone, said before anything opens: the needle exists, a
    calibration has enough set values for a fit and no more than the gun stores, and the
    instruments it needs are given."""
    catalog_from(args).needle(args.needle)
    if args.what in ("dose", "depth"):
        values = args.volumes if args.what == "dose" else args.depths
        option = "--volumes" if args.what == "dose" else "--depths"
        try:
            inputs.CALIBRATION_POINTS.check(len(values))
        except ValueRefused as refused:
            raise OptionRefused(ValueRefused(option, ",".join(f"{v:g}" for v in values),
                                             f"{len(values)} set values; a calibration "
                                             f"takes {refused.limit}", refused.limit)) from None
    is_sim = isinstance(args.port, str) and args.port.startswith("sim:")
    if args.what == "dose" and not (args.balance or is_sim):
        raise InjectorError("dose calibration needs --balance URL or --balance prompt")
    if args.what == "depth" and not (args.gauge or is_sim):
        raise InjectorError("depth calibration needs --gauge URL or --gauge prompt")


async def _calibrate(args) -> dict:
    catalog = catalog_from(args)
    driver, gun, store = await open_port_and_record(args.port, args.db)
    balance, gauge = _instruments(args, gun)
    controller = Controller(driver, store, person=args.person)
    try:
        if args.what == "verify":
            return await verify(controller, catalog, person=args.person, balance=balance,
                                gauge=gauge, volumes=args.volumes, depths=args.depths,
                                shots_each=args.shots_each, needle=args.needle,
                                density_g_ml=args.density)
        return await calibrate(controller, catalog, args.what, person=args.person,
                               balance=balance, gauge=gauge,
                               values=args.volumes if args.what == "dose" else args.depths,
                               shots_each=args.shots_each, needle=args.needle,
                               density_g_ml=args.density, expires_days=args.expires_days,
                               expires_shots=args.expires_shots)
    finally:
        await controller.close()
        for instrument in (balance, gauge):
            if instrument is not None:
                instrument.close()
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
    store = Store(args.db)
    item = store.calibration(args.id)
    store.set_calibration_status(item["id"], "bad", args.reason, args.person).result()
    print(f"calibration {item['id']} marked bad: {args.reason}")
    return 0
