"""Drivers opened from a URL, so callers never care which bridge is underneath.

    serial:///dev/pts/3?baud=115200&timeout_ms=50&retries=10   (or a bare device path)
    modbus-tcp://127.0.0.1:1502?unit=1&timeout_ms=60
    modbus-rtu:///dev/ttyUSB0?baud=115200&parity=E&stopbits=1&unit=1&timeout_ms=60
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass
from types import MappingProxyType
from urllib.parse import parse_qsl, urlsplit

from drivers.core import DriverCore
from drivers.driver import Driver
from drivers.errors import DriverError
from drivers.modbus_link import modbus_driver
from drivers.serial_link import serial_driver
from drivers.values import Quantity, ValueRefused, quoted
from drivers.transport import open_serial_port


class PortURLError(DriverError, ValueError):
    def __init__(self, url: object, reason: str) -> None:
        self.url = url
        super().__init__(f"port {quoted(url, 120)}: {reason}")


@dataclass(frozen=True)
class PortURL:
    scheme: str
    location: str
    """A device path, or HOST:PORT."""
    params: MappingProxyType

    @classmethod
    def parse(cls, url: str) -> PortURL:
        if not isinstance(url, str) or not url:
            raise PortURLError(url, "give a port: a device path or a URL such as "
                                    "serial:///dev/ttyUSB0, modbus-tcp://HOST:PORT or sim://")
        if any(not " " < c <= "~" for c in url) or len(url) > 1024:
            raise PortURLError(url, "holds characters a port never has (spaces, control "
                                    "characters or non-ASCII)")
        if url.startswith("/"):
            return cls("serial", url, MappingProxyType({}))
        parts = urlsplit(url)
        if not parts.scheme:
            raise PortURLError(url, "not a URL or an absolute device path")
        if parts.fragment:
            raise PortURLError(url, "a port has no #fragment")
        pairs = parse_qsl(parts.query, keep_blank_values=True)
        params = dict(pairs)
        if len(params) != len(pairs):
            repeated = next(name for name, _ in pairs if [n for n, _ in pairs].count(name) > 1)
            raise PortURLError(url, f"{repeated} is given twice; give each parameter once")
        for name, value in params.items():
            if any(not " " <= c <= "~" for c in name + value):
                raise PortURLError(url, f"{name} holds a control or non-ASCII character")
        location = parts.netloc + parts.path
        if parts.scheme == "sim" and (parts.path or "@" in parts.netloc or ":" in parts.netloc):
            raise PortURLError(url, "sim:// takes no path, port or user; give sim://, "
                                    "sim://?PARAMETER=VALUE or sim://NAME (a named gun)")
        if parts.scheme in ("serial", "modbus-rtu") and (parts.netloc
                                                         or not parts.path.startswith("/")):
            raise PortURLError(url, f"expected {parts.scheme}:///dev/... (an absolute device "
                                    "path after three slashes)")
        return cls(parts.scheme, location, MappingProxyType(params))

    def number(self, name: str, default: float, low: float, high: float, url: str) -> float:
        raw = self.params.get(name)
        if raw is None:
            return default
        try:
            return Quantity(name, "", low, high).check(raw)
        except ValueRefused as refused:
            raise PortURLError(url, str(refused)) from None


SERIAL_PARAMS = frozenset({"baud", "timeout_ms", "retries"})


MODBUS_PARAMS = frozenset({"unit", "timeout_ms", "retries", "baud", "parity", "stopbits"})
RTU_ONLY = ("baud", "parity", "stopbits")
PARITIES = ("E", "N", "O")
"""Modbus over serial line: even parity by default (the specification's 8E1); none needs two
stop bits by the specification, but is accepted with one, as most devices do."""
SCHEMES = ("serial", "modbus-tcp", "modbus-rtu")


def _check_params(url: str, parsed: PortURL, known: frozenset[str]) -> None:
    unknown = set(parsed.params) - known
    if unknown:
        raise PortURLError(url, f"unknown parameter {sorted(unknown)[0]!r} (known: "
                                f"{', '.join(sorted(known))})")
    if not parsed.location:
        raise PortURLError(url, "no device path or address")


def check_device(url: str, path: str, what: str = "the gun") -> None:
    """Refuse, before anything is created or opened, a device path that cannot be a serial
    port: one that does not exist, or a file, folder or FIFO."""
    try:
        mode = os.stat(path).st_mode
    except OSError:
        raise PortURLError(url, f"no such device: check that {what} is connected and the path "
                                "is right (ls /dev/ttyUSB* /dev/ttyACM*)") from None
    if not stat.S_ISCHR(mode):
        raise PortURLError(url, f"not a serial device (a {_kind(mode)}): give {what}'s "
                                "device, e.g. /dev/ttyUSB0")


def _kind(mode: int) -> str:
    return ("folder" if stat.S_ISDIR(mode) else "FIFO" if stat.S_ISFIFO(mode)
            else "socket" if stat.S_ISSOCK(mode) else "regular file" if stat.S_ISREG(mode)
            else "block device")


def check_url(url: str) -> None:
    """Every check `open_url_driver` makes, building nothing (no event loop needed)."""
    open_url_driver(url, check_only=True)


def open_url_driver(url: str, *, check_only: bool = False) -> Driver | None:
    """The driver for a serial or Modbus URL; a device path is checked at once."""
    parsed = PortURL.parse(url)
    if parsed.scheme in ("serial", "modbus-rtu"):
        check_device(url, parsed.location)
    if parsed.scheme == "serial":
        return open_serial_driver(url, check_only=check_only)
    if parsed.scheme in ("modbus-tcp", "modbus-rtu"):
        return open_modbus_driver(url, parsed, check_only=check_only)
    raise PortURLError(url, f"unknown scheme {parsed.scheme!r} (known: "
                            f"{', '.join(s + '://' for s in SCHEMES)}, or a device path)")


def open_modbus_driver(url: str, parsed: PortURL, *, check_only: bool = False
                       ) -> DriverCore | None:
    from pymodbus.client import AsyncModbusSerialClient, AsyncModbusTcpClient

    _check_params(url, parsed, MODBUS_PARAMS)
    unit = int(parsed.number("unit", 1, 1, 247, url))
    timeout_s = parsed.number("timeout_ms", 60, 5, 10_000, url) / 1000
    retries = int(parsed.number("retries", 3, 0, 100, url))
    if parsed.scheme == "modbus-tcp":
        host, _, port = parsed.location.rpartition(":")
        if not host or not port.isdigit() or not 0 < int(port) < 65536:
            raise PortURLError(url, "expected modbus-tcp://HOST:PORT")
        for name in RTU_ONLY:
            if name in parsed.params:
                raise PortURLError(url, f"{name} is for modbus-rtu")

        def client():
            return AsyncModbusTcpClient(host, port=int(port), timeout=timeout_s, retries=0)
    else:
        baud = int(parsed.number("baud", 115_200, 1_200, 4_000_000, url))
        parity = parsed.params.get("parity", "E").upper()
        if parity not in PARITIES:
            raise PortURLError(url, f"parity={parity!r} is not one of {', '.join(PARITIES)}")
        stopbits = int(parsed.number("stopbits", 1, 1, 2, url))

        def client():
            return AsyncModbusSerialClient(parsed.location, baudrate=baud, parity=parity,
                                           stopbits=stopbits, timeout=timeout_s, retries=0)
    if check_only:
        return None
    return modbus_driver(client, name=parsed.location, unit=unit, retries=retries,
                         timeout_s=timeout_s)


def open_serial_driver(url: str, *, check_only: bool = False) -> DriverCore | None:
    parsed = PortURL.parse(url)
    if parsed.scheme != "serial":
        raise PortURLError(url, f"unknown scheme {parsed.scheme!r} (known: serial://, or a "
                                "device path)")
    _check_params(url, parsed, SERIAL_PARAMS)
    baud = int(parsed.number("baud", 115_200, 1_200, 4_000_000, url))
    timeout_s = parsed.number("timeout_ms", 50, 1, 10_000, url) / 1000
    retries = int(parsed.number("retries", 10, 0, 100, url))
    if check_only:
        return None
    return serial_driver(lambda: open_serial_port(parsed.location, baud), name=parsed.location,
                         reply_timeout_s=timeout_s, retries=retries)
