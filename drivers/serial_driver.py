"""The host's serial driver: the framed protocol over any byte transport, on the asyncio loop.

Guarantees, whatever the link does:
- a command is retransmitted with the same sequence number until it is answered, so the
  device executes it once (its reply cache answers the repeats);
- events reach `events()` in device order, each once: duplicates are dropped, and a gap (seen
  in the sequence, or in a heartbeat's last event number) is filled by a replay;
- heartbeats keep the device's watchdog fed whenever nothing else was sent, paced by that
  watchdog so that several lost in a row still arrive in time (`heartbeat_timing`);
- a lost port is reopened with the same session, so the reply cache still protects commands
  retransmitted across the reconnection; a different gun on the port is refused.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import AsyncIterator, Callable

from drivers.codes import error_name
from drivers.config import UNLOCK_KEYS, DeviceConfig, factory_config
from drivers.driver import SUPPORTED_MODELS, LinkStats, event_stream
from drivers.errors import (
    DeviceError, DriverError, IncompatibleDevice, LinkClosed, LinkTimeout,
)
from drivers.framing import PROTOCOL_VERSION, Frame, FrameDecoder, encode_frame
from drivers.messages import (
    COMMAND_PAYLOADS, EVENT_PAYLOADS, NO_FIELD, AckAlarm, Empty, ErrorBody, Event, Fire,
    GetEvents, Heartbeat, Hello, Identity, MsgType, Prime, Status, SyringeLoaded, Unlock,
)
from drivers.program import ShotProgram
from drivers.transport import ByteTransport, TransportError
from drivers.wire import WireStruct

log = logging.getLogger("injector.wire")

FrameObserver = Callable[[str, Frame], None]
FACTORY_WATCHDOG_S = factory_config().watchdog_ms / 1000
HEARTBEAT_REPLY = bytes([MsgType.HEARTBEAT])
"""The first byte of an OK answering a HEARTBEAT."""


class SerialDriver:
    def __init__(self, open_transport: Callable[[], ByteTransport], *, name: str = "serial",
                 reply_timeout_s: float = 0.05, retries: int = 10,
                 heartbeat_s: float | None = None, lost_after_s: float = 0.3,
                 reconnect: bool = True, models: frozenset[str] = SUPPORTED_MODELS) -> None:
        self.name = name
        self.identity: Identity | None = None
        self.stats = LinkStats()
        self.reply_timeout_s = reply_timeout_s
        self.retries = retries
        self._heartbeat_override_s = heartbeat_s
        self.heartbeat_s, self.heartbeat_resend_s = heartbeat_timing(FACTORY_WATCHDOG_S,
                                                                     reply_timeout_s)
        """Paced for the factory watchdog until connect reads the gun's own."""
        self.lost_after_s = lost_after_s
        self.reconnect_enabled = reconnect
        self.models = models
        self.frame_observers: list[FrameObserver] = []
        self._open_transport = open_transport
        self._transport: ByteTransport | None = None
        self._decoder = FrameDecoder()
        self._loop = asyncio.get_running_loop()
        self._seq = random.randrange(0x10000)
        self._session = random.randrange(1, 0x1_0000_0000)
        self._pending: dict[int, tuple[int, asyncio.Future]] = {}
        self._events: asyncio.Queue[Event | DriverError] = asyncio.Queue()
        self._next_event: int | None = None
        self._held_events: dict[int, Frame] = {}
        self._last_tx = -1e9
        self._tasks: set[asyncio.Task] = set()
        self._replay_task: asyncio.Task | None = None
        self._reconnect_task: asyncio.Task | None = None
        self._beat_timer: asyncio.TimerHandle | None = None
        self._beat_seq: int | None = None
        """The heartbeat awaiting its reply, if any."""
        self._beat_sent_at = 0.0
        self._answered_at = 0.0
        self._closed = False

    # ---- lifecycle -----------------------------------------------------------------------

    async def connect(self) -> Identity:
        self._open()
        identity = await self._hello()
        heartbeat = Heartbeat.unpack(await self._command(MsgType.HEARTBEAT))
        self._next_event = (heartbeat.last_event_seq + 1) & 0xFFFF
        self._pace_heartbeats(await self.read_config())
        self._start_heartbeats()
        return identity

    def _pace_heartbeats(self, config: DeviceConfig) -> None:
        self.heartbeat_s, self.heartbeat_resend_s = heartbeat_timing(
            config.watchdog_ms / 1000, self.reply_timeout_s)
        if self._heartbeat_override_s is not None:
            self.heartbeat_s = self._heartbeat_override_s

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._stop_heartbeats()
        for task in list(self._tasks):
            task.cancel()
        for _, future in self._pending.values():
            if not future.done():
                future.set_exception(LinkClosed(f"{self.name} driver closed"))
        if self._transport is not None:
            self._transport.close()
            self._transport = None

    def _open(self) -> None:
        transport = self._open_transport()
        transport.start(self._on_data, self._on_lost)
        self._transport = transport

    async def _hello(self) -> Identity:
        identity = Identity.unpack(await self._command(MsgType.IDENTIFY, Hello(self._session)))
        if identity.model not in self.models:
            raise IncompatibleDevice("model", identity.model, " or ".join(sorted(self.models)))
        if identity.protocol_version != PROTOCOL_VERSION:
            raise IncompatibleDevice("protocol_version", identity.protocol_version,
                                     PROTOCOL_VERSION)
        if self.identity is not None and identity.serial_number != self.identity.serial_number:
            raise IncompatibleDevice("serial_number", identity.serial_number,
                                     self.identity.serial_number)
        self.identity = identity
        return identity

    def _spawn(self, coroutine) -> asyncio.Task:
        task = self._loop.create_task(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    # ---- the commands of the Driver interface --------------------------------------------

    async def home(self) -> None:
        await self._command(MsgType.HOME)

    async def load_program(self, program: ShotProgram) -> None:
        await self._command(MsgType.LOAD_PROGRAM, program)

    async def arm(self) -> None:
        await self._command(MsgType.ARM)

    async def disarm(self) -> None:
        await self._command(MsgType.DISARM)

    async def fire(self, count: int) -> None:
        await self._command(MsgType.FIRE, Fire(count))

    async def hold(self) -> None:
        await self._command(MsgType.HOLD, urgent=True)

    async def resume(self) -> None:
        await self._command(MsgType.RESUME)

    async def emergency_stop(self) -> None:
        await self._command(MsgType.ESTOP, urgent=True, retries=self.retries * 3)

    async def acknowledge(self, alarm_code: int) -> None:
        await self._command(MsgType.ACK_ALARM, AckAlarm(alarm_code))

    async def prime(self, volume_nl: int) -> None:
        await self._command(MsgType.PRIME, Prime(volume_nl))

    async def syringe_loaded(self, volume_nl: int) -> None:
        await self._command(MsgType.SYRINGE_LOADED, SyringeLoaded(volume_nl))

    async def read_config(self) -> DeviceConfig:
        return DeviceConfig.unpack(await self._command(MsgType.READ_CONFIG))

    async def write_config(self, config: DeviceConfig) -> None:
        """Unlock (the two keys) and write; the gun locks again after the write."""
        for key in UNLOCK_KEYS:
            await self._command(MsgType.UNLOCK_CONFIG, Unlock(key))
        await self._command(MsgType.WRITE_CONFIG, config)
        self._pace_heartbeats(config)

    async def status(self) -> Status:
        return Status.unpack(await self._command(MsgType.STATUS))

    def events(self) -> AsyncIterator[Event]:
        return event_stream(self._events)

    def pending_events(self) -> int:
        return self._events.qsize()

    # ---- request / reply -----------------------------------------------------------------

    async def _command(self, msg_type: MsgType, payload: WireStruct = Empty(), *,
                       urgent: bool = False, retries: int | None = None) -> bytes:
        """Send until answered (same sequence number every time); the OK body or a raise."""
        if self._closed:
            raise LinkClosed(f"{self.name} driver is closed")
        retries = self.retries if retries is None else retries
        self._seq = (self._seq + 1) & 0xFFFF
        seq = self._seq
        frame = Frame(msg_type, seq, payload.pack())
        data = encode_frame(frame)
        future = self._loop.create_future()
        self._pending[seq] = (int(msg_type), future)
        self.stats.commands += 1
        start = self._loop.time()
        try:
            for attempt in range(retries + 1):
                if attempt:
                    self.stats.retransmits += 1
                sent_at = self._loop.time()
                self._send(data, frame, urgent=urgent)
                # asyncio.wait leaves the future pending on a timeout, so the resend (same
                # seq) waits on the same one, and a late first reply still counts.
                await asyncio.wait((future,), timeout=self.reply_timeout_s)
                if future.done():
                    reply = future.result()
                    break
            else:
                self.stats.timeouts += 1
                raise LinkTimeout(msg_type.name, retries + 1, self._loop.time() - start)
        finally:
            self._pending.pop(seq, None)
        self.stats.rtt_s.append(self._loop.time() - sent_at)
        if reply.type == MsgType.ERROR:
            raise self._device_error(msg_type, ErrorBody.unpack(reply.payload[1:]))
        return reply.payload[1:]

    @staticmethod
    def _device_error(msg_type: MsgType, body: ErrorBody) -> DeviceError:
        names = COMMAND_PAYLOADS[msg_type].field_names()
        field = names[body.field] if body.field != NO_FIELD and body.field < len(names) else None
        return DeviceError(msg_type.name, body.code, error_name(body.code), field, body.value,
                           body.limit)

    def _send(self, data: bytes, frame: Frame, *, urgent: bool = False) -> None:
        self._log("tx", frame)
        self._last_tx = self._loop.time()
        if self._transport is not None:
            self.stats.frames_sent += 1
            self._transport.write(data, urgent=urgent)

    def _log(self, direction: str, frame: Frame) -> None:
        if log.isEnabledFor(logging.DEBUG):
            log.debug("%s %s seq=%d %s", direction, _type_name(frame.type), frame.seq,
                      frame.payload.hex(" "))
        for observer in self.frame_observers:
            observer(direction, frame)

    # ---- receiving -----------------------------------------------------------------------

    def _on_data(self, data: bytes) -> None:
        bad_before = self._decoder.frames_bad
        frames = self._decoder.feed(data)
        self.stats.frames_bad += self._decoder.frames_bad - bad_before
        for frame in frames:
            self.stats.frames_received += 1
            self._log("rx", frame)
            if frame.type in (MsgType.OK, MsgType.ERROR):
                self._on_reply(frame)
            elif frame.type in EVENT_PAYLOADS:
                self._on_event(frame)

    def _on_reply(self, frame: Frame) -> None:
        if frame.seq == self._beat_seq and frame.payload[:1] == HEARTBEAT_REPLY:
            self._on_beat(frame)
            return
        pending = self._pending.get(frame.seq)
        if pending is None or pending[1].done() or not frame.payload \
                or frame.payload[0] != pending[0]:
            self.stats.late_replies += 1
            return
        pending[1].set_result(frame)

    def _on_event(self, frame: Frame) -> None:
        if self._next_event is None:
            return                      # history from before we connected
        distance = (frame.seq - self._next_event) & 0xFFFF
        if distance >= 0x8000:
            self.stats.duplicate_events += 1
            return
        if distance:
            if frame.seq in self._held_events:
                self.stats.duplicate_events += 1
            self._held_events[frame.seq] = frame
            self._replay_from_gap()
            return
        self._deliver(frame)
        while self._next_event in self._held_events:
            self._deliver(self._held_events.pop(self._next_event))

    def _deliver(self, frame: Frame) -> None:
        try:
            event = EVENT_PAYLOADS[MsgType(frame.type)].unpack(frame.payload)
        except DriverError as exc:
            log.warning("undecodable event seq=%d: %s", frame.seq, exc)
        else:
            self.stats.events += 1
            self._events.put_nowait(event)
        self._next_event = (self._next_event + 1) & 0xFFFF

    def _replay_from_gap(self) -> None:
        if self._replay_task is None or self._replay_task.done():
            self._replay_task = self._spawn(self._replay())

    async def _replay(self) -> None:
        try:
            self.stats.replays += 1
            await self._command(MsgType.GET_EVENTS, GetEvents(self._next_event))
        except DeviceError as exc:
            # The device no longer holds what we missed: a gap in the record we must not hide.
            self._events.put_nowait(exc)
        except (LinkTimeout, LinkClosed):
            pass                        # the next heartbeat or event will try again

    # ---- heartbeats and reconnection -----------------------------------------------------

    # Heartbeats run on timer callbacks, not a task: one timer per heartbeat, and the reply
    # is taken as it is decoded, so an idle link costs the loop almost nothing.

    def _start_heartbeats(self) -> None:
        self._answered_at = self._loop.time()
        self._next_beat()

    def _next_beat(self) -> None:
        self._beat_timer = self._loop.call_at(self._last_tx + self.heartbeat_s, self._beat_due)

    def _beat_due(self) -> None:
        self._beat_timer = None
        if self._closed or self._beat_seq is not None or self._reconnecting():
            return
        if self._last_tx + self.heartbeat_s - self._loop.time() > 1e-9:
            self._next_beat()                   # something else fed the watchdog meanwhile
            return
        self._beat()

    def _beat(self) -> None:
        self._seq = (self._seq + 1) & 0xFFFF
        frame = Frame(MsgType.HEARTBEAT, self._seq, b"")
        self._beat_seq = self._seq
        self._beat_sent_at = self._loop.time()
        self.stats.commands += 1
        self._send(encode_frame(frame), frame)
        self._beat_timer = self._loop.call_later(self.heartbeat_resend_s, self._beat_missed)

    def _beat_missed(self) -> None:
        self._beat_timer = self._beat_seq = None
        self.stats.timeouts += 1
        if self._closed:
            return
        if self._loop.time() - self._answered_at >= self.lost_after_s and self.reconnect_enabled:
            self._start_reconnect()
            return
        self._beat()        # either direction may have lost it: the next goes at once

    def _on_beat(self, frame: Frame) -> None:
        self._beat_seq = None
        if self._beat_timer is not None:
            self._beat_timer.cancel()
        self._answered_at = now = self._loop.time()
        self.stats.rtt_s.append(now - self._beat_sent_at)
        self._next_beat()
        try:
            beat = Heartbeat.unpack(frame.payload[1:])
        except DriverError as exc:
            log.warning("undecodable heartbeat reply: %s", exc)
            return
        behind = (beat.last_event_seq - self._next_event) & 0xFFFF
        if behind < 0x8000:
            self._replay_from_gap()

    def _stop_heartbeats(self) -> None:
        if self._beat_timer is not None:
            self._beat_timer.cancel()
        self._beat_timer = self._beat_seq = None

    def _reconnecting(self) -> bool:
        return self._reconnect_task is not None and not self._reconnect_task.done()

    def _start_reconnect(self) -> None:
        if not self._reconnecting():
            self._stop_heartbeats()
            self._reconnect_task = self._spawn(self._reconnect())

    def _on_lost(self, exc: Exception | None) -> None:
        log.warning("%s link lost: %s", self.name, exc)
        self._transport = None
        if self.reconnect_enabled and not self._closed:
            self._start_reconnect()

    async def _reconnect(self) -> None:
        self.stats.reconnects += 1
        if self._transport is not None:
            self._transport.close()
            self._transport = None
        delay = 0.05
        while not self._closed:
            try:
                self._open()
                await self._hello()
                break
            except IncompatibleDevice as exc:
                self._events.put_nowait(exc)
                await self.close()
                return
            except (TransportError, LinkTimeout) as exc:
                log.info("%s reconnect failed: %s", self.name, exc)
                if self._transport is not None:
                    self._transport.close()
                    self._transport = None
                await asyncio.sleep(delay)
                delay = min(delay * 2, 2.0)
        if not self._closed:
            self._start_heartbeats()
            self._replay_from_gap()


def heartbeat_timing(watchdog_s: float, reply_timeout_s: float) -> tuple[float, float]:
    """(period, resend timeout) of heartbeats for a device watchdog.

    A heartbeat goes out after half the watchdog without other traffic; one unanswered
    within 10% (at least 10 ms, at most the reply timeout) is sent again at once. At the
    default 250 ms that is 125 ms and 25 ms: four heartbeats lost in a row still leave the
    fifth inside the watchdog (125 + 4 x 25 = 225 ms), as many as a fixed 50 ms period
    allowed, with 40% of its traffic on an idle link.
    """
    return 0.5 * watchdog_s, min(reply_timeout_s, max(0.01, 0.1 * watchdog_s))


def _type_name(msg_type: int) -> str:
    try:
        return MsgType(msg_type).name
    except ValueError:
        return f"0x{msg_type:02X}"
