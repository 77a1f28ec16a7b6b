"""`injector library` (the limits in force, their kind, value and source) and `injector
overrides` (every session that passed a soft limit or a contraindication, and why)."""

from __future__ import annotations

import argparse
from pathlib import Path

from injector import inputs
from injector.cli.common import UsageError, add_value, format_table, print_json, typed_path
from injector.store import Store, default_db_path
from profiles.library import CLINIC_ENV, limit_rows, load_library


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "library", help="the technique library: version, hash and every limit",
        description="Every hard and soft limit of the technique library, per technique and "
                    "zone, with its value, its step and its source.",
        epilog="example: injector library --json")
    from injector.cli.session_cmds import add_db_option
    p.add_argument("--sign", metavar="FILE.toml", type=typed_path(
        lambda raw: Path(inputs.FILE_PATH.check(raw)), "--sign"),
        help="sign a clinic's own limits file (it may narrow, never widen a hard limit): "
             "recorded with --person and the diff from the last one; sessions then run under "
             "it when $INJECTOR_CLINIC_LIMITS names it")
    add_value(p, "--person", inputs.PERSON, "the technician who signs (recorded)")
    add_db_option(p)
    p.add_argument("--json", action="store_true")
    p.set_defaults(handler=library_command)

    p = subparsers.add_parser(
        "overrides", help="the report of sessions that passed a soft limit",
        description="Every session that passed a soft limit or a contraindication: who, why "
                    "and what.", epilog="example: injector overrides --json")
    add_db_option(p)
    p.add_argument("--json", action="store_true")
    p.set_defaults(handler=overrides_command)


def library_command(args: argparse.Namespace) -> int:
    if args.sign is not None:
        return sign_command(args)
    library = load_library()
    rows = limit_rows(library)
    if args.json:
        print_json({"version": library.version, "hash": library.hash, "limits": rows})
        return 0
    print(f"library {library.version} ({library.hash}): soft limits pass only with "
          "--override REASON --person NAME; hard limits never")
    print(format_table(["scope", "limit", "soft", "hard", "step", "source"],
                       [[r["scope"], r["limit"], f"{r['soft'][0]:g} to {r['soft'][1]:g}",
                         f"{r['hard'][0]:g} to {r['hard'][1]:g}", f"{r['step']:g}",
                         r["source"][:60]] for r in rows]))
    return 0


def overrides_command(args: argparse.Namespace) -> int:
    path = Path(args.db) if args.db else default_db_path()
    items = Store(path, readonly=True).overrides() if path.exists() else []
    if args.json:
        print_json(items)
        return 0
    if not items:
        print("no overrides recorded")
        return 0
    print(format_table(["session", "started", "by", "preset", "zone", "passed", "reason"],
                       [[str(o["session_id"]), o["started_at"][:19], o["person"], o["preset"],
                         o["zone"], ", ".join([c["limit"] for c in o["limits"]]
                                              + o["contraindications"]), o["reason"]]
                        for o in items]))
    print(f"{len(items)} session(s) with an override")
    return 0


def sign_command(args: argparse.Namespace) -> int:
    if not args.person:
        raise UsageError("injector library", "--sign needs --person NAME, the technician "
                                             "who signs")
    library = load_library(clinic=args.sign)       # refused here if it widens a hard limit
    store = Store(args.db)
    try:
        change_id = store.record_library_change(
            library_hash=library.hash, version=library.version, text=library.clinic_text,
            person=args.person).result()
        change = store.library_changes()[0]
    finally:
        store.close()
    if args.json:
        print_json({"change_id": change_id, "version": library.version, "hash": library.hash,
                    "person": args.person, "diff": change["diff"]})
        return 0
    print(f"clinic library {library.version} ({library.hash}) signed by {args.person}; "
          f"sessions run under it where ${CLINIC_ENV} names {args.sign}")
    print(change["diff"] or "(no change from the last signed)", end="")
    return 0
