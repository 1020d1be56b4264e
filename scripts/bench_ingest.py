"""Ingest benchmark: AMI events over real TCP from the test server into the SQLite log, durable.

Prints events/s for
  1. this engine end to end (test server -> TCP -> client -> parser -> log writer -> SQLite WAL),
     with receipt-to-durable latency percentiles;
  2. panoramisk 1.4's bare parsing of the same bytes (no socket, no storage);
  3. our parser's bare parsing of the same bytes;
  4. the naive path: one aggregate saved per event through an eventsourcing Application;
  5. raw sqlite3.executemany of the same rows (the limit of the storage).

    python scripts/bench_ingest.py [--events 200000] [--naive 3000]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sqlite3
import statistics
import tempfile
import time
from datetime import datetime
from pathlib import Path

from engine.ami.client import AmiClient
from engine.ami.ingest import SessionRecorder
from engine.ami.protocol import Parser
from engine.ami.testserver import AmiTestServer
from engine.config import ServerConfig
from engine.envelope import NewEvent, encode_state
from engine.log import EventLog
from engine.runtime import tune_gc
from engine.store import open_store

CAPTURES = Path(__file__).resolve().parents[1] / "tests" / "ami-captures"
SENTINEL = b"Event: UserEvent\r\nUserEvent: bench-end\r\n\r\n"


def capture_event_messages() -> list[bytes]:
    """Every inbound event of the shared captures, as wire bytes (responses left out)."""
    out: list[bytes] = []
    for path in sorted(CAPTURES.glob("*.jsonl")):
        for line in path.read_text().splitlines():
            row = json.loads(line)
            if row["dir"] == "in" and row["raw"].startswith("Event: "):
                out.append(row["raw"].encode())
    return out


def build_payload(n: int) -> bytes:
    messages = capture_event_messages()
    chunks = [messages[i % len(messages)] for i in range(n - 1)]
    return b"".join(chunks) + SENTINEL


async def engine_end_to_end(payload: bytes, n: int, db: str) -> tuple[float, list[float]]:
    store = open_store(f"sqlite:///{db}")
    log = EventLog(store, batch_size=2000)
    done = asyncio.Event()
    samples: list[tuple[float, str]] = []
    loop = asyncio.get_running_loop()

    def on_commit(events: list) -> None:  # writer thread
        now = time.time()
        for e in events[::50]:
            samples.append((now, e.recorded_at))
        if events and events[-1].type == "UserEvent":
            loop.call_soon_threadsafe(done.set)

    log.add_listener(on_commit)
    log.start()
    async with AmiTestServer(payload=payload) as server:
        config = ServerConfig(name="bench", port=server.port, username="admin", secret="admin",
                              ping_interval=30)
        recorder = SessionRecorder("bench", log)
        started = time.perf_counter()
        client = AmiClient(config, recorder.messages, recorder.session_start,
                           recorder.session_end, backpressure=log.wait_for_room)
        task = asyncio.create_task(client.run())
        await asyncio.wait_for(done.wait(), 300)
        elapsed = time.perf_counter() - started
        client.stop()
        task.cancel()
    await log.close()
    store.close()
    latencies = [
        (commit - datetime.fromisoformat(recorded).timestamp()) * 1000
        for commit, recorded in samples
    ]
    return n / elapsed, latencies


def panoramisk_parse(payload: bytes, n: int) -> float:
    from panoramisk.ami_protocol import AMIProtocol

    class Transport:
        def write(self, data: bytes) -> None:
            pass

    class Factory:
        count = 0
        save_stream = None

        def dispatch(self, message: object) -> None:
            Factory.count += 1

    proto = AMIProtocol()
    proto.connection_made(Transport())
    proto.factory = Factory()
    proto.encoding = "utf-8"
    started = time.perf_counter()
    for i in range(0, len(payload), 65536):
        proto.data_received(payload[i : i + 65536])
    elapsed = time.perf_counter() - started
    assert Factory.count == n, Factory.count
    return n / elapsed


def own_parse(payload: bytes, n: int) -> float:
    parser = Parser(expect_banner=False)
    count = 0
    started = time.perf_counter()
    for i in range(0, len(payload), 65536):
        count += len(parser.feed(payload[i : i + 65536]))
    elapsed = time.perf_counter() - started
    assert count == n, count
    return n / elapsed


def rows_of(payload: bytes) -> list[NewEvent]:
    messages = Parser(expect_banner=False).feed(payload)
    now = datetime.now().isoformat()
    return [NewEvent("ami/bench/s", i, m.type, now, "bench", m.headers)
            for i, m in enumerate(messages)]


def naive_application(events: list[NewEvent], db: str) -> float:
    import os

    from eventsourcing.application import Application
    from eventsourcing.domain import Aggregate

    class AmiMessage(Aggregate):
        def __init__(self, type: str, data: dict) -> None:
            self.type = type
            self.data = data

    os.environ.update(PERSISTENCE_MODULE="eventsourcing.sqlite", SQLITE_DBNAME=db)
    app: Application = Application()
    started = time.perf_counter()
    for e in events:
        app.save(AmiMessage(e.type, e.data))
    return len(events) / (time.perf_counter() - started)


def raw_executemany(events: list[NewEvent], db: str) -> float:
    conn = sqlite3.connect(db, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("CREATE TABLE e (originator_id TEXT, originator_version INTEGER, topic TEXT, "
                 "state BLOB, PRIMARY KEY (originator_id, originator_version))")
    rows = [(e.stream, e.version, e.type, encode_state(e)) for e in events]
    started = time.perf_counter()
    for i in range(0, len(rows), 2000):
        conn.execute("BEGIN")
        conn.executemany("INSERT INTO e VALUES (?,?,?,?)", rows[i : i + 2000])
        conn.execute("COMMIT")
    elapsed = time.perf_counter() - started
    conn.close()
    return len(rows) / elapsed


def pct(values: list[float], p: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(len(values) * p / 100))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--naive", type=int, default=3000,
                        help="events for the one-aggregate-per-event path (it is slow)")
    args = parser.parse_args()
    n = args.events
    payload = build_payload(n)
    tune_gc()
    print(f"payload: {n} AMI events from the shared captures, {len(payload) / 1e6:.1f} MB")
    with tempfile.TemporaryDirectory() as tmp:
        rate, lat = asyncio.run(engine_end_to_end(payload, n, f"{tmp}/engine.db"))
        events = rows_of(payload)
        results = [
            ("engine end to end (TCP -> SQLite, durable)", rate),
            ("panoramisk 1.4 bare parsing", panoramisk_parse(payload, n)),
            ("switchboard parser bare parsing", own_parse(payload, n)),
            (f"naive: 1 aggregate per event via Application ({args.naive} events)",
             naive_application(events[: args.naive], f"{tmp}/naive.db")),
            ("raw sqlite3.executemany, 2000/txn (the limit)",
             raw_executemany(events, f"{tmp}/raw.db")),
        ]
    print(f"{'path':<66} {'events/s':>12} {'vs engine':>10}")
    for name, value in results:
        print(f"{name:<66} {value:>12,.0f} {value / rate:>9.2f}x")
    print(f"receipt-to-durable latency (ms): p50 {statistics.median(lat):.1f}  "
          f"p90 {pct(lat, 90):.1f}  p99 {pct(lat, 99):.1f}  max {max(lat):.1f}")
    target = 50_000
    print(f"target >= {target:,} events/s end to end: {'MET' if rate >= target else 'NOT MET'}")


if __name__ == "__main__":
    main()
