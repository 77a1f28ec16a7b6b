"""What makes pymodbus's server answer as the Modbus specification says, for the gun's map.

pymodbus 3.16 serves stock answers of its own for function codes the gun does not implement
(7, 8, 11, 12, 17, 20, 21, 22, 24, 43), answers `00 80 01` (function code 0) to an unknown
function code or a read of an illegal count, accepts any coil value as ON, and answers every
unit id on the line. Per server (never globally), through its `custom_pdu` and `trace_pdu`
hooks:

- a function code outside FUNCTION_CODES is answered with its own code | 0x80 and exception
  1 (illegal function);
- a count outside the specification's range (reads of 1 to 125 registers or 2000 bits, ...)
  is exception 3 (illegal data value) under its own function code;
- FC5 takes only 0x0000 and 0xFF00, and its answer echoes the request;
- a request for another unit id is ignored (silence), as a slave on a shared RS-485 bus
  must; on RTU, unit id 0 is a broadcast: a write is executed and never answered.
"""

from __future__ import annotations

import struct
from collections.abc import Callable

from pymodbus.constants import ExcCodes
from pymodbus.framer.rtu import FramerRTU
from pymodbus.pdu import DecodePDU, ExceptionResponse, ModbusPDU
from pymodbus.pdu.bit_message import (
    ReadCoilsRequest, ReadDiscreteInputsRequest, WriteMultipleCoilsRequest,
    WriteSingleCoilRequest, WriteSingleCoilResponse,
)
from pymodbus.pdu.register_message import (
    ReadHoldingRegistersRequest, ReadInputRegistersRequest, ReadWriteMultipleRegistersRequest,
    WriteMultipleRegistersRequest,
)

FUNCTION_CODES = frozenset({1, 2, 3, 4, 5, 6, 15, 16, 23})
"""What the gun's map answers (docs/modbus.md); everything else is illegal function."""
BROADCAST = 0
TCP_ANY_UNIT = (0, 0xFF)
"""On TCP the unit id carries no address (the IP address does): 0 and 0xFF reach the gun
too, as the Modbus TCP implementation guide recommends."""


def _frame_length_by_crc(data: bytes) -> int:
    """The shortest prefix that ends in a valid CRC (a frame we cannot parse still has to be
    consumed whole, or it would swallow the next request); more than we have: wait."""
    for length in range(4, min(len(data), 256) + 1):
        if FramerRTU.check_CRC(data[:length - 2], int.from_bytes(data[length - 2:length], "big")):
            return length
    return len(data) + 1 if len(data) < 256 else len(data)


def _illegal_function(code: int) -> type[ModbusPDU]:
    stock = DecodePDU.pdu_table.get(code, (None, None))[0]

    class IllegalFunction(ModbusPDU):
        function_code = code

        def decode(self, data: bytes) -> None:
            self.raw = data

        @classmethod
        def calculateRtuFrameSize(cls, data: bytes) -> int:
            if stock is not None and stock.decode_sub_function_code(data) < 0:
                try:
                    return stock.calculateRtuFrameSize(data)
                except (ValueError, IndexError, struct.error):
                    pass
            return _frame_length_by_crc(data)

        async def datastore_update(self, context, device_id):
            return ExceptionResponse(self.function_code, ExcCodes.ILLEGAL_FUNCTION)

    IllegalFunction.__name__ = f"IllegalFunction{code}"
    return IllegalFunction


def _count_checked(stock: type[ModbusPDU]) -> type[ModbusPDU]:
    """The stock request refuses a bad count while decoding, which pymodbus answers with
    function code 0; defer the refusal to an exception 3 under the request's own code."""

    class CountChecked(stock):
        _bad_count = False

        def verifyCount(self, max_count, count=-1):
            try:
                super().verifyCount(max_count, count)
            except ValueError:
                self._bad_count = True

        async def datastore_update(self, context, device_id):
            if self._bad_count:
                return ExceptionResponse(self.function_code, ExcCodes.ILLEGAL_VALUE)
            return await super().datastore_update(context, device_id)

    CountChecked.__name__ = stock.__name__
    return CountChecked


class _StrictWriteSingleCoil(WriteSingleCoilRequest):
    def decode(self, data: bytes) -> None:
        self.address, self.raw_value = struct.unpack(">HH", data[:4])
        self.bits = [self.raw_value == 0xFF00]

    async def datastore_update(self, context, device_id):
        if self.raw_value not in (0x0000, 0xFF00):
            return ExceptionResponse(self.function_code, ExcCodes.ILLEGAL_VALUE)
        if rc := await context.async_setValues(device_id, self.function_code, self.address,
                                               self.bits):
            return ExceptionResponse(self.function_code, rc)
        # The answer echoes the request (the specification), not the coil read back after.
        return WriteSingleCoilResponse(address=self.address, bits=self.bits, dev_id=device_id,
                                       transaction_id=self.transaction_id)


def custom_pdus() -> list[type[ModbusPDU]]:
    """The `custom_pdu` list for a server of the gun's map."""
    pdus: list[type[ModbusPDU]] = [_illegal_function(code) for code in range(128)
                                   if code not in FUNCTION_CODES]
    pdus += [_count_checked(stock) for stock in (
        ReadCoilsRequest, ReadDiscreteInputsRequest, ReadHoldingRegistersRequest,
        ReadInputRegistersRequest, WriteMultipleCoilsRequest, WriteMultipleRegistersRequest,
        ReadWriteMultipleRegistersRequest)]
    pdus.append(_StrictWriteSingleCoil)
    return pdus


TracePdu = Callable[[bool, ModbusPDU], ModbusPDU | None]


def only_unit(unit: int, *, tcp: bool, then: TracePdu | None = None) -> TracePdu:
    """A `trace_pdu` hook that lets through requests for this unit (and, on RTU, broadcasts;
    on TCP, 0 and 0xFF), and drops the rest unanswered."""
    accepted = {unit, *TCP_ANY_UNIT} if tcp else {unit, BROADCAST}

    def trace(sending: bool, pdu: ModbusPDU) -> ModbusPDU | None:
        if not sending and (pdu.dev_id not in accepted or isinstance(pdu, ExceptionResponse)):
            return None
        return then(sending, pdu) if then else pdu

    return trace
