"""The log's index: which positions name an id, and up to where the log was recorded by when.

A timeline (`replay.timeline`) needs every event that names a call, a channel, a command or a
dialing; scanning a million events for each question is too slow, so this index keeps, next to
the log (same database), one row per (id, position) for every id an event carries, maintained
incrementally like a projection: `catch_up` indexes what was appended since its own checkpoint,
written in the same transaction as the rows.

Which ids an event carries (`keys_of`):
- every header whose name ends in `Uniqueid` or `Linkedid` (`Uniqueid`, `DestLinkedid`,
  `ParkeeUniqueid`, `BridgeUniqueid`, `LocalOneUniqueid`, ...), `ActionID`, `ChannelId` and
  `OtherChannelId`;
- the envelope's `causation_id` and `correlation_id`;
- for the engine's own streams (`command/<id>`, `dialing/<uuid>`, `campaign/<uuid>`, ...): the
  id in the stream name, and in `data` (and one level below) the values of `id`, `uuid`, keys
  ending in `_id`, `_uuid`, `Id`, `Uniqueid` or `Linkedid`, and the strings of a `targets` list.

It also keeps time marks, for `--at TIME`: every `MARK_EVERY` positions, the latest `recorded_at`
up to there. Their running maximum only grows, so "the longest stretch of the log recorded at or
before T" is a binary search plus a scan of at most `MARK_EVERY` events, even when captures were
ingested later with their original clocks (the log's times then go back and forth).

Bump `VERSION` when the rules change: an index of another version is dropped and rebuilt.
"""

from __future__ import annotations

import math
import sqlite3
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable
from typing import Any

from engine.envelope import Event
from engine.redact import redact_url
from engine.store import derived_path, split_schema, sqlite_path
from engine.store.sqlite import derived_connection, write_transaction
from projections.base import recorded_time
from replay.reader import EVENTS, decode_rows

KEYS = "switchboard_timeline"
MARKS = "switchboard_timeline_marks"
STATE = "switchboard_timeline_state"
VERSION = 1
MARK_EVERY = 1000
CHUNK = 5000
MAX_KEY = 200  # longer values are not ids

AMI_ID_HEADERS = ("ActionID", "ChannelId", "OtherChannelId")
OWN_ID_KEYS = ("id", "uuid")
OWN_ID_SUFFIXES = ("_id", "_uuid", "Id", "Uniqueid", "Linkedid", "ActionID")

_is_id: dict[str, bool] = {}  # header name -> carries an id (the names repeat: cache)


def is_id_header(name: str) -> bool:
    known = _is_id.get(name)
    if known is None:
        known = name.endswith(("Uniqueid", "Linkedid")) or name in AMI_ID_HEADERS
        if len(_is_id) < 10_000:
            _is_id[name] = known
    return known


def _add(keys: set[str], value: Any) -> None:
    if isinstance(value, str):
        if value and len(value) <= MAX_KEY:
            keys.add(value)
    elif isinstance(value, list):
        for v in value:
            if isinstance(v, str) and v and len(v) <= MAX_KEY:
                keys.add(v)


def _own_keys(keys: set[str], data: dict, depth: int = 0) -> None:
    for name, value in data.items():
        if name in OWN_ID_KEYS or name.endswith(OWN_ID_SUFFIXES) or name == "targets":
            _add(keys, value)
        elif isinstance(value, dict) and depth == 0:
            _own_keys(keys, value, 1)


def keys_of(event: Event) -> set[str]:
    """Every id the event carries (see the module docstring)."""
    keys: set[str] = set()
    known = _is_id
    for name, value in event.data.items():
        flag = known.get(name)  # inlined: this loop sees every header of every event
        if flag is None:
            flag = is_id_header(name)
        if flag:
            if isinstance(value, str):
                if value and len(value) <= MAX_KEY:
                    keys.add(value)
            else:
                _add(keys, value)
    if event.causation_id:
        keys.add(event.causation_id)
    if event.correlation_id:
        keys.add(event.correlation_id)
    stream = event.stream
    if not stream.startswith("ami/"):
        _, sep, ident = stream.partition("/")
        if sep and ident:
            keys.add(ident)
        _own_keys(keys, event.data)
    return keys


