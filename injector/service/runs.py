"""Sessions (and technicians' calibration runs) on the service's guns: started by a request
that returns at once, run as tasks of the service (never of a connection: a client that goes
away leaves its session running under the service's supervision, and any signed-in
clinician can hold or stop it), one at a time on a gun.

Each session is injector.session.run_session, as the command line runs it: the same checks,
the same ending always recorded, the same make_safe. Hold, resume and stop act on it:

- hold: the gun holds at once if it is firing or armed (the plunger stops, the needle
  retracts); whatever the session is doing, it fires nothing more until resumed;
- resume: the run it was held in goes on, or the next one starts;
- stop: the session ends, recorded as interrupted by that person; the gun held, disarmed.

A calibration run (injector.calibration_runs.calibration_run, as `injector calibrate`)
is a run like a session, recorded as a session of its own; it can be stopped, not held (its
shots are one at a time, each weighed or gauged).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from enum import Enum

from drivers.errors import DriverError
from injector.controller import Controller, InterlockError
from injector.errors import InjectorError
from injector.service.auth import Principal
from injector.service.errors import CannotNow, Conflict, NotRunning, ServiceError, Unavailable
from injector.service.supervisor import GunSupervisor
from injector.session import (
    SessionError, SessionRequest, SessionResult, check_request, interrupted_result,
    make_safe, run_session,
)
from injector.remedies import in_service_words
from injector.calibration_runs import CalibrationRequest, calibration_run
from injector.store import Store, StoreError, written
from profiles import Catalog

log = logging.getLogger("injector.service")

START_WAIT_S = 10.0
"""How long a start waits for its gun to be (re)connected before answering 503."""


class RunKind(Enum):
    SESSION = "session"
    CALIBRATION = "calibration"


Work = Callable[[Controller, "Run"], Awaitable[object]]


class Run:
    """One session (or calibration run) on one gun, from its start request to its recorded
    end."""

    def __init__(self, gun: GunSupervisor, kind: RunKind, by: Principal, work: Work) -> None:
        self.gun, self.kind, self.by, self.work = gun, kind, by, work
        self.controller: Controller | None = None
        self.session_id: int | None = None
        self.held = False
        self.stop_reason = "stopped through the service"
        self.result: SessionResult | dict | None = None
        self.task: asyncio.Task | None = None
        self.started: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        """The session's id once its row is durable, or why it could not start."""

    @property
    def running(self) -> bool:
        """Its task has begun and is not over."""
        return self.task is not None and not self.task.done()

    async def finished(self) -> None:
        """Until the run's task is over (without ever cancelling it)."""
        if self.task is not None:
            await asyncio.wait({self.task})


