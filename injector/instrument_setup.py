"""The technician's instruments for a calibration run: a balance and a depth gauge on their
ports, the simulator's own, or readings a person types (at the terminal or the
touchscreen: whoever opens the run says how); who they are, when their own calibration is
due, and the conditions (temperature, liquid) the balance weighs under.

All of it is settled before the gun moves: an overdue instrument, a balance whose
temperature is unknown, or a port that does not open is refused first.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING

from drivers.instruments import Balance, DepthGauge
from injector.metrology import Conditions, ConditionsError, Instrument, InstrumentUnusable
from injector.remedies import Remedy, command_line, needing

if TYPE_CHECKING:
    from injector.calibration_runs import CalibrationRequest


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


def _typed(kind: str, unit: str, make, readings):
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


async def _opened(kind: str, unit: str, make, port: str | None, simulated_answer, readings,
                  watch, keep):
    """The instrument on its port ("prompt": a person types its readings; None: the
    simulated gun's own, `simulated_answer()`). One on a port is kept (to be closed if the
    setup fails) before it is probed."""
    if port == "prompt":
        return _typed(kind, unit, make, readings)
    if port:
        instrument = make.on_port(port)
        keep(instrument)
        await instrument.probe()
        return instrument
    return _watched(kind, unit, make, simulated_answer(), f"simulated {kind}", watch)


def _identity(kind: str, name: str, serial: str | None, due: date | None,
              simulated: bool) -> Instrument:
    if simulated:
        return Instrument(kind, name, serial or f"simulated {kind}", None)
    which = "balance" if kind == "balance" else "gauge"
    if not serial:
        remedy = command_line(Remedy.INSTRUMENT_SERIAL, instrument=which)
        raise needing(InstrumentUnusable(f"the {kind} did not say its serial number: give "
                                         f"{remedy} (it is recorded with the calibration)"),
                      Remedy.INSTRUMENT_SERIAL, instrument=which)
    if due is None:
        remedy = command_line(Remedy.INSTRUMENT_DUE, instrument=which)
        raise needing(InstrumentUnusable(f"give {remedy}, the date the {kind}'s own "
                                         "calibration is due: an instrument out of "
                                         "calibration proves nothing"),
                      Remedy.INSTRUMENT_DUE, instrument=which)
    return Instrument(kind, name, serial, due)


async def open_instruments(request: CalibrationRequest, gun, readings, watch=None) -> Setup:
    """The instruments the run asks for, identified, with the conditions; raises before
    the gun moves when any is unusable. `readings(kind, unit)` asks a person for what
    `prompt` means: the terminal (injector/cli/typed_readings.py), the touchscreen in the
    service; `watch(kind, unit, ask)` sees a simulated gun's own instruments answer."""
    needs_balance = request.what in ("dose", "verify")
    needs_gauge = request.what in ("depth", "verify")
    balance = gauge = None
    instruments: list[Instrument] = []
    setup = Setup(None, None, instruments, None)
    try:
        if needs_balance and (request.balance or gun is not None):
            simulated = not request.balance
            balance = await _opened("balance", "g", Balance, request.balance,
                                    lambda: gun.balance().answer, readings, watch,
                                    lambda opened: setattr(setup, "balance", opened))
            setup.balance = balance
            serial = request.balance_serial or await balance.serial_number()
            instruments.append(_identity("balance", balance.name, serial, request.balance_due,
                                         simulated))
            sensed = await balance.temperature_c()
            temperature = request.temperature_c if request.temperature_c is not None else sensed
            if temperature is None:
                raise needing(ConditionsError(
                    f"the balance does not report the temperature: give "
                    f"{command_line(Remedy.TEMPERATURE)}, the water's (and the room's) "
                    "temperature"), Remedy.TEMPERATURE)
            source = "entered" if request.temperature_c is not None else "balance"
            setup.conditions = Conditions.of(temperature, source, request.density)
        if needs_gauge and (request.gauge or gun is not None):
            simulated = not request.gauge
            gauge = await _opened("depth gauge", "mm", DepthGauge, request.gauge,
                                  lambda: gun.gauge().answer, readings, watch,
                                  lambda opened: setattr(setup, "gauge", opened))
            setup.gauge = gauge
            instruments.append(_identity("depth gauge", gauge.name, request.gauge_serial,
                                         request.gauge_due, simulated))
    except BaseException:
        setup.close()
        raise
    return setup
