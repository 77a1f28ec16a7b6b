"""The service's refusals: each one of our exceptions, carrying the offending value, with the
HTTP status it answers with and a machine-readable code. The body of every refusal is

    {"error": CODE, "detail": ONE LINE, ...the values it names}
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from injector.errors import InjectorError


class Refusal(BaseModel):
    """The body of every refusal (the OpenAPI document's schema for each error status)."""

    model_config = ConfigDict(extra="allow")
    error: str = Field(description="a machine-readable code: refused, not_found, role_refused...")
    detail: str = Field(description="one line a person reads: the value, the limit, what to do")
    field: str | None = Field(None, description="the request's field a value refusal names")
    value: Any = Field(None, description="the value given")
    limit: Any = Field(None, description="what the field takes")


REFUSALS: dict[int | str, dict[str, Any]] = {
    status: {"model": Refusal, "description": text} for status, text in {
        400: "a body that cannot be read as text",
        401: "no credentials, or credentials not (or no longer) good",
        403: "a role too small for the route, or a cross-site request",
        404: "no such route, gun, session or calibration",
        409: "the gun or the session refuses it now: busy, an alarm latched, an interlock",
        422: "a value outside its limit or of the wrong JSON type, an unknown name, a plan "
             "outside the envelope",
        429: "sign-ins throttled (Retry-After says for how long)",
        503: "the gun offline, or the record failing",
    }.items()}
"""Every refusal the API may answer, for the OpenAPI document."""


class ServiceError(InjectorError):
    status = 500
    code = "error"

    def __init__(self, detail: str, **values: Any) -> None:
        self.detail, self.values = detail, values
        super().__init__(detail)

    def body(self) -> dict:
        return {"error": self.code, "detail": self.detail, **self.values}


class NotSignedIn(ServiceError):
    """No credentials, or ones that are unknown, revoked or expired: 401."""

    status, code = 401, "not_signed_in"

    def __init__(self, why: str) -> None:
        super().__init__(f"sign in first: {why} (POST /api/v1/auth/sign-in, then "
                         "Authorization: Bearer TOKEN)", why=why)


class SignInRefused(ServiceError):
    """A wrong name or PIN; which of the two is not said."""

    status, code = 401, "sign_in_refused"

    def __init__(self, name: str) -> None:
        super().__init__(f"sign-in refused for {name!r}: unknown name or wrong PIN/password",
                         name=name)


class RoleRefused(ServiceError):
    status, code = 403, "role_refused"

    def __init__(self, user: str, role: str, needed: str, action: str) -> None:
        super().__init__(f"{action} needs the {needed} role; {user} is a {role}",
                         user=user, role=role, needed=needed, action=action)


class CrossSite(ServiceError):
    """A browser page from another origin: refused whatever it carries."""

    status, code = 403, "cross_site"

    def __init__(self, origin: str, why: str) -> None:
        super().__init__(f"cross-site request refused ({why}): origin {origin!r}",
                         origin=origin)


class Throttled(ServiceError):
    status, code = 429, "throttled"

    def __init__(self, who: str, retry_after_s: float, failures: int) -> None:
        self.retry_after_s = retry_after_s
        super().__init__(f"{failures} failed sign-ins for {who}: try again in "
                         f"{retry_after_s:.0f} s", who=who,
                         retry_after_s=round(retry_after_s, 1))


class UnknownGun(ServiceError):
    status, code = 404, "unknown_gun"

    def __init__(self, given: str, known: list[str]) -> None:
        super().__init__(f"no gun {given!r} here (guns: {', '.join(known) or 'none'})",
                         gun=given, known=known)


class NotFound(ServiceError):
    status, code = 404, "not_found"

    def __init__(self, what: str, given: Any) -> None:
        super().__init__(f"no {what} {given}", what=what, value=given)


class GunBusy(ServiceError):
    status, code = 409, "gun_busy"

    def __init__(self, gun: str, doing: str) -> None:
        super().__init__(f"gun {gun} is busy ({doing}): one session at a time; hold or stop "
                         "it, or wait until it ends", gun=gun, doing=doing)


class GunOffline(ServiceError):
    status, code = 503, "gun_offline"

    def __init__(self, gun: str, link: str, problem: str | None) -> None:
        super().__init__(f"gun {gun} is {link}" + (f": {problem}" if problem else "")
                         + "; the service keeps reconnecting", gun=gun, link=link,
                         problem=problem)


class NotRunning(ServiceError):
    """An action on a session this service is not running (ended, or never here)."""

    status, code = 409, "not_running"

    def __init__(self, session_id: int, status: str) -> None:
        super().__init__(f"session {session_id} is {status}, not running here",
                         session_id=session_id, status=status)


class CannotNow(ServiceError):
    """An action the running session cannot take in its state."""

    status, code = 409, "cannot_now"

    def __init__(self, action: str, session_id: int, state: str, why: str) -> None:
        super().__init__(f"cannot {action} session {session_id} now ({state}): {why}",
                         action=action, session_id=session_id, state=state)


class Conflict(ServiceError):
    """The gun or the session refused it (an interlock, a latched alarm): 409."""

    status, code = 409, "refused_by_gun"


class NotWhatWasRead(ServiceError):
    """A signature for a library other than the one in force: what a technician reviewed is
    what they sign, or nothing is signed (409)."""

    status, code = 409, "library_changed"

    def __init__(self, asked_hash: str, in_force_hash: str | None) -> None:
        super().__init__(
            f"library {asked_hash} is not the clinic library in force ("
            + (in_force_hash or "none: the service runs the built-in library, set "
               "$INJECTOR_CLINIC_LIMITS to a clinic's file") + "); read it again and sign "
            "what it shows", hash=asked_hash, in_force=in_force_hash)


class Refused(ServiceError):
    """A value outside its definition, an unknown name, a plan outside the envelope: 422."""

    status, code = 422, "refused"


class Unavailable(ServiceError):
    """The record or the credentials cannot be used right now: 503."""

    status, code = 503, "unavailable"
