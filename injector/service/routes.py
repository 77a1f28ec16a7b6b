"""The HTTP routes of /api/v1/: what the command line does, for clients of the service.

Reads are open to every signed-in role; a session and an alarm's acknowledgement need a
clinician (or more); calibration changes a technician; the record of actions an admin.
Values are checked through injector/inputs.py and the session's and planner's own checks,
as the command line checks them: the body's types say only what JSON a field takes.
"""

from __future__ import annotations

import asyncio
import tempfile
from collections.abc import Awaitable
from datetime import datetime, timezone
from pathlib import Path
from typing import Literal

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from pydantic import BaseModel, ConfigDict, Field

from drivers.values import ValueRefused, checked_as
from injector import inputs
from injector.calibration import DEPTHS_MM, DOSE_VOLUMES_UL, SHOTS_EACH, VERIFY_SHOTS_EACH
from injector.alarm_actions import acknowledge as acknowledge_alarms, latched
from injector.calibration_runs import CalibrationRequest, check_calibration
from injector.calibration_state import TECHNICIAN_VALID_DAYS, TECHNICIAN_VALID_SHOTS
from injector.errors import InjectorError
from profiles.errors import ProfileError
from injector.exports import session_document, session_export, shots_csv
from injector.fleet import devices_due
from injector.plan_request import PlanRequest, checked_overrides
from injector.planner import PRIME_UL, Plan
from injector.service.app import signed_in
from injector.service.auth import Principal
from injector.service.credentials import Role
from injector import documents
from injector.service.errors import REFUSALS, NotWhatWasRead, Refused
from injector.service.runs import Run
from injector.session import SessionRequest
from injector.store import written
from injector.checklist import Checklist
from injector.limits import Override, check_plan, signature
from profiles.library import load_library

router = APIRouter(responses=REFUSALS)
ANYONE = Role.CLINICIAN
GUN_WAIT_S = 5.0
"""How long a request about a gun waits for it to be connected (again) before 503."""


class _Body(BaseModel):
    """A request body: no field it does not name, and JSON's types as given (strict): a
    client's "10" or true is refused, never converted into a number of shots."""

    model_config = ConfigDict(extra="forbid", strict=True)


class SignInBody(_Body):
    name: str = Field(description=inputs.USER_NAME.limit)
    secret: str = Field(description=f"the PIN or password: {inputs.SECRET.limit}")


class OverridesBody(_Body):
    depth_mm: float | None = Field(None, description=inputs.DEPTH_MM.limit)
    dose_ul: float | None = Field(None, description=inputs.DOSE_UL.limit)
    spacing_mm: float | None = Field(None, description=inputs.SPACING_MM.limit)
    shot_rate_hz: float | None = Field(None, description=inputs.RATE_HZ.limit)


class PlanBody(_Body):
    preset: str
    zone: str
    needle: str
    shots: float | None = Field(None, description=f"{inputs.SHOTS.limit}; or area_cm2")
    area_cm2: float | None = Field(None, description=inputs.AREA_CM2.limit)
    syringe_ml: float = Field(10.0, description=inputs.SYRINGE_ML.limit)
    dead_volume_ul: float | None = Field(None, description=inputs.DEAD_VOLUME_UL.limit)
    overrides: OverridesBody = OverridesBody()
    override: str | None = Field(None, description="passes the library's soft limits")

    def planned(self, catalog) -> Plan:
        """The plan this request asks for, each value checked (`injector plan`'s request)."""
        return PlanRequest(self.preset, self.zone, self.needle, shots=self.shots,
                           area_cm2=self.area_cm2, syringe_ml=self.syringe_ml,
                           dead_volume_ul=self.dead_volume_ul,
                           overrides=checked_overrides(**self.overrides.model_dump())
                           ).build(catalog)


