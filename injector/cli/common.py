"""Pieces every subcommand shares: the catalog options and JSON output."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

from profiles import Catalog, load_catalog

PRESETS_DIR_ENV = "INJECTOR_PRESETS_DIR"


def add_catalog_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--presets-dir", action="append", type=Path, default=[],
                        metavar="DIR",
                        help=f"also load a technician's presets from DIR (repeatable; "
                             f"${PRESETS_DIR_ENV} adds more, separated by '{os.pathsep}')")


def catalog_from(args: argparse.Namespace) -> Catalog:
    dirs = [Path(p) for p in os.environ.get(PRESETS_DIR_ENV, "").split(os.pathsep) if p]
    return load_catalog([*dirs, *args.presets_dir])


def print_json(data: Any) -> None:
    json.dump(data, sys.stdout, indent=2, sort_keys=False)
    sys.stdout.write("\n")


def format_table(headers: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(headers)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(headers, widths)).rstrip(),
             "  ".join("-" * w for w in widths)]
    lines += ["  ".join(c.ljust(w) for c, w in zip(row, widths)).rstrip() for row in rows]
    return "\n".join(lines)
