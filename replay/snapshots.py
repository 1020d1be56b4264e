"""Periodic projection snapshots, kept next to the log: what makes a past moment cheap to see.

The checkpoint table (`switchboard_projections`) holds each projection's state at one position,
overwritten as the engine goes. `switchboard_snapshots` keeps states at many positions (about
every `replay.snapshot_interval` events), never overwritten, so the state at any past position
is the nearest snapshot at or below it plus at most one interval of events, instead of a replay
from position 0. Snapshots are written by the running engine (`replay.live`, source `live`) and,
lazily, by whatever replays the log anyway (`replay.moment`, `replay snapshot`: source
`replay`). `replay verify` compares every one of them with a rebuild, which also tells when the
live state first went wrong.

A row is (name, version, code, position) -> state: the projection's checkpoint bytes (canonical
JSON), zlib-compressed (level 1: a 10 MB state becomes about 1 MB in about 20 ms). `code` is a
fingerprint of the projection code (`code_fingerprint`): a snapshot is a cache of what *this*
code makes of the log, and one written by other code (a projection changed without a `VERSION`
bump: seen in this repository) is never used, nor compared; it is simply written again. Rows are
written with INSERT OR IGNORE / ON CONFLICT DO NOTHING: the first writer's copy is kept.
"""

from __future__ import annotations

import hashlib
import sqlite3
import zlib
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING

from engine.redact import redact_url
from engine.store import derived_path, split_schema
from engine.store.sqlite import derived_connection, write_transaction
from projections.runner import TABLE as CHECKPOINTS
from projections.runner import Checkpoints, PostgresCheckpoints, SQLiteCheckpoints

if TYPE_CHECKING:
    import psycopg

TABLE = "switchboard_snapshots"
LEVEL = 1  # zlib: most of the gain of level 6 for a fifth of its time


@cache
def code_fingerprint() -> str:
    """A hash of the projection code: every module of the `projections` package and the
    envelope they read. (A projection that behaves differently because of code elsewhere
    still needs its `VERSION` bumped, as for checkpoints.)"""
    import engine.envelope
    import projections

    digest = hashlib.sha256()
    files = sorted(Path(projections.__file__).parent.glob("*.py"))
    for path in [*files, Path(engine.envelope.__file__)]:
        digest.update(path.name.encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()[:16]


@dataclass(frozen=True, slots=True)
class SnapshotInfo:
    name: str
    version: int
    code: str
    position: int
    source: str
    size: int  # compressed bytes
    saved_at: str


def pack(state: bytes) -> bytes:
    return zlib.compress(state, LEVEL)


def unpack(blob: bytes) -> bytes:
    return zlib.decompress(blob)


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="microseconds")


class Snapshots(ABC):
    """The snapshot table of one log (same database, a connection of its own). Reads see only
    snapshots of the running projection code; `list(every_code=True)` shows them all.

    The queries are shared; a backend says how to run them (`_rows`, `_insert`, `_create`),
    its placeholder (`P`) and how its `saved_at` reads as text."""

    P = "?"
    SAVED_AT = "saved_at"
    table = TABLE

    def __init__(self) -> None:
        self._ready = False
        self.code = code_fingerprint()

    @abstractmethod
    def _rows(self, sql: str, params: Sequence[object]) -> list[tuple]: ...

    @abstractmethod
    def _exists_table(self) -> bool: ...

    @abstractmethod
    def _create(self) -> None: ...

    @abstractmethod
    def _insert(self, rows: list[tuple]) -> None:
        """(name, version, code, position, source, state) rows, in one transaction; a
        snapshot already there is kept."""

    @abstractmethod
    def close(self) -> None: ...

    def _exists(self) -> bool:
        if not self._ready:
            self._ready = self._exists_table()
        return self._ready

    def save(self, position: int, states: Sequence[tuple[str, int, bytes]],
             source: str = "replay") -> None:
        """(name, version, state) rows at `position`, in one transaction."""
        if not self._exists():
            self._create()
            self._ready = True
        self._insert([(name, version, self.code, position, source, pack(state))
                      for name, version, state in states])

    def nearest(self, name: str, version: int, position: int) -> int | None:
        """The position of the latest snapshot at or below `position` (its state: `load`)."""
        if not self._exists():
            return None
        p = self.P
        rows = self._rows(f"SELECT MAX(position) FROM {self.table} WHERE name={p} AND "
                          f"version={p} AND code={p} AND position<={p}",
                          (name, version, self.code, position))
        return rows[0][0] if rows else None

    def load(self, name: str, version: int, position: int) -> bytes | None:
        if not self._exists():
            return None
        p = self.P
        rows = self._rows(f"SELECT state FROM {self.table} WHERE name={p} AND version={p} AND "
                          f"code={p} AND position={p}", (name, version, self.code, position))
        return unpack(bytes(rows[0][0])) if rows else None

    def list(self, name: str | None = None, every_code: bool = False) -> list[SnapshotInfo]:
        """Snapshots (of `name`), by name then position; states not loaded."""
        if not self._exists():
            return []
        where: list[str] = []
        params: list[object] = []
        if name:
            where.append(f"name={self.P}")
            params.append(name)
        if not every_code:
            where.append(f"code={self.P}")
            params.append(self.code)
        sql = (f"SELECT name, version, code, position, source, length(state), {self.SAVED_AT} "
               f"FROM {self.table}" + (" WHERE " + " AND ".join(where) if where else "")
               + " ORDER BY name, position")
        return [SnapshotInfo(*r) for r in self._rows(sql, params)]

    def __enter__(self) -> Snapshots:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()


