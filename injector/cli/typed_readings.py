"""Readings a technician types at the terminal, for `injector calibrate --balance prompt`
or `--gauge prompt`."""

from __future__ import annotations

import asyncio
import math
import sys

from drivers.instruments import EXAMPLE_READING, TypedInstrument, is_reading
from injector.errors import InjectorError

ATTEMPTS = 5
"""A technician who mistypes gets asked again, this many times, before the run stops."""


class TypedReadings(TypedInstrument):
    """A person reads the instrument and types each reading at the terminal, told what it is
    of: which set value, which shot of how many. A typo is asked again, not the end of the
    calibration."""

    async def _input(self, prompt: str) -> str:
        """The prompt on standard error (standard output carries --json), the answer from
        standard input, off the event loop: the gun's heartbeats go on while a person types."""
        sys.stderr.write(prompt)
        sys.stderr.flush()
        line = await asyncio.to_thread(sys.stdin.readline)
        if not line:
            raise InjectorError(f"no {self.kind} reading could be read from standard input; "
                                "type readings at a terminal, or give the instrument's port")
        return line

    async def tare(self, context: str) -> None:
        await self._input(f"{self.kind}: {context}: put the empty cup on, tare, then press "
                          "Enter ")

    async def reading(self, context: str) -> float:
        for _ in range(ATTEMPTS):
            text = (await self._input(f"{self.kind}: {context}: reading in {self.unit}? ")).strip()
            try:
                value = float(text)
            except ValueError:
                value = math.nan
            if is_reading(value):
                return value
            print(f"  {text!r} is not a reading in {self.unit}: type a number such as "
                  f"{EXAMPLE_READING[self.unit]}", file=sys.stderr)
        raise InjectorError(f"no valid {self.kind} reading after {ATTEMPTS} tries")
