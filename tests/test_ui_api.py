"""The routes the touchscreen needs (injector/service/ui_routes.py), with real HTTP clients on
a real socket: what they answer comes from the planner's, the library's and the checklist's
own checks, the roles hold, and the calibration wizard takes typed readings from the page."""

from __future__ import annotations

import asyncio
import json
import re
import tomllib

from injector.checklist import QUESTIONS
from injector.service.credentials import Role
from injector.service.pages import UI_DIR
from profiles.library import load_library
from tests.conftest import REPO, run_cli
from tests.service_rig import PLAN, Watch, running_service

WIZARD = {"kind": "dose", "readings": "typed", "volumes": [10, 30, 50], "shots_each": 2,
          "balance_serial": "BAL-7", "balance_due": "2031-01-01", "temperature_c": 20.0}


async def test_zones_and_the_presets_allowed_on_each_say_why_the_others_are_not(tmp_path):
    async with running_service(tmp_path) as running:
        token = await running.token(Role.CLINICIAN)
        async with running.client(token) as client:
            zones = (await client.get("/api/v1/zones")).json()
            face = (await client.get("/api/v1/zones/face/presets")).json()
            thin = (await client.get("/api/v1/zones/thighs/presets",
                                     params={"needle": "32G-4mm"})).json()
            unknown = await client.get("/api/v1/zones/fase/presets")
        catalog = running.service.catalog
        assert [z["name"] for z in zones] == list(catalog.zones)
        assert next(z for z in zones if z["name"] == "eyelids")["depth_max_mm"] == 1.0
        by_name = {p["name"]: p for p in face["presets"]}
        assert set(by_name) == set(catalog.presets)
        assert by_name["nappage-superficial"]["allowed"] is True
        assert "32g-4mm" in by_name["nappage-superficial"]["needles"]
        refused = by_name["infiltration"]
        assert refused["allowed"] is False and refused["needles"] == []
        assert "infiltration is not for zone face" in refused["reason"]
        flags = [p["allowed"] for p in face["presets"]]
        assert flags == sorted(flags, reverse=True)             # the allowed ones first
        assert face["library"] == load_library().stamp()
        # A needle too short for a preset on a zone it is for: the planner's refusal.
        on_thighs = {p["name"]: p for p in thin["presets"]}
        assert thin["needle"] == "32g-4mm"
        assert on_thighs["infiltration"]["allowed"] is False
        assert "needle" in on_thighs["infiltration"]["reason"]
        assert on_thighs["nappage-superficial"]["needles"] == ["32g-4mm"]
        assert unknown.status_code == 422 and "did you mean face" in unknown.json()["detail"]


async def test_needles_syringes_checklist_and_limits_are_the_libraries_own(tmp_path):
    async with running_service(tmp_path) as running:
        token = await running.token(Role.CLINICIAN)
        async with running.client(token) as client:
            needles = (await client.get("/api/v1/needles")).json()
            syringes = (await client.get("/api/v1/syringes")).json()
            checklist = (await client.get("/api/v1/checklist")).json()
            limits = (await client.get("/api/v1/library")).json()
        catalog = running.service.catalog
        assert [n["name"] for n in needles] == list(catalog.needles)
        assert sorted(s["capacity_ml"] for s in syringes) == [1.0, 3.0, 5.0, 10.0]
        assert [(q["id"], q["kind"], q["text"]) for q in checklist] == [
            (q.id, q.kind.value, q.text) for q in QUESTIONS]
        cli = json.loads(run_cli("library", "--json").stdout)
        assert (limits["version"], limits["hash"], limits["limits"]) == (
            cli["version"], cli["hash"], cli["limits"])


