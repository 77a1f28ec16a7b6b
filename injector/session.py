"""A treatment session: a clinician's preset, zone and needle, run on one gun to a number of
shots or a volume, with the live account and an ending that is always recorded.

However a session ends (done, an alarm, an interlock, a lost link, Ctrl-C) the gun is left
stopped with the needle retracted, and the record says how and why.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Callable
from dataclasses import dataclass

from drivers.codes import ALARMS
from drivers.errors import DriverError
from drivers.messages import DeviceState, ShotFlags
from drivers.values import ValueRefused
from injector import inputs
from injector.controller import AlarmStop, Controller, InterlockError
from injector.errors import InjectorError
from injector.events import EndEvent, ShotEvent
from injector.planner import PRIME_UL, Overrides, Plan, plan
from injector.store import StoreError, written
from injector.checklist import Checklist, ChecklistError
from injector.limits import Override, check_plan, check_signed
from injector.remedies import Remedy, command_line, needing
from profiles import Catalog
from profiles.library import Library, load_library
from profiles.use import check_preset_use

RETRACT_WAIT_S = 2.0
MAX_RUN = 100
"""Shots fired in one run: the record is never further behind the gun than this, well
inside the 256 events the gun keeps, so whatever a crash cuts off can be read back."""


class SessionError(InjectorError):
    """The session could not start, or ended early; `result` holds what was recorded."""

    def __init__(self, message: str, result: SessionResult | None = None) -> None:
        super().__init__(message)
        self.result = result


@dataclass(frozen=True)
class SessionRequest:
    preset: str
    zone: str
    needle: str
    shots: int | None = None
    volume_ml: float | None = None
    syringe_ml: float | None = None
    """None: the syringe the gun is configured for."""
    budget_ml: float | None = None
    """None: exactly the planned volume."""
    prime_ul: float = PRIME_UL
    refill: bool = True
    """Automated runs: confirm a full new syringe when the current one cannot give the next
    shot (a person does this at the gun; the simulator takes the confirmation)."""
    calibration_override: str | None = None
    person: str = "operator"
    overrides: Overrides = Overrides()
    """The clinician's changes to the preset, held to the same checks as a plan's."""
    checklist: Checklist | None = None
    """The pre-treatment checklist, answered: a session does not start without it."""
    override_reason: str | None = None
    """Passes the library's soft limits and answered contraindications, by `person`."""

    def __post_init__(self) -> None:
        """Every value checked through its definition (injector/inputs.py) before anything
        can use it: the command line, the service and tests build requests alike."""
        if (self.shots is None) == (self.volume_ml is None):
            raise ValueRefused("shots", self.shots, "give exactly one of shots or volume_ml",
                               "one of shots or volume_ml")
        for name, kind in (("shots", inputs.SHOTS), ("volume_ml", inputs.VOLUME_ML),
                           ("syringe_ml", inputs.SYRINGE_ML), ("budget_ml", inputs.BUDGET_ML),
                           ("prime_ul", inputs.PRIME_UL), ("person", inputs.PERSON),
                           ("calibration_override", inputs.REASON),
                           ("override_reason", inputs.REASON)):
            value = getattr(self, name)
            if value is None:
                continue
            try:
                object.__setattr__(self, name, kind.check(value))
            except ValueRefused as refused:
                raise ValueRefused(name, value, refused.problem, refused.limit) from None


@dataclass(frozen=True)
class SessionResult:
    session_id: int
    status: str
    """completed, aborted (alarm or interlock), failed (link), interrupted (Ctrl-C)."""
    reason: str
    summary: dict


def shots_for(request: SessionRequest, dose_ul: float) -> int:
    if request.shots is not None:
        return request.shots
    return math.floor(request.volume_ml * 1000 / dose_ul + 1e-9)


def check_request(catalog: Catalog, request: SessionRequest) -> int:
    """The session's shots, from the request alone, before any gun is involved: the preset
    is for the zone and needle, a volume asks for at least one dose, a budget holds the
    planned volume. Returns the number of shots."""
    preset = catalog.preset(request.preset)
    check_preset_use(preset, catalog.zone(request.zone), catalog.needle(request.needle))
    dose_ul = request.overrides.dose_ul or preset.dose_ul
    shots = shots_for(request, dose_ul)
    if shots < 1:
        raise ValueRefused("volume_ml", request.volume_ml,
                           f"less than one dose ({dose_ul:g} ul of {preset.name}); give at "
                           f"least {dose_ul / 1000:g} ml", f"at least {dose_ul / 1000:g} ml")
    planned_ml = shots * dose_ul / 1000
    if request.budget_ml is not None and request.budget_ml < planned_ml - 1e-9:
        raise ValueRefused("budget_ml", request.budget_ml,
                           f"less than the {planned_ml:g} ml the session plans ({shots} shots "
                           f"of {dose_ul:g} ul); give at least {planned_ml:g} ml, or fewer "
                           "shots", f"at least {planned_ml:g} ml")
    return shots


