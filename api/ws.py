"""`/ws`: the change messages over a WebSocket, with the seed's subscribe protocol (1.5).

The client sends `{"type": "subscribe", "topic": "/queue/statuses/sales"}` (or `unsubscribe`);
topics are prefixes, `/` is everything, matched percent-decoded: the seed's
`/queue/statuses/sales%5F1` and `/queue/statuses/sales_1` are one topic. Each message is one
text frame, the seed's one-key object `{"<event.name>": {...row...}}`; with `?meta=1` its topic
and id follow: `{"<event.name>": {...}, "topic": "...", "id": "1234"}`. Topics may also be
given up front (`/ws?topic=/queue/`), and `?from=<id>` resumes after that id with those topics,
as `/events` does with `Last-Event-ID`: a client that will resume asks for `meta=1` to learn
the ids (or starts from the `X-Switchboard-Position` of a REST read).

A client `api.client_lag` messages behind is closed with code 4008 (`reason`: how far behind);
one whose frames are not taken within `api.send_timeout` is closed too. Reconnecting with
`?from=<last id>` resumes exactly. A frame that is not a valid subscribe/unsubscribe gets
`{"type": "error", "message": ...}` and the stream goes on; a binary frame is closed with 1003.
Auth: `?authtoken=` (browsers cannot set headers on a WebSocket) or `Authorization: Bearer`.
A refused upgrade is an HTTP answer in the envelope, saying why: 401/403 (access), 400 (a
malformed `from`, `topic` or `meta`, an id past the end of the log; `api/streams.py`). A stream
whose token is revoked or expires, or whose user is deleted or may no longer read, is closed
with 1008 and the reason (`api/grants.py`); 1001 when the server stops.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

import msgspec
from starlette.routing import BaseRoute
from starlette.websockets import WebSocket, WebSocketDisconnect

from api.context import ApiContext
from api.envelope import ApiError, error
from api.hub import BATCH, Closing, Dropped, Revoked, Subscription, matcher
from api.routing import SERVER_PARAM, ApiWebSocketRoute, Operation, Param
from api.streams import FROM, MAX_TOPICS, TOPIC, TopicError, subscribe, topic_prefix, topic_prefixes

TOO_SLOW = 4008  # private-use close code: fell too far behind; resume with ?from=
GOING_AWAY = 1001  # the server is stopping
UNSUPPORTED = 1003  # a binary frame
POLICY = 1008  # refused: no (longer a) right to read
BINARY = "binary frames are not supported: send JSON text frames"
META = Param("meta", "query", "1: each message also carries its `topic` and `id` (the id is "
             "what `?from=` resumes after); 0 (default): the seed's `{\"<event.name>\": {...}}`",
             schema={"type": "string", "enum": ["0", "1"]})


class Subscribe(msgspec.Struct, forbid_unknown_fields=True):
    """A client frame: `{"type": "subscribe" | "unsubscribe", "topic": "/queue/"}`."""

    type: str
    topic: str


def _reason(text: str) -> str:
    """A close frame's reason: at most 123 bytes of UTF-8."""
    return text.encode()[:123].decode(errors="ignore")


async def _refuse(ws: WebSocket, status: int, message: str) -> None:
    """Answer the upgrade request with an HTTP error in the envelope (401, 403, 400), so the
    client reads why; a server without the denial-response extension can only close."""
    if "websocket.http.response" in ws.scope.get("extensions", {}):
        await ws.send_denial_response(error(status, message))
    else:
        await ws.close(code=POLICY, reason=_reason(message))


async def _send_error(ws: WebSocket, message: str) -> None:
    await ws.send_text(msgspec.json.encode({"type": "error", "message": message}).decode())


def _request(text: str, topics: list[str]) -> str | None:
    """Apply one client frame to the client's `topics`; why it was refused, or None.

    A refusal names what is wrong without echoing the frame (it may be megabytes)."""
    try:
        request = msgspec.json.decode(text, type=Subscribe)
    except msgspec.MsgspecError as exc:
        return f"not a subscribe/unsubscribe message: {str(exc)[:120]}"
    if request.type not in ("subscribe", "unsubscribe"):
        return f"type {request.type[:40]!r}: subscribe or unsubscribe"
    try:
        topic = topic_prefix(request.topic)
    except TopicError as exc:
        return str(exc)
    if request.type == "unsubscribe":
        if topic in topics:
            topics.remove(topic)
    elif topic not in topics:
        if len(topics) >= MAX_TOPICS:
            return f"at most {MAX_TOPICS} topics: unsubscribe one first"
        topics.append(topic)
    return None


