"""Security, a test for each rule: credentials on every route but the OpenAPI document and
the sign-in (401), roles (403), sign-ins that expire, throttled sign-ins, API keys shown
once and stored as hashes, users' PINs read from standard input and stored as salted slow
hashes, cross-site requests refused, every action recorded with its user."""

from __future__ import annotations

import asyncio
import sqlite3

import pytest
import websockets

from injector.service.credentials import (
    CredentialKind, Credentials, CredentialsError, Role, credentials_path,
)
from injector.store import Store
from tests.conftest import run_cli
from tests.service_rig import SECRET, SESSION, Watch, running_service

OPEN = {("post", "/api/v1/auth/sign-in"), ("get", "/api/v1/openapi.json")}


async def test_every_route_but_the_document_and_the_sign_in_needs_credentials(tmp_path):
    async with running_service(tmp_path) as running:
        async with running.client() as client:
            paths = (await client.get("/api/v1/openapi.json")).json()["paths"]
            checked = 0
            for path, methods in paths.items():
                for method in methods:
                    if (method, path) in OPEN:
                        continue
                    url = path.format(gun="1", session_id=1, calibration_id=1,
                                      name="pinpoint", zone="face")
                    answer = await client.request(method, url, json={})
                    assert answer.status_code == 401, (method, path, answer.text)
                    assert answer.headers["www-authenticate"] == "Bearer"
                    assert answer.json()["error"] == "not_signed_in"
                    checked += 1
            assert checked >= 20
            for bogus in ("Bearer st_nothing", "Bearer ik_0000_nothing", "Basic YTpi",
                          "Bearer", "bearer nothing-of-ours"):
                answer = await client.get("/api/v1/status", headers={"Authorization": bogus})
                assert answer.status_code == 401, bogus
        with pytest.raises(websockets.InvalidStatus) as denied:
            async with running.socket(None):
                pass
        assert denied.value.response.status_code == 401


async def test_a_role_too_small_is_refused_and_the_refusal_recorded(tmp_path):
    async with running_service(tmp_path) as running:
        clinician = await running.token(Role.CLINICIAN)
        technician = await running.token(Role.TECHNICIAN)
        admin = await running.token(Role.ADMIN)
        async with running.client(clinician) as client:
            mark = await client.post("/api/v1/calibrations/1/mark-bad", json={"reason": "x"})
            assert mark.status_code == 403 and mark.json()["needed"] == "technician"
            assert (await client.get("/api/v1/actions")).status_code == 403
        async with running.client(technician) as client:
            assert (await client.get("/api/v1/actions")).status_code == 403
            missing = await client.post("/api/v1/calibrations/1/mark-bad", json={"reason": "x"})
            assert missing.status_code == 404           # past the role: there is none
        async with running.client(admin) as client:
            actions = (await client.get("/api/v1/actions")).json()
        refused = [(a["user"], a["action"], a["outcome"]) for a in actions
                   if a["outcome"] == "refused"]
        assert ("clinician-user", "mark a calibration bad", "refused") in refused
        assert ("technician-user", "read the record of actions", "refused") in refused


async def test_a_sign_in_expires_unused_and_ends_when_signed_out(tmp_path):
    async with running_service(tmp_path, token_minutes=1) as running:
        running.add_user("dr.a", Role.CLINICIAN)
        token = await running.sign_in("dr.a")
        async with running.client(token) as client:
            for _ in range(3):                      # each use moves the expiry on
                await asyncio.sleep(40.0)
                assert (await client.get("/api/v1/auth/me")).status_code == 200
            await asyncio.sleep(61.0)
            expired = await client.get("/api/v1/auth/me")
            assert expired.status_code == 401 and "expired" in expired.json()["detail"]
        other = await running.sign_in("dr.a")
        async with running.client(other) as client:
            assert (await client.post("/api/v1/auth/sign-out")).json() == {"signed_out": True}
            assert (await client.get("/api/v1/auth/me")).status_code == 401
        async with running.client() as client:
            signed = await client.post("/api/v1/auth/sign-in",
                                       json={"name": "dr.a", "secret": SECRET})
        assert "set-cookie" not in signed.headers       # credentials never in a cookie
        async with running.client(Cookie=f"token={signed.json()['token']}") as client:
            assert (await client.get("/api/v1/auth/me")).status_code == 401


