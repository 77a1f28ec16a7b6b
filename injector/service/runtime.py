"""The service's life: the record, the guns' supervisors, the event hub and uvicorn, all in
one asyncio loop (uvicorn's server is a task of the controllers' loop, so a request handler
and a heartbeat are the same loop's work, and nothing crosses a thread but the record's
writes and the slow hashes of a sign-in).

`injector serve` prints the base URL first on standard output, warns on standard error when
it listens beyond this machine, and on SIGTERM, SIGINT or SIGHUP stops every session (the gun
held, the session recorded as interrupted, with the signal), leaves every gun held and
disarmed, lets the record catch up, and exits 0.
"""

from __future__ import annotations

import asyncio
import ipaddress
import contextlib
import logging
import signal
import socket
import sys
from datetime import datetime, timezone
from pathlib import Path

import uvicorn

from drivers.values import shown
from injector import inputs
from injector.service.app import VERSION, build_app
from injector.service.auth import (
    TOKEN_PREFIX, Principal, Throttle, TokenBook, Via, bearer,
)
from injector.service.config import SEND_BUFFER_BYTES, ServiceConfig, base_url, is_loopback
from injector.service.credentials import KEY_PREFIX, Credentials, Role, credentials_path
from injector.service.errors import (
    NotSignedIn, RoleRefused, SignInRefused, Throttled, UnknownGun,
)
from injector.service.events import EventHub
from injector.service.feed import RecordFeed
from injector.service.runs import Runs
from injector.service.supervisor import GunSupervisor
from injector.session import SessionResult
from injector.store import Store, StoreError, default_db_path
from profiles import load_catalog

log = logging.getLogger("injector.service")

STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)
MOST_SECRET_CHARS = 1024
"""A sign-in longer than this is refused before it is hashed."""


def throttle_keys(name: str, address: str) -> list[str]:
    """What a sign-in counts against: the name, and the address it comes from, unless that
    is this machine: the device's own screen is shared by everyone at the chair, and one
    clinician's mistyped PIN must not lock the others out of a running session's Hold."""
    keys = [f"user {name[:40]}"]
    try:
        local = ipaddress.ip_address(address).is_loopback
    except ValueError:
        local = False
    return keys if local else keys + [f"address {address}"]


THROTTLE_NOTE_S = 60.0
"""How often a throttled name or address is written to the record of actions."""

class _Server(uvicorn.Server):
    """uvicorn, as a task of the service's loop: the service, not uvicorn, answers signals
    (it must hold the guns before anything stops)."""

    @contextlib.contextmanager
    def capture_signals(self):
        yield


def listen_socket(host: str, port: int) -> socket.socket:
    """Bound and listening before the URL is printed: a client that reads it may connect
    at once."""
    family, kind, proto, _, address = socket.getaddrinfo(host, port,
                                                         type=socket.SOCK_STREAM)[0]
    sock = socket.socket(family, kind, proto)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, SEND_BUFFER_BYTES)
    sock.bind(address)
    sock.listen(128)
    sock.setblocking(False)
    return sock