class SessionBody(_Body):
    """A session's request, as `injector run` takes it; who runs it is the signed-in user."""

    preset: str
    zone: str
    needle: str
    shots: float | None = Field(None, description=f"{inputs.SHOTS.limit}; or volume_ml")
    volume_ml: float | None = Field(None, description=inputs.VOLUME_ML.limit)
    syringe_ml: float | None = Field(None, description=f"{inputs.SYRINGE_ML.limit}; must "
                                                       "match the gun (default: the gun's)")
    budget_ml: float | None = Field(None, description=f"{inputs.BUDGET_ML.limit} (default: "
                                                      "the planned volume)")
    prime_ul: float = Field(PRIME_UL, description=inputs.PRIME_UL.limit)
    refill: bool = Field(True, description="confirm a new syringe when one runs out")
    calibration_override: str | None = Field(None, description=f"a recorded reason to run "
                                                               f"on an expired calibration: "
                                                               f"{inputs.REASON.limit}")
    overrides: OverridesBody = OverridesBody()
    checklist: dict[str, bool] = Field(description="the pre-treatment checklist's answers, "
                                                   "every question of injector/checklist.py "
                                                   "(true or false)")
    override: str | None = Field(None, description="passes the library's soft limits and "
                                                   "contraindications answered yes, recorded "
                                                   "with the signed-in user")


class CalibrationBody(_Body):
    """`injector calibrate`'s options; who calibrates is the signed-in technician."""

    kind: Literal["dose", "depth", "verify"]
    volumes: list[float] = Field(list(DOSE_VOLUMES_UL), description=(
        f"{inputs.SET_VOLUMES_UL.limit}; a dose calibration takes "
        f"{inputs.CALIBRATION_POINTS.limit} of them"))
    depths: list[float] = Field(list(DEPTHS_MM), description=(
        f"{inputs.SET_DEPTHS_MM.limit}; a depth calibration takes "
        f"{inputs.CALIBRATION_POINTS.limit} of them"))
    shots_each: float | None = Field(None, description=f"{inputs.SHOTS_EACH.limit} (default "
                                     f"{SHOTS_EACH}, verify {VERIFY_SHOTS_EACH})")
    needle: str = Field("30G-4mm", description="the needle mounted for calibration")
    balance: str | None = Field(None, description="the balance's port URL (default: a "
                                                  "simulated gun's own balance)")
    gauge: str | None = Field(None, description="the depth gauge's port URL (default: a "
                                                "simulated gun's own gauge)")
    balance_serial: str | None = Field(None, description=inputs.INSTRUMENT_SERIAL.limit)
    balance_due: str | None = Field(None, description=inputs.DUE_DATE.limit)
    gauge_serial: str | None = Field(None, description=inputs.INSTRUMENT_SERIAL.limit)
    gauge_due: str | None = Field(None, description=inputs.DUE_DATE.limit)
    temperature_c: float | None = Field(None, description=inputs.TEMPERATURE_C.limit)
    density: float | None = Field(None, description=inputs.DENSITY_G_ML.limit)
    expires_days: float = Field(TECHNICIAN_VALID_DAYS, description=inputs.EXPIRES_DAYS.limit)
    expires_shots: float = Field(TECHNICIAN_VALID_SHOTS, description=inputs.EXPIRES_SHOTS.limit)


class AckBody(_Body):
    alarm: str | None = Field(None, description="the alarm's name or code (default: every "
                                                "one latched)")


class SignLibraryBody(_Body):
    hash: str = Field(description="the hash of the clinic library in force, as GET "
                                  "/api/v1/library shows it: what was reviewed is what is "
                                  "signed")


class MarkBadBody(_Body):
    reason: str = Field(description=inputs.REASON.limit)


def _service(request: Request):
    return request.app.state.service


# ---- sign-in -------------------------------------------------------------------------------

@router.post("/auth/sign-in", tags=["auth"], summary="Sign in: a token that expires")
async def sign_in(body: SignInBody, request: Request) -> dict:
    return await _service(request).sign_in(body.name, body.secret, request)


@router.post("/auth/sign-out", tags=["auth"], summary="End this sign-in")
async def sign_out(request: Request,
                   who: Principal = signed_in(ANYONE, "sign out")) -> dict:
    return _service(request).sign_out(request, who)


@router.get("/auth/me", tags=["auth"], summary="Who this token or key is")
async def me(who: Principal = signed_in(ANYONE, "read who is signed in")) -> dict:
    return {"name": who.name, "role": who.role.value, "via": who.via.value}


# ---- status and guns -----------------------------------------------------------------------

@router.get("/status", tags=["guns"], summary="The service and every gun")
async def status(request: Request, who: Principal = signed_in(ANYONE, "read status")) -> dict:
    return _service(request).status()


@router.get("/guns", tags=["guns"], summary="The guns this service supervises")
async def guns(request: Request, who: Principal = signed_in(ANYONE, "read guns")) -> list:
    return [gun.describe() for gun in _service(request).guns]


