"""The gun's mechanical limits in host units: what the planner plans against and what the
simulated gun's physics enforces. A real gun reports its own in its configuration."""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True)
class MechanicalLimits:
    """Defaults describe a voice-coil needle axis and a lead-screw plunger of the size found
    in handheld guns: a 1 mm nappage stroke in about 12 ms each way, and a plunger that pushes
    a 1 ml syringe (bore 4.78 mm) at up to about 450 ul/s."""

    depth_travel_mm: float = 14.0
    """Full needle-axis travel from the home switch; 1 mm beyond the envelope's 13 mm."""
    depth_speed_max_mm_s: float = 150.0
    depth_accel_mm_s2: float = 30_000.0
    """About 3 g: a light carriage on a voice coil."""
    plunger_speed_max_mm_s: float = 25.0
    plunger_accel_mm_s2: float = 4_000.0

    def plunger_rate_max_ul_s(self, bore_mm: float) -> float:
        return self.plunger_speed_max_mm_s * bore_area_mm2(bore_mm)

    def plunger_accel_ul_s2(self, bore_mm: float) -> float:
        return self.plunger_accel_mm_s2 * bore_area_mm2(bore_mm)


def bore_area_mm2(bore_mm: float) -> float:
    """1 mm of plunger travel moves this many ul (mm^3)."""
    return math.pi * (bore_mm / 2.0) ** 2
