"""Helpers over the real AMI captures: turn a session into positioned events for in-memory
projection, find Asterisk's recorded answer to each list action, and the oracle every
acceptance test applies: when Asterisk began to answer, the projections held exactly what it
answered (`check_answer`).

Two rules bound "exactly", and nothing else does. A row Asterisk lists that no message the
log held was about (a queue or a parking lot configured before the session began) cannot be
known yet: the answer is what tells the projections. And Asterisk answers from its live
structures while the events that led there may still be on their way (it can list a channel
whose `Newstate` is a few milliseconds behind): a row is excused when an event about that
very row arrives within `EXCUSE_WINDOW` after the answer began."""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, NamedTuple

from engine.capture import action_times, capture_events, read_lines
from engine.envelope import Event, NewEvent

# The recorded sessions the tests replay, kept in the repository (tests/ami-captures/README.md
# says how they were recorded), so a clone with nothing beside it runs the suite.
CAPTURES = Path(__file__).resolve().parent / "ami-captures"
CAPTURE_FILES = sorted(CAPTURES.glob("*.jsonl"))
# The second batch (administration, AGI, voicemail, conferences, reporting) is kept apart so
# the tests that replay "every capture" stay as they were; the acceptance suite takes both.
BATCH2_FILES = sorted((CAPTURES / "batch2").glob("*.jsonl"))
ACCEPTANCE_FILES = CAPTURE_FILES + BATCH2_FILES
SERVER = "capture"


def envelopes(path: Path, until: float | None = None) -> list[NewEvent]:
    """What a live session had logged by time `until` (every inbound message with t <= until)."""
    return list(capture_events(path, SERVER, until))


def positioned(news: Iterable[NewEvent], start: int = 1) -> list[Event]:
    """Envelopes as the log would hand them back, positions from `start`."""
    return [
        Event(start + i, n.stream, n.version, n.type, n.recorded_at, n.server, n.data,
              n.causation_id, n.correlation_id)
        for i, n in enumerate(news)
    ]


def all_capture_events() -> list[Event]:
    """Every capture, one after another, as one log (a server per file)."""
    out: list[NewEvent] = []
    for path in CAPTURE_FILES:
        out.extend(capture_events(path, path.stem))
    return positioned(out)


# ------------------------------------------------------------------------------ recorded actions

def recorded_actions(path: Path, names: tuple[str, ...]) -> list[tuple[int, str, str]]:
    """(capture line, action, ActionID) of every action of `names` the recording sent."""
    return [(index, header(line.raw, "Action"), header(line.raw, "ActionID"))
            for index, line in enumerate(read_lines(path))
            if line.dir == "out" and header(line.raw, "Action") in names]


def header(raw: str, name: str) -> str:
    """A header of a raw capture message (its first value)."""
    for row in raw.split("\r\n"):
        key, sep, value = row.partition(":")
        if sep and key == name:
            return value.strip()
    return ""


# ------------------------------------------------------------------------------ the oracle

Rows = Callable[[str], list[dict]]  # a view's rows, as a projector or an export shows them
# Every list action whose answer a projection models (the engine sends them all on connect).
CHECKED = ("CoreShowChannels", "Status", "BridgeList", "DeviceStateList", "QueueStatus",
           "QueueSummary", "ParkedCalls", "Parkinglots")
# Asterisk builds an answer from its live structures while the events that led there may still
# be on their way: a row is excused when an event about that very row arrives this soon (s)
# after the answer began. Nothing else is.
EXCUSE_WINDOW = 0.3


class Miss(NamedTuple):
    """One row on which the projections and Asterisk's answer disagree."""

    about: str  # the row: "channel <uniqueid>", "member <queue> <interface>", "queue <name>"...
    what: str


