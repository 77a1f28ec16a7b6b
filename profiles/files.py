"""Reading catalog files and preset directories without trusting them.

A preset directory is given by a technician and may hold anything: a FIFO (opening it blocks
forever), a symbolic link to /dev/zero (reading it fills the memory), a serial port (opening
it can reset the device behind it), a huge file, arrays nested deep enough to exhaust
tomllib's recursion, or integers of thousands of digits. Each of these is refused here with one
line naming the file, before it can hang, exhaust or crash the process.
"""

from __future__ import annotations

import os
import stat
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from profiles.errors import PresetFileError


@dataclass(frozen=True)
class FileLimits:
    """Bounds on what the catalog reads; generous for real presets (the largest built-in file
    is about 2 KB, the deepest nesting 3 levels)."""

    max_file_bytes: int = 64 * 1024
    max_dir_entries: int = 256
    """Entries of any kind in one preset directory, so listing it stays cheap."""
    max_nesting: int = 8
    """Tables and arrays inside one another."""


FILE_LIMITS = FileLimits()


def _kind(mode: int) -> str:
    for test, name in ((stat.S_ISDIR, "a directory"), (stat.S_ISFIFO, "a FIFO"),
                       (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"),
                       (stat.S_ISSOCK, "a socket")):
        if test(mode):
            return name
    return "not a regular file"


def _stat(path: Path, source: str) -> os.stat_result:
    try:
        return os.stat(path)
    except FileNotFoundError:
        raise PresetFileError("does not exist (or is a broken link)", source=source) from None
    except OSError as exc:
        raise PresetFileError(f"cannot be read: {exc.strerror}", source=source) from None


def read_bytes(path: Path, source: str, limits: FileLimits = FILE_LIMITS) -> bytes:
    """The bytes of a regular file of at most `limits.max_file_bytes`.

    The type is checked before opening (opening a FIFO blocks, opening a tty can reset what is
    behind it; a symbolic link is followed to its target, which must be a regular file), and
    again on the open descriptor, opened without blocking, in case the file was swapped in
    between. The read itself is bounded: /proc files and growing files lie about their size.
    """
    info = _stat(path, source)
    if not stat.S_ISREG(info.st_mode):
        raise PresetFileError(f"is {_kind(info.st_mode)}; only regular files are read",
                              source=source)
    limit = limits.max_file_bytes
    if info.st_size > limit:
        raise PresetFileError(f"is {info.st_size} bytes, over the {limit}-byte limit",
                              source=source)
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY | getattr(os, "O_CLOEXEC", 0))
    except OSError as exc:
        raise PresetFileError(f"cannot be read: {exc.strerror}", source=source) from None
    with os.fdopen(fd, "rb") as file:
        mode = os.fstat(file.fileno()).st_mode
        if not stat.S_ISREG(mode):
            raise PresetFileError(f"is {_kind(mode)}; only regular files are read",
                                  source=source)
        try:
            data = file.read(limit + 1)
        except OSError as exc:
            raise PresetFileError(f"cannot be read: {exc.strerror}", source=source) from None
    if len(data) > limit:
        raise PresetFileError(f"is over the {limit}-byte limit", source=source)
    return data


def _nesting(value: Any) -> int:
    """How many tables and arrays are inside one another, counted without recursion."""
    deepest = 0
    todo = [(value, 1)]
    while todo:
        item, depth = todo.pop()
        if isinstance(item, dict):
            children = item.values()
        elif isinstance(item, list):
            children = item
        else:
            continue
        deepest = max(deepest, depth)
        todo.extend((child, depth + 1) for child in children)
    return deepest


def read_toml(path: Path, source: str, limits: FileLimits = FILE_LIMITS) -> dict[str, Any]:
    """A catalog file parsed as TOML, or PresetFileError in one line naming `source`."""
    data = read_bytes(path, source, limits)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise PresetFileError(f"is not UTF-8 text: byte 0x{data[exc.start]:02x} at offset "
                              f"{exc.start}", source=source) from None
    try:
        parsed = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise PresetFileError(f"not valid TOML: {exc}", source=source) from None
    except ValueError:              # an integer past the interpreter's 4300-digit limit
        raise PresetFileError("not valid TOML: a number too long to read",
                              source=source) from None
    except RecursionError:
        raise PresetFileError(f"nested deeper than {limits.max_nesting} levels",
                              source=source) from None
    if _nesting(parsed) > limits.max_nesting:
        raise PresetFileError(f"nested deeper than {limits.max_nesting} levels", source=source)
    return parsed


def preset_files(directory: Path, limits: FileLimits = FILE_LIMITS) -> list[Path]:
    """The `*.toml` files of a technician's preset directory, by name; hidden ones skipped.

    The directory must be one (a link to one is followed) and hold at most
    `limits.max_dir_entries` entries; nothing in it is opened here.
    """
    source = str(directory)
    info = _stat(directory, source)
    if not stat.S_ISDIR(info.st_mode):
        raise PresetFileError(f"is {_kind(info.st_mode)}, not a preset directory",
                              source=source)
    found: list[Path] = []
    try:
        with os.scandir(directory) as entries:
            for count, entry in enumerate(entries, start=1):
                if count > limits.max_dir_entries:
                    raise PresetFileError(
                        f"holds more than {limits.max_dir_entries} entries; a preset "
                        f"directory holds presets only", source=source)
                if entry.name.endswith(".toml") and not entry.name.startswith("."):
                    found.append(directory / entry.name)
    except OSError as exc:
        raise PresetFileError(f"cannot be listed: {exc.strerror}", source=source) from None
    return sorted(found, key=lambda p: p.name)
