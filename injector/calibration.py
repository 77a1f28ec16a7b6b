"""Technician calibration of dose and depth, and its verification.

Dose, gravimetric as in the field: at each set volume, shots one by one into a cup on a
balance, the mass of each turned into volume with the Z-factor of the conditions
(injector/metrology.py). Depth: commanded
against where a depth gauge says the tip went. The fit maps commanded to delivered (a
straight line, or straight pieces between the points where a line does not fit); bad
measurements are refused with what to redo, and the calibration in force stays as it was.

Verification, in the manner of a dose-accuracy test: each test volume is fired with the
calibration in force, ten times by default, and must be within the limits of
injector/metrology.py for systematic and random error; every verification is recorded.
"""

from __future__ import annotations

import asyncio
import math
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta, timezone

import numpy as np

from drivers.calibration_table import MAX_POINTS, CalibrationTable
from drivers.config import DAY_S, IDENTITY_DEPTH, IDENTITY_VOLUME
from drivers.instruments import Balance, DepthGauge
from injector.calibration_state import TECHNICIAN_VALID_DAYS, TECHNICIAN_VALID_SHOTS, in_force
from injector.controller import Controller
from injector.correction import Correction
from injector.errors import InjectorError
from injector.metrology import Conditions, Instrument, judge
from injector.planner import PRIME_UL, Overrides, Plan, plan
from injector.session import AlarmLatched, make_safe
from injector.store import written
from profiles import Catalog

DOSE_VOLUMES_UL = (10.0, 25.0, 50.0, 100.0)
DEPTHS_MM = (1.0, 2.0, 3.0)
SHOTS_EACH = 3
VERIFY_SHOTS_EACH = 10
"""Replicates per verification point, as ISO 8655-6 weighs a pipette's."""
DOSE_RUN_DEPTH_MM = 2.0
CALIBRATION_PRESET, CALIBRATION_ZONE = "nappage-middle", "thighs"
"""Calibration shots are this preset's, on this zone, through the same envelope checks."""
DEPTH_RUN_DOSE_UL = 10.0
DEPTH_TOLERANCE_MM = 0.05

PLAUSIBLE = {"dose": {"gain": (0.8, 1.2), "offset": 5.0, "unit": "ul"},
             "depth": {"gain": (0.8, 1.2), "offset": 1.0, "unit": "mm"}}
DEVICE_SCALE = {"dose": 1000, "depth": 1000}
"""Host units (ul, mm) to the gun's table units (nl, um)."""
TABLE_SPAN = {"dose": IDENTITY_VOLUME, "depth": IDENTITY_DEPTH}
"""Where a straight-line fit is stored: its points at the ends of the envelope's range."""


class CalibrationError(InjectorError):
    """Measurements that cannot make a calibration; says what to redo."""


@dataclass(frozen=True)
class Series:
    set_value: float
    commanded: float
    readings: tuple[float, ...]

    @property
    def mean(self) -> float:
        return float(np.mean(self.readings))

    @property
    def spread(self) -> float:
        return float(np.std(self.readings))


