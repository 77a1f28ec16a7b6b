"""The gun on the bench: ask it things, keep its watchdog fed, bring it to the state a check
starts from, and the one program it may fire.

Every shot the suite fires is `minimal_shot`: the shallowest depth and the smallest dose the
gun's own clinical envelope allows (through its stored calibration), dispensed slowly, one
shot per FIRE.
"""

from __future__ import annotations

import asyncio
import math
import random
from dataclasses import dataclass

from drivers.codes import ALARMS, ERRORS_BY_CODE, alarm_name
from drivers.config import DeviceConfig
from drivers.device_limits import DEPTH_RANGE_UM, VOLUME_RANGE_NL
from drivers.framing import Frame, encode_frame
from drivers.messages import (
    AckAlarm, DeviceState, ErrorBody, Heartbeat, Hello, Identity, MsgType, Status,
    StatusFlags, latched_codes,
)
from drivers.program import DeliveryCode, ShotProgram
from drivers.shot_timing import shot_phases
from drivers.wire import WireStruct
from injector.conformance.errors import CheckFailed, GunNotReady
from injector.conformance.link import RawLink

TEST_SPEED_UM_S = 50_000
"""Needle speed of the test shot: a third of the factory gun's top speed."""
TEST_RATE_NL_S = 50_000
"""50 ul/s: a 10 ul test dose in a fifth of a second."""
TEST_PERIOD_MS = 500
HOMING_TIMEOUT_S = 5.0
"""Homing from the far end of a 20 mm axis at the slowest plausible speed."""
POLL_S = 0.01
PROVOKED = frozenset(ALARMS[name].code for name in ("watchdog", "emergency_stop",
                                                    "link_degraded"))
"""The alarms checks raise on purpose (silence, ESTOP, damaged frames): the suite
acknowledges these itself."""


def cycle_ms(program: ShotProgram, config: DeviceConfig) -> int:
    """The shot's cycle rounded up to the millisecond, as the gun computes it."""
    phases = shot_phases(program, config.mechanical_limits(), config.syringe_bore_um / 1000)
    return math.ceil(phases.cycle_s * 1000)


def minimal_shot(config: DeviceConfig) -> ShotProgram:
    """The only program the suite fires: the shallowest depth and smallest dose the gun's
    envelope lets through, at a moderate speed and rate."""
    depth = config.depth_table.first_command(config.min_depth_um, DEPTH_RANGE_UM[0])
    volume = config.volume_table.first_command(config.min_dose_nl, VOLUME_RANGE_NL[0])
    speed = min(TEST_SPEED_UM_S, config.depth_speed_max_um_s)
    rate = min(TEST_RATE_NL_S, math.floor(config.plunger_speed_max_um_s * config.bore_area_mm2))
    program = ShotProgram(DeliveryCode.AT_DEPTH, depth, speed, speed, 0, volume, rate, 1)
    period = max(cycle_ms(program, config), config.min_shot_period_ms, TEST_PERIOD_MS)
    return ShotProgram(DeliveryCode.AT_DEPTH, depth, speed, speed, 0, volume, rate, period)


def describe_error(frame: Frame) -> str:
    body = ErrorBody.unpack(frame.payload[1:])
    name = ERRORS_BY_CODE[body.code].name if body.code in ERRORS_BY_CODE else f"0x{body.code:04X}"
    return f"{name} (value {body.value}, limit {body.limit})"


