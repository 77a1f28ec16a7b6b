"""Preset + zone + needle + syringe + gun -> the shot program, its timing, grid and totals.

Everything is checked before anything is produced: the safety envelope (via profiles), the
gun's mechanics, and the wire's field widths. A rate the mechanics cannot reach is an error,
never a silent slow-down.

The plan is of the program the gun will run: the clinician's request (the `setting`) goes
through the gun's calibration into commands (the `program`), and the timing, the drug each
shot takes from the syringe and the refills all follow from those commands, computed as the
firmware computes them (drivers/shot_timing.py, drivers/calibration_table.py).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from drivers.mechanics import MechanicalLimits
from drivers.program import PROGRAM_FIELD_MAX, DeliveryCode, ShotProgram
from drivers.shot_timing import ShotPhases, shot_phases
from drivers.units import mm_to_um, s_to_ms, ul_to_nl
from injector.correction import IDENTITY, Correction
from injector.drug_account import DrugAccount
from injector.errors import PlanError
from profiles.envelope import ENVELOPE, SafetyEnvelope, check_finite_positive
from profiles.errors import EnvelopeError
from profiles.use import check_preset_use
from profiles.model import Delivery, Needle, Preset, Syringe, Zone

MAX_SHOTS = 10_000_000
"""A plan beyond ten million points is a typo, not a treatment."""
PRIME_UL = 50.0
"""Drug pushed through the line before the first shot of a session and after each syringe
change."""

_DELIVERY_CODES = {Delivery.AT_DEPTH: DeliveryCode.AT_DEPTH,
                   Delivery.RETROGRADE: DeliveryCode.RETROGRADE,
                   Delivery.INFUSION: DeliveryCode.INFUSION}


@dataclass(frozen=True)
class Overrides:
    """A clinician's changes to a preset for one session; held to the same envelope."""

    depth_mm: float | None = None
    dose_ul: float | None = None
    spacing_mm: float | None = None
    shot_rate_hz: float | None = None


@dataclass(frozen=True)
class ShotSetting:
    """What one shot should do to the patient: the request, in host units, before any
    calibration."""

    delivery: Delivery
    depth_mm: float
    dose_ul: float
    spacing_mm: float
    shot_rate_hz: float
    insert_speed_mm_s: float
    retract_speed_mm_s: float
    dispense_rate_ul_s: float
    dwell_s: float


@dataclass(frozen=True)
class ShotDose:
    """One shot's volume along the chain of quantities."""

    requested_ul: float
    """The clinician's dose."""
    commanded_nl: int
    """What the gun is told: the dose through the calibration's correction."""
    delivered_nl: int
    """What the commanded stroke delivers by the gun's calibration: what it takes from the
    syringe and what the record counts as given."""


@dataclass(frozen=True, eq=False)
class Grid:
    """Injection points at cell centres, in the serpentine order the gun sweeps them."""

    x_mm: NDArray[np.float64]
    y_mm: NDArray[np.float64]
    columns: int

    @classmethod
    def layout(cls, shots: int, columns: int, spacing_mm: float) -> Grid:
        index = np.arange(shots)
        row, col = np.divmod(index, columns)
        col = np.where(row % 2 == 1, columns - 1 - col, col)
        return cls(x_mm=(col + 0.5) * spacing_mm, y_mm=(row + 0.5) * spacing_mm, columns=columns)


