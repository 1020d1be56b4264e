"""The catalogue of change messages: every event name the streams emit, its topic and payload.

One `Kind` per kind of row a client can follow. The names follow the seed
(`<group>.<object>.<create|update|delete>`, seed-reference.md §4) and so do the topics
(`/core/channels/<caller_id_name>`, `/queue/statuses/<queue>`, `/park/parkinglots/<lot>`);
kinds the seed does not document use the names the jade source publishes (`sip.peer.*`,
`pjsip.endpoint.*`) or the same pattern over our REST paths (`core.call.*` on `/calls/`).
The payload of a message is the row exactly as the REST endpoint serves it, computed at the
time of the event that changed it.

How a kind finds what an event changed (`api/changes.py` does the diffing):
- `scope`: rows are grouped in scopes (a channel, a queue with its members and callers, a
  parking space); an event names the scopes it may have changed (`candidates`), and only those
  are rendered and compared with what was last sent, so a busy server costs per event, not per
  row. `candidates` None: the whole view is compared (small views: lots, peers, systems).
- `bulk`: event types after which the whole view is compared anyway (the end of a list
  answer, which may close rows no event names): the rows of that event's server only, when
  the kind can list them (`server_scopes`).
- `triggers`: the event types that can change the kind at all (None: any).

`python -m api.topics` prints the table for the README.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, unquote

from engine.commands import REQUESTED, STREAM_PREFIX, command_of
from engine.configs import HIDDEN, file_of
from engine.dialplans.objects import OBJECT_TYPES as DP_TYPES
from engine.envelope import RESPONSE, Event
from engine.redact import redact_settings
from projections import (
    agents,
    agis,
    bridges,
    calls,
    modules,
    peers,
    pending,
    systems,
    voicemail,
)
from projections.base import Row

Rendered = dict[str, dict[str, Row]]  # scope -> row key -> row
Render = Callable[[dict, "set[str] | None", float], Rendered]
Candidates = Callable[[Event, dict, "KindCache"], Iterable[str]]


class KindCache:
    """What was last sent for one kind: scope -> row key -> row (volatile fields left out),
    for kinds that need it an index from a row field to its scope, and for kinds whose rows
    are `held` the projection's record behind each row sent."""

    __slots__ = ("scopes", "index", "held")

    def __init__(self) -> None:
        self.scopes: dict[str, dict[str, Row]] = {}
        self.index: dict[str, str] = {}
        self.held: dict[str, dict] = {}  # row key -> the projection's record for it


@dataclass(frozen=True)
class Held:
    """Rows whose record leaves the projection's state with them (a caller leaving its queue, a
    parked call ending) and whose clock fields (`volatile`) are not kept in what was sent: the
    deriver holds each sent row's record, so that the `delete` carries the row as it ended,
    its clock fields computed at the time of the event that removed it, as REST would have
    served it then (seed 004's deletes carry `wait`, `parking_duration`, `parking_timeout`)."""

    record: Callable[[dict, Row], dict | None]  # the record behind a row, while in the state
    render: Callable[[dict, float], Row]  # a held record's row at a time


@dataclass(frozen=True)
class Kind:
    name: str  # "core.channel": messages are "<name>.create|update|delete"
    projection: str  # whose state it reads
    view: str  # the view whose rows are the payloads
    topic: str  # "/core/channels/{caller_id_name}": the row field gives the target
    render: Render
    candidates: Candidates | None
    triggers: frozenset[str] | None
    bulk: frozenset[str] = frozenset()
    creates: bool = True  # False: a new row is announced as "update" (the seed's queue.*)
    ends: str = "delete"  # message name when a row leaves the view ("update": commands)
    volatile: tuple[str, ...] = ()  # fields that move with the clock: not a change by themselves
    final: Callable[[dict, str, float], Row | None] | None = None  # the row as it ended
    index_field: str | None = None  # row field indexed to find its scope (agents: unique_id)
    seed_index: Callable[[dict], dict[str, str]] | None = None  # an index kept by `candidates`
    # the scopes of one server's rows: a `bulk` event (from one server) compares only those
    server_scopes: Callable[[dict, str], Iterable[str]] | None = None
    held: Held | None = None  # the rows' records, for a delete with its clock fields
    doc: str = ""

    def topic_of(self, row: Row) -> tuple[str, str]:
        """The row's topic, its target percent-encoded (seed 004: "URI encoded"), and the same
        topic `decoded` (what subscriptions match), without decoding what was just encoded."""
        field = self.topic[self.topic.index("{") + 1 : -1]
        value = row.get(field)
        head, target = self.topic[: self.topic.index("{")], "" if value is None else str(value)
        return head + quote(target, safe=""), head + target


