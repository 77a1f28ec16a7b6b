"""The `injector` command line: one subcommand module per job, errors as one line."""

from __future__ import annotations

import logging
import sys
from collections.abc import Sequence

from drivers.errors import DriverError, UnitRangeError
from drivers.urls import PortURLError
from drivers.values import ValueRefused
from injector.cli.common import OptionRefused, Parser, UsageError
from injector.cli.logs import configure_logging
from injector.cli import (
    alarm_cmds, calibration_cmds, record_cmds, catalog_cmds, demo_cmd, device_cmds, exit_codes,
    metrology_cmds, serve_cmd, session_cmds, user_cmds,
)
from injector.errors import InjectorError, PlanError
from injector.metrology import ConditionsError, InstrumentUnusable
from injector.plots import PlotPathError
from injector.service.credentials import CredentialsError
from injector.store import RecordRefused
from simulator.gun import NvramError
from profiles.errors import ProfileError
from simulator.faults import FaultSpecError

REFUSALS = (ProfileError, PlanError, UnitRangeError, PortURLError, FaultSpecError,
            OptionRefused, ValueRefused, PlotPathError, InstrumentUnusable, ConditionsError,
            RecordRefused, NvramError, CredentialsError)
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
    device_cmds.register(subparsers)
    session_cmds.register(subparsers)
    calibration_cmds.register(subparsers)
    metrology_cmds.register(subparsers)
    alarm_cmds.register(subparsers)
    record_cmds.register(subparsers)
    demo_cmd.register(subparsers)
    serve_cmd.register(subparsers)
    user_cmds.register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Every outcome is an exit code and at most one line on standard error; an unexpected
    error's whole trace goes to the log file, which that line names."""
    log_path = configure_logging()
    try:
        args = build_parser().parse_args(argv)
        return args.handler(args)
    except UsageError as exc:
        print(exc, file=sys.stderr)
        return exit_codes.USAGE
    except REFUSALS as exc:
        print(f"injector: error: {exc}", file=sys.stderr)
        return exit_codes.REFUSED
    except FAILURES as exc:
        print(f"injector: error: {exc}", file=sys.stderr)
        return exit_codes.FAILED
    except KeyboardInterrupt:
        print("injector: interrupted", file=sys.stderr)
        return exit_codes.INTERRUPTED
    except BrokenPipeError:
        return exit_codes.OK
    except Exception as exc:        # the guard: no traceback reaches a user
        logging.getLogger("injector").exception("unexpected error")
        where = f"the whole trace is in {log_path}" if log_path else "no log could be written"
        print(f"injector: error: unexpected {type(exc).__name__}: {_first_line(exc)} "
              f"({where}; please report it)", file=sys.stderr)
        return exit_codes.FAILED


def _first_line(exc: Exception) -> str:
    text = str(exc).splitlines()[0] if str(exc) else "no detail"
    text = "".join(c if " " <= c <= "~" else "?" for c in text)
    return text if len(text) <= 160 else text[:157] + "..."


if __name__ == "__main__":
    sys.exit(main())
