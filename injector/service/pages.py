"""The touchscreen's pages, served at the service's base URL: plain HTML, CSS and JavaScript
modules shipped as package data (injector/service/ui/), no build step on the device.

The pages hold no credentials a browser would send on its own: the sign-in token lives in
the page's sessionStorage and goes out only in `Authorization: Bearer` from the page's own
scripts. Every page is same-origin with the API it calls, so the service's refusal of
cross-site requests lets them through and no CORS is opened. A Content-Security-Policy
allows only this origin's scripts, styles, pictures and connections (no inline script, no
framing by another site).
"""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from fastapi.responses import JSONResponse
from fastapi.staticfiles import StaticFiles

UI_DIR = Path(__file__).with_name("ui")
API_PREFIX = "/api/"
SECURITY_HEADERS = [
    (b"content-security-policy",
     b"default-src 'self'; img-src 'self' data: blob:; connect-src 'self'; "
     b"frame-ancestors 'none'; base-uri 'none'; form-action 'none'; object-src 'none'"),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"cache-control", b"no-cache"),
]


class Pages:
    """The static files, with the security headers; an unknown /api/ path stays the API's
    JSON 404, never a page."""

    def __init__(self, directory: Path) -> None:
        self.files = StaticFiles(directory=directory, html=True)

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] == "http" and scope["path"].startswith(API_PREFIX):
            await JSONResponse({"error": "not_found", "detail": "no such route"},
                               status_code=404)(scope, receive, send)
            return

        async def with_headers(message) -> None:
            if message["type"] == "http.response.start":
                message = message | {"headers": list(message.get("headers", []))
                                     + SECURITY_HEADERS}
            await send(message)
        await self.files(scope, receive, with_headers)


def mount_pages(app: FastAPI, directory: Path = UI_DIR) -> None:
    """The pages at `/` (after every API route, so they never shadow one)."""
    app.mount("/", Pages(directory), name="touchscreen")