def decoded(topic: str) -> str:
    """A topic as it is matched: percent-decoded once (UnicodeDecodeError if an escape is not
    UTF-8). The seed encodes every byte but letters and digits (`/queue/statuses/sales%5F1`),
    `topic_of` leaves `_.-~` alone (`sales_1`), and a client may type either: decoded, they
    are one topic, so both spellings (and any mix) subscribe to the same messages."""
    return unquote(topic, errors="strict")


# ------------------------------------------------------------------------------ rendering

def _group(rows: Iterable[Row], scope: Callable[[Row], str], key: Callable[[Row], str]
           ) -> Rendered:
    out: Rendered = {}
    for row in rows:
        out.setdefault(scope(row), {})[key(row)] = row
    return out


def keyed(view: Callable[[dict, float], list[Row]], container: str,
          key: Callable[[Row], str], present: Callable[[Row], bool] | None = None) -> Render:
    """Rows of a state dict keyed like the rows themselves (`"<server>/<id>"`): a scope is one
    row. Renders a subset by handing the view a state holding only those rows."""

    def render(state: dict, scopes: set[str] | None, now: float) -> Rendered:
        if scopes is None:
            rows = view(state, now)
        else:
            held = state[container]
            sub = {k: held[k] for k in scopes if k in held}
            rows = view({**state, container: sub}, now) if sub else []
        if present is not None:
            rows = [r for r in rows if present(r)]
        return _group(rows, key, key)

    return render


def whole(view: Callable[[dict, float], list[Row]], key: Callable[[Row], str]) -> Render:
    """Small views: always rendered whole, a scope per row."""

    def render(state: dict, scopes: set[str] | None, now: float) -> Rendered:
        return _group(view(state, now), key, key)

    return render


def ended(view: Callable[[dict, float], list[Row]], container: str, kept: str | None = None
          ) -> Callable[[dict, str, float], Row | None]:
    """A kind's `final` for rows keyed like `keyed`'s: the row `key` as it ended, rendered by
    handing the view a state whose `container` holds only it, taken from `kept` (where the
    projection keeps ended rows; `container` itself by default)."""

    def final(state: dict, key: str, now: float) -> Row | None:
        row = state[kept or container].get(key)
        if row is None:
            return None
        return view({**state, container: {key: row}}, now)[0]

    return final


def prefixed(container: str) -> Callable[[dict, str], list[str]]:
    """The keys of one server's rows in a state dict keyed `"<server>/<id>"`."""

    def scopes(state: dict, server: str) -> list[str]:
        prefix = server + "/"
        return [k for k in state[container] if k.startswith(prefix)]

    return scopes


def _queue_server_scopes(state: dict, server: str) -> list[str]:
    prefix = server + "/"
    out = {k for k in state["queues"] if k.startswith(prefix)}
    out.update(k for k in state["lines"] if k.startswith(prefix))
    out.update(k.rsplit("/", 1)[0] for k in state["members"] if k.startswith(prefix))
    return sorted(out)