async def test_the_plan_and_session_pictures_are_svg_and_a_bad_plan_is_refused(tmp_path):
    async with running_service(tmp_path) as running:
        token = await running.token(Role.CLINICIAN)
        await running.online()
        watch = Watch(running.service)
        async with running.client(token) as client:
            picture = await client.post("/api/v1/plans/picture", json=PLAN | {"shots": 20})
            refused = await client.post("/api/v1/plans/picture", json=PLAN | {
                "zone": "eyelids", "shots": 20})
            session_id = await running.start(token, shots=6)
            await watch.session_end(session_id)
            session = await client.get(f"/api/v1/sessions/{session_id}/picture")
            missing = await client.get("/api/v1/sessions/999/picture")
        watch.close()
        for answer in (picture, session):
            assert answer.status_code == 200, answer.text
            assert answer.headers["content-type"] == "image/svg+xml"
            assert "<svg" in answer.text[:2000]
        assert "nappage-superficial: first 5 shots" in picture.text
        assert f"session {session_id}" in session.text
        assert refused.status_code == 422 and "not for zone eyelids" in refused.json()["detail"]
        assert missing.status_code == 404


async def test_the_wizard_is_refused_to_a_clinician_and_the_refusal_recorded(tmp_path):
    async with running_service(tmp_path) as running:
        clinician = await running.token(Role.CLINICIAN)
        admin = await running.token(Role.ADMIN)
        async with running.client(clinician) as client:
            start = await client.post("/api/v1/guns/1/calibration-wizard", json=WIZARD)
            state = await client.get("/api/v1/calibration-wizard/1")
            answer = await client.post("/api/v1/calibration-wizard/1/answer",
                                       json={"prompt": 1, "value": 0.01})
        async with running.client(admin) as client:
            await asyncio.sleep(0)
            actions = (await client.get("/api/v1/actions")).json()
        assert [a.status_code for a in (start, state, answer)] == [403, 403, 403]
        assert start.json()["error"] == "role_refused"
        assert any(a["user"] == "clinician-user" and a["outcome"] == "refused"
                   and a["action"] == "calibrate" for a in actions)


async def _answer_prompts(client, session_id: int, reading) -> dict:
    """Answer each prompt the wizard shows until the run ends; the final state."""
    while True:
        state = (await client.get(f"/api/v1/calibration-wizard/{session_id}")).json()
        if not state["running"]:
            return state
        prompt = state["prompt"]
        if prompt is None:
            await asyncio.sleep(0.02)
            continue
        value = None if prompt["step"] == "tare" else reading(prompt)
        answered = await client.post(f"/api/v1/calibration-wizard/{session_id}/answer",
                                     json={"prompt": prompt["number"], "value": value})
        assert answered.status_code == 200, answered.text


def cumulative_grams(prompt: dict) -> float:
    """What an honest balance shows: the set volume times the shots so far, as water."""
    found = re.search(r"set ([\d.]+) ul, shot (\d+) of", prompt["context"])
    return round(float(found[1]) * int(found[2]) / 1000 * 0.9982, 5)


