"""`injector sim --ready-file PATH`: a JSON file naming the simulator's ports, there once
every port is served and gone once the simulator stopped, so a script waits for the file
instead of parsing lines or sleeping.

It is written whole and renamed into place: a reader never sees half a file.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from drivers.values import ValueRefused, shown
from injector.cli.common import OptionRefused

OPTION = "--ready-file"
LIMIT = "a file name in an existing folder this user can write"


def ready_file_option(raw: str) -> Path:
    """An argparse `type` for --ready-file: checked before anything is served."""
    def refuse(problem: str) -> OptionRefused:
        return OptionRefused(ValueRefused(OPTION, raw, f"{problem}; give {LIMIT}", LIMIT))

    if not raw:
        raise refuse("is empty")
    path = Path(raw)
    folder = path.parent
    if not folder.is_dir():
        raise refuse(f"the folder {shown(str(folder))} does not exist")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise refuse(f"the folder {shown(str(folder))} cannot be written")
    if path.is_dir() or path.exists() and not path.is_file():
        raise refuse("is there and is not a regular file")
    return path


def write_ready_file(path: Path, document: dict) -> None:
    """Written beside its place, flushed to the disk, then renamed over it."""
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with open(temporary, "w", encoding="utf-8") as out:
            json.dump(document, out, indent=2)
            out.write("\n")
            out.flush()
            os.fsync(out.fileno())
        os.replace(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)


def remove_ready_file(path: Path) -> None:
    """Remove the file if it is still this process's (another simulator may have taken the
    same path since)."""
    try:
        written = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return
    if isinstance(written, dict) and written.get("pid") == os.getpid():
        path.unlink(missing_ok=True)