def session_plan(controller: Controller, catalog: Catalog, request: SessionRequest,
                 shots: int = 1) -> Plan:
    """The request planned for the connected gun: its mechanics, its calibration, its
    syringe and the drug its account says is left."""
    config = controller.config
    capacity_ml = config.syringe_capacity_nl / 1_000_000
    syringe_ml = request.syringe_ml if request.syringe_ml is not None else capacity_ml
    if syringe_ml != capacity_ml:
        raise ValueRefused("syringe_ml", f"{syringe_ml:g}", f"the gun is configured for a "
                           f"{capacity_ml:g} ml syringe", f"{capacity_ml:g} ml, the gun's")
    syringe = catalog.syringe(syringe_ml, config.dead_volume_nl / 1000)
    return plan(catalog.preset(request.preset), catalog.zone(request.zone),
                catalog.needle(request.needle), syringe, shots=shots,
                overrides=request.overrides, envelope=controller.envelope,
                limits=config.mechanical_limits(), correction=controller.calibration.correction,
                prime_ul=request.prime_ul, syringe_start_nl=controller.syringe_remaining_nl)


class AlarmLatched(SessionError):
    """The gun waits for a person to acknowledge an alarm: no session starts until then."""

    def __init__(self, names: list[str], port: str = "URL") -> None:
        self.names = names
        texts = "; ".join(f"{name}: {ALARMS[name].action}" if name in ALARMS else name
                          for name in names)
        super().__init__(f"the gun has {'alarms' if len(names) > 1 else 'alarm'} "
                         f"{', '.join(names)} latched ({texts}); a person acknowledges it "
                         f"first: {command_line(Remedy.ACKNOWLEDGE, port=port)}")
        needing(self, Remedy.ACKNOWLEDGE, port=port)


def interrupted_result(stop: BaseException) -> SessionResult | None:
    """The result of a session a cancellation (or Ctrl-C) interrupted, recorded as such
    with the gun made safe, from what the caller caught: the CancelledError run_session
    raised again with the result on it, or the TimeoutError of an asyncio.timeout it came
    from. asyncio's own exception, not a subclass: asyncio.timeout and TaskGroup (Python
    3.11) recognise a cancellation by its exact type."""
    seen: set[int] = set()
    while stop is not None and id(stop) not in seen:
        seen.add(id(stop))
        if (result := getattr(stop, "session_result", None)) is not None:
            return result
        stop = stop.__cause__ or stop.__context__
    return None


async def run_session(controller: Controller, catalog: Catalog, request: SessionRequest, *,
                      library: Library | None = None,
                      on_shot: Callable[[int, Controller], None] | None = None,
                      stop_reason: Callable[[], str] = lambda: "stopped: the session's "
                                                               "task was cancelled",
                      held: Callable[[], bool] = lambda: False) -> SessionResult:
    """Connect, check, home, prime, load, arm and run; always record the ending.

    `on_shot(n, controller)` is called for the n-th shot of the session once it is in the
    record, in order, each once. `stop_reason()` says why, when the task is cancelled.
    `held()` true holds the session before its next run of shots (a clinician's hold that
    came between runs), until it is false and the controller notified. A controller
    already connected (a resident service's) is used as it is; a controller runs one
    session (the next takes a new one, as the service does). Cancelled, it records the
    session as interrupted, makes the gun safe and raises the cancellation again, with the
    result on it (`interrupted_result`). A request refused before anything moves raises
    (an InjectorError saying why). Either way the controller's event streams end."""
    try:
        return await _session(controller, catalog, request, library, on_shot, stop_reason,
                              held)
    finally:
        controller.events.finish()


