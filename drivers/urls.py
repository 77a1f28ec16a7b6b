"""Drivers opened from a URL, so callers never care which bridge is underneath.

    serial:///dev/pts/3?baud=115200     or a bare device path: /dev/ttyACM0
"""

from __future__ import annotations

from dataclasses import dataclass
from types import MappingProxyType
from urllib.parse import parse_qsl, urlsplit

from drivers.errors import DriverError
from drivers.serial_driver import SerialDriver
from drivers.transport import open_serial_port


class PortURLError(DriverError, ValueError):
    def __init__(self, url: str, reason: str) -> None:
        self.url = url
        super().__init__(f"port {url!r}: {reason}")


@dataclass(frozen=True)
class PortURL:
    scheme: str
    location: str
    """A device path, or HOST:PORT."""
    params: MappingProxyType

    @classmethod
    def parse(cls, url: str) -> PortURL:
        if url.startswith("/"):
            return cls("serial", url, MappingProxyType({}))
        parts = urlsplit(url)
        if not parts.scheme:
            raise PortURLError(url, "not a URL or an absolute device path")
        params = dict(parse_qsl(parts.query, keep_blank_values=True))
        location = parts.netloc + parts.path
        return cls(parts.scheme, location, MappingProxyType(params))

    def number(self, name: str, default: float, low: float, high: float, url: str) -> float:
        raw = self.params.get(name)
        if raw is None:
            return default
        try:
            value = float(raw)
        except ValueError:
            raise PortURLError(url, f"{name}={raw!r} is not a number") from None
        if not low <= value <= high:
            raise PortURLError(url, f"{name}={raw} is outside {low:g} to {high:g}")
        return value


SERIAL_PARAMS = frozenset({"baud", "timeout_ms", "retries"})


def open_serial_driver(url: str) -> SerialDriver:
    parsed = PortURL.parse(url)
    if parsed.scheme != "serial":
        raise PortURLError(url, f"unknown scheme {parsed.scheme!r} (known: serial://, or a "
                                "device path)")
    unknown = set(parsed.params) - SERIAL_PARAMS
    if unknown:
        raise PortURLError(url, f"unknown parameter {sorted(unknown)[0]!r} (known: "
                                f"{', '.join(sorted(SERIAL_PARAMS))})")
    if not parsed.location:
        raise PortURLError(url, "no device path")
    baud = int(parsed.number("baud", 115_200, 1_200, 4_000_000, url))
    timeout_s = parsed.number("timeout_ms", 50, 1, 10_000, url) / 1000
    retries = int(parsed.number("retries", 10, 0, 100, url))
    return SerialDriver(lambda: open_serial_port(parsed.location, baud), name=parsed.location,
                        reply_timeout_s=timeout_s, retries=retries)
