"""The simulated firmware core: the device's state machine, commands, alarms and events.

It knows nothing of transports: the serial and Modbus adapters hand it (token, command,
payload) and send back its Reply; events go to every registered listener. Exactly-once lives
here, so both bridges get it: a token seen again with the same command and payload is
answered from the reply cache and never executed twice.
"""

from __future__ import annotations

import asyncio
import math
import random
import time
from collections import OrderedDict, deque
from collections.abc import Callable
from dataclasses import dataclass

from drivers.codes import ALARMS, ERRORS, Severity
from drivers.config import UNLOCK_KEYS, UNLOCK_S, DeviceConfig, factory_config
from drivers.device_limits import (
    BAD_FRAME_WINDOW_MS, BAD_FRAMES_FOR_ALARM, DEPTH_RANGE_UM, DWELL_MAX_MS, EVENT_RING,
    FIRE_RANGE, PRIME_RANGE_NL, REPLY_CACHE, VOLUME_RANGE_NL,
)
from drivers.framing import PROTOCOL_VERSION
from drivers.messages import (
    COMMAND_PAYLOADS, EVENT_PAYLOADS, NO_FIELD, READ_COMMANDS, AlarmRaised, DeviceState, ErrorBody,
    EventsReplayed, Heartbeat, Identity, MsgType, ShotDone, ShotFlags, StateChanged, Status,
    StatusFlags, latched_mask,
)
from drivers.motion import move_time_at
from drivers.program import DeliveryCode, ShotProgram
from drivers.shot_timing import shot_phases
from drivers.wire import WireStruct
from simulator.executor import PRIME_RATE_UL_S, Abort, Phase, ShotExecutor, ShotResult, retract
from simulator.faults import LINK_SILENT_S, FaultPlan
from simulator.physics import GunPhysics, Imperfections, Needle

MODEL = "MESO-GUN-S1"
FIRMWARE_VERSION = (1, 4, 2)
HOMING_SPEED_MM_S = 20.0
BAD_FRAME_WINDOW_S = BAD_FRAME_WINDOW_MS / 1000
HOMING_SETTLE_S = 0.05
FIRE_MIN, FIRE_MAX = FIRE_RANGE
PRIME_MIN_NL, PRIME_MAX_NL = PRIME_RANGE_NL

SUPERVISED = frozenset({DeviceState.HOMING, DeviceState.PRIMING, DeviceState.ARMED,
                        DeviceState.FIRING, DeviceState.HELD})
"""States in which a silent host trips the watchdog: anything that can move."""

EventListener = Callable[[int, MsgType, bytes], None]


@dataclass(frozen=True)
class Reply:
    type: MsgType
    """OK or ERROR."""
    payload: bytes
    """The command's type byte, then the OK body or the ErrorBody."""
    replay: tuple[tuple[int, MsgType, bytes], ...] = ()
    """Events to send after the reply (GET_EVENTS)."""


class Refusal(Exception):
    def __init__(self, error: str, field: int = NO_FIELD, value: int = 0, limit: int = 0) -> None:
        super().__init__(error)
        self.error, self.field, self.value, self.limit = error, field, value, limit


def _field(cls: type[WireStruct], name: str) -> int:
    return cls.field_names().index(name)


