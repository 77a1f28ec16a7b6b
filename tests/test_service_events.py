"""The WebSocket of events with real clients: numbered events as they happen, a reconnect
that misses nothing, a notice when what was missed is gone, per-client rate limits, and a
client that stops reading dropped without slowing anyone else."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import socket

import pytest
import websockets

from injector.service.credentials import Role
from injector.service.events import SEND_STALL_S, DropReason, EventHub, EventKind
from injector.service.event_socket import RateLimit, _send
from tests.service_rig import Watch, messages, running_service


def is_end(event: dict) -> bool:
    return event.get("type") == "session" and event.get("status") not in (None, "running")


async def test_events_come_numbered_as_they_happen_and_a_reconnect_misses_nothing(tmp_path):
    async with running_service(tmp_path) as running:
        token = await running.token(Role.CLINICIAN)
        await running.online()
        async with running.socket(token) as first:
            hello = json.loads(await first.recv())[0]
            assert hello["type"] == "hello" and hello["user"] == "clinician-user"
            session_id = await running.start(token, shots=40)
            seen = await messages(first, until=lambda e: e.get("type") == "shot"
                                  and e["shot_index"] == 10)
        last = seen[-1]["seq"]
        watch = Watch(running.service)
        await watch.session_end(session_id)                 # the rest happens while away
        async with running.socket(token, after=last) as again:
            assert json.loads(await again.recv())[0]["type"] == "hello"
            rest = await messages(again, until=is_end)
        events = seen[1:] + rest
        numbers = [e["seq"] for e in events]
        assert numbers == list(range(numbers[0], numbers[0] + len(numbers)))   # no gap, once
        shots = [e["shot_index"] for e in events if e["type"] == "shot"]
        assert shots == list(range(1, 41))
        kinds = {e["type"] for e in events}
        assert {"state", "shot", "progress", "syringe", "session"} <= kinds
        progress = [e for e in events if e["type"] == "progress"]
        assert progress[-1]["shots_done"] == progress[-1]["planned_shots"] == 40
        syringe = [e["remaining_ul"] for e in events if e["type"] == "syringe"]
        assert syringe == sorted(syringe, reverse=True) and syringe[-1] < 10_000


async def test_a_client_asking_for_events_the_ring_no_longer_holds_is_told(tmp_path):
    async with running_service(tmp_path, ring_size=50) as running:
        token = await running.token(Role.CLINICIAN)
        await running.online()
        watch = Watch(running.service)
        await watch.session_end(await running.start(token, shots=40))
        await watch.until(lambda e: e.kind is EventKind.LINK and e.data["link"] == "online"
                          and e.data["connections"] == 2)       # the gun taken up again
        hub = running.service.hub
        assert hub.oldest > hub.first + 1
        async with running.socket(token, after=hub.first) as late:
            first = json.loads(await late.recv())
            assert [m["type"] for m in first] == ["hello", "missed"]
            notice = first[1]
            assert notice["oldest"] > hub.first + 1 and "no longer kept" in notice["reason"]
            # What the ring held at that moment, in order, then whatever came after it.
            held = notice["newest"] - notice["oldest"] + 1
            backlog = await messages(late, count=held)
            assert [e["seq"] for e in backlog[:held]] == list(range(notice["oldest"],
                                                                    notice["newest"] + 1))
        async with running.socket(token, after=hub.newest + 1000) as ahead:
            notice = json.loads(await ahead.recv())[1]
            assert notice["type"] == "missed" and "restarted" in notice["reason"]
        with pytest.raises(websockets.InvalidStatus) as refused:
            async with running.socket(token, after=-3):
                pass
        assert refused.value.response.status_code == 422


async def test_a_client_resuming_across_a_restart_of_the_service_is_told(tmp_path):
    """Found from outside: numbers began at 1 in every run, so ?after=3 from the last run
    was taken as this run's 3 and the client silently missed what came between."""
    async with running_service(tmp_path) as running:
        token = await running.token(Role.CLINICIAN)
        await running.online()
        first_seq = running.service.hub.first
        async with running.socket(token, after=first_seq - 1) as client:    # from the start
            hello = json.loads(await client.recv())[0]
            events = await messages(client, count=1)
        last = events[-1]["seq"]
        assert hello["first"] == first_seq
        assert last >= hello["first"]
    async with running_service(tmp_path) as again:
        token = await again.token(Role.CLINICIAN)
        await again.online()
        assert again.service.hub.first > last
        async with again.socket(token, after=last) as resumed:
            first = json.loads(await resumed.recv())
        assert [m["type"] for m in first] == ["hello", "missed"]
        assert "earlier run of the service" in first[1]["reason"]


async def test_a_client_sending_too_much_is_closed_and_pings_are_answered(tmp_path):
    async with running_service(tmp_path, receive_rate_hz=1.0, receive_burst=3) as running:
        token = await running.token(Role.CLINICIAN)
        async with running.socket(token) as client:
            await client.recv()                                     # hello
            await client.send(json.dumps({"type": "ping"}))
            answered = await messages(client, until=lambda e: e.get("type") == "pong")
            assert answered[-1] == {"type": "pong"}
            with pytest.raises(websockets.ConnectionClosed) as closed:
                for _ in range(20):
                    await client.send(json.dumps({"type": "ping"}))
                while True:
                    await client.recv()
            assert closed.value.rcvd.code == 1008


