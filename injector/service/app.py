"""The FastAPI application: the versioned API under /api/v1/, its OpenAPI document, the
refusal of cross-site requests before anything else, authentication and roles on every
route but the document and the sign-in, and one error shape for every refusal.

The application holds no state of its own: everything is the Service's (runtime.py), found
as `request.app.state.service`, so tests, the command line and the OpenAPI export build the
same application.
"""

from __future__ import annotations

import json
import logging

from fastapi import Depends, FastAPI, Request, Security
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.exceptions import HTTPException as StarletteHTTPException

from drivers.errors import DriverError
from drivers.values import ValueRefused, quoted, shown
from injector.errors import InjectorError, PlanError
from injector.remedies import in_service_words
from injector.service.auth import check_same_origin
from injector.service.credentials import CredentialsError, Role
from injector.service.errors import CrossSite, ServiceError
from injector.store import NotInRecord, StoreError
from profiles.errors import ProfileError

log = logging.getLogger("injector.service")

API = "/api/v1"
VERSION = "1.0"

DESCRIPTION = """\
Every route but this document and the sign-in needs `Authorization: Bearer` with a sign-in
token (`POST /api/v1/auth/sign-in`, it expires) or an API key (`injector apikey add`).
Roles: clinician (sessions, alarms), technician (and calibrations), admin (and the record of
actions). A browser's cross-site request is refused (403), whatever it carries.

Live events: the WebSocket `/api/v1/events[?after=N]` (credentials as above, or from a
browser the subprotocols `injector.v1, bearer.TOKEN`). Every message is a JSON array: a
`hello` first (and a `missed` notice when events after N are gone), then events, each with
its number `seq` and `type`: state, shot, alarm, alarm_ack, syringe, progress, session,
link, calibration, verification. Reconnect with `?after=` the last `seq` seen.

Refusals: `{"error": CODE, "detail": ONE LINE, ...}` with 401, 403, 404, 409 (the gun is
busy, an alarm is latched, an interlock), 422 (a value outside its limit, an unknown name, a
plan outside the envelope), 429 (sign-ins throttled) or 503 (the gun offline).
"""

bearer_scheme = HTTPBearer(auto_error=False, scheme_name="bearer",
                           description="A sign-in token (POST /api/v1/auth/sign-in) or an API "
                                       "key (injector apikey add), as Authorization: Bearer.")


def signed_in(needed: Role, action: str):
    """A route's dependency: the principal asking, who must hold `needed` (401 without
    credentials, 403 with too small a role; a refusal for the role is recorded)."""
    async def principal(request: Request, credentials: HTTPAuthorizationCredentials | None
                        = Security(bearer_scheme)):
        service = request.app.state.service
        return service.authorize(credentials.credentials if credentials else None, needed,
                                 action, request)
    return Depends(principal)


class OriginCheck:
    """Cross-site requests refused before routing, authentication or a WebSocket's accept."""

    def __init__(self, app) -> None:
        self.app = app

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] in ("http", "websocket"):
            headers = {k.decode("latin-1").lower(): v.decode("latin-1")
                       for k, v in scope["headers"]}
            try:
                check_same_origin(headers, scope.get("scheme", "http"), headers.get("host"))
            except CrossSite as refused:
                await _refuse(scope, send, refused)
                return
        await self.app(scope, receive, send)


async def _refuse(scope, send, refused: ServiceError) -> None:
    body = json.dumps(refused.body()).encode()
    start = {"status": refused.status,
             "headers": [(b"content-type", b"application/json"),
                         (b"content-length", str(len(body)).encode())]}
    if scope["type"] == "websocket":
        await send({"type": "websocket.http.response.start", **start})
        await send({"type": "websocket.http.response.body", "body": body})
    else:
        await send({"type": "http.response.start", **start})
        await send({"type": "http.response.body", "body": body})


def refusal(status: int, body: dict, headers: dict | None = None) -> JSONResponse:
    return JSONResponse(body, status_code=status, headers=headers)


def _jsonable(value) -> object:
    scalar = (str, int, float, bool, type(None))
    if isinstance(value, (list, tuple)) and all(isinstance(v, scalar) for v in value):
        return list(value)
    return value if isinstance(value, scalar) else shown(value)


EXPECTED = {
    "float_type": "a number", "float_parsing": "a number", "finite_number": "a finite number",
    "int_type": "a whole number", "int_parsing": "a whole number", "int_from_float":
    "a whole number", "bool_type": "true or false", "bool_parsing": "true or false",
    "string_type": "text", "dict_type": "an object", "model_type": "an object",
    "model_attributes_type": "an object", "list_type": "a list", "missing": "a value",
    "json_invalid": "a JSON object", "json_type": "a JSON object",
}
"""What each of the framework's type refusals asks for, in the words of our own refusals."""


