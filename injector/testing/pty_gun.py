"""A simulated gun served on ptys by a thread of this process, in real time: reachable from
code on any event loop here and from child processes, as `injector sim` is, without a
process of its own to start."""

from __future__ import annotations

import asyncio
import threading

from simulator.gun import GunOptions, SimulatedGun
from simulator.serve import Bridges, GunServer, ServedPorts

START_TIMEOUT_S = 30.0
"""Serving takes milliseconds; a thread that has not served by then never will."""


class GunThreadError(RuntimeError):
    """The gun's thread did not serve or did not stop; carries the gun's serial number."""

    def __init__(self, serial_number: str, what: str) -> None:
        self.serial_number = serial_number
        super().__init__(f"simulated gun {serial_number}: {what}")


class PtyGun:
    """`start()` serves the gun on its own thread and loop and returns its ports; `stop()`
    closes every port and ends the thread."""

    def __init__(self, options: GunOptions, bridges: Bridges) -> None:
        self.options, self.bridges = options.checked(), bridges
        self._served = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True,
                                        name=f"injector-sim-{options.serial_number}")
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._ports: ServedPorts | None = None
        self._failure: BaseException | None = None
        self.gun: SimulatedGun | None = None
        """The gun served, once started (its own thread runs it: read it, do not drive it)."""

    def start(self) -> ServedPorts:
        self._thread.start()
        if not self._served.wait(START_TIMEOUT_S):
            raise GunThreadError(self.options.serial_number,
                                 f"not served within {START_TIMEOUT_S:g} s")
        if self._failure is not None:
            raise self._failure
        return self._ports

    def stop(self) -> None:
        if self._loop is not None and self._thread.is_alive():
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(START_TIMEOUT_S)
        if self._thread.is_alive():
            raise GunThreadError(self.options.serial_number, "its thread did not stop")

    def _run(self) -> None:
        asyncio.run(self._serve())

    async def _serve(self) -> None:
        self._loop, self._stop = asyncio.get_running_loop(), asyncio.Event()
        self.gun = SimulatedGun(self.options)
        server = GunServer(self.gun)
        try:
            try:
                self._ports = await server.start(self.bridges)
            except Exception as exc:        # noqa: BLE001 - raised by start() in the caller
                self._failure = exc
                return
            finally:
                self._served.set()
            await self._stop.wait()
        finally:
            await server.aclose()