async def test_sign_ins_are_throttled_per_name_and_per_address(tmp_path):
    async with running_service(tmp_path) as running:
        running.add_user("dr.a", Role.CLINICIAN)
        running.add_user("dr.b", Role.CLINICIAN)
        async with running.client() as client:
            async def attempt(name: str, secret: str):
                return await client.post("/api/v1/auth/sign-in",
                                         json={"name": name, "secret": secret})

            unknown = await attempt("nobody", "guess-1")
            wrong = await attempt("dr.a", "guess-2")
            assert unknown.status_code == wrong.status_code == 401
            assert unknown.json()["detail"].split(":")[1] == wrong.json()["detail"].split(":")[1]
            for guess in range(4):
                assert (await attempt("dr.a", f"guess-{guess + 3}")).status_code == 401
            throttled = await attempt("dr.a", SECRET)        # the right PIN, too late
            assert throttled.status_code == 429 and int(throttled.headers["retry-after"]) > 0
            # The device's own screen (loopback) is everyone's: the next clinician signs in.
            assert (await attempt("dr.b", SECRET)).status_code == 200
            for _ in range(30):                     # a flood: counted, not a row each
                assert (await attempt("dr.a", "guess")).status_code == 429
            await asyncio.sleep(61.0)
            assert (await attempt("dr.a", "guess")).status_code == 429
            await asyncio.sleep(301.0)
            assert (await attempt("dr.a", SECRET)).status_code == 200
        actions = running.service.store
        await asyncio.to_thread(actions.flush)
        failed = [a for a in actions.actions() if a["action"] == "sign-in"
                  and a["outcome"] == "refused"]
        assert len(failed) == 6 and {a["user"] for a in failed} == {"nobody", "dr.a"}
        throttled = [(a["user"], a["detail"]) for a in actions.actions()
                     if a["action"] == "sign-in" and a["outcome"] == "throttled"]
        # One row for the name when throttling began, one a minute later counting the 30
        # refused between.
        assert [user for user, _ in throttled] == ["dr.a", "dr.a"], throttled
        assert "30 more throttled tries" in throttled[0][1]
        assert "more throttled" not in throttled[1][1]


def test_sign_ins_from_another_machine_count_against_its_address_too():
    from injector.service.runtime import throttle_keys

    assert throttle_keys("dr.a", "192.0.2.7") == ["user dr.a", "address 192.0.2.7"]
    assert throttle_keys("dr.a", "2001:db8::7") == ["user dr.a", "address 2001:db8::7"]
    assert throttle_keys("dr.a", "-") == ["user dr.a", "address -"]      # unknown: counted
    for local in ("127.0.0.1", "::1"):                  # the device's own screen
        assert throttle_keys("dr.a", local) == ["user dr.a"]


async def test_parallel_guesses_get_no_more_tries_than_one_at_a_time(tmp_path):
    async with running_service(tmp_path) as running:
        running.add_user("dr.a", Role.CLINICIAN)
        async with running.client() as client:
            answers = await asyncio.gather(*(client.post(
                "/api/v1/auth/sign-in", json={"name": "dr.a", "secret": f"guess-{n}"})
                for n in range(12)))
        codes = [a.status_code for a in answers]
        assert codes.count(401) == 5 and codes.count(429) == 7


