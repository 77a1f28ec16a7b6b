"""The firmware's serial bridge: bytes in, frames to the firmware core, replies and events
out, with link faults applied to every frame in both directions.

Within one read, stop and hold frames are handled before anything else that arrived with
them; invalid frames are dropped and reported to the firmware's link monitor.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from drivers.codes import ERRORS
from drivers.framing import PROTOCOL_VERSION, Frame, FrameDecoder, encode_frame
from drivers.messages import NO_FIELD, PRIORITY_COMMANDS, ErrorBody, MsgType
from simulator.faults import LinkFaults
from simulator.firmware import Firmware

BURST_FRAMES = 6


class SerialAdapter:
    def __init__(self, firmware: Firmware, write: Callable[[bytes], None],
                 link_faults: LinkFaults | None = None, channel: str = "serial") -> None:
        self.channel = channel
        """The port this adapter serves: its reply cache outlives a host's reconnection."""
        self._write = write
        self.link_faults = link_faults or LinkFaults()
        self.decoder = FrameDecoder()
        self._loop = asyncio.get_running_loop()
        self._raw = bytearray()
        self._burst_left = 0
        self.frames_in = 0
        self.frames_out = 0
        self.cut_until = -1.0
        """Loop time until which the line carries nothing (a cable pulled and put back)."""
        self.attach(firmware)

    def attach(self, firmware: Firmware) -> None:
        """Serve this firmware (a power cycle replaces it behind the same port)."""
        self.firmware = firmware
        firmware.add_listener(self._on_event)
        firmware.add_burst_listener(self._start_burst)

    # ---- incoming ------------------------------------------------------------------------

    def feed(self, data: bytes) -> None:
        """Bytes from the wire, in whatever chunks the port delivered them."""
        if self._loop.time() < self.cut_until:
            return
        self._raw += data
        arrived: list[bytes] = []
        while (end := self._raw.find(0)) != -1:
            raw = bytes(self._raw[:end + 1])
            del self._raw[:end + 1]
            if self.firmware.link_silent():
                continue
            if self._burst_left:
                # Every other frame, so valid ones still feed the watchdog.
                self._burst_left -= 1
                if self._burst_left % 2 == 0:
                    raw = self.link_faults.corrupt(raw)
            for delay, chunk in self.link_faults.apply(raw):
                if delay:
                    self._loop.call_later(delay, self._decode, chunk)
                else:
                    arrived.append(chunk)
        if arrived:
            # Decoded together, so a stop or hold among them is executed first.
            self._decode(b"".join(arrived))

    def _decode(self, data: bytes) -> None:
        bad_before = self.decoder.frames_bad
        frames = self.decoder.feed(data)
        for _ in range(self.decoder.frames_bad - bad_before):
            self.firmware.note_bad_frame()
        # Stop and hold go first among frames that arrived together.
        if len(frames) > 1:
            frames.sort(key=lambda f: f.type not in PRIORITY_COMMANDS)
        for frame in frames:
            self._handle(frame)

    def _handle(self, frame: Frame) -> None:
        self.frames_in += 1
        self.firmware.kick()
        if frame.version != PROTOCOL_VERSION:
            error = ErrorBody(ERRORS["unsupported_version"].code, NO_FIELD, frame.version,
                              PROTOCOL_VERSION)
            self.send(Frame(MsgType.ERROR, frame.seq, bytes([frame.type]) + error.pack()))
            return
        reply = self.firmware.execute(self.channel, frame.seq, frame.type, frame.payload)
        self.send(Frame(reply.type, frame.seq, reply.payload))
        for seq, msg_type, payload in reply.replay:
            self.send(Frame(msg_type, seq, payload))

    def _start_burst(self) -> None:
        self._burst_left = 2 * BURST_FRAMES

    # ---- outgoing ------------------------------------------------------------------------

    def _on_event(self, seq: int, msg_type: MsgType, payload: bytes) -> None:
        self.send(Frame(msg_type, seq, payload))

    def send(self, frame: Frame) -> None:
        if self.firmware.link_silent() or self._loop.time() < self.cut_until:
            return
        self.frames_out += 1
        for delay, chunk in self.link_faults.apply(encode_frame(frame)):
            if delay:
                self._loop.call_later(delay, self._write, chunk)
            else:
                self._write(chunk)