class SQLiteSnapshots(Snapshots):
    def __init__(self, path: str) -> None:
        super().__init__()
        self.path = path
        self._conn = derived_connection(path)

    def _rows(self, sql: str, params: Sequence[object]) -> list[tuple]:
        return self._conn.execute(sql, params).fetchall()

    def _exists_table(self) -> bool:
        return bool(self._rows("SELECT 1 FROM sqlite_master WHERE type='table' AND name=?",
                               (TABLE,)))

    def _create(self) -> None:
        with write_transaction(self._conn, self.path) as conn:
            conn.execute(
                f"CREATE TABLE IF NOT EXISTS {TABLE} (name TEXT NOT NULL, version INTEGER NOT "
                "NULL, code TEXT NOT NULL, position INTEGER NOT NULL, source TEXT NOT NULL, "
                "state BLOB NOT NULL, saved_at TEXT NOT NULL, "
                "PRIMARY KEY (name, version, code, position))"
            )

    def _insert(self, rows: list[tuple]) -> None:
        now = _now()
        with write_transaction(self._conn, self.path) as conn:
            conn.executemany(f"INSERT OR IGNORE INTO {TABLE} VALUES (?,?,?,?,?,?,?)",
                             [(*row, now) for row in rows])

    def close(self) -> None:
        self._conn.close()


class PostgresSnapshots(Snapshots):
    P = "%s"
    SAVED_AT = "saved_at::text"

    def __init__(self, url: str) -> None:
        from engine.store.postgres import Reconnecting

        super().__init__()
        conninfo, schema = split_schema(url)
        self.table = f'"{schema or "public"}".{TABLE}'
        self._link = Reconnecting(conninfo)

    @property
    def _conn(self) -> psycopg.Connection:
        return self._link.conn

    def _rows(self, sql: str, params: Sequence[object]) -> list[tuple]:
        return self._conn.execute(sql, params).fetchall()

    def _exists_table(self) -> bool:
        row = self._conn.execute("SELECT to_regclass(%s)", (self.table,)).fetchone()
        return bool(row and row[0])

    def _create(self) -> None:
        from engine.store.postgres import creating

        with creating(self._conn) as conn:
            conn.execute(
                f"CREATE TABLE IF NOT EXISTS {self.table} (name text NOT NULL, version integer "
                "NOT NULL, code text NOT NULL, position bigint NOT NULL, source text NOT NULL, "
                "state bytea NOT NULL, saved_at timestamptz NOT NULL DEFAULT now(), "
                "PRIMARY KEY (name, version, code, position))"
            )

    def _insert(self, rows: list[tuple]) -> None:
        with self._conn.transaction(), self._conn.cursor() as cur:
            cur.executemany(
                f"INSERT INTO {self.table} (name, version, code, position, source, state) "
                "VALUES (%s,%s,%s,%s,%s,%s) ON CONFLICT DO NOTHING", rows
            )

    def close(self) -> None:
        self._link.close()


def open_snapshots(url: str) -> Snapshots:
    """The snapshot table of the log named by a store URL (`engine.store.derived_path`)."""
    path = derived_path(url)
    if path is not None:
        return SQLiteSnapshots(path)
    if url.startswith(("postgresql://", "postgres://")):
        return PostgresSnapshots(url)
    raise ValueError(f"no snapshot table for store URL {redact_url(url)!r}")


def open_live_checkpoints(url: str) -> Checkpoints:
    """The live checkpoint table (`switchboard_projections`) of a store URL, read only."""
    path = derived_path(url)
    if path is not None:
        return SQLiteCheckpoints(path, read_only=True)
    return PostgresCheckpoints(url, read_only=True)


def live_checkpoint(url: str, name: str, state: bool = False
                    ) -> tuple[int, int, bytes | None] | None:
    """(position, version, state if asked) of one projection's live checkpoint, reading that
    row only (the table holds every projection's state: megabytes)."""
    columns = "position, version" + (", state" if state else "")
    path = derived_path(url)
    if path is not None:
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        try:
            row = conn.execute(f"SELECT {columns} FROM {CHECKPOINTS} WHERE name=?",
                               (name,)).fetchone()
        except sqlite3.OperationalError:  # no checkpoint table yet
            row = None
        finally:
            conn.close()
    else:
        import psycopg

        conninfo, schema = split_schema(url)
        table = f'"{schema}".{CHECKPOINTS}' if schema else CHECKPOINTS
        with psycopg.connect(conninfo, autocommit=True) as conn:
            exists = conn.execute("SELECT to_regclass(%s)", (table,)).fetchone()
            row = conn.execute(f"SELECT {columns} FROM {table} WHERE name=%s",
                               (name,)).fetchone() if exists and exists[0] else None
    if row is None:
        return None
    return row[0], row[1], bytes(row[2]) if state else None


def due(interval: int, until: int) -> list[int]:
    """The positions at which periodic snapshots belong, up to `until`."""
    if interval <= 0:
        return []
    return list(range(interval, until + 1, interval))
