"""What a calibration or a verification measured with, under what conditions, and the limits
it is judged by: the parts of the job a metrologist signs (docs/calibration.md).

- Conditions: the temperature (read from the balance, or entered) and the liquid; for water,
  its density from the temperature and the Z-factor that turns milligrams into microlitres
  with the air's buoyancy (drivers/metrology.py, ISO 8655-6).
- Instruments: the balance and the gauge by serial number, with the due date of their own
  calibration; an overdue one is refused before anything moves.
- Limits: systematic error within +-2% or +-0.5 ul (depth +-0.05 mm), random error (the
  standard deviation of the replicates) within 1% or 0.15 ul (depth 0.03 mm).
"""

from __future__ import annotations

import statistics
from dataclasses import asdict, dataclass
from datetime import date

from drivers.metrology import TEMPERATURE_RANGE_C, water_density_g_ml, z_factor_ul_per_mg
from injector.errors import InjectorError


class InstrumentUnusable(InjectorError):
    """A balance or gauge that may not be used: unknown, undated or overdue. Said before the
    gun moves."""


class InstrumentOverdue(InstrumentUnusable):
    """A balance or gauge past its own calibration's due date: its readings prove nothing."""

    def __init__(self, kind: str, serial_number: str, due: date) -> None:
        self.kind, self.serial_number, self.due = kind, serial_number, due
        super().__init__(f"the {kind} {serial_number} was due for its own calibration on "
                         f"{due.isoformat()}: have it calibrated, or use another, then redo")


class ConditionsError(InjectorError):
    """Conditions a gravimetric measurement cannot be made under."""


@dataclass(frozen=True)
class Conditions:
    temperature_c: float
    temperature_source: str
    """"balance" (its sensor, MT-SICS M28) or "entered"."""
    liquid: str
    """"water", or "density D g/ml" for another liquid."""
    density_g_ml: float
    z_ul_per_mg: float

    @classmethod
    def of(cls, temperature_c: float, source: str, density_g_ml: float | None) -> Conditions:
        low, high = TEMPERATURE_RANGE_C
        if not low <= temperature_c <= high:
            raise ConditionsError(f"temperature {temperature_c:g} C: gravimetry needs {low:g} "
                                  f"to {high:g} C (ISO 8655-6); let the room and the water "
                                  "settle there")
        if density_g_ml is None:
            density, liquid = water_density_g_ml(temperature_c), "water"
        else:
            density, liquid = density_g_ml, f"density {density_g_ml:g} g/ml"
        return cls(temperature_c, source, liquid, density, z_factor_ul_per_mg(density))

    def volume_ul(self, weight_g: float) -> float:
        return weight_g * 1000 * self.z_ul_per_mg

    def describe(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class Instrument:
    kind: str
    """"balance" or "depth gauge"."""
    name: str
    """How it is reached: a port, "typed readings", or "simulated"."""
    serial_number: str
    due: date | None
    """Its own calibration's due date; None for the simulator's instruments."""

    def check_due(self, today: date) -> None:
        if self.due is not None and self.due < today:
            raise InstrumentOverdue(self.kind, self.serial_number, self.due)

    def describe(self) -> dict:
        return {"kind": self.kind, "name": self.name, "serial_number": self.serial_number,
                "due": self.due.isoformat() if self.due else None}


@dataclass(frozen=True)
class Limits:
    """The verdict's limits for one set value (ul, or mm for depth)."""

    systematic: float
    random_sd: float

    @classmethod
    def dose(cls, set_ul: float) -> Limits:
        return cls(max(0.02 * set_ul, 0.5), max(0.01 * set_ul, 0.15))

    @classmethod
    def depth(cls, set_mm: float) -> Limits:
        return cls(0.05, 0.03)


@dataclass(frozen=True)
class Statistics:
    """A series of replicates, as ISO 8655-6 reports it."""

    n: int
    mean: float
    sd: float
    """Sample standard deviation (n - 1); 0 for a single reading."""

    @classmethod
    def of(cls, readings: tuple[float, ...]) -> Statistics:
        sd = statistics.stdev(readings) if len(readings) > 1 else 0.0
        return cls(len(readings), statistics.fmean(readings), sd)

    @property
    def cv(self) -> float:
        return self.sd / self.mean if self.mean else 0.0


def judge(kind: str, set_value: float, readings: tuple[float, ...]) -> dict:
    """One verification point: statistics, errors, limits and the verdict, by name."""
    stats = Statistics.of(readings)
    limits = Limits.dose(set_value) if kind == "dose" else Limits.depth(set_value)
    error = stats.mean - set_value
    systematic_ok = abs(error) <= limits.systematic
    random_ok = stats.sd <= limits.random_sd
    return {"kind": kind, "set": set_value, "n": stats.n, "mean": stats.mean, "sd": stats.sd,
            "cv": stats.cv, "error": error, "systematic_limit": limits.systematic,
            "random_limit": limits.random_sd, "systematic_pass": systematic_ok,
            "random_pass": random_ok, "pass": systematic_ok and random_ok,
            "readings": list(readings)}
