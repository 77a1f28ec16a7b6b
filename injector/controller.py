"""The controller: the host's state machine over one gun, its interlocks, latched alarms and
the live account, fed by the device's events. Every event is recorded before it counts.

The controller follows the device's reported state; where the device says something the
controller did not expect, it goes to fault (and holds the gun) rather than guess.
"""

from __future__ import annotations

import asyncio
import logging
import math
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime, timezone

from drivers.codes import ALARMS, Severity, alarm_name
from drivers.config import DeviceConfig
from drivers.driver import Driver
from drivers.errors import DriverError
from drivers.messages import AlarmRaised, DeviceState, ShotDone, ShotFlags, StateChanged, Status
from drivers.messages import StatusFlags, latched_codes
from drivers.sequence import seq_distance
from injector.calibration_state import ActiveCalibration, in_force
from injector.errors import InjectorError
from injector.events import AlarmEvent, Event, HoldEvent, Publisher, RefillEvent, StateEvent
from injector.machine import CONNECTED, INTERLOCKS, RUNNING, build_machine
from injector.planner import Plan
from injector.reconcile import Reconciliation
from injector.store import Store, StoreError
from profiles.envelope import ENVELOPE, SafetyEnvelope

log = logging.getLogger("injector.controller")


class InterlockError(InjectorError):
    """A command refused by the controller because an interlock is not met."""

    def __init__(self, action: str, interlock: str, detail: str) -> None:
        self.action, self.interlock, self.detail = action, interlock, detail
        super().__init__(f"cannot {action}: interlock {interlock} not met ({detail})")


class AlarmStop(InjectorError):
    """A latched alarm stopped the session; the gun stopped and retracted the needle."""

    def __init__(self, names: list[str]) -> None:
        self.names = names
        super().__init__(f"alarm {', '.join(names)}: the gun stopped, the needle is retracted; "
                         "a person must acknowledge it")


@dataclass
class Account:
    """One session's shots along the chain of quantities (docs: "one chain of quantities"):
    requested (the clinician's dose per shot), commanded (what the gun was told), measured
    (what its plunger encoder saw) and delivered (measured through the calibration: what the
    syringe gave, by the gun's own account)."""

    shots_done: int = 0
    interrupted_shots: int = 0
    requested_ul: float = 0.0
    commanded_nl: int = 0
    measured_nl: int = 0
    delivered_nl: int = 0
    refills: int = 0

    @property
    def delivered_ul(self) -> float:
        return self.delivered_nl / 1000


class _MachineModel:
    """What the state machine drives: its state and triggers, with the controller's
    interlocks as guards. Kept apart from the controller so that triggers (home, arm, ...)
    and the controller's commands of the same name do not collide."""

    def __init__(self, controller: Controller) -> None:
        for name in INTERLOCKS:
            setattr(self, name, getattr(controller, name))
        self.on_state_change = controller.on_state_change


