"""The driver core: what every bridge promises the controller, written once.

Over any link (drivers/link.py):
- **The same gun, the same boot.** IDENTIFY at connect and at every reconnect checks the
  model and protocol, and then that the serial number, the boot id and the configuration are
  the ones first met; every keepalive answer checks the boot id again. A different or
  rebooted gun is never adopted: the driver stops and says why (DifferentDevice,
  DeviceRebooted), and the session ends failed.
- **Events in order, each once.** Duplicates are dropped; a gap (a later number, or a
  keepalive's newest number ahead of ours) is filled by asking the link for a replay; events
  the gun no longer holds are an error, never a silent hole.
- **A keepalive paced by the gun's watchdog**, counted from the last moment the gun is known
  to have heard us (the send time of the last frame answered): one after half the watchdog,
  then again every `link.resend_s` until one is answered, whatever commands are being
  retransmitted meanwhile.
- **A link that fails fast.** Keepalives unanswered for `reconnect_after_s`: the port is
  reopened and the gun identified again; unanswered for `lost_after_s`: LinkLost, the driver
  closes, and every waiting call and the event stream end with it (within a second of the
  gun's last answer at the default watchdog).
- One error mapping (the gun's numbered refusal names the payload field), one set of link
  statistics (command round trips apart from keepalives).
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import AsyncIterator, Callable
from dataclasses import replace

from drivers.codes import error_name
from drivers.config import UNLOCK_KEYS, DeviceConfig, factory_config
from drivers.driver import SUPPORTED_MODELS, LinkStats, event_stream
from drivers.errors import (
    DeviceError, DeviceRebooted, DifferentDevice, DriverError, IncompatibleDevice, LinkClosed,
    LinkLost, LinkTimeout,
)
from drivers.framing import PROTOCOL_VERSION
from drivers.link import Link
from drivers.messages import (
    COMMAND_PAYLOADS, EVENT_PAYLOADS, NO_FIELD, AckAlarm, Empty, Event, Fire,
    Heartbeat, Hello, Identity, MsgType, Prime, Status, SyringeLoaded, Unlock,
)
from drivers.program import ShotProgram
from drivers.sequence import seq_distance, seq_next
from drivers.transport import TransportError
from drivers.wire import WireStruct

log = logging.getLogger("injector.driver")

FACTORY_WATCHDOG_S = factory_config().watchdog_ms / 1000
RECONNECT_AFTER_S = 0.25
LOST_AFTER_S = 0.75
"""Keepalives unanswered for this long, reconnection included: the link is lost. The first
goes half a watchdog after the last answer, so at the default 250 ms a pulled cable ends
the session 0.875 s after the gun last answered."""


def keepalive_period_s(watchdog_s: float, resend_s: float) -> float:
    """When a keepalive goes out after the gun last heard us: half the watchdog, early
    enough that three more tries (one every `resend_s`) still land inside it, and never
    sooner than a fifth of it."""
    return max(watchdog_s / 5, min(watchdog_s / 2, watchdog_s - 3 * resend_s))


def device_error(command: MsgType, code: int, field: int, value: int,
                 limit: int) -> DeviceError:
    """The gun's numbered refusal, with the offending field named from the payload."""
    names = COMMAND_PAYLOADS[command].field_names()
    name = names[field] if field != NO_FIELD and field < len(names) else None
    return DeviceError(command.name, code, error_name(code), name, value, limit)