class Runs:
    def __init__(self, guns: list[GunSupervisor], catalog: Catalog, store: Store) -> None:
        self.guns, self.catalog, self.store = guns, catalog, store
        self._by_session: dict[int, Run] = {}
        store.add_row_listener(self._on_rows)

    # ---- start ---------------------------------------------------------------------------

    async def start(self, gun: GunSupervisor, request: SessionRequest,
                    by: Principal) -> Run:
        """Checked, claimed, started; returns once the session is in the record (or raises
        why it could not start: a latched alarm, the gun offline, a plan the gun refuses)."""
        check_request(self.catalog, request)

        def session(controller: Controller, run: Run):
            return run_session(controller, self.catalog, request,
                               stop_reason=lambda: run.stop_reason, held=lambda: run.held)
        return await self._begin(Run(gun, RunKind.SESSION, by, session))

    async def calibrate(self, gun: GunSupervisor, request: CalibrationRequest, by: Principal,
                        readings=None, watch=None) -> Run:
        """A calibration or verification, as `injector calibrate` runs it (the request
        checked by check_calibration first); returns once its run is in the record.
        `readings` answers "prompt" instruments and `watch` sees the simulated gun's own
        answer (the touchscreen's wizard)."""
        def calibration(controller: Controller, run: Run):
            return calibration_run(controller, self.catalog, request, gun.sim, readings, watch)
        return await self._begin(Run(gun, RunKind.CALIBRATION, by, calibration))

    async def _begin(self, run: Run) -> Run:
        gun = run.gun
        gun.claim(run)
        run.task = asyncio.get_running_loop().create_task(self._run(run))
        await asyncio.wait({run.started, run.task}, return_when=asyncio.FIRST_COMPLETED)
        if not run.started.done():
            await asyncio.wait({run.started})
        run.session_id = run.started.result()       # raises why it could not start
        return run

    def _on_rows(self, rows: list[tuple[str, dict]]) -> None:
        for table, row in rows:
            if table != "sessions":
                continue
            for gun in self.guns:
                run = gun.run
                if (run is not None and not run.started.done()
                        and run.controller is not None
                        and row["device_serial"] == gun.serial):
                    run.session_id = row["id"]
                    self._by_session[row["id"]] = run
                    run.started.set_result(row["id"])

    async def _run(self, run: Run) -> None:
        controller = None
        try:
            controller = run.controller = await run.gun.connected(START_WAIT_S)
            run.result = await run.work(controller, run)
        except (Exception, asyncio.CancelledError) as exc:     # noqa: BLE001 - answered
            if (result := interrupted_result(exc)) is not None:
                # Cancelled, recorded as interrupted and made safe: a result, not an error.
                run.result = result
                return
            if not run.started.done():
                run.started.set_exception(as_service_error(exc))
            else:
                await self._end_unexpected(run, controller, exc)
        finally:
            if not run.started.done():
                if isinstance(run.result, SessionResult):
                    run.started.set_result(run.result.session_id)
                else:
                    run.started.set_exception(Unavailable("the session ended before it "
                                                          "started"))
            run.gun.release(run)

    async def _end_unexpected(self, run: Run, controller: Controller | None,
                              exc: BaseException) -> None:
        """A session that ended by something run_session does not expect: the gun made safe,
        and its end recorded, so no session is left 'running' in the record."""
        if isinstance(exc, InjectorError):
            # A calibration's refusal of its measurements: recorded by the run itself.
            log.warning("%s run %s on gun %s ended: %s", run.kind.value, run.session_id,
                        run.gun.name, exc)
        else:
            log.error("%s run %s on gun %s: unexpected %r", run.kind.value, run.session_id,
                      run.gun.name, exc, exc_info=exc)
        if controller is not None:
            await make_safe(controller)
        try:
            await asyncio.to_thread(self.store.flush)
            if run.session_id and self.store.session(run.session_id)["status"] == "running":
                await written(self.store.end_session(
                    run.session_id, "failed", f"unexpected {type(exc).__name__}: {exc}",
                    self.store.session_summary(run.session_id)))
        except StoreError as error:
            log.error("session %s: its end cannot be recorded: %s", run.session_id, error)

    # ---- actions on a running session ----------------------------------------------------

    def running(self, session_id: int) -> Run:
        run = self._by_session.get(session_id)
        if run is None or not run.running:
            status = self._status_of(session_id)
            raise NotRunning(session_id, status)
        return run

    def _status_of(self, session_id: int) -> str:
        """The recorded status; NotInRecord (404) for a number the record never had."""
        return self.store.session(session_id)["status"]

    def _session_only(self, run: Run, action: str) -> None:
        if run.kind is not RunKind.SESSION:
            raise CannotNow(action, run.session_id, run.controller.state,
                            f"a {run.kind.value} run cannot be held; stop ends it")

    async def hold(self, run: Run) -> str:
        self._session_only(run, "hold")
        controller = run.controller
        run.held = True
        if controller.state in ("injecting", "armed"):
            await _at_gun(controller.pause)
        return controller.state

    async def resume(self, run: Run) -> str:
        self._session_only(run, "resume")
        controller = run.controller
        if not run.held:
            raise CannotNow("resume", run.session_id, controller.state, "it is not held")
        if controller.state == "paused":
            await _at_gun(controller.resume)
        run.held = False
        await _at_gun(controller.refresh)           # the session sees it, and goes on
        return controller.state

    async def stop(self, run: Run, reason: str) -> SessionResult | None:
        run.stop_reason = reason
        run.task.cancel()
        await run.finished()
        return run.result if isinstance(run.result, SessionResult) else None

    async def stop_all(self, reason: str) -> list[SessionResult]:
        """The service ends: every running session stopped, made safe and recorded."""
        runs = [gun.run for gun in self.guns if gun.run is not None]
        results = []
        for run in runs:
            if run.running:
                results.append(await self.stop(run, reason))
        return [r for r in results if r is not None]


async def _at_gun(action: Callable) -> None:
    """A command to the gun, its refusal as the service's."""
    try:
        await action()
    except InterlockError as exc:
        raise Conflict(str(exc), interlock=exc.interlock) from None
    except DriverError as exc:
        raise Unavailable(f"the gun did not take it: {exc}") from None


def as_service_error(exc: BaseException) -> BaseException:
    """Why a session could not start, as the service answers it."""
    from injector.session import AlarmLatched

    if isinstance(exc, ServiceError):
        return exc
    if isinstance(exc, AlarmLatched):
        return Conflict(in_service_words(exc, str(exc)), alarms=exc.names)
    if isinstance(exc, asyncio.CancelledError):
        return Unavailable("the session was stopped before it started")
    if isinstance(exc, DriverError):
        return Unavailable(f"the gun: {exc}")
    if isinstance(exc, (SessionError, InterlockError)):
        return Conflict(str(exc))
    if isinstance(exc, InjectorError):
        return exc                           # mapped by the application (422 or 409)
    return exc