async def test_a_dose_calibration_from_typed_readings_is_recorded_with_its_instrument(tmp_path):
    async with running_service(tmp_path) as running:
        token = await running.token(Role.TECHNICIAN)
        await running.online()
        async with running.client(token) as client:
            started = await client.post("/api/v1/guns/1/calibration-wizard", json=WIZARD)
            assert started.status_code == 201, started.text
            session_id = started.json()["session_id"]
            # A typo is refused with the value, and the same prompt keeps waiting.
            while (state := (await client.get(
                    f"/api/v1/calibration-wizard/{session_id}")).json())["prompt"] is None \
                    or state["prompt"]["step"] != "reading":
                prompt = state["prompt"]
                if prompt is not None:
                    await client.post(f"/api/v1/calibration-wizard/{session_id}/answer",
                                      json={"prompt": prompt["number"], "value": None})
                await asyncio.sleep(0.02)
            waiting = state["prompt"]
            typo = await client.post(f"/api/v1/calibration-wizard/{session_id}/answer",
                                     json={"prompt": waiting["number"], "value": -0.01})
            stale = await client.post(f"/api/v1/calibration-wizard/{session_id}/answer",
                                      json={"prompt": waiting["number"] + 5, "value": 0.01})
            again = (await client.get(f"/api/v1/calibration-wizard/{session_id}")).json()
            assert typo.status_code == 422 and "-0.01" in typo.json()["detail"]
            assert stale.status_code == 409 and stale.json()["waiting"] == waiting["number"]
            assert again["prompt"] == waiting
            # While a person types, the gun is not armed: a trigger pull fires nothing.
            await asyncio.sleep(30.0)
            assert running.gun.controller.state != "armed"
            shots = running.gun.controller.account.shots_done
            assert running.gun.sim.firmware.press_trigger() is False
            assert running.gun.controller.account.shots_done == shots
            end = await _answer_prompts(client, session_id, cumulative_grams)
            calibrations = (await client.get("/api/v1/calibrations")).json()
        assert end["status"] == "completed", end
        assert len(end["readings"]) == 6
        recorded = calibrations["calibrations"][0]
        assert end["result"]["calibration_id"] == recorded["calibration_id"]
        assert recorded["kind"] == "dose" and recorded["person"] == "technician-user"
        assert recorded["instruments"][0]["serial_number"] == "BAL-7"
        assert [p["set_value"] for p in recorded["points"]] == [10, 30, 50]


async def test_a_verification_with_the_guns_own_instruments_shows_their_readings(tmp_path):
    async with running_service(tmp_path) as running:
        token = await running.token(Role.TECHNICIAN)
        await running.online()
        async with running.client(token) as client:
            started = await client.post("/api/v1/guns/1/calibration-wizard", json={
                "kind": "verify", "readings": "instrument", "volumes": [10, 50],
                "depths": [1, 2], "shots_each": 3})
            assert started.status_code == 201, started.text
            end = await _answer_prompts(client, started.json()["session_id"],
                                        lambda prompt: 1 / 0)
        assert end["status"] == "completed"
        seen = [(r["instrument"], r["unit"]) for r in end["readings"]]   # live, unasked
        assert seen == [("balance", "g")] * 6 + [("depth gauge", "mm")] * 6
        assert "set 50 ul, shot 3 of 3" in end["readings"][5]["context"]
        points = end["result"]["points"]
        assert [(p["kind"], p["set"]) for p in points] == [
            ("dose", 10), ("dose", 50), ("depth", 1), ("depth", 2)]


async def test_the_pages_are_served_with_their_policy_and_the_api_keeps_its_404(tmp_path):
    async with running_service(tmp_path) as running:
        async with running.client() as client:
            page = await client.get("/")
            script = await client.get("/js/app.js")
            unknown = await client.get("/api/v1/no-such-route")
            cross = await client.get("/", headers={"Origin": "http://evil.example"})
            same = await client.post("/api/v1/auth/sign-in", json={"name": "x", "secret": "y"},
                                     headers={"Origin": running.url})
        assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
        assert "default-src 'self'" in page.headers["content-security-policy"]
        assert "frame-ancestors 'none'" in page.headers["content-security-policy"]
        assert script.headers["content-type"].startswith(("text/javascript",
                                                          "application/javascript"))
        assert unknown.status_code == 404 and unknown.json()["error"] == "not_found"
        assert cross.status_code == 403
        assert same.status_code == 401                  # same origin: through to the sign-in


def test_every_page_file_is_package_data():
    globs = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"][
        "package-data"]["injector.service"]
    package = UI_DIR.parent
    shipped = {p for pattern in globs for p in package.glob(pattern)}
    files = {p for p in UI_DIR.rglob("*") if p.is_file()}
    assert files and files <= shipped, sorted(str(p) for p in files - shipped)


