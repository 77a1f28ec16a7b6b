"""Modbus servers for a simulated gun: TCP on a socket, RTU on a pseudo-terminal.

The RTU server is pymodbus's serial server on one pty; the host opens a second pty, and the
two masters are relayed byte for byte (what `socat pty pty` does), so a client sees an
RS-485 adapter's device path.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Callable
from dataclasses import dataclass

from pymodbus.framer import FramerType
from pymodbus.server import ModbusSerialServer, ModbusTcpServer

from drivers.transport import FdTransport
from simulator.faults import LinkFaults
from simulator.modbus_adapter import ModbusAdapter
from simulator.modbus_conformance import custom_pdus, only_unit
from simulator.modbus_link import ModbusLineFaults
from simulator.pty_port import open_pty

RTU_BAUD = 115_200
CABLE_PULL_S = 0.05
"""How long an RTU line stays dead when its cable is pulled and pushed back: long enough to
lose whole frames, short of the 250 ms watchdog."""


@dataclass
class PtyRelay:
    """Bytes from one pty master to the other and back; while the line is cut, nothing."""

    host_side: FdTransport
    server_side: FdTransport
    cut_until: float = -math.inf
    """Loop time until which the line carries nothing (a cable pulled and pushed back)."""
    bytes_lost: int = 0

    def start(self) -> None:
        self.host_side.start(lambda data: self._carry(self.server_side, data), lambda exc: None)
        self.server_side.start(lambda data: self._carry(self.host_side, data), lambda exc: None)

    def _carry(self, to: FdTransport, data: bytes) -> None:
        if asyncio.get_running_loop().time() < self.cut_until:
            self.bytes_lost += len(data)
            return
        to.write(data)

    def close(self) -> None:
        self.host_side.close()
        self.server_side.close()


class ModbusBridges:
    """The Modbus side of one simulated gun: one register map, any number of servers."""

    def __init__(self, adapter: ModbusAdapter, link_faults: Callable[[], LinkFaults]) -> None:
        self.adapter = adapter
        self._link_faults = link_faults
        self._servers: list = []
        self._relays: list[PtyRelay] = []
        self.relays: dict[str, PtyRelay] = {}
        self.lines: list[ModbusLineFaults] = []
        """The relay behind each RTU path served."""

    async def serve_tcp(self, host: str = "127.0.0.1", port: int = 0,
                        trace_packet: Callable[[bool, bytes], bytes] | None = None,
                        trace_pdu: Callable | None = None) -> int:
        """Listen on HOST:PORT (0: any free port); returns the port. The trace hooks see
        what really crosses the line (after the simulated faults)."""
        line = ModbusLineFaults(self._link_faults(), self.adapter.firmware, tcp=True,
                                then=trace_packet)
        self.lines.append(line)
        server = ModbusTcpServer(self.adapter.device(tcp=True), address=(host, port),
                                 trace_packet=line, custom_pdu=custom_pdus(),
                                 trace_pdu=only_unit(self.adapter.unit, tcp=True,
                                                     then=trace_pdu))
        await server.serve_forever(background=True)
        self._servers.append(server)
        return server.transport.sockets[0].getsockname()[1]

    async def serve_rtu(self, baudrate: int = RTU_BAUD,
                        trace_packet: Callable[[bool, bytes], bytes] | None = None,
                        trace_pdu: Callable | None = None) -> str:
        """Serve RTU on a new pty; returns the path a client opens. A pseudo-terminal has no
        electrical line: its parity cannot be set (the kernel refuses it), so the simulated
        line is 8N1 whatever a real gun is configured for; open it with parity=N."""
        server_end, server_path = open_pty()
        host_end, host_path = open_pty()
        relay = PtyRelay(host_end, server_end)
        relay.start()
        self._relays.append(relay)
        self.relays[host_path] = relay
        line = ModbusLineFaults(self._link_faults(), self.adapter.firmware, tcp=False,
                                then=trace_packet)
        self.lines.append(line)
        server = ModbusSerialServer(self.adapter.device(tcp=False), framer=FramerType.RTU,
                                    port=server_path, baudrate=baudrate, trace_packet=line,
                                    custom_pdu=custom_pdus(), broadcast_enable=True,
                                    trace_pdu=only_unit(self.adapter.unit, tcp=False,
                                                        then=trace_pdu))
        await server.serve_forever(background=True)
        self._servers.append(server)
        return host_path

    def attach(self, firmware) -> None:
        """A power cycle: the map and every line serve the new firmware."""
        self.adapter.attach(firmware)
        for line in self.lines:
            line.attach(firmware)

    def unplug(self, cut_s: float = CABLE_PULL_S) -> None:
        """Pull the cables for a moment: every TCP connection drops (a client must connect
        again) and every RTU line carries nothing for `cut_s`."""
        for server in self._servers:
            if isinstance(server, ModbusTcpServer):
                for connection in list(server.active_connections.values()):
                    connection.close()
        cut_until = asyncio.get_running_loop().time() + cut_s
        for relay in self._relays:
            relay.cut_until = cut_until

    async def close(self) -> None:
        for server in self._servers:
            await server.shutdown()
        for relay in self._relays:
            relay.close()
