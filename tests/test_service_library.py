"""The technique library and the record's check through the service: the library read by
anyone signed in, signed and reported to a technician only, and a clinic's file signed
through the API is the one sessions then run under (the command line's rules: issue 17)."""

from __future__ import annotations

from injector.service.credentials import Role
from profiles.library import load_library
from tests.schemas import validate
from tests.service_rig import SESSION, Watch, running_service

CLINIC = """version = "7"
[technique.nappage]
session_volume_ml = { soft = [0.01, 3.0], hard = [0.01, 10.0], step = 0.1, source = "ours" }
"""


async def test_the_library_is_read_by_anyone_and_reported_to_a_technician(tmp_path):
    async with running_service(tmp_path) as running:
        clinician = await running.token(Role.CLINICIAN)
        technician = await running.token(Role.TECHNICIAN)
        async with running.client(clinician) as client:
            shown = (await client.get("/api/v1/library")).json()
            assert (await client.get("/api/v1/overrides")).status_code == 403
            assert (await client.get("/api/v1/library/changes")).status_code == 403
            refused = await client.post("/api/v1/library/sign", json={"hash": shown["hash"]})
            assert refused.status_code == 403
        validate(shown, "library")
        assert (shown["version"], shown["hash"]) == (load_library().version,
                                                      load_library().hash)
        assert (shown["clinic"], shown["signed"]) == (False, None)
        async with running.client(technician) as client:
            report = (await client.get("/api/v1/overrides")).json()
            nothing = await client.post("/api/v1/library/sign", json={"hash": shown["hash"]})
        validate(report, "overrides")
        assert report["overrides"] == []
        assert nothing.status_code == 409 and nothing.json()["error"] == "library_changed"
        assert "INJECTOR_CLINIC_LIMITS" in nothing.json()["detail"]


async def test_a_clinic_library_signed_through_the_api_is_what_sessions_run_under(
        tmp_path, monkeypatch):
    clinic = tmp_path / "clinic.toml"
    clinic.write_text(CLINIC)
    monkeypatch.setenv("INJECTOR_CLINIC_LIMITS", str(clinic))
    async with running_service(tmp_path) as running:
        clinician = await running.token(Role.CLINICIAN)
        technician = await running.token(Role.TECHNICIAN)
        await running.online()
        watch = Watch(running.service)
        async with running.client(clinician) as client:
            unsigned = (await client.get("/api/v1/library")).json()
            refused = await client.post("/api/v1/guns/1/sessions", json=SESSION | {"shots": 5})
        assert (unsigned["clinic"], unsigned["signed"]) == (True, False)
        assert refused.status_code == 422 and "not signed" in refused.json()["detail"]
        assert "POST /api/v1/library/sign" in refused.json()["detail"]    # not the CLI's
        assert "--sign" not in refused.json()["detail"]
        async with running.client(technician) as client:
            stale = await client.post("/api/v1/library/sign", json={"hash": "0" * 16})
            signed = await client.post("/api/v1/library/sign", json={"hash": unsigned["hash"]})
            changes = (await client.get("/api/v1/library/changes")).json()
        assert stale.status_code == 409 and stale.json()["in_force"] == unsigned["hash"]
        assert signed.status_code == 201, signed.text
        validate(signed.json(), "library-change")
        assert signed.json()["person"] == "technician-user"
        assert "+version" in signed.json()["diff"]
        assert [c["hash"] for c in changes] == [unsigned["hash"]]
        async with running.client(technician) as client:
            again = await client.post("/api/v1/library/sign", json={"hash": unsigned["hash"]})
            assert again.status_code == 200                 # signed once: nothing new
            assert again.json()["change_id"] == signed.json()["change_id"]
            assert len((await client.get("/api/v1/library/changes")).json()) == 1
        async with running.client(clinician) as client:
            assert (await client.get("/api/v1/library")).json()["signed"] is True
            started = await client.post("/api/v1/guns/1/sessions",
                                        json=SESSION | {"shots": 5})
            assert started.status_code == 201, started.text
            end = await watch.session_end(started.json()["session_id"])
            shown = (await client.get(f"/api/v1/sessions/{end.data['session_id']}")).json()
        assert end.data["status"] == "completed"
        assert shown["library"]["hash"] == unsigned["hash"]


async def test_the_record_is_verified_through_the_api_by_a_technician(tmp_path):
    import sqlite3

    async with running_service(tmp_path) as running:
        clinician = await running.token(Role.CLINICIAN)
        technician = await running.token(Role.TECHNICIAN)
        await running.online()
        async with running.client(clinician) as client:
            assert (await client.get("/api/v1/record/verify")).status_code == 403
        async with running.client(technician) as client:
            whole = (await client.get("/api/v1/record/verify")).json()
            validate(whole, "record-verify")
            assert whole["intact"] is True and whole["rows"] > 0
            db = sqlite3.connect(running.record)              # a row rewritten by hand
            triggers = [name for (name,) in db.execute(
                "SELECT name FROM sqlite_master WHERE type = 'trigger'")]
            for name in triggers:
                db.execute(f"DROP TRIGGER {name}")
            db.execute("UPDATE devices SET model = 'another' WHERE rowid = 1")
            db.commit()
            db.close()
            broken = (await client.get("/api/v1/record/verify")).json()
        assert broken["intact"] is False and broken["problem"]["table"] == "devices"