@dataclass(frozen=True)
class Answer:
    """Asterisk's recorded answer to one list action of a capture."""

    path: Path
    action: str
    headers: dict[str, str]  # the action as sent: its filters (`Queue`, `Channel`...)
    begin: int  # index in `session(path)` of the answer's first message

    @property
    def action_id(self) -> str:
        return self.headers.get("ActionID", "")

    @property
    def id(self) -> str:
        return f"{self.path.parent.name}/{self.path.stem}:{self.action_id}"

    @property
    def began(self) -> float:
        """When Asterisk began to answer (epoch seconds, the capture's wall clock)."""
        return _seconds(session(self.path)[self.begin].recorded_at)

    def before(self) -> list[Event]:
        """What the log held when Asterisk began to answer."""
        return session(self.path)[:self.begin]

    def items(self) -> list[dict]:
        """The answer's items, its `...Complete` last."""
        return [e.data for e in session(self.path)[self.begin:]
                if e.type != "Response" and e.data.get("ActionID") == self.action_id]

    def heard_of(self) -> set[str]:
        """The rows a message the log held when the answer began was about: a row no message
        was about (a queue, a parking lot, a holding bridge that existed before the log
        began) cannot be in the projections yet; the answer is what tells them."""
        return heard_of(self.before())

    def excused(self) -> set[str]:
        """The rows an event is about that arrives within EXCUSE_WINDOW after the answer
        began (an item of this or another list answer is not such an event)."""
        events = session(self.path)
        lists = {e.header("ActionID") for e in events
                 if e.type == "Response" and e.data.get("EventList") == "start"}
        start, out = self.began, set()
        for event in events[self.begin + 1:]:
            if _seconds(event.recorded_at) - start > EXCUSE_WINDOW:
                break
            if event.header("ActionID") not in lists:
                out |= about(event.data)
        return out


@functools.cache
def session(path: Path) -> list[Event]:
    """Every inbound message of a capture, positioned from 1 (cached: read-only)."""
    return positioned(capture_events(path, SERVER))


def answers(path: Path, names: Iterable[str] = CHECKED) -> list[Answer]:
    """Asterisk's answer to every list action of `names` the capture sent (none is
    unanswered: a capture whose answer is missing fails here)."""
    wanted = set(names)
    events = session(path)
    begins: dict[str, int] = {}
    for index, event in enumerate(events):
        begins.setdefault(event.header("ActionID"), index)
    return [Answer(path, headers["Action"], headers, begins[headers.get("ActionID", "")])
            for _, headers in action_times(path) if headers.get("Action") in wanted]


def all_answers(names: Iterable[str] = CHECKED,
                files: Iterable[Path] = ACCEPTANCE_FILES) -> list[Answer]:
    names = tuple(names)
    return [answer for path in files for answer in answers(path, names)]


def about(data: dict) -> set[str]:
    """The rows a message is about: the channels (`*Uniqueid`), bridges (`*BridgeUniqueid`),
    device, queue, queue member and parking lot it names."""
    out: set[str] = set()
    for header, value in data.items():
        if not isinstance(value, str) or not value:
            continue
        if header.endswith("BridgeUniqueid"):
            out.add(f"bridge {value}")
        elif header.endswith("Uniqueid"):
            out.add(f"channel {value}")
    if isinstance(device := data.get("Device"), str):
        out.add(f"device {device}")
    if isinstance(queue := data.get("Queue"), str):
        out.add(f"queue {queue}")
        interface = data.get("Interface") or data.get("Location")
        if isinstance(interface, str):
            out.add(f"member {queue} {interface}")
    if data.get("Event") == "Parkinglot" and isinstance(lot := data.get("Name"), str):
        out.add(f"lot {lot}")  # only a lot's own item describes it (ParkedCall names it too)
    return out


def heard_of(events: Iterable[Event]) -> set[str]:
    """The rows (`about`) any of `events` was about."""
    out: set[str] = set()
    for event in events:
        out |= about(event.data)
    return out


