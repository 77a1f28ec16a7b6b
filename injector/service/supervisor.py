"""One gun, connected and supervised for as long as the service runs.

A connection is one Controller (the heartbeat and the gun's watchdog, its events recorded,
its alarms latched until a person acknowledges them). It ends when the link is lost (the
driver gave up, or the gun behind the port rebooted or is another: never adopted) and the
supervisor connects again, backing off from 0.2 s to 5 s between tries; the new connection
reads back from the gun what the record missed (injector/reconcile.py). It also ends, and a
fresh one begins at once, after every session: the controller's state is then the gun's,
read at connect, never one left over from a session that ended early.

A simulated gun (`sim://`) is made once and kept across connections: it is the device, and a
reconnection must find the same gun, as a real one would.
"""

from __future__ import annotations

import asyncio
import logging
from enum import Enum
from typing import TYPE_CHECKING

from drivers.errors import DriverError
from drivers.serial_link import serial_driver
from drivers.urls import PortURLError
from injector.alarm_actions import describe
from injector.controller import Controller
from injector.errors import InjectorError
from injector.ports import open_driver
from injector.service.errors import GunBusy, GunOffline
from injector.service.events import EventHub, EventKind
from injector.store import Store, StoreError

if TYPE_CHECKING:
    from injector.service.runs import Run

log = logging.getLogger("injector.service")

RETRY_FIRST_S = 0.2
RETRY_MOST_S = 5.0


class Link(Enum):
    CONNECTING = "connecting"
    ONLINE = "online"
    LOST = "lost"
    STOPPED = "stopped"


