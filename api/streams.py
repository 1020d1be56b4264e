"""What `/events` (SSE) and `/ws` (WebSocket) share: how a client asks for a stream.

    ?topic=/queue/&topic=/core/channels/   topic prefixes, repeatable (default `/`: all)
    ?server=pbx1                           rows of one Asterisk only
    ?from=1234  (SSE also Last-Event-ID)   resume after this message id

Everything is checked before the stream starts, and whatever is malformed is answered 400 with
what is accepted: a stream that silently started "now" instead of where the client asked
(an id past the end of the log, a typo) would lose messages without anyone noticing.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable

from starlette.requests import HTTPConnection

from api.auth import token_of
from api.changes import ID_FORMS, Id, parse_id
from api.context import ApiContext
from api.envelope import ApiError
from api.grants import Grant
from api.hub import Subscription, matcher
from api.routing import Param
from api.topics import decoded
from engine.auth import Principal

MAX_TOPICS = 64  # topics one client may hold: matching costs per topic, on the hot path
MAX_TOPIC = 1024  # characters in one topic

TOPIC = Param("topic", "query", "topic prefix to receive, repeatable (default `/`: all)",
              repeated=True)
FROM = Param("from", "query", f"resume after this message id ({ID_FORMS})")
LAST_ID = Param("Last-Event-ID", "header", "resume after this message id (wins over `from`)")


class TopicError(ValueError):
    """A topic no stream can have; the message says why."""


def topic_prefix(topic: str) -> str:
    """A topic a client asked for, as it is matched: percent-decoded (`api.topics.decoded`),
    so `/queue/statuses/sales%5F1` (the seed's spelling) and `/queue/statuses/sales_1` are the
    same prefix."""
    if not topic.startswith("/") or len(topic) > MAX_TOPIC:
        raise TopicError(f"topic {topic[:40]!r}: topics start with / and have at most "
                         f"{MAX_TOPIC} characters")
    try:
        return decoded(topic)
    except UnicodeDecodeError:
        raise TopicError(f"topic {topic[:40]!r}: a %XX escape that is not UTF-8") from None


def topic_prefixes(topics: Iterable[str]) -> list[str]:
    """The `?topic=` prefixes, checked (ApiError 400), repeats removed."""
    out: list[str] = []
    for topic in topics:
        try:
            prefix = topic_prefix(topic)
        except TopicError as exc:
            raise ApiError(400, str(exc)) from None
        if prefix not in out:
            out.append(prefix)
    if len(out) > MAX_TOPICS:
        raise ApiError(400, f"at most {MAX_TOPICS} topics")
    return out


async def resume_after(ctx: ApiContext, text: str | None) -> Id | None:
    """The id a client resumes after (None: from now on), or ApiError 400 when it is not an id
    or names a position the log does not have yet (a client that counted wrong, or an id
    from another log)."""
    if text is None:
        return None
    after = parse_id(text)
    if after is None:
        raise ApiError(400, f"not a message id: {text[:40]!r}; {ID_FORMS}")
    if after[0] > ctx.hub.position:  # rare: ask the log itself, off the event loop
        try:
            last = await asyncio.to_thread(ctx.engine.store.last_position)
        except Exception:  # the database is away: say so, not 500
            raise ApiError(503, "the log cannot be read now; try again") from None
        if after[0] > last:
            raise ApiError(400, f"{text!r} is past the end of the log (last position {last}); "
                                f"{ID_FORMS}")
    return after


async def subscribe(ctx: ApiContext, conn: HTTPConnection, principal: Principal,
                    resume: str | None, prefixes: list[str], server: str | None
                    ) -> Subscription:
    """The subscription of a client let in as `principal`: to `prefixes` (`topic_prefixes`;
    none: all) after the id `resume` (checked: ApiError), until the right it was let in with
    lapses (`api/grants.py`)."""
    after = await resume_after(ctx, resume)
    grant = Grant(ctx.access, token_of(conn), principal.name)
    subscription = ctx.hub.subscribe(after, matcher(prefixes or ["/"], server), grant)
    lapsed = grant.lapsed()  # taken away while `resume_after` waited: no check would see it
    if lapsed is not None:
        subscription.close()
        raise ApiError(401, lapsed)
    return subscription
