"""One simulated gun served on the ports a host reaches it by: a serial pty, Modbus RTU on a
pty, Modbus TCP, and the balance's and gauge's ptys. `injector sim` and the pytest plugin's
pty gun both serve through this, so they are the same gun on the same ports."""

from __future__ import annotations

from dataclasses import dataclass

from drivers.transport import FdTransport
from drivers.urls import PortURLError
from simulator.gun import SimulatedGun
from simulator.instruments import serve_lines


@dataclass(frozen=True)
class Bridges:
    """Which ports to serve."""

    serial: bool = True
    modbus_tcp: tuple[str, int] | None = None
    """(host, port); port 0 picks a free one."""
    modbus_rtu: bool = False
    balance: bool = False
    gauge: bool = False


@dataclass(frozen=True)
class ServedPorts:
    """Where each served port is; None for a port not served."""

    serial_number: str
    serial: str | None = None
    """The serial protocol's pty path."""
    modbus_rtu: str | None = None
    """The Modbus RTU pty path."""
    modbus_tcp: str | None = None
    """HOST:PORT."""
    balance: str | None = None
    gauge: str | None = None

    def in_order(self) -> list[tuple[str, str]]:
        """(what, where) for each port served, in the order `injector sim` prints them."""
        labels = (("serial", "serial protocol"), ("modbus_rtu", "Modbus RTU (a pty carries no parity: "
                                                     "connect with ?parity=N)"),
                  ("modbus_tcp", "Modbus TCP"), ("balance", "MT-SICS balance"),
                  ("gauge", "depth gauge"))
        return [(label, getattr(self, name)) for name, label in labels
                if getattr(self, name) is not None]


class GunServer:
    """Serves one gun; `aclose` closes every port it opened, the instruments' included."""

    def __init__(self, gun: SimulatedGun) -> None:
        self.gun = gun
        self._instruments: list[FdTransport] = []

    async def start(self, bridges: Bridges) -> ServedPorts:
        gun = self.gun
        found: dict[str, str] = {}
        if bridges.serial:
            found["serial"] = gun.serve_pty()
        if bridges.modbus_rtu:
            found["modbus_rtu"] = await gun.serve_modbus_rtu()
        if bridges.modbus_tcp:
            host, port = bridges.modbus_tcp
            try:
                port = await gun.serve_modbus_tcp(host, port)
            except (OSError, RuntimeError) as exc:
                raise PortURLError(f"{host}:{port}", f"cannot listen: {exc}") from None
            found["modbus_tcp"] = f"{host}:{port}"
        for name, wanted, make in (("balance", bridges.balance, gun.balance),
                                   ("gauge", bridges.gauge, gun.gauge)):
            if wanted:
                transport, found[name] = serve_lines(make())
                self._instruments.append(transport)
        return ServedPorts(gun.options.serial_number, **found)

    async def aclose(self) -> None:
        for transport in self._instruments:
            transport.close()
        await self.gun.aclose()
