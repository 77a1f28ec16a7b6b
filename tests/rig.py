"""A host driver connected to a simulated gun, with every event collected, for the suites."""

from __future__ import annotations

from injector.checklist import QUESTIONS, Checklist, Kind
from injector.session import SessionRequest

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from drivers.messages import AlarmRaised, DeviceState, ShotDone, StateChanged
from drivers.program import ShotProgram
from pymodbus.client import AsyncModbusSerialClient, AsyncModbusTcpClient

from drivers.core import DriverCore
from drivers.modbus_link import modbus_driver
from drivers.serial_link import serial_driver
from drivers.transport import open_serial_port
from injector.planner import Overrides, plan
from profiles import load_catalog
from simulator.gun import GunOptions, SimulatedGun

CATALOG = load_catalog()
NO_PROGRESS_S = 0.1


class KernelSync:
    """Virtual time over real kernel I/O (a pty, a loopback socket): while bytes written by
    one end have not been read by the other, keep the loop busy so looptime cannot jump
    ahead of the kernel.

    The kernel moves the bytes asynchronously. Without this, under load, virtual time could
    run past a heartbeat still in a buffer and trip the device's watchdog, which no real gun
    would see. Every end is in this process, so the bytes in flight are known exactly:
    written by one side less read by the other (a frame the simulated link drops is dropped
    after it was read, so it does not count).
    """

    def __init__(self, *directions: Callable[[], int]) -> None:
        """Each direction: a callable giving what one end wrote less what the other read."""
        self._directions = directions
        self._written_off = [0] * len(directions)
        self._spinner: asyncio.Task | None = None

    def in_flight(self) -> int:
        total = 0
        for index, counted in enumerate(self._directions):
            value = counted() - self._written_off[index]
            if value < 0:               # more arrived than we saw leave: re-baseline
                self._written_off[index] += value
                value = 0
            total += value
        return total

    def _write_off(self) -> None:
        for index, counted in enumerate(self._directions):
            self._written_off[index] = counted()

    def kick(self) -> None:
        if self._spinner is None or self._spinner.done():
            self._spinner = asyncio.get_running_loop().create_task(self._spin())

    async def _spin(self) -> None:
        # Bytes that stop moving for NO_PROGRESS_S are gone (a connection reset discards
        # them): write them off rather than hold virtual time back for good.
        last, moved_at = self.in_flight(), time.monotonic()
        while (pending := self.in_flight()) > 0:
            now = time.monotonic()
            if pending != last:
                last, moved_at = pending, now
            elif now - moved_at > NO_PROGRESS_S:
                self._write_off()
                return
            await asyncio.sleep(0)

    def watch_writes(self, transport) -> None:
        """Kick whenever `transport` writes."""
        write = transport.write

        def kicking_write(data: bytes, *, urgent: bool = False) -> None:
            write(data, urgent=urgent)
            self.kick()
        transport.write = kicking_write


class FrameCount:
    """Modbus frames in flight, counted where pymodbus reports each exactly once: requests the
    client sent and the server decoded; answers the line carried as one intact copy and the
    client decoded. (pymodbus hands trace_packet its whole unconsumed buffer, so bytes would
    be counted twice; a damaged or doubled answer may never decode, so it is not awaited.)"""

    def __init__(self) -> None:
        self.requests_sent = self.requests_decoded = self.answers_decoded = 0
        self.line = None
        self.sync = KernelSync(lambda: self.requests_sent - self.requests_decoded,
                               lambda: (self.line.single_answers if self.line else 0)
                               - self.answers_decoded)

    def client_packet(self, sending: bool, data: bytes) -> bytes:
        if sending:
            self.requests_sent += 1
            self.sync.kick()
        return data

    def client_pdu(self, sending: bool, pdu):
        if not sending:
            self.answers_decoded += 1
        return pdu

    def server_pdu(self, sending: bool, pdu):
        if sending:
            self.sync.kick()
        else:
            self.requests_decoded += 1
        return pdu