def _as_json(value) -> str:
    """A value as the client wrote it (true, "10"), cut to a line."""
    try:
        text = json.dumps(value)
    except (TypeError, ValueError):
        return quoted(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _malformed(error: dict) -> dict:
    """One refusal of the request's shape, as ours read: the field, the value given, what
    to give. JSON's types are taken as they are (strict): "10" is not a number, 1 is not
    true, so a client's mistake never starts a session by a lucky conversion."""
    kind = error.get("type", "")
    where = ".".join(str(p) for p in error.get("loc", ()) if p != "body")
    if kind == "json_invalid":
        return {"error": "refused", "detail": f"the body is not valid JSON ("
                f"{error.get('ctx', {}).get('error', 'malformed')} at character {where})",
                "field": None, "value": None, "limit": EXPECTED[kind]}
    expected = EXPECTED.get(kind)
    if kind == "literal_error":
        expected = f"one of {error.get('ctx', {}).get('expected', '')}"
    expected = expected or error.get("msg", "another value")
    given = error.get("input")
    if kind == "missing":
        detail = f"{where or 'body'}: missing; give {expected}"
    elif kind == "extra_forbidden":
        detail = f"{where}: not a field of this request (the OpenAPI document lists them)"
        expected = "a field of this request"
    else:
        detail = f"{where or 'body'} {_as_json(given)}: not {expected}"
        if kind not in EXPECTED and kind != "literal_error":
            detail = f"{where or 'body'} {_as_json(given)}: {error.get('msg', 'refused')}"
    return {"error": "refused", "detail": detail, "field": where or None,
            "value": None if kind == "missing" else _jsonable(given), "limit": expected}


def add_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(ServiceError)
    async def service_error(request: Request, exc: ServiceError):
        headers = {}
        if exc.status == 401:
            headers["WWW-Authenticate"] = "Bearer"
        if exc.status == 429:
            headers["Retry-After"] = str(max(1, round(getattr(exc, "retry_after_s", 1))))
        return refusal(exc.status, exc.body(), headers)

    @app.exception_handler(ValueRefused)
    async def value_refused(request: Request, exc: ValueRefused):
        return refusal(422, {"error": "refused", "detail": str(exc), "field": exc.name,
                             "value": shown(exc.value), "limit": exc.limit})

    @app.exception_handler(ProfileError)
    async def profile_error(request: Request, exc: ProfileError):
        return refusal(422, {"error": "refused", "detail": in_service_words(exc, str(exc)),
                             "field": exc.field,
                             "value": _jsonable(exc.value), "limit": _jsonable(exc.limit)})

    @app.exception_handler(PlanError)
    async def plan_error(request: Request, exc: PlanError):
        return refusal(422, {"error": "refused", "detail": in_service_words(exc, str(exc)),
                             "field": exc.field,
                             "value": _jsonable(exc.value), "limit": _jsonable(exc.limit)})

    @app.exception_handler(RequestValidationError)
    async def malformed(request: Request, exc: RequestValidationError):
        return refusal(422, _malformed(exc.errors()[0] if exc.errors() else {}))

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException):
        # The framework's own refusals (a body that is not JSON, no such route, a method the
        # route lacks) in the same form as ours.
        code = {400: "malformed", 404: "not_found", 405: "method_not_allowed"}.get(
            exc.status_code, "refused")
        return refusal(exc.status_code, {"error": code, "detail": str(exc.detail)},
                       dict(exc.headers) if exc.headers else None)

    @app.exception_handler(StoreError)
    async def store_error(request: Request, exc: StoreError):
        if isinstance(exc, NotInRecord):        # the record's path is not a client's business
            return refusal(404, {"error": "not_found", "detail": exc.reason,
                                 exc.kind.replace(" ", "_") + "_id": exc.number})
        return refusal(503, {"error": "unavailable", "detail": str(exc)})

    @app.exception_handler(CredentialsError)
    async def credentials_error(request: Request, exc: CredentialsError):
        return refusal(503, {"error": "unavailable", "detail": str(exc)})

    @app.exception_handler(DriverError)
    async def driver_error(request: Request, exc: DriverError):
        return refusal(503, {"error": "gun", "detail": str(exc)})

    @app.exception_handler(InjectorError)
    async def injector_error(request: Request, exc: InjectorError):
        return refusal(409, {"error": "refused_by_gun",
                             "detail": in_service_words(exc, str(exc))})

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception):
        log.exception("unexpected error answering %s %s", request.method, request.url.path)
        return refusal(500, {"error": "unexpected", "detail": f"unexpected "
                             f"{type(exc).__name__}; the service's log holds the trace"})


def build_app(service=None) -> FastAPI:
    """The application; `service` is None only to write the OpenAPI document."""
    from injector.service import event_socket, routes, ui_routes
    from injector.service.pages import mount_pages

    app = FastAPI(title="injector device service",
                  summary="A mesotherapy injector gun's controller as a service: presets, "
                          "plans, sessions, alarms, calibrations and live events.",
                  description=DESCRIPTION,
                  version=VERSION, openapi_url=f"{API}/openapi.json", docs_url=None,
                  redoc_url=None, swagger_ui_oauth2_redirect_url=None)
    app.state.service = service
    add_error_handlers(app)
    app.include_router(routes.router, prefix=API)
    app.include_router(ui_routes.router, prefix=API)
    app.add_api_websocket_route(f"{API}/events", event_socket.events, name="events")
    mount_pages(app)
    app.add_middleware(OriginCheck)
    return app