@router.get("/guns/{gun}", tags=["guns"], summary="One gun: link, state, alarms, syringe")
async def gun(gun: str, request: Request,
              who: Principal = signed_in(ANYONE, "read a gun")) -> dict:
    return _service(request).gun(gun).describe()


@router.get("/guns/{gun}/alarms", tags=["alarms"], summary="The gun's latched alarms")
async def alarms(gun: str, request: Request,
                 who: Principal = signed_in(ANYONE, "read alarms")) -> dict:
    controller = await _service(request).gun(gun).connected(GUN_WAIT_S)
    return documents.alarms(latched(controller))


@router.post("/guns/{gun}/alarms/acknowledge", tags=["alarms"],
             summary="Acknowledge latched alarms (recorded with the signed-in user)")
async def acknowledge(gun: str, body: AckBody, request: Request,
                      who: Principal = signed_in(Role.CLINICIAN, "acknowledge alarms")) -> dict:
    service = _service(request)
    supervisor = service.gun(gun)
    controller = await supervisor.connected(GUN_WAIT_S)
    given = inputs.ALARM_NAME.check(body.alarm) if body.alarm is not None else None
    result = await acknowledge_alarms(controller, given, who.name)
    service.record(who, request, "alarm.acknowledge", supervisor.name, "ok",
                   ", ".join(a["name"] for a in result["acknowledged"]) or "none latched")
    return documents.acknowledgement(result)


# ---- the library and plans -----------------------------------------------------------------

@router.get("/presets", tags=["library"], summary="The technique presets")
async def presets(request: Request, who: Principal = signed_in(ANYONE, "read presets")) -> dict:
    catalog = _service(request).catalog
    return documents.presets([documents.preset(p) for p in sorted(catalog.presets.values(),
                                                            key=lambda p: p.name)])


@router.get("/presets/{name}", tags=["library"], summary="One preset")
async def preset(name: str, request: Request,
                 who: Principal = signed_in(ANYONE, "read presets")) -> dict:
    return documents.preset(_service(request).catalog.preset(name))


@router.post("/plans", tags=["library"], summary="What a preset becomes: program and totals")
async def plans(body: PlanBody, request: Request,
                who: Principal = signed_in(ANYONE, "plan")) -> dict:
    the_plan = body.planned(_service(request).catalog)
    library = load_library()
    crossings = check_plan(library, the_plan,
                           Override(body.override, who.name) if body.override else None)
    return documents.plan(the_plan, None, {"library": library.stamp(), "soft_limits_passed":
                                           [c.describe() for c in crossings]})


@router.get("/library", tags=["library"],
            summary="The library in force: version, hash, signed or not, every limit")
async def library(request: Request, who: Principal = signed_in(ANYONE, "read the library")
                  ) -> dict:
    in_force = load_library()
    signed = (await _service(request).read(lambda store: store.library_signed(in_force.hash))
              if in_force.clinic_text is not None else None)
    return documents.library(in_force, signed)


@router.get("/library/changes", tags=["library"],
            summary="Every clinic library signed, by whom, with its diff (technician)")
async def library_changes(request: Request,
                          who: Principal = signed_in(Role.TECHNICIAN, "read library changes")
                          ) -> list:
    changes = await _service(request).read(lambda store: store.library_changes())
    return [documents.library_change(change) for change in changes]


@router.post("/library/sign", tags=["library"], status_code=201,
             summary="Sign the clinic library in force, so sessions run under it (technician)")
async def sign_library(body: SignLibraryBody, request: Request,
                       who: Principal = signed_in(Role.TECHNICIAN, "sign the library")
                       ) -> dict:
    service = _service(request)
    in_force = load_library()
    if in_force.clinic_text is None or body.hash != in_force.hash:
        service.record(who, request, "library.sign", f"library {body.hash}", "refused",
                       "not the clinic library in force")
        raise NotWhatWasRead(body.hash, in_force.hash if in_force.clinic_text else None)
    signed = await service.read(lambda store: signature(store, in_force.hash))
    if signed is not None:                  # signed once: nothing new to record
        return JSONResponse(documents.library_change(signed), status_code=200)
    change_id = await written(service.store.record_library_change(
        library_hash=in_force.hash, version=in_force.version, text=in_force.clinic_text,
        person=who.name))
    service.record(who, request, "library.sign", f"library {in_force.hash}", "ok",
                   in_force.version)
    changes = await service.read(lambda store: store.library_changes())
    return documents.library_change(next(c for c in changes if c["id"] == change_id))