class DriverCore:
    """A Driver (drivers/driver.py) over any Link."""

    def __init__(self, link: Link, *, name: str | None = None,
                 models: frozenset[str] = SUPPORTED_MODELS, reconnect: bool = True,
                 reconnect_after_s: float = RECONNECT_AFTER_S,
                 lost_after_s: float = LOST_AFTER_S) -> None:
        self.link = link
        self.name = name or link.name
        self.models = models
        self.reconnect_enabled = reconnect
        self.reconnect_after_s = reconnect_after_s
        self.lost_after_s = lost_after_s
        self.stats = LinkStats()
        self.identity: Identity | None = None
        self.event_seq: int | None = None
        self.history_end: int | None = None
        self.history_gap: tuple[int, int] | None = None
        self.watchdog_s = FACTORY_WATCHDOG_S
        self._loop = asyncio.get_running_loop()
        self._session = random.randrange(1, 0x1_0000_0000)
        self._events: asyncio.Queue[Event | DriverError] = asyncio.Queue()
        self._next_event: int | None = None
        self._held: dict[int, tuple[int, bytes]] = {}
        self._tasks: set[asyncio.Task] = set()
        self._replay_task: asyncio.Task | None = None
        self._reconnect_task: asyncio.Task | None = None
        self._keepalive_timer: asyncio.TimerHandle | None = None
        self._confirmed_at = self._loop.time()
        self._unanswered_since: float | None = None
        """When the first keepalive that is still unanswered went out."""
        self._failure: DriverError | None = None
        self._closed = False
        self._online = asyncio.Event()
        """Set while the gun on the link is the one identified: commands wait for it, so
        nothing reaches a gun met on a reconnection before it is recognised."""
        link.bind(self)

    @property
    def resend_s(self) -> float:
        """An unanswered keepalive goes again after a twentieth of the watchdog (ten tries
        in its second half), or as soon as the link allows."""
        return max(self.link.resend_s, self.watchdog_s / 20)

    @property
    def keepalive_s(self) -> float:
        return keepalive_period_s(self.watchdog_s, self.resend_s)

    # ---- lifecycle -----------------------------------------------------------------------

    async def connect(self, resume_from: Callable[[Identity], int | None] | None = None
                      ) -> Identity:
        """Identify the gun and start following its events: from the newest on, or from
        the number `resume_from(identity)` gives (the gun's history since a record's last
        event of it, replayed first, as far as the gun still holds it)."""
        await self.link.open()
        identity = await self._identify()
        self._online.set()
        beat = Heartbeat.unpack(await self.link.exchange(MsgType.HEARTBEAT, Empty()))
        self._next_event = seq_next(beat.last_event_seq)
        resume = resume_from(identity) if resume_from is not None else None
        if resume is not None and 0 <= seq_distance(beat.last_event_seq, resume):
            resume_from = resume
            self.history_end = beat.last_event_seq
            self._next_event = resume_from
            try:
                await self.link.request_events(resume_from)
            except DeviceError as exc:
                if exc.name != "events_lost":
                    raise
                # The oldest the gun still holds: follow from there, and say what is gone.
                self.history_gap = (resume_from, exc.limit)
                self._next_event = exc.limit
                await self.link.request_events(exc.limit)
        self.watchdog_s = (await self.read_config()).watchdog_ms / 1000
        self._confirmed_at = self._loop.time()
        self._unanswered_since = None
        self._arm_keepalive(self._confirmed_at + self.keepalive_s)
        return identity

    async def _identify(self) -> Identity:
        identity = Identity.unpack(await self.link.exchange(MsgType.IDENTIFY,
                                                            Hello(self._session)))
        if identity.model not in self.models:
            raise IncompatibleDevice("model", identity.model, " or ".join(sorted(self.models)))
        if identity.protocol_version != PROTOCOL_VERSION:
            raise IncompatibleDevice("protocol_version", identity.protocol_version,
                                     PROTOCOL_VERSION)
        known = self.identity
        if known is not None:
            if identity.serial_number != known.serial_number:
                raise DifferentDevice(known.serial_number, identity.serial_number)
            if identity.boot_id != known.boot_id:
                raise DeviceRebooted(identity.serial_number, known.boot_id, identity.boot_id)
            if identity.config_hash != known.config_hash:
                raise DifferentDevice(known.serial_number, identity.serial_number,
                                      "its configuration changed while it was away "
                                      f"(hash {identity.config_hash:08x}, was "
                                      f"{known.config_hash:08x})")
        self.identity = identity
        self.link.identified()
        return identity

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._stop_keepalive()
        for task in list(self._tasks):
            task.cancel()
        self.link.close()

    def _fail(self, error: DriverError) -> None:
        """The link is lost or the gun is not the one we knew: stop, and tell every reader."""
        if self._failure is not None or self._closed:
            return
        self._failure = error
        log.error("%s: %s", self.name, error)
        self._events.put_nowait(error)
        self._closed = True
        self._online.set()                      # waiting commands wake, to fail
        self._stop_keepalive()
        for task in list(self._tasks):
            if task is not asyncio.current_task():
                task.cancel()
        self.link.close()

    def _spawn(self, coroutine) -> asyncio.Task:
        task = self._loop.create_task(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    # ---- the commands of the Driver interface --------------------------------------------

    async def _exchange(self, command: MsgType, payload: WireStruct = Empty(), *,
                        urgent: bool = False, attempts: int | None = None) -> bytes:
        if not self._online.is_set() and not urgent:
            await self._online.wait()
        if self._closed:
            raise self._failure or LinkClosed(f"{self.name} driver is closed")
        try:
            return await self.link.exchange(command, payload, urgent=urgent, attempts=attempts)
        except LinkClosed:
            if self._failure is not None:
                raise self._failure from None
            raise

    async def home(self) -> None:
        await self._exchange(MsgType.HOME)

    async def load_program(self, program: ShotProgram) -> None:
        await self._exchange(MsgType.LOAD_PROGRAM, program)

    async def arm(self) -> None:
        await self._exchange(MsgType.ARM)

    async def disarm(self) -> None:
        await self._exchange(MsgType.DISARM)

    async def fire(self, count: int) -> None:
        await self._exchange(MsgType.FIRE, Fire(count))

    async def hold(self) -> None:
        await self._exchange(MsgType.HOLD, urgent=True)

    async def resume(self) -> None:
        await self._exchange(MsgType.RESUME)

    async def emergency_stop(self) -> None:
        await self._exchange(MsgType.ESTOP, urgent=True, attempts=30)

    async def acknowledge(self, alarm_code: int) -> None:
        await self._exchange(MsgType.ACK_ALARM, AckAlarm(alarm_code))

    async def prime(self, volume_nl: int) -> None:
        await self._exchange(MsgType.PRIME, Prime(volume_nl))

    async def syringe_loaded(self, volume_nl: int) -> None:
        await self._exchange(MsgType.SYRINGE_LOADED, SyringeLoaded(volume_nl))

    async def read_config(self) -> DeviceConfig:
        return DeviceConfig.unpack(await self._exchange(MsgType.READ_CONFIG))

    async def write_config(self, config: DeviceConfig) -> None:
        """Unlock (the two keys) and write; the gun locks again after the write. The new
        configuration is the one a reconnection must find."""
        for key in UNLOCK_KEYS:
            await self._exchange(MsgType.UNLOCK_CONFIG, Unlock(key))
        await self._exchange(MsgType.WRITE_CONFIG, config)
        self.watchdog_s = config.watchdog_ms / 1000
        if self.identity is not None:
            self.identity = replace(self.identity, config_hash=config.config_hash())

    async def status(self) -> Status:
        status = Status.unpack(await self._exchange(MsgType.STATUS))
        self._check_boot(status.boot_id)
        self._check_newest(status.last_event_seq)
        return status

    def events(self) -> AsyncIterator[Event]:
        return event_stream(self._events, self._yielded)

    def _yielded(self, number: int) -> None:
        self.event_seq = number

    def pending_events(self) -> int:
        return self._events.qsize()

    # ---- what the link reports (LinkSink) ------------------------------------------------

    def on_confirmed(self, sent_at: float) -> None:
        if sent_at > self._confirmed_at:
            self._confirmed_at = sent_at
        if self._unanswered_since is not None:
            # The keepalive's timer waits for a resend: move it to the next keepalive now,
            # rather than wake for a resend that is no longer needed.
            self._unanswered_since = None
            if self._keepalive_timer is not None:
                self._arm_keepalive(self._confirmed_at + self.keepalive_s)

    def on_keepalive(self, beat: Heartbeat) -> None:
        self._check_boot(beat.boot_id)
        self._check_newest(beat.last_event_seq)

    def on_lost(self, exc: Exception | None) -> None:
        log.warning("%s: the port failed: %s", self.name, exc)
        self._start_reconnect()

    def on_event(self, seq: int, msg_type: int, payload: bytes) -> None:
        if self._next_event is None or self._closed:
            return                      # history from before we connected
        distance = seq_distance(seq, self._next_event)
        if distance < 0 or seq in self._held:
            self.stats.duplicate_events += 1
            return
        if distance > 0:
            self._held[seq] = (msg_type, payload)
            self._request_replay()
            return
        self._deliver(msg_type, payload)
        while self._next_event in self._held:
            self._deliver(*self._held.pop(self._next_event))

    def _deliver(self, msg_type: int, payload: bytes) -> None:
        try:
            event = EVENT_PAYLOADS[MsgType(msg_type)].unpack(payload)
        except (DriverError, ValueError) as exc:
            log.warning("undecodable event %d: %s", self._next_event, exc)
        else:
            self.stats.events += 1
            self._events.put_nowait((self._next_event, event))
        self._next_event = seq_next(self._next_event)

    def _check_boot(self, boot_id: int) -> None:
        if self.identity is not None and boot_id != self.identity.boot_id:
            self._fail(DeviceRebooted(self.identity.serial_number, self.identity.boot_id,
                                      boot_id))

    def _check_newest(self, newest: int) -> None:
        """The gun says its newest event is `newest`: fetch what we have not had."""
        if self._next_event is not None and seq_distance(newest, self._next_event) >= 0:
            self._request_replay()

    def _request_replay(self) -> None:
        if self._next_event is None:
            return                  # not following yet: connect() asks from where it starts
        if not self._closed and (self._replay_task is None or self._replay_task.done()):
            self._replay_task = self._spawn(self._replay())

    async def _replay(self) -> None:
        try:
            self.stats.replays += 1
            await self.link.request_events(self._next_event)
        except DeviceError as exc:
            # The gun no longer holds what we missed: a gap in the record we must not hide.
            self._fail(exc)
        except (LinkTimeout, LinkClosed, TransportError):
            pass                        # the next keepalive will ask again

    # ---- keepalive, reconnection, loss ---------------------------------------------------

    # Keepalives run on one timer callback, re-armed as it fires: an idle link costs the
    # loop one wake-up per keepalive, a busy one (commands answered) none.

    def _arm_keepalive(self, at: float) -> None:
        if self._keepalive_timer is not None:
            self._keepalive_timer.cancel()
        self._keepalive_timer = self._loop.call_at(at, self._keepalive_due)

    def _stop_keepalive(self) -> None:
        if self._keepalive_timer is not None:
            self._keepalive_timer.cancel()
            self._keepalive_timer = None

    def _keepalive_due(self) -> None:
        self._keepalive_timer = None
        if self._closed or self._reconnecting():
            return
        now = self._loop.time()
        due = self._confirmed_at + self.keepalive_s
        if due - now > 1e-9:
            self._arm_keepalive(due)            # the gun heard us since: not yet
            return
        if self._unanswered_since is None:
            self._unanswered_since = now
        silent = now - self._unanswered_since
        if silent >= self.lost_after_s:
            self._fail(LinkLost(self.name, now - self._confirmed_at))
            return
        if silent >= self.reconnect_after_s and self.reconnect_enabled:
            self._start_reconnect()
            return
        self.stats.keepalives += 1
        self.link.keepalive()
        self._arm_keepalive(now + self.resend_s)          # again, unless answered by then

    def _reconnecting(self) -> bool:
        return self._reconnect_task is not None and not self._reconnect_task.done()

    def _start_reconnect(self) -> None:
        if self._closed or self._reconnecting():
            return
        if not self.reconnect_enabled:
            self._fail(LinkLost(self.name, self._loop.time() - self._confirmed_at))
            return
        self._stop_keepalive()
        self._online.clear()
        self._reconnect_task = self._spawn(self._reconnect())

    async def _reconnect(self) -> None:
        """Reopen and identify the gun again, until `lost_after_s` of silence."""
        self.stats.reconnects += 1
        started = self._unanswered_since if self._unanswered_since is not None \
            else self._loop.time()
        deadline = started + self.lost_after_s
        delay = 0.02
        while not self._closed:
            try:
                async with asyncio.timeout(max(0.0, deadline - self._loop.time())):
                    await self.link.open()
                    await self._identify()
                break
            except (DifferentDevice, DeviceRebooted, IncompatibleDevice) as exc:
                self._fail(exc)
                return
            except (TransportError, LinkTimeout, LinkClosed, TimeoutError) as exc:
                log.info("%s: reconnect failed: %r", self.name, exc)
                if self._loop.time() + delay >= deadline:
                    self._fail(LinkLost(self.name, self._loop.time() - self._confirmed_at))
                    return
                await asyncio.sleep(delay)
                delay = min(delay * 2, 0.2)
        if not self._closed:
            self._online.set()
            self._arm_keepalive(self._loop.time())
            self._request_replay()
