"""The projector: applies every projection to the log, keeps their checkpoints, serves their views.

Each projection has its own checkpoint (the last position applied to it) stored with its state,
in one row of `switchboard_projections` in the log's own database, and all rows are written in
one transaction: a restart resumes every projection exactly where its state stops, never
applying an event twice or skipping one. A projection without a checkpoint (new, or its module's
`VERSION` changed) starts from position 0 while the others resume.

State is saved every `save_every` events or `save_seconds` seconds (whichever comes first) and on
close, never per event. Without a store, or with `persist=False`, the projector is purely in
memory (replay, tests, one-off exports).

Bad input never stops the projector: `Malformed` envelopes are counted and skipped; rows the
store could not decode (`Unreadable` stand-ins, `engine.envelope.decode_event`) are skipped,
counted and their positions kept (`unreadable`, in `/status`), with the checkpoints, so a
restart still reports them; a handler that raises is counted per projection and event type
(`errors`), logged the first times, and the other projections still get the event.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime
from types import ModuleType, TracebackType
from typing import TYPE_CHECKING, Any, Protocol

import msgspec

from engine.background import Background
from engine.envelope import MALFORMED, UNREADABLE, Event
from engine.redact import redact_url
from engine.store import Store, derived_path, split_schema
from engine.store.sqlite import derived_connection, write_transaction
from projections.base import Handler, Row, handlers_of

if TYPE_CHECKING:
    import psycopg

log = logging.getLogger(__name__)

TABLE = "switchboard_projections"
LOGGED_ERRORS = 20  # per projection: later failures are counted, not logged
UNREADABLE_KEPT = 100  # unreadable rows whose position and reason are kept (all are counted)
# The checkpoint row that keeps them between runs (no projection has this name).
UNREADABLE_ROW = "~unreadable"

_encoder = msgspec.json.Encoder()
_decoder = msgspec.json.Decoder(dict)


PIECE = 512  # entries of a state's collection encoded in one call (`encode_state`)


def encode_state(state: dict) -> bytes:
    """The checkpoint form of a state; two equal histories give equal bytes.

    Encoded in pieces, with a pause for other threads between two: msgspec holds the GIL for
    the whole of one call, and the dialer's state (10,000 dial list entries, 4 MB) took 10 ms
    in one, every 5 s, while the dialer's next decision waited. The bytes are the same as one
    call's (`msgspec.json.encode(state)`): each top-level collection larger than PIECE is
    written a slice of its entries at a time."""
    parts = [b"{"]
    for i, (key, value) in enumerate(state.items()):
        if i:
            parts.append(b",")
        if type(value) is not dict or len(value) <= PIECE:
            parts.append(_encoder.encode({key: value})[1:-1])
            continue
        parts.append(_encoder.encode({key: None})[1:-5])  # '"key":'
        items = list(value.items())
        for start in range(0, len(items), PIECE):
            time.sleep(0)  # lets a waiting thread take the GIL
            piece = _encoder.encode(dict(items[start:start + PIECE]))
            parts.append(b"{" if start == 0 else b",")
            parts.append(piece[1:-1])
        parts.append(b"}")
    parts.append(b"}")
    return b"".join(parts)


# ------------------------------------------------------------------------------ checkpoints

class Checkpoints(Protocol):
    """Where projection states and their positions are kept between runs."""

    def load(self) -> dict[str, tuple[int, int, bytes]]:
        """name -> (position, version, state bytes)."""
        ...

    def save(self, rows: Sequence[tuple[str, int, int, bytes]]) -> None:
        """(name, position, version, state) rows; each row's state and position together."""
        ...

    def close(self) -> None: ...


