"""The firmware's Modbus bridge: the register map served from the same firmware core as the
serial bridge, through pymodbus's SimDevice action hook.

pymodbus keeps the register tables; our action runs before every access. On a read it
refreshes the addressed table from the firmware, so a client always reads the live state. On
a write it checks the values (exception 3 and nothing changes when one is out of range;
exception 1 for the configuration while it is locked or the gun is busy) and runs what the
write means: a command-block write with a new token executes the command once. Addresses
the map does not define are invalid in the tables, so pymodbus answers exception 2 without
asking us.
"""

from __future__ import annotations

from pymodbus.constants import ExcCodes
from pymodbus.simulator import DataType, SimData, SimDevice

from drivers import modbus_map as mm
from drivers.codes import ERRORS
from drivers.config import CONFIG_RANGES, DeviceConfig
from drivers.messages import (
    NO_FIELD, AckAlarm, DeviceState, ErrorBody, Fire, MsgType, Prime, StatusFlags,
    SyringeLoaded, Unlock,
)
from drivers.program import ShotProgram
from simulator.firmware import Firmware

_READ_FCS = {1, 2, 3, 4}
_HOLDING_FCS = {3, 6, 16, 22, 23}
_ARG_PAYLOADS = {MsgType.FIRE: Fire, MsgType.ACK_ALARM: AckAlarm, MsgType.PRIME: Prime,
                 MsgType.SYRINGE_LOADED: SyringeLoaded}
_ARG_MAX = {MsgType.ACK_ALARM: 0xFFFF}


def _regs(fields) -> SimData:
    address, count = mm.span(fields)
    return SimData(address, count=count, datatype=DataType.REGISTERS)


