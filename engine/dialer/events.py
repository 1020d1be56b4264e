"""The catalogue of the dialer's events: every one it appends, its stream, and what it means.

The outbound objects are event-sourced aggregates, one stream each; the process manager's
decisions go into the stream of the dial list entry they concern, so the (stream, version)
uniqueness of the log is also the lock that stops two decisions dialing one customer at once.
`CATALOGUE` is the single list the docs are generated from (`python -m engine.dialer.events`).

Data shapes: `*Created` carries the whole new object; `*Updated` carries `changes` (the fields
that changed, with their new values) and `tm_update`; `*Deleted` carries `tm_delete` (objects are
soft-deleted: `in_use` 0). Times inside data are the seed's strings (`...000Z`); `recorded_at`
is the engine clock as for every event. A decision's `causation_id` is the log position of the
event whose projection it was made on (what it saw); a dialing's events carry its uuid as
`correlation_id`, and its AMI events its ActionID and ChannelId/OtherChannelId (`Uniqueid`).
"""

from __future__ import annotations

import sys
from typing import Any

from engine.envelope import NewEvent, utc_now

# -- streams --------------------------------------------------------------------------------------
KINDS = ("plan", "destination", "dlma", "dl", "campaign", "dnc")
DIALER_STREAM = "dialer"  # the process manager's own: start markers and timer wake-ups


def stream(kind: str, uuid: str) -> str:
    return f"{kind}/{uuid}"


# -- types ----------------------------------------------------------------------------------------
PREFIX = {"plan": "Plan", "destination": "Destination", "dlma": "Dlma", "dl": "Dl",
          "campaign": "Campaign", "dnc": "Dnc"}


def created(kind: str) -> str:
    return f"{PREFIX[kind]}Created"


def updated(kind: str) -> str:
    return f"{PREFIX[kind]}Updated"


def deleted(kind: str) -> str:
    return f"{PREFIX[kind]}Deleted"


CAMPAIGN_STATUS_CHANGED = "CampaignStatusChanged"
DIALING_CREATED = "DialingCreated"
DIALING_ENDED = "DialingEnded"
DIALER_STARTED = "DialerStarted"
DIALER_WOKEN = "DialerWoken"

OBJECT_TYPES = frozenset(
    t for kind in KINDS for t in (created(kind), updated(kind), deleted(kind))
)
DIALER_TYPES = frozenset({CAMPAIGN_STATUS_CHANGED, DIALING_CREATED, DIALING_ENDED,
                          DIALER_STARTED, DIALER_WOKEN})
ALL_TYPES = OBJECT_TYPES | DIALER_TYPES

CATALOGUE: list[tuple[str, str, str]] = [
    *[(created(k), f"{k}/<uuid>", f"a {k} was created (REST POST); data: the whole object")
      for k in KINDS],
    *[(updated(k), f"{k}/<uuid>", f"a {k} was changed (REST PUT); data: changes, tm_update")
      for k in KINDS],
    *[(deleted(k), f"{k}/<uuid>", f"a {k} was soft-deleted (REST DELETE); data: tm_delete")
      for k in KINDS],
    (CAMPAIGN_STATUS_CHANGED, "campaign/<uuid>",
     "the process manager moved a campaign (5.5); data: status, previous, reason"),
    (DIALING_CREATED, "dl/<uuid>",
     "the decision to dial one customer's number, durable before the Originate leaves; data: "
     "the dialing (ids, dial info, snapshots of campaign/plan/destination/dlma/dl), the dl's "
     "changes (status 1, trycnt_N), the AMI server and session it is sent on, the Originate"),
    (DIALING_ENDED, "dl/<uuid>",
     "a dialing finished (hangup, failure, or closed by reconciliation with a reason); data: "
     "the result record (seed 5.8; `end_reason` says why when the call did not end by itself: "
     "closed by reconciliation or a deadline, hung up by the dialer or an operator) and the "
     "dl's changes (status 0, res_*, tm_last_hangup)"),
    (DIALER_STARTED, DIALER_STREAM,
     "a dialer started: decisions begin once the projections reach this marker"),
    (DIALER_WOKEN, DIALER_STREAM,
     "a timer fired (schedule boundary, retry due, dialing deadline); data: reason"),
]


def new(stream_: str, version: int, type_: str, data: dict[str, Any], *, server: str = "",
        correlation_id: str | None = None, causation_id: str | None = None,
        recorded_at: str | None = None) -> NewEvent:
    return NewEvent(stream_, version, type_, recorded_at or utc_now(), server, data,
                    causation_id, correlation_id)


def markdown() -> str:
    lines = ["| event | stream | meaning |", "|---|---|---|"]
    lines += [f"| `{t}` | `{s}` | {m} |" for t, s, m in CATALOGUE]
    return "\n".join(lines)


if __name__ == "__main__":
    sys.stdout.write(markdown() + "\n")
