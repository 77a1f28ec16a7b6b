"""What the line does to a Modbus server's answers: the simulator's link faults, applied
through pymodbus's trace_packet hook on the server.

An answer may be lost, damaged or sent twice. A client cannot tell a lost answer from a lost
request, and the lost answer is the harder case (the request was executed, the client will
send it again), so faults act on the answers. A damaged RTU answer fails the client's CRC;
TCP checks its own segments, so there a damaged answer is a lost one. Frame delays apply to
the serial bridge only. Every answer the line damaged counts towards the firmware's link
monitor (link_degraded), as an RS-485 transceiver reading back the line would.
"""

from __future__ import annotations

from collections.abc import Callable

from simulator.faults import LinkFaults
from simulator.firmware import Firmware

TraceHook = Callable[[bool, bytes], bytes]
BURST_ANSWERS = 6


class ModbusLineFaults:
    def __init__(self, faults: LinkFaults, firmware: Firmware, *, tcp: bool,
                 then: TraceHook | None = None) -> None:
        self.faults = faults
        self.tcp = tcp
        self.then = then
        """A further hook that sees what really goes on the line (after the faults)."""
        self._burst_left = 0
        self.single_answers = 0
        """Answers put on the line as exactly one undamaged copy (no loss, no damage, no
        duplicate): the ones a client is sure to receive as sent."""
        self.attach(firmware)

    def attach(self, firmware: Firmware) -> None:
        self.firmware = firmware
        firmware.add_burst_listener(self._start_burst)

    def _start_burst(self) -> None:
        self._burst_left = 2 * BURST_ANSWERS

    def __call__(self, sending: bool, data: bytes) -> bytes:
        if sending:
            data = self._on_the_line(data)
        return self.then(sending, data) if self.then else data

    def _on_the_line(self, answer: bytes) -> bytes:
        if self.firmware.link_silent():
            return b""
        if self._burst_left:
            # Every other answer, so the client's polls still feed the watchdog.
            self._burst_left -= 1
            if self._burst_left % 2 == 0:
                return self._damage(answer)
        delivered = self.faults.apply(answer)
        out = b""
        for _, copy in delivered:
            out += b"" if (self.tcp and copy != answer) else copy
            if copy != answer:
                self.firmware.note_bad_frame()
        self.single_answers += out == answer
        return out

    def _damage(self, answer: bytes) -> bytes:
        self.firmware.note_bad_frame()
        return b"" if self.tcp else self.faults.corrupt(answer + b"\x00")[:-1]