class ModbusAdapter:
    CHANNEL = "modbus"

    def __init__(self, firmware: Firmware, unit: int = 1) -> None:
        self.unit = unit
        self.requests = 0
        self.attach(firmware)

    def attach(self, firmware: Firmware) -> None:
        """Serve this firmware: at power-up, with the map's working registers cleared."""
        self.firmware = firmware
        self._program = [0] * mm.span(mm.PROGRAM)[1]
        self._command = [0, 0, 0, 0]
        self._cursor = (firmware.last_event_seq + 1) & 0xFFFF
        self._result = mm.CommandResult(0, 0, 0, NO_FIELD, 0, 0)
        self._refusal = mm.WriteRefusal(0, 0, 0, 0)

    def device(self, *, tcp: bool) -> SimDevice:
        """The register map as a pymodbus device: on RTU at the gun's unit id; on TCP at every
        id (modbus_conformance.only_unit decides which requests reach it)."""
        bits = lambda count: SimData(0, count=count, values=False, datatype=DataType.BITS)  # noqa: E731
        holding = [_regs(mm.PROGRAM), SimData(mm.COMMAND_CODE, count=4, datatype=DataType.REGISTERS),
                   SimData(mm.EVENT_CURSOR, count=1, datatype=DataType.REGISTERS),
                   SimData(mm.span(mm.RESULT)[0], count=mm.span(mm.RESULT)[1],
                           datatype=DataType.REGISTERS, readonly=True),
                   SimData(mm.span(mm.REFUSAL)[0], count=mm.span(mm.REFUSAL)[1],
                           datatype=DataType.REGISTERS, readonly=True),
                   _regs(mm.CONFIG), SimData(mm.UNLOCK, count=1, datatype=DataType.REGISTERS)]
        inputs = [_regs(mm.IDENTITY), _regs(mm.STATUS), _regs(mm.EVENT_INFO),
                  SimData(mm.EVENT_WINDOW, count=mm.EVENT_SLOTS * mm.EVENT_SLOT_WORDS,
                          datatype=DataType.REGISTERS)]
        return SimDevice(id=0 if tcp else self.unit, simdata=(
            [bits(len(mm.Coil))], [bits(len(mm.DiscreteInput))], holding, inputs),
            action=self.action)

    # ---- the hook pymodbus calls before every access -------------------------------------

    async def action(self, function_code: int, start: int, address: int, count: int,
                     registers: list[int], values: list[int] | list[bool] | None
                     ) -> ExcCodes | None:
        if self.firmware.link_silent():
            return ExcCodes.DEVICE_FAILURE      # never heard: the line drops the answer too
        self.requests += 1
        self.firmware.kick()
        if function_code in (1, 2, 5, 15):
            # pymodbus keeps bits in 16-bit registers and tells a read's size in registers,
            # not bits: a write is checked whole, a read by where it starts.
            defined = len(mm.DiscreteInput) if function_code == 2 else len(mm.Coil)
            if address + (len(values) if values is not None else 1) > defined:
                return ExcCodes.ILLEGAL_ADDRESS
        if function_code in (1, 5, 15):
            if values is not None:
                self._write_coils(address, list(values))
            self._render_bits(registers, self._coils())
        elif function_code == 2:
            self._render_bits(registers, self._discrete_inputs())
        elif function_code == 4:
            self._render(registers, start, self._input_registers())
        else:
            if values is not None:
                refused = self._write_holding(address, list(values))
                if refused is not None:
                    return refused
            self._render(registers, start, self._holding_registers())
        return None

    @staticmethod
    def _render(registers: list[int], start: int, values: dict[int, int]) -> None:
        for address, value in values.items():
            index = address - start
            if 0 <= index < len(registers):
                registers[index] = value

    @staticmethod
    def _render_bits(registers: list[int], bits: list[bool]) -> None:
        word = sum(1 << i for i, bit in enumerate(bits) if bit)
        registers[0] = word

    # ---- what a read sees ----------------------------------------------------------------

    def _input_registers(self) -> dict[int, int]:
        firmware = self.firmware
        values: dict[int, int] = {}

        def put(fields, obj) -> None:
            values.update(zip(range(fields[0].address, 10**6), mm.to_registers(obj, fields)))

        put(mm.IDENTITY, firmware.identity())
        put(mm.STATUS, firmware.status())
        put(mm.EVENT_INFO, mm.EventInfo(firmware.last_event_seq, firmware.oldest_event_seq(),
                                        firmware.events_held))
        events = firmware.events_from(self._cursor, mm.EVENT_SLOTS) or []
        for slot in range(mm.EVENT_SLOTS):
            base = mm.EVENT_WINDOW + slot * mm.EVENT_SLOT_WORDS
            words = [0] * mm.EVENT_SLOT_WORDS
            if slot < len(events):
                seq, msg_type, payload = events[slot]
                words[:3] = [seq, int(msg_type), len(payload)]
                body = mm.payload_words(payload)
                words[3:3 + len(body)] = body
            values.update(zip(range(base, base + mm.EVENT_SLOT_WORDS), words))
        return values

    def _holding_registers(self) -> dict[int, int]:
        values = dict(zip(range(mm.PROGRAM[0].address, 10**6), self._program))
        values.update(zip(range(mm.COMMAND_CODE, mm.COMMAND_CODE + 4), self._command))
        values[mm.EVENT_CURSOR] = self._cursor
        values.update(zip(range(mm.RESULT[0].address, 10**6),
                          mm.to_registers(self._result, mm.RESULT)))
        values.update(zip(range(mm.REFUSAL[0].address, 10**6),
                          mm.to_registers(self._refusal, mm.REFUSAL)))
        values.update(zip(range(mm.CONFIG[0].address, 10**6),
                          mm.to_registers(self.firmware.config, mm.CONFIG)))
        values[mm.UNLOCK] = int(self.firmware.config_unlocked(self.CHANNEL))
        return values

    def _coils(self) -> list[bool]:
        state = self.firmware.state
        return [state is DeviceState.ESTOP, state is DeviceState.HELD]

    def _discrete_inputs(self) -> list[bool]:
        status = self.firmware.status()
        flags = StatusFlags(status.flags)
        return [StatusFlags.HOMED in flags, StatusFlags.NEEDLE_PRESENT in flags,
                StatusFlags.SYRINGE_PRESENT in flags, StatusFlags.PROGRAM_LOADED in flags,
                StatusFlags.TRIGGER_PRESSED in flags, bool(self.firmware.latched),
                self.firmware.state is DeviceState.ARMED,
                self.firmware.state is DeviceState.FIRING]

    # ---- what a write does ---------------------------------------------------------------

    def _write_coils(self, address: int, bits: list[bool]) -> None:
        for coil, on in enumerate(bits, start=address):
            if not on:
                continue            # writing 0 is accepted and does nothing
            if coil == mm.Coil.EMERGENCY_STOP:
                self.firmware.run(self.CHANNEL, MsgType.ESTOP)
            elif coil == mm.Coil.HOLD:
                self.firmware.run(self.CHANNEL, MsgType.HOLD)

    def _refuse(self, address: int, exception: ExcCodes, value: int = 0,
                limit: int = 0) -> ExcCodes:
        self._refusal = mm.WriteRefusal(address, int(exception), value, limit)
        return exception

    def _write_holding(self, address: int, words: list[int]) -> ExcCodes | None:
        end = address + len(words)
        written = dict(zip(range(address, end), words))
        program_start, program_count = mm.span(mm.PROGRAM)
        config_start, config_count = mm.span(mm.CONFIG)
        if address < program_start + program_count and end > program_start:
            return self._write_program(written)
        if address <= mm.COMMAND_TOKEN and end > mm.COMMAND_CODE:
            return self._write_command(written)
        if mm.EVENT_CURSOR in written:
            self._cursor = written[mm.EVENT_CURSOR]
            return None
        if address < config_start + config_count and end > config_start:
            return self._write_config(written)
        if mm.UNLOCK in written:
            return self._write_unlock(written[mm.UNLOCK])
        return self._refuse(address, ExcCodes.ILLEGAL_ADDRESS)

    def _write_program(self, written: dict[int, int]) -> ExcCodes | None:
        start = mm.PROGRAM[0].address
        staged = list(self._program)
        for address, word in written.items():
            staged[address - start] = word
        limits = self.firmware.program_limits()
        for field in mm.PROGRAM:
            if not any(field.address <= a < field.address + field.words for a in written):
                continue
            value = mm.value_of(staged[field.address - start:field.address - start
                                       + field.words], field)
            low, high = limits[field.name]
            if not low <= value <= high:
                return self._refuse(field.address, ExcCodes.ILLEGAL_VALUE, value,
                                    low if value < low else high)
        self._program = staged
        return None

    def _write_command(self, written: dict[int, int]) -> ExcCodes | None:
        staged = list(self._command)
        for address, word in written.items():
            staged[address - mm.COMMAND_CODE] = word
        code, arg_high, arg_low, token = staged
        if mm.COMMAND_TOKEN not in written or token == 0:
            self._command = staged          # staged only: the token write runs it
            return None
        try:
            command = MsgType(code)
        except ValueError:
            command = None
        if command not in mm.BLOCK_COMMANDS:
            return self._refuse(mm.COMMAND_CODE, ExcCodes.ILLEGAL_VALUE, code, 0)
        arg = (arg_high << 16) | arg_low
        if arg > _ARG_MAX.get(command, 0xFFFF_FFFF):
            return self._refuse(mm.COMMAND_ARG, ExcCodes.ILLEGAL_VALUE, arg,
                                _ARG_MAX[command])
        if command is MsgType.LOAD_PROGRAM:
            payload = mm.from_registers(ShotProgram, mm.PROGRAM, self._program).pack()
        elif command in _ARG_PAYLOADS:
            payload = _ARG_PAYLOADS[command](arg).pack()
        else:
            payload = b""
        reply = self.firmware.execute(self.CHANNEL, token, command, payload)
        if reply.type == MsgType.OK:
            self._result = mm.CommandResult(token, command, 0, NO_FIELD, 0, 0)
        else:
            error = ErrorBody.unpack(reply.payload[1:])
            self._result = mm.CommandResult(token, command, error.code, error.field,
                                            error.value, error.limit)
            if error.code in (ERRORS["out_of_range"].code, ERRORS["bad_length"].code):
                # 330 names the register that holds the offending value.
                register = (mm.PROGRAM[error.field].address
                            if command is MsgType.LOAD_PROGRAM and error.field != NO_FIELD
                            else mm.COMMAND_ARG)
                return self._refuse(register, ExcCodes.ILLEGAL_VALUE, error.value, error.limit)
        self._command = staged
        return None

    def _write_config(self, written: dict[int, int]) -> ExcCodes | None:
        """The record with these registers changed, written through the firmware's own
        WRITE_CONFIG: its unlock, its state rule and its ranges, one home for each."""
        start = mm.CONFIG[0].address
        words = mm.to_registers(self.firmware.config, mm.CONFIG)
        for address, word in written.items():
            words[address - start] = word
        config: DeviceConfig = mm.from_registers(DeviceConfig, mm.CONFIG, words)
        reply = self.firmware.run(self.CHANNEL, MsgType.WRITE_CONFIG, config.pack())
        if reply.type == MsgType.OK:
            return None
        error = ErrorBody.unpack(reply.payload[1:])
        if error.code == ERRORS["out_of_range"].code:
            return self._refuse(mm.CONFIG[error.field].address, ExcCodes.ILLEGAL_VALUE,
                                error.value, error.limit)
        # Locked, or the gun busy (not LOCKED or IDLE): not allowed now.
        return self._refuse(min(written), ExcCodes.ILLEGAL_FUNCTION, error.value, error.limit)

    def _write_unlock(self, key: int) -> ExcCodes | None:
        reply = self.firmware.run(self.CHANNEL, MsgType.UNLOCK_CONFIG, Unlock(key).pack())
        if reply.type == MsgType.OK:
            return None
        error = ErrorBody.unpack(reply.payload[1:])
        return self._refuse(mm.UNLOCK, ExcCodes.ILLEGAL_VALUE, error.value, error.limit)


assert set(CONFIG_RANGES) == {f.name for f in mm.CONFIG}
