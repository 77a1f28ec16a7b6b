"""`injector run`, `injector history` and `injector session show|export`."""

from __future__ import annotations

import argparse
from dataclasses import replace
import asyncio
import json
import sys
from pathlib import Path

from injector import documents, inputs
from injector.cli import exit_codes
from injector.cli.common import (
    open_port_and_record,
    UsageError, add_catalog_options, add_value, catalog_from, format_table, print_json, typed,
    typed_path,
)
from injector.cli.outcomes import Interrupted, SessionEnded
from injector.cli.progress import SessionProgress
from injector.controller import Controller
from injector.events import Event
from injector.exports import session_export, shots_csv
from injector.cli.signals import Stop, stop_on_signals
from injector.session import (
    AlarmLatched, SessionRequest, SessionResult, check_request, interrupted_result,
    run_session,
)
from injector.cli.treatment_options import (
    add_checklist_option, add_limit_override, add_setting_overrides, collect_checklist,
    load_plan, refuse_mismatch, setting_overrides,
)
from injector.planner import Overrides
from injector.ports import check_port_url
from profiles.library import load_library
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
    p.add_argument("--plan", type=typed_path(lambda raw: Path(inputs.FILE_PATH.check(raw)),
                                             "--plan"), metavar="FILE.json",
                   help="run a plan saved by `injector plan --save`, as it is")
    p.add_argument("--preset", help="required unless --plan")
    p.add_argument("--zone", help="required unless --plan")
    p.add_argument("--needle", help="required unless --plan; with --plan, must be its needle")
    size = p.add_mutually_exclusive_group()
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
    add_value(p, "--person", inputs.PERSON, "who runs the session (recorded; default "
              "operator; named when an override is given)")
    add_setting_overrides(p)
    add_limit_override(p, "operator")
    add_checklist_option(p)
    p.add_argument("--events", action="store_true",
                   help="write the session's events (state, shot, alarm, refill, hold, end) "
                        "as JSON lines on standard output while running, and nothing else "
                        "(docs/schemas/event.json); the summary goes to standard error")
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


def _planned_request(args: argparse.Namespace, library) -> dict:
    """What the session asks for: the saved plan's request, or the options'."""
    if args.plan is not None:
        saved = load_plan(args.plan, library)
        for option, given in (("--preset", args.preset), ("--zone", args.zone),
                              ("--needle", args.needle), ("--shots", args.shots)):
            refuse_mismatch(option, given, saved[option[2:]])
        if any(getattr(args, k) is not None for k in ("volume_ml", "depth_mm", "dose_ul",
                                                          "spacing_mm", "rate_hz")):
            raise UsageError("injector run", "with --plan, the plan says the volume and the "
                                             "setting; plan again to change them")
        return {"preset": saved["preset"], "zone": saved["zone"], "needle": saved["needle"],
                "shots": saved["shots"], "volume_ml": None,
                "overrides": Overrides(**saved["overrides"]),
                "override_reason": args.override or saved.get("override_reason")}
    missing = [o for o in ("preset", "zone", "needle") if getattr(args, o) is None]
    if missing or (args.shots is None) == (args.volume_ml is None):
        raise UsageError("injector run", "give --plan FILE.json, or --preset, --zone, --needle "
                                         "and one of --shots or --volume-ml")
    return {"preset": args.preset, "zone": args.zone, "needle": args.needle,
            "shots": args.shots, "volume_ml": args.volume_ml,
            "overrides": setting_overrides(args), "override_reason": args.override}


def run_command(args: argparse.Namespace) -> int:
    catalog = catalog_from(args)
    library = load_library()
    planned = _planned_request(args, library)
    if planned["override_reason"] and args.person is None:
        raise UsageError("injector run", "an override needs the person who takes it: give "
                                         "--person NAME")
    request = SessionRequest(
        **planned, syringe_ml=args.syringe_ml, budget_ml=args.budget_ml,
        prime_ul=args.prime_ul, refill=not args.no_refill,
        calibration_override=args.calibration_override, person=args.person or "operator")
    try:
        check_request(catalog, request)
    except ValueRefused as refused:
        option = {"volume_ml": "--volume-ml", "budget_ml": "--budget-ml"}.get(refused.name,
                                                                            refused.name)
        raise ValueRefused(option, refused.value, refused.problem, refused.limit) from None
    check_port_url(args.port)
    request = replace(request, checklist=collect_checklist(args))
    stop = Stop()
    try:
        result = asyncio.run(_run(args, catalog, request, stop, library))
    except (KeyboardInterrupt, asyncio.CancelledError):
        if stop.result is not None:
            report_result(stop.result, args)
        raise Interrupted(stop.exit_code, "session interrupted: gun held, needle "
                                          "retracted") from None
    except AlarmLatched as latched:
        raise AlarmLatched(latched.names, port=args.port) from None
    report_result(result, args)
    if result.status != "completed":
        raise SessionEnded(result)
    return exit_codes.OK


async def _run(args, catalog, request: SessionRequest, stop: Stop, library) -> SessionResult:
    driver, gun, store = await open_port_and_record(args.port, args.db)
    controller = Controller(driver, store, person=request.person)

    progress = SessionProgress(request.shots or 0, enabled=not (args.json or args.events))
    if args.events:
        controller.events.add(event_lines(asyncio.get_running_loop().time()))
    try:
        with progress, stop_on_signals() as signalled:
            try:
                return await run_session(controller, catalog, request, library=library,
                                         on_shot=progress.update,
                                         stop_reason=lambda: signalled.reason)
            except (asyncio.CancelledError, KeyboardInterrupt) as interrupted:
                stop.result = interrupted_result(interrupted)
                raise
            finally:
                stop.signal = signalled.signal
    finally:
        await controller.close()
        if gun is not None:
            await gun.aclose()
        store.close()