@router.get("/overrides", tags=["library"],
            summary="Every session that passed a soft limit or a contraindication (technician)")
async def overrides(request: Request,
                    who: Principal = signed_in(Role.TECHNICIAN, "read the overrides report")
                    ) -> dict:
    return documents.overrides(await _service(request).read(lambda store: store.overrides()))


# ---- sessions ------------------------------------------------------------------------------

async def started(request: Request, who: Principal, action: str, gun,
                  starting: Awaitable[Run], detail: str, *, refused_as: str = "") -> Run:
    """A run started for `who`, and recorded either way in the actions: refused with why
    (`refused_as` before it), or started with its session and `detail`."""
    service = _service(request)
    try:
        run = await starting
    except Exception as exc:
        service.record(who, request, action, gun.name, "refused", f"{refused_as}{exc}")
        raise
    service.record(who, request, action, f"session {run.session_id}", "ok", detail)
    return run


@router.post("/guns/{gun}/sessions", tags=["sessions"], status_code=201,
             summary="Start a session on a gun; it runs in the service")
async def start_session(gun: str, body: SessionBody, request: Request,
                        who: Principal = signed_in(Role.CLINICIAN, "start a session")
                        ) -> JSONResponse:
    service = _service(request)
    supervisor = service.gun(gun)
    overrides = checked_overrides(**body.overrides.model_dump())
    session_request = SessionRequest(
        preset=body.preset, zone=body.zone, needle=body.needle, shots=body.shots,
        volume_ml=body.volume_ml, syringe_ml=body.syringe_ml, budget_ml=body.budget_ml,
        prime_ul=body.prime_ul, refill=body.refill,
        calibration_override=body.calibration_override, person=who.name,
        overrides=overrides, override_reason=body.override,
        checklist=Checklist(body.checklist, who.name, "service"))
    run = await started(request, who, "session.start", supervisor,
                        service.runs.start(supervisor, session_request, who),
                        f"{body.preset} on {body.zone} with {body.needle}, gun "
                        f"{supervisor.name}")
    return JSONResponse({"session_id": run.session_id, "gun": supervisor.name,
                         "status": "running", "person": who.name},
                        status_code=201,
                        headers={"Location": f"/api/v1/sessions/{run.session_id}"})


@router.get("/sessions", tags=["sessions"], summary="The recorded sessions, newest first")
async def history(request: Request, limit: int = 50,
                  who: Principal = signed_in(ANYONE, "read history")) -> dict:
    limit = inputs.LIMIT.check(limit)
    rows = await _service(request).read(lambda store: store.history(limit))
    return documents.history(rows)


@router.get("/sessions/{session_id}", tags=["sessions"],
            summary="One session: summary, alarms, state changes")
async def show(session_id: int, request: Request,
               who: Principal = signed_in(ANYONE, "read a session")) -> dict:
    session_id = inputs.RECORD_ID.check(session_id)
    return await _service(request).read(lambda store: session_document(store, session_id))


@router.get("/sessions/{session_id}/export", tags=["sessions"],
            summary="Every shot of a session, as JSON or CSV")
async def export(session_id: int, request: Request, format: Literal["json", "csv"] = "json",
                 who: Principal = signed_in(ANYONE, "export a session")) -> Response:
    session_id = inputs.RECORD_ID.check(session_id)
    if format == "csv":
        text = await _service(request).read(lambda store: shots_csv(store, session_id))
        return PlainTextResponse(text, media_type="text/csv", headers={
            "Content-Disposition": f'attachment; filename="session-{session_id}.csv"'})
    return JSONResponse(await _service(request).read(
        lambda store: session_export(store, session_id)))