def fit_series(kind: str, series: list[Series]) -> dict:
    """The fit of delivered against commanded, or a CalibrationError that says what to redo."""
    unit = PLAUSIBLE[kind]["unit"]
    for s in series:
        bad = [r for r in s.readings if not math.isfinite(r) or r <= 0]
        if bad:
            raise CalibrationError(f"series at {s.set_value:g} {unit}: reading {bad[0]!r} is not "
                                   f"a positive, finite {unit}; check the instrument and redo it")
    if len({s.commanded for s in series}) < 3:
        raise CalibrationError(f"{len(series)} set values: a fit needs at least 3 different "
                               "ones; measure more points")
    for s in series:
        allowed = max(0.05 * s.mean, 1.0 if kind == "dose" else 0.05)
        if len(s.readings) > 1 and s.spread > allowed:
            raise CalibrationError(
                f"series at {s.set_value:g} {unit} is not repeatable (spread {s.spread:.3f} "
                f"{unit}, allowed {allowed:.3f}): check for air in the line and redo it")
    commanded = np.array([s.commanded for s in series])
    delivered = np.array([s.mean for s in series])
    if len(series) > 3:
        # Each series against the line through the others; the worst one is named.
        worst = None
        for index, s in enumerate(series):
            others = np.delete(np.arange(len(series)), index)
            gain, offset = np.polyfit(commanded[others], delivered[others], 1)
            predicted = gain * s.commanded + offset
            allowed = max(0.10 * abs(predicted), 3.0 if kind == "dose" else 0.3)
            ratio = abs(s.mean - predicted) / allowed
            if ratio > 1 and (worst is None or ratio > worst[0]):
                worst = (ratio, s, predicted)
        if worst is not None:
            _, s, predicted = worst
            raise CalibrationError(
                f"series at {s.set_value:g} {unit} gave {s.mean:.3f} {unit}, far from the "
                f"{predicted:.3f} {unit} the other series predict: redo that series")
    gain, offset = np.polyfit(commanded, delivered, 1)
    low, high = PLAUSIBLE[kind]["gain"]
    if not low <= gain <= high or abs(offset) > PLAUSIBLE[kind]["offset"]:
        raise CalibrationError(
            f"fit gain {gain:.4f}, offset {offset:.3f} {unit} is outside plausible bounds "
            f"(gain {low:g} to {high:g}, offset within +-{PLAUSIBLE[kind]['offset']:g} {unit}): "
            "check the setup (needle, syringe, fluid density) and redo the calibration")
    residuals = delivered - (gain * commanded + offset)
    line_ok = all(abs(r) <= (0.01 * c if kind == "dose" else 0.01) + (0.25 if kind == "dose"
                                                                       else 0.0)
                  for r, c in zip(residuals, commanded))
    scale = DEVICE_SCALE[kind]
    if line_ok:
        span = TABLE_SPAN[kind].commanded
        table = CalibrationTable.line(float(gain), float(offset) * scale, span[0], span[-1])
        fit = {"kind": "linear", "gain": float(gain), "offset": float(offset)}
    else:
        order = np.argsort(commanded)
        if np.any(np.diff(delivered[order]) <= 0):
            raise CalibrationError("delivered does not grow with commanded: redo the "
                                   "calibration")
        table = CalibrationTable(tuple(round(c * scale) for c in commanded[order]),
                                 tuple(round(d * scale) for d in delivered[order]))
        fit = {"kind": "piecewise", "commanded": [float(c) for c in commanded[order]],
               "delivered": [float(d) for d in delivered[order]]}
    return fit | {"residuals": [float(r) for r in residuals],
                  "max_residual": float(np.max(np.abs(residuals))),
                  "table": {"commanded": list(table.commanded),
                            "delivered": list(table.delivered)}}


def calibration_plan(controller: Controller, catalog: Catalog, *, dose_ul: float,
                     depth_mm: float, needle: str, correction: Correction) -> Plan:
    """A single-shot program for calibration shots, through the same envelope checks."""
    config = controller.config
    syringe = catalog.syringe(config.syringe_capacity_nl / 1_000_000,
                              config.dead_volume_nl / 1000)
    return plan(catalog.preset(CALIBRATION_PRESET), catalog.zone(CALIBRATION_ZONE),
                catalog.needle(needle),
                syringe, shots=1, limits=config.mechanical_limits(), correction=correction,
                overrides=Overrides(depth_mm=depth_mm, dose_ul=dose_ul, shot_rate_hz=1.0))