async def _session(controller: Controller, catalog: Catalog, request: SessionRequest,
                   library: Library | None, on_shot, stop_reason: Callable[[], str],
                   held: Callable[[], bool]) -> SessionResult:
    if controller.session_id is not None:
        raise SessionError(f"this controller ran session {controller.session_id} already: "
                           "a session takes a new Controller (its gun and record may be the "
                           "same)")
    report = _ShotReporter(controller, on_shot)
    library = library or load_library()
    check_request(catalog, request)
    if request.checklist is None:
        raise needing(ChecklistError("no pre-treatment checklist answered: a session does "
                                     f"not start without one ({command_line(Remedy.CHECKLIST)})"),
                      Remedy.CHECKLIST)
    contraindications = request.checklist.check(request.override_reason)
    check_signed(library, controller.store)
    if controller.state == "disconnected":
        await controller.connect()
    if latched := controller.latched_stop_alarms():
        raise AlarmLatched(latched)
    target = shots_for(request, session_plan(controller, catalog, request).setting.dose_ul)
    the_plan = session_plan(controller, catalog, request, target)
    override = (Override(request.override_reason, request.person) if request.override_reason
                else None)
    crossings = check_plan(library, the_plan, override)
    budget_nl = (round(request.budget_ml * 1_000_000) if request.budget_ml is not None
                 else target * the_plan.dose.delivered_nl)
    controller.calibration_override = request.calibration_override
    calibration = controller.calibration.describe()
    if request.calibration_override:
        calibration |= {"override": request.calibration_override, "by": request.person}
    controller.session_id = await written(controller.store.start_session(
        device_serial=controller.identity.serial_number, preset=the_plan.preset.name,
        zone=request.zone, needle=request.needle, syringe_ml=the_plan.syringe.capacity_ml,
        planned_shots=target, budget_ul=budget_nl / 1000, dose_ul=the_plan.setting.dose_ul,
        drug_loss_fraction=the_plan.preset.drug_loss_fraction, calibration=calibration,
        plan=the_plan.summary() | {
            "library": library.stamp(), "checklist": request.checklist.describe(),
            "override": ({"reason": request.override_reason, "person": request.person,
                          "limits": [c.describe() for c in crossings],
                          "contraindications": contraindications}
                         if crossings or contraindications else None)},
        person=request.person))
    started = asyncio.get_running_loop().time()
    status, reason = "completed", f"{target} shots given"
    interrupted: BaseException | None = None
    try:
        await _treat(controller, the_plan, target, budget_nl, request, report, held)
    except AlarmStop as exc:
        status, reason = "aborted", str(exc)
    except InterlockError as exc:
        status, reason = "aborted", str(exc)
    except (DriverError, StoreError) as exc:
        status, reason = "failed", str(exc)
    except InjectorError as exc:
        status, reason = "aborted", str(exc)
    except (asyncio.CancelledError, KeyboardInterrupt) as stop:
        status, reason, interrupted = "interrupted", stop_reason(), stop
    if status != "completed":
        await make_safe(controller, reason)
    try:
        await asyncio.to_thread(controller.store.flush)
    except StoreError as exc:
        status, reason = "failed", str(exc)
    summary = _summary(controller, the_plan, target, asyncio.get_running_loop().time() - started)
    try:
        await written(controller.store.end_session(controller.session_id, status, reason,
                                                   summary))
    except StoreError:
        pass    # the record cannot take it: the session shows as interrupted at the next start
    report()
    result = SessionResult(controller.session_id, status, reason,
                           summary | {"status": status, "reason": reason})
    controller.publish(EndEvent, status=status, reason=reason, summary=result.summary)
    if interrupted is not None:
        interrupted.session_result = result
        raise interrupted
    return result


class _ShotReporter:
    """Passes on each shot (to `on_shot` and as an event) once the record has committed it,
    so a report is never ahead of what a power cut would leave."""

    def __init__(self, controller: Controller,
                 on_shot: Callable[[int, Controller], None] | None) -> None:
        self.controller = controller
        self.on_shot = on_shot
        self.reported = 0

    def __call__(self) -> None:
        controller = self.controller
        while self.reported < controller.shots_recorded():
            self.reported += 1
            shot, session_delivered_nl = controller.unreported_shots.popleft()
            if self.on_shot is not None:
                self.on_shot(self.reported, controller)
            controller.publish(
                ShotEvent, shots_done=self.reported, shot_index=shot.shot_index,
                depth_mm=shot.depth_reached_um / 1000, delivered_ul=shot.delivered_nl / 1000,
                session_delivered_ul=session_delivered_nl / 1000,
                syringe_remaining_ul=shot.syringe_remaining_nl / 1000,
                interrupted=bool(shot.flags & ShotFlags.INTERRUPTED))


