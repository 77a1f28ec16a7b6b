"""The service's HTTP API with a real client on a real socket: what the command line does,
through the API, with the command line's own checks."""

from __future__ import annotations

import asyncio
import json

from drivers.messages import DeviceState
from injector import inputs
from injector.service.credentials import Role
from injector.service.events import EventKind
from injector.service.openapi import DOC, document
from tests.conftest import REPO, run_cli
from tests.schemas import validate
from tests.service_rig import PLAN, SESSION, Watch, running_service


async def test_a_session_started_through_the_api_runs_to_completion_and_is_recorded(tmp_path):
    async with running_service(tmp_path) as running:
        token = await running.token(Role.CLINICIAN)
        await running.online()
        watch = Watch(running.service)
        async with running.client(token) as client:
            started = await client.post("/api/v1/guns/1/sessions", json=SESSION | {"shots": 12})
            assert started.status_code == 201, started.text
            session_id = started.json()["session_id"]
            assert started.headers["location"] == f"/api/v1/sessions/{session_id}"
            assert started.json()["person"] == "clinician-user"
            end = await watch.session_end(session_id)
            assert end.data["status"] == "completed" and end.data["shots_done"] == 12
            shown = (await client.get(f"/api/v1/sessions/{session_id}")).json()
            history = (await client.get("/api/v1/sessions", params={"limit": 5})).json()
            exported = (await client.get(f"/api/v1/sessions/{session_id}/export")).json()
            csv = await client.get(f"/api/v1/sessions/{session_id}/export",
                                   params={"format": "csv"})
        assert (shown["status"], shown["shots_done"], shown["person"]) == (
            "completed", 12, "clinician-user")
        assert {"alarms", "state_changes", "gaps"} <= set(shown)
        validate(history, "history")                 # the command line's documents
        assert history["sessions"][0]["session_id"] == session_id
        assert history["sessions"][0]["shots_done"] == 12
        assert [s["shot_index"] for s in exported["shots"]] == list(range(1, 13))
        assert csv.headers["content-type"].startswith("text/csv")
        assert csv.text.splitlines()[0].startswith("session_id,shot_index")
        assert len(csv.text.splitlines()) == 13
        cli = run_cli("session", "export", str(session_id), "--format", "csv", "--db",
                      str(running.record))
        assert cli.stdout == csv.text.replace("\r\n", "\n")     # one export, two interfaces


async def test_two_clients_cannot_start_two_sessions_on_one_gun(tmp_path):
    async with running_service(tmp_path) as running:
        first, second = await running.token(Role.CLINICIAN), await running.token(Role.ADMIN)
        await running.online()
        watch = Watch(running.service)
        async with running.client(first) as a, running.client(second) as b:
            answers = await asyncio.gather(
                a.post("/api/v1/guns/1/sessions", json=SESSION | {"shots": 20}),
                b.post("/api/v1/guns/1/sessions", json=SESSION | {"shots": 20}))
        codes = sorted(answer.status_code for answer in answers)
        assert codes == [201, 409], [a.text for a in answers]
        busy = next(a for a in answers if a.status_code == 409).json()
        assert busy["error"] == "gun_busy"
        started = next(a for a in answers if a.status_code == 201).json()["session_id"]
        assert (await watch.session_end(started)).data["status"] == "completed"


async def test_a_bad_request_is_refused_with_the_command_lines_words(tmp_path):
    async with running_service(tmp_path) as running:
        token = await running.token(Role.CLINICIAN)
        async with running.client(token) as client:
            async def refused(path: str, body: dict) -> dict:
                answer = await client.post(path, json=body)
                assert answer.status_code == 422, answer.text
                return answer.json()

            zero = await refused("/api/v1/guns/1/sessions", SESSION | {"shots": 0})
            assert (zero["field"], zero["limit"]) == ("shots", inputs.SHOTS.limit)
            # A count is told back as it was sent (0), not as a float (0.0).
            assert (zero["value"], zero["detail"].split(":")[0]) == ("0", "shots 0")
            half = await refused("/api/v1/plans", PLAN | {"shots": 1.5})
            assert half["detail"].split(":")[0] == "shots 1.5"
            both = await refused("/api/v1/guns/1/sessions", SESSION | {"shots": 3,
                                                                       "volume_ml": 1})
            assert "exactly one of shots or volume_ml" in both["detail"]
            name = await refused("/api/v1/guns/1/sessions", SESSION | {
                "preset": "nappage-midle", "shots": 3})
            assert "did you mean nappage-middle?" in name["detail"]
            deep = await refused("/api/v1/plans", PLAN | {
                "shots": 10, "overrides": {"depth_mm": 20}})
            extra = await refused("/api/v1/guns/1/sessions", SESSION | {"shots": 3,
                                                                        "person": "someone"})
            assert extra["field"] == "person"       # who runs it is the signed-in user
        cli = run_cli("plan", "--preset", "nappage-superficial", "--zone", "face", "--needle",
                      "32g-4mm", "--shots", "10", "--depth-mm", "20")
        assert cli.returncode == 3
        assert deep["detail"].split(": ", 1)[1] == cli.stderr.strip().split(": ", 3)[3]
        assert running.service.store.history() == []            # nothing started