def index_rows(events: Iterable[Event], high: float
               ) -> tuple[list[tuple[str, int]], list[tuple[int, float]], float]:
    """(key, position) rows, time marks and the new running maximum for a run of events."""
    rows: list[tuple[str, int]] = []
    marks: list[tuple[int, float]] = []
    for event in events:
        position = event.position
        rows.extend((key, position) for key in keys_of(event))
        t = recorded_time(event.recorded_at)
        if t > high:
            high = t
        if position % MARK_EVERY == 0:
            marks.append((position, high))
    rows.sort()  # inserts in key order touch each B-tree page once
    return rows, marks, high


class LogIndex(ABC):
    """The index of one log. `catch_up` before asking, to see the latest events."""

    @abstractmethod
    def state(self) -> tuple[int, float]:
        """(last indexed position, latest recorded time up to it); (0, -inf) when empty."""

    @abstractmethod
    def _chunk(self, after: int, size: int) -> list[Event]:
        """The events after `after`, at most `size`."""

    @abstractmethod
    def _commit(self, expected: int, position: int, high: float, rows: list[tuple[str, int]],
                marks: list[tuple[int, float]]) -> bool:
        """Store rows and move the checkpoint from `expected` to `position`, in one
        transaction; False (nothing stored) if another indexer moved it first."""

    @abstractmethod
    def positions(self, key: str) -> list[int]:
        """Indexed positions of events carrying `key`, in order."""

    @abstractmethod
    def _mark_above(self, t: float) -> tuple[int, float] | None:
        """The first time mark whose running maximum is later than `t`."""

    @abstractmethod
    def _mark_at(self, position: int) -> float | None: ...

    @abstractmethod
    def close(self) -> None: ...

    def catch_up(self, until: int | None = None, size: int = CHUNK,
                 progress: Callable[[int], None] | None = None) -> int:
        """Index everything after the checkpoint (up to `until`); returns events indexed.
        `progress(position)` after each chunk."""
        done = 0
        while True:
            after, high = self.state()
            if until is not None and after >= until:
                return done
            limit = size if until is None else min(size, until - after)
            events = self._chunk(after, limit)
            if not events:
                return done
            rows, marks, new_high = index_rows(events, high)
            if self._commit(after, events[-1].position, new_high, rows, marks):
                done += len(events)
            if progress is not None:
                progress(events[-1].position)

    def position_at(self, t: float, last: int) -> int:
        """The end of the longest stretch of the log (from position 1) whose every event was
        recorded at or before `t` (epoch seconds); 0 when even the first was later. `last` is
        the log's last position; the index should be caught up to it."""
        mark = self._mark_above(t)
        if mark is None:  # everything indexed is at or before t: scan the unindexed tail
            start, _ = self.state()
            start -= start % MARK_EVERY
            end = last
        else:
            end = mark[0]
            start = end - MARK_EVERY
        high = self._mark_at(start) if start > 0 else -math.inf
        if high is None:
            high = -math.inf
        after = start
        while after < end:
            events = self._chunk(after, min(CHUNK, end - after))
            if not events:
                break
            for event in events:
                high = max(high, recorded_time(event.recorded_at))
                if high > t:
                    return event.position - 1
            after = events[-1].position
        return after if mark is None else end