def _parked_server_scopes(state: dict, server: str) -> list[str]:
    return [f"{c['server']}/{c['parking_lot']}/{c['parking_space']}"
            for c in state["calls"].values() if c["server"] == server]


def _by(*fields: str) -> Callable[[Row], str]:
    if len(fields) == 1:
        (field,) = fields
        return lambda row: f"{row['server']}/{row[field]}"
    return lambda row: "/".join(str(row[f]) for f in ("server", *fields))


def _headers(event: Event, suffix: str, exclude: str = "") -> list[str]:
    """`<server>/<value>` of every header named `...<suffix>` (a list header gives its first)."""
    out = []
    for name, value in event.data.items():
        if name.endswith(suffix) and not (exclude and name.endswith(exclude)):
            if isinstance(value, list):
                value = value[0] if value else ""
            if value:
                out.append(f"{event.server}/{value}")
    return out


# ------------------------------------------------------------------------------ channels, calls

def _channel_candidates(event: Event, state: dict, cache: KindCache) -> list[str]:
    return _headers(event, "Uniqueid", exclude="BridgeUniqueid")


def _call_candidates(event: Event, state: dict, cache: KindCache) -> list[str]:
    """The call of every leg the event names. A leg's `Linkedid` can change as it is bridged,
    and its Hangup removes it from the state: the index remembers which call it was in."""
    legs = state["legs"]
    out = _headers(event, "Linkedid")
    for leg in _headers(event, "Uniqueid", exclude="BridgeUniqueid"):
        key = legs.get(leg)
        if key is not None:
            out.append(key)
            cache.index[leg] = key
        else:
            key = cache.index.pop(leg, None)
            if key is not None:
                out.append(key)
    return out


# ------------------------------------------------------------------------------ queues

def _queue_scope(event: Event, state: dict, cache: KindCache) -> list[str]:
    queue = event.data.get("Queue")
    if isinstance(queue, list):
        queue = queue[0] if queue else None
    return [f"{event.server}/{queue}"] if isinstance(queue, str) and queue else []


def _queue_render(view: str, scope_field: str, key: Callable[[Row], str],
                  container: str) -> Render:
    """Queue rows, members and callers share the queue's scope (`<server>/<queue>`): a caller
    leaving moves every caller behind it, a member event names the queue, not the member."""
    fn = VIEWS[view]
    scope = _by(scope_field)

    def render(state: dict, scopes: set[str] | None, now: float) -> Rendered:
        if scopes is None:
            return _group(fn(state, now), scope, key)
        queues, lines = state["queues"], state["lines"]
        sub: dict[str, Any] = {
            "queues": {k: queues[k] for k in scopes if k in queues},
            "lines": {k: lines[k] for k in scopes if k in lines},
        }
        if container == "members":
            prefixes = tuple(s + "/" for s in scopes)
            sub["members"] = {k: v for k, v in state["members"].items() if k.startswith(prefixes)}
        if not any(sub.values()):
            return {}
        return _group(fn({**state, **sub}, now), scope, key)

    return render


def _entry_record(state: dict, row: Row) -> dict | None:
    return state["entries"].get(f"{row['server']}/{row['unique_id']}")


def _entry_at(record: dict, now: float) -> Row:
    """A caller's row from its record alone (its position is then 1: `Held` keeps the one
    last sent)."""
    server, uid = record["server"], record["unique_id"]
    alone = {"queues": {}, "lines": {f"{server}/{record['queue_name']}": [uid]},
             "entries": {f"{server}/{uid}": record}}
    return VIEWS["queue-entries"](alone, now)[0]


# ------------------------------------------------------------------------------ parking

def _parked_scope(row: Row) -> str:
    return f"{row['server']}/{row['parking_lot']}/{row['parking_space']}"


