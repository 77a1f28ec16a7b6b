"""Raw frames to and from a gun, through the drivers' codec and nothing else.

The conformance suite judges the gun, so it cannot lean on the host driver's guarantees: this
link neither retransmits nor reorders, lets a check write any bytes (a damaged frame, two
frames in one write, the same frame twice), and records every answer and event in arrival
order so a check can say what the gun did and did not send.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import NamedTuple

from drivers.cobs import cobs_encode
from drivers.crc import crc16
from drivers.framing import (
    CRC, DELIMITER, HEADER, PROTOCOL_VERSION, Frame, FrameDecoder, encode_frame,
)
from drivers.messages import EVENT_PAYLOADS, MsgType
from drivers.transport import ByteTransport
from injector.conformance.errors import CheckFailed

REPLY_TIMEOUT_S = 1.0
"""How long a check waits for an answer. No retransmission: the suite runs on a clean line,
and a gun that misses a frame there fails the check that sent it. A gun answers in a few
milliseconds; the margin is for a loaded test machine, and costs only when the gun is mute
(the watchdog is fed meanwhile)."""


class Event(NamedTuple):
    seq: int
    type: int
    payload: bytes


def raw_frame(msg_type: int, seq: int, payload: bytes = b"", *, version: int = PROTOCOL_VERSION,
              length: int | None = None, crc_xor: int = 0) -> bytes:
    """A frame's wire bytes, optionally wrong on purpose: another version, a length field
    that disagrees with the payload, or a CRC with bits flipped."""
    body = HEADER.pack(version, msg_type, seq & 0xFFFF,
                       len(payload) if length is None else length) + payload
    body += CRC.pack(crc16(body) ^ crc_xor)
    return cobs_encode(body) + DELIMITER


def flipped_payload_frame(msg_type: int, seq: int, payload: bytes) -> bytes:
    """A frame whose CRC was computed over `payload` before one of its bits flipped in
    transit."""
    body = HEADER.pack(PROTOCOL_VERSION, msg_type, seq & 0xFFFF, len(payload)) + payload
    crc = crc16(body)
    damaged = bytearray(body)
    damaged[-1] ^= 0x01
    return cobs_encode(bytes(damaged) + CRC.pack(crc)) + DELIMITER


class RawLink:
    def __init__(self, open_transport: Callable[[], ByteTransport], *,
                 reply_timeout_s: float = REPLY_TIMEOUT_S) -> None:
        self._open_transport = open_transport
        self.reply_timeout_s = reply_timeout_s
        self._loop = asyncio.get_running_loop()
        self._transport: ByteTransport | None = None
        self._decoder = FrameDecoder()
        self._seq = 0
        self._waiting: dict[int, asyncio.Future] = {}
        self.answers: list[Frame] = []
        """Every OK and ERROR the gun sent, in arrival order (duplicates included)."""
        self.events: list[Event] = []
        """Every event frame, live or replayed, in arrival order."""
        self.arrived = asyncio.Event()
        self.lost: Exception | None = None

    # ---- the port ------------------------------------------------------------------------

    def open(self) -> None:
        self.close()
        self._decoder = FrameDecoder()
        self.lost = None
        transport = self._open_transport()
        transport.start(self._on_data, self._on_lost)
        self._transport = transport

    def close(self) -> None:
        if self._transport is not None:
            self._transport.close()
            self._transport = None

    @property
    def bad_frames_from_gun(self) -> int:
        """Frames from the gun that did not check out (COBS, length or CRC)."""
        return self._decoder.frames_bad

    def _on_lost(self, exc: Exception | None) -> None:
        self._transport = None
        self.lost = exc or ConnectionError("the port closed")
        for future in self._waiting.values():
            if not future.done():
                future.set_exception(CheckFailed(f"the port was lost: {self.lost}", self.lost))

    def _on_data(self, data: bytes) -> None:
        for frame in self._decoder.feed(data):
            if frame.type in (MsgType.OK, MsgType.ERROR):
                self.answers.append(frame)
                future = self._waiting.get(frame.seq)
                if future is not None and not future.done():
                    future.set_result(frame)
            elif frame.type in EVENT_PAYLOADS:
                self.events.append(Event(frame.seq, frame.type, frame.payload))
        self.arrived.set()

    # ---- sending -------------------------------------------------------------------------

    def next_seq(self) -> int:
        self._seq = (self._seq + 1) & 0xFFFF
        return self._seq

    def write(self, data: bytes) -> None:
        if self._transport is None:
            raise CheckFailed("the port is closed", self.lost)
        self._transport.write(data)

    def expect(self, seq: int) -> asyncio.Future:
        """A future for the next answer carrying `seq`; register it before writing."""
        future = self._loop.create_future()
        self._waiting[seq] = future
        return future

    async def answer(self, future: asyncio.Future, what: str) -> Frame:
        try:
            return await asyncio.wait_for(future, self.reply_timeout_s)
        except TimeoutError:
            raise CheckFailed(f"no answer to {what} within "
                              f"{self.reply_timeout_s * 1000:.0f} ms", what) from None
        finally:
            for seq, waiting in list(self._waiting.items()):
                if waiting is future:
                    del self._waiting[seq]

    async def request(self, msg_type: int, payload: bytes = b"") -> Frame:
        """Send one command (any type, a command or not) and return its answer."""
        seq = self.next_seq()
        future = self.expect(seq)
        self.write(encode_frame(Frame(msg_type, seq, payload)))
        name = msg_type.name if isinstance(msg_type, MsgType) else f"type 0x{msg_type:02X}"
        return await self.answer(future, f"{name} (seq {seq})")

    def answered(self, seq: int) -> list[Frame]:
        return [frame for frame in self.answers if frame.seq == seq]

    async def wait_for(self, condition: Callable[[], bool], timeout_s: float, what: str) -> None:
        """Until `condition` holds, checked whenever a frame arrives; CheckFailed after
        `timeout_s` by the loop's clock."""
        deadline = self._loop.time() + timeout_s
        while not condition():
            left = deadline - self._loop.time()
            if left <= 0:
                raise CheckFailed(f"{what} did not happen within {timeout_s * 1000:.0f} ms",
                                  what)
            self.arrived.clear()
            try:
                await asyncio.wait_for(self.arrived.wait(), left)
            except TimeoutError:
                pass