async def test_presets_and_plans_are_the_command_lines(tmp_path):
    async with running_service(tmp_path) as running:
        token = await running.token(Role.CLINICIAN)
        async with running.client(token) as client:
            presets = (await client.get("/api/v1/presets")).json()
            one = (await client.get("/api/v1/presets/NAPPAGE-middle")).json()
            plan = (await client.post("/api/v1/plans", json={
                "preset": "nappage-superficial", "zone": "thighs", "needle": "32g-4mm",
                "area_cm2": 100})).json()
        cli_presets = json.loads(run_cli("presets", "--json").stdout)
        assert presets == cli_presets and one["name"] == "nappage-middle"
        cli_plan = json.loads(run_cli("plan", "--preset", "nappage-superficial", "--zone",
                                      "thighs", "--needle", "32g-4mm", "--area-cm2", "100",
                                      "--json").stdout)
        assert plan == cli_plan and plan["shots"] == 1156


async def test_hold_resume_and_stop_act_on_the_running_session(tmp_path):
    async with running_service(tmp_path) as running:
        token = await running.token(Role.CLINICIAN)
        await running.online()
        watch = Watch(running.service)
        sim = running.gun.sim
        async with running.client(token) as client:
            session_id = await running.start(token, shots=60)
            await watch.until(lambda e: e.kind is EventKind.SHOT and e.data["shot_index"] >= 5)
            held = await client.post(f"/api/v1/sessions/{session_id}/hold")
            assert held.status_code == 200 and held.json()["state"] == "paused", held.text
            shots = running.gun.controller.account.shots_done
            await asyncio.sleep(10.0)                       # held: nothing fires
            assert running.gun.controller.account.shots_done <= shots + 1
            assert sim.firmware.physics.depth.position(
                asyncio.get_running_loop().time()) == 0.0    # the needle is out
            again = await client.post(f"/api/v1/sessions/{session_id}/resume")
            assert again.status_code == 200, again.text
            end = await watch.session_end(session_id)
            assert (end.data["status"], end.data["shots_done"]) == ("completed", 60)
            gone = await client.post(f"/api/v1/sessions/{session_id}/hold")
            assert gone.status_code == 409 and gone.json()["error"] == "not_running"

            second = await running.start(token, shots=2000)
            await watch.until(lambda e: e.kind is EventKind.SHOT and e.data["session_id"]
                              == second)
            stopped = await client.post(f"/api/v1/sessions/{second}/stop")
            assert stopped.status_code == 200, stopped.text
            assert stopped.json()["status"] == "interrupted"
            assert stopped.json()["reason"] == "stopped by clinician-user through the service"
        record = running.service.store
        device = [c["state"] for c in record.state_changes(second) if c["side"] == "device"]
        assert device[-2:] == ["held", "idle"]


