"""The virtual balance and depth gauge beside a simulated gun, each on its own pty.

The balance weighs what the gun really dispensed into its cup (the physics' true volume, so
the gun's errors show), as a real analytical balance does: water at the gun's temperature,
in air (drivers/metrology.py), to its readability (0.1 mg, or 0.01 mg for a semi-micro
balance), with noise of half a digit, a settling time (1.5 s after the load changes; `S`
answers once stable, `SI` at once, D while settling) and the cup's evaporation. It answers
`I4` with its serial number and `M28` with the temperature of its sensor. The gauge reads
where the needle tip really went on its last insertion, to 1 um.
"""

from __future__ import annotations

import asyncio
import math
import random

from drivers.metrology import apparent_mass_mg, water_density_g_ml
from drivers.transport import FdTransport
from simulator.physics import GunPhysics
from simulator.pty_port import open_pty

SETTLE_S = 1.5
CAPACITY_G = 220.0
CUP_G = 31.5234
"""The empty cup on the pan, before a tare."""


class VirtualBalance:
    def __init__(self, physics: GunPhysics, *, serial_number: str = "SIM-BALANCE",
                 readability_mg: float = 0.1, evaporation_mg_per_min: float = 0.0,
                 seed: int = 3) -> None:
        self.physics = physics
        self.serial_number = serial_number
        self.readability_g = readability_mg / 1000
        self.noise_g = self.readability_g / 2
        self.evaporation_g_per_s = evaporation_mg_per_min / 60_000
        self._rng = random.Random(f"balance:{seed}")
        self._loop = asyncio.get_running_loop()
        self._started = self._loop.time()
        self._tare_g = 0.0
        self._zero_g = 0.0
        self._last_load = self._load_g()
        self._changed_at = -SETTLE_S

    def _load_g(self) -> float:
        """What the pan holds, as the balance weighs it, before evaporation (which is slow
        enough that a reading still settles)."""
        density = water_density_g_ml(self.physics.imperfections.temperature_c)
        return CUP_G + apparent_mass_mg(self.physics.true_dispensed_ul, density) / 1000

    def _evaporated_g(self) -> float:
        water_g = self._last_load - CUP_G
        return min(water_g, (self._loop.time() - self._started) * self.evaporation_g_per_s)

    def _settled_for(self) -> float:
        load = self._load_g()
        if load != self._last_load:
            self._last_load, self._changed_at = load, self._loop.time()
        return self._loop.time() - self._changed_at

    def _reading(self) -> float:
        gross = (self._last_load - self._evaporated_g() - self._zero_g
                 + self._rng.gauss(0.0, self.noise_g))
        return round((gross - self._tare_g) / self.readability_g) * self.readability_g

    @property
    def decimals(self) -> int:
        return max(0, round(-math.log10(self.readability_g)))

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
                self._tare_g = self._last_load - self._evaporated_g() - self._zero_g
                return f"T S {self._tare_g:11.{self.decimals}f} g"
            return f"S S {self._reading():11.{self.decimals}f} g"
        if command == "SI":
            stable = self._settled_for() >= SETTLE_S
            return f"S {'S' if stable else 'D'} {self._reading():11.{self.decimals}f} g"
        if command == "Z":
            self._zero_g, self._tare_g = self._load_g() - self._evaporated_g(), 0.0
            return "Z A"
        if command == "I4":
            return f'I4 A "{self.serial_number}"'
        if command == "M28":
            return f"M28 A 1 {self.physics.imperfections.temperature_c:.1f}"
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
