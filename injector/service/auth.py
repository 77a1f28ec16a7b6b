"""Who is asking, and may they: sign-in tokens that expire, API keys, roles, sign-in
throttling and the refusal of cross-site requests.

- Credentials travel only in `Authorization: Bearer ...` (a WebSocket may carry its token as
  the subprotocol `bearer.TOKEN`, which a browser can set): never in a cookie, so a page on
  another site cannot make a browser send them. On top of that, a request whose `Origin` is
  not the service's own, or that a browser marks `Sec-Fetch-Site: cross-site`, is refused
  before anything else (WebSockets included: they are not covered by CORS).
- A sign-in token is random (32 bytes), kept only as its SHA-256 in memory, and expires after
  a time unused and at the most 12 hours after the sign-in; a restart signs everyone out.
- Failed sign-ins are counted per name and per address; five in five minutes and that name
  or address is refused until the oldest of them is five minutes old.
- Time is the event loop's (`loop.time()`), as everywhere in the controller.
"""

from __future__ import annotations

import hashlib
import secrets
from collections import deque
from dataclasses import dataclass
from enum import Enum
from urllib.parse import urlsplit

from injector.service.credentials import Role
from injector.service.errors import CrossSite, Throttled

TOKEN_PREFIX = "st"
MOST_TOKEN_S = 12 * 3600.0
"""However busy, a sign-in ends after 12 hours: a shift, not a week."""
FAILURES_ALLOWED = 5
FAILURE_WINDOW_S = 300.0
WS_TOKEN_PROTOCOL = "bearer."


class Via(Enum):
    """How a principal proved who they are (recorded with each action)."""

    SIGN_IN = "sign-in"
    API_KEY = "api-key"


@dataclass(frozen=True)
class Principal:
    name: str
    role: Role
    via: Via

    def may(self, needed: Role) -> bool:
        return self.role.includes(needed)


@dataclass(frozen=True)
class Grant:
    principal: Principal
    signed_in_at: float
    expires_at: float


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode("ascii", "replace")).hexdigest()


class TokenBook:
    """The sign-ins in force: token digest -> grant; each use moves its expiry on."""

    def __init__(self, idle_s: float) -> None:
        self.idle_s = idle_s
        self._grants: dict[str, Grant] = {}

    def issue(self, principal: Principal, now: float) -> tuple[str, Grant]:
        token = f"{TOKEN_PREFIX}_{secrets.token_urlsafe(32)}"
        grant = Grant(principal, now, min(now + self.idle_s, now + MOST_TOKEN_S))
        self._grants[_digest(token)] = grant
        self._forget_expired(now)
        return token, grant

    def check(self, token: str, now: float) -> Grant | None:
        key = _digest(token)
        grant = self._grants.get(key)
        if grant is None:
            return None
        if now >= grant.expires_at:
            del self._grants[key]
            return None
        renewed = Grant(grant.principal, grant.signed_in_at,
                        min(now + self.idle_s, grant.signed_in_at + MOST_TOKEN_S))
        self._grants[key] = renewed
        return renewed

    def revoke(self, token: str) -> bool:
        return self._grants.pop(_digest(token), None) is not None

    def _forget_expired(self, now: float) -> None:
        for key in [k for k, g in self._grants.items() if now >= g.expires_at]:
            del self._grants[key]


class Throttle:
    """Failed sign-ins per name and per address, over a sliding window."""

    def __init__(self, allowed: int = FAILURES_ALLOWED, window_s: float = FAILURE_WINDOW_S):
        self.allowed, self.window_s = allowed, window_s
        self._failures: dict[str, deque[float]] = {}
        self._checking: dict[str, int] = {}
        """Sign-ins being checked (off the loop) per key: they count as failures until
        known, so a burst of guesses in parallel gets no more tries than one at a time."""

    def check(self, keys: list[str], now: float) -> None:
        """Throttled for the first key that has used up its failures."""
        for key in keys:
            failures = self._recent(key, now)
            if len(failures) + self._checking.get(key, 0) >= self.allowed:
                wait = failures[0] + self.window_s - now if failures else 1.0
                raise Throttled(key, wait, len(failures) + self._checking.get(key, 0))

    def begin(self, keys: list[str]) -> None:
        for key in keys:
            self._checking[key] = self._checking.get(key, 0) + 1

    def end(self, keys: list[str]) -> None:
        for key in keys:
            left = self._checking.get(key, 0) - 1
            if left > 0:
                self._checking[key] = left
            else:
                self._checking.pop(key, None)

    def failed(self, keys: list[str], now: float) -> None:
        for key in keys:
            self._recent(key, now).append(now)

    def succeeded(self, keys: list[str]) -> None:
        """A right PIN clears the name's count (not the address's: one user's success
        does not wipe a guesser's record on a shared address)."""
        for key in keys:
            if key.startswith("user "):
                self._failures.pop(key, None)

    def _recent(self, key: str, now: float) -> deque[float]:
        failures = self._failures.setdefault(key, deque())
        while failures and failures[0] <= now - self.window_s:
            failures.popleft()
        return failures


def bearer(authorization: str | None) -> str | None:
    """The credential in `Authorization: Bearer X`, or None."""
    if not authorization:
        return None
    scheme, _, value = authorization.partition(" ")
    if scheme.lower() != "bearer" or not value.strip():
        return None
    return value.strip()


def ws_protocol_token(protocols: str | None) -> str | None:
    """The credential a browser's WebSocket carries as the subprotocol `bearer.TOKEN`."""
    for item in (protocols or "").split(","):
        item = item.strip()
        if item.startswith(WS_TOKEN_PROTOCOL) and len(item) > len(WS_TOKEN_PROTOCOL):
            return item[len(WS_TOKEN_PROTOCOL):]
    return None


def check_same_origin(headers, scheme: str, host: str | None) -> None:
    """Refuse a browser's cross-site request: an `Origin` that is not this service's own
    (scheme, host and port, as the request's Host header names it), or a request the
    browser itself marks cross-site. Requests without either header (curl, a clinic's
    system, httpx) are not a browser's and pass to authentication."""
    site = headers.get("sec-fetch-site")
    origin = headers.get("origin")
    if site is not None and site.lower() == "cross-site":
        raise CrossSite(origin or "-", "the browser marks it cross-site")
    if origin is None:
        return
    if origin == "null":
        raise CrossSite(origin, "an opaque origin (a sandboxed page or a local file)")
    parts = urlsplit(origin)
    expected_scheme = {"ws": "http", "wss": "https"}.get(scheme, scheme)
    if parts.scheme != expected_scheme or not host or parts.netloc.lower() != host.lower():
        raise CrossSite(origin, f"not this service's own origin {expected_scheme}://{host}")
