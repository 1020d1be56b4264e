"""What every projection module provides, and the helpers they all read AMI values with.

A projection module (`projections/channels.py`, `projections/queues.py`, ...) is plain functions
and constants:

    NAME = "channels"                   # checkpoint key, unique among projections
    VERSION = 2                         # bump when the state's shape or meaning changes
    def initial() -> dict: ...          # empty state; JSON-serializable (str keys, no sets)
    def apply(state: dict, event: Event) -> dict: ...  # pure over (state, event); may mutate
                                                       # and return `state` for speed
    VIEWS: dict[str, ViewFn]            # export/REST view name -> rows(state, now)
    COLUMNS: dict[str, dict[str, str]]  # view -> {column: "str"|"int"|"float"|"bool"|"json"}
    EVENT_TYPES: frozenset[str]         # optional: the only event types `apply` reacts to
    IGNORED_TYPES: frozenset[str]       # optional, without EVENT_TYPES: types `apply` ignores
    VIEW_ROLES: dict[str, str]          # optional: view -> the role that may read it (default
                                        # viewer); `users` and `tokens` are admin only

- `VERSION` (default 1): a checkpoint written by another version is discarded and that
  projection rebuilt from position 0, so old state never meets new code.
- `COLUMNS`: every view declares its rows' fields, in order, and their types; each row has
  exactly those keys, each value None or of its type (tested for every capture). Export derives
  file schemas from it, so an empty file has the same schema as a full one.
- `EVENT_TYPES` (default None: every type): the runner skips calling `apply` for other types.
  Leave it out when `apply` looks at every event (channels does: any event may carry a
  snapshot of a channel).
- `IGNORED_TYPES` (default empty): for a projection that must look at every type but a few,
  the types `apply` leaves the state alone for, whatever they carry; the runner skips them,
  and so does a replay's reader (channels ignores `DeviceStateChange`, a seventh of a log).
- An `apply` made by `dispatch(handlers)`, or marked `handled_by(apply, handlers)`, lets the
  runner call a type's handler itself: the same fold, one Python call fewer per event.

State must be plain JSON data (dict/list/str/int/float/bool/None) so a checkpoint is the state
serialized, and a rebuild from position 0 can be compared byte for byte. Rows are keyed by
`"<server>/<id>"` so two Asterisks never overwrite each other's rows; every row carries `server`.
Time in state comes from the events (`event_time`), never from the clock; a view that shows an
elapsed time (`duration`, `wait`) takes `now` (epoch seconds).

AMI values are text, and sometimes junk (`Timestamp: NaN`, `Penalty: unknown`, a header
repeated into a list): `event_time`, `to_int`, `to_float` and `to_seconds` turn them into
numbers that are always usable, and never raise, so bad input cannot stop or poison a projection.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from datetime import datetime
from functools import lru_cache
from types import ModuleType
from typing import Any

from engine.envelope import Event

# The pure value helpers live in the leaf module `engine/values.py`, so that the dialer modules
# `projections/dialings.py` and `projections/results.py` need can share them without importing this
# package (a cycle); re-exported here (`X as X`), where every projection imports them from.
from engine.values import INT64 as INT64
from engine.values import MAX_EPOCH as MAX_EPOCH
from engine.values import iso as iso
from engine.values import to_float as to_float
from engine.values import to_int as to_int

Row = dict[str, Any]
ViewFn = Callable[[dict, float], list[Row]]
Handler = Callable[[dict, Event], None]
ApplyFn = Callable[[dict, Event], dict]

MAX_AGE = 10 * 365 * 86400.0  # a channel older than ten years is junk, not a channel


def columns(spec: str) -> dict[str, str]:
    """A view's declared columns from `"name other:int more:json"` (type `str` when unsaid):
    one line per view keeps a hundred columns readable."""
    out: dict[str, str] = {}
    for word in spec.split():
        name, _, kind = word.partition(":")
        out[name] = kind or "str"
    return out


def pick(row: dict, names: Iterable[str], **computed: Any) -> Row:
    """A view row: the declared columns `names`, in order, each from `computed` or else from
    the state row (a column that is neither is a bug, and raises)."""
    return {name: computed[name] if name in computed else row[name] for name in names}


def update(row: dict, fields: dict[str, Any], t: float) -> bool:
    """Overwrite what differs; `tm_update` moves to `t` only if something did, so an answer
    that says what the row already holds changes nothing."""
    changed = False
    for name, value in fields.items():
        if row.get(name) != value:
            row[name] = value
            changed = True
    if changed:
        row["tm_update"] = t
    return changed


def dispatch(handlers: Mapping[str, Handler]) -> ApplyFn:
    """The `apply` of a projection whose every reaction is a handler per event type: other
    types leave the state as it is (declare `EVENT_TYPES = frozenset(handlers)` so the runner
    does not even call it for them)."""
    get = handlers.get

    def apply(state: dict, event: Event) -> dict:
        handler = get(event.type)
        if handler is not None:
            handler(state, event)
        return state

    return handled_by(apply, handlers)


def handled_by(apply: ApplyFn, handlers: Mapping[str, Handler]) -> ApplyFn:
    """Say that for each type in `handlers`, `apply(state, event)` is exactly
    `handlers[event.type](state, event)` then `return state`: the runner then calls the
    handler itself, one Python call and lookup fewer per event and projection (a replay makes
    millions). `apply` stays the projection's one entry point; the handlers are how it works."""
    apply.__dict__["handlers"] = handlers
    return apply