def misses(answer: Answer, rows: Rows, known: set[str], tolerance: float = 1) -> list[Miss]:
    """Where the projections' rows (`rows(view)`, taken at the answer's time) and Asterisk's
    answer disagree; a listed row the projections lack is a miss only if the log they read
    had heard of it (`known`); ages and waits may be `tolerance` seconds apart (the two
    clocks tick apart)."""
    return _CHECKS[answer.action](answer, answer.items(), rows, known, tolerance)


def check_answer(answer: Answer, rows: Rows, known: set[str] | None = None,
                 unchecked: tuple[str, ...] = (), tolerance: float = 1) -> None:
    """Assert the projections hold exactly what Asterisk answered, but for rows an event was
    about to change (`Answer.excused`). `known`: the rows the log the projections read had
    heard of (`heard_of`); by default what the capture held when the answer began.
    `unchecked` (kinds of rows, "queue") and `tolerance` (seconds): what a test cannot hold
    to the answer, and says why."""
    if known is None:
        known = answer.heard_of()
    excused = answer.excused()
    wrong = [miss for miss in misses(answer, rows, known, tolerance)
             if miss.about not in excused and miss.about.split(" ", 1)[0] not in unchecked]
    assert not wrong, "\n".join(f"{miss.about}: {miss.what}" for miss in wrong)


def _seconds(recorded_at: str) -> float:
    return datetime.fromisoformat(recorded_at).timestamp()


def _compare(kind: str, listed: dict[str, Any], have: dict[str, Any],
             known: set[str]) -> list[Miss]:
    """A Miss for every `"<kind> <key>"` whose listed value differs from the projection's,
    or that one of them lacks; but a listed row the projection lacks and the log never heard
    of (not in `known`) is not expected of it."""
    out: list[Miss] = []
    for key in sorted(listed.keys() | have.keys()):
        row = f"{kind} {key}"
        if listed.get(key) != have.get(key) and (key in have or row in known):
            out.append(Miss(row, f"Asterisk lists {listed.get(key)!r}, the projection "
                                 f"holds {have.get(key)!r}"))
    return out


# (header of the item, field of the row): all a `CoreShowChannel` says of a channel
_CHANNEL_FIELDS = (("Channel", "channel"), ("ChannelStateDesc", "channel_state_desc"),
                   ("CallerIDNum", "caller_id_num"), ("CallerIDName", "caller_id_name"),
                   ("ConnectedLineNum", "connected_line_num"),
                   ("ConnectedLineName", "connected_line_name"), ("Language", "language"),
                   ("AccountCode", "account_code"), ("Context", "context"), ("Exten", "exten"),
                   ("Priority", "priority"), ("Linkedid", "linked_id"),
                   ("Application", "application"))


def _channel(item: dict, data: str, bridge: str, age: int) -> tuple:
    """What a `CoreShowChannel` or `Status` item says of a channel, as a row holds it: its
    snapshot, application data, bridge (None when in none) and age in seconds."""
    return (*(item[h] for h, _ in _CHANNEL_FIELDS), int(item["ChannelState"]), item[data],
            item[bridge] or None, age)


def _hms(duration: str) -> int:
    hours, minutes, seconds = (int(part) for part in duration.split(":"))
    return (hours * 60 + minutes) * 60 + seconds


def _channel_row(row: dict, age: int) -> tuple:
    return (*(row[f] for _, f in _CHANNEL_FIELDS), row["channel_state"],
            row["application_data"], row["bridge_id"], age)


def _ages(listed: dict[str, tuple], rows: list[dict], tolerance: float) -> dict[str, int]:
    """Each row's `duration`, or the listed age when within `tolerance`."""
    return {row["unique_id"]: _second(row["duration"], listed.get(row["unique_id"],
                                                                  (None,))[-1], tolerance)
            for row in rows}


def _channels(answer: Answer, items: list[dict], rows: Rows, known: set[str],
              tolerance: float) -> list[Miss]:
    """`CoreShowChannels`: every channel, all the item says of it (its snapshot, application,
    bridge, age), nothing more."""
    listed = {i["Uniqueid"]: _channel(i, "ApplicationData", "BridgeId",
                                      _hms(i["Duration"]))
              for i in items if i["Event"] == "CoreShowChannel"}
    have = rows("channels")
    ages = _ages(listed, have, tolerance)
    return _compare("channel", listed,
                    {r["unique_id"]: _channel_row(r, ages[r["unique_id"]]) for r in have}, known)