def _parked_candidates(event: Event, state: dict, cache: KindCache) -> list[str]:
    """A parking space: a call parked in an occupied space (or swapped in) replaces another."""
    data = event.data
    out = []
    lot, space = data.get("Parkinglot"), data.get("ParkingSpace")
    if isinstance(lot, str) and isinstance(space, str):
        out.append(f"{event.server}/{lot}/{space}")
    for key in _headers(event, "Uniqueid", exclude="BridgeUniqueid"):
        call = state["calls"].get(key)
        if call is not None:
            out.append(f"{call['server']}/{call['parking_lot']}/{call['parking_space']}")
    return out


def _parked_record(state: dict, row: Row) -> dict | None:
    return state["calls"].get(f"{row['server']}/{row['parkee_unique_id']}")


def _parked_at(record: dict, now: float) -> Row:
    return VIEWS["parked-calls"]({"calls": {"held": record}}, now)[0]


def _parked_render(state: dict, scopes: set[str] | None, now: float) -> Rendered:
    key = _by("parkee_unique_id")
    if scopes is None:
        return _group(VIEWS["parked-calls"](state, now), _parked_scope, key)
    sub = {k: c for k, c in state["calls"].items()
           if f"{c['server']}/{c['parking_lot']}/{c['parking_space']}" in scopes}
    if not sub:
        return {}
    return _group(VIEWS["parked-calls"]({**state, "calls": sub}, now), _parked_scope, key)


# ------------------------------------------------------------------------------ the rest

def _single(header: str) -> Candidates:
    def candidates(event: Event, state: dict, cache: KindCache) -> list[str]:
        value = event.data.get(header)
        return [f"{event.server}/{value}"] if isinstance(value, str) and value else []

    return candidates


def _bridge_candidates(event: Event, state: dict, cache: KindCache) -> list[str]:
    return _headers(event, "BridgeUniqueid")


def _agent_candidates(event: Event, state: dict, cache: KindCache) -> list[str]:
    data = event.data
    out = []
    agent = data.get("Agent")
    if isinstance(agent, str) and agent:
        out.append(f"{event.server}/{agent}")
    interface = data.get("Interface")
    if isinstance(interface, str) and interface.startswith("Agent/"):
        out.append(f"{event.server}/{interface[6:]}")
    for uid in _headers(event, "Uniqueid", exclude="BridgeUniqueid"):
        for found in (state["channels"].get(uid), cache.index.get(uid)):
            if found is not None:
                out.append(found)
    return out


def _command_candidates(event: Event, state: dict, cache: KindCache) -> list[str]:
    if event.stream.startswith(STREAM_PREFIX):
        out = [event.stream[len(STREAM_PREFIX):]]
        # a request may push an old command out of the state: look at what we still hold
        out.extend(k for k in cache.scopes if k not in state["commands"])
        return out
    cid = command_of(event.data)
    return [cid] if cid is not None else []


def _agi_candidates(event: Event, state: dict, cache: KindCache) -> list[str]:
    """The channel the event is about; an AGI command requested: the channel it targets."""
    if event.type == REQUESTED:
        targets = event.data.get("targets")
        return [f"{event.server}/{targets[0]}"] if isinstance(targets, list) and targets and \
            isinstance(targets[0], str) else []
    return _single("Uniqueid")(event, state, cache)


def _server_rows(container: str, state: dict, cache: KindCache, server: str) -> list[str]:
    """Every row of `server` now, and every one last sent: a list answer may end any."""
    prefix = server + "/"
    return [k for k in state[container] if k.startswith(prefix)] + [
        k for k in cache.scopes if k.startswith(prefix)]


def _module_candidates(event: Event, state: dict, cache: KindCache) -> list[str]:
    """Load/Unload/Reload name their module; a `module show` table may change all of the
    server's; the answer to a ModuleCheck/ModuleLoad command, the module it named."""
    data = event.data
    if event.type != RESPONSE:
        name = data.get("Module")
        return [f"{event.server}/{modules.module_name(name)}"] if isinstance(name, str) else []
    if "Output" in data:
        return _server_rows("modules", state, cache, event.server)
    found = pending.asked(state, event)
    return [f"{event.server}/{modules.module_name(found[1][1])}"] if found else []