def test_user_add_reads_the_pin_from_standard_input_and_keeps_only_a_salted_slow_hash(
        tmp_path):
    record = tmp_path / "record.db"
    done = run_cli("user", "add", "a.novak", "--role", "technician", "--db", str(record),
                   input="correct horse 7\n")
    assert done.returncode == 0, done.stderr
    again = run_cli("user", "add", "b.novak", "--role", "technician", "--db", str(record),
                    input="correct horse 7\n")
    assert again.returncode == 0
    path = credentials_path(record)
    assert path.stat().st_mode & 0o777 == 0o600
    assert b"correct horse" not in path.read_bytes()
    users = Credentials(path).snapshot().users
    first, second = users["a.novak"].secret_hash, users["b.novak"].secret_hash
    assert first.startswith("scrypt$32768$8$1$") and first != second      # salted
    assert users["a.novak"].role is Role.TECHNICIAN
    assert Credentials(path).user_for("a.novak", "correct horse 7") is not None
    assert Credentials(path).user_for("a.novak", "correct horse 8") is None
    short = run_cli("user", "add", "c.novak", "--role", "clinician", "--db", str(record),
                    input="123\n")
    assert short.returncode == 3 and "has 3 characters" in short.stderr
    bad_role = run_cli("user", "add", "d.novak", "--role", "surgeon", "--db", str(record),
                       input="1234\n")
    assert bad_role.returncode == 3 and "--role surgeon: is not a role" in bad_role.stderr
    taken = run_cli("user", "add", "a.novak", "--role", "admin", "--db", str(record),
                    input="12345\n")
    assert taken.returncode == 3 and "is taken" in taken.stderr
    made = Store(record, readonly=True).actions()
    assert [(a["action"], a["target"]) for a in reversed(made)] == [
        ("user.add", "a.novak"), ("user.add", "b.novak")]


async def test_an_api_key_is_shown_once_kept_as_a_hash_and_can_be_revoked(tmp_path):
    record = tmp_path / "record.db"
    made = run_cli("apikey", "add", "ci-pipeline", "--role", "clinician", "--db", str(record))
    assert made.returncode == 0, made.stderr
    key = made.stdout.strip()
    assert key.startswith("ik_") and "shown once" in made.stderr
    listing = run_cli("apikey", "list", "--db", str(record), "--json")
    assert key not in listing.stdout and key.split("_")[2] not in listing.stdout
    assert key.split("_")[2].encode() not in credentials_path(record).read_bytes()
    async with running_service(tmp_path) as running:
        async with running.client(key) as client:
            me = (await client.get("/api/v1/auth/me")).json()
            assert me == {"name": "ci-pipeline", "role": "clinician", "via": "api-key"}
            forged = key[:-2] + ("AA" if not key.endswith("AA") else "BB")
            async with running.client(forged) as other:
                assert (await other.get("/api/v1/auth/me")).status_code == 401
            revoked = run_cli("apikey", "revoke", "ci-pipeline", "--reason", "leaked",
                              "--db", str(record))
            assert revoked.returncode == 0, revoked.stderr
            answer = await client.get("/api/v1/auth/me")
            assert answer.status_code == 401 and "revoked" in answer.json()["detail"]


async def test_a_disabled_user_is_signed_out_and_cannot_sign_in(tmp_path):
    async with running_service(tmp_path) as running:
        running.add_user("dr.a", Role.CLINICIAN)
        token = await running.sign_in("dr.a")
        running.credentials.revoke(CredentialKind.USER, "dr.a", by="test", reason="left")
        async with running.client(token) as client:
            assert (await client.get("/api/v1/auth/me")).status_code == 401
            answer = await client.post("/api/v1/auth/sign-in",
                                       json={"name": "dr.a", "secret": SECRET})
            assert answer.status_code == 401


async def test_a_credentials_file_changed_by_hand_refuses_every_sign_in(tmp_path):
    async with running_service(tmp_path) as running:
        running.add_user("dr.a", Role.CLINICIAN)
        raw = sqlite3.connect(credentials_path(running.record))
        raw.execute("DROP TRIGGER users_no_update")
        raw.execute("UPDATE users SET role = 'admin' WHERE name = 'dr.a'")
        raw.commit()
        raw.close()
        with pytest.raises(CredentialsError, match="users row 1 was changed outside"):
            running.credentials.snapshot()
        async with running.client() as client:
            answer = await client.post("/api/v1/auth/sign-in",
                                       json={"name": "dr.a", "secret": SECRET})
        assert answer.status_code == 503 and "hash chain breaks" in answer.json()["detail"]


