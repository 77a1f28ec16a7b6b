"""Modbus RTU or TCP as a link (docs/modbus.md), over a pymodbus client.

- A command goes through the command block with a token; a retried write carries the same
  token and the gun executes it once. One FC23 transaction writes the block and reads back
  its result. Stop and hold are coil writes that take the next turn on the line.
- A keepalive is a read of the status registers: it feeds the gun's watchdog and tells the
  newest event and the boot. Events are read through the event window.
- Every answer is checked against its request (RTU has no transaction ids, so a late copy of
  an earlier answer could otherwise pass for this one), and bytes that came without making a
  valid answer count as a damaged frame.

Everything the bridges share is in drivers/core.py; this module only carries requests.
"""

from __future__ import annotations

import asyncio
import logging
import random
import termios
from collections.abc import Callable
from contextlib import asynccontextmanager

from pymodbus.client.base import ModbusBaseClient
from pymodbus.exceptions import ModbusException

from drivers import modbus_map as mm
from drivers.codes import ERRORS
from drivers.core import DriverCore, device_error
from drivers.driver import SUPPORTED_MODELS
from drivers.errors import DeviceError, DriverError, LinkClosed, LinkTimeout
from drivers.link import LinkSink
from drivers.config import DeviceConfig
from drivers.messages import NO_FIELD, Empty, Heartbeat, Identity, MsgType, Status
from drivers.program import ShotProgram
from drivers.sequence import seq_distance
from drivers.transport import TransportError
from drivers.wire import WireStruct

log = logging.getLogger("injector.modbus")

KEEPALIVE = "keepalive"
EXCEPTION_NAMES = {1: "illegal function", 2: "illegal data address", 3: "illegal data value",
                   4: "device failure", 6: "device busy"}


class ModbusExceptionError(DriverError):
    """A Modbus exception response that is not a refusal the gun explains."""

    def __init__(self, what: str, code: int) -> None:
        self.what, self.code = what, code
        super().__init__(f"device refused {what}: Modbus exception {code} "
                         f"({EXCEPTION_NAMES.get(code, 'unknown')})")


class PriorityGate:
    """One request on the line at a time; urgent ones take the next turn."""

    def __init__(self) -> None:
        self._cond = asyncio.Condition()
        self._busy = False
        self._urgent = 0

    @asynccontextmanager
    async def turn(self, urgent: bool = False):
        async with self._cond:
            self._urgent += urgent
            try:
                await self._cond.wait_for(
                    lambda: not self._busy and (urgent or self._urgent == 0))
            finally:
                self._urgent -= urgent
            self._busy = True
        try:
            yield
        finally:
            async with self._cond:
                self._busy = False
                self._cond.notify_all()


_FUNCTION_CODES = {"read_coils": 1, "read_discrete_inputs": 2, "read_holding_registers": 3,
                   "read_input_registers": 4, "write_coil": 5, "write_register": 6,
                   "write_registers": 16, "readwrite_registers": 23}


def _answers(method: str, args: tuple, kwargs: dict, response) -> bool:
    """Does `response` answer this request: same function, address and size?"""
    if response.function_code != _FUNCTION_CODES[method]:
        return False
    if method in ("read_holding_registers", "read_input_registers"):
        return len(response.registers) == kwargs["count"]
    if method == "readwrite_registers":
        return len(response.registers) == kwargs["read_count"]
    if method in ("write_register", "write_coil"):
        return response.address == args[0]
    if method == "write_registers":
        return response.address == args[0] and response.count == len(kwargs["values"])
    return True


def _field_at(fields: tuple[mm.RegisterField, ...], address: int) -> str | None:
    for field in fields:
        if field.address <= address < field.address + field.words:
            return field.name
    return None