class SQLiteIndex(LogIndex):
    """The index's tables in the derived file (`path`); the events it indexes are read from the
    log's file (`log_path`) through a read-only connection of its own."""

    def __init__(self, path: str, log_path: str) -> None:
        self.path = path
        self._conn = derived_connection(path)
        self._conn.execute("PRAGMA cache_size=-65536")
        self._log = sqlite3.connect(f"file:{log_path}?mode=ro", uri=True,
                                    check_same_thread=False)
        self._ensure()

    def _ensure(self) -> None:
        with write_transaction(self._conn, self.path) as conn:
            conn.execute(f"CREATE TABLE IF NOT EXISTS {KEYS} (key TEXT NOT NULL, position "
                         "INTEGER NOT NULL, PRIMARY KEY (key, position)) WITHOUT ROWID")
            conn.execute(f"CREATE TABLE IF NOT EXISTS {MARKS} (position INTEGER PRIMARY KEY, "
                         "high REAL NOT NULL)")
            conn.execute(f"CREATE TABLE IF NOT EXISTS {STATE} (id INTEGER PRIMARY KEY CHECK "
                         "(id = 1), position INTEGER NOT NULL, version INTEGER NOT NULL, "
                         "high REAL NOT NULL)")
            row = conn.execute(f"SELECT version FROM {STATE}").fetchone()
            if row is None or row[0] != VERSION:
                conn.execute(f"DELETE FROM {KEYS}")
                conn.execute(f"DELETE FROM {MARKS}")
                conn.execute(f"INSERT OR REPLACE INTO {STATE} VALUES (1, 0, ?, ?)",
                             (VERSION, -1e300))

    def state(self) -> tuple[int, float]:
        position, high = self._conn.execute(f"SELECT position, high FROM {STATE}").fetchone()
        return position, (high if high > -1e300 else -math.inf)

    def _chunk(self, after: int, size: int) -> list[Event]:
        rows = self._log.execute(
            f"SELECT rowid, originator_id, originator_version, topic, state FROM {EVENTS} "
            "WHERE rowid > ? ORDER BY rowid LIMIT ?", (after, size)
        ).fetchall()
        return decode_rows(rows)

    def _commit(self, expected: int, position: int, high: float, rows: list[tuple[str, int]],
                marks: list[tuple[int, float]]) -> bool:
        with write_transaction(self._conn, self.path) as conn:
            current = conn.execute(f"SELECT position FROM {STATE}").fetchone()[0]
            if current != expected:  # another process indexed these first: nothing written
                return False
            conn.executemany(f"INSERT OR IGNORE INTO {KEYS} VALUES (?, ?)", rows)
            conn.executemany(f"INSERT OR REPLACE INTO {MARKS} VALUES (?, ?)", marks)
            conn.execute(f"UPDATE {STATE} SET position=?, high=?", (position, high))
        return True

    def positions(self, key: str) -> list[int]:
        return [r[0] for r in self._conn.execute(
            f"SELECT position FROM {KEYS} WHERE key=? ORDER BY position", (key,))]

    def _mark_above(self, t: float) -> tuple[int, float] | None:
        row = self._conn.execute(f"SELECT position, high FROM {MARKS} WHERE high > ? "
                                 "ORDER BY position LIMIT 1", (t,)).fetchone()
        return (row[0], row[1]) if row else None

    def _mark_at(self, position: int) -> float | None:
        row = self._conn.execute(f"SELECT high FROM {MARKS} WHERE position=?",
                                 (position,)).fetchone()
        return row[0] if row else None

    def close(self) -> None:
        self._conn.close()
        self._log.close()


