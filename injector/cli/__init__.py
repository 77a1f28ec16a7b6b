"""The `injector` command line: one subcommand module per job, errors as one line (one JSON
document under --json)."""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Sequence

from drivers.errors import DriverError, UnitRangeError
from drivers.urls import PortURLError
from drivers.values import ValueRefused, shown
from injector import documents
from injector.cli import (
    alarm_cmds, calibration_cmds, catalog_cmds, conformance_cmd, demo_cmd, exit_codes,
    library_cmds, metrology_cmds, record_cmds, serve_cmd, session_cmds, sim_cmd, status_cmd,
    user_cmds,
)
from injector.cli.common import OptionRefused, Parser, UsageError
from injector.cli.logs import configure_logging
from injector.cli.outcomes import ErrorKind, Interrupted, SessionEnded
from injector.errors import InjectorError, PlanError
from injector.metrology import ConditionsError, InstrumentUnusable
from injector.plots import PlotPathError
from injector.service.credentials import CredentialsError
from injector.store import RecordRefused
from injector.cli.treatment_options import SavedPlanError
from simulator.gun import NvramError
from profiles.errors import ProfileError
from simulator.faults import FaultSpecError

REFUSALS = (ProfileError, PlanError, UnitRangeError, PortURLError, FaultSpecError,
            OptionRefused, ValueRefused, PlotPathError, InstrumentUnusable, ConditionsError,
            RecordRefused, NvramError, SavedPlanError, CredentialsError)
"""Refused before anything ran: exit 3."""
FAILURES = (DriverError, InjectorError)
"""Ran and failed (device absent, refused a command, link lost): exit 1."""


def build_parser() -> Parser:
    parser = Parser(
        prog="injector",
        description="Controller for mesotherapy injector guns: presets, plans, the simulator "
                    "and treatment sessions.",
        epilog="exit codes: 0 ok, 1 failed while running, 2 bad command line, 3 refused "
               "(outside the safety envelope or a bad preset), 130 interrupted by Ctrl-C, 143 "
               "by SIGTERM, 129 by SIGHUP (the gun held and the session recorded first)")
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    catalog_cmds.register(subparsers)
    sim_cmd.register(subparsers)
    status_cmd.register(subparsers)
    session_cmds.register(subparsers)
    calibration_cmds.register(subparsers)
    metrology_cmds.register(subparsers)
    library_cmds.register(subparsers)
    alarm_cmds.register(subparsers)
    record_cmds.register(subparsers)
    demo_cmd.register(subparsers)
    conformance_cmd.register(subparsers)
    serve_cmd.register(subparsers)
    user_cmds.register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Every outcome is an exit code and at most one line on standard error (one JSON
    document under --json); an unexpected error's whole trace goes to the log file, which
    that line names."""
    log_path = configure_logging()
    argv = list(sys.argv[1:] if argv is None else argv)
    as_json = "--json" in argv              # until the command line is parsed
    try:
        args = build_parser().parse_args(argv)
        as_json = bool(getattr(args, "json", False))
        return args.handler(args)
    except UsageError as exc:
        return _error(as_json, ErrorKind.USAGE, exit_codes.USAGE, exc.message, text=str(exc))
    except REFUSALS as exc:
        return _error(as_json, ErrorKind.REFUSED, exit_codes.REFUSED, str(exc), exc)
    except FAILURES as exc:
        return _error(as_json, ErrorKind.FAILED, exit_codes.FAILED, str(exc), exc)
    except Interrupted as exc:
        return _error(as_json, ErrorKind.INTERRUPTED, exc.exit_code, str(exc),
                      text=f"injector: {exc}")
    except KeyboardInterrupt:
        return _error(as_json, ErrorKind.INTERRUPTED, exit_codes.INTERRUPTED, "interrupted",
                      text="injector: interrupted")
    except BrokenPipeError:
        return exit_codes.OK
    except Exception as exc:        # the guard: no traceback reaches a user
        logging.getLogger("injector").exception("unexpected error")
        where = f"the whole trace is in {log_path}" if log_path else "no log could be written"
        return _error(as_json, ErrorKind.UNEXPECTED, exit_codes.FAILED,
                      f"unexpected {type(exc).__name__}: {_first_line(exc)} ({where}; please "
                      "report it)", log=str(log_path) if log_path else None)


def _error(as_json: bool, kind: ErrorKind, exit_code: int, message: str,
           exc: BaseException | None = None, *, text: str | None = None,
           log: str | None = None) -> int:
    """The one place an error reaches the user: its line, or its document under --json."""
    if as_json:
        print(json.dumps(documents.error(kind.value, exit_code, message,
                                         **_details(exc), log=log)), file=sys.stderr)
    else:
        print(text or f"injector: error: {message}", file=sys.stderr)
    return exit_code


def _details(exc: BaseException | None) -> dict:
    """What an error carries that a machine can use: the value refused and its limit, the
    session that ended."""
    details: dict = {}
    value = getattr(exc, "value", None)
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        details["value"] = value
    elif value is not None:
        details["value"] = shown(value, 200)
    if isinstance(getattr(exc, "limit", None), str):
        details["limit"] = exc.limit
    if isinstance(exc, SessionEnded):
        details["session_id"] = exc.result.session_id
    return details


def _first_line(exc: Exception) -> str:
    text = str(exc).splitlines()[0] if str(exc) else "no detail"
    text = "".join(c if " " <= c <= "~" else "?" for c in text)
    return text if len(text) <= 160 else text[:157] + "..."


if __name__ == "__main__":
    sys.exit(main())
