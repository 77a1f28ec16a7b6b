"""The device service running inside the test's loop, on a real socket (127.0.0.1, a free
port), with real HTTP and WebSocket clients: what a clinic's system or the touchscreen
would be, minus the network."""

from __future__ import annotations

from injector.checklist import QUESTIONS, Kind

import asyncio
import json
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import websockets

from injector.service.config import ServiceConfig
from injector.service.credentials import Credentials, Role, credentials_path
from injector.service.events import EventKind
from injector.service.runtime import Service

TEST_SCRYPT_N = 2**10
"""Users made by the tests hash at a lower cost (the cost is stored with each hash and read
back when it is checked): the same code, a hundredth of the time."""
SECRET = "pin-1234"
CHECKLIST_ANSWERS = {q.id: q.kind is Kind.CHECK for q in QUESTIONS}
"""No contraindication, a new needle, a checked syringe."""
SESSION = {"preset": "nappage-superficial", "zone": "thighs", "needle": "32g-4mm",
           "checklist": CHECKLIST_ANSWERS}
PLAN = {k: v for k, v in SESSION.items() if k != "checklist"}


@dataclass
class Running:
    service: Service
    url: str
    record: Path

    @property
    def credentials(self) -> Credentials:
        return Credentials(credentials_path(self.record))

    @property
    def gun(self):
        return self.service.guns[0]

    def add_user(self, name: str, role: Role, secret: str = SECRET) -> None:
        self.credentials.add_user(name, role, secret, by="test", scrypt_n=TEST_SCRYPT_N)

    def client(self, token: str | None = None, **headers) -> httpx.AsyncClient:
        if token:
            headers["Authorization"] = f"Bearer {token}"
        return httpx.AsyncClient(base_url=self.url, headers=headers, timeout=30.0)

    async def sign_in(self, name: str, secret: str = SECRET) -> str:
        async with self.client() as client:
            answer = await client.post("/api/v1/auth/sign-in",
                                       json={"name": name, "secret": secret})
        assert answer.status_code == 200, answer.text
        return answer.json()["token"]

    async def token(self, role: Role = Role.CLINICIAN) -> str:
        """A signed-in user of that role (made on first use)."""
        name = f"{role.value}-user"
        if name not in self.credentials.snapshot().users:
            self.add_user(name, role)
        return await self.sign_in(name)

    def socket(self, token: str | None, after: int | None = None, **options):
        url = self.url.replace("http://", "ws://") + "/api/v1/events"
        if after is not None:
            url += f"?after={after}"
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return websockets.connect(url, additional_headers=headers, open_timeout=30,
                                  ping_interval=None, **options)

    async def online(self, gun: int = 0, timeout: float = 30.0) -> None:
        await self.service.guns[gun].connected(timeout)

    async def start(self, token: str, gun: str = "1", **request) -> int:
        async with self.client(token) as client:
            answer = await client.post(f"/api/v1/guns/{gun}/sessions",
                                       json=SESSION | request)
        assert answer.status_code == 201, answer.text
        return answer.json()["session_id"]


class Watch:
    """The service's events, seen from inside the process (for the tests to wait on; the
    clients under test see them through the WebSocket)."""

    def __init__(self, service: Service) -> None:
        self.hub = service.hub
        self.subscriber, _, _ = self.hub.subscribe(None)
        self.subscriber.queue = asyncio.Queue()         # the test's own: never full
        self.seen: list = []

    async def until(self, condition, timeout: float = 120.0, what: str = "an event"):
        """The first event (from now on) that meets `condition`."""
        async with asyncio.timeout(timeout):
            while True:
                event = await self.subscriber.queue.get()
                self.seen.append(event)
                if condition(event):
                    return event

    async def session_end(self, session_id: int, timeout: float = 120.0):
        return await self.until(lambda e: e.kind is EventKind.SESSION
                                and e.data["session_id"] == session_id
                                and e.data["status"] != "running", timeout)

    def close(self) -> None:
        self.hub.unsubscribe(self.subscriber)


@asynccontextmanager
async def running_service(tmp_path: Path, **config):
    record = tmp_path / "record.db"
    service = Service(ServiceConfig(db=record, **config))
    url = await service.start()
    try:
        yield Running(service, url, record)
    finally:
        await service.stop("the test ended")


async def messages(socket, count: int | None = None, until=None):
    """Events from a WebSocket client, message by message, flattened."""
    out = []
    while count is None or len(out) < count:
        for item in json.loads(await socket.recv()):
            out.append(item)
            if until is not None and until(item):
                return out
    return out