async def test_a_depth_calibration_asks_for_gauge_readings_and_no_tare(tmp_path):
    async with running_service(tmp_path) as running:
        token = await running.token(Role.TECHNICIAN)
        await running.online()
        async with running.client(token) as client:
            started = await client.post("/api/v1/guns/1/calibration-wizard", json={
                "kind": "depth", "readings": "typed", "depths": [1, 2, 3], "shots_each": 2,
                "gauge_serial": "GAU-3", "gauge_due": "2031-01-01"})
            assert started.status_code == 201, started.text
            steps = []

            def reading(prompt: dict) -> float:
                steps.append((prompt["instrument"], prompt["unit"]))
                return float(re.search(r"set ([\d.]+) mm", prompt["context"])[1])
            end = await _answer_prompts(client, started.json()["session_id"], reading)
        assert end["status"] == "completed", end
        assert steps == [("depth gauge", "mm")] * 6
        assert end["result"]["kind"] == "depth"


async def test_the_wizard_refuses_an_instrument_port_it_would_not_read(tmp_path):
    async with running_service(tmp_path) as running:
        token = await running.token(Role.TECHNICIAN)
        async with running.client(token) as client:
            refused = await client.post("/api/v1/guns/1/calibration-wizard",
                                        json=WIZARD | {"balance": "/dev/ttyUSB0"})
            unknown = await client.get("/api/v1/calibration-wizard/7")
        assert unknown.status_code == 404 and unknown.json()["error"] == "not_found"
        assert refused.status_code == 422
        assert (refused.json()["field"], refused.json()["value"]) == ("balance", "/dev/ttyUSB0")


def test_the_wizards_typed_readings_are_accepted_for_a_gun_on_a_real_port():
    """Found in review: the wizard's options were checked before its typed readings were
    set, so on any port but sim:// a dose calibration was refused for want of a balance."""
    from types import SimpleNamespace

    from injector.service.routes import CalibrationBody, calibration_request
    from profiles import load_catalog

    gun = SimpleNamespace(url="/dev/ttyACM0")
    for kind, balance, gauge in (("dose", "prompt", None), ("depth", None, "prompt"),
                                 ("verify", "prompt", "prompt")):
        request = calibration_request(CalibrationBody(kind=kind), gun, "tech", load_catalog(),
                                      typed_at_page=True)
        assert (request.balance, request.gauge) == (balance, gauge)


async def test_a_wizard_missing_an_instruments_details_names_the_request_field(tmp_path):
    # Found from outside at the touchscreen: a typed calibration without the balance's
    # serial or due date was refused with the command line's "--balance-serial SERIAL".
    async with running_service(tmp_path) as running:
        token = await running.token(Role.TECHNICIAN)
        await running.online()
        async with running.client(token) as client:
            for missing, field in (("balance_serial", "balance_serial"),
                                   ("balance_due", "balance_due")):
                body = {k: v for k, v in WIZARD.items() if k != missing}
                refused = await client.post("/api/v1/guns/1/calibration-wizard", json=body)
                assert refused.status_code == 409, refused.text
                detail = refused.json()["detail"]
                assert f'"{field}"' in detail and "--" not in detail, detail


async def test_the_wizard_keeps_every_running_board_and_the_last_ended_ones():
    # A service that runs for months must not keep every wizard run's board: the record
    # keeps the runs, the service the running ones and the last few ended.
    from injector.service.runs import Run, RunKind
    from injector.service.ui_routes import Wizards
    from injector.service.wizard import Board

    async def forever():
        await asyncio.Event().wait()
    running = asyncio.create_task(forever())
    ended = asyncio.create_task(asyncio.sleep(0))
    await ended

    def run(number: int, task: asyncio.Task) -> Run:
        made = Run(None, RunKind.CALIBRATION, None, None)
        made.session_id, made.task = number, task
        return made
    wizards = Wizards()
    wizards.add(run(1, running), Board())
    for number in range(2, Wizards.KEEP_ENDED + 12):
        wizards.add(run(number, ended), Board())
    kept = sorted(wizards.boards)
    assert kept == [1, *range(12, Wizards.KEEP_ENDED + 12)]
    running.cancel()
