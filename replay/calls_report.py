"""The calls report: one row per call, for an analyst to open in a spreadsheet or load as a table.

`switchboard export calls-report --format csv -o calls.csv` (or jsonl, parquet). Unlike the
`calls` view, which holds the live calls and the most recent ended ones, the report covers every
call in the log, because it is a fold over the log that hands each call out when it is over and
forgets it: memory holds the calls in flight (and a short window of ended ones, `WINDOW`, in case
a late leg rejoins one), whatever the length of the log. Rows come out in the order calls ended;
calls still in progress at the end (or at `--at`) come last, with no `end`.

The call logic is the `calls` projection's own (`projections.calls`: legs by linked id,
outcome, cause, wait and talk time), so the report and the view never disagree; the report adds
who called whom and which agent took it.

| column | type | meaning |
|---|---|---|
| `server` | str | the Asterisk the call was on |
| `linked_id` | str | the call's id (`switchboard replay timeline <linked_id>` shows every event) |
| `start` | str | first leg created, UTC ISO 8601 |
| `answer` | str | first leg answered (state Up), or empty |
| `end` | str | last leg hung up, or empty while in progress |
| `caller_num`, `caller_name` | str | caller ID of the first leg (the latest one it had) |
| `dialed` | str | the extension the first leg was created for |
| `callee_num`, `callee_name` | str | the party the first leg was last connected to |
| `queue` | str | the queue the call waited in, if any |
| `agent`, `agent_interface` | str | the queue member that took the call (`AgentConnect`) |
| `outcome` | str | as in the `calls` view (answered, abandoned, busy, no_answer, ...) |
| `cause`, `cause_desc` | int, str | the Q.850 hangup cause that explains the outcome |
| `dial_status` | str | the last `DialEnd` status (ANSWER, BUSY, NOANSWER, ...) |
| `wait_seconds` | float | start to answer (a queue call: to the agent's pickup) |
| `talk_seconds` | float | answer (pickup) to end |
| `duration_seconds` | float | start to end |
| `legs` | int | channels the call had |
| `channels` | json | their names |
| `hangup_reason` | str | why a leg was closed without a Hangup (vanished from a channel list) |
| `first_position`, `last_position` | int | the call's first and last event in the log |
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from engine.envelope import Event
from projections import calls
from projections.base import Row

NAME = "calls-report"
WINDOW = 1000  # ended calls kept before they are written: a late leg can still rejoin them
UNKNOWN = ("", "<unknown>")

COLUMNS: dict[str, str] = {
    "server": "str", "linked_id": "str", "start": "str", "answer": "str", "end": "str",
    "caller_num": "str", "caller_name": "str", "dialed": "str", "callee_num": "str",
    "callee_name": "str", "queue": "str", "agent": "str", "agent_interface": "str",
    "outcome": "str", "cause": "int", "cause_desc": "str", "dial_status": "str",
    "wait_seconds": "float", "talk_seconds": "float", "duration_seconds": "float",
    "legs": "int", "channels": "json", "hangup_reason": "str", "first_position": "int",
    "last_position": "int",
}

PARTY_TYPES = frozenset({"Newchannel", "NewCallerid", "Hangup", "AgentConnect"})
EVENT_TYPES = frozenset(calls.EVENT_TYPES) | PARTY_TYPES  # what the report reads
ENDING = frozenset({"Hangup", "CoreShowChannelsComplete"})


def _text(data: dict, name: str) -> str | None:
    value = data.get(name)
    if isinstance(value, list):
        value = value[0] if value else None
    return value if isinstance(value, str) and value not in UNKNOWN else None


class CallsReport:
    """Feed it the log's events in order; it returns the rows of the calls that ended."""

    def __init__(self, window: int = WINDOW) -> None:
        self.state = calls.initial()
        self.parties: dict[str, dict] = {}  # call key -> the columns calls does not keep
        self.window = window

    def _party(self, key: str, event: Event) -> dict:
        party = self.parties.get(key)
        if party is None:
            party = self.parties[key] = {
                "caller_num": None, "caller_name": None, "dialed": None, "callee_num": None,
                "callee_name": None, "agent": None, "agent_interface": None,
                "first_position": event.position, "last_position": event.position,
            }
        party["last_position"] = event.position
        return party

    def feed(self, event: Event) -> list[Row]:
        state = self.state
        if event.type in calls.EVENT_TYPES:
            calls.apply(state, event)
        data = event.data
        uid = data.get("Uniqueid")
        key = state["legs"].get(f"{event.server}/{uid}") if isinstance(uid, str) else None
        if key is None and event.type == "Hangup":
            key = f"{event.server}/{data.get('Linkedid')}"  # the leg is gone from `legs`
            if key not in state["calls"]:
                key = None
        if key is not None:
            party = self._party(key, event)
            first_leg = uid == state["calls"][key]["linked_id"]
            if first_leg and event.type in ("Newchannel", "NewCallerid", "Hangup"):
                party["caller_num"] = _text(data, "CallerIDNum") or party["caller_num"]
                party["caller_name"] = _text(data, "CallerIDName") or party["caller_name"]
            if first_leg and event.type == "Newchannel":
                party["dialed"] = _text(data, "Exten")
            if first_leg and event.type == "Hangup":
                party["callee_num"] = _text(data, "ConnectedLineNum")
                party["callee_name"] = _text(data, "ConnectedLineName")
            if event.type == "AgentConnect" and party["agent"] is None:
                party["agent"] = _text(data, "MemberName")
                party["agent_interface"] = _text(data, "Interface")
        if event.type in ENDING and len(state["ended"]) > self.window:
            return self._emit(len(state["ended"]) - self.window)
        return []

    def _emit(self, count: int) -> list[Row]:
        ended = self.state["ended"]
        keys = [k for _, k in zip(range(count), ended, strict=False)]
        return [self._row(k, None) for k in keys]

    def _row(self, key: str, now: float | None) -> Row:
        state = self.state
        call = state["calls"].pop(key)
        state["ended"].pop(key, None)
        for uid in call["legs"]:
            state["legs"].pop(f"{call['server']}/{uid}", None)
        party = self.parties.pop(key, None) or {}
        row = calls.call_row(call, now)
        return {
            "server": row["server"], "linked_id": row["linked_id"], "start": row["start"],
            "answer": row["answer"], "end": row["end"],
            "caller_num": party.get("caller_num"), "caller_name": party.get("caller_name"),
            "dialed": party.get("dialed"), "callee_num": party.get("callee_num"),
            "callee_name": party.get("callee_name"), "queue": row["queue"],
            "agent": party.get("agent"), "agent_interface": party.get("agent_interface"),
            "outcome": row["outcome"], "cause": row["cause"], "cause_desc": row["cause_desc"],
            "dial_status": row["dial_status"], "wait_seconds": row["wait_time"],
            "talk_seconds": row["talk_time"], "duration_seconds": row["duration"],
            "legs": row["legs"], "channels": row["channels"],
            "hangup_reason": row["hangup_reason"],
            "first_position": party.get("first_position"),
            "last_position": party.get("last_position"),
        }

    def finish(self, now: float | None) -> list[Row]:
        """The ended calls still held, then the calls in progress (as of `now`)."""
        out = self._emit(len(self.state["ended"]))
        live = sorted(self.state["calls"].values(),
                      key=lambda c: (c["start"], c["server"], c["linked_id"]))
        out += [self._row(f"{c['server']}/{c['linked_id']}", now) for c in live]
        return out


def report_rows(chunks: Iterable[list[Event]], now: float | None = None,
                window: int = WINDOW) -> Iterator[Row]:
    """Rows of every call in the events (chunks in log order), as each one is over."""
    report = CallsReport(window)
    for chunk in chunks:
        for event in chunk:
            yield from report.feed(event)
    yield from report.finish(now)
