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

from drivers.errors import DriverError
from drivers.values import ValueRefused, shown
from injector.cli.common import OptionRefused
from injector.errors import InjectorError, PlanError
from injector.service.auth import check_same_origin
from injector.service.credentials import CredentialsError, Role
from injector.service.errors import CrossSite, ServiceError
from injector.store import StoreError
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
    return value if isinstance(value, (str, int, float, bool, type(None))) else shown(value)


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

    @app.exception_handler(OptionRefused)
    async def option_refused(request: Request, exc: OptionRefused):
        return await value_refused(request, exc.refused)

    @app.exception_handler(ProfileError)
    async def profile_error(request: Request, exc: ProfileError):
        return refusal(422, {"error": "refused", "detail": str(exc), "field": exc.field,
                             "value": _jsonable(exc.value), "limit": _jsonable(exc.limit)})

    @app.exception_handler(PlanError)
    async def plan_error(request: Request, exc: PlanError):
        return refusal(422, {"error": "refused", "detail": str(exc), "field": exc.field,
                             "value": _jsonable(exc.value), "limit": _jsonable(exc.limit)})

    @app.exception_handler(RequestValidationError)
    async def malformed(request: Request, exc: RequestValidationError):
        first = exc.errors()[0] if exc.errors() else {}
        where = ".".join(str(p) for p in first.get("loc", ()) if p != "body")
        return refusal(422, {"error": "refused",
                             "detail": f"{where or 'body'}: {first.get('msg', 'malformed')}",
                             "field": where or None})

    @app.exception_handler(StoreError)
    async def store_error(request: Request, exc: StoreError):
        if "no session" in exc.reason or "no calibration" in exc.reason:
            return refusal(404, {"error": "not_found", "detail": str(exc)})
        return refusal(503, {"error": "unavailable", "detail": str(exc)})

    @app.exception_handler(CredentialsError)
    async def credentials_error(request: Request, exc: CredentialsError):
        return refusal(503, {"error": "unavailable", "detail": str(exc)})

    @app.exception_handler(DriverError)
    async def driver_error(request: Request, exc: DriverError):
        return refusal(503, {"error": "gun", "detail": str(exc)})

    @app.exception_handler(InjectorError)
    async def injector_error(request: Request, exc: InjectorError):
        return refusal(409, {"error": "refused_by_gun", "detail": str(exc)})

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