async def _act(request: Request, who: Principal, session_id: int, action: str):
    service = _service(request)
    run = service.runs.running(inputs.RECORD_ID.check(session_id))
    try:
        if action == "hold":
            state = await service.runs.hold(run)
            out = {"held": True, "state": state}
        elif action == "resume":
            state = await service.runs.resume(run)
            out = {"held": False, "state": state}
        else:
            result = await service.runs.stop(run, f"stopped by {who.name} through the "
                                                  "service")
            if result is None:              # a calibration run: its end is in the record
                ended = await service.read(lambda store: store.session(run.session_id))
                out = {"status": ended["status"], "reason": ended["end_reason"],
                       "summary": None}
            else:
                out = {"status": result.status, "reason": result.reason,
                       "summary": result.summary}
    except Exception as exc:
        service.record(who, request, f"session.{action}", f"session {session_id}",
                       "refused", str(exc))
        raise
    service.record(who, request, f"session.{action}", f"session {session_id}", "ok")
    return {"session_id": session_id, "by": who.name} | out


@router.post("/sessions/{session_id}/hold", tags=["sessions"],
             summary="Hold: the gun stops and retracts; nothing fires until resumed")
async def hold(session_id: int, request: Request,
               who: Principal = signed_in(Role.CLINICIAN, "hold a session")) -> dict:
    return await _act(request, who, session_id, "hold")


@router.post("/sessions/{session_id}/resume", tags=["sessions"], summary="Resume a held session")
async def resume(session_id: int, request: Request,
                 who: Principal = signed_in(Role.CLINICIAN, "resume a session")) -> dict:
    return await _act(request, who, session_id, "resume")


@router.post("/sessions/{session_id}/stop", tags=["sessions"],
             summary="Stop: the session ends, the gun held and disarmed, recorded")
async def stop(session_id: int, request: Request,
               who: Principal = signed_in(Role.CLINICIAN, "stop a session")) -> dict:
    return await _act(request, who, session_id, "stop")


# ---- calibrations, verifications, devices, certificates ------------------------------------

def calibration_request(body: CalibrationBody, gun, person: str, catalog,
                        typed_at_page: bool = False) -> CalibrationRequest:
    """The request, each value checked by its definition, then what values cannot say
    alone (injector.calibration_runs). `typed_at_page`: the instruments the kind needs are
    read by a person at the touchscreen (the wizard)."""
    checked = checked_as
    for name in ("balance", "gauge"):
        if getattr(body, name) == "prompt":
            raise ValueRefused(name, "prompt", "typed readings need a terminal: use "
                               "injector calibrate, or give the instrument's port",
                               "an instrument's port URL")
    balance = checked("balance", inputs.FILE_PATH, body.balance)
    gauge = checked("gauge", inputs.FILE_PATH, body.gauge)
    if typed_at_page:
        balance = "prompt" if body.kind in ("dose", "verify") else None
        gauge = "prompt" if body.kind in ("depth", "verify") else None
    request = CalibrationRequest(
        what=body.kind, port=gun.url, person=person, needle=body.needle,
        balance=balance, gauge=gauge,
        volumes=tuple(checked("volumes", inputs.SET_VOLUMES_UL, body.volumes)),
        depths=tuple(checked("depths", inputs.SET_DEPTHS_MM, body.depths)),
        shots_each=checked("shots_each", inputs.SHOTS_EACH, body.shots_each),
        balance_serial=checked("balance_serial", inputs.INSTRUMENT_SERIAL,
                               body.balance_serial),
        balance_due=checked("balance_due", inputs.DUE_DATE, body.balance_due),
        gauge_serial=checked("gauge_serial", inputs.INSTRUMENT_SERIAL, body.gauge_serial),
        gauge_due=checked("gauge_due", inputs.DUE_DATE, body.gauge_due),
        temperature_c=checked("temperature_c", inputs.TEMPERATURE_C, body.temperature_c),
        density=checked("density", inputs.DENSITY_G_ML, body.density),
        expires_days=checked("expires_days", inputs.EXPIRES_DAYS, body.expires_days),
        expires_shots=checked("expires_shots", inputs.EXPIRES_SHOTS, body.expires_shots))
    try:
        check_calibration(request, catalog)
    except (ValueRefused, ProfileError):
        raise
    except InjectorError as exc:            # an instrument the run needs is not given
        raise Refused(str(exc)) from None
    return request


@router.post("/guns/{gun}/calibrations", tags=["calibrations"], status_code=201,
             summary="Calibrate dose or depth, or verify (technician); it runs in the service")