async def test_events_to_a_client_are_paced_into_fewer_messages_never_fewer_events(tmp_path):
    async with running_service(tmp_path, send_rate_hz=2.0, send_burst=1) as running:
        token = await running.token(Role.CLINICIAN)
        await running.online()
        async with running.socket(token) as client:
            await client.recv()                                     # hello
            loop = asyncio.get_running_loop()
            session_id = await running.start(token, shots=60)
            arrivals, events = [], []
            while not any(is_end(e) for e in events):
                batch = json.loads(await client.recv())
                arrivals.append(loop.time())
                events.extend(batch)
        shots = [e["shot_index"] for e in events if e["type"] == "shot"]
        assert shots == list(range(1, 61))
        assert next(e for e in events if is_end(e))["session_id"] == session_id
        assert len(arrivals) < len(events) / 4                      # paced, batched
        gaps = [b - a for a, b in zip(arrivals[1:], arrivals[2:])]
        assert min(gaps) >= 0.5 - 1e-6                              # 2 messages a second


async def frozen_client(url: str, token: str) -> tuple[asyncio.StreamReader,
                                                      asyncio.StreamWriter]:
    """A WebSocket client that signs in, takes the handshake's answer, and never reads
    again: its socket takes almost nothing before the kernel stops the service's sends."""
    host, port = url.removeprefix("http://").split(":")
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.setblocking(False)
    await asyncio.get_running_loop().sock_connect(sock, (host, int(port)))
    reader, writer = await asyncio.open_connection(sock=sock)
    key = base64.b64encode(os.urandom(16)).decode()
    writer.write(f"GET /api/v1/events HTTP/1.1\r\nHost: {host}:{port}\r\n"
                 f"Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
                 f"Sec-WebSocket-Version: 13\r\nAuthorization: Bearer {token}\r\n\r\n"
                 .encode())
    head = await reader.readuntil(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 101"), head
    writer.transport.pause_reading()                # frozen from here on
    return reader, writer


async def test_a_frozen_client_is_dropped_without_slowing_the_session_or_the_others(tmp_path):
    async with running_service(tmp_path) as running:
        token = await running.token(Role.CLINICIAN)
        await running.online()
        _, frozen = await frozen_client(running.url, token)
        async with running.socket(token) as reader:
            await reader.recv()
            session_id = await running.start(token, shots=1000,
                                             overrides={"shot_rate_hz": 16},
                                             override="a test past the field's 9 shots/s")
            events = await messages(reader, until=is_end)
            # The frozen client read nothing all along: it was let go (its sends stalled
            # once its buffers were full, or it never answered the keepalive ping), and
            # nobody waited for it. The reader is the one subscriber left.
            assert running.service.hub.subscribers == 1
        frozen.transport.abort()
        shots = [e["shot_index"] for e in events if e["type"] == "shot"]
        assert shots == list(range(1, 1001))
        end = next(e for e in events if is_end(e))
        assert end["status"] == "completed"
        duration = summary_duration(running.service.store, session_id)
        assert duration < 1000 / 16 + 10                # at the gun's pace, not the client's


def summary_duration(store, session_id: int) -> float:
    row = store.db.execute("SELECT summary FROM session_ends WHERE session_id = ?",
                           (session_id,)).fetchone()
    return json.loads(row[0])["duration_s"]


async def test_a_subscriber_whose_queue_is_full_is_dropped_and_the_others_get_everything():
    hub = EventHub(queue_size=8)
    stuck, _, _ = hub.subscribe(None)
    reading, _, _ = hub.subscribe(None)
    got = []
    for number in range(20):
        hub.publish(EventKind.SHOT, "SIM-1", {"shot_index": number + 1})
        while not reading.queue.empty():
            got.append(reading.queue.get_nowait().data["shot_index"])
    assert stuck.dropped is DropReason.QUEUE_FULL and stuck.gone.is_set()
    assert got == list(range(1, 21)) and reading.dropped is None
    assert (hub.dropped, hub.subscribers) == (1, 1)


class StuckSocket:
    """A client whose socket takes nothing more: every send waits for ever."""

    def __init__(self) -> None:
        self.sent = 0

    async def send_text(self, text: str) -> None:
        self.sent += 1
        if self.sent > 1:
            await asyncio.Event().wait()


async def test_a_send_that_cannot_go_out_drops_its_client_after_the_stall_time():
    hub = EventHub()
    subscriber, _, _ = hub.subscribe(None)
    sender = asyncio.create_task(_send(StuckSocket(), hub, subscriber, RateLimit(50, 25)))
    loop = asyncio.get_running_loop()
    hub.publish(EventKind.SHOT, "SIM-1", {"shot_index": 1})
    await asyncio.sleep(0.1)
    hub.publish(EventKind.SHOT, "SIM-1", {"shot_index": 2})          # this one is stuck
    started = loop.time()
    await subscriber.gone.wait()
    assert subscriber.dropped is DropReason.STALLED
    assert loop.time() - started == pytest.approx(SEND_STALL_S, abs=0.1)
    assert hub.dropped == 1 and sender.done()


async def test_a_rate_limit_short_of_a_token_by_rounding_does_not_spin():
    limit = RateLimit(3.0, 1)
    limit.tokens = 1 - 1e-12                    # what 1/3 s of 3 a second can add up to
    assert limit.allow()                        # a token, not a wait of a picosecond
    loop = asyncio.get_running_loop()
    started = loop.time()
    limit.tokens, limit.at = 0.5, started
    await limit.take()
    assert loop.time() - started == pytest.approx(0.5 / 3.0, abs=0.01)
