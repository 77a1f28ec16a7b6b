"""The framed serial protocol as a link (docs/protocol.md): commands numbered and
retransmitted with the same number until answered, events pushed by the gun, heartbeats,
over any byte transport (a serial port, a pty, an in-memory pipe).

Everything the bridges share (identification, event order, keepalive pacing, reconnection)
is in drivers/core.py; this module only carries frames.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections import OrderedDict
from collections.abc import Callable

from drivers.core import DriverCore, device_error
from drivers.driver import SUPPORTED_MODELS
from drivers.errors import DriverError, LinkClosed, LinkTimeout
from drivers.framing import Frame, FrameDecoder, encode_frame
from drivers.link import LinkSink
from drivers.messages import EVENT_PAYLOADS, Empty, ErrorBody, GetEvents, Heartbeat, MsgType
from drivers.transport import ByteTransport
from drivers.wire import WireStruct

log = logging.getLogger("injector.wire")

FrameObserver = Callable[[str, Frame], None]
HEARTBEAT_REPLY = bytes([MsgType.HEARTBEAT])
"""The first byte of an OK answering a HEARTBEAT."""
KEEPALIVES_REMEMBERED = 32


class SerialLink:
    def __init__(self, open_transport: Callable[[], ByteTransport], *, name: str = "serial",
                 reply_timeout_s: float = 0.05, retries: int = 10) -> None:
        self.name = name
        self.reply_timeout_s = reply_timeout_s
        self.retries = retries
        self.frame_observers: list[FrameObserver] = []
        self._open_transport = open_transport
        self._transport: ByteTransport | None = None
        self._decoder = FrameDecoder()
        self._loop = asyncio.get_running_loop()
        self._seq = random.randrange(0x10000)
        self._pending: dict[int, tuple[int, asyncio.Future]] = {}
        self._beats: OrderedDict[int, float] = OrderedDict()
        """Keepalive sequence numbers awaiting their answer, with their send times."""
        self._sink: LinkSink | None = None
        self._identifying = True

    @property
    def resend_s(self) -> float:
        """A heartbeat's round trip at 115200 baud is about 2 ms: 5 ms leaves room."""
        return 0.005

    def bind(self, sink: LinkSink) -> None:
        self._sink = sink

    @property
    def stats(self):
        return self._sink.stats

    # ---- lifecycle -----------------------------------------------------------------------

    async def open(self) -> None:
        """Open the port, or reopen it: commands waiting for an answer keep waiting, and
        their retransmissions go out on the new port."""
        if self._transport is not None:
            self._transport.close()
            self._transport = None
        self._identifying = True
        transport = self._open_transport()
        transport.start(self._on_data, self._on_lost)
        self._transport = transport

    def identified(self) -> None:
        self._identifying = False

    def close(self) -> None:
        """Closing the port fails what waits on it; a reopen starts afresh (the gun's reply
        cache, keyed by the host's session, still answers retransmissions)."""
        self._beats.clear()
        for _, future in self._pending.values():
            if not future.done():
                future.set_exception(LinkClosed(f"{self.name} link closed"))
        if self._transport is not None:
            self._transport.close()
            self._transport = None

    def _on_lost(self, exc: Exception | None) -> None:
        self._transport = None
        if self._sink is not None:
            self._sink.on_lost(exc)

    # ---- commands ------------------------------------------------------------------------

    def _next_seq(self) -> int:
        self._seq = (self._seq + 1) & 0xFFFF
        return self._seq

    async def exchange(self, command: MsgType, payload: WireStruct = Empty(), *,
                       urgent: bool = False, attempts: int | None = None) -> bytes:
        """Send until answered, the same sequence number every time; the OK body or a
        raise. The gun's reply cache makes a retransmission safe."""
        tries = (self.retries + 1) if attempts is None else attempts
        seq = self._next_seq()
        frame = Frame(command, seq, payload.pack())
        data = encode_frame(frame)
        future = self._loop.create_future()
        self._pending[seq] = (int(command), future)
        stats = self.stats
        stats.commands += 1
        first = self._loop.time()
        try:
            for attempt in range(tries):
                if attempt:
                    stats.retransmits += 1
                sent_at = self._loop.time()
                self._send(data, frame, urgent=urgent)
                # asyncio.wait leaves the future pending on a timeout, so the resend (same
                # seq) waits on the same one, and a late first reply still counts.
                await asyncio.wait((future,), timeout=self.reply_timeout_s)
                if future.done():
                    reply = future.result()
                    break
            else:
                stats.timeouts += 1
                raise LinkTimeout(command.name, tries, self._loop.time() - first)
        finally:
            self._pending.pop(seq, None)
        stats.rtt_s.append(self._loop.time() - sent_at)
        self._sink.on_confirmed(first)
        if reply.type == MsgType.ERROR:
            body = ErrorBody.unpack(reply.payload[1:])
            raise device_error(command, body.code, body.field, body.value, body.limit)
        return reply.payload[1:]

    def keepalive(self) -> None:
        """A HEARTBEAT on its own sequence number, answered through on_keepalive."""
        if self._transport is None:
            return
        seq = self._next_seq()
        self._beats[seq] = self._loop.time()
        while len(self._beats) > KEEPALIVES_REMEMBERED:
            self._beats.popitem(last=False)
        frame = Frame(MsgType.HEARTBEAT, seq, b"")
        self._send(encode_frame(frame), frame)

    async def request_events(self, from_seq: int) -> None:
        """GET_EVENTS: the gun answers OK, then sends the events again as event frames."""
        await self.exchange(MsgType.GET_EVENTS, GetEvents(from_seq))

    def _send(self, data: bytes, frame: Frame, *, urgent: bool = False) -> None:
        if self._identifying and frame.type != MsgType.IDENTIFY:
            return                  # held until the gun on this port is recognised
        self._log("tx", frame)
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
        decoder, stats = self._decoder, self.stats
        bad_before = decoder.frames_bad
        frames = decoder.feed(data)
        stats.frames_bad += decoder.frames_bad - bad_before
        for frame in frames:
            stats.frames_received += 1
            self._log("rx", frame)
            if frame.type in (MsgType.OK, MsgType.ERROR):
                self._on_reply(frame)
            elif frame.type in EVENT_PAYLOADS:
                self._sink.on_event(frame.seq, frame.type, frame.payload)

    def _on_reply(self, frame: Frame) -> None:
        if frame.payload[:1] == HEARTBEAT_REPLY and frame.seq in self._beats:
            sent_at = self._beats.pop(frame.seq)
            try:
                beat = Heartbeat.unpack(frame.payload[1:])
            except DriverError as exc:
                log.warning("undecodable heartbeat reply: %s", exc)
                return
            self._sink.on_confirmed(sent_at)
            self._sink.on_keepalive(beat)
            return
        pending = self._pending.get(frame.seq)
        if pending is None or pending[1].done() or not frame.payload \
                or frame.payload[0] != pending[0]:
            self.stats.late_replies += 1
            return
        pending[1].set_result(frame)


def serial_driver(open_transport: Callable[[], ByteTransport], *, name: str = "serial",
                  reply_timeout_s: float = 0.05, retries: int = 10, reconnect: bool = True,
                  models: frozenset[str] = SUPPORTED_MODELS) -> DriverCore:
    """A Driver over the framed serial protocol on whatever `open_transport` opens."""
    link = SerialLink(open_transport, name=name, reply_timeout_s=reply_timeout_s,
                      retries=retries)
    return DriverCore(link, name=name, reconnect=reconnect, models=models)


def _type_name(msg_type: int) -> str:
    try:
        return MsgType(msg_type).name
    except ValueError:
        return f"0x{msg_type:02X}"
