"""Modbus servers for a simulated gun: TCP on a socket, RTU on a pseudo-terminal.

The RTU server is pymodbus's serial server on one pty; the host opens a second pty, and the
two masters are relayed byte for byte (what `socat pty pty` does), so a client sees an
RS-485 adapter's device path.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from pymodbus.framer import FramerType
from pymodbus.server import ModbusSerialServer, ModbusTcpServer

from drivers.transport import FdTransport
from simulator.faults import LinkFaults
from simulator.modbus_adapter import ModbusAdapter
from simulator.modbus_link import ModbusLineFaults
from simulator.pty_port import open_pty

RTU_BAUD = 115_200


@dataclass
class PtyRelay:
    """Bytes from one pty master to the other and back."""

    host_side: FdTransport
    server_side: FdTransport

    def start(self) -> None:
        self.host_side.start(self.server_side.write, lambda exc: None)
        self.server_side.start(self.host_side.write, lambda exc: None)

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
        server = ModbusTcpServer(self.adapter.device(), address=(host, port), trace_packet=line,
                                 trace_pdu=trace_pdu)
        await server.serve_forever(background=True)
        self._servers.append(server)
        return server.transport.sockets[0].getsockname()[1]

    async def serve_rtu(self, baudrate: int = RTU_BAUD,
                        trace_packet: Callable[[bool, bytes], bytes] | None = None,
                        trace_pdu: Callable | None = None) -> str:
        """Serve RTU on a new pty; returns the path a client opens."""
        server_end, server_path = open_pty()
        host_end, host_path = open_pty()
        relay = PtyRelay(host_end, server_end)
        relay.start()
        self._relays.append(relay)
        self.relays[host_path] = relay
        line = ModbusLineFaults(self._link_faults(), self.adapter.firmware, tcp=False,
                                then=trace_packet)
        self.lines.append(line)
        server = ModbusSerialServer(self.adapter.device(), framer=FramerType.RTU,
                                    port=server_path, baudrate=baudrate, trace_packet=line,
                                    trace_pdu=trace_pdu)
        await server.serve_forever(background=True)
        self._servers.append(server)
        return host_path

    async def close(self) -> None:
        for server in self._servers:
            await server.shutdown()
        for relay in self._relays:
            relay.close()
