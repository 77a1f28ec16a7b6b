"""What the touchscreen needs of /api/v1/ beyond what the command line's routes give: the
zones with the presets allowed in each and why the others are not, the needles and
syringes, the checklist's questions, the pictures of a plan and of a session, the library's
limits, and the calibration wizard that asks the page for each typed reading.

Every answer comes from the same core the command line uses (the planner's and the
library's checks, injector/checklist.py, injector/plots.py, injector.calibration through
Runs.calibrate): the pages show what these say and never decide a rule themselves.
"""

from __future__ import annotations

import asyncio
import tempfile
import threading
from pathlib import Path
from typing import Literal

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from pydantic import Field

from injector import inputs
from injector.checklist import QUESTIONS
from injector.errors import InjectorError, PlanError
from injector.limits import check_plan
from injector.plan_request import PlanRequest
from injector.service.app import signed_in
from injector.service.auth import Principal
from injector.service.credentials import Role
from injector.service.errors import REFUSALS, NotFound, Refused
from injector.service.routes import (
    ANYONE, CalibrationBody, PlanBody, _Body, calibration_request, started,
)
from injector.service.runs import Run
from injector.service.wizard import Board
from profiles import Catalog, Preset, Zone
from profiles.errors import ProfileError
from profiles.library import Library, load_library

router = APIRouter(responses=REFUSALS)
SVG = "image/svg+xml"
PROBE_SHOTS = 1
"""A preset is tried on a zone with a one-shot plan: the planner's and the library's checks
of depth, dose, spacing and rate say whether it may be used there; the session's size is
the clinician's choice and is checked again on its plan."""
_drawing = threading.Lock()
"""matplotlib's pyplot is not thread-safe: one picture at a time."""


def _service(request: Request):
    return request.app.state.service


# ---- zones, presets allowed in each, needles, syringes, checklist --------------------------

def preset_on_zone(catalog: Catalog, library: Library, preset: Preset, zone: Zone,
                   needle: str | None) -> dict:
    """The preset's figures and whether it may be used on the zone (with that needle, or
    with any needle it is for): the first refusal of the planner or the library, in its
    own words, when not."""
    needles = [needle] if needle else list(preset.needles)
    fits, reason = [], None
    for name in needles:
        try:
            the_plan = PlanRequest(preset.name, zone.name, name, shots=PROBE_SHOTS).build(catalog)
            check_plan(library, the_plan, None)
        except (ProfileError, PlanError) as refused:
            reason = reason or str(refused)
            continue
        fits.append(the_plan.needle.name)
    return {"name": preset.name, "technique": preset.technique, "summary": preset.summary,
            "depth_mm": preset.depth_mm, "dose_ul": preset.dose_ul,
            "spacing_mm": preset.spacing_mm, "shot_rate_hz": preset.shot_rate_hz,
            "angle_deg": preset.angle_deg, "drug_loss_fraction": preset.drug_loss_fraction,
            "allowed": bool(fits), "needles": fits, "reason": None if fits else reason}


@router.get("/zones", tags=["touchscreen"], summary="The treatment zones of the library")
async def zones(request: Request, who: Principal = signed_in(ANYONE, "read zones")) -> list:
    catalog = _service(request).catalog
    return [{"name": z.name, "depth_min_mm": z.depth_min_mm, "depth_max_mm": z.depth_max_mm,
             "why": z.why,
             "presets": sorted(p.name for p in catalog.presets.values() if z.name in p.zones)}
            for z in catalog.zones.values()]


@router.get("/zones/{zone}/presets", tags=["touchscreen"],
            summary="Every preset on a zone: allowed (and with which needles), or why not")
async def zone_presets(zone: str, request: Request, needle: str | None = None,
                       who: Principal = signed_in(ANYONE, "read presets")) -> dict:
    catalog = _service(request).catalog
    the_zone = catalog.zone(zone)
    if needle is not None:
        needle = catalog.needle(needle).name
    library = load_library()
    presets = [preset_on_zone(catalog, library, p, the_zone, needle)
               for p in sorted(catalog.presets.values(), key=lambda p: p.name)]
    presets.sort(key=lambda p: not p["allowed"])        # allowed first, each by name
    return {"zone": the_zone.name, "needle": needle, "library": library.stamp(),
            "presets": presets}


@router.get("/needles", tags=["touchscreen"], summary="The needles the gun accepts")
async def needles(request: Request, who: Principal = signed_in(ANYONE, "read needles")) -> list:
    return [{"name": n.name, "gauge": n.gauge, "length_mm": n.length_mm}
            for n in _service(request).catalog.needles.values()]


@router.get("/syringes", tags=["touchscreen"], summary="The syringes the gun holds")
async def syringes(request: Request,
                   who: Principal = signed_in(ANYONE, "read syringes")) -> list:
    return [{"name": s.name, "capacity_ml": s.capacity_ml, "dead_volume_ul": s.dead_volume_ul}
            for s in _service(request).catalog.syringes.values()]


@router.get("/checklist", tags=["touchscreen"],
            summary="The pre-treatment checklist's questions (injector/checklist.py)")
async def checklist(who: Principal = signed_in(ANYONE, "read the checklist")) -> list:
    return [{"id": q.id, "kind": q.kind.value, "text": q.text, "source": q.source}
            for q in QUESTIONS]


# ---- pictures ------------------------------------------------------------------------------

async def _svg(draw) -> Response:
    """`draw(path)` (an injector.plots function) as an SVG answer, drawn off the loop."""
    def render() -> bytes:
        with _drawing, tempfile.TemporaryDirectory() as folder:
            return draw(Path(folder) / "picture.svg").read_bytes()
    return Response(await asyncio.to_thread(render), media_type=SVG,
                    headers={"Cache-Control": "no-store"})