class Service:
    def __init__(self, config: ServiceConfig) -> None:
        self.config = config
        self.catalog = load_catalog(config.presets_dirs)
        self.db_path = Path(config.db) if config.db is not None else default_db_path()
        self.credentials = Credentials(credentials_path(self.db_path))
        self.tokens = TokenBook(config.token_minutes * 60.0)
        self.throttle = Throttle()
        self._throttled: dict[str, tuple[float, int]] = {}
        """Per throttled name or address: when its last row was recorded, and the tries
        refused since (one row a minute at most: a flood writes no flood of rows)."""
        self.hub = EventHub(config.ring_size, config.client_queue)
        self.store: Store | None = None
        self.guns: list[GunSupervisor] = []
        self.runs: Runs | None = None
        self.url: str | None = None
        self.started_at: str | None = None
        self._server: _Server | None = None
        self._server_task: asyncio.Task | None = None

    # ---- life ----------------------------------------------------------------------------

    async def start(self) -> str:
        """Open the record, connect every gun (in the background), listen; the base URL."""
        self.store = Store(self.db_path)
        self.guns = [GunSupervisor(number, url, self.store, self.hub)
                     for number, url in enumerate(self.config.ports, start=1)]
        feed = RecordFeed(self.store, self.hub, self._syringe_ul)
        self.store.add_row_listener(feed.on_rows)
        self.runs = Runs(self.guns, self.catalog, self.store)
        for gun in self.guns:
            gun.start()
        sock = listen_socket(self.config.host, self.config.port)
        self.url = base_url(self.config.host, sock.getsockname()[1])
        self.started_at = datetime.now(timezone.utc).isoformat(timespec="seconds")
        self._server = _Server(uvicorn.Config(
            build_app(self), lifespan="off", log_config=None, access_log=False,
            ws="websockets-sansio", ws_per_message_deflate=False,
            timeout_graceful_shutdown=2, server_header=False))
        self._server_task = asyncio.get_running_loop().create_task(
            self._server.serve(sockets=[sock]))
        return self.url

    async def stop(self, reason: str) -> list[SessionResult]:
        """Every session stopped and recorded, every gun held, then the server and the
        record closed. The sessions' results."""
        results = await self.runs.stop_all(reason) if self.runs else []
        for gun in self.guns:
            await gun.stop()
        if self._server is not None:
            self._server.should_exit = True
            await asyncio.gather(self._server_task, return_exceptions=True)
        if self.store is not None:
            try:
                await asyncio.to_thread(self.store.flush)
            except StoreError as exc:
                log.error("the record did not catch up before the service ended: %s", exc)
            self.store.close()
        return results

    # ---- who is asking -------------------------------------------------------------------

    def principal_for(self, token: str | None) -> Principal:
        if not token:
            raise NotSignedIn("no credentials (Authorization: Bearer TOKEN)")
        if token.startswith(f"{TOKEN_PREFIX}_"):
            grant = self.tokens.check(token, asyncio.get_running_loop().time())
            if grant is None:
                raise NotSignedIn("the sign-in expired or was ended")
            user = self.credentials.snapshot().users.get(grant.principal.name)
            if user is None or user.disabled:
                self.tokens.revoke(token)
                raise NotSignedIn(f"user {grant.principal.name} is disabled")
            return grant.principal
        if token.startswith(f"{KEY_PREFIX}_"):
            key = self.credentials.key_for(token)
            if key is None:
                raise NotSignedIn("an unknown or revoked API key")
            return Principal(key.name, key.role, Via.API_KEY)
        raise NotSignedIn("not a token or an API key of this service")

    def authorize(self, token: str | None, needed: Role, action: str, request) -> Principal:
        principal = self.principal_for(token)
        if not principal.may(needed):
            self.record(principal, request, action, None, "refused",
                        f"needs the {needed.value} role")
            raise RoleRefused(principal.name, principal.role.value, needed.value, action)
        return principal

    async def sign_in(self, name: str, secret: str, request) -> dict:
        loop = asyncio.get_running_loop()
        address = request.client.host if request.client else "-"
        keys = throttle_keys(name, address)
        try:
            self.throttle.check(keys, loop.time())
        except Throttled as throttled:
            self._note_throttled(throttled, name, address, loop.time())
            raise
        self.throttle.begin(keys)
        try:
            try:
                name = inputs.USER_NAME.check(name)
                known = len(secret) <= MOST_SECRET_CHARS
            except ValueError:
                known = False
            user = (await asyncio.to_thread(self.credentials.user_for, name, secret)
                    if known else None)
        finally:
            self.throttle.end(keys)
        if user is None:
            self.throttle.failed(keys, loop.time())
            self._record(user=shown(name), role="-", via=Via.SIGN_IN.value, address=address,
                         action="sign-in", target=None, outcome="refused",
                         detail="unknown name or wrong PIN/password")
            raise SignInRefused(shown(name))
        self.throttle.succeeded(keys)
        principal = Principal(user.name, user.role, Via.SIGN_IN)
        token, grant = self.tokens.issue(principal, loop.time())
        self.record(principal, request, "sign-in", None, "ok")
        return {"token": token, "name": user.name, "role": user.role.value,
                "expires_in_s": round(grant.expires_at - loop.time(), 3),
                "idle_expiry_s": self.tokens.idle_s}

    def _note_throttled(self, throttled: Throttled, name: str, address: str,
                        now: float) -> None:
        """Throttled tries are recorded too, so an auditor sees how long a guessing run went
        on: the first of each minute as a row, with how many were refused since the last."""
        key = throttled.values["who"]
        noted_at, since = self._throttled.get(key, (None, 0))
        if noted_at is not None and now - noted_at < THROTTLE_NOTE_S:
            self._throttled[key] = (noted_at, since + 1)
            return
        self._throttled[key] = (now, 0)
        more = f"; {since} more throttled tries before this one" if since else ""
        self._record(user=shown(name), role="-", via=Via.SIGN_IN.value, address=address,
                     action="sign-in", target=None, outcome="throttled",
                     detail=throttled.detail + more)

    def sign_out(self, request, principal: Principal) -> dict:
        token = bearer(request.headers.get("authorization"))
        ended = principal.via is Via.SIGN_IN and self.tokens.revoke(token)
        self.record(principal, request, "sign-out", None, "ok" if ended else "refused",
                    "" if ended else "an API key is revoked with injector apikey revoke")
        return {"signed_out": ended}

    # ---- the record ----------------------------------------------------------------------

    def record(self, principal: Principal, request, action: str, target: str | None,
               outcome: str, detail: str = "") -> None:
        """An action and its user in the record (not waited for: it goes with the rows
        around it, in order)."""
        client = getattr(request, "client", None)
        self._record(user=principal.name, role=principal.role.value, via=principal.via.value,
                     address=client.host if client else None, action=action, target=target,
                     outcome=outcome, detail=detail)

    def _record(self, **row) -> None:
        row["detail"] = (row.get("detail") or "")[:500]
        try:
            self.store.record_action(**row)
        except StoreError as exc:
            log.error("the action %s of %s cannot be recorded: %s", row["action"],
                      row["user"], exc)

    async def read(self, query):
        """`query(store)` on a read-only view of the record, off the loop."""
        def work():
            store = Store(self.db_path, readonly=True)
            try:
                return query(store)
            finally:
                store.close()
        return await asyncio.to_thread(work)

    # ---- guns ----------------------------------------------------------------------------

    def gun(self, given: str) -> GunSupervisor:
        for gun in self.guns:
            if given == str(gun.number) or (gun.serial and given.lower() == gun.serial.lower()):
                return gun
        raise UnknownGun(given, [gun.name for gun in self.guns])

    def _syringe_ul(self, serial: str) -> float | None:
        for gun in self.guns:
            if gun.serial == serial:
                return gun.syringe_ul()
        return None

    def status(self) -> dict:
        hub = self.hub
        return {"service": {"version": VERSION, "id": hub.service_id, "url": self.url,
                            "started_at": self.started_at, "record": str(self.db_path),
                            "record_failure": str(self.store.failure)
                            if self.store and self.store.failure else None,
                            "events": {"newest": hub.newest, "oldest": hub.oldest,
                                       "subscribers": hub.subscribers,
                                       "dropped": hub.dropped}},
                "guns": [gun.describe() for gun in self.guns]}


