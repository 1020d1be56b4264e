"""`/timeline/<id>`: every event related to a call, a channel, a command or a dialing, in order.

The id is a call's `linked_id`, a channel's `unique_id`, a dialing uuid, a command id or an
ActionID; relatedness is `replay.timeline`'s. The answer's `result.list` holds the envelopes,
each with its `offset` in seconds from the first, plus the calls, channels and bridges the
timeline followed; `?format=text` answers the readable form as `result` (one line per event,
as `switchboard replay timeline` prints it). The index the lookup uses is caught up first, off
the event loop. Secrets in the events (password hashes, token digests) are redacted
(`engine/redact.py`): a viewer may follow a user's history, never read their hash.
"""

from __future__ import annotations

import io

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute

from api.context import ApiContext
from api.envelope import ApiError, ok
from api.routing import ApiRoute, Operation, Param
from engine.redact import redact_event
from replay.index import open_index
from replay.reader import open_reader
from replay.timeline import Entry, Timeline, build, entry_json, write_text

TAG = "timeline"


def timeline_of(url: str, ident: str) -> Timeline:
    """The index caught up, then the timeline, secrets redacted (blocking: run it off the
    event loop)."""
    index = open_index(url)
    try:
        with open_reader(url) as reader:
            index.catch_up(reader.last_position())
            timeline = build(ident, index, reader)
    finally:
        index.close()
    timeline.entries = [Entry(e.offset, redact_event(e.event)) for e in timeline.entries]
    return timeline


def routes(ctx: ApiContext) -> list[BaseRoute]:
    async def get_timeline(request: Request) -> Response:
        ident = request.path_params["id"]
        fmt = request.state.params.get("format", "json")
        timeline = await run_in_threadpool(timeline_of, ctx.engine.store.url, ident)
        if not timeline.entries:
            raise ApiError(404, f"no event names {ident!r}")
        if fmt == "text":
            out = io.StringIO()
            write_text(timeline, out)
            return ok(out.getvalue())
        return ok({"id": ident, "calls": timeline.calls, "channels": timeline.channels,
                   "bridges": timeline.bridges, "truncated": timeline.truncated,
                   "list": [entry_json(e) for e in timeline.entries]})

    return [ApiRoute("/timeline/{id:path}", get_timeline, Operation(
        "GET", "Every event of a call, channel, command or dialing, with time offsets", TAG,
        params=(Param("id", "path", "a linked_id, unique_id, dialing uuid, command id or "
                      "ActionID (URL-encoded)", required=True),
                Param("format", "query", "json (default) or text",
                      {"type": "string", "enum": ["json", "text"]})),
        result={"type": "object", "properties": {
            "id": {"type": "string"}, "calls": {"type": "array"},
            "channels": {"type": "array"}, "bridges": {"type": "array"},
            "truncated": {"type": "boolean"}, "list": {"type": "array"}},
            "required": ["list"]},
        errors=(404,)), ctx.access)]
