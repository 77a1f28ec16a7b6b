"""Byte transports under the framed protocol: a serial port on the asyncio loop, or an
in-memory pipe (for an embedded simulator, like pyserial's loop://).

Reads take whatever is waiting when the loop reports the descriptor readable, never a byte
at a time. Writes never block the loop: what the port does not take at once is queued and
drained when it becomes writable; an urgent write goes ahead of anything still queued.
"""

from __future__ import annotations

import asyncio
import errno
import logging
import os
from collections import deque
from collections.abc import Callable
from typing import Protocol

import serial

from drivers.errors import DriverError

DataCallback = Callable[[bytes], None]
LostCallback = Callable[[Exception | None], None]


class TransportError(DriverError):
    """The port could not be opened, or failed under us."""


class ByteTransport(Protocol):
    def start(self, on_data: DataCallback, on_lost: LostCallback) -> None: ...
    def write(self, data: bytes, *, urgent: bool = False) -> None: ...
    def close(self) -> None: ...

    @property
    def bytes_written(self) -> int: ...

    @property
    def bytes_read(self) -> int: ...


class FdTransport:
    """A non-blocking file descriptor (a serial port, a pty master) driven by the loop."""

    def __init__(self, fd: int, closer: Callable[[], None], name: str) -> None:
        self.name = name
        self._fd = fd
        self._closer = closer
        os.set_blocking(fd, False)
        self._loop = asyncio.get_running_loop()
        self._pending: deque[bytes] = deque()
        self._on_data: DataCallback | None = None
        self._on_lost: LostCallback | None = None
        self._writing = False
        self._closed = False
        self.bytes_written = 0
        self.bytes_read = 0

    def start(self, on_data: DataCallback, on_lost: LostCallback) -> None:
        self._on_data, self._on_lost = on_data, on_lost
        self._loop.add_reader(self._fd, self._readable)

    def _readable(self) -> None:
        try:
            data = os.read(self._fd, 65_536)
        except BlockingIOError:
            return
        except OSError as exc:
            self._lost(exc)
            return
        if not data:
            self._lost(None)
            return
        self.bytes_read += len(data)
        self._on_data(data)

    def write(self, data: bytes, *, urgent: bool = False) -> None:
        if self._closed:
            return
        if urgent:
            self._pending.appendleft(data)
        else:
            self._pending.append(data)
        self._drain()

    def _drain(self) -> None:
        while self._pending:
            chunk = self._pending[0]
            try:
                written = os.write(self._fd, chunk)
            except BlockingIOError:
                written = 0
            except OSError as exc:
                if exc.errno == errno.EINTR:
                    continue
                self._lost(exc)
                return
            self.bytes_written += written
            if written < len(chunk):
                # Keep the unwritten tail first: a frame is never interleaved with another.
                self._pending[0] = chunk[written:]
                if not self._writing:
                    self._writing = True
                    self._loop.add_writer(self._fd, self._writable)
                return
            self._pending.popleft()
        if self._writing:
            self._writing = False
            self._loop.remove_writer(self._fd)

    def _writable(self) -> None:
        self._drain()

    def _lost(self, exc: Exception | None) -> None:
        self.close()
        if self._on_lost:
            self._on_lost(exc)

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._loop.remove_reader(self._fd)
        if self._writing:
            self._loop.remove_writer(self._fd)
        self._closer()


def open_serial_port(port: str, baudrate: int = 115_200) -> FdTransport:
    """A device path or pyserial URL, opened by pyserial exactly like a USB serial port."""
    try:
        port_object = serial.serial_for_url(port, baudrate=baudrate, timeout=0,
                                            write_timeout=0, exclusive=True)
        fd = port_object.fileno()
    except (serial.SerialException, OSError, ValueError, AttributeError) as exc:
        logging.getLogger(__name__).info("cannot open serial port %r: %s", port, exc)
        raise TransportError(f"cannot open serial port {port!r}: {_port_problem(exc)}") from None
    return FdTransport(fd, port_object.close, port)


def _port_problem(exc: Exception) -> str:
    """What a person can do about a port that will not open; the system's words go to the
    log."""
    code, text = getattr(exc, "errno", None), str(exc)
    if code == errno.ENOENT or "No such file" in text:
        return ("no such device: check that the gun is connected and the path is right "
                "(ls /dev/ttyUSB* /dev/ttyACM*; injector sim prints its own)")
    if code in (errno.EACCES, errno.EPERM) or "Permission denied" in text:
        return "permission denied: add this user to the dialout group and log in again"
    if code == errno.EBUSY or "lock" in text.lower() or "busy" in text.lower():
        return "in use by another program: close it, or stop the other injector command"
    if code == errno.ENOTTY or "Inappropriate ioctl" in text:
        return "not a serial port: give the gun's device, e.g. /dev/ttyUSB0"
    return "cannot be opened (the system's reason is in the log)"


class MemoryEnd:
    """One end of an in-memory byte pipe; data written arrives at the peer on the next loop
    iteration, as it would from a port."""

    def __init__(self) -> None:
        self.peer: MemoryEnd | None = None
        self._on_data: DataCallback | None = None
        self._on_lost: LostCallback | None = None
        self._closed = False
        self.bytes_written = 0
        self.bytes_read = 0

    def start(self, on_data: DataCallback, on_lost: LostCallback) -> None:
        self._on_data, self._on_lost = on_data, on_lost

    def write(self, data: bytes, *, urgent: bool = False) -> None:
        if self._closed or self.peer is None or self.peer._closed:
            return
        self.bytes_written += len(data)
        asyncio.get_running_loop().call_soon(self.peer._deliver, bytes(data))

    def _deliver(self, data: bytes) -> None:
        if not self._closed and self._on_data is not None:
            self.bytes_read += len(data)
            self._on_data(data)

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        peer = self.peer
        if peer is not None and not peer._closed and peer._on_lost is not None:
            asyncio.get_running_loop().call_soon(peer._on_lost, None)


def memory_pipe() -> tuple[MemoryEnd, MemoryEnd]:
    a, b = MemoryEnd(), MemoryEnd()
    a.peer, b.peer = b, a
    return a, b