def handlers_of(apply: ApplyFn) -> Mapping[str, Handler]:
    """The handlers `apply` was declared to be made of (`handled_by`), else none."""
    return getattr(apply, "handlers", {})


def views_of(modules: list[ModuleType]) -> dict[str, tuple[ModuleType, ViewFn]]:
    """Every view of the modules, with the module that serves it."""
    out: dict[str, tuple[ModuleType, ViewFn]] = {}
    for module in modules:
        for view, fn in module.VIEWS.items():
            out[view] = (module, fn)
    return out


# ------------------------------------------------------------------------------ time

_last_time: tuple[object, float] = (None, 0.0)  # event_time's last (event, answer)


def event_time(event: Event) -> float:
    """Seconds since the epoch at which Asterisk emitted the event: its `Timestamp` header
    (`timestampevents = yes`), else the engine's `recorded_at`.

    Only a finite time in [0, year 3000) counts: a bare float() would let `NaN`, `inf` or `1e20`
    into state, where NaN is not JSON (a checkpoint would not read back equal) and no date
    can show it.

    The projector hands each event to every projection in turn, and most ask its time: the
    last answer is kept (for that very event object, held so its identity cannot be reused)."""
    global _last_time
    last = _last_time
    if last[0] is event:
        return last[1]
    ts = event.data.get("Timestamp")
    t = -1.0
    if isinstance(ts, str):
        try:
            t = float(ts)
        except ValueError:
            pass
    if not 0.0 <= t < MAX_EPOCH:  # True for NaN too
        t = recorded_time(event.recorded_at)
    _last_time = (event, t)
    return t


@lru_cache(maxsize=256)
def recorded_time(recorded_at: str) -> float:
    """`recorded_at` as epoch seconds (cached: a batch of events shares one); 0.0 if it is
    not an ISO 8601 time in range."""
    try:
        t = datetime.fromisoformat(recorded_at).timestamp()
    except (TypeError, ValueError):
        return 0.0
    return t if 0.0 <= t < MAX_EPOCH else 0.0


def to_seconds(value: object) -> float:
    """A duration as Asterisk prints it (`Duration: 00:01:02`, `Seconds: 62`, `Wait: 3`,
    `ParkingTimeout: 45`) in seconds; 0 for anything else, since a negative, infinite or NaN
    age would poison the time computed from it (a channel's creation, a caller's join)."""
    if isinstance(value, list):
        value = value[0] if value else None
    if not isinstance(value, str) or not value:
        return 0.0
    total = 0.0
    try:
        for part in value.split(":"):
            total = total * 60 + float(part)
    except ValueError:
        return 0.0
    return total if 0.0 <= total < MAX_AGE else 0.0