def _status(answer: Answer, items: list[dict], rows: Rows, known: set[str],
            tolerance: float) -> list[Miss]:
    """`Status`: the same, of every channel or of the one its `Channel:` names."""
    only = answer.headers.get("Channel")
    listed = {i["Uniqueid"]: _channel(i, "Data", "BridgeID", int(i["Seconds"]))
              for i in items if i["Event"] == "Status"}
    have = [r for r in rows("channels") if only is None or r["channel"] == only]
    ages = _ages(listed, have, tolerance)
    return _compare("channel", listed,
                    {r["unique_id"]: _channel_row(r, ages[r["unique_id"]]) for r in have}, known)


_BRIDGE_FIELDS = (("BridgeType", "bridge_type"), ("BridgeTechnology", "bridge_technology"),
                  ("BridgeCreator", "bridge_creator"), ("BridgeName", "bridge_name"),
                  ("BridgeVideoSourceMode", "bridge_video_source_mode"))


def _bridges(answer: Answer, items: list[dict], rows: Rows, known: set[str],
             tolerance: float) -> list[Miss]:
    """`BridgeList`: every bridge (of the `BridgeType:` asked), all the item says of it: type,
    technology, creator, name, video mode and how many channels it holds."""
    only = answer.headers.get("BridgeType")
    return _compare(
        "bridge",
        {i["BridgeUniqueid"]: (*(i[h] for h, _ in _BRIDGE_FIELDS), int(i["BridgeNumChannels"]))
         for i in items if i["Event"] == "BridgeListItem"},
        {r["bridge_id"]: (*(r[f] for _, f in _BRIDGE_FIELDS), r["bridge_num_channels"])
         for r in rows("bridges") if only is None or r["bridge_type"] == only}, known)


def _device_states(answer: Answer, items: list[dict], rows: Rows,
                   known: set[str], tolerance: float) -> list[Miss]:
    """`DeviceStateList` is Asterisk's device-state cache: the cached rows are exactly the
    listed devices, in the listed state; no row is a device the log never heard of."""
    have = rows("device-states")
    out = _compare("device", {i["Device"]: i["State"] for i in items
                              if i["Event"] == "DeviceStateChange"},
                   {r["device"]: r["state"] for r in have if r["cached"]}, known)
    return out + [Miss(f"device {r['device']}", "a row for a device the log never heard of")
                  for r in have if f"device {r['device']}" not in known]


# (header of the answer's item, field of the row, type)
_PARAMS_FIELDS = (("Strategy", "strategy", str), ("Max", "max", int), ("Calls", "calls", int),
                  ("Holdtime", "hold_time", int), ("TalkTime", "talk_time", int),
                  ("Completed", "completed", int), ("Abandoned", "abandoned", int),
                  ("ServiceLevel", "service_level", int), ("Weight", "weight", int))
_MEMBER_FIELDS = (("Name", "name", str), ("StateInterface", "state_interface", str),
                  ("Membership", "membership", str), ("Penalty", "penalty", int),
                  ("CallsTaken", "calls_taken", int), ("InCall", "in_call", int),
                  ("Status", "status", int), ("Paused", "paused", int),
                  ("PausedReason", "paused_reason", str), ("Wrapuptime", "wrapuptime", int),
                  ("LastCall", "last_call", int), ("LastPause", "last_pause", int),
                  ("LoginTime", "login_time", int))


def _values(item: dict, fields: tuple, row: dict | None = None) -> tuple:
    """An item's values of `fields`; None where the projection's `row` holds None: a
    counter nobody told it yet, about which it claims nothing."""
    return tuple(None if row is not None and row[field] is None else kind(item[header])
                 for header, field, kind in fields)


