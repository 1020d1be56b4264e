"""The timeline of a call, a channel, a command or a dialing: every related event, in log order.

Given an id (a call's `linked_id`, a channel's `unique_id`, a dialing uuid, a command id, an
ActionID), the timeline holds:
- every event that carries the id (`replay.index.keys_of`: id headers, causation and
  correlation ids, the engine's own streams `command/<id>`, `dialing/<uuid>`);
- the calls it touches, transitively: a channel belongs when it shares a linked id the timeline
  follows; a linked id is followed when a channel of the timeline carried it (a channel whose
  linked id changes, a transfer that moves it, brings the other call in). A command or dialing
  brings the channels it names (`Uniqueid` of its answers, `ChannelId`, `targets`). Channels are
  paired with linked ids only within one event's own snapshot (`DestUniqueid` with
  `DestLinkedid`, ...), and only on the server that sent them;
- every event of the bridges those channels entered (`BridgeUniqueid`), without following the
  bridges' other channels further (a conference would pull in every call).

Each event comes with its offset in seconds from the first one (Asterisk's `Timestamp`, else
`recorded_at`). The index answers which positions carry an id, so a timeline reads only its own
events, whatever the size of the log.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import IO, Any

import msgspec

from engine.envelope import Event
from engine.plural import plural
from projections.base import event_time
from replay.index import LogIndex
from replay.reader import LogReader

MAX_FOLLOWED = 500  # channels + linked ids: beyond this a timeline is not one call any more

# Headers shown in the text form, after the channel name, when the event has them.
SHOWN = ("ChannelStateDesc", "CallerIDNum", "Exten", "Application", "AppData", "DialString",
         "DialStatus", "DestChannel", "BridgeUniqueid", "Queue", "MemberName", "Interface",
         "ParkingSpace", "Cause", "Cause-txt", "Reason", "Response", "Message", "ActionID",
         "Variable", "Value")

_encoder = msgspec.json.Encoder()


@dataclass(frozen=True)
class Entry:
    offset: float  # seconds since the timeline's first event
    event: Event


@dataclass
class Timeline:
    id: str
    entries: list[Entry]
    calls: list[str]  # "<server>/<linked id>" followed
    channels: list[str]  # "<server>/<unique id>" followed
    bridges: list[str]
    truncated: bool  # MAX_FOLLOWED was reached

    @property
    def events(self) -> list[Event]:
        return [e.event for e in self.entries]


def _prefixes(event: Event) -> Iterable[tuple[str, str, str]]:
    """(prefix, unique id, linked id) of each channel snapshot in the event."""
    data = event.data
    for name, value in data.items():
        if name.endswith("Uniqueid") and not name.endswith("BridgeUniqueid") \
                and isinstance(value, str) and value:
            prefix = name[:-8]
            linked = data.get(prefix + "Linkedid")
            yield prefix, value, linked if isinstance(linked, str) else ""


def _pairs(events: Iterable[Event], server: str) -> Iterator[tuple[str, str]]:
    """(unique id, linked id) of every channel snapshot in `server`'s events that carries a
    linked id."""
    for event in events:
        if event.server == server:
            for _, uid, linked in _prefixes(event):
                if linked:
                    yield uid, linked


def _named_channels(event: Event) -> set[str]:
    """Channels a command or dialing event names: ChannelId/OtherChannelId, targets, Uniqueid."""
    out: set[str] = set()
    for name, value in event.data.items():
        if name in ("ChannelId", "OtherChannelId", "targets") or (
                name.endswith("Uniqueid") and not name.endswith("BridgeUniqueid")):
            for v in value if isinstance(value, list) else (value,):
                if isinstance(v, str) and v:
                    out.add(v)
        elif isinstance(value, dict):
            for k in ("ChannelId", "OtherChannelId"):
                v = value.get(k)
                if isinstance(v, str) and v:
                    out.add(v)
    return out


def build(ident: str, index: LogIndex, reader: LogReader) -> Timeline:
    """The timeline of `ident` (the index caught up by the caller)."""
    seen: dict[int, Event] = {}

    def fetch(key: str) -> list[Event]:
        positions = index.positions(key)
        for event in reader.at([p for p in positions if p not in seen]):
            seen[event.position] = event
        return [seen[p] for p in positions if p in seen]

    channels: set[tuple[str, str]] = set()
    calls: set[tuple[str, str]] = set()
    for event in fetch(ident):
        as_channel = False
        for _, uid, linked in _prefixes(event):
            if uid == ident:
                channels.add((event.server, uid))
                as_channel = True
            if linked == ident:
                calls.add((event.server, linked))
                as_channel = True
        if not as_channel and not _names_bridge(event, ident):
            # the id is a command's, a dialing's, an ActionID: follow the channels it names
            channels.update((event.server, uid) for uid in _named_channels(event))

    done_channels: set[tuple[str, str]] = set()
    done_calls: set[tuple[str, str]] = set()
    truncated = False
    while (channels - done_channels or calls - done_calls) and not truncated:
        for server, uid in sorted(channels - done_channels):
            done_channels.add((server, uid))
            calls.update((server, linked) for u, linked in _pairs(fetch(uid), server)
                         if u == uid)
        for server, linked in sorted(calls - done_calls):
            done_calls.add((server, linked))
            channels.update((server, u) for u, lk in _pairs(fetch(linked), server)
                            if lk == linked)
        truncated = len(channels) + len(calls) > MAX_FOLLOWED

    wanted: set[int] = set(index.positions(ident))
    bridges: set[tuple[str, str]] = set()
    for server, key in (*done_channels, *done_calls):
        for p in index.positions(key):
            event = seen.get(p)
            if event is None or event.server != server:
                continue
            if _concerns(event, key):
                wanted.add(p)
                if event.type == "BridgeEnter":
                    bridge = event.data.get("BridgeUniqueid")
                    if isinstance(bridge, str) and bridge:
                        bridges.add((server, bridge))
    for server, bridge in bridges:
        for event in fetch(bridge):
            if event.server == server:
                wanted.add(event.position)
    events = [seen[p] for p in sorted(wanted) if p in seen]
    missing = sorted(p for p in wanted if p not in seen)
    if missing:
        events = sorted([*events, *reader.at(missing)], key=lambda e: e.position)
    t0 = event_time(events[0]) if events else 0.0
    entries = [Entry(round(event_time(e) - t0, 6), e) for e in events]
    return Timeline(ident, entries, sorted(f"{s}/{k}" for s, k in done_calls),
                    sorted(f"{s}/{k}" for s, k in done_channels),
                    sorted(f"{s}/{b}" for s, b in bridges), truncated)


def _names_bridge(event: Event, key: str) -> bool:
    return any(name.endswith("BridgeUniqueid") and value == key
               for name, value in event.data.items())


def _concerns(event: Event, key: str) -> bool:
    """True unless `key` only appears in the event as something other than a channel or call
    id (an ActionID that happens to equal it, ...)."""
    for name, value in event.data.items():
        if value == key and name.endswith(("Uniqueid", "Linkedid")):
            return True
        if isinstance(value, list) and key in value and name.endswith(("Uniqueid", "Linkedid")):
            return True
    return event.causation_id == key or event.correlation_id == key


# ------------------------------------------------------------------------------ rendering

def entry_json(entry: Entry) -> dict[str, Any]:
    """An envelope with its offset first."""
    e = entry.event
    return {"offset": entry.offset, "position": e.position, "stream": e.stream,
            "version": e.version, "type": e.type, "recorded_at": e.recorded_at,
            "server": e.server, "data": e.data, "causation_id": e.causation_id,
            "correlation_id": e.correlation_id}


def write_jsonl(timeline: Timeline, out: IO[str]) -> None:
    for entry in timeline.entries:
        out.write(_encoder.encode(entry_json(entry)).decode() + "\n")


def text_line(entry: Entry) -> str:
    e = entry.event
    data = e.data
    channel = data.get("Channel") or data.get("DestChannel") or data.get("ParkeeChannel") or ""
    if isinstance(channel, list):
        channel = channel[0] if channel else ""
    fields = []
    for name in SHOWN:
        value = data.get(name)
        if value is None or value == "" or name == "DestChannel" and value == channel:
            continue
        fields.append(f"{name}={value!r}" if isinstance(value, list) else f"{name}={value}")
    return (f"{entry.offset:+10.3f}s {e.position:>9} {e.server} {e.type:<24} {channel}"
            + ("  " + " ".join(fields) if fields else "")).rstrip()


def write_text(timeline: Timeline, out: IO[str]) -> None:
    entries = timeline.entries
    if not entries:
        out.write(f"no event names {timeline.id}\n")
        return
    span = entries[-1].offset
    out.write(f"timeline of {timeline.id}: {plural(len(entries), 'event')} over {span:.3f} s, "
              "positions "
              f"{entries[0].event.position}-{entries[-1].event.position}\n")
    if timeline.calls:
        out.write(f"  calls: {', '.join(timeline.calls)}\n")
    if timeline.channels:
        out.write(f"  channels: {', '.join(timeline.channels)}\n")
    if timeline.bridges:
        out.write(f"  bridges: {', '.join(timeline.bridges)}\n")
    if timeline.truncated:
        out.write(f"  (stopped following after {MAX_FOLLOWED} channels and calls)\n")
    for entry in entries:
        out.write(text_line(entry) + "\n")