async def measure(controller: Controller, catalog: Catalog, kind: str, values, *,
                  shots_each: int, needle: str, correction: Correction,
                  balance: Balance | None = None, gauge: DepthGauge | None = None,
                  conditions: Conditions | None = None) -> list[Series]:
    """Fire each value's series one shot at a time and read the instrument after each."""
    series = []
    unit = "ul" if kind == "dose" else "mm"
    for value in values:
        dose, depth = (value, DOSE_RUN_DEPTH_MM) if kind == "dose" else (DEPTH_RUN_DOSE_UL, value)
        the_plan = calibration_plan(controller, catalog, dose_ul=dose, depth_mm=depth,
                                    needle=needle, correction=correction)
        await controller.load(the_plan, math.inf)
        if kind == "dose":
            balance.context = f"before the shots at {value:g} ul"
            await balance.tare()
        readings, previous_g = [], 0.0
        for shot in range(1, shots_each + 1):
            # Armed only for the shot: while a person reads or types an instrument (for as
            # long as they take), the gun is disarmed and a trigger pull fires nothing.
            before = controller.account.shots_done
            await controller.arm()
            await controller.fire(1)
            await controller.wait_for(lambda: controller.account.shots_done > before
                                      and controller.state == "armed", 30.0, "a calibration shot")
            await controller.disarm()
            what = f"set {value:g} {unit}, shot {shot} of {shots_each}"
            if kind == "dose":
                balance.context = f"{what} (total in the cup)"
                weight = await balance.stable_weight_g()
                readings.append(conditions.volume_ul(weight - previous_g))
                previous_g = weight
            else:
                gauge.context = what
                readings.append(await gauge.last_depth_mm())
        commanded = (the_plan.program.volume_nl / 1000 if kind == "dose"
                     else the_plan.program.depth_um / 1000)
        series.append(Series(value, commanded, tuple(readings)))
    return series


def check_instruments(instruments: list[Instrument]) -> None:
    """Refuse an overdue balance or gauge before the gun moves."""
    today = datetime.now(timezone.utc).date()
    for instrument in instruments:
        instrument.check_due(today)


async def prepare(controller: Controller, kind: str, person: str) -> None:
    """Connect (unless connected: a resident service's controller), home and prime, and
    open a recorded calibration run. A gun with a latched alarm is refused first: a person
    acknowledges it (`injector alarm ack`)."""
    if controller.state == "disconnected":
        await controller.connect()
    if latched := controller.latched_stop_alarms():
        raise AlarmLatched(latched)
    controller.calibration_override = f"{kind} calibration run by {person}"
    controller.session_id = await written(controller.store.start_session(
        device_serial=controller.identity.serial_number, preset=f"calibration-{kind}",
        zone="-", needle="-", syringe_ml=controller.config.syringe_capacity_nl / 1e6,
        planned_shots=0, budget_ul=0.0, dose_ul=0.0, drug_loss_fraction=0.0,
        calibration={"override": controller.calibration_override, "by": person}, plan={},
        person=person))
    if not controller.is_homed():
        await controller.home()
    correction = controller.calibration.correction
    await controller.prime(round(correction.volume_command_ul(PRIME_UL) * 1000))


async def end_run(controller: Controller, status: str, reason: str) -> None:
    """Record how a calibration run ended, once its shots are durable."""
    store = controller.store
    await asyncio.to_thread(store.flush)
    await written(store.end_session(controller.session_id, status, reason,
                                    store.session_summary(controller.session_id)))


async def store_on_gun(controller: Controller, kind: str, table: CalibrationTable,
                       made_s: int, expires_days: int) -> None:
    """Write the new table into the gun's configuration (the technician unlock), so the gun
    accounts and checks its envelope with it, then read back what is now in force."""
    due_s = made_s + expires_days * DAY_S
    config = controller.config
    config = (config.with_volume_calibration(table, made_s, due_s) if kind == "dose"
              else config.with_depth_calibration(table, made_s, due_s))
    await controller.driver.write_config(config)
    controller.config = await controller.driver.read_config()
    if controller.config != config:
        raise CalibrationError("the gun did not store the calibration as written: redo it")