@dataclass(frozen=True, eq=False)
class Plan:
    preset: Preset
    zone: Zone
    needle: Needle
    syringe: Syringe
    limits: MechanicalLimits
    correction: Correction
    setting: ShotSetting
    program: ShotProgram
    phases: ShotPhases
    """The phases of the program as the gun runs it (the corrected one on a calibrated gun)."""
    dose: ShotDose
    drug: DrugAccount
    prime_commanded_nl: int
    first_fill_shots: int
    """Shots the syringe the session starts with gives after its prime (a fresh syringe's
    worth when the plan does not know the gun)."""
    grid: Grid

    @property
    def shots(self) -> int:
        return int(self.grid.x_mm.size)

    @property
    def shot_period_s(self) -> float:
        """The period the gun actually runs at: the program's, in whole milliseconds."""
        return self.program.shot_period_ms / 1000.0

    @property
    def cycle_s(self) -> float:
        return self.phases.cycle_s

    @property
    def max_rate_hz(self) -> float:
        return self.phases.max_rate_hz

    @property
    def requested_ul(self) -> float:
        return self.shots * self.setting.dose_ul

    @property
    def delivered_ul(self) -> float:
        """The whole plan as the gun's calibration says it delivers."""
        return self.shots * self.dose.delivered_nl / 1000

    @property
    def to_skin_estimate_ul(self) -> float:
        """What stays in the skin: nappage loses up to half at the surface (seed 001)."""
        return self.delivered_ul * (1.0 - self.preset.drug_loss_fraction)

    @property
    def duration_s(self) -> float:
        """First insertion to last retraction at the shot rate, syringe changes not counted."""
        return (self.shots - 1) * self.shot_period_s + self.phases.cycle_s

    @property
    def shots_per_fill(self) -> int:
        return self.drug.shots_per_fill

    @property
    def refills(self) -> int:
        return self.drug.refills(self.shots, self.first_fill_shots)

    @property
    def shot_start_s(self) -> NDArray[np.float64]:
        """When each shot of one run begins, from the run's start."""
        return np.arange(self.shots) * self.shot_period_s

    @property
    def shot_end_s(self) -> NDArray[np.float64]:
        return self.shot_start_s + self.phases.cycle_s

    @property
    def fill_index(self) -> NDArray[np.int64]:
        """Which syringe each shot draws from (0 is the one the session starts with)."""
        shots = np.arange(1, self.shots + 1)
        later = np.maximum(0, shots - self.first_fill_shots - 1) // self.drug.shots_per_fill
        return np.where(shots <= self.first_fill_shots, 0, 1 + later)

    def summary(self) -> dict:
        return {
            "preset": self.preset.name, "technique": self.preset.technique,
            "delivery": self.setting.delivery.value,
            "zone": self.zone.name, "needle": self.needle.name,
            "syringe_ml": self.syringe.capacity_ml,
            "dead_volume_ul": self.syringe.dead_volume_ul,
            "depth_mm": self.setting.depth_mm, "dose_ul": self.setting.dose_ul,
            "spacing_mm": self.setting.spacing_mm, "angle_deg": self.preset.angle_deg,
            "shots": self.shots,
            "requested_ul": self.requested_ul,
            "delivered_ul": self.delivered_ul,
            "to_skin_estimate_ul": self.to_skin_estimate_ul,
            "drug_loss_fraction": self.preset.drug_loss_fraction,
            "per_shot": {"requested_ul": self.dose.requested_ul,
                         "commanded_ul": self.dose.commanded_nl / 1000,
                         "delivered_ul": self.dose.delivered_nl / 1000},
            "calibrated": not self.correction.is_identity(),
            "duration_s": self.duration_s, "shot_rate_hz": self.setting.shot_rate_hz,
            "cycle_ms": self.phases.cycle_s * 1000.0, "max_rate_hz": self.max_rate_hz,
            "prime_ul": self.drug.prime_draw_nl / 1000,
            "reserve_ul": self.drug.reserve_nl / 1000,
            "first_fill_shots": self.first_fill_shots,
            "shots_per_fill": self.shots_per_fill, "refills": self.refills,
            "program": {field: int(getattr(self.program, field)) for field in PROGRAM_FIELD_MAX}
            | {"delivery": int(self.program.delivery)},
        }


def plan(preset: Preset, zone: Zone, needle: Needle, syringe: Syringe, *,
         shots: int | None = None, area_cm2: float | None = None,
         overrides: Overrides = Overrides(), limits: MechanicalLimits = MechanicalLimits(),
         correction: Correction = IDENTITY, envelope: SafetyEnvelope = ENVELOPE,
         prime_ul: float = PRIME_UL, syringe_start_nl: int | None = None) -> Plan:
    """Compile a preset for one zone, needle and syringe into what the gun will run.

    Give exactly one of `shots` (a count) or `area_cm2` (a square area covered at the
    preset's spacing). `syringe_start_nl` is the gun's drug account before the session's
    prime (None: a fresh, full syringe).
    """
    setting = _setting(preset, zone, needle, overrides, limits, envelope)
    program = _program(setting, correction, limits)
    phases = shot_phases(program, limits, syringe.bore_mm)
    try:
        _check_mechanics(setting, program, phases, limits, syringe)
    except PlanError as exc:
        raise _blame_the_override(exc, overrides, phases) from None
    count, columns = _shot_count(shots, area_cm2, setting.spacing_mm)
    dose = ShotDose(requested_ul=setting.dose_ul, commanded_nl=program.volume_nl,
                    delivered_nl=correction.delivered_nl(program.volume_nl))
    prime_commanded = _prime_command_nl(prime_ul, correction)
    drug = DrugAccount(capacity_nl=round(syringe.capacity_ml * 1_000_000),
                       dead_volume_nl=round(syringe.dead_volume_ul * 1000),
                       draw_nl=dose.delivered_nl,
                       prime_draw_nl=correction.delivered_nl(prime_commanded))
    if drug.shots_per_fill < 1:
        raise PlanError("dose_ul", setting.dose_ul, syringe.usable_ul,
                        f"more than the {syringe.name} syringe gives past its dead volume, the "
                        f"prime and the reserve ({drug.reserve_nl / 1000:g} ul)")
    start = drug.capacity_nl if syringe_start_nl is None else syringe_start_nl
    return Plan(preset=preset, zone=zone, needle=needle, syringe=syringe, limits=limits,
                correction=correction, setting=setting, program=program, phases=phases,
                dose=dose, drug=drug, prime_commanded_nl=prime_commanded,
                first_fill_shots=drug.shots_from(start - drug.prime_draw_nl),
                grid=Grid.layout(count, columns, setting.spacing_mm))