async def _treat(controller: Controller, the_plan: Plan, target: int, budget_nl: int,
                 request: SessionRequest, report: _ShotReporter,
                 held: Callable[[], bool] = lambda: False) -> None:
    drug = the_plan.drug
    fresh_nl = drug.capacity_nl
    if not controller.is_homed():
        await controller.home()
    if the_plan.first_fill_shots == 0:
        # The syringe on the gun cannot give one shot after its prime: change it first.
        await _change_syringe(controller, request, fresh_nl, the_plan.prime_commanded_nl)
    else:
        await controller.prime(the_plan.prime_commanded_nl)
    await controller.load(the_plan, budget_nl)
    await _arm_unless_held(controller, held)
    draw = the_plan.dose.delivered_nl
    while controller.account.shots_done < target:
        remaining = target - controller.account.shots_done
        by_budget = (budget_nl - controller.account.delivered_nl) // draw
        by_syringe = drug.shots_from(controller.syringe_remaining_nl)
        if by_budget <= 0:
            raise InterlockError("fire", "within_budget",
                                 f"the {budget_nl / 1000:g} ul budget is spent")
        if by_syringe <= 0:
            await _change_syringe(controller, request, fresh_nl, the_plan.prime_commanded_nl)
            await _arm_unless_held(controller, held)
            continue
        batch = min(remaining, by_budget, by_syringe, MAX_RUN)
        # Record first: no run starts while the record is behind the gun.
        await controller.record_caught_up()
        if held():
            # Held between runs, or before the first (a hold during homing or the prime):
            # the gun is held too, not left armed, and nothing fires until the clinician
            # resumes (resuming the gun is the resume's own work).
            if controller.state == "armed":
                await controller.pause()
            await controller.wait_for(lambda: not held(), math.inf, "resume")
            continue
        before = controller.account.shots_done
        await controller.fire(batch)
        timeout = batch * the_plan.shot_period_s + 10.0

        def progressed() -> bool:
            report()
            done = controller.account.shots_done >= before + batch
            return (done and controller.state == "armed") or controller.state == "paused"

        while True:
            await controller.wait_for(progressed, timeout, f"{batch} shots")
            if controller.state != "paused":
                break
            # Held by the clinician: the run goes on when they resume, however long it takes.
            await controller.wait_for(lambda: controller.state != "paused", math.inf, "resume")
    await controller.disarm()


async def _arm_unless_held(controller: Controller, held: Callable[[], bool]) -> None:
    """Arm the gun, unless the session is held: then it waits loaded and unarmed (a trigger
    pull fires nothing) until the clinician resumes. A hold that came while the gun was
    arming holds it at once."""
    if held():
        await controller.wait_for(lambda: not held(), math.inf, "resume")
    await controller.arm()
    if held() and controller.state == "armed":
        await controller.pause()


async def _change_syringe(controller: Controller, request: SessionRequest, volume_nl: int,
                          prime_nl: int) -> None:
    if not request.refill:
        raise InterlockError("fire", "drug_for_next_shot",
                             f"{controller.usable_drug_nl() / 1000:g} ul usable; change the "
                             "syringe")
    await controller.change_syringe(volume_nl, prime_nl)


async def make_safe(controller: Controller, reason: str = "stopped") -> None:
    """Stop the gun, see the needle out of the skin, and leave the gun disarmed (idle, where
    nothing moves and its watchdog need not be fed) before the session is closed."""
    try:
        if controller.state in ("injecting", "armed", "paused", "priming"):
            await controller.hold(reason)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + RETRACT_WAIT_S
        while loop.time() < deadline:
            status = await controller.refresh()
            if status.depth_um <= 0:
                break
            await asyncio.sleep(0.02)
        if DeviceState(status.state) in (DeviceState.HELD, DeviceState.ARMED):
            await controller.driver.disarm()
    except (DriverError, InjectorError):
        pass                            # the device's own watchdog retracts a silent gun


def volume_chain(record: dict, dose_ul: float, loss: float) -> dict:
    """A session's volumes along the chain of quantities, from its recorded shots: what the
    clinician asked for the shots given, what the gun was told, what its plunger measured,
    what that delivered by the calibration, and what stays in the skin (estimate)."""
    delivered = record["volume_delivered_ul"]
    return {"requested_ul": record["shots_done"] * dose_ul,
            "delivered_ul": delivered,
            "to_skin_estimate_ul": delivered * (1.0 - loss),
            "commanded_ul": record["volume_commanded_ul"],
            "measured_ul": record["volume_measured_ul"]}


def _summary(controller: Controller, the_plan: Plan, target: int, duration_s: float) -> dict:
    record = controller.store.session(controller.session_id)
    return {
        "session_id": controller.session_id,
        "serial_number": controller.identity.serial_number if controller.identity else None,
        "preset": the_plan.preset.name, "zone": the_plan.zone.name,
        "needle": the_plan.needle.name, "person": record.get("person"),
        "planned_shots": target, "shots_done": record["shots_done"],
        "interrupted_shots": controller.account.interrupted_shots,
        "dose_ul": the_plan.setting.dose_ul,
        **volume_chain(record, the_plan.setting.dose_ul, the_plan.preset.drug_loss_fraction),
        "drug_loss_fraction": the_plan.preset.drug_loss_fraction,
        "syringe_remaining_ul": (controller.syringe_remaining_nl / 1000
                                 if controller.status else None),
        "refills": controller.account.refills, "planned_refills": the_plan.refills,
        "alarms": record["alarms"],
        "duration_s": round(duration_s, 3), "calibration": record["calibration"],
        "library": record["library"], "checklist": record["checklist"],
        "override": record["override"],
    }
