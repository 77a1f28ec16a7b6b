"""The virtual balance and depth gauge beside a simulated gun, each on its own pty.

The balance weighs what the gun really dispensed into its cup (the physics' true volume, so
the gun's gain error shows), with a real analytical balance's resolution (0.1 mg), noise
(0.05 mg standard deviation) and settling time (1.5 s after the load changes): `S` answers
once the reading is stable, `SI` at once (D while settling). The gauge reads where the
needle tip really went on its last insertion, to 1 um.
"""

from __future__ import annotations

import asyncio
import random

from drivers.transport import FdTransport
from simulator.physics import GunPhysics
from simulator.pty_port import open_pty

RESOLUTION_G = 0.0001
NOISE_G = 0.00005
SETTLE_S = 1.5
CAPACITY_G = 220.0
CUP_G = 31.5234
"""The empty cup on the pan, before a tare."""


class VirtualBalance:
    def __init__(self, physics: GunPhysics, density_g_ml: float = 1.0, seed: int = 3) -> None:
        self.physics = physics
        self.density_g_ml = density_g_ml
        self._rng = random.Random(seed)
        self._loop = asyncio.get_running_loop()
        self._tare_g = 0.0
        self._zero_g = 0.0
        self._last_load = self._load_g()
        self._changed_at = -SETTLE_S

    def _load_g(self) -> float:
        return CUP_G + self.physics.true_dispensed_ul / 1000 * self.density_g_ml

    def _settled_for(self) -> float:
        load = self._load_g()
        if load != self._last_load:
            self._last_load, self._changed_at = load, self._loop.time()
        return self._loop.time() - self._changed_at

    def _reading(self) -> float:
        gross = self._last_load - self._zero_g + self._rng.gauss(0.0, NOISE_G)
        return round((gross - self._tare_g) / RESOLUTION_G) * RESOLUTION_G

    async def answer(self, line: str) -> str:
        command = line.strip()
        if command in ("S", "T"):
            wait = SETTLE_S - self._settled_for()
            if wait > 0:
                await asyncio.sleep(wait)
            self._settled_for()
            if self._last_load - self._zero_g > CAPACITY_G:
                return f"{command} +"
            if command == "T":
                self._tare_g = self._last_load - self._zero_g
                return f"T S {self._tare_g:11.4f} g"
            return f"S S {self._reading():11.4f} g"
        if command == "SI":
            stable = self._settled_for() >= SETTLE_S
            return f"S {'S' if stable else 'D'} {self._reading():11.4f} g"
        if command == "Z":
            self._zero_g, self._tare_g = self._load_g(), 0.0
            return "Z A"
        return "ES"


class VirtualGauge:
    def __init__(self, physics: GunPhysics) -> None:
        self.physics = physics

    async def answer(self, line: str) -> str:
        if line.strip() != "D":
            return "ES"
        depths = self.physics.true_depths_mm
        return f"D S {depths[-1] if depths else 0.0:.4f} mm"


def serve_lines(instrument) -> tuple[FdTransport, str]:
    """Serve an instrument's line protocol on a new pty: its transport (to close) and the
    path a host opens."""
    transport, path = open_pty()
    buffer = bytearray()

    def on_data(data: bytes) -> None:
        buffer.extend(data)
        while (end := buffer.find(b"\r\n")) != -1:
            line = buffer[:end].decode("ascii", errors="replace")
            del buffer[:end + 2]
            asyncio.get_running_loop().create_task(_reply(transport, instrument, line))

    transport.start(on_data, lambda exc: None)
    return transport, path


async def _reply(transport: FdTransport, instrument, line: str) -> None:
    transport.write((await instrument.answer(line)).encode("ascii") + b"\r\n")
