"""The machine output: every JSON document the command line prints or writes, built here so
that each carries `schema_version` and one name per concept (`session_id` for a session,
`serial_number` for a gun), as published in docs/schemas/."""

from __future__ import annotations

from simulator.serve import ServedPorts

SCHEMA_VERSION = 1
"""Raised when a document changes incompatibly (a key renamed, removed or retyped); a new
key is not a new version."""


def sim_ready(ports: ServedPorts, pid: int) -> dict:
    """`injector sim --ready-file`: each port as the URL `--port` takes (the instruments as
    the paths `--balance` and `--gauge` take), None for a port not served. The RTU pty is
    8N1 (a pty has no parity to set, simulator/modbus_server.py), so its URL says so."""
    return {
        "schema_version": SCHEMA_VERSION,
        "serial_number": ports.serial_number,
        "pid": pid,
        "serial": ports.serial,
        "modbus_rtu": f"modbus-rtu://{ports.modbus_rtu}?parity=N" if ports.modbus_rtu else None,
        "modbus_tcp": f"modbus-tcp://{ports.modbus_tcp}" if ports.modbus_tcp else None,
        "balance": ports.balance,
        "gauge": ports.gauge,
    }
