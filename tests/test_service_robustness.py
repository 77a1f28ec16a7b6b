"""The service lives through what a clinic's day brings: a cable pulled mid-session, a gun
power-cycled, clients that come, go and freeze. The session ends safe and recorded; the
gun is connected again by itself; the next session runs."""

from __future__ import annotations

import asyncio

from injector.service.credentials import Role
from injector.service.events import EventKind
from injector.store import Store
from tests.conftest import run_cli
from tests.service_rig import SESSION, Watch, messages, running_service


def pull_cable(gun, seconds: float) -> None:
    """The gun's USB cable out for `seconds`: its links carry nothing, and a link opened
    again meanwhile neither, until it is back (SimulatedGun.unplug puts a USB link back at
    once)."""
    until = asyncio.get_running_loop().time() + seconds
    for adapter in gun.adapters:
        adapter.cut_until = until
    attach = gun.attach_serial

    def attach_while_out(transport, channel):
        adapter = attach(transport, channel)
        adapter.cut_until = until
        return adapter
    gun.attach_serial = attach_while_out


def contiguous(store, session_id: int) -> bool:
    indexes = [s["shot_index"] for s in store.shots(session_id)]
    return indexes == list(range(indexes[0], indexes[0] + len(indexes)))


async def test_a_lost_link_ends_the_session_safe_and_the_service_reconnects(tmp_path):
    async with running_service(tmp_path) as running:
        token = await running.token(Role.CLINICIAN)
        await running.online()
        watch = Watch(running.service)
        session_id = await running.start(token, shots=2000)
        await watch.until(lambda e: e.kind is EventKind.SHOT and e.data["shot_index"] >= 5)
        pull_cable(running.gun.sim, 3.0)
        end = await watch.session_end(session_id)
        assert end.data["status"] == "failed" and "link" in end.data["reason"]
        await watch.until(lambda e: e.kind is EventKind.LINK and e.data["link"] == "lost")
        await watch.until(lambda e: e.kind is EventKind.LINK and e.data["link"] == "online",
                          timeout=60)
        gun = running.gun.describe()
        assert gun["connections"] == 2 and gun["link"] == "online"
        # The gun, silent host and all, tripped its watchdog: latched, read back, shown.
        assert [a["name"] for a in gun["alarms"]] == ["watchdog"]
        async with running.client(token) as client:
            refused = await client.post("/api/v1/guns/1/sessions", json=SESSION | {"shots": 5})
            assert refused.status_code == 409 and "watchdog" in refused.json()["detail"]
            acked = await client.post("/api/v1/guns/1/alarms/acknowledge", json={})
            assert acked.status_code == 200, acked.text
            assert acked.json()["still_latched"] == []
        again = await running.start(token, shots=10)
        assert (await watch.session_end(again)).data["status"] == "completed"
        store = running.service.store
        assert contiguous(store, session_id) and store.verify().intact


async def test_a_power_cycled_gun_is_not_adopted_mid_session_and_serves_the_next(tmp_path):
    async with running_service(tmp_path) as running:
        token = await running.token(Role.CLINICIAN)
        await running.online()
        watch = Watch(running.service)
        first_boot = running.gun.controller.identity.boot_id
        session_id = await running.start(token, shots=2000)
        await watch.until(lambda e: e.kind is EventKind.SHOT and e.data["shot_index"] >= 5)
        running.gun.sim.power_cycle()
        end = await watch.session_end(session_id)
        assert end.data["status"] == "failed" and "reboot" in end.data["reason"]
        await watch.until(lambda e: e.kind is EventKind.LINK and e.data["link"] == "online",
                          timeout=60)
        controller = running.gun.controller
        assert controller.identity.boot_id != first_boot
        assert controller.state == "locked"             # not homed since its power came back
        again = await running.start(token, shots=10)
        assert (await watch.session_end(again)).data["status"] == "completed"
        assert running.service.store.session(again)["shots_done"] == 10


async def test_a_session_runs_to_completion_while_clients_come_go_and_freeze(tmp_path):
    from tests.test_service_events import frozen_client, is_end

    async with running_service(tmp_path) as running:
        clinician = await running.token(Role.CLINICIAN)
        technician = await running.token(Role.TECHNICIAN)
        await running.online()
        watch = Watch(running.service)
        _, frozen = await frozen_client(running.url, technician)    # never reads again
        # The client that starts the session goes away at once: the session is the
        # service's, not its connection's.
        session_id = await running.start(clinician, shots=1000,
                                         overrides={"shot_rate_hz": 16},
                                         override="a fast session for the robustness test")
        async with running.socket(clinician) as passing:             # watches a while
            seen = await messages(passing, until=lambda e: e.get("type") == "shot"
                                  and e["shot_index"] >= 100)
        last = seen[-1]["seq"]
        for _ in range(5):                                           # come and go
            async with running.socket(technician) as brief:
                await brief.recv()
            async with running.client(technician) as client:
                assert (await client.get("/api/v1/guns/1")).json()["session_id"] == session_id
        async with running.socket(clinician, after=last) as back:    # and come back
            rest = await messages(back, until=is_end)
            assert running.service.hub.subscribers == 2     # back, and the test's watch:
        end = next(e for e in rest if is_end(e))            # the frozen one was let go
        assert (end["status"], end["shots_done"]) == ("completed", 1000)
        shots = [e["shot_index"] for e in seen + rest if e.get("type") == "shot"]
        assert shots == list(range(1, 1001))
        assert (await watch.session_end(session_id)).data["status"] == "completed"
        frozen.transport.abort()


async def test_a_user_added_beside_the_running_service_costs_the_record_nothing(tmp_path):
    """The README's own order: the service runs, a technician adds a user on the same
    record. The service's reads of its record must not leave it unlocked for the command's
    close to delete the write-ahead log (rows lost on the next power cut)."""
    async with running_service(tmp_path) as running:
        token = await running.token(Role.CLINICIAN)
        await running.online()
        watch = Watch(running.service)
        async with running.client(token) as client:
            assert (await client.get("/api/v1/sessions")).status_code == 200   # a read
            added = await asyncio.to_thread(
                run_cli, "user", "add", "dr.b", "--role", "clinician", "--db",
                str(running.record), input="pin-2231\npin-2231\n")
            assert added.returncode == 0, added.stderr
            assert running.record.with_name(running.record.name + "-wal").exists()
            session_id = await running.start(token, shots=5)
            assert (await watch.session_end(session_id)).data["status"] == "completed"
            shown = await client.get("/api/v1/sessions")
            assert shown.status_code == 200, shown.text
            checked = (await client.get(f"/api/v1/sessions/{session_id}")).json()
        assert checked["shots_done"] == 5
    assert Store(running.record, readonly=True).verify().intact