async def calibrate(controller: Controller, catalog: Catalog, kind: str, *, person: str,
                    balance: Balance | None = None, gauge: DepthGauge | None = None,
                    values=None, shots_each: int = SHOTS_EACH, needle: str = "30G-4mm",
                    conditions: Conditions | None = None,
                    instruments: list[Instrument] = (),
                    expires_days: int = TECHNICIAN_VALID_DAYS,
                    expires_shots: int = TECHNICIAN_VALID_SHOTS) -> dict:
    """Measure the raw gun, fit, and record the calibration; refused measurements record
    nothing, and the calibration in force stays."""
    if kind == "dose" and conditions is None:
        conditions = Conditions.of(20.0, "assumed", None)
    check_instruments(list(instruments))
    await prepare(controller, kind, person)
    store = controller.store
    status, reason, result = "completed", "", {}
    try:
        values = values or (DOSE_VOLUMES_UL if kind == "dose" else DEPTHS_MM)
        if len(values) > MAX_POINTS:
            raise CalibrationError(f"{len(values)} set values: the gun stores at most "
                                   f"{MAX_POINTS} points per axis")
        # Measured through the calibration in force, so every shot stays inside the gun's
        # envelope; the fit is of delivered against commanded, whatever was commanded.
        series = await measure(controller, catalog, kind, values, shots_each=shots_each,
                               needle=needle, correction=controller.calibration.correction,
                               balance=balance, gauge=gauge, conditions=conditions)
        made = datetime.now(timezone.utc).replace(microsecond=0)
        fit = fit_series(kind, series) | {"made_s": int(made.timestamp())}
        table = CalibrationTable(tuple(fit["table"]["commanded"]),
                                 tuple(fit["table"]["delivered"]))
        await store_on_gun(controller, kind, table, fit["made_s"], expires_days)
        expires = made + timedelta(days=expires_days)
        calibration_id = await written(store.record_calibration(
            device_serial=controller.identity.serial_number, kind=kind, fit=fit,
            points=[asdict(s) for s in series], person=person,
            expires_at=expires.isoformat(), expires_after_shots=expires_shots,
            conditions=conditions.describe() if kind == "dose" else None,
            instruments=[i.describe() for i in instruments], replicates=shots_each))
        controller.calibration = in_force(store, controller.identity.serial_number,
                                          controller.config)
        result = {"calibration_id": calibration_id, "kind": kind, "fit": fit,
                  "points": [asdict(s) | {"mean": s.mean} for s in series],
                  "expires_at": expires.isoformat(), "expires_after_shots": expires_shots}
        reason = f"{kind} calibration {calibration_id} recorded"
    except BaseException as exc:
        status, reason = "aborted", str(exc) or type(exc).__name__
        await make_safe(controller, "the calibration run stopped")
        raise
    finally:
        await end_run(controller, status, reason or "calibration")
    return result


async def verify(controller: Controller, catalog: Catalog, *, person: str,
                 balance: Balance | None, gauge: DepthGauge | None,
                 volumes=DOSE_VOLUMES_UL, depths=DEPTHS_MM,
                 shots_each: int = VERIFY_SHOTS_EACH, needle: str = "30G-4mm",
                 conditions: Conditions | None = None,
                 instruments: list[Instrument] = ()) -> dict:
    """Fire each test value with the calibration in force, judge each point against the
    limits for systematic and random error, and record the verification."""
    if balance is not None and conditions is None:
        conditions = Conditions.of(20.0, "assumed", None)
    check_instruments(list(instruments))
    await prepare(controller, "verify", person)
    correction = controller.calibration.correction
    points, status = [], "completed"
    try:
        if balance is not None:
            for s in await measure(controller, catalog, "dose", volumes, shots_each=shots_each,
                                   needle=needle, correction=correction, balance=balance,
                                   conditions=conditions):
                points.append(judge("dose", s.set_value, s.readings)
                              | {"unit": "ul", "commanded": s.commanded})
        if gauge is not None:
            for s in await measure(controller, catalog, "depth", depths, shots_each=shots_each,
                                   needle=needle, correction=correction, gauge=gauge):
                points.append(judge("depth", s.set_value, s.readings)
                              | {"unit": "mm", "commanded": s.commanded})
    except BaseException:
        status = "aborted"
        await make_safe(controller, "the calibration run stopped")
        raise
    finally:
        await end_run(controller, status, "verification")
    calibration = controller.calibration.describe()
    passed = bool(points) and all(p["pass"] for p in points)
    verification_id = await written(controller.store.record_verification(
        device_serial=controller.identity.serial_number, session_id=controller.session_id,
        person=person, calibrations=calibration,
        conditions=conditions.describe() if conditions else None,
        instruments=[i.describe() for i in instruments], points=points, passed=passed))
    return {"verification_id": verification_id, "points": points, "pass": passed,
            "calibration": calibration, "replicates": shots_each,
            "conditions": conditions.describe() if conditions else None,
            "instruments": [i.describe() for i in instruments]}