async def test_a_hold_before_the_first_shot_leaves_the_gun_held_not_armed(tmp_path):
    """Found from outside: held while the gun homed and primed, the session went on to arm
    the gun and left it armed while the service said held."""
    async with running_service(tmp_path) as running:
        token = await running.token(Role.CLINICIAN)
        await running.online()
        watch = Watch(running.service)
        async with running.client(token) as client:
            session_id = await running.start(token, shots=10)
            held = await client.post(f"/api/v1/sessions/{session_id}/hold")
            assert held.status_code == 200, held.text
            controller = running.gun.controller
            await controller.wait_for(lambda: controller.state == "ready", 30.0, "the load")
            await asyncio.sleep(5.0)                    # and it stays so, held
            assert controller.state == "ready"          # loaded, never armed
            assert running.gun.sim.firmware.press_trigger() is False    # a trigger: nothing
            assert controller.account.shots_done == 0
            shown = (await client.get("/api/v1/guns/1")).json()     # as the gun told it
            assert shown["held"] is True and shown["device_state"] != "armed"
            status = await controller.refresh()
            assert DeviceState(status.state) is not DeviceState.ARMED
            again = await client.post(f"/api/v1/sessions/{session_id}/resume")
            assert again.status_code == 200, again.text
            end = await watch.session_end(session_id)
        assert (end.data["status"], end.data["shots_done"]) == ("completed", 10)


async def test_a_latched_alarm_is_shown_refuses_the_next_session_and_is_acknowledged(tmp_path):
    async with running_service(tmp_path, ports=("sim://?fault=occlusion@4",)) as running:
        token = await running.token(Role.CLINICIAN)
        await running.online()
        watch = Watch(running.service)
        session_id = await running.start(token, shots=20)
        alarm = await watch.until(lambda e: e.kind is EventKind.ALARM)
        assert (alarm.data["name"], alarm.data["severity"]) == ("occlusion", "stop")
        assert (await watch.session_end(session_id)).data["status"] == "aborted"
        async with running.client(token) as client:
            await running.online()
            latched = (await client.get("/api/v1/guns/1/alarms")).json()
            validate(latched, "alarms")
            assert [a["name"] for a in latched["alarms"]] == ["occlusion"]
            refused = await client.post("/api/v1/guns/1/sessions", json=SESSION | {"shots": 3})
            assert refused.status_code == 409 and refused.json()["alarms"] == ["occlusion"]
            assert "POST /api/v1/guns/GUN/alarms/acknowledge" in refused.json()["detail"]
            assert "injector alarm ack" not in refused.json()["detail"]
            wrong = await client.post("/api/v1/guns/1/alarms/acknowledge",
                                      json={"alarm": "motor_stall"})
            assert wrong.status_code == 409 and "not latched" in wrong.json()["detail"]
            acked = await client.post("/api/v1/guns/1/alarms/acknowledge",
                                      json={"alarm": "occlusion"})
            assert acked.status_code == 200, acked.text
            validate(acked.json(), "alarm-ack")
            assert acked.json()["by"] == "clinician-user" and acked.json()["state"] == "idle"
        ack = running.service.store.alarms(session_id)[0]
        assert ack["acknowledged_by"] == "clinician-user"
        again = await running.start(token, shots=5)
        assert (await watch.session_end(again)).data["status"] == "completed"


async def test_calibrations_verifications_devices_and_a_certificate(tmp_path):
    async with running_service(tmp_path) as running:
        await running.online()
        store = running.service.store
        calibration = await asyncio.wrap_future(store.record_calibration(
            device_serial="SIM-000001", kind="dose", person="a.novak", expires_at=None,
            expires_after_shots=None, points=[],
            fit={"kind": "linear", "gain": 1.0, "offset": 0.0, "max_residual": 0.0,
                 "residuals": [], "table": {"commanded": [0, 100_000],
                                            "delivered": [0, 100_000]}}))
        clinician = await running.token(Role.CLINICIAN)
        technician = await running.token(Role.TECHNICIAN)
        async with running.client(clinician) as client:
            listed = (await client.get("/api/v1/calibrations")).json()
            validate(listed, "calibrations")
            assert [c["calibration_id"] for c in listed["calibrations"]] == [calibration]
            one = (await client.get(f"/api/v1/calibrations/{calibration}")).json()
            validate(one, "calibration")
            none = (await client.get("/api/v1/verifications")).json()
            validate(none, "verifications")
            assert none["verifications"] == []
            devices = (await client.get("/api/v1/devices")).json()
            validate(devices, "devices")
            assert [d["serial_number"] for d in devices["devices"]] == [
                running.service.guns[0].controller.identity.serial_number]
            pdf = await client.get(f"/api/v1/calibrations/{calibration}/certificate")
            assert pdf.headers["content-type"] == "application/pdf"
            assert pdf.content.startswith(b"%PDF")
            data = (await client.get(f"/api/v1/calibrations/{calibration}/certificate",
                                     params={"format": "json"})).json()
            assert data["verdict"] == "NOT VERIFIED"
            missing = await client.get("/api/v1/calibrations/99")
            assert missing.status_code == 404
            assert missing.json() == {"error": "not_found", "detail": "no calibration 99",
                                      "calibration_id": 99}     # not the record's path
            for action in ("hold", "resume", "stop"):           # nothing to act on: 404
                nowhere = await client.post(f"/api/v1/sessions/999999/{action}")
                assert nowhere.status_code == 404, nowhere.text
                assert nowhere.json()["session_id"] == 999999
            assert str(running.record) not in (
                await client.get("/api/v1/sessions/999999")).text
            refused = await client.post(f"/api/v1/calibrations/{calibration}/mark-bad",
                                        json={"reason": "balance not level"})
            assert refused.status_code == 403
        async with running.client(technician) as client:
            marked = await client.post(f"/api/v1/calibrations/{calibration}/mark-bad",
                                       json={"reason": "balance not level"})
            assert marked.status_code == 200, marked.text
        assert store.calibration(calibration)["status"] == "bad"


