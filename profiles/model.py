"""Value types for the catalog: needles, zones and technique presets (host units)."""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum


@dataclass(frozen=True)
class Needle:
    name: str
    gauge: int
    length_mm: float
    inner_diameter_mm: float


@dataclass(frozen=True)
class Syringe:
    name: str
    capacity_ml: float
    bore_mm: float
    dead_volume_ul: float

    @property
    def usable_ul(self) -> float:
        return self.capacity_ml * 1000.0 - self.dead_volume_ul


@dataclass(frozen=True)
class Zone:
    name: str
    depth_min_mm: float
    depth_max_mm: float
    why: str


class Delivery(Enum):
    """Where in the stroke the plunger runs; the firmware's shot executor follows it."""

    AT_DEPTH = "at-depth"        # insert, dispense at depth, dwell, retract
    RETROGRADE = "retrograde"    # dispense spread along the track while withdrawing
    INFUSION = "infusion"        # a steady slow flow at depth


@dataclass(frozen=True)
class Source:
    seed: str
    quote: str


@dataclass(frozen=True)
class Preset:
    name: str
    technique: str
    summary: str
    delivery: Delivery
    depth_mm: float
    spacing_mm: float
    dose_ul: float
    angle_deg: float
    insert_speed_mm_s: float
    dispense_rate_ul_s: float
    dwell_s: float
    shot_rate_hz: float
    drug_loss_fraction: float
    zones: tuple[str, ...]
    needles: tuple[str, ...]
    sources: tuple[Source, ...]
    notes: str
    path: str
    """The file it was loaded from, for messages."""
    builtin: bool = False
    """Shipped with the software (profiles/presets), not a technician's own file."""