class PostgresIndex(LogIndex):
    def __init__(self, url: str) -> None:
        import psycopg

        conninfo, schema = split_schema(url)
        self.schema = schema or "public"
        self._conn = psycopg.connect(conninfo, autocommit=True)
        self._ensure()

    def _t(self, table: str) -> str:
        return f'"{self.schema}".{table}'

    def _ensure(self) -> None:
        from engine.store.postgres import creating

        with creating(self._conn) as conn:
            conn.execute(f"CREATE TABLE IF NOT EXISTS {self._t(KEYS)} (key text NOT NULL, "
                         "position bigint NOT NULL, PRIMARY KEY (key, position))")
            conn.execute(f"CREATE TABLE IF NOT EXISTS {self._t(MARKS)} (position bigint "
                         "PRIMARY KEY, high double precision NOT NULL)")
            conn.execute(f"CREATE TABLE IF NOT EXISTS {self._t(STATE)} (id integer PRIMARY "
                         "KEY CHECK (id = 1), position bigint NOT NULL, version integer NOT "
                         "NULL, high double precision NOT NULL)")
        conn = self._conn
        with conn.transaction():
            conn.execute(f"INSERT INTO {self._t(STATE)} VALUES (1, 0, %s, %s) "
                         "ON CONFLICT DO NOTHING", (VERSION, -1e300))
            row = conn.execute(f"SELECT version FROM {self._t(STATE)} FOR UPDATE").fetchone()
            if row[0] != VERSION:
                conn.execute(f"DELETE FROM {self._t(KEYS)}")
                conn.execute(f"DELETE FROM {self._t(MARKS)}")
                conn.execute(f"UPDATE {self._t(STATE)} SET position=0, version=%s, high=%s",
                             (VERSION, -1e300))

    def state(self) -> tuple[int, float]:
        position, high = self._conn.execute(
            f"SELECT position, high FROM {self._t(STATE)}").fetchone()
        return position, (high if high > -1e300 else -math.inf)

    def _chunk(self, after: int, size: int) -> list[Event]:
        rows = self._conn.execute(
            f"SELECT notification_id, originator_id, originator_version, topic, state FROM "
            f"{self._t(EVENTS)} WHERE notification_id > %s ORDER BY notification_id LIMIT %s",
            (after, size)
        ).fetchall()
        return decode_rows(rows)

    def _commit(self, expected: int, position: int, high: float, rows: list[tuple[str, int]],
                marks: list[tuple[int, float]]) -> bool:
        conn = self._conn
        with conn.transaction():
            current = conn.execute(
                f"SELECT position FROM {self._t(STATE)} FOR UPDATE").fetchone()[0]
            if current != expected:
                return False
            with conn.cursor() as cur:
                with cur.copy(f"COPY {self._t(KEYS)} (key, position) FROM STDIN") as copy:
                    for row in rows:
                        copy.write_row(row)
                if marks:
                    cur.executemany(f"INSERT INTO {self._t(MARKS)} VALUES (%s, %s) ON "
                                    "CONFLICT (position) DO UPDATE SET high=excluded.high",
                                    marks)
                cur.execute(f"UPDATE {self._t(STATE)} SET position=%s, high=%s",
                            (position, high))
        return True

    def positions(self, key: str) -> list[int]:
        return [r[0] for r in self._conn.execute(
            f"SELECT position FROM {self._t(KEYS)} WHERE key=%s ORDER BY position", (key,))]

    def _mark_above(self, t: float) -> tuple[int, float] | None:
        row = self._conn.execute(f"SELECT position, high FROM {self._t(MARKS)} WHERE high > %s "
                                 "ORDER BY position LIMIT 1", (t,)).fetchone()
        return (row[0], row[1]) if row else None

    def _mark_at(self, position: int) -> float | None:
        row = self._conn.execute(f"SELECT high FROM {self._t(MARKS)} WHERE position=%s",
                                 (position,)).fetchone()
        return row[0] if row else None

    def close(self) -> None:
        self._conn.close()


def open_index(url: str) -> LogIndex:
    """The index of the log named by a store URL (its tables are created if missing)."""
    path, log_path = derived_path(url), sqlite_path(url)
    if path is not None and log_path is not None:
        return SQLiteIndex(path, log_path)
    if url.startswith(("postgresql://", "postgres://")):
        return PostgresIndex(url)
    raise ValueError(f"no index for store URL {redact_url(url)!r}")