async def test_the_openapi_document_is_served_unauthenticated_and_docs_holds_it(tmp_path):
    async with running_service(tmp_path) as running:
        async with running.client() as client:
            served = await client.get("/api/v1/openapi.json")
    assert served.status_code == 200
    assert served.json() == document()
    assert json.loads(DOC.read_text()) == document(), (
        "docs/openapi.json is stale: python -m injector.service.openapi")


async def test_two_guns_one_controller_each_two_sessions_at_once(tmp_path):
    ports = ("sim://?serial_number=SIM-000001", "sim://?serial_number=SIM-000002")
    async with running_service(tmp_path, ports=ports) as running:
        token = await running.token(Role.CLINICIAN)
        await running.online(0)
        await running.online(1)
        watch = Watch(running.service)
        first = await running.start(token, gun="SIM-000001", shots=30)
        second = await running.start(token, gun="2", shots=20)
        ends = {}
        while len(ends) < 2:
            event = await watch.until(lambda e: e.kind is EventKind.SESSION
                                      and e.data["status"] != "running")
            ends[event.data["session_id"]] = (event.gun, event.data["shots_done"])
        assert ends == {first: ("SIM-000001", 30), second: ("SIM-000002", 20)}
        async with running.client(token) as client:
            guns = (await client.get("/api/v1/guns")).json()
            unknown = await client.get("/api/v1/guns/SIM-9")
        assert [g["serial_number"] for g in guns] == ["SIM-000001", "SIM-000002"]
        assert unknown.status_code == 404 and unknown.json()["known"] == [
            "SIM-000001", "SIM-000002"]


async def test_a_technician_calibrates_and_verifies_through_the_api(tmp_path):
    # A semi-micro balance, as ISO 8655-6 asks below 100 ul: the test is of the workflow.
    port = "sim://?volume_gain=1.07&balance_readability_mg=0.01"
    async with running_service(tmp_path, ports=(port,)) as running:
        technician = await running.token(Role.TECHNICIAN)
        clinician = await running.token(Role.CLINICIAN)
        await running.online()
        watch = Watch(running.service)
        async with running.client(clinician) as client:
            refused = await client.post("/api/v1/guns/1/calibrations", json={"kind": "dose"})
            assert refused.status_code == 403
        async with running.client(technician) as client:
            bad = await client.post("/api/v1/guns/1/calibrations",
                                    json={"kind": "dose", "volumes": [10, 20]})
            assert bad.status_code == 422 and bad.json()["field"] == "volumes"
            assert bad.json()["detail"].startswith("volumes 10,20: 2 set values")
            typed = await client.post("/api/v1/guns/1/calibrations",
                                      json={"kind": "verify", "balance": "prompt"})
            assert typed.status_code == 422 and "terminal" in typed.json()["detail"]

            async def run(body: dict):
                answer = await client.post("/api/v1/guns/1/calibrations", json=body)
                assert answer.status_code == 201, answer.text
                run_id = answer.json()["session_id"]
                end = await watch.session_end(run_id)
                assert end.data["status"] == "completed", end.data
                return run_id

            await run({"kind": "verify", "volumes": [10, 50], "depths": [2],
                       "shots_each": 3})
            found = await watch.until(lambda e: e.kind is EventKind.VERIFICATION)
            assert found.data["pass"] is False                  # 7% too much, as found
            await run({"kind": "dose", "volumes": [10, 25, 50, 100], "shots_each": 3})
            made = next(e for e in watch.seen if e.kind is EventKind.CALIBRATION)
            assert made.data["person"] == "technician-user"
            await run({"kind": "verify", "volumes": [10, 50], "depths": [2],
                       "shots_each": 3})
            left = await watch.until(lambda e: e.kind is EventKind.VERIFICATION)
            assert left.data["pass"] is True, left.data          # as left
            certificate = (await client.get(
                f"/api/v1/calibrations/{made.data['calibration_id']}/certificate",
                params={"format": "json"})).json()
        assert certificate["verdict"] == "PASS"
        # The next session plans through the new calibration.
        session_id = await running.start(clinician, shots=10)
        assert (await watch.session_end(session_id)).data["status"] == "completed"
        session = running.service.store.session(session_id)
        assert session["calibration"]["dose"]["record_id"] == made.data["calibration_id"]