class Firmware:
    def __init__(self, *, serial_number: str = "SIM-000001", config: DeviceConfig | None = None,
                 imperfections: Imperfections | None = None, needle: Needle | None = None,
                 faults: FaultPlan | None = None, factory_calibrated_s: int | None = None,
                 boot_id: int | None = None, physics: GunPhysics | None = None,
                 seed: int = 0) -> None:
        self._loop = asyncio.get_running_loop()
        self._boot_s = self._loop.time()
        self.boot_id = boot_id if boot_id is not None else random.SystemRandom().randrange(
            1, 0x1_0000_0000)
        """A new one at every power-up (docs/protocol.md, "Boot identity")."""
        if config is None:
            calibrated = factory_calibrated_s if factory_calibrated_s is not None else int(
                time.time()) - 86_400
            config = factory_config(cal_time_s=calibrated)
        self.config = config
        self.config_listeners: list[Callable[[DeviceConfig], None]] = []
        """Told of every configuration written (the simulated gun's non-volatile memory)."""
        self.serial_number = serial_number
        self.faults = faults or FaultPlan()
        self.physics = physics or GunPhysics(
            bore_mm=config.syringe_bore_um / 1000, capacity_ul=config.syringe_capacity_nl / 1000,
            dead_volume_ul=config.dead_volume_nl / 1000,
            imperfections=imperfections or Imperfections(), needle=needle or Needle(),
            seed=seed)
        """The mechanical gun: it outlives a power cycle of the firmware."""
        self.executor = ShotExecutor(self.physics, self.faults)
        self.state = DeviceState.LOCKED
        self.homed = False
        self.program: ShotProgram | None = None
        self.latched: dict[int, str] = {}
        self._shots_done = 0
        self.volume_measured_nl = 0
        self.volume_delivered_nl = 0
        self.syringe_remaining_nl = config.syringe_capacity_nl
        """The drug account, in delivered nl (through the stored calibration)."""
        self._run_remaining = 0
        self._next_shot_at: float | None = None
        """Loop time at which the planned next shot begins (see _run)."""
        self.duplicates_answered = 0
        self.executed: dict[MsgType, int] = {}
        self.link_silent_until = -math.inf
        self._bad_frames: deque[float] = deque()
        self._events: deque[tuple[int, MsgType, bytes]] = deque(maxlen=EVENT_RING)
        self._event_seq = 0
        self._listeners: list[EventListener] = []
        self._burst_listeners: list[Callable[[], None]] = []
        self._caches: dict[str, OrderedDict[int, tuple[int, bytes, Reply]]] = {}
        self._sessions: dict[str, bytes] = {}
        self._unlocks: dict[str, tuple[int, float]] = {}
        """Per bridge connection: (keys given so far, loop time the unlock lasts until)."""
        self._channel: str | None = None
        """The bridge connection whose command is being executed (None: internal)."""
        self._task: asyncio.Task | asyncio.TimerHandle | None = None
        """What moves the gun now: homing or priming (a task), or a run's next timer."""
        self._next_start = 0.0
        self._handlers = {int(command): (command, payload_cls,
                                         getattr(self, f"_cmd_{command.name.lower()}"))
                          for command, payload_cls in COMMAND_PAYLOADS.items()}
        self._last_rx = self._loop.time()
        self._watchdog: asyncio.TimerHandle | None = None
        self._arm_watchdog()

    # ---- shots begun, counted when they begin ----------------------------------------------

    @property
    def shots_done(self) -> int:
        """Shots begun since power-on (the one under way included)."""
        self._catch_up()
        return self._shots_done

    @property
    def run_remaining(self) -> int:
        self._catch_up()
        return self._run_remaining

    @run_remaining.setter
    def run_remaining(self, count: int) -> None:
        self._catch_up()
        self._run_remaining = count

    def _catch_up(self) -> None:
        """A planned shot whose start time has come has begun, whether or not anything
        woke at that instant."""
        if self._next_shot_at is not None and self._loop.time() >= self._next_shot_at:
            self._next_shot_at = None
            self._begin_shot()

    def _begin_shot(self) -> None:
        self._run_remaining -= 1
        self._shots_done += 1

    # ---- the outside world ---------------------------------------------------------------

    def add_listener(self, listener: EventListener) -> None:
        self._listeners.append(listener)

    def add_burst_listener(self, listener: Callable[[], None]) -> None:
        """Adapters that can corrupt frames register here for the link_degraded fault."""
        self._burst_listeners.append(listener)

    def kick(self) -> None:
        """A valid frame arrived: feed the watchdog."""
        self._last_rx = self._loop.time()
        self._arm_watchdog()

    def _arm_watchdog(self) -> None:
        # A timer moved on every frame, rather than a task that wakes to check: an idle link
        # costs the simulation nothing between frames.
        if self._watchdog is not None:
            self._watchdog.cancel()
        self._watchdog = self._loop.call_at(self._last_rx + self.config.watchdog_ms / 1000,
                                            self._watchdog_expired)

    def _watchdog_expired(self) -> None:
        """No valid frame for the whole timeout. Harmless where nothing can move: then the
        watchdog waits for the next frame to start counting again."""
        self._watchdog = None
        if self.state in SUPERVISED:
            self.raise_alarm("watchdog", self.config.watchdog_ms)

    def note_bad_frame(self) -> None:
        """The link monitor: five damaged frames within a second latch link_degraded."""
        now = self._loop.time()
        self._bad_frames.append(now)
        while self._bad_frames and self._bad_frames[0] < now - BAD_FRAME_WINDOW_S:
            self._bad_frames.popleft()
        if len(self._bad_frames) >= BAD_FRAMES_FOR_ALARM:
            self.raise_alarm("link_degraded", len(self._bad_frames))
            self._bad_frames.clear()

    def link_silent(self) -> bool:
        return self._loop.time() < self.link_silent_until

    def now_s(self) -> float:
        return self._loop.time()

    def now_ms(self) -> int:
        return int(round((self._loop.time() - self._boot_s) * 1000)) & 0xFFFF_FFFF

    def identity(self) -> Identity:
        return Identity(MODEL, self.serial_number, *FIRMWARE_VERSION, PROTOCOL_VERSION,
                        self.config.config_hash(), self.boot_id)

    def event_log(self) -> list:
        """The events still in the ring, decoded, oldest first."""
        return [EVENT_PAYLOADS[t].unpack(payload) for _, t, payload in self._events]

    def press_trigger(self) -> bool:
        """The clinician pulls the trigger: one shot when armed and idle."""
        if self.state is not DeviceState.ARMED or self.program is None:
            return False
        self.run_remaining = 1
        self._start_run()
        return True

    def close(self) -> None:
        for pending in (self._task, self._watchdog):
            if pending is not None:
                pending.cancel()

    # ---- commands ------------------------------------------------------------------------

    def execute(self, channel: str, token: int, msg_type: int, payload: bytes) -> Reply:
        """Run one command from a bridge. `channel` names the bridge connection, so that
        numbering on one never collides with another's; `token` is its sequence number."""
        cache = self._caches.setdefault(channel, OrderedDict())
        cached = cache.get(token)
        if cached is not None and cached[0] == msg_type and cached[1] == payload:
            self.duplicates_answered += 1
            return cached[2]
        if msg_type == MsgType.IDENTIFY and payload != self._sessions.get(channel):
            cache.clear()               # a new host session starts its own numbering
            self._sessions[channel] = payload
            self._unlocks.pop(channel, None)        # and finds the configuration locked
        reply = self.run(channel, msg_type, payload)
        if msg_type not in READ_COMMANDS:
            cache[token] = (msg_type, payload, reply)
            while len(cache) > REPLY_CACHE:
                cache.popitem(last=False)
        return reply

    def _dispatch(self, msg_type: int, payload: bytes) -> Reply:
        type_byte = bytes([msg_type & 0xFF])
        try:
            try:
                command, payload_cls, handler = self._handlers[msg_type]
            except KeyError:
                raise Refusal("unknown_command", value=msg_type) from None
            if len(payload) != payload_cls.FORMAT.size:
                raise Refusal("bad_length", value=len(payload), limit=payload_cls.FORMAT.size)
            body = handler(payload_cls.unpack(payload))
            self.executed[command] = self.executed.get(command, 0) + 1
        except Refusal as refusal:
            error = ErrorBody(ERRORS[refusal.error].code, refusal.field, refusal.value,
                              refusal.limit)
            return Reply(MsgType.ERROR, type_byte + error.pack())
        if isinstance(body, tuple):
            body, replay = body
            return Reply(MsgType.OK, type_byte + body, replay)
        return Reply(MsgType.OK, type_byte + (body or b""))

    def _cmd_identify(self, _) -> bytes:
        return self.identity().pack()

    def _cmd_heartbeat(self, _) -> bytes:
        return Heartbeat(self.state, self._event_seq, self.boot_id).pack()

    def _cmd_status(self, _) -> bytes:
        return self.status().pack()

    def status(self) -> Status:
        now = self._loop.time()
        flags = ((StatusFlags.HOMED if self.homed else 0)
                 | (StatusFlags.NEEDLE_PRESENT if self.physics.needle_present else 0)
                 | (StatusFlags.SYRINGE_PRESENT if self.physics.syringe_present else 0)
                 | (StatusFlags.PROGRAM_LOADED if self.program else 0)
                 | (StatusFlags.TRIGGER_PRESSED if self.physics.trigger_pressed else 0))
        plunger_mm = self.physics.plunger.position(now)
        flow = 0.0
        if self.executor.phase is Phase.DISPENSE:
            flow = self.physics.plunger.velocity(now) * self.config.bore_area_mm2
        in_tissue = self.physics.depth.position(now) > 0
        return Status(
            state=self.state, flags=int(flags), active_alarm=next(iter(self.latched), 0),
            alarm_count=min(len(self.latched), 255), latched_alarms=latched_mask(self.latched),
            depth_um=round(self.physics.depth.position(now) * 1000),
            plunger_um=round(plunger_mm * 1000),
            pressure_kpa=min(0xFFFF, round(self.physics.pressure_kpa(max(flow, 0.0), in_tissue))
                             if in_tissue or flow else 0),
            shots_done=self.shots_done, volume_measured_nl=self.volume_measured_nl & 0xFFFF_FFFF,
            volume_delivered_nl=self.volume_delivered_nl & 0xFFFF_FFFF,
            syringe_remaining_nl=max(0, self.syringe_remaining_nl),
            run_remaining=self.run_remaining, last_event_seq=self._event_seq,
            boot_id=self.boot_id)

    def _cmd_read_config(self, _) -> bytes:
        return self.config.pack()

    def _cmd_write_config(self, config: DeviceConfig) -> None:
        channel = self._channel
        if channel is not None and not self.config_unlocked(channel):
            raise Refusal("locked")
        self._require_state(DeviceState.LOCKED, DeviceState.IDLE)
        violation = config.range_violation()
        if violation:
            name, value, limit = violation
            raise Refusal("out_of_range", _field(DeviceConfig, name), value, limit)
        self.config = config
        self._unlocks.pop(channel, None)            # one unlock opens one write
        for listener in self.config_listeners:
            listener(config)

    def _cmd_unlock_config(self, unlock) -> None:
        """The technician unlock on a bridge connection: UNLOCK_KEYS in order opens the
        configuration to one WRITE_CONFIG within UNLOCK_S; 0 locks at once."""
        channel = self._channel or "internal"
        stage, _ = self._unlocks.get(channel, (0, -math.inf))
        if unlock.key == 0:
            self._unlocks.pop(channel, None)
        elif unlock.key == UNLOCK_KEYS[0]:
            self._unlocks[channel] = (1, -math.inf)
        elif unlock.key == UNLOCK_KEYS[1] and stage == 1:
            self._unlocks[channel] = (0, self._loop.time() + UNLOCK_S)
        else:
            self._unlocks.pop(channel, None)
            raise Refusal("out_of_range", 0, unlock.key, UNLOCK_KEYS[stage])

    def _cmd_home(self, _) -> None:
        self._require_state(DeviceState.LOCKED, DeviceState.IDLE)
        self._require_no_stop_alarm()
        self._set_state(DeviceState.HOMING, MsgType.HOME)
        self._task = self._loop.create_task(self._home())

    def _cmd_load_program(self, program: ShotProgram) -> None:
        self._require_state(DeviceState.LOCKED, DeviceState.IDLE)
        self.program = self._checked_program(program)

    def _cmd_syringe_loaded(self, loaded) -> None:
        self._require_state(DeviceState.LOCKED, DeviceState.IDLE, DeviceState.FAULT)
        capacity = self.config.syringe_capacity_nl
        if loaded.volume_nl > capacity:
            raise Refusal("out_of_range", 0, loaded.volume_nl, capacity)
        self.syringe_remaining_nl = loaded.volume_nl
        self.physics.syringe_ul = loaded.volume_nl / 1000
        self.physics.syringe_present = True
        self.physics.syringe_changed()

    def _cmd_prime(self, prime) -> None:
        self._require_state(DeviceState.IDLE)
        self._require_ready_to_move()
        if not PRIME_MIN_NL <= prime.volume_nl <= PRIME_MAX_NL:
            raise Refusal("out_of_range", 0, prime.volume_nl,
                          PRIME_MIN_NL if prime.volume_nl < PRIME_MIN_NL else PRIME_MAX_NL)
        self._require_drug(prime.volume_nl)
        self._set_state(DeviceState.PRIMING, MsgType.PRIME)
        self._task = self._loop.create_task(self._prime(prime.volume_nl))

    def _cmd_arm(self, _) -> None:
        self._require_state(DeviceState.IDLE)
        self._require_ready_to_move()
        if self.program is None:
            raise Refusal("no_program")
        self._require_drug(self.program.volume_nl)
        self._set_state(DeviceState.ARMED, MsgType.ARM)

    def _cmd_disarm(self, _) -> None:
        self._require_state(DeviceState.ARMED, DeviceState.HELD)
        self.run_remaining = 0
        self._set_state(DeviceState.IDLE, MsgType.DISARM)

    def _cmd_fire(self, fire) -> None:
        if self.state is DeviceState.FIRING:
            raise Refusal("busy", value=self.run_remaining)
        self._require_state(DeviceState.ARMED)
        if not FIRE_MIN <= fire.count <= FIRE_MAX:
            raise Refusal("out_of_range", 0, fire.count,
                          FIRE_MIN if fire.count < FIRE_MIN else FIRE_MAX)
        self.run_remaining = fire.count
        self._start_run()

    def _cmd_hold(self, _) -> None:
        """Always accepted: stops the plunger now and retracts; a run can resume."""
        if self.state in (DeviceState.FIRING, DeviceState.ARMED):
            self._stop_motion(spring=False)
            self._set_state(DeviceState.HELD, MsgType.HOLD)
        elif self.state is DeviceState.PRIMING:
            self._stop_motion(spring=False)
            self._set_state(DeviceState.IDLE, MsgType.HOLD)

    def _cmd_resume(self, _) -> None:
        """The rest of the run goes on: the shot a hold cut is not given again; the next one
        starts at once."""
        self._require_state(DeviceState.HELD)
        self._require_ready_to_move()
        if self.run_remaining:
            self._require_drug(self.program.volume_nl)
            self._start_run(MsgType.RESUME)
        else:
            self._set_state(DeviceState.ARMED, MsgType.RESUME)

    def _cmd_estop(self, _) -> None:
        self.raise_alarm("emergency_stop")

    def _cmd_ack_alarm(self, ack) -> None:
        if ack.code not in self.latched:
            raise Refusal("unknown_alarm", 0, ack.code)
        name = self.latched.pop(ack.code)
        if name == "occlusion":
            self.physics.occluded = False     # the clinician cleared or changed the needle
        stops = [n for n in self.latched.values() if ALARMS[n].severity is Severity.STOP]
        if not stops and self.state in (DeviceState.FAULT, DeviceState.ESTOP):
            self._set_state(DeviceState.IDLE if self.homed else DeviceState.LOCKED,
                            MsgType.ACK_ALARM)

    def _cmd_get_events(self, request) -> tuple[bytes, tuple]:
        wanted = self.events_from(request.from_seq)
        if wanted is None:
            raise Refusal("events_lost", 0, request.from_seq, self.oldest_event_seq())
        return EventsReplayed(len(wanted)).pack(), tuple(wanted)

    def events_from(self, from_seq: int, limit: int | None = None
                    ) -> list[tuple[int, MsgType, bytes]] | None:
        """The events numbered from `from_seq` on (oldest first), [] when there are none
        yet, None when some of them have already left the ring."""
        wanted = [e for e in self._events if (e[0] - from_seq) & 0xFFFF < 0x8000]
        newest_gap = (self._event_seq - from_seq) & 0xFFFF
        if newest_gap < 0x8000 and len(wanted) < newest_gap + 1:
            return None
        return wanted[:limit] if limit is not None else wanted

    def oldest_event_seq(self) -> int:
        return self._events[0][0] if self._events else (self._event_seq + 1) & 0xFFFF

    @property
    def last_event_seq(self) -> int:
        return self._event_seq

    @property
    def events_held(self) -> int:
        return len(self._events)

    def run(self, channel: str, msg_type: int, payload: bytes = b"") -> Reply:
        """Run a command for a bridge connection outside its reply cache: the command block
        of Modbus keeps its own (by token), and what the register map runs directly (stop,
        hold, the unlock, a configuration write) is safe to run again. The configuration
        unlock is per connection, on every bridge."""
        self._channel = channel
        try:
            return self._dispatch(msg_type, payload)
        finally:
            self._channel = None

    def config_unlocked(self, channel: str) -> bool:
        return self._unlocks.get(channel, (0, -math.inf))[1] > self._loop.time()

    # ---- checks --------------------------------------------------------------------------

    def _require_state(self, *allowed: DeviceState) -> None:
        if self.state not in allowed:
            self._require_no_stop_alarm()
            raise Refusal("wrong_state", value=self.state)

    def _require_no_stop_alarm(self) -> None:
        for code, name in self.latched.items():
            if ALARMS[name].severity is Severity.STOP:
                raise Refusal("alarm_active", value=code)

    def _require_ready_to_move(self) -> None:
        self._require_no_stop_alarm()
        if not self.homed:
            raise Refusal("not_homed")
        if not (self.physics.needle_present and self.physics.syringe_present):
            raise Refusal("interlock", value=int(self.physics.needle_present)
                          | int(self.physics.syringe_present) << 1)

    def usable_nl(self) -> int:
        """Drug the account says the syringe can still give (above its dead volume)."""
        return self.syringe_remaining_nl - self.config.dead_volume_nl

    def draw_nl(self, measured_nl: int) -> int:
        """What a plunger stroke of `measured_nl` takes from the syringe: the stored
        calibration's estimate of what it delivers."""
        return self.config.volume_table.delivered_for(measured_nl) if measured_nl > 0 else 0

    def _require_drug(self, volume_nl: int) -> None:
        need = self.draw_nl(volume_nl)
        if self.usable_nl() < need:
            raise Refusal("insufficient_drug", value=max(self.usable_nl(), 0), limit=need)

    def program_limits(self) -> dict[str, tuple[int, int]]:
        """The range of each shot-program field under the current configuration."""
        config = self.config
        return {
            "delivery": (0, max(DeliveryCode)),
            "depth_um": (DEPTH_RANGE_UM[0], min(DEPTH_RANGE_UM[1], config.depth_travel_um)),
            "insert_speed_um_s": (1, config.depth_speed_max_um_s),
            "retract_speed_um_s": (1, config.depth_speed_max_um_s),
            "dwell_ms": (0, DWELL_MAX_MS),
            "volume_nl": VOLUME_RANGE_NL,
            "dispense_rate_nl_s": (1, math.floor(config.plunger_speed_max_um_s
                                                 * config.bore_area_mm2)),
            "shot_period_ms": (1, 0xFFFF_FFFF),
        }

    def _checked_program(self, program: ShotProgram) -> ShotProgram:
        """Every field against the mechanism, then depth and dose as the stored calibration
        says they will be delivered against the clinical envelope, then the period against
        the cycle and the highest rate; fields in payload order, the first failing one is
        refused. Each limit is given in the field's own (commanded) units."""
        for name, (low, high) in self.program_limits().items():
            value = getattr(program, name)
            if not low <= value <= high:
                raise Refusal("out_of_range", _field(ShotProgram, name), value,
                              low if value < low else high)
            envelope = self._envelope_limit(name, value)
            if envelope is not None:
                raise Refusal("out_of_range", _field(ShotProgram, name), value, envelope)
        config = self.config
        cycle_ms = math.ceil(shot_cycle_s(program, config) * 1000)
        shortest = max(cycle_ms, config.min_shot_period_ms)
        if not shortest <= program.shot_period_ms:
            raise Refusal("out_of_range", _field(ShotProgram, "shot_period_ms"),
                          program.shot_period_ms, shortest)
        return program

    def _envelope_limit(self, name: str, value: int) -> int | None:
        """For depth and volume: the commanded bound this value breaks, as the stored
        calibration turns the envelope's delivered limits into commands; else None."""
        config = self.config
        if name == "depth_um":
            table, low, high = config.depth_table, config.min_depth_um, config.max_depth_um
        elif name == "volume_nl":
            table, low, high = config.volume_table, config.min_dose_nl, config.max_dose_nl
        else:
            return None
        delivered = table.delivered_for(value)
        if delivered > high:
            return table.last_command(high, value)
        if delivered < low:
            return table.first_command(low, value)
        return None

    # ---- state, alarms, events -----------------------------------------------------------

    def _set_state(self, state: DeviceState, cause: int) -> None:
        if state is self.state:
            return
        previous, self.state = self.state, state
        self._emit(StateChanged(state, previous, cause, self.now_ms()))

    def raise_alarm(self, name: str, value: int = 0, shot_index: int | None = None) -> None:
        alarm = ALARMS[name]
        if alarm.code in self.latched:
            return                      # already latched: one alarm, one acknowledgement
        self.latched[alarm.code] = name
        self._emit(AlarmRaised(alarm.code, self.shots_done if shot_index is None else shot_index,
                               value, self.now_ms()))
        if alarm.severity is Severity.STOP:
            self._stop_motion(spring=name == "emergency_stop")
            self.run_remaining = 0
            if alarm.forces_homing:
                self.homed = False
            self._set_state(DeviceState.ESTOP if name == "emergency_stop" else DeviceState.FAULT,
                            alarm.code)

    def _emit(self, event: ShotDone | AlarmRaised | StateChanged) -> None:
        self._event_seq = (self._event_seq + 1) & 0xFFFF
        record = (self._event_seq, event.TYPE, event.pack())
        self._events.append(record)
        for listener in self._listeners:
            listener(*record)

    def _take_from_syringe(self, measured_nl: int) -> int:
        """Account for a plunger stroke; returns what it delivered by the account."""
        delivered = self.draw_nl(measured_nl)
        self.volume_measured_nl += measured_nl
        self.volume_delivered_nl += delivered
        self.syringe_remaining_nl -= delivered
        return delivered

    def _record_shot(self, index: int, result: ShotResult) -> None:
        delivered = self._take_from_syringe(result.measured_nl)
        flags = ShotFlags.INTERRUPTED if result.interrupted else 0
        self._emit(ShotDone(index, result.depth_reached_um, result.measured_nl, delivered,
                            min(result.peak_pressure_kpa, 0xFFFF), int(flags),
                            max(0, self.syringe_remaining_nl), self.now_ms()))

    # ---- motion tasks --------------------------------------------------------------------

    def _stop_motion(self, *, spring: bool) -> None:
        """Stop whatever moves now; a shot in progress is accounted as interrupted."""
        now = self._loop.time()
        self._catch_up()
        if self.executor.in_shot:
            self._record_shot(self.shots_done, self.executor.interrupt(spring=spring))
        else:
            if self._next_shot_at is not None:      # planned, not begun: it never happens
                self._next_shot_at = None
                self.executor.cancel()
            self.physics.plunger.stop(now)
            retract(self.physics, now, spring=spring,
                    speed=self.config.depth_speed_max_um_s / 1000,
                    accel=self.config.depth_accel_um_s2 / 1000)
        task, self._task = self._task, None
        if task is not None and task is not asyncio.current_task():
            task.cancel()

    def _start_run(self, cause: MsgType = MsgType.FIRE) -> None:
        self._set_state(DeviceState.FIRING, cause)
        self._next_start = self._loop.time()
        self._run_step()

    # A run is a chain of timer callbacks, one per shot: _run_step plans the next shot and
    # sets a timer for its end; _shot_over concludes it and steps again. A stop cancels the
    # timer (self._task).

    def _run_step(self) -> None:
        self._task = None
        if self.run_remaining <= 0:
            self._set_state(DeviceState.ARMED, MsgType.FIRE)
            return
        now = self._loop.time()
        number = self.shots_done + 1
        start = max(self._next_start, now)
        if start > now and self._due_at_start(number):
            self._task = self._loop.call_at(start, self._run_step)  # meet it at the start
            return
        self._next_start = start + self.program.shot_period_ms / 1000
        if start <= now:
            if not self._shot_may_start(number):
                return
            self._begin_shot()
        else:
            # Nothing can change before the start but a command, which cancels this plan:
            # plan the shot now, and count it as begun when its start time comes.
            self._next_shot_at = start
        over_at = self.executor.plan(self.program, self.config, number, start)
        self._task = self._loop.call_at(over_at, self._shot_over, number)

    def _shot_over(self, number: int) -> None:
        self._task = None
        try:
            result = self.executor.conclude()
        except Abort as abort:
            self._record_shot(number, abort.result)
            value = max(0, self.usable_nl()) if abort.alarm == "empty_syringe" else abort.value
            self.raise_alarm(abort.alarm, value, number)
            return
        self._record_shot(number, result)
        self._run_step()

    def _due_at_start(self, number: int) -> bool:
        """Something happens at this shot's start: a fault strikes, or an interlock fails."""
        return self.faults.due(number) or self._failed_interlock() is not None

    def _shot_may_start(self, number: int) -> bool:
        """Strike the faults due at this shot, then check the interlocks; alarm if one fails."""
        physics, faults = self.physics, self.faults
        if faults.take("needle_removed", number):
            physics.needle_present = False
        if faults.take("syringe_removed", number):
            physics.syringe_present = False
        if faults.take("empty_syringe", number):
            left = self.config.dead_volume_nl + self.draw_nl(self.program.volume_nl) // 2
            self.syringe_remaining_nl = left
            physics.syringe_ul = left / 1000
        if faults.take("watchdog", number):
            self.link_silent_until = self._loop.time() + LINK_SILENT_S
        if faults.take("link_degraded", number):
            for burst in self._burst_listeners:
                burst()
        failed = self._failed_interlock()
        if failed is None:
            return True
        alarm, value = failed
        self.raise_alarm(alarm, value, number)
        return False

    def _failed_interlock(self) -> tuple[str, int] | None:
        """The alarm (and its measurement) for the first interlock a shot would fail."""
        if not self.physics.needle_present:
            return "needle_removed", 0
        if not self.physics.syringe_present:
            return "syringe_removed", 0
        if self.usable_nl() < self.draw_nl(self.program.volume_nl):
            return "empty_syringe", max(0, self.usable_nl())
        return None

    async def _home(self) -> None:
        now = self._loop.time()
        travel_mm = self.config.depth_travel_um / 1000
        accel = self.config.depth_accel_um_s2 / 1000
        if self.faults.take("home_failed", self.shots_done + 1):
            await asyncio.sleep(travel_mm / HOMING_SPEED_MM_S)
            self.raise_alarm("home_failed")
            return
        duration = self.physics.depth.move_to(now, 0.0, HOMING_SPEED_MM_S, accel)
        await asyncio.sleep(duration + HOMING_SETTLE_S)
        self.physics.depth.set_position(0.0)
        self.homed = True
        self._task = None
        self._set_state(DeviceState.IDLE, MsgType.HOME)

    async def _prime(self, volume_nl: int) -> None:
        """Push `volume_nl` through the line, needle retracted. A syringe that runs out on
        the way stops the plunger at its end and latches `empty_syringe`."""
        area = self.config.bore_area_mm2
        accel = self.config.plunger_accel_um_s2 / 1000 / area
        plunger = self.physics.plunger
        now = self._loop.time()
        start = plunger.position(now)
        stroke_mm = volume_nl / 1000 / area
        to_end_mm = self.physics.plunger_travel_left_mm()
        duration = plunger.move_to(now, start + stroke_mm, PRIME_RATE_UL_S / area, accel)
        runs_dry = to_end_mm < stroke_mm
        if runs_dry:
            duration = move_time_at(to_end_mm, stroke_mm, PRIME_RATE_UL_S / area, accel)
        try:
            await asyncio.sleep(duration)
        finally:
            travel = plunger.stop(self._loop.time()) - start
            self.physics.deliver(travel)
            self._take_from_syringe(round(travel * area * 1000))
        self._task = None
        if runs_dry:
            self.raise_alarm("empty_syringe", max(0, self.usable_nl()))
            return
        self._set_state(DeviceState.IDLE, MsgType.PRIME)


def shot_cycle_s(program: ShotProgram, config: DeviceConfig) -> float:
    """The firmware's own cycle time for a program: the phases the planner predicts too."""
    return shot_phases(program, config.mechanical_limits(), config.syringe_bore_um / 1000).cycle_s