class GunSupervisor:
    def __init__(self, number: int, url: str, store: Store, hub: EventHub) -> None:
        self.number, self.url, self.store, self.hub = number, url, store, hub
        self.sim = None
        """The simulated gun of a sim:// port, made at the first connection."""
        self.controller: Controller | None = None
        self.serial: str | None = None
        self.link = Link.CONNECTING
        self.problem: str | None = None
        self.connections = 0
        self.run: Run | None = None
        """The session that has this gun, from its start request to its end."""
        self._online = asyncio.Event()
        self._fresh = asyncio.Event()
        self._task: asyncio.Task | None = None


    @property
    def name(self) -> str:
        return self.serial or str(self.number)

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._supervise())

    # ---- connections ---------------------------------------------------------------------

    def _driver(self):
        if self.sim is not None:
            return serial_driver(self.sim.memory_port, name="sim")
        driver, self.sim = open_driver(self.url)
        return driver

    async def _supervise(self) -> None:
        delay = RETRY_FIRST_S
        while True:
            self._set_link(Link.CONNECTING, self.problem)
            try:
                controller = Controller(self._driver(), self.store)
            except (PortURLError, DriverError, OSError) as exc:
                self._set_link(Link.LOST, str(exc))
                await asyncio.sleep(delay)
                delay = min(delay * 2, RETRY_MOST_S)
                continue
            try:
                await controller.connect()
            except asyncio.CancelledError:
                await self._close(controller)       # the service stops mid-connect
                raise
            except (DriverError, InjectorError, OSError) as exc:
                await self._close(controller)
                self._set_link(Link.LOST, str(exc))
                await asyncio.sleep(delay)
                delay = min(delay * 2, RETRY_MOST_S)
                continue
            delay = RETRY_FIRST_S
            self.controller, self.serial = controller, controller.identity.serial_number
            self.connections += 1
            self._set_link(Link.ONLINE, None)
            self._online.set()
            lost = await self._until_over(controller)
            self._online.clear()
            await self._close(controller)
            if lost is not None:
                self._set_link(Link.LOST, str(lost))

    async def _until_over(self, controller: Controller) -> InjectorError | None:
        """Until the link is lost (why) or a session on it ended (None)."""
        ended = asyncio.ensure_future(controller.ended())
        fresh = asyncio.ensure_future(self._fresh.wait())
        try:
            await asyncio.wait({ended, fresh}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            fresh.cancel()
            if not ended.done():
                ended.cancel()
        self._fresh.clear()
        if not ended.done() or ended.cancelled():
            return None
        run = self.run
        if run is not None and run.controller is controller:
            await run.finished()            # it ends with the link, and is recorded
        return ended.result()

    async def _close(self, controller: Controller) -> None:
        try:
            await controller.close()
        except (DriverError, InjectorError) as exc:
            log.warning("gun %s: closing: %s", self.name, exc)
        try:
            # What the closed connection recorded is durable before the next one reads the
            # record's last event of the gun (where its read-back starts).
            await asyncio.to_thread(self.store.flush)
        except StoreError:
            pass

    def _set_link(self, link: Link, problem: str | None) -> None:
        changed = (link, problem) != (self.link, self.problem)
        self.link, self.problem = link, problem
        if changed:
            self.hub.publish(EventKind.LINK, self.serial, {
                "gun_number": self.number, "link": link.value, "problem": problem,
                "connections": self.connections})

    # ---- what sessions use ---------------------------------------------------------------

    def claim(self, run: Run) -> None:
        """The gun is the run's until it ends; a second one is refused (no await here: two
        requests cannot both pass)."""
        if self.run is not None:
            doing = (f"session {self.run.session_id}" if self.run.session_id
                     else "a session starting")
            raise GunBusy(self.name, doing)
        if self.link is Link.STOPPED:
            raise GunOffline(self.name, self.link.value, "the service is stopping")
        self.run = run

    def release(self, run: Run) -> None:
        """The run is over: the gun is free; after a session that began (the gun may have
        moved), a fresh connection takes it up."""
        if self.run is run:
            self.run = None
            if run.session_id is not None:
                self._online.clear()        # nobody takes up the connection being replaced
                self._fresh.set()

    async def connected(self, timeout: float) -> Controller:
        """The live controller, waiting up to `timeout` s for a connection in progress."""
        if not self._online.is_set():
            try:
                if timeout <= 0:
                    raise TimeoutError
                await asyncio.wait_for(self._online.wait(), timeout)
            except TimeoutError:
                raise GunOffline(self.name, self.link.value, self.problem) from None
        return self.controller

    async def stop(self) -> None:
        """The service ends: no new connection; the gun left held and disarmed."""
        from injector.session import make_safe

        self.link = Link.STOPPED
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        controller = self.controller
        if controller is not None and controller.state != "disconnected":
            await make_safe(controller)
            await self._close(controller)
        if self.sim is not None:
            await self.sim.aclose()

    # ---- what clients see ----------------------------------------------------------------

    def describe(self) -> dict:
        controller = self.controller if self.link is Link.ONLINE else None
        out = {"number": self.number, "serial_number": self.serial, "port": self.url,
               "link": self.link.value, "problem": self.problem,
               "connections": self.connections,
               "session_id": self.run.session_id if self.run else None,
               "run_kind": self.run.kind.value if self.run else None,
               "held": bool(self.run and self.run.held)}
        if controller is None:
            return out | {"state": None, "alarms": []}
        identity = controller.identity
        return out | {
            "model": identity.model, "firmware_version": identity.firmware_version,
            "state": controller.state,
            # The gun's own state as its events tell it (the last status poll can be old).
            "device_state": (controller.device_state.name.lower()
                             if controller.device_state is not None else None),
            "alarms": [describe(code) for code in controller.latched],
            "syringe_remaining_ul": controller.syringe_remaining_nl / 1000,
            "syringe_ml": controller.config.syringe_capacity_nl / 1_000_000,
            "reconnects": controller.driver.stats.reconnects,
            "calibration": controller.calibration.describe() if controller.calibration
            else None}

    def syringe_ul(self) -> float | None:
        controller = self.controller
        if controller is None or controller.status is None or self.link is not Link.ONLINE:
            return None
        return controller.syringe_remaining_nl / 1000
