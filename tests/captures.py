"""Helpers over the real AMI captures: cut a session where an action was sent, find Asterisk's
recorded answer to it, turn envelopes into positioned events for in-memory projection, and the
oracle every acceptance test applies: the projections must hold exactly what Asterisk answered."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from engine.capture import action_times, capture_events, read_lines
from engine.envelope import Event, NewEvent

# The recorded sessions the tests replay, kept in the repository (tests/ami-captures/README.md
# says how they were recorded), so a clone with nothing beside it runs the suite.
CAPTURES = Path(__file__).resolve().parent / "ami-captures"
CAPTURE_FILES = sorted(CAPTURES.glob("*.jsonl"))
SERVER = "capture"


@dataclass(frozen=True)
class ListAction:
    path: Path
    t: float
    action: str
    action_id: str

    @property
    def id(self) -> str:
        return f"{self.path.stem}:{self.action_id}"


def list_actions(path: Path, names: Iterable[str]) -> list[ListAction]:
    wanted = set(names)
    return [
        ListAction(path, t, headers["Action"], headers.get("ActionID", ""))
        for t, headers in action_times(path)
        if headers.get("Action") in wanted
    ]


def all_list_actions(names: Iterable[str]) -> list[ListAction]:
    names = list(names)
    return [a for path in CAPTURE_FILES for a in list_actions(path, names)]


def envelopes(path: Path, until: float | None = None) -> list[NewEvent]:
    """What a live session had logged by time `until` (every inbound message with t <= until)."""
    return list(capture_events(path, SERVER, until))


def answer(path: Path, action_id: str, item_type: str) -> list[dict]:
    """The items of Asterisk's recorded answer to one action (events carrying its ActionID)."""
    return [
        e.data for e in capture_events(path, SERVER)
        if e.type == item_type and e.data.get("ActionID") == action_id
    ]


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
CHECKED = ("CoreShowChannels", "DeviceStateList", "QueueStatus", "ParkedCalls")


def answer_items(path: Path, action_id: str) -> list[dict]:
    """Every item of Asterisk's recorded answer to one action, its `...Complete` last."""
    return [e.data for e in capture_events(path, SERVER)
            if e.type != "Response" and e.data.get("ActionID") == action_id]


def check_answer(action: str, items: list[dict], rows: Rows, heard_of: set[str]) -> None:
    """Assert the projections hold exactly what Asterisk answered to `action` (`items`, from
    `answer_items`). `heard_of`: the devices the log had a `DeviceStateChange` of by then."""
    _CHECKS[action](items, rows, heard_of)


def _channels(items: list[dict], rows: Rows, heard_of: set[str]) -> None:
    """The (channel, channel_state) of every `CoreShowChannel` item, nothing more, nothing
    less, with the same Uniqueids."""
    listed = [i for i in items if i["Event"] == "CoreShowChannel"]
    have = rows("channels")
    assert sorted((r["channel"], r["channel_state"]) for r in have) == sorted(
        (i["Channel"], int(i["ChannelState"])) for i in listed)
    assert {r["unique_id"] for r in have} == {i["Uniqueid"] for i in listed}


def _device_states(items: list[dict], rows: Rows, heard_of: set[str]) -> None:
    """Asterisk lists its device-state cache: the cached rows are exactly the listed devices
    the log had heard of, in the listed state; no row is a device never heard of."""
    listed = [i for i in items if i["Event"] == "DeviceStateChange"]
    have = rows("device-states")
    assert sorted((r["device"], r["state"]) for r in have if r["cached"]) == sorted(
        (i["Device"], i["State"]) for i in listed if i["Device"] in heard_of)
    assert {r["device"] for r in have} <= heard_of


def _queue_status(items: list[dict], rows: Rows, heard_of: set[str]) -> None:
    """In the queues the answer covers: members (location, paused, status) and callers
    (channel, position) exactly; the counters the projection claims to know agree."""
    covered = {i["Queue"] for i in items if i["Event"] == "QueueParams"}
    members = {(m["queue_name"], m["location"], m["paused"], m["status"])
               for m in rows("queue-members") if m["queue_name"] in covered}
    assert members == {(i["Queue"], i["Location"], int(i["Paused"]), int(i["Status"]))
                       for i in items if i["Event"] == "QueueMember"}
    entries = {(e["queue_name"], e["channel"], e["position"])
               for e in rows("queue-entries") if e["queue_name"] in covered}
    assert entries == {(i["Queue"], i["Channel"], int(i["Position"]))
                       for i in items if i["Event"] == "QueueEntry"}
    queues = {q["name"]: q for q in rows("queues")}
    for params in (i for i in items if i["Event"] == "QueueParams"):
        row = queues.get(params["Queue"])
        if row is None:
            continue
        for field, header in (("calls", "Calls"), ("completed", "Completed"),
                              ("abandoned", "Abandoned")):
            if row[field] is not None:  # None: not known yet
                assert row[field] == int(params[header]), (row["name"], field)


def _parked_calls(items: list[dict], rows: Rows, heard_of: set[str]) -> None:
    """The (channel, space, lot) of every parked call listed, nothing more."""
    assert {(c["parkee_channel"], c["parking_space"], c["parking_lot"])
            for c in rows("parked-calls")} == {
        (i["ParkeeChannel"], i["ParkingSpace"], i["Parkinglot"])
        for i in items if i["Event"] == "ParkedCall"}


_CHECKS: dict[str, Callable[[list[dict], Rows, set[str]], None]] = {
    "CoreShowChannels": _channels, "DeviceStateList": _device_states,
    "QueueStatus": _queue_status, "ParkedCalls": _parked_calls,
}