class Endpoint:
    """Where a rig's driver finds its gun on one bridge. A swap serves another gun on the
    same bridge and points here, so the driver's next (re)open reaches that gun, as a
    clinician plugging a second gun into the same cable would."""

    def __init__(self, bridge: str) -> None:
        self.bridge = bridge
        self.gun: SimulatedGun | None = None
        self.address = None
        self.count = FrameCount()

    async def serve(self, gun: SimulatedGun) -> None:
        self.gun, self.count = gun, FrameCount()
        if self.bridge == "serial-pty":
            self.address = gun.serve_pty()
        elif self.bridge == "modbus-tcp":
            self.address = await gun.serve_modbus_tcp(trace_pdu=self.count.server_pdu)
            self.count.line = gun.modbus.lines[-1]
        elif self.bridge == "modbus-rtu":
            self.address = await gun.serve_modbus_rtu(trace_pdu=self.count.server_pdu)
            self.count.line = gun.modbus.lines[-1]
            relay = gun.modbus.relays[self.address]
            self.count.sync.watch_writes(relay.host_side)
            self.count.sync.watch_writes(relay.server_side)
        elif self.bridge != "serial-memory":
            raise ValueError(f"unknown bridge {self.bridge}")

    def open_serial(self):
        if self.bridge == "serial-memory":
            return self.gun.memory_port()
        device = self.gun.ptys[self.address]
        host = open_serial_port(self.address)
        sync = KernelSync(lambda: host.bytes_written - device.bytes_read,
                          lambda: device.bytes_written - host.bytes_read)
        sync.watch_writes(host)
        sync.watch_writes(device)
        return host

    def modbus_client(self):
        count = self.count
        if self.bridge == "modbus-tcp":
            return AsyncModbusTcpClient("127.0.0.1", port=self.address, timeout=0.06,
                                        retries=0, trace_packet=count.client_packet,
                                        trace_pdu=count.client_pdu)
        return AsyncModbusSerialClient(self.address, baudrate=115_200, timeout=0.06,
                                       retries=0, trace_packet=count.client_packet,
                                       trace_pdu=count.client_pdu)

    def driver(self, reconnect: bool) -> DriverCore:
        if self.bridge.startswith("serial"):
            return serial_driver(self.open_serial, name=self.bridge, reconnect=reconnect)
        return modbus_driver(self.modbus_client, name=self.bridge, reconnect=reconnect)


def program_for(preset: str = "nappage-superficial", zone: str = "face",
                needle: str = "32G-4mm", **overrides) -> ShotProgram:
    p = CATALOG.preset(preset)
    return plan(p, CATALOG.zone(zone), CATALOG.needle(needle), CATALOG.syringe(10), shots=1,
                overrides=Overrides(**overrides)).program


@dataclass
class Rig:
    gun: SimulatedGun
    driver: DriverCore
    endpoint: Endpoint | None = None
    events: list = field(default_factory=list)
    failure: BaseException | None = None
    _task: asyncio.Task | None = None
    _changed: asyncio.Event = field(default_factory=asyncio.Event)
    _retired: list = field(default_factory=list)

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

    async def close_host(self) -> None:
        """The host goes away; the gun stays as it is."""
        if self._task:
            self._task.cancel()
        await self.driver.close()

    async def swap_gun(self, other: SimulatedGun) -> None:
        """Another gun behind the same cable: served on the same bridge, and the cable to
        the first one pulled, so the driver reconnects and meets the other."""
        first = self.gun
        await self.endpoint.serve(other)
        self.gun = other
        self._retired.append(first)
        first.unplug(cut_s=3600.0)              # that cable now leads to the other gun

    async def close(self) -> None:
        await self.close_host()
        for gun in (self.gun, *self._retired):
            await gun.aclose()


CLEAR_CHECKLIST = Checklist({q.id: q.kind is Kind.CHECK for q in QUESTIONS}, "test nurse",
                            "file")
"""A patient with no contraindication, a new needle and a checked syringe."""


def treatment(*args, **kwargs) -> SessionRequest:
    """A session request with its checklist answered (no contraindication), as every test
    session needs; tests of the checklist itself build SessionRequest directly."""
    return SessionRequest(*args, **({"checklist": CLEAR_CHECKLIST} | kwargs))


async def make_rig(bridge: str, *, connect: bool = True, reconnect: bool = True,
                   **options) -> Rig:
    """A simulated gun served on `bridge` and a host driver for it. The gun has no random
    dose or depth error unless asked (`dose_cv=`, `depth_noise_mm=`): the driver suite
    checks the bridge to the microlitre, not the metrology."""
    gun = SimulatedGun(GunOptions(**({"dose_cv": 0.0, "depth_noise_mm": 0.0} | options)))
    endpoint = Endpoint(bridge)
    await endpoint.serve(gun)
    rig = Rig(gun, endpoint.driver(reconnect), endpoint)
    if connect:
        await rig.driver.connect()
        rig.start()
    return rig


async def raw_modbus_tcp(gun: SimulatedGun) -> AsyncModbusTcpClient:
    """A plain pymodbus client on the gun's Modbus TCP server, synced for virtual time."""
    count = FrameCount()
    port = await gun.serve_modbus_tcp(trace_pdu=count.server_pdu)
    count.line = gun.modbus.lines[-1]
    client = AsyncModbusTcpClient("127.0.0.1", port=port, timeout=0.06, retries=0,
                                  trace_packet=count.client_packet, trace_pdu=count.client_pdu)
    await client.connect()
    return client
