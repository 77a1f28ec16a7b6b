"""A pseudo-terminal that the simulated gun serves, opened by the host like a USB serial port.

The simulator keeps the slave side open too, so the port survives a host disconnecting and
reconnecting; the slave is in raw mode so the kernel neither echoes nor translates bytes.
"""

from __future__ import annotations

import os
import tty

from drivers.transport import FdTransport


def open_pty() -> tuple[FdTransport, str]:
    """The device-side transport (the pty master) and the path a host opens."""
    master, slave = os.openpty()
    tty.setraw(slave)
    tty.setraw(master)
    path = os.ttyname(slave)

    def close() -> None:
        for fd in (master, slave):
            try:
                os.close(fd)
            except OSError:
                pass

    return FdTransport(master, close, path), path