async def test_json_types_are_taken_as_given_and_every_refusal_names_the_value(tmp_path):
    """Found from outside: "shots": true ran a one-shot session, "10" ten, a checklist
    answered "1" passed; a body that was not JSON got the framework's own words."""
    async with running_service(tmp_path) as running:
        token = await running.token(Role.CLINICIAN)
        await running.online()
        answers = SESSION["checklist"]
        async with running.client(token) as client:
            for change, field, value, limit in [
                    ({"shots": True}, "shots", True, "a number"),
                    ({"shots": "10"}, "shots", "10", "a number"),
                    ({"refill": "yes"}, "refill", "yes", "true or false"),
                    ({"checklist": answers | {"needle_new_and_sterile": "1"}},
                     "checklist.needle_new_and_sterile", "1", "true or false"),
                    ({"checklist": answers | {"needle_new_and_sterile": 1}},
                     "checklist.needle_new_and_sterile", 1, "true or false")]:
                refused = await client.post("/api/v1/guns/1/sessions",
                                            json=SESSION | {"shots": 5} | change)
                assert refused.status_code == 422, (change, refused.text)
                body = refused.json()
                assert (body["field"], body["value"], body["limit"]) == (field, value, limit)
                assert body["detail"].count("\n") == 0 and field in body["detail"]
            partial = await client.post("/api/v1/guns/1/sessions", json=SESSION | {
                "shots": 5, "checklist": {"clotting_disorder": False}})
            assert partial.status_code == 422 and partial.json()["field"] == "checklist"
            assert "clotting_disorder" not in partial.json()["value"]     # the missing ones
            assert set(partial.json()["value"]) < set(partial.json()["limit"])
            for raw, status in [(b'{"shots": 5,,}', 422), (b"\xff\xfe{", 400)]:
                bad = await client.post("/api/v1/guns/1/sessions", content=raw,
                                        headers={"content-type": "application/json"})
                assert bad.status_code == status and {"error", "detail"} <= set(bad.json())
            fast = await client.post("/api/v1/guns/1/sessions", json=SESSION | {
                "shots": 5, "overrides": {"shot_rate_hz": 16}})
            assert fast.status_code == 422 and "over the soft limit" in fast.json()["detail"]
            assert '"override"' in fast.json()["detail"]
            assert "--override" not in fast.json()["detail"]
            other = await client.post("/api/v1/guns/1/sessions",
                                      json=SESSION | {"shots": 5, "syringe_ml": 5})
            assert other.status_code == 422                 # a value, not the gun's state
            assert (other.json()["field"], other.json()["value"]) == ("syringe_ml", "5")
            nowhere = await client.get("/api/v1/no-such-route")
            assert nowhere.json()["error"] == "not_found"
            history = (await client.get("/api/v1/sessions")).json()
        assert history["sessions"] == []                    # nothing started


async def test_the_readmes_session_request_starts_a_session(tmp_path):
    """Found from outside: the README's own example had no checklist and was refused."""
    readme = (REPO / "README.md").read_text()
    body = json.loads(readme.split("-d @- <<'END'\n")[1].split("\nEND\n")[0])
    async with running_service(tmp_path) as running:
        token = await running.token(Role.CLINICIAN)
        await running.online()
        async with running.client(token) as client:
            started = await client.post("/api/v1/guns/1/sessions", json=body)
        assert started.status_code == 201, started.text
