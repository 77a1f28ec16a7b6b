"""The host's Modbus driver (RTU or TCP, pymodbus client): the same Driver interface and the
same guarantees as the serial driver.

- Commands go through the command block with a token; a retried write carries the same token
  and the device executes it once. Each command is one FC23 transaction: write the block,
  read back its result.
- Status is polled at a configurable rate; the polls feed the device's watchdog, and when the
  status shows newer events they are read through the event window, in order, each once.
- Emergency stop and hold are coil writes that take the next turn on the line, ahead of any
  queued request.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

from pymodbus.client.base import ModbusBaseClient
from pymodbus.exceptions import ModbusException

from drivers import modbus_map as mm
from drivers.codes import ERRORS, error_name
from drivers.config import DeviceConfig
from drivers.driver import SUPPORTED_MODELS, LinkStats, event_stream
from drivers.errors import DeviceError, DriverError, IncompatibleDevice, LinkClosed, LinkTimeout
from drivers.framing import PROTOCOL_VERSION
from drivers.messages import (
    COMMAND_PAYLOADS, EVENT_PAYLOADS, NO_FIELD, Event, Identity, MsgType, Status,
)
from drivers.program import ShotProgram

log = logging.getLogger("injector.modbus")

EXCEPTION_NAMES = {1: "illegal function", 2: "illegal data address", 3: "illegal data value",
                   4: "device failure", 6: "device busy"}


class ModbusExceptionError(DriverError):
    """A Modbus exception response that is not a range refusal."""

    def __init__(self, what: str, code: int, address: int | None = None) -> None:
        self.what, self.code, self.address = what, code, address
        where = f" at register {address}" if address is not None else ""
        super().__init__(f"device refused {what}: Modbus exception {code} "
                         f"({EXCEPTION_NAMES.get(code, 'unknown')}){where}")


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


class ModbusDriver:
    def __init__(self, make_client: Callable[[], ModbusBaseClient], *, name: str = "modbus",
                 unit: int = 1, poll_s: float = 0.05, retries: int = 3,
                 models: frozenset[str] = SUPPORTED_MODELS) -> None:
        self.name = name
        self.unit = unit
        self.poll_s = poll_s
        self.retries = retries
        self.models = models
        self.identity: Identity | None = None
        self.stats = LinkStats()
        self.last_status: Status | None = None
        self._make_client = make_client
        self._client: ModbusBaseClient | None = None
        self._gate = PriorityGate()
        self._events: asyncio.Queue[Event | DriverError] = asyncio.Queue()
        self._cursor = 0
        self._token = random.randrange(1, 0x10000)
        self._poller: asyncio.Task | None = None
        self._bytes_heard = 0
        self._closed = False
        self._loop = asyncio.get_running_loop()

    # ---- lifecycle -----------------------------------------------------------------------

    async def connect(self) -> Identity:
        self._client = self._make_client()
        self._watch_answers(self._client)
        if not await self._client.connect():
            self._client.close()
            raise LinkTimeout(f"connect to {self.name}", 1, 0.0)
        start, count = mm.span(mm.IDENTITY)
        words = (await self._call("read identity", "read_input_registers", start,
                                  count=count)).registers
        identity = mm.from_registers(Identity, mm.IDENTITY, words)
        if identity.model not in self.models:
            raise IncompatibleDevice("model", identity.model, " or ".join(sorted(self.models)))
        if identity.protocol_version != PROTOCOL_VERSION:
            raise IncompatibleDevice("protocol_version", identity.protocol_version,
                                     PROTOCOL_VERSION)
        self.identity = identity
        start, count = mm.span(mm.EVENT_INFO)
        info = mm.from_registers(mm.EventInfo, mm.EVENT_INFO, (await self._call(
            "read event info", "read_input_registers", start, count=count)).registers)
        self._cursor = (info.newest_seq + 1) & 0xFFFF
        self._poller = self._loop.create_task(self._poll())
        return identity

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        if self._poller:
            self._poller.cancel()
        if self._client is not None:
            self._client.close()

    # ---- transactions --------------------------------------------------------------------

    async def _call(self, what: str, method: str, *args, urgent: bool = False, **kwargs):
        """One Modbus transaction, retried (with identical content) on silence or on an
        answer that does not match the request: RTU has no transaction ids, so a late copy
        of an earlier answer could otherwise pass for this one."""
        if self._closed:
            raise LinkClosed(f"{self.name} driver is closed")
        start = self._loop.time()
        for attempt in range(self.retries + 1):
            if attempt:
                self.stats.retransmits += 1
            async with self._gate.turn(urgent):
                self._discard_stale_input()
                sent = self._loop.time()
                self.stats.frames_sent += 1
                heard = self._bytes_heard
                try:
                    response = await getattr(self._client, method)(*args, device_id=self.unit,
                                                                   **kwargs)
                except ModbusException as exc:
                    if self._bytes_heard != heard:
                        self.stats.frames_bad += 1      # bytes came, no valid answer: damaged
                    log.info("%s: %s (try %d)", what, exc, attempt + 1)
                    if not self._client.connected and not self._closed:
                        await self._client.connect()
                    continue
            self.stats.frames_received += 1
            if response.isError():
                if response.function_code & 0x7F != _FUNCTION_CODES[method]:
                    self.stats.frames_bad += 1
                    continue
                raise await self._exception(what, response.exception_code)
            if not _answers(method, args, kwargs, response):
                self.stats.frames_bad += 1
                log.info("%s: answer does not match the request: %s", what, response)
                continue
            self.stats.rtt_s.append(self._loop.time() - sent)
            return response
        self.stats.timeouts += 1
        raise LinkTimeout(what, self.retries + 1, self._loop.time() - start)

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

    def _discard_stale_input(self) -> None:
        """Drop bytes still waiting from earlier answers before a new request, as an RTU
        master does: pymodbus decodes one frame per read, so a late or doubled answer left
        in its buffer would otherwise be taken for the answer to the next request."""
        protocol = getattr(self._client, "ctx", None)
        if protocol is not None and getattr(protocol, "recv_buffer", b""):
            self.stats.frames_bad += 1
            protocol.recv_buffer = b""

    async def _exception(self, what: str, code: int) -> DriverError:
        """Turn an exception response into our error, with the device's own account of it."""
        if code not in (1, 3):
            return ModbusExceptionError(what, code)
        start, count = mm.span(mm.REFUSAL)
        response = await self._call("read refusal", "read_holding_registers", start, count=count)
        refusal = mm.from_registers(mm.WriteRefusal, mm.REFUSAL, response.registers)
        if code == 1:
            return DeviceError(what, ERRORS["locked"].code, "locked",
                               _field_at(mm.CONFIG, refusal.address), refusal.value,
                               refusal.limit)
        field = _field_at(mm.PROGRAM, refusal.address) or _field_at(mm.CONFIG, refusal.address)
        return DeviceError(what, ERRORS["out_of_range"].code, "out_of_range", field,
                           refusal.value, refusal.limit)

    async def _command(self, command: MsgType, arg: int = 0, *, urgent: bool = False) -> None:
        self._token = self._token % 0xFFFF + 1          # 1..65535; 0 never executes
        token = self._token
        self.stats.commands += 1
        result_at, result_count = mm.span(mm.RESULT)
        words = [int(command), arg >> 16, arg & 0xFFFF, token]
        try:
            response = await self._call(command.name, "readwrite_registers",
                                        read_address=result_at, read_count=result_count,
                                        write_address=mm.COMMAND_CODE, values=words,
                                        urgent=urgent)
        except DeviceError as exc:
            if exc.name != "out_of_range":
                raise
            raise await self._command_error(command) from None
        result = mm.from_registers(mm.CommandResult, mm.RESULT, response.registers)
        if result.token != token:
            raise DriverError(f"{command.name}: result belongs to token {result.token}, "
                              f"not {token}: another client is commanding this gun")
        if result.result:
            raise self._result_error(command, result)

    async def _command_error(self, command: MsgType) -> DeviceError:
        start, count = mm.span(mm.RESULT)
        response = await self._call("read result", "read_holding_registers", start, count=count)
        return self._result_error(command, mm.from_registers(mm.CommandResult, mm.RESULT,
                                                             response.registers))

    @staticmethod
    def _result_error(command: MsgType, result: mm.CommandResult) -> DeviceError:
        names = COMMAND_PAYLOADS[command].field_names()
        field = names[result.field] if result.field != NO_FIELD and result.field < len(names) \
            else None
        return DeviceError(command.name, result.result, error_name(result.result), field,
                           result.value, result.limit)

    # ---- the Driver interface ------------------------------------------------------------

    async def home(self) -> None:
        await self._command(MsgType.HOME)

    async def load_program(self, program: ShotProgram) -> None:
        words = mm.to_registers(program, mm.PROGRAM)
        await self._call("LOAD_PROGRAM", "write_registers", mm.PROGRAM[0].address, values=words)
        await self._command(MsgType.LOAD_PROGRAM)

    async def arm(self) -> None:
        await self._command(MsgType.ARM)

    async def disarm(self) -> None:
        await self._command(MsgType.DISARM)

    async def fire(self, count: int) -> None:
        await self._command(MsgType.FIRE, count)

    async def hold(self) -> None:
        await self._call("HOLD", "write_coil", mm.Coil.HOLD, True, urgent=True)

    async def resume(self) -> None:
        await self._command(MsgType.RESUME)

    async def emergency_stop(self) -> None:
        await self._call("ESTOP", "write_coil", mm.Coil.EMERGENCY_STOP, True, urgent=True)

    async def acknowledge(self, alarm_code: int) -> None:
        await self._command(MsgType.ACK_ALARM, alarm_code)

    async def prime(self, volume_nl: int) -> None:
        await self._command(MsgType.PRIME, volume_nl)

    async def syringe_loaded(self, volume_nl: int) -> None:
        await self._command(MsgType.SYRINGE_LOADED, volume_nl)

    async def read_config(self) -> DeviceConfig:
        start, count = mm.span(mm.CONFIG)
        response = await self._call("READ_CONFIG", "read_holding_registers", start, count=count)
        return mm.from_registers(DeviceConfig, mm.CONFIG, response.registers)

    async def write_config(self, config: DeviceConfig) -> None:
        """The technician's unlock sequence, the whole record in one write, then lock."""
        for key in mm.UNLOCK_KEYS:
            await self._call("unlock", "write_register", mm.UNLOCK, key)
        try:
            await self._call("WRITE_CONFIG", "write_registers", mm.CONFIG[0].address,
                             values=mm.to_registers(config, mm.CONFIG))
        finally:
            await self._call("lock", "write_register", mm.UNLOCK, 0)

    async def status(self) -> Status:
        start, count = mm.span(mm.STATUS)
        response = await self._call("STATUS", "read_input_registers", start, count=count)
        self.last_status = mm.from_registers(Status, mm.STATUS, response.registers)
        return self.last_status

    def events(self) -> AsyncIterator[Event]:
        return event_stream(self._events)

    # ---- polling -------------------------------------------------------------------------

    async def _poll(self) -> None:
        while not self._closed:
            await asyncio.sleep(self.poll_s)
            try:
                status = await self.status()
                if (status.last_event_seq - self._cursor) & 0xFFFF < 0x8000:
                    await self._read_events(status.last_event_seq)
            except DeviceError as exc:
                self._events.put_nowait(exc)
                return
            except DriverError as exc:
                log.warning("%s poll failed: %s", self.name, exc)
            except Exception as exc:    # noqa: BLE001 - never stop following the gun silently
                log.exception("%s poll stopped", self.name)
                self._events.put_nowait(DriverError(f"{self.name}: event polling stopped: "
                                                    f"{exc!r}"))
                return

    async def _read_events(self, newest: int) -> None:
        window_words = mm.EVENT_SLOTS * mm.EVENT_SLOT_WORDS
        while (newest - self._cursor) & 0xFFFF < 0x8000:
            await self._call("event cursor", "write_register", mm.EVENT_CURSOR, self._cursor)
            words = (await self._call("read events", "read_input_registers", mm.EVENT_WINDOW,
                                      count=window_words)).registers
            slots = [words[i:i + mm.EVENT_SLOT_WORDS]
                     for i in range(0, window_words, mm.EVENT_SLOT_WORDS)]
            if slots[0][1] == 0 or slots[0][0] != self._cursor:
                raise DeviceError("read events", ERRORS["events_lost"].code, "events_lost",
                                  None, self._cursor, slots[0][0])
            for seq, msg_type, length, *body in slots:
                if msg_type == 0 or seq != self._cursor:
                    break
                payload = mm.words_payload(body, length)
                self._events.put_nowait(EVENT_PAYLOADS[MsgType(msg_type)].unpack(payload))
                self.stats.events += 1
                self._cursor = (self._cursor + 1) & 0xFFFF
