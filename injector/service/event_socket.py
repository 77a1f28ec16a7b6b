"""The WebSocket /api/v1/events: the service's events pushed as they happen.

Sign in as for HTTP (`Authorization: Bearer ...`, or from a browser the subprotocols
`injector.v1, bearer.TOKEN`); `?after=N` first sends every event after N that the service
still holds. Every message is a JSON array: the first holds a `hello` (the service's id, its
newest and oldest event numbers), and a `missed` notice when events after N are gone; then
events, each with its number (`seq`) and `type`: state, shot, alarm, alarm_ack, syringe,
progress, session, link, calibration, verification.

Per client: at most `send_rate_hz` messages a second (events that wait meanwhile go in the
next message: fewer messages, never fewer events); a client that stops reading is dropped
once its queue is full (it may reconnect with `after=N`), closed with 1013; a client may send
`{"type": "ping"}` (answered `pong`) at most `receive_rate_hz` a second, past its burst it is
closed with 1008.
"""

from __future__ import annotations

import asyncio
import json

from fastapi import WebSocket
from fastapi.responses import JSONResponse
from starlette.websockets import WebSocketDisconnect

from drivers.values import Quantity, ValueRefused
from injector.service.auth import bearer, ws_protocol_token
from injector.service.credentials import Role
from injector.service.errors import ServiceError
from injector.service.events import SEND_STALL_S, EventHub, Subscriber

SUBPROTOCOL = "injector.v1"
CHUNK = 200
"""Events per message when a backlog is sent."""
CLOSE_WAIT_S = 1.0
"""How long a close may wait on a client that does not read before the service lets go."""


class RateLimit:
    """A token bucket on the loop's clock."""

    EPSILON = 1e-9
    """A token short of one by rounding is a token: else a wait of a few nanoseconds, which
    a clock of finite resolution does not advance, would spin for ever."""
    LEAST_WAIT_S = 0.001

    def __init__(self, rate_hz: float, burst: int) -> None:
        self.rate, self.burst = rate_hz, burst
        self.tokens = float(burst)
        self.at = asyncio.get_running_loop().time()

    def _fill(self) -> None:
        now = asyncio.get_running_loop().time()
        self.tokens = min(self.burst, self.tokens + (now - self.at) * self.rate)
        self.at = now

    def allow(self) -> bool:
        self._fill()
        if self.tokens >= 1 - self.EPSILON:
            self.tokens = max(0.0, self.tokens - 1)
            return True
        return False

    async def take(self) -> None:
        while not self.allow():
            await asyncio.sleep(max((1 - self.tokens) / self.rate, self.LEAST_WAIT_S))


async def events(websocket: WebSocket) -> None:
    service = websocket.app.state.service
    headers = websocket.headers
    offered = [p.strip() for p in headers.get("sec-websocket-protocol", "").split(",")
               if p.strip()]
    token = bearer(headers.get("authorization")) or ws_protocol_token(
        headers.get("sec-websocket-protocol"))
    try:
        who = service.authorize(token, Role.CLINICIAN, "watch events", websocket)
        after = _after(websocket.query_params.get("after"))
    except ServiceError as refused:
        await websocket.send_denial_response(JSONResponse(refused.body(), refused.status))
        return
    except ValueRefused as refused:
        await websocket.send_denial_response(JSONResponse(
            {"error": "refused", "detail": str(refused), "field": refused.name,
             "limit": refused.limit}, 422))
        return
    await websocket.accept(subprotocol=SUBPROTOCOL if SUBPROTOCOL in offered else None)
    hub: EventHub = service.hub
    subscriber, backlog, missed = hub.subscribe(after)
    config = service.config
    try:
        first = [{"type": "hello", "service": hub.service_id, "first": hub.first,
                  "newest": hub.newest, "oldest": hub.oldest, "user": who.name,
                  "role": who.role.value}]
        if missed is not None:
            first.append(missed.notice(hub.service_id))
        await websocket.send_text(json.dumps(first))
        for start in range(0, len(backlog), CHUNK):
            await websocket.send_text("[" + ",".join(e.text for e in
                                                     backlog[start:start + CHUNK]) + "]")
        await _serve(websocket, hub, subscriber,
                     RateLimit(config.send_rate_hz, config.send_burst),
                     RateLimit(config.receive_rate_hz, config.receive_burst))
    except (WebSocketDisconnect, RuntimeError):
        pass                                    # the client went: nothing to send it
    finally:
        hub.unsubscribe(subscriber)


AFTER = Quantity("after", "", 0, 2**63 - 1, whole=True)
"""The last event number a client saw."""


def _after(raw: str | None) -> int | None:
    return None if raw is None else AFTER.check(raw)


async def _serve(websocket: WebSocket, hub: EventHub, subscriber: Subscriber,
                 send_rate: RateLimit, receive_rate: RateLimit) -> None:
    sender = asyncio.ensure_future(_send(websocket, hub, subscriber, send_rate))
    receiver = asyncio.ensure_future(_receive(websocket, receive_rate))
    gone = asyncio.ensure_future(subscriber.gone.wait())
    try:
        done, _ = await asyncio.wait({sender, receiver, gone},
                                     return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in (sender, receiver, gone):
            task.cancel()
    if receiver in done and not receiver.cancelled() and receiver.result() is not None:
        code, reason = receiver.result()
        await _close(websocket, code, reason)
    elif gone in done:
        await _close(websocket, 1013, "too slow: events were not read; reconnect with "
                                      "?after=N")


async def _send(websocket: WebSocket, hub: EventHub, subscriber: Subscriber,
                rate: RateLimit) -> None:
    queue = subscriber.queue
    while True:
        first = await queue.get()
        await rate.take()
        batch = [first.text]
        while not queue.empty():
            batch.append(queue.get_nowait().text)
        try:
            await asyncio.wait_for(websocket.send_text("[" + ",".join(batch) + "]"),
                                   SEND_STALL_S)
        except TimeoutError:
            hub.stalled(subscriber)             # it stopped reading: let it go
            return


async def _receive(websocket: WebSocket, rate: RateLimit) -> tuple[int, str] | None:
    """Until the client goes (None), or sends too much (the close code and why)."""
    while True:
        message = await websocket.receive()
        if message["type"] == "websocket.disconnect":
            return None
        if not rate.allow():
            return 1008, "too many messages: at most a few a second"
        try:
            asked = json.loads(message.get("text") or "null")
        except ValueError:
            asked = None
        if isinstance(asked, dict) and asked.get("type") == "ping":
            await websocket.send_text(json.dumps([{"type": "pong"}]))


async def _close(websocket: WebSocket, code: int, reason: str) -> None:
    try:
        await asyncio.wait_for(websocket.close(code, reason), CLOSE_WAIT_S)
    except (TimeoutError, RuntimeError, WebSocketDisconnect):
        pass