class Controller:
    def __init__(self, driver: Driver, store: Store, *, person: str = "operator") -> None:
        self.driver = driver
        self.store = store
        self.person = person
        self.events = Publisher()
        """Where the session's events go (injector/events.py): interfaces add listeners."""
        self.fsm = _MachineModel(self)
        self.machine = build_machine(self.fsm)
        self.identity = None
        self.config: DeviceConfig | None = None
        self.status: Status | None = None
        self.calibration: ActiveCalibration | None = None
        self.envelope: SafetyEnvelope = ENVELOPE
        """The product's envelope narrowed to the connected gun's."""
        self.calibration_override: str | None = None
        self.plan: Plan | None = None
        self.budget_nl = 0
        """The most the session may deliver, in delivered nl."""
        self.session_id: int | None = None
        self.account = Account()
        self.unreported_shots: deque[tuple[ShotDone, int]] = deque()
        """This session's shots not reported yet, in the gun's order, each with the
        session's delivered nl up to it: the record commits them in this order, and the
        session reports (and drops) each once it has."""
        self.latched: dict[int, int] = {}
        """Latched alarm code -> its row in the record."""
        self.device_state: DeviceState | None = None
        self.disagreement: str | None = None
        self.link_failure: DriverError | None = None
        self.record_failure: StoreError | None = None
        """The record could not take a row: the gun was held at once, and every wait ends."""
        self._reconciliation: Reconciliation | None = None
        """The driver's own end (link lost, another or a rebooted gun): it ends every wait
        and the session fails with it."""
        self._waiters: list[tuple[Callable[[], bool], asyncio.Future]] = []
        self._pump: asyncio.Task | None = None
        self._last_state = self.state
        self._cause = ""
        store.add_commit_listener(self._notify)
        store.add_failure_listener(self._record_failed)

    # ---- interlocks (the machine's guards) -----------------------------------------------

    def _flags(self) -> StatusFlags:
        return StatusFlags(self.status.flags) if self.status else StatusFlags(0)

    def is_homed(self) -> bool:
        return StatusFlags.HOMED in self._flags()

    def parts_present(self) -> bool:
        flags = self._flags()
        return StatusFlags.NEEDLE_PRESENT in flags and StatusFlags.SYRINGE_PRESENT in flags

    def program_valid(self) -> bool:
        return self.plan is not None

    def calibration_valid(self) -> bool:
        if self.calibration_override:
            return True
        return self.calibration is not None and not self.calibration.expired(
            datetime.now(timezone.utc))

    @property
    def syringe_remaining_nl(self) -> int:
        """The gun's drug account (delivered nl, dead volume included): the figure that
        counts. It comes from the gun, in every STATUS and every EV_SHOT."""
        return self.status.syringe_remaining_nl if self.status else 0

    def usable_drug_nl(self) -> int:
        if not (self.status and self.config):
            return 0
        return self.syringe_remaining_nl - self.config.dead_volume_nl

    def drug_for_next_shot(self) -> bool:
        return self.plan is not None and self.usable_drug_nl() >= self.plan.dose.delivered_nl

    def within_budget(self) -> bool:
        return (self.plan is not None
                and self.account.delivered_nl + self.plan.dose.delivered_nl <= self.budget_nl)

    def no_alarm_latched(self) -> bool:
        return not any(ALARMS[alarm_name(code)].severity is Severity.STOP
                       for code in self.latched if alarm_name(code) in ALARMS)

    def unmet_interlock(self) -> tuple[str, str] | None:
        checks = [
            ("no_alarm_latched", self.no_alarm_latched, lambda: "latched: " + ", ".join(
                alarm_name(c) for c in self.latched)),
            ("is_homed", self.is_homed, lambda: "the gun is not homed"),
            ("parts_present", self.parts_present, lambda: "needle or syringe not present"),
            ("program_valid", self.program_valid, lambda: "no program for this needle and zone"),
            ("calibration_valid", self.calibration_valid, self._calibration_detail),
            ("drug_for_next_shot", self.drug_for_next_shot, lambda: (
                f"{self.usable_drug_nl() / 1000:g} ul usable, the next shot needs "
                f"{self.plan.dose.delivered_nl / 1000 if self.plan else 0:g} ul")),
            ("within_budget", self.within_budget, lambda: (
                f"{self.account.delivered_ul:g} ul delivered of a {self.budget_nl / 1000:g} ul "
                "budget")),
        ]
        for name, check, detail in checks:
            if not check():
                return name, detail()
        return None

    def _calibration_detail(self) -> str:
        if self.calibration is None:
            return "the gun's calibration is not known yet"
        return self.calibration.problem(datetime.now(timezone.utc)) or "calibration valid"

    def require_interlocks(self, action: str) -> None:
        unmet = self.unmet_interlock()
        if unmet:
            raise InterlockError(action, *unmet)

    # ---- state bookkeeping ---------------------------------------------------------------

    def on_state_change(self) -> None:
        self._record_state("host", self._last_state, self.state, self._cause)
        self.publish(StateEvent, previous=self._last_state, state=self.state,
                     cause=self._cause)
        self._last_state = self.state
        self._notify()

    def publish(self, kind: type[Event], **fields) -> None:
        """An event of this session, stamped with the loop's clock and the wall clock."""
        if not self.events:
            return
        self.events.publish(kind(session_id=self.session_id,
                                 loop_s=asyncio.get_running_loop().time(),
                                 at=datetime.now(timezone.utc), **fields))

    def _record_state(self, side: str, previous: str, state: str, cause: str) -> None:
        serial = self.identity.serial_number if self.identity else "?"
        self.store.record_state(self.session_id, serial, side, previous, state, cause,
                                **(self._device_event() if side == "device" else {}))

    def _device_event(self) -> dict:
        """Which gun event a row records: its boot and number, so that a later connect can
        read back from the gun whatever came after."""
        return {"boot_id": self.identity.boot_id if self.identity else None,
                "event_seq": self.driver.event_seq}

    @property
    def state(self) -> str:
        return self.fsm.state

    def _go(self, trigger: str) -> bool:
        self._cause = trigger
        return self.fsm.trigger(trigger)

    def _fire(self, trigger: str) -> None:
        """Run a trigger whose guards were already checked; refuse loudly if it cannot."""
        if not self._go(trigger):
            raise InterlockError(trigger, *(self.unmet_interlock() or ("state", self.state)))

    async def wait_for(self, condition: Callable[[], bool], timeout: float, what: str) -> None:
        """Until `condition` holds; an alarm, a disagreement or the timeout end it early.

        The condition is tested where things change (each event, each state change), and
        the waiting task wakes only when it holds or the wait must end: a run of 10,000 shots
        does not wake its session 10,000 times."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while not condition():
            stop = self._why_waits_end()
            if stop is not None:
                raise stop
            left = deadline - loop.time()
            if left <= 0:
                raise InjectorError(f"timed out after {timeout:g} s waiting for {what}")
            waiter = (condition, loop.create_future())
            self._waiters.append(waiter)
            try:
                async with asyncio.timeout(None if math.isinf(left) else left):
                    await waiter[1]
            except TimeoutError:
                pass
            finally:
                self._waiters.remove(waiter)

    def _why_waits_end(self) -> InjectorError | None:
        """What ends every wait early: the link failing, a stop alarm latched, then a
        disagreement."""
        if self.record_failure is not None:
            return self.record_failure
        if self.link_failure is not None:
            return self.link_failure
        if self.latched and not self.no_alarm_latched():
            return AlarmStop([alarm_name(c) for c in self.latched])
        if self.disagreement:
            return InjectorError(self.disagreement)
        return None

    def _notify(self) -> None:
        """Something changed: wake the waits whose condition now holds or that must end."""
        stop = self._why_waits_end() is not None
        for condition, future in self._waiters:
            if future.done():
                continue
            try:
                if stop or condition():
                    future.set_result(None)
            except Exception as exc:        # noqa: BLE001 - the waiter raises it, not us
                future.set_exception(exc)

    # ---- connection ----------------------------------------------------------------------

    async def connect(self) -> None:
        """Identify the gun, read back what the record missed of its history (marked
        recovered, injector/reconcile.py), and take up its state and latched alarms."""
        self._fire("connect")
        reconciliation = Reconciliation(self.store)
        self.identity = await self.driver.connect(reconciliation.resume_from)
        self.store.record_device(self.identity.serial_number, self.identity.model,
                                 self.identity.firmware_version)
        self.config = await self.driver.read_config()
        # The gun's own envelope, checked against the product's: wider is refused, narrower
        # is what the host plans within.
        self.envelope = ENVELOPE.within_gun(**self.config.envelope_host_units())
        self.calibration = in_force(self.store, self.identity.serial_number, self.config)
        self.status = await self.driver.status()
        self.device_state = DeviceState(self.status.state)
        self._reconciliation = reconciliation
        self._pump = asyncio.get_running_loop().create_task(self._follow())
        if self.driver.history_end is not None:
            await self.wait_for(self._history_read, 30.0, "the gun's history")
        reconciliation.record_gaps(self.driver.history_gap)
        self._reconciliation = None
        for code in latched_codes(self.status.latched_alarms):
            # Latched before we connected: its row in the record (the one written when it
            # was raised, or a new one), so that its acknowledgement is recorded against it.
            self.latched[code] = self.store.open_alarm(self.identity.serial_number, code) or \
                self.store.record_alarm(None, self.identity.serial_number, code=code,
                                        name=alarm_name(code),
                                        shot_index=self.status.shots_done, value=0,
                                        device_time_ms=0)
        self._fire("link_up")
        if ALARMS["emergency_stop"].code in self.latched:
            self._go("estop")
        elif self.is_homed() and self.state == "locked":
            self._fire("homed")

    def latched_stop_alarms(self) -> list[str]:
        return [alarm_name(code) for code in self.latched
                if ALARMS.get(alarm_name(code)) is None
                or ALARMS[alarm_name(code)].severity is Severity.STOP]

    async def close(self) -> None:
        self.events.finish()            # a reader of the events is not left waiting
        if self._pump:
            self._pump.cancel()
        self.store.remove_listener(self._notify)
        self.store.remove_listener(self._record_failed)
        try:
            await self.driver.close()
        finally:
            if self.state != "disconnected":
                self._go("disconnect")

    async def ended(self) -> InjectorError:
        """Until this connection's events end (the link lost, another or a rebooted gun,
        the events themselves lost), and why: a resident service reconnects after it."""
        if self._pump is not None:
            try:
                await asyncio.shield(self._pump)
            except asyncio.CancelledError:
                if not self._pump.cancelled():
                    raise                   # the caller is cancelled, not the connection
                return InjectorError("the connection was closed")
        return self.link_failure or InjectorError(self.disagreement or "the connection ended")

    async def refresh(self) -> Status:
        self.status = await self.driver.status()
        self._notify()
        return self.status

    def _record_failed(self, error: StoreError) -> None:
        """Record first: a shot the record cannot hold is a shot the gun must not give. Hold
        the gun before anything else, then end every wait with the failure."""
        if self.record_failure is not None:
            return
        self.record_failure = error
        log.error("%s: holding the gun", error)
        if self.state in CONNECTED and self.state not in ("disconnected",):
            self._hold_task = asyncio.get_running_loop().create_task(self._hold_now())
        if self.state in RUNNING:
            self._go("record_failed")
        self._notify()

    async def record_caught_up(self) -> None:
        """Until every row written so far is durable (off the loop); the record's failure,
        if it failed."""
        await asyncio.to_thread(self.store.flush)
        if self.record_failure is not None:
            raise self.record_failure

    async def _hold_now(self) -> None:
        try:
            await self.hold(f"the record cannot be written: {self.record_failure}")
        except DriverError as exc:
            log.error("hold after the record failed: %s", exc)

    # ---- following the device ------------------------------------------------------------

    def _history_read(self) -> bool:
        end = self.driver.history_end
        return self.driver.event_seq is not None and seq_distance(self.driver.event_seq,
                                                                  end) >= 0

    async def _follow(self) -> None:
        try:
            async for event in self.driver.events():
                seq, end = self.driver.event_seq, self.driver.history_end
                if end is not None and seq_distance(seq, end) <= 0:
                    # Before this connection: recorded as recovered, no state change.
                    self._reconciliation.record(seq, event)
                    self._notify()
                    continue
                if isinstance(event, ShotDone):
                    self._on_shot(event)
                elif isinstance(event, AlarmRaised):
                    self._on_alarm(event)
                elif isinstance(event, StateChanged):
                    await self._on_device_state(event)
                self._notify()
        except DriverError as exc:
            # The driver ended: the link is lost, or the gun is not the one we knew.
            self.link_failure = exc
            if self.state in RUNNING:
                self._go("link_lost")
            self._notify()
        except Exception as exc:        # noqa: BLE001 - a lost event stream is a fault
            self.disagreement = f"lost the device's events: {exc!r}"
            log.error("%s", self.disagreement)
            if self.state in RUNNING:
                self._go("mismatch")
            self._notify()

    def shots_recorded(self) -> int:
        """Shots of this session the record has committed (and so may be reported)."""
        return self.store.committed_shots(self.session_id) if self.session_id else 0

    def _on_shot(self, shot: ShotDone) -> None:
        commanded = self.plan.program.volume_nl if self.plan else shot.measured_nl
        # Every shot the gun gives goes to the record, a session's or (outside one) the
        # gun's last: written before it is counted, reported once committed.
        session = self.session_id or self.store.last_session(self.identity.serial_number)
        if session is not None:
            self.store.record_shot(session, shot_index=shot.shot_index,
                                   depth_um=shot.depth_reached_um, volume_nl=shot.measured_nl,
                                   commanded_nl=commanded, delivered_nl=shot.delivered_nl,
                                   peak_pressure_kpa=shot.peak_pressure_kpa,
                                   interrupted=bool(shot.flags & ShotFlags.INTERRUPTED),
                                   device_time_ms=shot.time_ms, **self._device_event())
        else:
            log.error("shot %d of gun %s outside any session, and no session to record it in",
                      shot.shot_index, self.identity.serial_number)
        account = self.account
        account.shots_done += 1
        account.interrupted_shots += bool(shot.flags & ShotFlags.INTERRUPTED)
        account.requested_ul += self.plan.setting.dose_ul if self.plan else 0.0
        account.commanded_nl += commanded
        account.measured_nl += shot.measured_nl
        account.delivered_nl += shot.delivered_nl
        if self.session_id is not None:
            self.unreported_shots.append((shot, account.delivered_nl))
        if self.status is not None:
            # The gun's own figure after this shot: the host follows it, never its own sum.
            self.status = replace(self.status, syringe_remaining_nl=shot.syringe_remaining_nl)

    def _on_alarm(self, alarm: AlarmRaised) -> None:
        serial = self.identity.serial_number if self.identity else "?"
        row = self.store.record_alarm(self.session_id, serial, code=alarm.code,
                                      name=alarm_name(alarm.code), shot_index=alarm.shot_index,
                                      value=alarm.value, device_time_ms=alarm.time_ms,
                                      **self._device_event())
        self.latched[alarm.code] = row
        known = ALARMS.get(alarm_name(alarm.code))
        self.publish(AlarmEvent, code=alarm.code, name=alarm_name(alarm.code),
                     severity=known.severity if known else Severity.STOP,
                     shot_index=alarm.shot_index)
        if known is None or known.severity is Severity.STOP:
            if alarm.code == ALARMS["emergency_stop"].code:
                if self.state in CONNECTED and self.state != "estop":
                    self._go("estop")
            elif self.state in RUNNING:
                self._go("alarm")

    async def _on_device_state(self, change: StateChanged) -> None:
        previous, state = DeviceState(change.previous), DeviceState(change.state)
        self.device_state = state
        self._record_state("device", previous.name.lower(), state.name.lower(), str(change.cause))
        expected = _EXPECTED.get((previous, state))
        if state in (DeviceState.FAULT, DeviceState.ESTOP):
            if self.state not in ("fault", "estop"):
                await self._disagree(f"the gun went to {state.name} without an alarm")
            return
        if expected is None:
            return
        trigger, sources = expected
        if self.state in sources:
            if trigger == "homed":
                await self.refresh()
            self._go(trigger)
        elif self.state not in ("fault", "estop") and trigger not in ("primed", "homed"):
            await self._disagree(f"the gun went {previous.name} -> {state.name} while the "
                                 f"controller was {self.state}")

    async def _disagree(self, why: str) -> None:
        """The device and the controller disagree: fault, and hold the gun."""
        self.disagreement = why
        log.error("state mismatch: %s", why)
        if self.state in RUNNING:
            self._go("mismatch")
        try:
            await self.hold(why)
        except Exception as exc:        # noqa: BLE001 - already faulting
            log.error("hold after mismatch failed: %s", exc)

    # ---- commands ------------------------------------------------------------------------

    async def home(self, timeout: float = 30.0) -> None:
        await self.refresh()
        if not self.parts_present():
            raise InterlockError("home", "parts_present", "needle or syringe not present")
        self._fire("home")
        await self.driver.home()
        await self.wait_for(lambda: self.state == "idle", timeout, "homing")

    async def prime(self, commanded_nl: int, timeout: float = 60.0) -> None:
        """Push a commanded `commanded_nl` through the line (the plan's prime, through the
        calibration)."""
        await self.refresh()
        self._fire("prime")
        await self.driver.prime(commanded_nl)
        await self.wait_for(lambda: self.state == "idle", timeout, "priming")
        await self.refresh()

    async def load(self, plan: Plan, budget_nl: int) -> None:
        self.plan, self.budget_nl = plan, budget_nl
        await self.driver.load_program(plan.program)
        self._fire("load")

    async def arm(self) -> None:
        await self.refresh()
        self.require_interlocks("arm")
        await self.driver.arm()
        self._fire("arm")

    async def fire(self, count: int) -> None:
        """Start `count` shots; the interlocks are checked for the whole run's volume, as
        the gun will take it from the syringe."""
        self.require_interlocks("fire")
        need_nl = count * self.plan.dose.delivered_nl
        if self.account.delivered_nl + need_nl > self.budget_nl:
            raise InterlockError("fire", "within_budget",
                                 f"{count} shots of {self.plan.dose.delivered_nl / 1000:g} ul "
                                 f"would pass the {self.budget_nl / 1000:g} ul budget")
        if self.usable_drug_nl() < need_nl:
            raise InterlockError("fire", "drug_for_next_shot",
                                 f"{self.usable_drug_nl() / 1000:g} ul usable, {count} shots "
                                 f"need {need_nl / 1000:g} ul")
        self._fire("inject")
        await self.driver.fire(count)

    async def hold(self, reason: str) -> None:
        """Tell the gun to hold (stop, retract, wait), saying why to the event listeners."""
        self.publish(HoldEvent, reason=reason)
        await self.driver.hold()

    async def pause(self) -> None:
        await self.hold("paused by the clinician")
        if self.state in ("injecting", "armed"):
            self._go("pause")

    async def resume(self) -> None:
        """Go on after a pause: the run the gun was held in goes on; a gun held between
        runs (or as its run ended) is armed again, with nothing fired."""
        await self.refresh()
        self.require_interlocks("resume")
        await self.driver.resume()
        status = await self.refresh()
        self._fire("rearm" if DeviceState(status.state) is DeviceState.ARMED else "resume")

    async def disarm(self) -> None:
        await self.driver.disarm()
        if self.state in ("armed", "paused"):
            self._go("disarm")

    async def emergency_stop(self) -> None:
        await self.driver.emergency_stop()

    async def acknowledge(self, code: int, person: str) -> None:
        """A person acknowledges a latched alarm; it is recorded with their name."""
        if code not in self.latched:
            raise InjectorError(f"alarm {alarm_name(code)} is not latched")
        await self.driver.acknowledge(code)
        await asyncio.to_thread(self.store.record_ack(self.latched.pop(code), person).result)
        await self.refresh()
        if self.state in ("fault", "estop") and self.no_alarm_latched():
            self._go("acknowledge")

    async def change_syringe(self, volume_nl: int, prime_nl: int) -> None:
        """A new syringe holding `volume_nl` is mounted (a person does it at the gun; an
        automated run confirms it): the count goes on, the line is primed, the program
        reloaded."""
        if self.state in ("armed", "paused"):
            await self.driver.disarm()
            self._fire("disarm")
        if self.state == "ready":
            self._fire("unload")
        await self.driver.syringe_loaded(volume_nl)
        self.account.refills += 1
        self.publish(RefillEvent, refills=self.account.refills, syringe_ul=volume_nl / 1000)
        await self.prime(prime_nl)
        if self.plan is not None:
            await self.driver.load_program(self.plan.program)
            self._fire("load")


_EXPECTED = {
    # device (previous, new) -> (controller trigger, controller states it is expected in)
    (DeviceState.HOMING, DeviceState.IDLE): ("homed", ("homing",)),
    (DeviceState.PRIMING, DeviceState.IDLE): ("primed", ("priming",)),
    (DeviceState.FIRING, DeviceState.ARMED): ("run_done", ("injecting",)),
}