def _blame_the_override(exc: PlanError, overrides: Overrides, phases: ShotPhases) -> PlanError:
    """A shot too long for the preset's own rate is the override's doing: say so, not that
    the rate (which the clinician did not touch) is too high."""
    if exc.field != "shot_rate_hz" or overrides.shot_rate_hz is not None:
        return exc
    for field in ("dose_ul", "depth_mm"):
        value = getattr(overrides, field)
        if value is not None:
            return PlanError(field, value, exc.limit,
                             f"one shot then takes {phases.cycle_s * 1000:.1f} ms, longer than "
                             f"the preset's {exc.value:g} shots a second allow: lower "
                             f"{field} or the rate (at most {phases.max_rate_hz:.3g} Hz)")
    return exc


def _prime_command_nl(prime_ul: float, correction: Correction) -> int:
    check_finite_positive(prime_ul, "prime_ul", "ul", source="request")
    return ul_to_nl(correction.volume_command_ul(prime_ul), "prime_ul")


def _setting(preset: Preset, zone: Zone, needle: Needle, overrides: Overrides,
             limits: MechanicalLimits, envelope: SafetyEnvelope) -> ShotSetting:
    # Which zone and needle a preset is for comes first: a clinician who picked the wrong
    # zone needs to hear that, not which of the preset's numbers the zone rules out.
    check_preset_use(preset, zone, needle)
    values = {field: getattr(preset, field) for field in
              ("depth_mm", "dose_ul", "spacing_mm", "shot_rate_hz")}
    source = {field: preset.path for field in values}
    for field in values:
        if (override := getattr(overrides, field)) is not None:
            values[field], source[field] = override, "override"
    envelope.check_depth(values["depth_mm"], zone, needle, source=source["depth_mm"])
    envelope.check_dose(values["dose_ul"], source=source["dose_ul"])
    envelope.check_spacing(values["spacing_mm"], source=source["spacing_mm"])
    check_finite_positive(values["shot_rate_hz"], "shot_rate_hz", "Hz",
                          source=source["shot_rate_hz"])
    if values["shot_rate_hz"] > envelope.shot_rate_max_hz:
        raise EnvelopeError(f"faster than the safety envelope's {envelope.shot_rate_max_hz:g} "
                            "shots a second", source=source["shot_rate_hz"],
                            field="shot_rate_hz", value=values["shot_rate_hz"],
                            limit=envelope.shot_rate_max_hz)
    return ShotSetting(
        delivery=preset.delivery, insert_speed_mm_s=preset.insert_speed_mm_s,
        retract_speed_mm_s=limits.depth_speed_max_mm_s,
        dispense_rate_ul_s=preset.dispense_rate_ul_s, dwell_s=preset.dwell_s, **values)


def _check_mechanics(setting: ShotSetting, program: ShotProgram, phases: ShotPhases,
                     limits: MechanicalLimits, syringe: Syringe) -> None:
    if setting.insert_speed_mm_s > limits.depth_speed_max_mm_s:
        raise PlanError("insert_speed_mm_s", setting.insert_speed_mm_s,
                        limits.depth_speed_max_mm_s,
                        f"faster than the needle axis can move, "
                        f"{limits.depth_speed_max_mm_s:g} mm/s")
    rate_max = limits.plunger_rate_max_ul_s(syringe.bore_mm)
    rate_cmd = program.dispense_rate_nl_s / 1000
    if rate_cmd > rate_max:
        raise PlanError("dispense_rate_ul_s", setting.dispense_rate_ul_s,
                        rate_max * setting.dispense_rate_ul_s / rate_cmd,
                        f"faster than the plunger can push a {syringe.name} syringe, "
                        f"{rate_max:.4g} ul/s")
    if phases.retrograde:
        # The needle withdraws in step with the plunger, so its speed is the plunger's scaled
        # by depth per volume.
        volume_ul, depth_mm = program.volume_nl / 1000, program.depth_um / 1000
        scale = depth_mm / volume_ul
        peak_rate = min(rate_cmd, math.sqrt(volume_ul * phases.plunger_accel_ul_s2))
        if peak_rate * scale > limits.depth_speed_max_mm_s:
            raise PlanError("dispense_rate_ul_s", setting.dispense_rate_ul_s,
                            limits.depth_speed_max_mm_s / scale,
                            f"withdraws the needle at {peak_rate * scale:.4g} mm/s, faster "
                            f"than the axis limit {limits.depth_speed_max_mm_s:g} mm/s")
    max_rate = 1.0 / phases.cycle_s
    if setting.shot_rate_hz > max_rate:
        raise PlanError("shot_rate_hz", setting.shot_rate_hz, max_rate,
                        f"the mechanics reach at most {max_rate:.4g} Hz (cycle "
                        f"{phases.cycle_s * 1000:.1f} ms)")
    if program.shot_period_ms / 1000.0 < phases.cycle_s:
        raise PlanError("shot_rate_hz", setting.shot_rate_hz, max_rate,
                        f"the mechanics reach at most {max_rate:.4g} Hz (cycle "
                        f"{phases.cycle_s * 1000:.1f} ms) once the period is rounded to "
                        f"{program.shot_period_ms} ms")


