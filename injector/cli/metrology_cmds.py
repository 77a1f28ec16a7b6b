"""`injector devices`, `injector calibration verifications` and `injector calibration
certificate`: what a technician plans from and what a clinic files."""

from __future__ import annotations

import argparse
from datetime import datetime, timezone
from pathlib import Path

from injector import documents, inputs
from injector.cli.common import format_table, print_json, typed
from injector.fleet import devices_due
from injector.store import Store, default_db_path


def add_db_option(parser: argparse.ArgumentParser) -> None:
    from injector.cli.session_cmds import add_db_option as add
    add(parser)


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "devices", help="the guns in the record and when each is due for calibration",
        description="Every gun the record has met: its dose and depth calibrations, the days "
                    "and shots left before each is due, and its last verification.",
        epilog="example: injector devices --json")
    add_db_option(p)
    p.add_argument("--json", action="store_true")
    p.set_defaults(handler=devices_command)


def register_calibration_actions(actions) -> None:
    certificate = actions.add_parser(
        "certificate", help="the certificate of a calibration, as a PDF",
        description="Write the document a clinic files for a calibration: gun, technician, "
                    "instruments, conditions, as found and as left, limits, verdict and the "
                    "next due date.",
        epilog="example: injector calibration certificate 4 --out cal-4.pdf")
    add_db_option(certificate)
    certificate.add_argument("id", type=typed(inputs.RECORD_ID, "calibration id"))
    certificate.add_argument("--out", required=True, type=pdf_path, metavar="FILE.pdf")
    certificate.add_argument("--json", action="store_true",
                             help="also print the certificate's content as JSON")
    certificate.set_defaults(handler=certificate_command)
    listing = actions.add_parser("verifications", help="every verification, newest first",
                                 epilog="example: injector calibration verifications --json")
    add_db_option(listing)
    listing.add_argument("--json", action="store_true")
    listing.set_defaults(handler=verifications_command)


def _store(args) -> Store | None:
    path = Path(args.db) if args.db else default_db_path()
    return Store(path, readonly=True) if path.exists() else None


def _left(days: int | None, shots: int | None) -> str:
    parts = ([f"{days} d"] if days is not None else []) + (
        [f"{shots} shots"] if shots is not None else [])
    return ", ".join(parts) or "-"


def devices_command(args: argparse.Namespace) -> int:
    store = _store(args)
    guns = devices_due(store, datetime.now(timezone.utc)) if store else []
    if args.json:
        print_json(documents.devices([gun.describe() for gun in guns]))
        return 0
    if not guns:
        print("no guns recorded")
        return 0
    rows = []
    for gun in guns:
        verification = gun.last_verification
        rows.append([gun.serial_number, gun.state, gun.dose.state,
                     _left(gun.dose.days_left, gun.dose.shots_left), gun.depth.state,
                     _left(gun.depth.days_left, gun.depth.shots_left),
                     (f"{'pass' if verification['pass'] else 'FAIL'} "
                      f"{verification['at'][:10]}") if verification else "-",
                     (gun.last_session or "-")[:10]])
    print(format_table(["gun", "state", "dose", "dose left", "depth", "depth left",
                        "verified", "last session"], rows))
    return 0


def verifications_command(args: argparse.Namespace) -> int:
    store = _store(args)
    items = store.verifications() if store else []
    if args.json:
        print_json(documents.verifications(items))
        return 0
    if not items:
        print("no verifications recorded")
        return 0
    rows = [[str(v["id"]), v["device_serial"], v["created_at"][:19], v["person"],
             ", ".join(f"{p['kind']} {p['set']:g}{p['unit']}" for p in v["points"]),
             "PASS" if v["pass"] else "FAIL"] for v in items]
    print(format_table(["id", "gun", "at", "by", "points", "result"], rows))
    return 0


def pdf_path(raw: str) -> Path:
    from injector.plots import check_output_path
    return check_output_path(raw, (".pdf",), "certificate")


def certificate_command(args: argparse.Namespace) -> int:
    from injector.certificate import certificate_data, write_pdf

    store = Store(args.db, readonly=True)
    data = certificate_data(store, args.id)
    write_pdf(data, args.out)
    if args.json:
        print_json(data | {"file": str(args.out)})
    else:
        print(f"certificate {data['certificate']} for {data['kind']} calibration "
              f"{data['calibration_id']} of {data['gun']['serial_number']}: {data['verdict']}; "
              f"written to {args.out}")
    return 0
