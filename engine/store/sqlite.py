"""The log in an SQLite file (WAL): the embedded default, no server needed."""

from __future__ import annotations

import json
import logging
import os
import sqlite3
import threading
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager

from eventsourcing.persistence import PersistenceError
from eventsourcing.sqlite import SQLiteApplicationRecorder, SQLiteDatastore

from engine.envelope import Event, NewEvent, decode_event
from engine.store import StoreUnavailable
from engine.store.base import GENESIS, ChainLink, RawRow, Store, dedupe_batch, link_hash

log = logging.getLogger("switchboard.store")
TABLE = "switchboard_events"
CHAIN = "switchboard_chain"
CHECKPOINT_EVERY = 1.0  # seconds between two WAL checkpoints (`SQLiteStore._checkpoint`)
WAL_LIMIT = 16 * 1024 * 1024  # bytes: past this the checkpoint makes sure the WAL starts over
# What an append reads before it writes, in one statement (each statement lets go of the GIL and
# waits to take it back): the last position, the hash chain's last link, and each stream's last
# version as a JSON array of [stream, version]. The versions take one index probe per stream:
# `MAX(originator_version) ... GROUP BY originator_id` read every version of a stream instead,
# and an AMI session's stream grows by every message Asterisk sends: after 50,000 it cost 4.5 ms
# an append (against 7 us this way), and it kept growing for as long as the connection lasted.
BEFORE_APPEND = (
    f"SELECT (SELECT MAX(rowid) FROM {TABLE}), "
    f"(SELECT hash FROM {CHAIN} ORDER BY last_position DESC LIMIT 1), "
    f"(SELECT json_group_array(json_array(value, (SELECT originator_version FROM {TABLE} "
    "WHERE originator_id = value ORDER BY originator_version DESC LIMIT 1))) FROM json_each(?))"
)
CREATE_CHAIN = (
    f"CREATE TABLE IF NOT EXISTS {CHAIN} (last_position INTEGER PRIMARY KEY, "
    "first_position INTEGER NOT NULL, prev_hash TEXT NOT NULL, hash TEXT NOT NULL)"
)


class WriteGate:
    """One writer at a time on an SQLite file, across the threads of this process.

    SQLite serializes writers with a file lock, and a connection that finds it taken polls:
    it sleeps 1, 2, 5, 10 ... 100 ms and tries again. Under load the log's writer commits
    every millisecond or so, so a checkpoint save polling for the lock could wait seconds
    (measured: 1.1 s, and a 4.5 s stall of the projector with 200 SSE clients holding the
    GIL). Waiting here instead is a queue, woken on release: first come, first served. Other
    processes still meet SQLite's own lock.
    """

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._held = False
        self._queue: deque[object] = deque()  # waiting tickets, in arrival order

    @contextmanager
    def hold(self) -> Iterator[None]:
        with self._cond:
            if self._held or self._queue:
                ticket = object()
                self._queue.append(ticket)
                while self._held or self._queue[0] is not ticket:
                    self._cond.wait()
                self._queue.popleft()
            self._held = True
        try:
            yield
        finally:
            with self._cond:
                self._held = False
                self._cond.notify_all()


_gates: dict[str, WriteGate] = {}
_gates_lock = threading.Lock()


def write_gate(path: str) -> WriteGate:
    """The gate of the SQLite file at `path` (one per file in this process)."""
    gate = _gates.get(path)
    if gate is None:
        with _gates_lock:
            key = os.path.realpath(path)
            gate = _gates[path] = _gates.setdefault(key, WriteGate())
    return gate


def derived_connection(path: str) -> sqlite3.Connection:
    """A connection to the file of the tables derived from the log (checkpoints, snapshots, the
    index: `engine.store.derived_path`): autocommit (write with `write_transaction`), WAL, and
    `synchronous=NORMAL`: their commits skip the fsync (the WAL is synced when it is
    checkpointed). A power cut can lose the last of them; they are rebuilt from the log, never
    the reverse."""
    conn = sqlite3.connect(path, timeout=30, isolation_level=None, check_same_thread=False)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    return conn