def _program(setting: ShotSetting, correction: Correction,
             limits: MechanicalLimits) -> ShotProgram:
    depth_cmd = correction.depth_command_mm(setting.depth_mm)
    if not 0 < depth_cmd <= limits.depth_travel_mm:
        raise PlanError("depth_mm", setting.depth_mm, limits.depth_travel_mm,
                        f"the calibrated command {depth_cmd:.3f} mm is outside the needle "
                        f"axis travel (0, {limits.depth_travel_mm:g}] mm")
    volume_cmd = correction.volume_command_ul(setting.dose_ul)
    if volume_cmd <= 0:
        raise PlanError("dose_ul", setting.dose_ul, 0.0,
                        f"the calibrated command {volume_cmd:.3f} ul is not positive")
    # Scale the rate with the volume so the dispense keeps its planned duration.
    rate_cmd = setting.dispense_rate_ul_s * volume_cmd / setting.dose_ul
    widths = PROGRAM_FIELD_MAX
    # Round the period up so the gun never runs faster than the clinician asked.
    period_ms = math.ceil(round(1000.0 / setting.shot_rate_hz, 6))
    if period_ms > widths["shot_period_ms"]:
        raise PlanError("shot_rate_hz", setting.shot_rate_hz, 1000.0 / widths["shot_period_ms"],
                        "too slow: the shot period does not fit its wire field")
    return ShotProgram(
        delivery=_DELIVERY_CODES[setting.delivery],
        depth_um=mm_to_um(depth_cmd, "depth_mm", widths["depth_um"]),
        insert_speed_um_s=mm_to_um(setting.insert_speed_mm_s, "insert_speed_mm_s",
                                   widths["insert_speed_um_s"]),
        retract_speed_um_s=mm_to_um(setting.retract_speed_mm_s, "retract_speed_mm_s",
                                    widths["retract_speed_um_s"]),
        dwell_ms=s_to_ms(setting.dwell_s, "dwell_s", widths["dwell_ms"]),
        volume_nl=ul_to_nl(volume_cmd, "dose_ul", widths["volume_nl"]),
        dispense_rate_nl_s=ul_to_nl(rate_cmd, "dispense_rate_ul_s", widths["dispense_rate_nl_s"]),
        shot_period_ms=period_ms,
    )


def _shot_count(shots: int | None, area_cm2: float | None, spacing_mm: float) -> tuple[int, int]:
    if (shots is None) == (area_cm2 is None):
        raise PlanError("shots", shots, "one of shots or area_cm2",
                        "give exactly one of a shot count or an area")
    if shots is not None:
        if isinstance(shots, bool) or not isinstance(shots, int) or not 1 <= shots <= MAX_SHOTS:
            raise PlanError("shots", shots, MAX_SHOTS, f"must be a whole number 1 to {MAX_SHOTS}")
        return shots, math.ceil(math.sqrt(shots))
    if (isinstance(area_cm2, bool) or not isinstance(area_cm2, (int, float))
            or not math.isfinite(area_cm2) or area_cm2 <= 0):
        raise PlanError("area_cm2", area_cm2, "> 0", "must be a positive, finite area")
    columns = math.ceil(math.sqrt(area_cm2 * 100.0) / spacing_mm)
    if columns * columns > MAX_SHOTS:
        raise PlanError("area_cm2", area_cm2, MAX_SHOTS,
                        f"needs {columns * columns} points at {spacing_mm:g} mm spacing, "
                        f"more than {MAX_SHOTS}")
    return columns * columns, columns
