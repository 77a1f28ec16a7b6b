"""`injector run`, `injector history` and `injector session show|export`."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from pathlib import Path

from injector import inputs
from injector.cli import exit_codes
from injector.cli.common import (
    open_port_and_record,
    add_catalog_options, add_value, catalog_from, format_table, print_json, typed, typed_path,
)
from injector.cli.progress import SessionProgress
from injector.controller import Controller
from injector.exports import session_document, session_export, shots_csv
from injector.cli.signals import Stop, stop_on_signals
from injector.session import (
    AlarmLatched, SessionRequest, SessionResult, check_request, run_session,
)
from injector.store import DB_ENV, Store, check_record_path, default_db_path
from drivers.values import ValueRefused


def record_path(raw: str) -> Path:
    """An argparse `type` for --db: a path that is, or can become, a record of ours, in a
    folder that exists; checked before anything opens."""
    path = Path(inputs.FILE_PATH.check(raw))
    check_record_path(path, given=True)
    return path


def add_db_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--db", metavar="PATH", type=typed_path(record_path, "--db"),
                        help=f"the record (default: ${DB_ENV}, else the user's data directory)")


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "run", help="run a treatment session",
        description="Run a preset on a gun to a number of shots or a volume, record it, and "
                    "print its summary. Ends with the gun stopped and the needle retracted "
                    "whatever happens; exit 0 when all shots were given, 1 when an alarm, an "
                    "interlock or the link ended it early, 130 on Ctrl-C.",
        epilog="example: injector run --port sim:// --preset nappage-superficial --zone face "
               "--needle 32G-4mm --shots 100 --json")
    add_catalog_options(p)
    add_db_option(p)
    p.add_argument("--port", required=True, metavar="URL")
    p.add_argument("--preset", required=True)
    p.add_argument("--zone", required=True)
    p.add_argument("--needle", required=True)
    size = p.add_mutually_exclusive_group(required=True)
    add_value(size, "--shots", inputs.SHOTS, "number of shots")
    add_value(size, "--volume-ml", inputs.VOLUME_ML, "volume requested")
    add_value(p, "--syringe-ml", inputs.SYRINGE_ML, "must match the gun (default: the gun's)")
    add_value(p, "--budget-ml", inputs.BUDGET_ML,
              "volume the session may not exceed (default: the planned volume)")
    add_value(p, "--prime-ul", inputs.PRIME_UL, "drug pushed out before the first shot",
              default=50.0)
    p.add_argument("--no-refill", action="store_true",
                   help="end the session when the syringe runs out instead of confirming a "
                        "new one")
    p.add_argument("--calibration-override", metavar="REASON",
                   type=typed(inputs.REASON, "--calibration-override"),
                   help="a technician's explicit, recorded override of an expired calibration")
    add_value(p, "--person", inputs.PERSON, "who runs the session (recorded)",
              default="operator")
    p.add_argument("--events", action="store_true",
                   help="print each recorded shot as a JSON line while running")
    p.add_argument("--json", action="store_true")
    p.set_defaults(handler=run_command)

    p = subparsers.add_parser("history", help="the recorded sessions",
                              description="List the recorded sessions, newest first.",
                              epilog="example: injector history --json")
    add_db_option(p)
    add_value(p, "--limit", inputs.LIMIT, "newest sessions shown", default=50)
    p.add_argument("--json", action="store_true")
    p.set_defaults(handler=history_command)

    p = subparsers.add_parser("session", help="one recorded session",
                              description="Show or export one recorded session.",
                              epilog="example: injector session export 3 --format csv")
    actions = p.add_subparsers(dest="action", required=True, metavar="ACTION")
    show = actions.add_parser("show", help="summary, alarms and state changes",
                              epilog="example: injector session show 3 --json")
    add_db_option(show)
    show.add_argument("id", type=typed(inputs.RECORD_ID, "session id"))
    show.add_argument("--json", action="store_true")
    show.set_defaults(handler=show_command)
    export = actions.add_parser("export", help="every shot, as CSV or JSON",
                                epilog="example: injector session export 3 --format json")
    add_db_option(export)
    export.add_argument("id", type=typed(inputs.RECORD_ID, "session id"))
    export.add_argument("--format", choices=("csv", "json"), required=True)
    export.set_defaults(handler=export_command)


def run_command(args: argparse.Namespace) -> int:
    catalog = catalog_from(args)
    request = SessionRequest(
        preset=args.preset, zone=args.zone, needle=args.needle, shots=args.shots,
        volume_ml=args.volume_ml, syringe_ml=args.syringe_ml, budget_ml=args.budget_ml,
        prime_ul=args.prime_ul, refill=not args.no_refill,
        calibration_override=args.calibration_override, person=args.person)
    try:
        check_request(catalog, request)
    except ValueRefused as refused:
        option = {"volume_ml": "--volume-ml", "budget_ml": "--budget-ml"}.get(refused.name,
                                                                            refused.name)
        raise ValueRefused(option, refused.value, refused.problem, refused.limit) from None
    stop = Stop()
    try:
        result = asyncio.run(_run(args, catalog, request, stop))
    except KeyboardInterrupt as interrupted:
        result = interrupted.args[0] if interrupted.args and isinstance(
            interrupted.args[0], SessionResult) else None
        if result is not None:
            print_result(result, args.json)
        print("injector: session interrupted: gun held, needle retracted", file=sys.stderr)
        return stop.exit_code
    except AlarmLatched as latched:
        raise AlarmLatched(latched.names, port=args.port) from None
    print_result(result, args.json)
    if result.status != "completed":
        print(f"injector: error: session {result.session_id} {result.status}: {result.reason}",
              file=sys.stderr)
        return exit_codes.FAILED
    return exit_codes.OK


async def _run(args, catalog, request: SessionRequest, stop: Stop) -> SessionResult:
    driver, gun, store = await open_port_and_record(args.port, args.db)
    controller = Controller(driver, store, person=request.person)

    progress = SessionProgress(request.shots or 0, enabled=not (args.json or args.events))

    def on_shot(recorded: int, ctl: Controller) -> None:
        progress.update(recorded, ctl)
        if args.events:
            print(json.dumps({"event": "shot", "session_id": ctl.session_id,
                              "shots_done": recorded,
                              "delivered_ul": round(ctl.account.delivered_ul, 3)}),
                  flush=True)
    try:
        with progress, stop_on_signals() as signalled:
            try:
                return await run_session(controller, catalog, request, on_shot=on_shot,
                                         stop_reason=lambda: signalled.reason)
            finally:
                stop.signal = signalled.signal
    finally:
        await controller.close()
        if gun is not None:
            await gun.aclose()
        store.close()


def print_result(result: SessionResult, as_json: bool, extra: dict | None = None) -> None:
    s = result.summary
    if as_json:
        print_json(s | (extra or {}))
        return
    print(f"session {result.session_id} {result.status}: {result.reason}")
    print(f"  {s['preset']} on {s['zone']} with {s['needle']}, gun {s['device']}")
    print(f"  shots      {s['shots_done']} of {s['planned_shots']}"
          + (f" ({s['interrupted_shots']} interrupted)" if s['interrupted_shots'] else ""))
    print(f"  volume     requested {s['requested_ul']:.1f} ul, delivered {s['delivered_ul']:.1f} ul"
          f", reaching the skin (estimate) {s['to_skin_estimate_ul']:.1f} ul")
    print(f"  gun        commanded {s['commanded_ul']:.1f} ul, plunger measured "
          f"{s['measured_ul']:.1f} ul (through the calibration: delivered)")
    if s["syringe_remaining_ul"] is not None:
        print(f"  syringe    {s['syringe_remaining_ul']:.0f} ul left, {s['refills']} refill(s)")
    print(f"  alarms     {', '.join(s['alarms']) or 'none'}")


def history_command(args: argparse.Namespace) -> int:
    path = Path(args.db) if args.db else default_db_path()
    if not path.exists():
        if args.json:
            print_json([])
        else:
            print(f"no sessions recorded (no record at {path})")
        return 0
    store = Store(path, readonly=True)
    rows = store.history(args.limit)
    if args.json:
        print_json([row.__dict__ for row in rows])
    elif rows:
        print(format_table(["id", "started", "status", "gun", "by", "preset", "zone", "shots",
                            "delivered ul"],
                           [[str(r.id), r.started_at[:19], r.status, r.device_serial,
                             r.person or "-", r.preset, r.zone, str(r.shots_done),
                             f"{r.volume_delivered_ul:.1f}"] for r in rows]))
    else:
        print(f"no sessions recorded in {store.path}")
    return 0


def show_command(args: argparse.Namespace) -> int:
    store = Store(args.db, readonly=True)
    document = session_document(store, args.id)
    session, alarms, gaps = document, document["alarms"], document["gaps"]
    if args.json:
        print_json(document)
        return 0
    print(f"session {session['id']}: {session['status']}"
          + (f" ({session['end_reason']})" if session["end_reason"] else ""))
    for key in ("device_serial", "person", "preset", "zone", "needle", "started_at",
                "ended_at", "planned_shots", "shots_done", "volume_requested_ul",
                "volume_delivered_ul", "volume_to_skin_estimate_ul", "volume_commanded_ul",
                "volume_measured_ul"):
        print(f"  {key:28} {session[key]}")
    for alarm in alarms:
        ack = (f"acknowledged by {alarm['acknowledged_by']}" if alarm["acknowledged_by"]
               else "not acknowledged")
        print(f"  alarm {alarm['name']} at shot {alarm['shot_index']} ({ack})")
    if session["recovered_shots"]:
        print(f"  recovered  {session['recovered_shots']} shot(s) read back from the gun after "
              "the controller stopped")
    for gap in gaps:
        print(f"  gap        {gap['reason']}")
    return 0


def export_command(args: argparse.Namespace) -> int:
    store = Store(args.db, readonly=True)
    if args.format == "json":
        print_json(session_export(store, args.id))
        return 0
    sys.stdout.write(shots_csv(store, args.id))
    return 0
