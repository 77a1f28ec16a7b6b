"""`injector record verify`: is the record whole and unchanged?"""

from __future__ import annotations

import argparse

from injector import documents
from injector.cli import exit_codes
from injector.cli.common import print_json
from injector.cli.session_cmds import add_db_option
from injector.store import Store


def register(subparsers) -> None:
    p = subparsers.add_parser("record", help="the record itself: verify it",
                              description="Check the record: ours, current, every append-only "
                                          "trigger in place, every row's hash chain whole.")
    actions = p.add_subparsers(dest="action", required=True, metavar="ACTION")
    verify = actions.add_parser("verify", help="check the triggers and the hash chains",
                                epilog="example: injector record verify --db clinic.db")
    add_db_option(verify)
    verify.add_argument("--json", action="store_true")
    verify.set_defaults(handler=verify_command)


def verify_command(args: argparse.Namespace) -> int:
    store = Store(args.db, readonly=True)
    report = store.verify()
    problem = report.problem
    if args.json:
        print_json(documents.record_check(store.path, report))
    elif problem is None:
        print(f"record {store.path}: intact ({report.rows} rows in {report.tables} tables, "
              "chain ok)")
    else:
        where = f"{problem.table} row {problem.rowid}" if problem.rowid else problem.table
        print(f"record {store.path}: NOT intact: {where}: {problem.what}")
    return exit_codes.OK if report.intact else exit_codes.FAILED