def _fields(row: dict, fields: tuple) -> tuple:
    return tuple(row[field] for _, field, _ in fields)


def _queue_status(answer: Answer, items: list[dict], rows: Rows,
                  known: set[str], tolerance: float) -> list[Miss]:
    """`QueueStatus`: the queues (all, or the one its `Queue:` names), their parameters and
    counters; in the queues it lists, every member (each field the item has) and every
    waiting caller (queue, position, channel, caller ids, seconds waited), nothing more."""
    only = answer.headers.get("Queue")
    queues = {r["name"]: r for r in rows("queues") if only is None or r["name"] == only}
    params = [i for i in items if i["Event"] == "QueueParams"]
    covered = {i["Queue"] for i in params}
    out = _compare("queue", {i["Queue"]: _values(i, _PARAMS_FIELDS, queues.get(i["Queue"]))
                             for i in params},
                   {name: _fields(row, _PARAMS_FIELDS) for name, row in queues.items()}, known)
    out += _compare(
        "member",
        {f"{i['Queue']} {i['Location']}": _values(i, _MEMBER_FIELDS)
         for i in items if i["Event"] == "QueueMember"},
        {f"{m['queue_name']} {m['location']}": _fields(m, _MEMBER_FIELDS)
         for m in rows("queue-members") if m["queue_name"] in covered}, known)
    entries = {i["Uniqueid"]: (i["Queue"], int(i["Position"]),
                               *(_caller_id(i[h]) for h, _ in _ENTRY_FIELDS), int(i["Wait"]))
               for i in items if i["Event"] == "QueueEntry"}
    return out + _compare("channel", entries, {
        e["unique_id"]: (e["queue_name"], e["position"], *(e[f] for _, f in _ENTRY_FIELDS),
                         _second(e["wait"], entries.get(e["unique_id"], (None,))[-1],
                                 tolerance))
        for e in rows("queue-entries") if e["queue_name"] in covered}, known)


_ENTRY_FIELDS = (("Channel", "channel"), ("CallerIDNum", "caller_id_num"),
                 ("CallerIDName", "caller_id_name"), ("ConnectedLineNum", "connected_line_num"),
                 ("ConnectedLineName", "connected_line_name"))


def _caller_id(value: str) -> str:
    """`QueueStatus` prints `unknown` where every event says `<unknown>`."""
    return "<unknown>" if value == "unknown" else value


def _queue_summary(answer: Answer, items: list[dict], rows: Rows,
                   known: set[str], tolerance: float) -> list[Miss]:
    """`QueueSummary`: the queues (all, or the one its `Queue:` names); in each, the members
    logged in (neither unavailable nor invalid) and available (not in use, not paused), the
    callers waiting and the longest wait, the average hold and talk times the projection
    knows."""
    only = answer.headers.get("Queue")
    members: dict[str, list[dict]] = {}
    for m in rows("queue-members"):
        members.setdefault(m["queue_name"], []).append(m)
    waits: dict[str, list[int]] = {}
    for e in rows("queue-entries"):
        waits.setdefault(e["queue_name"], []).append(e["wait"])
    listed = {i["Queue"]: i for i in items if i["Event"] == "QueueSummary"}
    have: dict[str, tuple] = {}
    for q in rows("queues"):
        if only is not None and q["name"] != only:
            continue
        logged_in = [m for m in members.get(q["name"], []) if m["status"] not in (4, 5)]
        free = [m for m in logged_in if m["status"] in (0, 1) and not m["paused"]]
        item = listed.get(q["name"])
        longest = _second(max(waits.get(q["name"], []), default=0),
                          None if item is None else int(item["LongestHoldTime"]), tolerance)
        have[q["name"]] = (len(logged_in), len(free), len(waits.get(q["name"], [])), longest,
                           q["hold_time"], q["talk_time"])
    summary = (("LoggedIn", "logged_in", int), ("Available", "available", int),
               ("Callers", "callers", int), ("LongestHoldTime", "longest", int),
               ("HoldTime", "hold_time", int), ("TalkTime", "talk_time", int))
    return _compare("queue", {
        name: _values(i, summary, dict(zip([f for _, f, _ in summary], have[name],
                                           strict=True)) if name in have else None)
        for name, i in listed.items()}, have, known)