@pytest.mark.parametrize("headers", [
    {"Origin": "http://evil.example"},
    {"Origin": "null"},
    {"Sec-Fetch-Site": "cross-site"},
])
async def test_a_cross_site_browser_request_is_refused_whatever_it_carries(tmp_path, headers):
    async with running_service(tmp_path) as running:
        token = await running.token(Role.CLINICIAN)
        async with running.client(token, **headers) as client:
            answer = await client.get("/api/v1/status")
            sign_in = await client.post("/api/v1/auth/sign-in",
                                        json={"name": "clinician-user", "secret": SECRET})
        assert answer.status_code == 403 and answer.json()["error"] == "cross_site"
        assert sign_in.status_code == 403
        url = running.url.replace("http://", "ws://") + "/api/v1/events"
        with pytest.raises(websockets.InvalidStatus) as denied:
            async with websockets.connect(url, additional_headers=headers | {
                    "Authorization": f"Bearer {token}"}):
                pass
        assert denied.value.response.status_code == 403


async def test_the_services_own_origin_is_served(tmp_path):
    async with running_service(tmp_path) as running:
        token = await running.token(Role.CLINICIAN)
        async with running.client(token, Origin=running.url,
                                  **{"Sec-Fetch-Site": "same-origin"}) as client:
            assert (await client.get("/api/v1/status")).status_code == 200
        url = running.url.replace("http://", "ws://") + "/api/v1/events"
        async with websockets.connect(url, origin=running.url,
                                      subprotocols=["injector.v1", f"bearer.{token}"]) as socket:
            assert socket.subprotocol == "injector.v1"        # the token is never echoed
            assert '"hello"' in await socket.recv()


async def test_every_action_is_recorded_with_its_user(tmp_path):
    async with running_service(tmp_path) as running:
        token = await running.token(Role.CLINICIAN)
        await running.online()
        watch = Watch(running.service)
        session_id = await running.start(token, shots=200)
        async with running.client(token) as client:
            await watch.until(lambda e: e.kind.value == "shot")
            await client.post(f"/api/v1/sessions/{session_id}/hold")
            await client.post(f"/api/v1/sessions/{session_id}/resume")
            busy = await client.post("/api/v1/guns/1/sessions", json=SESSION | {"shots": 5})
            await client.post(f"/api/v1/sessions/{session_id}/stop")
            await client.post("/api/v1/guns/1/sessions", json=SESSION | {"shots": 0})
        assert busy.status_code == 409, busy.text
        store = running.service.store
        await asyncio.to_thread(store.flush)
        done = [(a["user"], a["action"], a["outcome"]) for a in reversed(store.actions())]
        assert done == [("clinician-user", "sign-in", "ok"),
                        ("clinician-user", "session.start", "ok"),
                        ("clinician-user", "session.hold", "ok"),
                        ("clinician-user", "session.resume", "ok"),
                        ("clinician-user", "session.start", "refused"),
                        ("clinician-user", "session.stop", "ok")]
        assert store.session(session_id)["person"] == "clinician-user"
        assert all(a["via"] == "sign-in" and a["address"] == "127.0.0.1"
                   for a in store.actions())


def test_the_first_user_of_a_new_device_makes_the_default_record_and_listing_makes_nothing(
        tmp_path):
    import os

    env = os.environ | {"XDG_DATA_HOME": str(tmp_path / "data")}
    env.pop("INJECTOR_DB", None)
    listed = run_cli("user", "list", env=env)
    assert listed.returncode == 0 and listed.stdout.strip() == "no users"
    assert not (tmp_path / "data").exists()             # a read creates nothing
    added = run_cli("user", "add", "first.admin", "--role", "admin", env=env,
                    input="pin-0001\n")
    assert added.returncode == 0, added.stderr
    folder = tmp_path / "data" / "injector"
    assert sorted(p.name for p in folder.iterdir() if not p.name.endswith(("-wal", "-shm"))) \
        == ["injector-credentials.db", "injector.db"]
