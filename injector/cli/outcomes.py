"""What ends a command other than success, raised where it is known and reported by main()
in one place: one line on standard error, or one JSON document there under --json."""

from __future__ import annotations

from enum import Enum

from injector.errors import InjectorError
from injector.session import SessionResult


class ErrorKind(Enum):
    """The exit code's meaning, as the error document names it."""

    USAGE = "usage"                 # 2: the command line itself is wrong
    REFUSED = "refused"             # 3: refused before anything ran
    FAILED = "failed"               # 1: ran and failed
    INTERRUPTED = "interrupted"     # 128 + the signal: stopped, the gun held first
    UNEXPECTED = "unexpected"       # 1: a fault of this program, its trace in the log


class SessionEnded(InjectorError):
    """A session that ended without giving every shot (an alarm, an interlock, the link):
    exit 1. Carries the result, already reported."""

    def __init__(self, result: SessionResult) -> None:
        self.result = result
        super().__init__(f"session {result.session_id} {result.status}: {result.reason}")


class Interrupted(Exception):
    """Stopped by Ctrl-C or a stop signal: exit 128 + the signal's number."""

    def __init__(self, exit_code: int, message: str) -> None:
        self.exit_code = exit_code
        super().__init__(message)