async def start_calibration(gun: str, body: CalibrationBody, request: Request,
                            who: Principal = signed_in(Role.TECHNICIAN, "calibrate")
                            ) -> JSONResponse:
    service = _service(request)
    supervisor = service.gun(gun)
    calibration = calibration_request(body, supervisor, who.name, service.catalog)
    run = await started(request, who, f"calibration.{body.kind}", supervisor,
                        service.runs.calibrate(supervisor, calibration, who),
                        f"gun {supervisor.name}")
    return JSONResponse({"session_id": run.session_id, "kind": body.kind,
                         "gun": supervisor.name, "status": "running", "person": who.name},
                        status_code=201,
                        headers={"Location": f"/api/v1/sessions/{run.session_id}"})


@router.get("/calibrations", tags=["calibrations"], summary="Every calibration, newest first")
async def calibrations(request: Request,
                       who: Principal = signed_in(ANYONE, "read calibrations")) -> dict:
    return documents.calibrations(
        await _service(request).read(lambda store: store.calibrations()))


@router.get("/calibrations/{calibration_id}", tags=["calibrations"],
            summary="One calibration, its points and fit")
async def calibration(calibration_id: int, request: Request,
                      who: Principal = signed_in(ANYONE, "read calibrations")) -> dict:
    calibration_id = inputs.RECORD_ID.check(calibration_id)
    return documents.calibration(
        await _service(request).read(lambda store: store.calibration(calibration_id)))


@router.post("/calibrations/{calibration_id}/mark-bad", tags=["calibrations"],
             summary="Take a calibration out of force (technician)")
async def mark_bad(calibration_id: int, body: MarkBadBody, request: Request,
                   who: Principal = signed_in(Role.TECHNICIAN, "mark a calibration bad")
                   ) -> dict:
    service = _service(request)
    calibration_id = inputs.RECORD_ID.check(calibration_id)
    reason = inputs.REASON.check(body.reason)
    await service.read(lambda store: store.calibration(calibration_id))
    await written(service.store.set_calibration_status(calibration_id, "bad", reason,
                                                       who.name))
    service.record(who, request, "calibration.mark-bad", f"calibration {calibration_id}",
                   "ok", reason)
    return {"calibration_id": calibration_id, "status": "bad", "reason": reason,
            "by": who.name}


@router.get("/calibrations/{calibration_id}/certificate", tags=["calibrations"],
            summary="The calibration's certificate, as a PDF (or its content as JSON)")
async def certificate(calibration_id: int, request: Request,
                      format: Literal["pdf", "json"] = "pdf",
                      who: Principal = signed_in(ANYONE, "read a certificate")) -> Response:
    from injector.certificate import certificate_data, write_pdf

    calibration_id = inputs.RECORD_ID.check(calibration_id)
    data = await _service(request).read(lambda store: certificate_data(store, calibration_id))
    if format == "json":
        return JSONResponse(data)

    def render() -> bytes:
        with tempfile.TemporaryDirectory() as folder:
            return write_pdf(data, Path(folder) / "certificate.pdf").read_bytes()
    pdf = await asyncio.to_thread(render)
    return Response(pdf, media_type="application/pdf", headers={
        "Content-Disposition": f'attachment; filename="calibration-{calibration_id}.pdf"'})


@router.get("/verifications", tags=["calibrations"], summary="Every verification, newest first")
async def verifications(request: Request,
                        who: Principal = signed_in(ANYONE, "read verifications")) -> dict:
    return documents.verifications(
        await _service(request).read(lambda store: store.verifications()))


@router.get("/devices", tags=["guns"],
            summary="Every gun in the record, and when each is due for calibration")
async def devices(request: Request, who: Principal = signed_in(ANYONE, "read devices")) -> dict:
    now = datetime.now(timezone.utc)
    return documents.devices(await _service(request).read(
        lambda store: [gun.describe() for gun in devices_due(store, now)]))


@router.get("/record/verify", tags=["audit"],
            summary="Whether the record is whole and unchanged: its hash chain checked "
                    "(technician)")
async def record_verify(request: Request,
                        who: Principal = signed_in(Role.TECHNICIAN, "verify the record")
                        ) -> dict:
    service = _service(request)
    return await service.read(lambda store: documents.record_check(store.path, store.verify()))


@router.get("/actions", tags=["audit"], summary="The recorded actions, newest first (admin)")
async def actions(request: Request, limit: int = 100,
                  who: Principal = signed_in(Role.ADMIN, "read the record of actions")) -> list:
    limit = inputs.LIMIT.check(limit)
    return await _service(request).read(lambda store: store.actions(limit))