class ModbusLink:
    def __init__(self, make_client: Callable[[], ModbusBaseClient], *, name: str = "modbus",
                 unit: int = 1, retries: int = 3, timeout_s: float = 0.06) -> None:
        self.name = name
        self.unit = unit
        self.retries = retries
        self.timeout_s = timeout_s
        self._make_client = make_client
        self._client: ModbusBaseClient | None = None
        self._gate = PriorityGate()
        self._token = random.randrange(1, 0x10000)
        self._keepalive_task: asyncio.Task | None = None
        self._bytes_heard = 0
        self._sink: LinkSink | None = None
        self._loop = asyncio.get_running_loop()
        self._identified = asyncio.Event()

    @property
    def resend_s(self) -> float:
        """A keepalive cannot go again before the one on the line has timed out."""
        return self.timeout_s

    def bind(self, sink: LinkSink) -> None:
        self._sink = sink

    @property
    def stats(self):
        return self._sink.stats

    # ---- lifecycle -----------------------------------------------------------------------

    async def open(self) -> None:
        """Connect (again): a new client, and nothing but the identity read until the core
        has recognised the gun."""
        self._identified.clear()
        if self._client is not None:
            self._client.close()
        self._client = self._make_client()
        self._watch_answers(self._client)
        try:
            connected = await self._client.connect()
        except (OSError, ValueError, termios.error) as exc:
            # termios refuses parity on a pseudo-terminal, which carries none.
            connected = False
            why = f": {exc}" + ("; a pseudo-terminal carries no parity, use parity=N"
                                if isinstance(exc, termios.error) else "")
        else:
            why = ""
        if not connected:
            self._client.close()
            raise TransportError(f"cannot connect to {self.name}{why}: check that the gun is "
                                 f"on and connected and that this is its address or device "
                                 f"(injector sim prints its own)")

    def identified(self) -> None:
        self._identified.set()

    def close(self) -> None:
        if self._keepalive_task is not None:
            self._keepalive_task.cancel()
        if self._client is not None:
            self._client.close()
            self._client = None
        self._identified.set()          # whoever waits wakes, and finds the link closed

    def _watch_answers(self, client: ModbusBaseClient) -> None:
        """Count the bytes the line brings, so an answer that arrived damaged (its CRC
        failed, pymodbus dropped it) is counted as a bad frame, not only as a timeout."""
        self._bytes_heard = 0
        manager = getattr(client, "ctx", None)
        if manager is None:
            return
        inner = manager.trace_packet

        def trace(sending: bool, data: bytes) -> bytes:
            if not sending:
                self._bytes_heard += len(data)
            return inner(sending, data)
        manager.trace_packet = trace

    # ---- transactions --------------------------------------------------------------------

    async def _call(self, what: str, method: str, *args, urgent: bool = False,
                    attempts: int | None = None, **kwargs):
        """One Modbus transaction, retried with identical content on silence or on an answer
        that does not match the request."""
        if what != "read identity" and not self._identified.is_set():
            await self._identified.wait()
        if self._client is None:
            raise LinkClosed(f"{self.name} link is closed")
        tries = (self.retries + 1) if attempts is None else attempts
        stats = self.stats
        first = self._loop.time()
        attempt = 0
        while attempt < tries:
            if attempt:
                stats.retransmits += 1
            attempt += 1
            response = None
            async with self._gate.turn(urgent):
                if self._client is None:
                    raise LinkClosed(f"{self.name} link is closed")
                self._discard_stale_input()
                stats.frames_sent += 1
                heard = self._bytes_heard
                sent = self._loop.time()
                try:
                    response = await getattr(self._client, method)(*args, device_id=self.unit,
                                                                   **kwargs)
                except ModbusException as exc:
                    if self._bytes_heard != heard:
                        stats.frames_bad += 1        # bytes came, no valid answer: damaged
                    log.info("%s: %s (try %d)", what, exc, attempt + 1)
                    dropped = not self._client.connected
            if response is None:
                if dropped and what != "read identity":
                    # The connection dropped: the core reconnects and identifies the gun
                    # again; this request waits for that, then tries again (the same
                    # token: the gun runs it once), a try not spent.
                    self._identified.clear()
                    self._sink.on_lost(None)
                    if self._client is None:        # closed meanwhile: no reconnection
                        raise LinkClosed(f"{self.name} link is closed")
                    await self._identified.wait()
                    attempt -= 1
                continue
            stats.frames_received += 1
            if response.isError():
                if response.function_code & 0x7F != _FUNCTION_CODES[method]:
                    stats.frames_bad += 1
                    continue
                self._sink.on_confirmed(first)
                raise await self._exception(what, response.exception_code)
            if not _answers(method, args, kwargs, response):
                stats.frames_bad += 1
                log.info("%s: answer does not match the request: %s", what, response)
                continue
            self._sink.on_confirmed(first)
            if what != KEEPALIVE:
                stats.rtt_s.append(self._loop.time() - sent)
            return response
        stats.timeouts += 1
        raise LinkTimeout(what, tries, self._loop.time() - first)

    def _discard_stale_input(self) -> None:
        """Drop bytes still waiting from earlier answers before a new request, as an RTU
        master does: pymodbus decodes one frame per read, so a late or doubled answer left
        in its buffer would otherwise be taken for the answer to the next request."""
        protocol = getattr(self._client, "ctx", None)
        if protocol is not None and getattr(protocol, "recv_buffer", b""):
            self.stats.frames_bad += 1
            protocol.recv_buffer = b""

    async def _exception(self, what: str, code: int) -> DriverError:
        """Turn an exception answer into our error, with the gun's own account of it from
        the refusal registers (which register, the value, the limit)."""
        if code not in (1, 3):
            return ModbusExceptionError(what, code)
        start, count = mm.span(mm.REFUSAL)
        response = await self._call("read refusal", "read_holding_registers", start,
                                    count=count)
        refusal = mm.from_registers(mm.WriteRefusal, mm.REFUSAL, response.registers)
        field = (_field_at(mm.PROGRAM, refusal.address) or _field_at(mm.CONFIG, refusal.address)
                 or _field_at(mm.COMMAND_BLOCK, refusal.address))
        error = "locked" if code == 1 else "out_of_range"
        return DeviceError(what, ERRORS[error].code, error, field, refusal.value, refusal.limit)

    async def _read(self, fields: tuple[mm.RegisterField, ...], cls: type[WireStruct],
                    what: str, *, holding: bool = False, attempts: int | None = None):
        start, count = mm.span(fields)
        method = "read_holding_registers" if holding else "read_input_registers"
        response = await self._call(what, method, start, count=count, attempts=attempts)
        return mm.from_registers(cls, fields, response.registers)

    async def _command(self, command: MsgType, arg: int = 0, *,
                       attempts: int | None = None) -> None:
        """One command through the command block, with a fresh token (1..65535)."""
        self._token = self._token % 0xFFFF + 1
        token = self._token
        result_at, result_count = mm.span(mm.RESULT)
        words = [int(command), arg >> 16, arg & 0xFFFF, token]
        try:
            response = await self._call(command.name, "readwrite_registers",
                                        read_address=result_at, read_count=result_count,
                                        write_address=mm.COMMAND_CODE, values=words,
                                        attempts=attempts)
        except DeviceError as exc:
            if exc.name != "out_of_range":
                raise
            # A value out of range is an exception 3; the result block says which field.
            result = await self._read(mm.RESULT, mm.CommandResult, "read result", holding=True)
            raise device_error(command, result.result, result.field, result.value,
                               result.limit) from None
        result = mm.from_registers(mm.CommandResult, mm.RESULT, response.registers)
        if result.token != token:
            raise DriverError(f"{command.name}: result belongs to token {result.token}, "
                              f"not {token}: another client is commanding this gun")
        if result.result:
            raise device_error(command, result.result, result.field, result.value, result.limit)

    # ---- the link's messages -------------------------------------------------------------

    async def exchange(self, command: MsgType, payload: WireStruct = Empty(), *,
                       urgent: bool = False, attempts: int | None = None) -> bytes:
        """Each message of the serial protocol, as this map carries it; the answer in the
        serial protocol's form."""
        self.stats.commands += 1
        if command is MsgType.IDENTIFY:
            return (await self._read(mm.IDENTITY, Identity, "read identity",
                                     attempts=attempts)).pack()
        if command in (MsgType.STATUS, MsgType.HEARTBEAT):
            status = await self._read(mm.STATUS, Status, command.name, attempts=attempts)
            return (status if command is MsgType.STATUS else _beat(status)).pack()
        if command is MsgType.READ_CONFIG:
            return (await self._read(mm.CONFIG, DeviceConfig, "READ_CONFIG", holding=True,
                                     attempts=attempts)).pack()
        if command is MsgType.WRITE_CONFIG:
            await self._call("WRITE_CONFIG", "write_registers", mm.CONFIG[0].address,
                             values=mm.to_registers(payload, mm.CONFIG), attempts=attempts)
        elif command is MsgType.UNLOCK_CONFIG:
            await self._call("UNLOCK_CONFIG", "write_register", mm.UNLOCK, payload.key,
                             attempts=attempts)
        elif command in (MsgType.HOLD, MsgType.ESTOP):
            coil = mm.Coil.HOLD if command is MsgType.HOLD else mm.Coil.EMERGENCY_STOP
            await self._call(command.name, "write_coil", coil, True, urgent=True,
                             attempts=attempts)
        elif command is MsgType.GET_EVENTS:
            await self.request_events(payload.from_seq)
        elif command is MsgType.LOAD_PROGRAM:
            program: ShotProgram = payload
            await self._call("LOAD_PROGRAM", "write_registers", mm.PROGRAM[0].address,
                             values=mm.to_registers(program, mm.PROGRAM), attempts=attempts)
            await self._command(MsgType.LOAD_PROGRAM, attempts=attempts)
        elif command in mm.BLOCK_COMMANDS:
            names = payload.field_names()
            await self._command(command, getattr(payload, names[0]) if names else 0,
                                attempts=attempts)
        else:
            raise device_error(command, ERRORS["unknown_command"].code, NO_FIELD, int(command),
                               0)
        return b""

    def keepalive(self) -> None:
        """A status read, unless one is still on the line."""
        if self._keepalive_task is None or self._keepalive_task.done():
            self._keepalive_task = self._loop.create_task(self._keepalive())

    async def _keepalive(self) -> None:
        try:
            status = await self._read(mm.STATUS, Status, KEEPALIVE, attempts=1)
        except (DriverError, TransportError) as exc:
            log.info("%s keepalive: %s", self.name, exc)
            return
        self._sink.on_keepalive(_beat(status))

    async def request_events(self, from_seq: int) -> None:
        """Read the event window from `from_seq` until it shows no more events. A slot is
        empty when its type is 0; an empty window while the newest event is at or past the
        cursor means the gun no longer holds what was asked (docs/modbus.md, "Events")."""
        window_words = mm.EVENT_SLOTS * mm.EVENT_SLOT_WORDS
        cursor = from_seq
        while True:
            await self._call("event cursor", "write_register", mm.EVENT_CURSOR, cursor)
            words = (await self._call("read events", "read_input_registers", mm.EVENT_WINDOW,
                                      count=window_words)).registers
            slots = [words[i:i + mm.EVENT_SLOT_WORDS]
                     for i in range(0, window_words, mm.EVENT_SLOT_WORDS)]
            if slots[0][1] == 0:
                info = await self._read(mm.EVENT_INFO, mm.EventInfo, "read event info")
                if info.held and seq_distance(info.newest_seq, cursor) >= 0:
                    raise DeviceError("read events", ERRORS["events_lost"].code,
                                      "events_lost", None, cursor, info.oldest_seq)
                return                  # nothing from the cursor on yet
            read = 0
            for seq, msg_type, length, *body in slots:
                if msg_type == 0 or seq != (cursor + read) & 0xFFFF:
                    break
                self._sink.on_event(seq, msg_type, mm.words_payload(body, length))
                read += 1
            cursor = (cursor + read) & 0xFFFF
            if read < mm.EVENT_SLOTS:
                return


def _beat(status: Status) -> Heartbeat:
    return Heartbeat(status.state, status.last_event_seq, status.boot_id)


def modbus_driver(make_client: Callable[[], ModbusBaseClient], *, name: str = "modbus",
                  unit: int = 1, retries: int = 3, timeout_s: float = 0.06,
                  models: frozenset[str] = SUPPORTED_MODELS, reconnect: bool = True
                  ) -> DriverCore:
    """A Driver over Modbus (RTU or TCP) through whatever client `make_client` builds."""
    link = ModbusLink(make_client, name=name, unit=unit, retries=retries, timeout_s=timeout_s)
    return DriverCore(link, name=name, models=models, reconnect=reconnect)
