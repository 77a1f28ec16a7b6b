"""`injector serve`: the guns' controllers as a resident service (injector/service/)."""

from __future__ import annotations

import argparse
import asyncio
from pathlib import Path

from drivers.urls import PortURL, PortURLError
from injector import inputs
from drivers.values import ValueRefused
from injector.cli.common import (
    OptionRefused, add_catalog_options, add_value, preset_dirs, typed,
)
from injector.cli.session_cmds import add_db_option
from injector.ports import gun_options_from


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "serve", help="run the device service: HTTP API and WebSocket events",
        description="Keep each gun's controller connected and supervised, and serve the "
                    "versioned HTTP API under /api/v1/ (its OpenAPI document at "
                    "/api/v1/openapi.json) and the WebSocket /api/v1/events. Prints the base "
                    "URL as the first line on standard output. Every route but the document "
                    "and the sign-in needs a user (injector user add) or an API key "
                    "(injector apikey add). SIGTERM or Ctrl-C holds the guns, records any "
                    "session as interrupted, and exits 0.",
        epilog="example: injector serve --port /dev/ttyACM0 --listen 127.0.0.1:8080")
    add_catalog_options(p)
    add_db_option(p)
    p.add_argument("--port", action="append", metavar="URL",
                   help="a gun's port, as for injector run (repeatable, one controller each; "
                        "default: one simulated gun, sim://)")
    p.add_argument("--listen", type=typed(inputs.LISTEN, "--listen"), metavar="HOST:PORT",
                   default=("127.0.0.1", 0),
                   help=f"where to listen ({inputs.LISTEN.limit}; default 127.0.0.1:0, this "
                        "machine only, a free port)")
    add_value(p, "--token-minutes", inputs.TOKEN_MINUTES, "a sign-in ends after this long "
              "unused", default=30)
    p.set_defaults(handler=serve_command)


def port_url(raw: str) -> str:
    """A gun's port, checked before anything opens (a simulator's options too)."""
    try:
        text = inputs.FILE_PATH.check(raw)
    except ValueRefused as refused:
        raise OptionRefused(ValueRefused("--port", raw, refused.problem,
                                         refused.limit)) from None
    parsed = PortURL.parse(text)
    if parsed.scheme == "sim":
        gun_options_from(text, parsed)
    return text


def serve_command(args: argparse.Namespace) -> int:
    from injector.service.config import ServiceConfig
    from injector.service.runtime import serve

    ports = tuple(port_url(port) for port in args.port or ("sim://",))
    if len(set(ports)) != len(ports):
        duplicate = next(p for p in ports if ports.count(p) > 1)
        raise PortURLError(duplicate, "given twice: one controller per gun")
    host, port = args.listen
    config = ServiceConfig(ports=ports, host=host, port=port,
                           db=Path(args.db) if args.db else None,
                           presets_dirs=tuple(preset_dirs(args)), token_minutes=args.token_minutes)
    return asyncio.run(serve(config))