async def serve(config: ServiceConfig, *, out=sys.stdout, err=sys.stderr) -> int:
    """`injector serve`: run until a stop signal, then stop as the docstring says."""
    loop = asyncio.get_running_loop()
    service = Service(config)
    url = await service.start()
    print(url, file=out, flush=True)
    if not is_loopback(config.host):
        print(f"injector serve: WARNING: listening on {config.host}, beyond this machine: "
              "anyone who can reach it may try to sign in. Give every user a strong PIN, "
              "keep API keys secret, and put TLS in front (a reverse proxy) on any network "
              "you do not trust.", file=err, flush=True)
    print(f"injector serve: {len(service.guns)} gun(s) on {', '.join(config.ports)}; the "
          f"record {service.db_path}; stop with Ctrl-C or SIGTERM", file=err, flush=True)
    stopped = asyncio.Event()
    caught: list[signal.Signals] = []

    def on_signal(sig: signal.Signals) -> None:
        caught.append(sig)
        stopped.set()

    for sig in STOP_SIGNALS:
        loop.add_signal_handler(sig, on_signal, sig)
    try:
        await stopped.wait()
    finally:
        for sig in STOP_SIGNALS:
            loop.remove_signal_handler(sig)
        name = caught[0].name if caught else "the service ending"
        results = await service.stop(f"stopped by {name} (the service was told to end)")
        print(f"injector serve: stopped by {name}: {len(results)} session(s) interrupted and "
              "recorded, every gun held", file=err, flush=True)
    return 0
