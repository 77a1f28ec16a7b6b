"""Stopping a running command as Ctrl-C does, for the signals a service manager, a CI
timeout or a closed terminal sends: the gun is held and retracted, the session recorded as
interrupted with the signal's name, and the command exits with 128 + the signal's number."""

from __future__ import annotations

import asyncio
import signal
from contextlib import contextmanager

STOP_SIGNALS = (signal.SIGTERM, signal.SIGHUP)
"""SIGINT is asyncio.run's own: it cancels the main task the same way."""


class Stop:
    """Which signal, if any, stopped the command."""

    def __init__(self) -> None:
        self.signal: signal.Signals | None = None
        self.result = None
        """The session's result, when a session was running: recorded as interrupted."""

    @property
    def reason(self) -> str:
        if self.signal is None:
            return "stopped by the operator (Ctrl-C)"
        return f"stopped by {self.signal.name} (the command was told to end)"

    @property
    def exit_code(self) -> int:
        return 128 + (self.signal or signal.SIGINT).value


@contextmanager
def stop_on_signals():
    """Within it, SIGTERM and SIGHUP cancel the running task as Ctrl-C would."""
    loop = asyncio.get_running_loop()
    task = asyncio.current_task()
    stop = Stop()

    def stopped(sig: signal.Signals) -> None:
        if stop.signal is None:
            stop.signal = sig
            task.cancel()

    for sig in STOP_SIGNALS:
        loop.add_signal_handler(sig, stopped, sig)
    try:
        yield stop
    finally:
        for sig in STOP_SIGNALS:
            loop.remove_signal_handler(sig)
