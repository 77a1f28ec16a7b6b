"""Where the command line's diagnostics go: a log file, never the user's terminal.

A user sees one line per problem on standard error; the detail (the drivers' warnings, the
frames at debug level, the whole trace of an unexpected error) goes to the log, whose path
the one line names when it matters.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

LOG_ENV = "INJECTOR_LOG"
MAX_BYTES = 5_000_000


def default_log_path() -> Path:
    if os.environ.get(LOG_ENV):
        return Path(os.environ[LOG_ENV])
    base = Path(os.environ.get("XDG_STATE_HOME") or Path.home() / ".local" / "state")
    return base / "injector" / "injector.log"


def configure_logging() -> Path | None:
    """Send every log record to the log file (rotated at 5 MB); none to the terminal. The
    path, or None when no log can be written (a read-only home): then nothing is logged."""
    from logging.handlers import RotatingFileHandler

    logging.raiseExceptions = False     # a log that cannot be written is not the user's error
    root = logging.getLogger()
    root.handlers.clear()
    root.setLevel(logging.INFO)
    path = default_log_path()
    try:
        if path.exists() and not path.is_file():
            raise OSError(f"{path} is not a regular file")    # /dev/full holds no trace
        path.parent.mkdir(parents=True, exist_ok=True)
        handler: logging.Handler = RotatingFileHandler(path, maxBytes=MAX_BYTES, backupCount=2,
                                                       encoding="utf-8")
    except OSError:
        handler, path = logging.NullHandler(), None
    handler.setFormatter(logging.Formatter("%(asctime)s %(process)d %(name)s %(levelname)s "
                                           "%(message)s"))
    root.addHandler(handler)
    logging.captureWarnings(True)
    return path
