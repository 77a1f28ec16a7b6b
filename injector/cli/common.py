"""Pieces every subcommand shares: the parser, typed options, the catalog options and JSON
output."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

from drivers.values import NumberList, Quantity, Text, ValueRefused
from profiles import Catalog, load_catalog

PRESETS_DIR_ENV = "INJECTOR_PRESETS_DIR"


class UsageError(Exception):
    """The command line itself is wrong (an unknown option, a missing one): exit 2."""

    def __init__(self, prog: str, message: str) -> None:
        self.prog, self.message = prog, f"{message} (see {prog} --help)"
        super().__init__(f"{prog}: error: {self.message}")


class OptionRefused(Exception):
    """An option's value outside its definition (injector/inputs.py): exit 3. Not a
    ValueError, which argparse would turn into its own usage text."""

    def __init__(self, refused: ValueRefused) -> None:
        self.refused, self.value, self.limit = refused, refused.value, refused.limit
        super().__init__(str(refused))


class StoreOnce(argparse._StoreAction):
    """An option given twice is a mistake to say, not a last value to keep silently
    (`--shots 3 --shots 1000` would run a thousand)."""

    def __call__(self, parser, namespace, values, option_string=None):
        if option_string is not None and self.dest in getattr(namespace, "_given", set()):
            raise UsageError(parser.prog, f"{option_string} is given twice; give it once")
        given = getattr(namespace, "_given", set())
        given.add(self.dest)
        setattr(namespace, "_given", given)
        super().__call__(parser, namespace, values, option_string)


class Parser(argparse.ArgumentParser):
    """argparse, with its errors as one line instead of a usage block, and each option
    given at most once."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.register("action", None, StoreOnce)
        self.register("action", "store", StoreOnce)

    def error(self, message: str):
        raise UsageError(self.prog, message)

    def _get_values(self, action, arg_strings):
        # argparse drops a "--" it is given as a value (`--port=--`) and hands the command an
        # empty list, unchecked; here it stays the text "--", checked like any other value.
        if action.nargs is None and arg_strings == ["--"]:
            return self._get_value(action, "--")
        return super()._get_values(action, arg_strings)


def typed(kind: Quantity | NumberList | Text, option: str):
    """An argparse `type` that checks a value against its definition, naming the option."""
    return typed_path(kind.check, option, kind.name)


def typed_path(check, option: str, name: str = "path"):
    """An argparse `type` from any check: a ValueRefused names the option. (Not a
    ValueError out of argparse, which would turn it into its own usage text.)"""
    def parse(raw: str):
        try:
            return check(raw)
        except ValueRefused as refused:
            raise OptionRefused(ValueRefused(option, refused.value, refused.problem,
                                             refused.limit)) from None
    parse.__name__ = name
    return parse


def _plot_path(raw: str) -> Path:
    from injector import inputs
    from injector.plots import check_plot_path
    return check_plot_path(inputs.FILE_PATH.check(raw))


plot_option = typed_path(_plot_path, "--plot")
"""An argparse `type` for --plot: checked before anything runs (injector/plots.py)."""


async def open_port_and_record(port: str, db: str | None):
    """(driver, embedded gun or None, store): the port's URL and a simulator's options are
    checked first, so a bad port never creates a record; nothing is connected yet."""
    from injector.ports import open_driver
    from injector.store import Store

    driver, gun = open_driver(port)
    try:
        return driver, gun, Store(db)
    except BaseException:
        if gun is not None:
            await gun.aclose()
        raise


def add_value(parser, option: str, kind: Quantity | NumberList | Text, help: str = "",
              **options) -> None:
    """An option checked through `kind`; its help ends with the limit."""
    limit = f"{kind.limit}" + (f"; default {options['default']}" if options.get("default")
                               is not None else "")
    parser.add_argument(option, type=typed(kind, option),
                        help=f"{help} ({limit})" if help else limit, **options)


def add_catalog_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--presets-dir", action="append", type=Path, default=[],
                        metavar="DIR",
                        help=f"also load a technician's presets from DIR (repeatable; "
                             f"${PRESETS_DIR_ENV} adds more, separated by '{os.pathsep}')")


def preset_dirs(args: argparse.Namespace) -> list[Path]:
    dirs = [Path(p) for p in os.environ.get(PRESETS_DIR_ENV, "").split(os.pathsep) if p]
    return [*dirs, *args.presets_dir]


def catalog_from(args: argparse.Namespace) -> Catalog:
    return load_catalog(preset_dirs(args))


def print_json(data: Any) -> None:
    json.dump(data, sys.stdout, indent=2, sort_keys=False)
    sys.stdout.write("\n")


def format_table(headers: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(headers)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(headers, widths)).rstrip(),
             "  ".join("-" * w for w in widths)]
    lines += ["  ".join(c.ljust(w) for c, w in zip(row, widths)).rstrip() for row in rows]
    return "\n".join(lines)