class SQLiteCheckpoints:
    """A table in the log's SQLite file, through a connection of its own (WAL: the log's
    writer and this one do not block each other for long)."""

    def __init__(self, path: str, read_only: bool = False) -> None:
        self.path = path
        self.read_only = read_only
        self._conn = derived_connection(path)
        if not read_only:
            with write_transaction(self._conn, path) as conn:
                conn.execute(
                    f"CREATE TABLE IF NOT EXISTS {TABLE} (name TEXT PRIMARY KEY, "
                    "position INTEGER NOT NULL, version INTEGER NOT NULL, state BLOB NOT NULL, "
                    "saved_at TEXT NOT NULL)"
                )

    def load(self) -> dict[str, tuple[int, int, bytes]]:
        exists = self._conn.execute(
            "SELECT 1 FROM sqlite_master WHERE type='table' AND name=?", (TABLE,)
        ).fetchone()
        if not exists:
            return {}
        rows = self._conn.execute(f"SELECT name, position, version, state FROM {TABLE}")
        return {name: (pos, version, bytes(state)) for name, pos, version, state in rows}

    def save(self, rows: Sequence[tuple[str, int, int, bytes]]) -> None:
        # A row is a projection's state with its own position, consistent on its own: one
        # transaction per row keeps the file's write lock from the log's writer (and a dialer
        # decision) for one state's time at most, not all of them (13 MB, ~45 ms, at 10,000
        # channels).
        now = datetime.now(UTC).isoformat()
        for name, pos, version, state in rows:
            with write_transaction(self._conn, self.path) as conn:
                conn.execute(
                    f"INSERT INTO {TABLE} (name, position, version, state, saved_at) "
                    "VALUES (?,?,?,?,?) ON CONFLICT(name) DO UPDATE SET "
                    "position=excluded.position, version=excluded.version, "
                    "state=excluded.state, saved_at=excluded.saved_at",
                    (name, pos, version, state, now),
                )

    def close(self) -> None:
        self._conn.close()


class PostgresCheckpoints:
    """A table in the log's PostgreSQL database (same URL; a `schema` query parameter, if the
    URL has one, names the schema)."""

    def __init__(self, url: str, read_only: bool = False) -> None:
        from engine.store.postgres import Reconnecting, creating

        conninfo, schema = split_schema(url)
        self.table = f'"{schema}".{TABLE}' if schema else TABLE
        self._link = Reconnecting(conninfo)
        if not read_only:
            with creating(self._conn) as conn:
                if schema:
                    conn.execute(f'CREATE SCHEMA IF NOT EXISTS "{schema}"')
                conn.execute(
                    f"CREATE TABLE IF NOT EXISTS {self.table} (name text PRIMARY KEY, "
                    "position bigint NOT NULL, version integer NOT NULL, state bytea NOT NULL, "
                    "saved_at timestamptz NOT NULL DEFAULT now())"
                )

    @property
    def _conn(self) -> psycopg.Connection:
        return self._link.conn

    def load(self) -> dict[str, tuple[int, int, bytes]]:
        exists = self._conn.execute("SELECT to_regclass(%s)", (self.table,)).fetchone()
        if not exists or exists[0] is None:
            return {}
        rows = self._conn.execute(f"SELECT name, position, version, state FROM {self.table}")
        return {name: (pos, version, bytes(state)) for name, pos, version, state in rows}

    def save(self, rows: Sequence[tuple[str, int, int, bytes]]) -> None:
        with self._conn.transaction(), self._conn.cursor() as cur:
            cur.executemany(
                f"INSERT INTO {self.table} (name, position, version, state, saved_at) "
                "VALUES (%s,%s,%s,%s,now()) ON CONFLICT (name) DO UPDATE SET "
                "position=excluded.position, version=excluded.version, state=excluded.state, "
                "saved_at=excluded.saved_at",
                list(rows),
            )

    def close(self) -> None:
        self._link.close()


class MemoryCheckpoints:
    """Checkpoints in a dict: a restart within one process (tests, benchmarks)."""

    def __init__(self) -> None:
        self.rows: dict[str, tuple[int, int, bytes]] = {}
        self.saves = 0

    def load(self) -> dict[str, tuple[int, int, bytes]]:
        return dict(self.rows)

    def save(self, rows: Sequence[tuple[str, int, int, bytes]]) -> None:
        for name, position, version, state in rows:
            self.rows[name] = (position, version, state)
        self.saves += 1

    def close(self) -> None:
        pass


def open_checkpoints(store: Store, read_only: bool = False) -> Checkpoints:
    """The checkpoint table of the store's log: in the SQLite file of what is derived from it
    (`engine.store.derived_path`), or beside the log in PostgreSQL."""
    url = store.url
    path = derived_path(url)
    if path is not None:
        return SQLiteCheckpoints(path, read_only)
    if url.startswith(("postgresql://", "postgres://")):
        return PostgresCheckpoints(url, read_only)
    raise ValueError(f"no checkpoint table for store URL {redact_url(url)!r}")