def _voicemail_user_candidates(event: Event, state: dict, cache: KindCache) -> list[str]:
    data = event.data
    if event.type == "MessageWaiting":
        return _single("Mailbox")(event, state, cache)
    if event.type == RESPONSE:  # "There are no voicemail users currently defined."
        return (_server_rows("users", state, cache, event.server)
                if data.get("Message") == voicemail.NO_USERS else [])
    mailbox, context = data.get("VoiceMailbox"), data.get("VMContext")
    if isinstance(mailbox, str) and isinstance(context, str):
        return [f"{event.server}/{voicemail.box_id(mailbox, context)}"]
    return []
def _config_candidates(event: Event, state: dict, cache: KindCache) -> list[str]:
    """A read of a file (its ActionID names it), or a version of it hidden."""
    filename = event.data.get("filename") if event.type == HIDDEN else file_of(
        event.data.get("ActionID"))
    return [f"{event.server}/{filename}"] if isinstance(filename, str) and filename else []


def _auth_render(state: dict, scopes: set[str] | None, now: float) -> Rendered:
    """The auths of pjsip.conf, a scope per server, their secrets redacted: stream messages
    go to viewers (as `/pjsip/auths` answers them)."""
    rows = [redact_settings(r) for r in VIEWS["pjsip-auths"](state, now)
            if scopes is None or r["server"] in scopes]
    return _group(rows, lambda r: r["server"], _by("object_name"))


def _auth_candidates(event: Event, state: dict, cache: KindCache) -> list[str]:
    """A read of pjsip.conf (or its failure): that server's auths."""
    return [event.server] if file_of(event.data.get("ActionID")) == "pjsip.conf" else []


def _views() -> dict[str, Callable[[dict, float], list[Row]]]:
    from projections import VIEWS as REGISTRY

    return {view: fn for view, (_, fn) in REGISTRY.items()}


VIEWS = _views()


def _triggers(module: Any) -> frozenset[str] | None:
    types = getattr(module, "EVENT_TYPES", None)
    return frozenset(types) if types is not None else None


def _peers_kind(name: str, view: str, topic: str, doc: str) -> Kind:
    """A view of the `peers` projection: small, rendered whole, a row keyed (and its topic
    named) by the field in `topic`."""
    field = topic[topic.index("{") + 1 : -1]
    return Kind(name, "peers", view, topic, whole(VIEWS[view], _by(field)), None,
                _triggers(peers), doc=doc)