@contextmanager
def immediate(conn: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """`BEGIN IMMEDIATE` ... `COMMIT` on `conn`, rolled back if the block raises; hold the
    file's gate around it (`write_transaction` does both)."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield conn
    except BaseException:
        conn.rollback()
        raise
    conn.commit()


@contextmanager
def write_transaction(conn: sqlite3.Connection, path: str) -> Iterator[sqlite3.Connection]:
    """A write transaction on `conn` (a connection to `path`) through the file's gate. Every
    writer of a switchboard SQLite file uses it (the log's own appends, which must take the
    gate before the library's pool, use its two halves)."""
    with write_gate(path).hold(), immediate(conn):
        yield conn


class _Recorder(SQLiteApplicationRecorder):
    """The library's recorder, with a batch insert that filters duplicates instead of failing.

    The library inserts row by row to learn each rowid; inside one `BEGIN IMMEDIATE` transaction
    the rowids of an `executemany` are simply last+1..last+n, and nothing else can write, so the
    positions are gap-free and known without a round trip per event. The batch's hash-chain link
    is written in the same transaction.
    """

    def construct_create_table_statements(self) -> list[str]:
        return [*super().construct_create_table_statements(), CREATE_CHAIN]

    def insert_batch(self, events: Sequence[NewEvent], states: Sequence[bytes],
                     committed: Callable[[list[RawRow]], None] | None = None
                     ) -> tuple[list[NewEvent], int]:
        # Encoded before (`Store.append`), not while holding the file: the other writers wait
        # for the gate.
        path = self.datastore.pool.db_name
        encoded = {id(e): state for e, state in zip(events, states, strict=True)}
        streams = list({e.stream for e in events})
        with write_gate(path).hold(), self.datastore.get_connection(commit=True) as conn:
            raw: sqlite3.Connection = conn._sqlite_conn  # the library exposes no IMMEDIATE begin
            if not getattr(conn, "switchboard_checkpoints", False):
                raw.execute("PRAGMA wal_autocheckpoint=0")  # SQLiteStore._checkpoint does it
                raw.execute(f"PRAGMA journal_size_limit={WAL_LIMIT}")  # once it starts over
                conn.switchboard_checkpoints = True
            with immediate(raw):
                last, prev, versions = raw.execute(
                    BEFORE_APPEND, (json.dumps(streams),)).fetchone()
                last = last or 0
                heads = {stream: v for stream, v in json.loads(versions) if v is not None}
                fresh = dedupe_batch(events, heads)
                rows = [(e.stream, e.version, e.type, encoded[id(e)]) for e in fresh]
                raw.executemany(f"INSERT INTO {TABLE} VALUES (?,?,?,?)", rows)
                numbered: list[RawRow] = [(last + i + 1, *r) for i, r in enumerate(rows)]
                if rows:
                    prev_hash = prev or GENESIS
                    raw.execute(
                        f"INSERT INTO {CHAIN} VALUES (?,?,?,?)",
                        (last + len(rows), last + 1, prev_hash, link_hash(prev_hash, numbered)),
                    )
            if committed is not None:  # still holding the gate: in commit order
                committed(numbered)
        return fresh, last


class SQLiteStore(Store):
    def __init__(self, url: str, path: str) -> None:
        super().__init__()
        self.url = url
        self.path = path
        try:
            self.datastore = SQLiteDatastore(path, originator_id_type="text", lock_timeout=30)
            self.recorder = _Recorder(self.datastore, events_table_name=TABLE)
            self.recorder.create_table()
            self._probe = sqlite3.connect(path, check_same_thread=False, timeout=30)
        except (sqlite3.Error, PersistenceError) as exc:  # not a database, a folder, no access
            raise StoreUnavailable(f"cannot open the store {url}: {exc}") from None
        self._probe_lock = threading.Lock()
        self._version: int | None = None  # PRAGMA data_version when last looked at
        self._checkpointing: threading.Thread | None = None
        self._closing = threading.Event()

    def _append(self, events: Sequence[NewEvent], states: list[bytes], announce: bool
                ) -> list[Event]:
        if self._checkpointing is None:
            self._checkpointing = threading.Thread(target=self._checkpoint, daemon=True,
                                                   name="wal-checkpoint")
            self._checkpointing.start()
        fresh, last = self.recorder.insert_batch(events, states, self._remember)
        stored = [
            Event(last + i + 1, e.stream, e.version, e.type, e.recorded_at, e.server, e.data,
                  e.causation_id, e.correlation_id)
            for i, e in enumerate(fresh)
        ]
        if stored and announce:
            self.announce(stored[-1].position)
        return stored

    def read_raw(self, after: int = 0, limit: int = 1000, until: int | None = None
                 ) -> list[RawRow]:
        # The library's select_notifications builds a sqlite3.Row and a Notification per event
        # inside BEGIN/ROLLBACK: 4x the cost of the query itself (240k rows/s against 900k/s).
        # One SELECT in autocommit mode reads one consistent snapshot; plain tuples are RawRows.
        stop, params = ("AND rowid<=? ", (after, until, limit)) if until is not None else (
            "", (after, limit))
        with self.datastore.get_connection(commit=False) as conn:
            cursor = conn._sqlite_conn.cursor()
            cursor.row_factory = None
            return cursor.execute(
                f"SELECT rowid, originator_id, originator_version, topic, state FROM {TABLE} "
                f"WHERE rowid>? {stop}ORDER BY rowid LIMIT ?", params,
            ).fetchall()

    def chain(self, after: int = 0, limit: int = 10_000) -> list[ChainLink]:
        with self._probe_lock:
            rows = self._probe.execute(
                f"SELECT first_position, last_position, prev_hash, hash FROM {CHAIN} "
                "WHERE last_position > ? ORDER BY last_position LIMIT ?", (after, limit)
            ).fetchall()
        return [ChainLink(*r) for r in rows]

    def last_position(self) -> int:
        with self._probe_lock:
            return self._probe.execute(f"SELECT MAX(rowid) FROM {TABLE}").fetchone()[0] or 0

    def stream_version(self, stream: str) -> int | None:
        events = self.recorder.select_events(stream, desc=True, limit=1)
        return events[0].originator_version if events else None

    def read_stream(self, stream: str, after_version: int = -1) -> list[Event]:
        with self._probe_lock:
            rows = self._probe.execute(
                f"SELECT rowid, originator_id, originator_version, topic, state FROM {TABLE} "
                "WHERE originator_id=? AND originator_version>? ORDER BY originator_version",
                (stream, after_version),
            ).fetchall()
        return [decode_event(*r) for r in rows]

    def _external_commit(self, timeout: float) -> bool:
        """`PRAGMA data_version` changes when any other connection commits, and costs no disk
        read; waiting on the condition first lets this process's announcements wake us."""
        with self._committed:
            self._committed.wait(timeout)
        version = self._data_version()
        changed, self._version = version != self._version, version
        return changed

    def _data_version(self) -> int:
        with self._probe_lock:
            return int(self._probe.execute("PRAGMA data_version").fetchone()[0])

    def _checkpoint(self) -> None:
        """Copy the WAL back into the log's file every CHECKPOINT_EVERY seconds, on this thread.
        SQLite does it by itself in whichever connection commits past 1,000 pages, inside that
        commit: a dialer decision's commit then took milliseconds more (the benchmark's p99
        of decided -> durable went from 3.8 to 2.1 ms without it). PASSIVE never waits for the
        writers or the readers; what it cannot copy yet is copied next time.

        The WAL starts over only when a writer begins with every frame copied. Under a steady
        stream of appends that never happened, because the writer kept adding frames while the
        checkpoint ran: a 1,000,000-event log left a 570 MB WAL. So once the WAL is past
        WAL_LIMIT, a second pass copies the few frames added meanwhile while holding the file's
        gate, and the next append starts the WAL over (and cuts the file back to WAL_LIMIT)."""
        conn = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None,
                               timeout=30)
        try:
            page = conn.execute("PRAGMA page_size").fetchone()[0]
            while not self._closing.wait(CHECKPOINT_EVERY):
                try:
                    _, frames, _ = conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
                    if frames * page > WAL_LIMIT:
                        with write_gate(self.path).hold():
                            conn.execute("PRAGMA wal_checkpoint(PASSIVE)")
                except sqlite3.Error as exc:  # busy or full disk: the next one tries again
                    log.warning("WAL checkpoint of %s failed: %s", self.path, exc)
        finally:
            conn.close()

    def close(self) -> None:
        self._closing.set()
        if self._checkpointing is not None:
            self._checkpointing.join()
        self._probe.close()
        self.datastore.close()