@router.post("/plans/picture", tags=["touchscreen"],
             summary="The plan's timeline picture (injector plan --plot), as SVG")
async def plan_picture(body: PlanBody, request: Request,
                       who: Principal = signed_in(ANYONE, "plan")) -> Response:
    from injector.plots import plot_plan

    the_plan = body.planned(_service(request).catalog)
    return await _svg(lambda path: plot_plan(the_plan, path))


@router.get("/sessions/{session_id}/picture", tags=["touchscreen"],
            summary="The session's picture: depth and volume over time, alarms marked (SVG)")
async def session_picture(session_id: int, request: Request,
                          who: Principal = signed_in(ANYONE, "read a session")) -> Response:
    from injector.plots import plot_session

    session_id = inputs.RECORD_ID.check(session_id)
    session, shots, alarms = await _service(request).read(
        lambda store: (store.session(session_id), store.shots(session_id),
                       store.alarms(session_id)))
    return await _svg(lambda path: plot_session(session, shots, alarms, path))


# ---- the calibration wizard ----------------------------------------------------------------

class WizardBody(CalibrationBody):
    """A calibration's options, and who reads the instrument: a person at the page
    (`typed`: each reading asked and posted back) or the gun's own simulated instruments."""

    readings: Literal["typed", "instrument"] = Field(
        "typed", description="typed: the page asks the technician for every reading; "
                             "instrument: the gun's own (simulated) balance and gauge")


class AnswerBody(_Body):
    prompt: int = Field(description="the number of the prompt answered")
    value: float | None = Field(None, description="the reading (g or mm); none for a tare")


class Wizards:
    """The wizard runs of this service, by session id, with their prompt boards: every
    running one, and the last KEEP_ENDED that ended (a page that comes back shows how its
    run ended; the record keeps every run for good)."""

    KEEP_ENDED = 20

    def __init__(self) -> None:
        self.boards: dict[int, tuple[Run, Board]] = {}

    def add(self, run: Run, board: Board) -> None:
        self.boards[run.session_id] = (run, board)
        ended = [number for number, (kept, _) in self.boards.items() if not kept.running]
        for number in ended[:max(0, len(ended) - self.KEEP_ENDED)]:
            del self.boards[number]


def _wizards(request: Request) -> Wizards:
    state = request.app.state
    if getattr(state, "wizards", None) is None:
        state.wizards = Wizards()
    return state.wizards


@router.post("/guns/{gun}/calibration-wizard", tags=["touchscreen"], status_code=201,
             summary="Start a calibration whose readings the page asks for (technician)")
async def start_wizard(gun: str, body: WizardBody, request: Request,
                       who: Principal = signed_in(Role.TECHNICIAN, "calibrate")
                       ) -> JSONResponse:
    service = _service(request)
    supervisor = service.gun(gun)
    for name in ("balance", "gauge"):
        if getattr(body, name) is not None:
            raise Refused(f"the wizard reads no instrument on a port ({name} "
                          f"{getattr(body, name)!r}): give readings typed or instrument, or "
                          "use POST /api/v1/guns/GUN/calibrations", field=name,
                          value=getattr(body, name), limit="typed or instrument readings")
    options = CalibrationBody(**body.model_dump(exclude={"readings", "balance", "gauge"}))
    calibration = calibration_request(options, supervisor, who.name, service.catalog,
                                      typed_at_page=body.readings == "typed")
    board = Board()
    run = await started(request, who, f"calibration.{body.kind}", supervisor,
                        service.runs.calibrate(supervisor, calibration, who,
                                               board.readings_for, board.watching),
                        f"wizard ({body.readings} readings), gun {supervisor.name}",
                        refused_as="wizard: ")
    _wizards(request).add(run, board)
    return JSONResponse({"session_id": run.session_id, "kind": body.kind,
                         "readings": body.readings, "gun": supervisor.name,
                         "status": "running", "person": who.name}, status_code=201)


def _wizard(request: Request, session_id: int):
    found = _wizards(request).boards.get(inputs.RECORD_ID.check(session_id))
    if found is None:
        raise NotFound("wizard run of this service:", session_id)
    return found


@router.get("/calibration-wizard/{session_id}", tags=["touchscreen"],
            summary="A wizard run: the prompt waiting, the readings taken, the result")
async def wizard_state(session_id: int, request: Request,
                       who: Principal = signed_in(Role.TECHNICIAN, "calibrate")) -> dict:
    run, board = _wizard(request, session_id)
    out = {"session_id": session_id, "running": run.running} | board.describe()
    if not run.running:
        ended = await _service(request).read(lambda store: store.session(session_id))
        out |= {"status": ended["status"], "reason": ended["end_reason"],
                "result": run.result if isinstance(run.result, dict) else None}
    return out


@router.post("/calibration-wizard/{session_id}/answer", tags=["touchscreen"],
             summary="Answer the wizard's waiting prompt: a tare done, or a reading")
async def wizard_answer(session_id: int, body: AnswerBody, request: Request,
                        who: Principal = signed_in(Role.TECHNICIAN, "calibrate")) -> dict:
    run, board = _wizard(request, session_id)
    service = _service(request)
    try:
        prompt = board.answer(body.prompt, body.value)
    except InjectorError as exc:
        service.record(who, request, "calibration.reading", f"session {session_id}",
                       "refused", str(exc))
        raise
    service.record(who, request, "calibration.reading", f"session {session_id}", "ok",
                   f"{prompt.step.value} {prompt.context}"
                   + (f": {body.value:g} {prompt.unit}" if body.value is not None else ""))
    return {"answered": prompt.describe(), "value": body.value}

