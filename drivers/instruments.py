"""Laboratory instruments a technician calibrates against, on their own serial ports.

The balance speaks the basic MT-SICS level-0 commands most laboratory balances understand:
`S` (send the stable weight), `SI` (send the weight now), `T` (tare), `Z` (zero); lines end
with CR LF; a weight answer reads `S S     12.3456 g`, where the second field is S (stable),
D (dynamic), I (busy, not executable), + or - (over or under the range). `ES` is a syntax
error. Two optional commands are used when the balance has them: `I4` (its serial number,
`I4 A "0123456789"`) and `M28` (the temperature of its sensor, `M28 A 1 22.5`); a balance
without them answers `ES` and the technician gives both. The depth gauge (a digital
indicator with a data port) answers `D` with `D S 1.2034 mm`, the depth of the last
penetration.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Awaitable, Callable

from drivers.errors import DriverError
from drivers.transport import FdTransport, open_serial_port


class InstrumentError(DriverError):
    """The instrument refused, did not answer, or answered nonsense."""


class LineInstrument:
    """Request/answer lines over a serial port, one at a time."""

    def __init__(self, transport: FdTransport, name: str, timeout_s: float) -> None:
        self.name = name
        self.timeout_s = timeout_s
        self._transport = transport
        self._buffer = bytearray()
        self._lines: asyncio.Queue[str] = asyncio.Queue()
        self._lock = asyncio.Lock()
        transport.start(self._on_data, lambda exc: None)

    def _on_data(self, data: bytes) -> None:
        self._buffer += data
        while (end := self._buffer.find(b"\r\n")) != -1:
            self._lines.put_nowait(self._buffer[:end].decode("ascii", errors="replace"))
            del self._buffer[:end + 2]

    async def ask(self, command: str) -> str:
        async with self._lock:
            while not self._lines.empty():
                self._lines.get_nowait()            # a stale answer is not this one
            self._transport.write(command.encode("ascii") + b"\r\n")
            try:
                return await asyncio.wait_for(self._lines.get(), self.timeout_s)
            except TimeoutError:
                raise InstrumentError(f"{self.name} did not answer {command!r} within "
                                      f"{self.timeout_s:g} s") from None

    def close(self) -> None:
        self._transport.close()


Ask = Callable[[str], Awaitable[str]]


class Balance:
    """An MT-SICS balance: stable weight in grams, tare and zero. `ask` sends one command
    line and returns the answer line: a serial port's (`on_port`) or a simulator's own."""

    def __init__(self, ask: Ask, name: str = "balance",
                 close: Callable[[], None] = lambda: None) -> None:
        self.name = name
        self._ask = ask
        self.close = close
        self.context = ""
        """What the next reading is of ("set 25 ul, shot 2 of 10"): a person typing readings
        in is told."""

    @classmethod
    def on_port(cls, port: str, baudrate: int = 9600, timeout_s: float = 10.0) -> Balance:
        line = LineInstrument(open_serial_port(port, baudrate), f"balance {port}", timeout_s)
        return cls(line.ask, f"balance {port}", line.close)

    async def serial_number(self) -> str | None:
        """The balance's serial number (MT-SICS I4), or None when it does not say."""
        answer = (await self._ask("I4")).split(maxsplit=2)
        if answer[:2] != ["I4", "A"] or len(answer) < 3:
            return None
        text = answer[2].strip().strip('"').strip()
        return text if text and text.isprintable() and len(text) <= 40 else None

    async def temperature_c(self) -> float | None:
        """The temperature of the balance's sensor (MT-SICS M28), or None."""
        answer = (await self._ask("M28")).split()
        if answer[:2] != ["M28", "A"] or len(answer) < 4:
            return None
        try:
            value = float(answer[3])
        except ValueError:
            return None
        return value if math.isfinite(value) else None

    async def probe(self) -> None:
        """Ask for the weight now (SI) and refuse anything but a balance's answer: a wrong
        port is found before the gun moves, not at the first tare."""
        answer = await self._ask("SI")
        fields = answer.split()
        if len(fields) != 4 or fields[0] != "S" or fields[1] not in ("S", "D") or \
                fields[3] != "g":
            raise InstrumentError(f"{self.name} does not answer as an MT-SICS balance "
                                  f"(SI gave {answer[:40]!r}): is this the balance's port?")

    async def stable_weight_g(self) -> float:
        return self._weight(await self._ask("S"), "S")

    async def tare(self) -> float:
        return self._weight(await self._ask("T"), "T")

    async def zero(self) -> None:
        answer = await self._ask("Z")
        if answer.split()[:2] != ["Z", "A"]:
            raise InstrumentError(f"balance could not zero: {answer!r}")

    def _weight(self, answer: str, command: str) -> float:
        fields = answer.split()
        if fields[:1] == ["ES"]:
            raise InstrumentError(f"balance: syntax error for {command!r}")
        if len(fields) < 2 or fields[0] != command:
            raise InstrumentError(f"balance answered {answer!r} to {command!r}")
        status = fields[1]
        if status in ("+", "-"):
            raise InstrumentError(f"balance is {'over' if status == '+' else 'under'} its range")
        if status == "I":
            raise InstrumentError("balance is busy and cannot execute the command now")
        if status != "S" or len(fields) != 4 or fields[3] != "g":
            raise InstrumentError(f"balance answered {answer!r} to {command!r}")
        try:
            value = float(fields[2])
        except ValueError:
            raise InstrumentError(f"balance weight {fields[2]!r} is not a number") from None
        if not math.isfinite(value):
            raise InstrumentError(f"balance weight {value!r} is not finite")
        return value