KINDS: tuple[Kind, ...] = (
    Kind("core.channel", "channels", "channels", "/core/channels/{caller_id_name}",
         keyed(VIEWS["channels"], "channels", _by("unique_id")), _channel_candidates, None,
         frozenset({"CoreShowChannelsComplete"}), volatile=("duration",),
         final=ended(VIEWS["channels"], "channels", kept="closed"),
         server_scopes=prefixed("channels"),
         doc="any event about a channel (`Uniqueid`, `DestUniqueid`...); "
             "`delete` on Hangup carries `hangup_cause`"),
    Kind("core.call", "calls", "calls", "/calls/{linked_id}",
         keyed(VIEWS["calls"], "calls", _by("linked_id"), present=lambda r: r["end"] is None),
         _call_candidates, _triggers(calls), frozenset({"CoreShowChannelsComplete"}),
         volatile=("wait_time", "talk_time", "duration"), final=ended(VIEWS["calls"], "calls"),
         seed_index=lambda state: dict(state["legs"]), server_scopes=prefixed("calls"),
         doc="a leg's birth, answer, hangup; `delete` when the last leg hangs up"),
    Kind("core.bridge", "bridges", "bridges", "/core/bridges/{bridge_id}",
         keyed(VIEWS["bridges"], "bridges", _by("bridge_id")), _bridge_candidates,
         _triggers(bridges), frozenset({"BridgeListComplete"}), server_scopes=prefixed("bridges"),
         doc="BridgeCreate/Enter/Leave/Destroy/Merge"),
    Kind("queue.queue", "queues", "queues", "/queue/statuses/{name}",
         _queue_render("queues", "name", _by("name"), "queues"), _queue_scope, None,
         frozenset({"QueueStatusComplete"}), creates=False, server_scopes=_queue_server_scopes,
         doc="QueueParams, QueueSummary, caller joins/leaves, AgentConnect/Complete"),
    Kind("queue.member", "queues", "queue-members", "/queue/statuses/{queue_name}",
         _queue_render("queue-members", "queue_name", _by("id"), "members"), _queue_scope,
         None, frozenset({"QueueStatusComplete"}), creates=False,
         server_scopes=_queue_server_scopes,
         doc="QueueMemberAdded/Status/Pause/Penalty/Ringinuse/Removed, QueueMember items"),
    Kind("queue.entry", "queues", "queue-entries", "/queue/statuses/{queue_name}",
         _queue_render("queue-entries", "queue_name", _by("unique_id"), "lines"),
         _queue_scope, None, frozenset({"QueueStatusComplete"}), creates=False,
         volatile=("wait",), server_scopes=_queue_server_scopes,
         held=Held(_entry_record, _entry_at),
         doc="QueueCallerJoin/Leave/Abandon (positions move), QueueEntry; `delete` carries "
             "the `wait` at leaving"),
    Kind("park.parkedcall", "parking", "parked-calls", "/park/parkinglots/{parking_lot}",
         _parked_render, _parked_candidates, None, frozenset({"ParkedCallsComplete"}),
         volatile=("parking_duration", "parking_timeout"), server_scopes=_parked_server_scopes,
         held=Held(_parked_record, _parked_at),
         doc="ParkedCall, UnParkedCall, ParkedCallGiveUp/TimeOut/Swap; `delete` carries "
             "`parking_duration` and `parking_timeout` at the end"),
    Kind("park.parkinglot", "parking", "parking-lots", "/park/parkinglots/{name}",
         whole(VIEWS["parking-lots"], _by("name")), None,
         frozenset({"Parkinglot", "ParkinglotsComplete"}), doc="Parkinglots answers"),
    Kind("core.device_state", "devices", "device-states", "/device_states/{device}",
         keyed(VIEWS["device-states"], "devices", _by("device")), _single("Device"), None,
         frozenset({"DeviceStateListComplete", "CoreShowChannelsComplete"}),
         server_scopes=prefixed("devices"),
         doc="DeviceStateChange; a `CoreShowChannels` answer that frees an uncached device"),
    Kind("core.agent", "agents", "agents", "/agents/{id}",
         keyed(VIEWS["agents"], "agents", _by("id")), _agent_candidates, _triggers(agents),
         frozenset({"AgentsComplete"}), index_field="unique_id", server_scopes=prefixed("agents"),
         doc="AgentLogin/Logoff, Agents items, queue calls to `Agent/...`, its channel"),
    _peers_kind("sip.peer", "peers", "/sip/statuses/{peer}", "PeerStatus, PeerEntry"),
    _peers_kind("sip.registry", "registries", "/sip/statuses/{account}",
                "Registry, RegistryEntry, OutboundRegistrationDetail"),
    _peers_kind("pjsip.endpoint", "endpoints", "/pjsip/endpoints/{object_name}",
                "EndpointList, EndpointDetail"),
    _peers_kind("pjsip.aor", "aors", "/pjsip/aors/{object_name}", "AorList, AorDetail"),
    _peers_kind("pjsip.contact", "contacts", "/pjsip/contacts/{id}",
                "ContactStatus, ContactList, ContactStatusDetail"),
    Kind("core.system", "systems", "systems", "/core/systems/{server}",
         whole(VIEWS["systems"], lambda r: r["server"]), None, _triggers(systems),
         doc="the session (Banner, ConnectionLost), FullyBooted, Shutdown, Reload, "
             "CoreSettings/CoreStatus answers"),
    Kind("core.agi", "agis", "agis", "/core/agis/{caller_id_name}",
         keyed(VIEWS["agis"], "agis", _by("unique_id")), _agi_candidates, _triggers(agis),
         frozenset({"CoreShowChannelsComplete"}), server_scopes=prefixed("agis"),
         doc="AsyncAGIStart, AsyncAGIExec (a command's result in `cmd`), an AGI command "
             "requested, the channel's state and caller; `delete` on AsyncAGIEnd or Hangup"),
    Kind("core.module", "modules", "modules", "/core/modules/{name}",
         keyed(VIEWS["modules"], "modules", _by("name")), _module_candidates,
         _triggers(modules),
         doc="`module show` tables (on connect), Load/Unload/Reload, ModuleCheck and "
             "ModuleLoad answers"),
    Kind("voicemail.user", "voicemail", "voicemail-users", "/voicemail/users/{id}",
         keyed(VIEWS["voicemail-users"], "users", _by("id")), _voicemail_user_candidates,
         frozenset({"VoicemailUserEntry", "VoicemailUserDetail", "MessageWaiting", RESPONSE}),
         frozenset({"VoicemailUserEntryComplete"}), server_scopes=prefixed("users"),
         doc="VoicemailUsersList items, MessageWaiting (`waiting`, message counts)"),
    Kind("config.setting", "config", "config-files", "/config/files/{filename}",
         keyed(VIEWS["config-files"], "files", _by("filename")), _config_candidates,
         frozenset({"Response", HIDDEN}),
         doc="a managed configuration file read with another content (a change of ours, or "
             "one made outside and seen after a reload), gone, or a version hidden; names "
             "only, no values"),
    Kind("dp.dpma", "dialplans", "dpmas", "/dp/statuses/{uuid}",
         whole(VIEWS["dpmas"], lambda r: r["uuid"]), None, DP_TYPES,
         doc="a dialplan master made, changed or deleted (jade's source names these; the seed "
             "does not)"),
    Kind("dp.dialplan", "dialplans", "dialplans", "/dp/statuses/{dpma_uuid}",
         whole(VIEWS["dialplans"], lambda r: r["uuid"]), None, DP_TYPES,
         doc="a dialplan made, changed or deleted, on its dpma's topic"),
    Kind("pjsip.auth", "config", "pjsip-auths", "/pjsip/auths/{object_name}",
         _auth_render, _auth_candidates, frozenset({RESPONSE}),
         doc="a read of pjsip.conf that adds, changes or drops a `type = auth` section; "
             "`password` and `md5_cred` redacted"),
    Kind("command.command", "commands", "commands", "/commands/{id}",
         keyed(VIEWS["commands"], "commands", lambda r: r["id"],
               present=lambda r: r["state"] in ("requested", "sent")),
         _command_candidates, None, ends="update", volatile=("events",),
         final=ended(VIEWS["commands"], "commands"),
         doc="`create` when requested; `update` when sent, answered, succeeded or failed"),
)


def catalogue_markdown() -> str:
    """The README table: event names, topic, payload, what triggers them."""
    lines = [
        "| event names | topic | payload (REST row) | sent on |",
        "|---|---|---|---|",
    ]
    for kind in KINDS:
        verbs = (["create"] if kind.creates else []) + ["update"]
        if kind.ends == "delete":
            verbs.append("delete")
        names = " / ".join(f"`{kind.name}.{v}`" for v in verbs)
        lines.append(f"| {names} | `{kind.topic.replace('{', '<').replace('}', '>')}` | "
                     f"`{kind.view}` | {kind.doc} |")
    return "\n".join(lines)


if __name__ == "__main__":
    print(catalogue_markdown())