# ------------------------------------------------------------------------------ projector

class _Slot:
    """One projection as the projector drives it."""

    __slots__ = ("name", "module", "apply", "state", "position", "version", "types", "ignored",
                 "handlers")

    def __init__(self, module: ModuleType) -> None:
        self.name: str = module.NAME
        self.module = module
        self.apply = module.apply
        # Optional in the contract: the event types apply reacts to (None: it may react to any).
        self.types: frozenset[str] | None = getattr(module, "EVENT_TYPES", None)
        # Also optional: the types apply leaves the state alone for (when `types` is None).
        self.ignored: frozenset[str] = getattr(module, "IGNORED_TYPES", frozenset())
        self.handlers = handlers_of(module.apply)  # types apply hands to one handler
        self.version: int = getattr(module, "VERSION", 1)
        self.state: dict = module.initial()
        self.position = 0

    def reset(self) -> None:
        self.state = self.module.initial()
        self.position = 0


class Projector:
    """Applies the registered projections to a store's log (or to events handed in)."""

    def __init__(
        self,
        store: Store | None = None,
        modules: Sequence[ModuleType] | None = None,
        *,
        persist: bool = True,
        read_only: bool = False,
        save_every: int = 100_000,
        save_seconds: float = 5.0,
        batch: int = 2_000,
        checkpoints: Checkpoints | None = None,
        background: Background | None = None,
    ) -> None:
        if modules is None:
            from projections import PROJECTIONS

            modules = PROJECTIONS
        self.store = store
        self._slots = [_Slot(m) for m in modules]
        self._by_name = {s.name: s for s in self._slots}
        # event type -> the slots that want it, each with the handler to call for it (None:
        # call the slot's apply)
        self._dispatch: dict[str, list[tuple[_Slot, Handler | None]]] = {}
        self._views: dict[str, tuple[_Slot, Any]] = {}
        for slot in self._slots:
            for view, fn in slot.module.VIEWS.items():
                self._views[view] = (slot, fn)
        self.save_every = save_every
        self.save_seconds = save_seconds
        self.batch = batch
        self.read_only = read_only
        self._errors: dict[str, dict[str, int]] = {}
        self._logged: dict[str, int] = {}
        self._malformed = 0
        self._unreadable: list[dict[str, Any]] = []  # the first UNREADABLE_KEPT
        self._unreadable_count = 0
        self._unreadable_last = 0  # the last position counted (a replay does not count twice)
        self._unsaved = 0
        self._saved_at = time.monotonic()
        self._lock = threading.RLock()
        self._checkpoints: Checkpoints | None = checkpoints
        # where checkpoints are written: on the caller's thread (None), or a `Background`
        # (the engine's: its projector thread is also where the dialer decides)
        self._background = background
        if checkpoints is None and store is not None and persist:
            self._checkpoints = open_checkpoints(store, read_only)
        if self._checkpoints is not None:
            self._load()

    # -------------------------------------------------------------- reading

    @property
    def position(self) -> int:
        """The position every projection has reached (the lowest checkpoint)."""
        return min((s.position for s in self._slots), default=0)

    @property
    def positions(self) -> dict[str, int]:
        return {s.name: s.position for s in self._slots}

    @property
    def errors(self) -> dict[str, dict[str, int]]:
        """Handler failures: projection -> event type -> count."""
        with self._lock:
            return {name: dict(counts) for name, counts in self._errors.items()}

    @property
    def malformed(self) -> int:
        """`Malformed` envelopes seen (skipped by every projection)."""
        return self._malformed

    @property
    def unreadable(self) -> dict[str, Any]:
        """Rows of the log no envelope could be decoded from (skipped by every projection):
        how many, and the first UNREADABLE_KEPT with their position, type and reason."""
        with self._lock:
            return {"count": self._unreadable_count, "rows": list(self._unreadable)}

    def _count_unreadable(self, event: Event) -> None:
        if event.position <= self._unreadable_last:
            return
        self._unreadable_last = event.position
        self._unreadable_count += 1
        if len(self._unreadable) < UNREADABLE_KEPT:
            self._unreadable.append({"position": event.position,
                                     "type": event.data.get("stored_type"),
                                     "error": event.data.get("error")})
        if self._unreadable_count <= LOGGED_ERRORS:
            log.error("the log's row at position %d cannot be read (%s): skipped",
                      event.position, event.data.get("error"))

    def views(self) -> list[str]:
        return sorted(self._views)

    def rows(self, view: str, now: float | None = None) -> list[Row]:
        """A view's rows; `now` (epoch seconds, default: the clock) for elapsed-time fields."""
        if view not in self._views:
            raise KeyError(f"unknown view {view!r}; views: {', '.join(self.views())}")
        slot, fn = self._views[view]
        with self._lock:
            return fn(slot.state, time.time() if now is None else now)

    def module_of(self, view: str) -> ModuleType:
        return self._views[view][0].module

    def state(self, name: str) -> dict:
        """A projection's live state (do not mutate)."""
        return self._by_name[name].state

    def serialize(self, name: str) -> bytes:
        with self._lock:
            return encode_state(self._by_name[name].state)

    # -------------------------------------------------------------- applying

    def apply(self, events: Iterable[Event]) -> int:
        """Apply events in log order; events at or below a projection's checkpoint are skipped
        for it. Returns how many events were looked at. Saves when a threshold is passed."""
        with self._lock:
            count = self._apply(events)
            self._maybe_save()
        return count

    def _wanted(self, event_type: str) -> list[tuple[_Slot, Handler | None]]:
        """The projections an event type goes to (cached): all of them, except those that
        declare `EVENT_TYPES` without it or `IGNORED_TYPES` with it. `Malformed` and
        `Unreadable` go to none (they are counted)."""
        if event_type == MALFORMED or event_type == UNREADABLE:
            wanted: list[tuple[_Slot, Handler | None]] = []
        else:
            wanted = [(s, s.handlers.get(event_type)) for s in self._slots
                      if (event_type not in s.ignored if s.types is None
                          else event_type in s.types)]
        if len(self._dispatch) < 10_000:  # garbage types must not grow the cache forever
            self._dispatch[event_type] = wanted
        return wanted

    def _apply(self, events: Iterable[Event]) -> int:
        slots = self._slots
        dispatch = self._dispatch
        count = 0
        low = min((s.position for s in slots), default=0)
        uniform = all(s.position == low for s in slots)
        last = low
        for event in events:
            count += 1
            position = event.position
            if position <= low:
                continue
            if not uniform:
                self._apply_lagging(event)
                if all(s.position == position for s in slots):
                    uniform, low, last = True, position, position
                continue
            last = position
            wanted = dispatch.get(event.type)
            if wanted is None:
                wanted = self._wanted(event.type)
            if not wanted:
                if event.type == MALFORMED:
                    self._malformed += 1
                elif event.type == UNREADABLE:
                    self._count_unreadable(event)
                continue
            for slot, handler in wanted:
                try:
                    if handler is None:
                        slot.state = slot.apply(slot.state, event)
                    else:  # what apply would do, one call fewer (`base.handled_by`)
                        handler(slot.state, event)
                except Exception as exc:  # noqa: BLE001 - a bad event must not stop the log
                    self._failed(slot, event, exc)
        if uniform:
            for slot in slots:
                if slot.position < last:
                    slot.position = last
        self._unsaved += count
        return count

    def _apply_lagging(self, event: Event) -> None:
        """Some projections are behind others (one was added, or reset): per-slot positions."""
        malformed = event.type == MALFORMED
        skipped = malformed or event.type == UNREADABLE
        counted = False
        for slot in self._slots:
            if event.position <= slot.position:
                continue
            slot.position = event.position
            if skipped:
                if not counted:
                    if malformed:
                        self._malformed += 1
                    else:
                        self._count_unreadable(event)
                    counted = True
                continue
            try:
                slot.state = slot.apply(slot.state, event)
            except Exception as exc:  # noqa: BLE001
                self._failed(slot, event, exc)

    def _failed(self, slot: _Slot, event: Event, exc: Exception) -> None:
        counts = self._errors.setdefault(slot.name, {})
        counts[event.type] = counts.get(event.type, 0) + 1
        logged = self._logged.get(slot.name, 0)
        if logged < LOGGED_ERRORS:
            self._logged[slot.name] = logged + 1
            log.warning("projection %s failed on %s at position %d: %r%s", slot.name,
                        event.type, event.position, exc,
                        " (further failures are only counted)"
                        if logged + 1 == LOGGED_ERRORS else "")

    def catch_up(self, until: int | None = None,
                 progress: Callable[[int], None] | None = None) -> int:
        """Apply everything the store holds after the checkpoints (up to `until`, inclusive).
        A projection already past `until` is rebuilt from 0. Returns events applied;
        `progress(position)` after each batch."""
        if self.store is None:
            return 0
        with self._lock:
            if until is not None:
                for slot in self._slots:
                    if slot.position > until:
                        slot.reset()
            total = 0
            while True:
                events = self.store.read(self.position, self.batch, until)
                if not events:
                    break
                total += self._apply(events)
                self._maybe_save()
                if progress is not None:
                    progress(events[-1].position)
        return total

    def rebuild(self, until: int | None = None) -> int:
        """Forget every state and replay the log from position 0 (up to `until`)."""
        with self._lock:
            for slot in self._slots:
                slot.reset()
            self._errors.clear()
            self._logged.clear()
            self._malformed = 0
            self._unreadable, self._unreadable_count, self._unreadable_last = [], 0, 0
            return self.catch_up(until)

    # -------------------------------------------------------------- persistence

    def _load(self) -> None:
        assert self._checkpoints is not None
        last = self.store.last_position() if self.store is not None else None
        for name, (position, version, blob) in self._checkpoints.load().items():
            if name == UNREADABLE_ROW:
                self._load_unreadable(position, blob, last)
                continue
            slot = self._by_name.get(name)
            if slot is None:
                continue
            if last is not None and position > last:
                log.warning("projection %s: checkpoint at %d but the log ends at %d (restored "
                            "from an older backup?): rebuilding", name, position, last)
                continue
            if version != slot.version:
                log.info("projection %s: checkpoint version %d, code version %d: rebuilding",
                         name, version, slot.version)
                continue
            try:
                slot.state = _decoder.decode(blob)
            except msgspec.DecodeError as exc:
                log.warning("projection %s: unreadable checkpoint (%s): rebuilding", name, exc)
                continue
            slot.position = position

    def _load_unreadable(self, position: int, blob: bytes, last: int | None) -> None:
        if last is not None and position > last:
            return  # another log's (restored from a backup?): counted again as met
        try:
            kept = _decoder.decode(blob)
            rows, count = list(kept["rows"]), int(kept["count"])
        except (msgspec.DecodeError, KeyError, TypeError, ValueError):
            return
        self._unreadable, self._unreadable_count = rows[:UNREADABLE_KEPT], count
        self._unreadable_last = position

    def _maybe_save(self) -> None:
        if self._checkpoints is None or self.read_only or not self._unsaved:
            return
        if (self._unsaved >= self.save_every
                or time.monotonic() - self._saved_at >= self.save_seconds):
            self.save()

    def save(self) -> None:
        """Write every state with its position. The states are encoded here, between two
        events, so each is exactly the state at its position; with a `background`, the
        writing happens there, in order."""
        with self._lock:
            checkpoints = self._checkpoints
            if checkpoints is None or self.read_only:
                return
            rows = [(s.name, s.position, s.version, encode_state(s.state)) for s in self._slots]
            if self._unreadable_count:
                rows.append((UNREADABLE_ROW, self._unreadable_last, 1, encode_state(
                    {"count": self._unreadable_count, "rows": self._unreadable})))
            self._unsaved = 0
            self._saved_at = time.monotonic()
        if self._background is not None:
            self._background.submit(checkpoints.save, rows)
        else:
            checkpoints.save(rows)

    def close(self) -> None:
        with self._lock:
            if self._checkpoints is not None:
                if self._unsaved and not self.read_only:
                    self.save()
                if self._background is not None:
                    self._background.flush()
                self._checkpoints.close()
                self._checkpoints = None

    def __enter__(self) -> Projector:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()


def replay(events: Iterable[Event], modules: Sequence[ModuleType] | None = None) -> Projector:
    """An in-memory projector fed with `events` (tests, `replay rebuild`)."""
    projector = Projector(None, modules, persist=False)
    projector.apply(events)
    return projector