class DepthGauge:
    def __init__(self, ask: Ask, name: str = "depth gauge",
                 close: Callable[[], None] = lambda: None) -> None:
        self.name = name
        self._ask = ask
        self.close = close
        self.context = ""

    @classmethod
    def on_port(cls, port: str, baudrate: int = 9600, timeout_s: float = 5.0) -> DepthGauge:
        line = LineInstrument(open_serial_port(port, baudrate), f"depth gauge {port}",
                              timeout_s)
        return cls(line.ask, f"depth gauge {port}", line.close)

    async def probe(self) -> None:
        """One reading, refused unless it is a gauge's: a wrong port is found before the gun
        moves."""
        try:
            await self.last_depth_mm()
        except InstrumentError as exc:
            raise InstrumentError(f"{self.name} does not answer as a depth gauge ({exc}): "
                                  "is this the gauge's port?") from None

    async def last_depth_mm(self) -> float:
        answer = await self._ask("D")
        fields = answer.split()
        if len(fields) != 4 or fields[:2] != ["D", "S"] or fields[3] != "mm":
            raise InstrumentError(f"depth gauge answered {answer!r}")
        try:
            return float(fields[2])
        except ValueError:
            raise InstrumentError(f"depth gauge reading {fields[2]!r} is not a number") from None


EXAMPLE_READING = {"g": "0.0251", "mm": "1.02"}
"""What a reading looks like, for a person told theirs was not one."""


def is_reading(value: object, most: float = math.inf) -> bool:
    """A number a balance or gauge could show: finite, from 0 up to `most`."""
    return (isinstance(value, (int, float)) and not isinstance(value, bool)
            and math.isfinite(value) and 0 <= value <= most)


class TypedInstrument:
    """A balance or gauge whose readings a person gives (at a terminal, at the touchscreen):
    it answers the instrument's commands as one without a serial number or thermometer
    would, asking `tare(context)` and `reading(context)` of the person. One home for the
    answers, so every way of typing readings gives the calibration the same lines."""

    def __init__(self, kind: str, unit: str) -> None:
        self.kind, self.unit = kind, unit
        self.instrument: Balance | DepthGauge | None = None
        """Set by whoever builds the instrument on `ask`: its `context` says what the next
        reading is of (which set value, which shot of how many)."""

    async def tare(self, context: str) -> None:
        raise NotImplementedError

    async def reading(self, context: str) -> float:
        raise NotImplementedError

    async def ask(self, command: str) -> str:
        context = self.instrument.context if self.instrument is not None else ""
        if command in ("I4", "M28"):
            return "ES"                         # typed readings say neither
        if command in ("T", "Z"):
            await self.tare(context)
            return "T S 0.0000 g" if command == "T" else "Z A"
        value = await self.reading(context)
        tag = "S S" if self.unit == "g" else "D S"
        return f"{tag} {value} {self.unit}"