@dataclass
class Bench:
    link: RawLink
    session: int
    identity: Identity | None = None
    config: DeviceConfig | None = None
    _keeper: asyncio.Task | None = None

    @classmethod
    def on(cls, link: RawLink) -> Bench:
        return cls(link, random.SystemRandom().randrange(1, 0x1_0000_0000))

    # ---- asking --------------------------------------------------------------------------

    async def ok(self, command: MsgType, payload: WireStruct | bytes = b"") -> bytes:
        """The OK body of a command the gun must accept; CheckFailed naming its error."""
        raw = payload if isinstance(payload, bytes) else payload.pack()
        frame = await self.link.request(command, raw)
        if frame.type == MsgType.ERROR:
            raise CheckFailed(f"the gun refused {command.name}: {describe_error(frame)}",
                              frame.payload)
        if frame.payload[:1] != bytes([command]):
            raise CheckFailed(f"the answer to {command.name} names command "
                              f"0x{frame.payload[0]:02X}", frame.payload)
        return frame.payload[1:]

    async def refused(self, command: MsgType, payload: bytes = b"") -> ErrorBody:
        frame = await self.link.request(command, payload)
        if frame.type != MsgType.ERROR:
            raise CheckFailed(f"the gun accepted {command.name}", payload)
        return ErrorBody.unpack(frame.payload[1:])

    async def identify(self) -> Identity:
        self.identity = Identity.unpack(await self.ok(MsgType.IDENTIFY, Hello(self.session)))
        return self.identity

    async def heartbeat(self) -> Heartbeat:
        return Heartbeat.unpack(await self.ok(MsgType.HEARTBEAT))

    async def status(self) -> Status:
        return Status.unpack(await self.ok(MsgType.STATUS))

    async def read_config(self) -> DeviceConfig:
        self.config = DeviceConfig.unpack(await self.ok(MsgType.READ_CONFIG))
        return self.config

    async def until_state(self, *states: DeviceState, timeout_s: float = HOMING_TIMEOUT_S
                          ) -> Status:
        """Poll STATUS until the gun is in one of `states` (polling feeds its watchdog)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        while True:
            status = await self.status()
            if DeviceState(status.state) in states:
                return status
            if loop.time() > deadline:
                wanted = " or ".join(s.name for s in states)
                raise CheckFailed(f"the gun stayed {DeviceState(status.state).name}, not "
                                  f"{wanted}, for {timeout_s:g} s", status.state)
            await asyncio.sleep(POLL_S)

    # ---- the watchdog --------------------------------------------------------------------

    def keep_alive(self) -> None:
        """HEARTBEAT every quarter of the watchdog, answers ignored, until `silence()`."""
        if self._keeper is None or self._keeper.done():
            self._keeper = asyncio.get_running_loop().create_task(self._keep())

    async def _keep(self) -> None:
        period = self.config.watchdog_ms / 4000
        while True:
            if self.link.lost is None:
                self.link.write(encode_frame(Frame(MsgType.HEARTBEAT, self.link.next_seq())))
            await asyncio.sleep(period)

    async def silence(self) -> None:
        if self._keeper is not None:
            self._keeper.cancel()
            try:
                await self._keeper
            except asyncio.CancelledError:
                pass
            self._keeper = None

    # ---- states a check starts from ------------------------------------------------------

    async def start(self) -> None:
        """Meet the gun: it answers, and stands LOCKED or IDLE with no alarm latched."""
        try:
            await self.identify()
        except CheckFailed as failed:
            raise GunNotReady(f"{failed}: is the port the gun's, and the gun on?") from None
        await self.read_config()
        status = await self.status()
        latched = latched_codes(status.latched_alarms)
        if latched:
            names = ", ".join(alarm_name(code) for code in latched)
            raise GunNotReady(f"the gun has {names} latched: a person acknowledges it first "
                              "(injector alarm ack --port URL --person NAME)", latched)
        state = DeviceState(status.state)
        if state not in (DeviceState.LOCKED, DeviceState.IDLE):
            raise GunNotReady(f"the gun is {state.name}: the suite starts from LOCKED or IDLE "
                              "(disarm it, or let it finish)", state)
        self.keep_alive()

    async def settle(self) -> None:
        """Back to LOCKED or IDLE between checks: stop whatever runs, disarm, and acknowledge
        the alarms the suite itself caused."""
        status = await self.status()
        state = DeviceState(status.state)
        if state in (DeviceState.FIRING, DeviceState.PRIMING):
            await self.ok(MsgType.HOLD)
            status = await self.until_state(DeviceState.HELD, DeviceState.IDLE,
                                            DeviceState.FAULT, DeviceState.ESTOP)
            state = DeviceState(status.state)
        if state in (DeviceState.ARMED, DeviceState.HELD):
            await self.ok(MsgType.DISARM)
        if state is DeviceState.HOMING:
            await self.until_state(DeviceState.IDLE, DeviceState.FAULT)
        await self.acknowledge_own()

    async def acknowledge_own(self) -> None:
        """Acknowledge the alarms the checks provoke on purpose; any other alarm is the gun's
        news for a person, and ends the suite."""
        status = await self.status()
        for code in latched_codes(status.latched_alarms):
            if code not in PROVOKED:
                raise GunNotReady(f"alarm {alarm_name(code)} latched during the suite: a "
                                  "person looks at the gun and acknowledges it", code)
            await self.ok(MsgType.ACK_ALARM, AckAlarm(code))

    async def homed_idle(self) -> Status:
        status = await self.status()
        if DeviceState(status.state) is DeviceState.IDLE and status.flags & StatusFlags.HOMED:
            return status
        await self.ok(MsgType.HOME)
        return await self.until_state(DeviceState.IDLE)

    async def armed(self) -> Status:
        """Homed, the test shot loaded, ARMED."""
        await self.homed_idle()
        await self.ok(MsgType.LOAD_PROGRAM, minimal_shot(self.config))
        await self.ok(MsgType.ARM)
        return await self.until_state(DeviceState.ARMED)
