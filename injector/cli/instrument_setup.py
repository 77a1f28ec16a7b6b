"""The technician's instruments for `injector calibrate`: a balance and a depth gauge on
their ports, the simulator's own, or readings typed in; who they are, when their own
calibration is due, and the conditions (temperature, liquid) the balance weighs under.

All of it is settled before the gun moves: an overdue instrument, a balance whose
temperature is unknown, or a port that does not open is refused first.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import sys
from dataclasses import dataclass
from datetime import date

from drivers.instruments import (
    EXAMPLE_READING, Balance, DepthGauge, TypedInstrument, is_reading,
)
from injector.errors import InjectorError
from injector.metrology import Conditions, ConditionsError, Instrument, InstrumentUnusable

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


@dataclass
class Setup:
    balance: Balance | None
    gauge: DepthGauge | None
    instruments: list[Instrument]
    conditions: Conditions | None

    def close(self) -> None:
        for instrument in (self.balance, self.gauge):
            if instrument is not None:
                instrument.close()


def _typed(kind: str, unit: str, make, readings=TypedReadings):
    prompt = readings(kind, unit)
    instrument = make(prompt.ask, f"typed {kind} readings")
    prompt.instrument = instrument
    return instrument


def _watched(kind: str, unit: str, make, ask, name: str, watch):
    """The instrument on `ask`; with `watch`, every answer it gives is seen on the way (the
    touchscreen shows a balance's readings live as the run takes them)."""
    if watch is None:
        return make(ask, name)
    watcher = watch(kind, unit, ask)
    instrument = make(watcher.ask, name)
    watcher.instrument = instrument
    return instrument


def _identity(kind: str, name: str, serial: str | None, due: date | None,
              simulated: bool) -> Instrument:
    if simulated:
        return Instrument(kind, name, serial or f"simulated {kind}", None)
    option = "--balance" if kind == "balance" else "--gauge"
    if not serial:
        raise InstrumentUnusable(f"the {kind} did not say its serial number: give "
                            f"{option}-serial SERIAL (it is recorded with the calibration)")
    if due is None:
        raise InstrumentUnusable(f"give {option}-due YYYY-MM-DD, the date the {kind}'s own "
                            "calibration is due: an instrument out of calibration proves "
                            "nothing")
    return Instrument(kind, name, serial, due)


async def open_instruments(args: argparse.Namespace, gun, readings=TypedReadings,
                           watch=None) -> Setup:
    """The instruments the command asks for, identified, with the conditions; raises before
    the gun moves when any is unusable. `readings(kind, unit)` asks a person for what
    `prompt` means: the terminal (TypedReadings) here, the touchscreen in the service;
    `watch(kind, unit, ask)` sees a simulated gun's own instruments answer."""
    needs_balance = args.what in ("dose", "verify")
    needs_gauge = args.what in ("depth", "verify")
    balance = gauge = None
    instruments: list[Instrument] = []
    setup = Setup(None, None, instruments, None)
    try:
        if needs_balance and (args.balance or gun is not None):
            simulated = not args.balance
            if args.balance == "prompt":
                balance = _typed("balance", "g", Balance, readings)
            elif args.balance:
                balance = Balance.on_port(args.balance)
                setup.balance = balance
                await balance.probe()
            else:
                balance = _watched("balance", "g", Balance, gun.balance().answer,
                                   "simulated balance", watch)
            setup.balance = balance
            serial = args.balance_serial or await balance.serial_number()
            instruments.append(_identity("balance", balance.name, serial, args.balance_due,
                                         simulated))
            sensed = await balance.temperature_c()
            temperature = args.temperature_c if args.temperature_c is not None else sensed
            if temperature is None:
                raise ConditionsError("the balance does not report the temperature: give "
                                    "--temperature-c, the water's (and the room's) temperature")
            source = "entered" if args.temperature_c is not None else "balance"
            setup.conditions = Conditions.of(temperature, source, args.density)
        if needs_gauge and (args.gauge or gun is not None):
            simulated = not args.gauge
            if args.gauge == "prompt":
                gauge = _typed("depth gauge", "mm", DepthGauge, readings)
            elif args.gauge:
                gauge = DepthGauge.on_port(args.gauge)
                setup.gauge = gauge
                await gauge.probe()
            else:
                gauge = _watched("depth gauge", "mm", DepthGauge, gun.gauge().answer,
                                 "simulated depth gauge", watch)
            setup.gauge = gauge
            instruments.append(_identity("depth gauge", gauge.name, args.gauge_serial,
                                         args.gauge_due, simulated))
    except BaseException:
        setup.close()
        raise
    return setup