def event_lines(started_s: float):
    """`run --events`: each event one JSON line on standard output, flushed at once."""
    def write(event: Event) -> None:
        sys.stdout.write(json.dumps(documents.event(event, started_s)) + "\n")
        sys.stdout.flush()
    return write


def report_result(result: SessionResult, args: argparse.Namespace) -> None:
    """The summary: as a document on standard output with --json; with --events the end
    event carried it, and the text goes to standard error, standard output being the
    events' alone."""
    if args.events:
        if not args.json:
            print_result(result, False, file=sys.stderr)
        return
    print_result(result, args.json)


def print_result(result: SessionResult, as_json: bool, picture: Path | None = None,
                 file=None) -> None:
    s = documents.session_summary(result, picture)
    if as_json:
        print_json(s)
        return
    out = file or sys.stdout
    print(f"session {result.session_id} {result.status}: {result.reason}", file=out)
    print(f"  {s['preset']} on {s['zone']} with {s['needle']}, gun {s['serial_number']}",
          file=out)
    print(f"  shots      {s['shots_done']} of {s['planned_shots']}"
          + (f" ({s['interrupted_shots']} interrupted)" if s['interrupted_shots'] else ""),
          file=out)
    print(f"  volume     requested {s['requested_ul']:.1f} ul, delivered {s['delivered_ul']:.1f} ul"
          f", reaching the skin (estimate) {s['to_skin_estimate_ul']:.1f} ul", file=out)
    print(f"  gun        commanded {s['commanded_ul']:.1f} ul, plunger measured "
          f"{s['measured_ul']:.1f} ul (through the calibration: delivered)", file=out)
    if s["syringe_remaining_ul"] is not None:
        print(f"  syringe    {s['syringe_remaining_ul']:.0f} ul left, {s['refills']} refill(s)",
              file=out)
    print(f"  alarms     {', '.join(s['alarms']) or 'none'}", file=out)
    _print_context(s, out)


def _print_context(s: dict, out=None) -> None:
    """The library, the checklist and any override a session ran under."""
    out = out or sys.stdout
    if s.get("library"):
        print(f"  library    {s['library']['version']} ({s['library']['hash']})", file=out)
    if s.get("checklist"):
        c = s["checklist"]
        print(f"  checklist  answered by {c['answered_by']} ({c['source']})", file=out)
    if s.get("override"):
        o = s["override"]
        passed = [c["limit"] for c in o["limits"]] + o["contraindications"]
        print(f"  OVERRIDE   {', '.join(passed)}: {o['reason']} (by {o['person']})", file=out)


def history_command(args: argparse.Namespace) -> int:
    path = Path(args.db) if args.db else default_db_path()
    if not path.exists():
        if args.json:
            print_json(documents.history([]))
        else:
            print(f"no sessions recorded (no record at {path})")
        return 0
    store = Store(path, readonly=True)
    rows = store.history(args.limit)
    if args.json:
        print_json(documents.history(rows))
    elif rows:
        print(format_table(["id", "started", "status", "gun", "by", "preset", "zone", "shots",
                            "delivered ul", "override"],
                           [[str(r.id), r.started_at[:19], r.status, r.device_serial,
                             r.person or "-", r.preset, r.zone, str(r.shots_done),
                             f"{r.volume_delivered_ul:.1f}",
                             _cell(r.override_reason) if r.override_reason else "-"]
                            for r in rows]))
    else:
        print(f"no sessions recorded in {store.path}")
    return 0


def _cell(text: str, most: int = 40) -> str:
    return text if len(text) <= most else text[:most - 3] + "..."


def show_command(args: argparse.Namespace) -> int:
    store = Store(args.db, readonly=True)
    session = documents.session(store.session(args.id), store.alarms(args.id),
                                store.state_changes(args.id), store.gaps(args.id))
    if args.json:
        print_json(session)
        return 0
    print(f"session {session['session_id']}: {session['status']}"
          + (f" ({session['end_reason']})" if session["end_reason"] else ""))
    for key in ("serial_number", "person", "preset", "zone", "needle", "started_at",
                "ended_at", "planned_shots", "shots_done", "volume_requested_ul",
                "volume_delivered_ul", "volume_to_skin_estimate_ul", "volume_commanded_ul",
                "volume_measured_ul"):
        print(f"  {key:28} {session[key]}")
    _print_context(session)
    for alarm in session["alarms"]:
        ack = (f"acknowledged by {alarm['acknowledged_by']}" if alarm["acknowledged_by"]
               else "not acknowledged")
        print(f"  alarm {alarm['name']} at shot {alarm['shot_index']} ({ack})")
    if session["recovered_shots"]:
        print(f"  recovered  {session['recovered_shots']} shot(s) read back from the gun after "
              "the controller stopped")
    for gap in session["gaps"]:
        print(f"  gap        {gap['reason']}")
    return 0


def export_command(args: argparse.Namespace) -> int:
    store = Store(args.db, readonly=True)
    if args.format == "json":
        print_json(session_export(store, args.id))
        return 0
    sys.stdout.write(shots_csv(store, args.id))
    return 0
