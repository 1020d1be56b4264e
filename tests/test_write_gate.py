"""One writer at a time per SQLite file in a process: queued, woken on release, in order."""

from __future__ import annotations

import threading
import time
from pathlib import Path

from engine.envelope import NewEvent, utc_now
from engine.store import open_store
from engine.store.sqlite import WriteGate, derived_connection, write_gate, write_transaction
from projections.runner import SQLiteCheckpoints


def test_waiters_go_in_arrival_order() -> None:
    gate = WriteGate()
    order: list[str] = []

    def writer(name: str) -> None:
        with gate.hold():
            order.append(name)

    with gate.hold():
        threads = []
        for name in ["first", "second", "third", "fourth"]:
            thread = threading.Thread(target=writer, args=(name,))
            thread.start()
            threads.append(thread)
            deadline = time.monotonic() + 5
            while len(gate._queue) < len(threads) and time.monotonic() < deadline:
                time.sleep(0.001)
    for thread in threads:
        thread.join(5)
    assert order == ["first", "second", "third", "fourth"]


def test_one_gate_per_file(tmp_path: Path) -> None:
    path = tmp_path / "log.db"
    assert write_gate(str(path)) is write_gate(str(tmp_path / "." / "log.db"))
    assert write_gate(str(path)) is not write_gate(str(tmp_path / "other.db"))


def test_a_writer_gets_the_next_turn_between_back_to_back_transactions(tmp_path: Path) -> None:
    """A writer committing back to back (the log's writer under load) leaves SQLite's lock
    free for microseconds between transactions; a second connection polling for it (SQLite's
    busy handler sleeps 1, 2, 5 ... 100 ms) would wait until the first stops (measured in the
    engine: 0.2-1.1 s for a checkpoint save). Through the gate it goes next."""
    path = str(tmp_path / "log.db")
    store = open_store(f"sqlite:///{path}")  # creates the file in WAL mode
    busy, other = derived_connection(path), derived_connection(path)
    started = threading.Event()

    def back_to_back() -> None:
        for i in range(20):
            with write_transaction(busy, path):
                busy.execute("CREATE TABLE IF NOT EXISTS t (x)")
                busy.execute("INSERT INTO t VALUES (?)", (i,))
                started.set()
                time.sleep(0.03)

    thread = threading.Thread(target=back_to_back)
    thread.start()
    started.wait(5)
    began = time.perf_counter()
    with write_transaction(other, path):
        waited = time.perf_counter() - began
        done = other.execute("SELECT count(*) FROM t").fetchone()[0]
    thread.join()
    assert waited < 0.2 and done < 5, (waited, done)
    busy.close()
    other.close()
    store.close()


def test_checkpoint_save_is_not_starved_by_a_busy_log_writer(tmp_path: Path) -> None:
    """The log's writer commits back to back (one event a commit); a checkpoint save on
    another connection of the same file takes turns with it."""
    path = tmp_path / "log.db"
    store = open_store(f"sqlite:///{path}")
    checkpoints = SQLiteCheckpoints(str(path))
    stop = threading.Event()

    def flood() -> None:
        events = [NewEvent("ami/x/s", v, "Newexten", utc_now(), "x", {"n": str(v)})
                  for v in range(100_000)]
        for event in events:
            if stop.is_set():
                return
            store.append([event])

    thread = threading.Thread(target=flood)
    thread.start()
    try:
        time.sleep(0.05)
        waits = []
        for i in range(20):
            started = time.perf_counter()
            checkpoints.save([("channels", i, 1, b"x" * 100_000)])
            waits.append(time.perf_counter() - started)
    finally:
        stop.set()
        thread.join()
    assert max(waits) < 0.5, waits
    assert checkpoints.load()["channels"][0] == 19
    checkpoints.close()
    store.close()
