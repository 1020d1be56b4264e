"""The log in PostgreSQL: several engine and API processes share it.

Positions are the recorder's `notification_id` (a bigserial). The library takes an EXCLUSIVE
table lock per insert, so ids commit in order; this recorder also filters duplicates under that
lock, so a re-delivered message never reaches the INSERT and never burns a sequence value: no
rollback, no gap. `?schema=NAME` in the URL keeps the tables in their own schema. Commits
NOTIFY a channel; `wait` LISTENs on it to wake followers in any process.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from urllib.parse import SplitResult, urlsplit

import psycopg
from eventsourcing.persistence import PersistenceError
from eventsourcing.postgres import PostgresApplicationRecorder, PostgresDatastore

from engine.envelope import Event, NewEvent, decode_event
from engine.redact import redact_url
from engine.store import StoreUnavailable, StoreURLError, split_schema
from engine.store.base import GENESIS, ChainLink, RawRow, Store, dedupe_batch, link_hash

log = logging.getLogger("switchboard.store")
TABLE = "switchboard_events"
CHAIN = "switchboard_chain"
# Each stream's last version, one index probe per stream: `MAX(originator_version) ... GROUP BY`
# reads every version of each stream (21 ms an append once an AMI session had 50,000 messages).
HEADS = (
    "SELECT s.id, (SELECT originator_version FROM {table} WHERE originator_id = s.id "
    "ORDER BY originator_version DESC LIMIT 1) AS v FROM unnest(%s::text[]) AS s(id)"
)


DDL_LOCK = 0x5377_6264  # advisory lock key: one creator of switchboard's tables at a time


@contextmanager
def creating(conn: psycopg.Connection) -> Iterator[psycopg.Connection]:
    """Hold the table creators' advisory lock on `conn` (autocommit) while creating tables.

    `CREATE ... IF NOT EXISTS` is not safe against another connection creating the same thing
    at the same moment: the loser fails on a unique index of the catalog. An engine starting
    its timeline index while an API request opened it too did exactly that, and the index's
    thread died."""
    conn.execute("SELECT pg_advisory_lock(%s)", (DDL_LOCK,))
    try:
        yield conn
    finally:
        conn.execute("SELECT pg_advisory_unlock(%s)", (DDL_LOCK,))


def unavailable(url: str, exc: BaseException) -> str:
    """One line on why the database of `url` cannot be used: libpq's reason without its
    preamble and hints (`connection failed: connection to server at "h", port p failed:
    FATAL:  database "x" does not exist` -> `database "x" does not exist`), the URL without
    its password."""
    text = " ".join(str(exc).split("\n")[0].split())
    text = re.sub(r"^connection failed: (connection to server at .*? failed: )?", "", text)
    text = re.sub(r"^(FATAL|ERROR): +", "", text) or type(exc).__name__
    return f"cannot open the store {redact_url(url)}: {text}"


class Reconnecting:
    """One autocommit connection, opened again when the server dropped it: the operation that
    met the dropped connection fails, the next one gets a new connection. Without it a
    checkpoint or snapshot table held a dead connection for as long as the engine ran, after
    any PostgreSQL restart."""

    def __init__(self, conninfo: str,
                 setup: Callable[[psycopg.Connection], object] | None = None) -> None:
        self._conninfo = conninfo
        self._setup = setup  # run on every new connection (a LISTEN, ...)
        self._conn = self._connect()

    def _connect(self) -> psycopg.Connection:
        conn = psycopg.connect(self._conninfo, autocommit=True)
        if self._setup is not None:
            self._setup(conn)
        return conn

    def reconnect(self) -> bool:
        """Open a new connection if the server dropped this one; whether it did."""
        if not (self._conn.broken or self._conn.closed):
            return False
        log.warning("PostgreSQL connection lost: connecting again")
        self._conn = self._connect()
        return True

    @property
    def conn(self) -> psycopg.Connection:
        self.reconnect()
        return self._conn

    def close(self) -> None:
        self._conn.close()


class _Recorder(PostgresApplicationRecorder):
    def insert_batch(self, events: Sequence[NewEvent], encoded: Sequence[bytes]
                     ) -> tuple[list[tuple[NewEvent, int]], list[RawRow]]:
        table = f'"{self.datastore.schema}"."{self.events_table_name}"'
        with self.datastore.get_connection() as conn, conn.transaction(), conn.cursor() as curs:
            self._lock_table(curs)
            curs.execute(HEADS.format(table=table), (list({e.stream for e in events}),))
            heads = {r["id"]: r["v"] for r in curs.fetchall() if r["v"] is not None}
            fresh = dedupe_batch(events, heads)
            if not fresh:
                return [], []
            self._notify_channel(curs)
            by_event = {id(e): state for e, state in zip(events, encoded, strict=True)}
            states = [by_event[id(e)] for e in fresh]
            curs.execute(
                f"INSERT INTO {table} (originator_id, originator_version, topic, state) "
                "SELECT * FROM unnest(%s::text[], %s::bigint[], %s::text[], %s::bytea[]) "
                "RETURNING notification_id",
                ([e.stream for e in fresh], [e.version for e in fresh],
                 [e.type for e in fresh], states),
            )
            ids = sorted(r["notification_id"] for r in curs.fetchall())
            chain = f'"{self.datastore.schema}"."{CHAIN}"'
            curs.execute(f"SELECT hash FROM {chain} ORDER BY last_position DESC LIMIT 1")
            prev = curs.fetchone()
            prev_hash = prev["hash"] if prev else GENESIS
            rows = [(i, e.stream, e.version, e.type, st)
                    for i, e, st in zip(ids, fresh, states, strict=True)]
            curs.execute(f"INSERT INTO {chain} VALUES (%s, %s, %s, %s)",
                         (ids[-1], ids[0], prev_hash, link_hash(prev_hash, rows)))
        return list(zip(fresh, ids, strict=True)), rows


class PostgresStore(Store):
    def __init__(self, url: str) -> None:
        super().__init__()
        self.url = url
        conninfo, schema_given = split_schema(url)
        schema = schema_given or "public"
        parts = urlsplit(conninfo)
        try:
            port = parts.port or 5432
        except ValueError:
            raise StoreURLError(
                f"store URL {redact_url(url)!r}: the port is not a number") from None
        self._conninfo = conninfo
        self._server = f"{parts.hostname}:{port}"
        try:
            self._create(parts, port, schema)
        except (psycopg.Error, PersistenceError) as exc:
            raise StoreUnavailable(unavailable(url, exc)) from None
        self._schema = schema
        self._listener: Reconnecting | None = None

    def _create(self, parts: SplitResult, port: int, schema: str) -> None:
        with psycopg.connect(self._conninfo, autocommit=True) as conn, creating(conn):
            if schema != "public":
                conn.execute(f'CREATE SCHEMA IF NOT EXISTS "{schema}"')
            self.datastore = PostgresDatastore(
                dbname=parts.path.lstrip("/") or "postgres",
                host=parts.hostname or "127.0.0.1",
                port=str(port),
                user=parts.username or "postgres",
                password=parts.password or "",
                originator_id_type="text",
                pool_size=4,
                max_overflow=4,
                lock_timeout=30,
                schema=schema,
            )
            self.recorder = _Recorder(self.datastore, events_table_name=TABLE)
            self.recorder.create_table()
            conn.execute(
                f'CREATE TABLE IF NOT EXISTS "{schema}"."{CHAIN}" (last_position bigint '
                "PRIMARY KEY, first_position bigint NOT NULL, prev_hash text NOT NULL, "
                "hash text NOT NULL)"
            )

    def _append(self, events: Sequence[NewEvent], states: list[bytes], announce: bool
                ) -> list[Event]:
        pairs, rows = self.recorder.insert_batch(events, states)
        self._remember(rows)
        stored = [
            Event(pos, e.stream, e.version, e.type, e.recorded_at, e.server, e.data,
                  e.causation_id, e.correlation_id)
            for e, pos in pairs
        ]
        if stored and announce:
            self.announce(stored[-1].position)
        return stored

    def read_raw(self, after: int = 0, limit: int = 1000, until: int | None = None
                 ) -> list[RawRow]:
        # Not the library's select_notifications: it turns each state into bytes, and a row
        # written by hand with no state made every read of the log fail there.
        table = f'"{self.datastore.schema}"."{TABLE}"'
        stop, params = ("AND notification_id <= %s ", (after, until, limit)) \
            if until is not None else ("", (after, limit))
        with self.datastore.get_connection() as conn, conn.cursor() as curs:
            curs.execute(
                f"SELECT notification_id, originator_id, originator_version, topic, state "
                f"FROM {table} WHERE notification_id > %s {stop}ORDER BY notification_id "
                "LIMIT %s", params,
            )
            return [(r["notification_id"], r["originator_id"], r["originator_version"],
                     r["topic"], r["state"]) for r in curs.fetchall()]

    def chain(self, after: int = 0, limit: int = 10_000) -> list[ChainLink]:
        with self.datastore.get_connection() as conn, conn.cursor() as curs:
            curs.execute(
                f'SELECT first_position, last_position, prev_hash, hash FROM "{self._schema}".'
                f'"{CHAIN}" WHERE last_position > %s ORDER BY last_position LIMIT %s',
                (after, limit),
            )
            return [ChainLink(r["first_position"], r["last_position"], r["prev_hash"], r["hash"])
                    for r in curs.fetchall()]

    def last_position(self) -> int:
        return self.recorder.max_notification_id() or 0

    def stream_version(self, stream: str) -> int | None:
        events = self.recorder.select_events(stream, desc=True, limit=1)
        return events[0].originator_version if events else None

    def read_stream(self, stream: str, after_version: int = -1) -> list[Event]:
        table = f'"{self.datastore.schema}"."{TABLE}"'
        with self.datastore.get_connection() as conn, conn.cursor() as curs:
            curs.execute(
                f"SELECT notification_id, originator_id, originator_version, topic, state "
                f"FROM {table} WHERE originator_id=%s AND originator_version>%s "
                "ORDER BY originator_version",
                (stream, after_version),
            )
            return [
                decode_event(r["notification_id"], r["originator_id"], r["originator_version"],
                             r["topic"], r["state"])
                for r in curs.fetchall()
            ]

    def _external_commit(self, timeout: float) -> bool:
        """A NOTIFY on the log's channel (every commit sends one, ours too) within `timeout`;
        one LISTEN connection per store, used by the one waiter watching at a time, opened
        again (`Reconnecting`) when the server dropped it (a restart, a failover,
        `pg_terminate_backend`): a dead listener used to raise at every wait, and the
        projector's thread, waiting there, died with the read models frozen."""
        try:
            if self._listener is None:
                channel = self.recorder.channel_name
                self._listener = Reconnecting(
                    self._conninfo, setup=lambda conn: conn.execute(f'LISTEN "{channel}"'))
                return True  # what was committed before LISTEN: look once more
            if self._listener.reconnect():
                return True  # listening again: what came while it was down went unheard
            conn = self._listener.conn
            return any(True for _ in conn.notifies(timeout=timeout, stop_after=1))
        except psycopg.Error as exc:
            log.warning("listening for commits on %s failed, listening again: %s",
                        self._server, exc)
            time.sleep(timeout)  # the server may be away: no tighter loop than the watch's
            return True  # whatever came meanwhile went unheard: look

    def close(self) -> None:
        if self._listener is not None:
            self._listener.close()
        self.datastore.close()