class _NotUtf8(logging.Filter):
    """uvicorn's WebSocket protocol (`websockets-sansio`, the default) logs a client's text
    frame that is not UTF-8 as an error with a traceback ("Invalid UTF-8 sequence received from
    client.", `uvicorn/protocols/websockets/websockets_sansio_impl.py`), then rightly closes it
    with 1007: before the app sees anything. A client's fault is one warning line."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.msg == "Invalid UTF-8 sequence received from client.":
            record.msg = "a WebSocket client sent a text frame that is not UTF-8: closed (1007)"
            record.levelno, record.levelname = logging.WARNING, "WARNING"
            record.exc_info, record.exc_text = None, None
        return True


NOT_UTF8 = _NotUtf8()


def routes(ctx: ApiContext) -> list[BaseRoute]:
    settings = ctx.settings
    logging.getLogger("uvicorn.error").addFilter(NOT_UTF8)  # once: the same filter

    async def endpoint(ws: WebSocket) -> None:
        principal, reason, status = ctx.access.check(ws, "viewer")
        if principal is None:
            await _refuse(ws, status, reason)
            return
        server = ws.query_params.get("server")
        meta = ws.query_params.get("meta", "0")
        if meta not in ("0", "1"):
            await _refuse(ws, 400, f"meta {meta[:20]!r}: 1 (each message also carries its "
                                   "topic and id) or 0 (the seed's message alone, the default)")
            return
        try:
            topics = topic_prefixes(ws.query_params.getlist("topic"))
            subscription = await subscribe(ctx, ws, principal, ws.query_params.get("from"),
                                           topics, server)
        except ApiError as exc:
            await _refuse(ws, exc.status, exc.message)
            return
        subscription.match = matcher(topics, server)
        await ws.accept()
        sender = asyncio.create_task(_pump(ws, subscription, meta == "1", settings.send_timeout,
                                           settings.keepalive))
        try:
            while True:
                frame = await ws.receive()
                if frame["type"] == "websocket.disconnect":
                    break
                text = frame.get("text")
                if text is None:  # a binary frame: nothing in the protocol is binary
                    await ws.close(code=UNSUPPORTED, reason=BINARY)
                    break
                refused = _request(text, topics)
                if refused is not None:
                    await _send_error(ws, refused)
                    continue
                subscription.match = matcher(topics, server)
        except (WebSocketDisconnect, RuntimeError):
            pass
        finally:
            subscription.close()
            sender.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await sender

    operation = Operation(
        "GET", "Change messages over a WebSocket (seed subscribe/unsubscribe protocol)",
        "streams", params=(TOPIC, SERVER_PARAM, FROM, META,
                           Param("authtoken", "query", "login token")),
        description="Send {\"type\": \"subscribe\", \"topic\": \"/queue/\"}.")
    return [ApiWebSocketRoute("/ws", endpoint, operation)]


async def _pump(ws: WebSocket, subscription: Subscription, meta: bool, send_timeout: float,
                keepalive: float) -> None:
    """Send what the subscription yields; close the socket when the client cannot keep up."""
    try:
        while True:
            try:
                batch = await subscription.next(keepalive)
            except Dropped as exc:
                code = (GOING_AWAY if isinstance(exc, Closing)
                        else POLICY if isinstance(exc, Revoked) else TOO_SLOW)
                await asyncio.wait_for(ws.close(code=code, reason=_reason(str(exc))),
                                       send_timeout)
                return
            for message in batch:
                text = message.meta_text if meta else message.text
                if not await subscription.write(ws.send_text(text)):
                    with contextlib.suppress(Exception):
                        await asyncio.wait_for(ws.close(code=TOO_SLOW, reason="not reading"),
                                               1.0)
                    return
            if len(batch) >= BATCH:
                await asyncio.sleep(0)  # a client catching up must not hold the loop
    except (WebSocketDisconnect, RuntimeError, OSError):
        pass
