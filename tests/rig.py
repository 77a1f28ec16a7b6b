"""A host driver connected to a simulated gun, with every event collected, for the suites."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from drivers.messages import AlarmRaised, DeviceState, ShotDone, StateChanged
from drivers.program import ShotProgram
from drivers.serial_driver import SerialDriver
from drivers.transport import open_serial_port
from injector.planner import Overrides, plan
from profiles import load_catalog
from simulator.gun import GunOptions, SimulatedGun

CATALOG = load_catalog()
KERNEL_IO_LIMIT_S = 2.0


class KernelSync:
    """Virtual time over a real pty: while bytes written by one end have not been read by the
    other, keep the loop busy so looptime cannot jump ahead of the kernel.

    The kernel moves pty bytes asynchronously (a worker thread). Without this, under load,
    virtual time could run past a heartbeat still in the kernel's buffer and trip the
    device's watchdog, which no real gun would see. Both ends are in this process, so the
    bytes in flight are known exactly: written by one side less read by the other (a frame
    the simulated link drops is dropped after it was read, so it does not count).
    """

    def __init__(self, host, device) -> None:
        self.host, self.device = host, device
        self._spinner: asyncio.Task | None = None
        device_write = device.write

        def write(data: bytes, *, urgent: bool = False) -> None:
            device_write(data, urgent=urgent)
            self.kick()
        device.write = write

    def in_flight(self) -> int:
        return (self.host.bytes_written - self.device.bytes_read
                + self.device.bytes_written - self.host.bytes_read)

    def kick(self) -> None:
        if self._spinner is None or self._spinner.done():
            self._spinner = asyncio.get_running_loop().create_task(self._spin())

    async def _spin(self) -> None:
        deadline = time.monotonic() + KERNEL_IO_LIMIT_S
        while self.in_flight() > 0 and time.monotonic() < deadline:
            await asyncio.sleep(0)


class SyncedPort:
    """The host's pty transport, reporting its writes to the KernelSync."""

    def __init__(self, inner, device) -> None:
        self.inner = inner
        self.sync = KernelSync(inner, device)

    def start(self, on_data, on_lost) -> None:
        self.inner.start(on_data, on_lost)

    def write(self, data: bytes, *, urgent: bool = False) -> None:
        self.inner.write(data, urgent=urgent)
        self.sync.kick()

    def close(self) -> None:
        self.inner.close()

    @property
    def bytes_written(self) -> int:
        return self.inner.bytes_written

    @property
    def bytes_read(self) -> int:
        return self.inner.bytes_read


def program_for(preset: str = "nappage-superficial", zone: str = "face",
                needle: str = "32G-4mm", **overrides) -> ShotProgram:
    p = CATALOG.preset(preset)
    return plan(p, CATALOG.zone(zone), CATALOG.needle(needle), CATALOG.syringe(10), shots=1,
                overrides=Overrides(**overrides)).program


@dataclass
class Rig:
    gun: SimulatedGun
    driver: SerialDriver
    events: list = field(default_factory=list)
    failure: BaseException | None = None
    _task: asyncio.Task | None = None
    _changed: asyncio.Event = field(default_factory=asyncio.Event)

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._collect())

    async def _collect(self) -> None:
        try:
            async for event in self.driver.events():
                self.events.append(event)
                self._changed.set()
        except Exception as exc:            # noqa: BLE001 - surfaced by the tests
            self.failure = exc
            self._changed.set()

    @property
    def firmware(self):
        return self.gun.firmware

    @property
    def now(self) -> float:
        return asyncio.get_running_loop().time()

    def shots(self) -> list[ShotDone]:
        return [e for e in self.events if isinstance(e, ShotDone)]

    def alarms(self) -> list[AlarmRaised]:
        return [e for e in self.events if isinstance(e, AlarmRaised)]

    def states(self) -> list[DeviceState]:
        return [DeviceState(e.state) for e in self.events if isinstance(e, StateChanged)]

    async def until(self, condition: Callable[[], bool], timeout: float = 10.0,
                    what: str = "condition", poll_s: float | None = None) -> None:
        """Wait for `condition`, checked on every event (and every `poll_s` if given, for
        conditions on the physics that no event announces)."""
        deadline = self.now + timeout
        while not condition():
            if self.failure:
                raise self.failure
            left = deadline - self.now
            if left <= 0:
                raise AssertionError(f"timed out after {timeout} s waiting for {what}; "
                                     f"events: {self.events[-5:]}")
            self._changed.clear()
            try:
                await asyncio.wait_for(self._changed.wait(), min(left, poll_s or left))
            except TimeoutError:
                pass

    async def until_state(self, state: DeviceState, timeout: float = 10.0) -> None:
        await self.until(lambda: self.states() and self.states()[-1] is state, timeout,
                         f"state {state.name}")

    async def ready(self, program: ShotProgram | None = None) -> None:
        """Homed, program loaded, armed."""
        await self.driver.home()
        await self.until_state(DeviceState.IDLE)
        await self.driver.load_program(program or program_for())
        await self.driver.arm()
        await self.until_state(DeviceState.ARMED)

    async def close(self) -> None:
        if self._task:
            self._task.cancel()
        await self.driver.close()
        self.gun.close()


async def make_rig(bridge: str, *, connect: bool = True, **options) -> Rig:
    gun = SimulatedGun(GunOptions(**options))
    if bridge == "serial-memory":
        driver = SerialDriver(gun.memory_port, name=bridge)
    elif bridge == "serial-pty":
        path = gun.serve_pty()
        driver = SerialDriver(lambda: SyncedPort(open_serial_port(path), gun.ptys[path]),
                              name=bridge, reconnect=False)
    else:
        raise ValueError(f"unknown bridge {bridge}")
    rig = Rig(gun, driver)
    if connect:
        await driver.connect()
        rig.start()
    return rig