_PARKED_FIELDS = tuple((f"Parkee{h}", f"parkee_{f}") for h, f in (
    ("Channel", "channel"), ("ChannelState", "channel_state"),
    ("ChannelStateDesc", "channel_state_desc"), ("CallerIDNum", "caller_id_num"),
    ("CallerIDName", "caller_id_name"), ("ConnectedLineNum", "connected_line_num"),
    ("ConnectedLineName", "connected_line_name"), ("AccountCode", "account_code"),
    ("Context", "context"), ("Exten", "exten"), ("Priority", "priority"),
    ("Linkedid", "linked_id"))) + (("ParkerDialString", "parker_dial_string"),
                                    ("Parkinglot", "parking_lot"),
                                    ("ParkingSpace", "parking_space"))


def _parked_calls(answer: Answer, items: list[dict], rows: Rows,
                  known: set[str], tolerance: float) -> list[Miss]:
    """`ParkedCalls`: every parked call (of the `ParkingLot:` asked), all the item says of it:
    the parkee's snapshot, who parked it, lot and space, seconds parked and left."""
    only = answer.headers.get("ParkingLot")
    listed = {i["ParkeeUniqueid"]: (*(i[h] for h, _ in _PARKED_FIELDS),
                                    int(i["ParkingDuration"]), int(i["ParkingTimeout"]))
              for i in items if i["Event"] == "ParkedCall"}
    have = {}
    for call in rows("parked-calls"):
        if only is not None and call["parking_lot"] != only:
            continue
        item = listed.get(call["parkee_unique_id"], (None,) * (len(_PARKED_FIELDS) + 2))
        have[call["parkee_unique_id"]] = (
            *(call[f] for _, f in _PARKED_FIELDS),
            _second(call["parking_duration"], item[-2], tolerance),
            _second(call["parking_timeout"], item[-1], tolerance))
    return _compare("channel", listed, have, known)


def _second(value: int | None, listed: int | None, tolerance: float) -> int | None:
    """A number of seconds `value`, or the listed one when they are `tolerance` apart."""
    if value is None or listed is None:
        return value
    return listed if abs(listed - value) <= tolerance else value


def _parking_lots(answer: Answer, items: list[dict], rows: Rows,
                  known: set[str], tolerance: float) -> list[Miss]:
    """`Parkinglots`: every lot, its spaces and timeout."""
    return _compare(
        "lot",
        {i["Name"]: (i["StartSpace"], i["StopSpace"], int(i["Timeout"]))
         for i in items if i["Event"] == "Parkinglot"},
        {lot["name"]: (lot["start_space"], lot["stop_space"], lot["timeout"])
         for lot in rows("parking-lots")}, known)


_CHECKS: dict[str, Callable[[Answer, list[dict], Rows, set[str], float], list[Miss]]] = {
    "CoreShowChannels": _channels, "Status": _status, "BridgeList": _bridges,
    "DeviceStateList": _device_states, "QueueStatus": _queue_status,
    "QueueSummary": _queue_summary, "ParkedCalls": _parked_calls,
    "Parkinglots": _parking_lots,
}
# The view each list action is checked against (besides the queue views QueueStatus and
# QueueSummary both read).
VIEWS: dict[str, tuple[str, ...]] = {
    "CoreShowChannels": ("channels",), "Status": ("channels",), "BridgeList": ("bridges",),
    "DeviceStateList": ("device-states",),
    "QueueStatus": ("queues", "queue-members", "queue-entries"),
    "QueueSummary": ("queues", "queue-members", "queue-entries"),
    "ParkedCalls": ("parked-calls",), "Parkinglots": ("parking-lots",),
}
