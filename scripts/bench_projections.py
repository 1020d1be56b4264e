"""Projection benchmark: how fast every projection together applies the log, and what 10,000
live channels cost in memory.

Synthesizes realistic call lifecycles (Newchannel, VarSet, Newexten, DialBegin/End, Newstate,
BridgeCreate/Enter/Leave/Destroy, Hangup, DeviceStateChange; a third of the calls go through a
queue: QueueCallerJoin, AgentCalled, AgentConnect, AgentComplete, ...), a few hundred calls in
flight at any time, events interleaved as Asterisk would send them. Prints events/s for
  1. all registered projections applying an in-memory list of Events (target >= 200,000/s),
     and each projection alone;
  2. all projections reading the same log from a SQLite store (read + decode + apply), with
     and without checkpoints, and the store's read path against the eventsourcing library's
     `select_notifications` it replaced;
  3. baselines in the same run, so a loaded or slower machine shows as a ratio, not as a
     regression: a naive copy-on-write channels apply (a new dict per event, as a "pure"
     projection written without care would do) against ours, same events;
and, in a fresh process, the RSS with 10,000 concurrent channels (target <= 150 MB).

Rates are the best of `--repeat` runs, timed in this process's CPU seconds (`clock`): other
processes on the machine only ever slow a run down, and on an idle machine CPU time is wall
time (every measurement here is one thread, and SQLite reads come from the page cache). The
garbage collector is tuned as `switchboard run` tunes it (`engine.runtime.tune_gc`).

    python scripts/bench_projections.py [--events 500000] [--channels 10000] [--naive 50000]
                                        [--repeat 3]
"""

from __future__ import annotations

import argparse
import random
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from engine.envelope import Event, NewEvent, decode_event  # noqa: E402
from engine.runtime import tune_gc  # noqa: E402
from engine.store import Store, derived_path  # noqa: E402
from projections import PROJECTIONS, channels  # noqa: E402
from projections.runner import TABLE, MemoryCheckpoints, Projector, encode_state  # noqa: E402

T0 = 1795361587.0
clock = time.process_time  # see the docstring
RECORDED = "2026-11-22T15:33:07.000000+00:00"
STATES = {0: "Down", 4: "Ring", 5: "Ringing", 6: "Up"}


def snapshot(uid: str, name: str, state: int, linked: str, exten: str, prefix: str = ""
             ) -> dict[str, str]:
    fields = {
        "Channel": name, "ChannelState": str(state), "ChannelStateDesc": STATES[state],
        "CallerIDNum": exten, "CallerIDName": "Customer", "ConnectedLineNum": "<unknown>",
        "ConnectedLineName": "<unknown>", "Language": "en", "AccountCode": "",
        "Context": "from-internal", "Exten": exten, "Priority": "1", "Uniqueid": uid,
        "Linkedid": linked,
    }
    return {prefix + k: v for k, v in fields.items()} if prefix else fields


def call(i: int, server: str, live_only: bool = False) -> Iterator[tuple[str, dict]]:
    """One call's events, in order: (type, headers without Timestamp)."""
    a_uid, b_uid = f"{T0:.0f}.{2 * i}", f"{T0:.0f}.{2 * i + 1}"
    a_ext, b_ext = f"{100 + i % 800}", f"{2000 + i % 50}"
    a_name, b_name = f"PJSIP/{a_ext}-{2 * i:08x}", f"PJSIP/{b_ext}-{2 * i + 1:08x}"
    bridge = f"bridge-{i:08d}"
    queued = i % 3 == 0
    a = lambda state: snapshot(a_uid, a_name, state, a_uid, a_ext)  # noqa: E731
    b = lambda state: snapshot(b_uid, b_name, state, a_uid, b_ext)  # noqa: E731
    bridge_h = {"BridgeUniqueid": bridge, "BridgeType": "basic",
                "BridgeTechnology": "simple_bridge", "BridgeCreator": "<unknown>",
                "BridgeName": "<unknown>", "BridgeVideoSourceMode": "none"}
    yield "Newchannel", a(4)
    yield "VarSet", {**a(4), "Variable": "CALLERID(num)", "Value": a_ext}
    yield "Newexten", {**a(4), "Extension": a_ext, "Application": "Answer", "AppData": ""}
    yield "Newstate", a(6)
    yield "DeviceStateChange", {"Device": f"PJSIP/{a_ext}", "State": "INUSE"}
    if queued:
        yield "Newexten", {**a(6), "Extension": a_ext, "Application": "Queue",
                           "AppData": "sales"}
        yield "QueueCallerJoin", {**a(6), "Queue": "sales", "Position": "1", "Count": "1"}
    else:
        yield "Newexten", {**a(6), "Extension": a_ext, "Application": "Dial",
                           "AppData": f"PJSIP/{b_ext},30"}
    yield "Newchannel", b(0)
    yield "VarSet", {**b(0), "Variable": "DIALEDPEERNUMBER", "Value": b_ext}
    if queued:
        yield "AgentCalled", {**a(6), **snapshot(b_uid, b_name, 0, a_uid, b_ext, "Dest"),
                              "Queue": "sales", "Interface": f"PJSIP/{b_ext}",
                              "MemberName": f"Agent {b_ext}"}
    yield "DialBegin", {**a(6), **snapshot(b_uid, b_name, 0, a_uid, b_ext, "Dest"),
                        "DialString": b_ext}
    yield "Newstate", b(5)
    yield "DeviceStateChange", {"Device": f"PJSIP/{b_ext}", "State": "RINGING"}
    yield "Newstate", b(6)
    yield "DialEnd", {**a(6), **snapshot(b_uid, b_name, 6, a_uid, b_ext, "Dest"),
                      "DialStatus": "ANSWER"}
    if queued:
        yield "QueueCallerLeave", {**a(6), "Queue": "sales", "Position": "1", "Count": "0"}
        yield "AgentConnect", {**a(6), **snapshot(b_uid, b_name, 6, a_uid, b_ext, "Dest"),
                               "Queue": "sales", "Interface": f"PJSIP/{b_ext}",
                               "MemberName": f"Agent {b_ext}", "HoldTime": "3",
                               "RingTime": "2"}
    yield "BridgeCreate", {**bridge_h, "BridgeNumChannels": "0"}
    yield "BridgeEnter", {**bridge_h, "BridgeNumChannels": "1", **a(6)}
    yield "BridgeEnter", {**bridge_h, "BridgeNumChannels": "2", **b(6)}
    yield "VarSet", {**a(6), "Variable": "BRIDGEPEER", "Value": b_name}
    yield "DeviceStateChange", {"Device": f"PJSIP/{b_ext}", "State": "INUSE"}
    if live_only:
        return
    yield "BridgeLeave", {**bridge_h, "BridgeNumChannels": "1", **a(6)}
    yield "BridgeLeave", {**bridge_h, "BridgeNumChannels": "0", **b(6)}
    yield "BridgeDestroy", {**bridge_h, "BridgeNumChannels": "0"}
    yield "HangupRequest", {**b(6), "Cause": "16"}
    yield "Hangup", {**b(6), "Cause": "16", "Cause-txt": "Normal Clearing"}
    yield "Hangup", {**a(6), "Cause": "16", "Cause-txt": "Normal Clearing"}
    if queued:
        yield "AgentComplete", {**a(6), **snapshot(b_uid, b_name, 6, a_uid, b_ext, "Dest"),
                                "Queue": "sales", "Interface": f"PJSIP/{b_ext}",
                                "MemberName": f"Agent {b_ext}", "HoldTime": "3",
                                "TalkTime": "60", "Reason": "caller"}
    yield "DeviceStateChange", {"Device": f"PJSIP/{a_ext}", "State": "NOT_INUSE"}
    yield "DeviceStateChange", {"Device": f"PJSIP/{b_ext}", "State": "NOT_INUSE"}


def generate(n: int, in_flight: int = 300, seed: int = 7, live_only: bool = False,
             calls: int | None = None) -> Iterator[Event]:
    """`n` events (or every event of `calls` calls) with `in_flight` calls interleaved."""
    rng = random.Random(seed)
    active: list[Iterator[tuple[str, dict]]] = []
    started = 0
    position = 0
    while True:
        while len(active) < in_flight and (calls is None or started < calls):
            server = "pbx2" if started % 10 == 9 else "pbx1"
            active.append(call(started, server, live_only))
            started += 1
        if not active or (calls is None and position >= n):
            return
        k = rng.randrange(len(active))
        step = next(active[k], None)
        if step is None:
            active[k] = active[-1]
            active.pop()
            continue
        position += 1
        type_, headers = step
        data = {"Event": type_, "Privilege": "call,all",
                "Timestamp": f"{T0 + position * 0.001:.6f}", **headers}
        server = "pbx2" if headers.get("Uniqueid", "").endswith(("9", "8")) else "pbx1"
        yield Event(position, f"ami/{server}/bench", position, type_, RECORDED, server, data)


def rate(n: int, seconds: float) -> str:
    return f"{n / seconds:>12,.0f} events/s"


# ------------------------------------------------------------------------------ naive baseline

def naive_channels_apply(state: dict, event: Event) -> dict:
    """Copy-on-write: every event builds a new state, a new channel map and a new row."""
    data = event.data
    uid = data.get("Uniqueid")
    if uid is None:
        return state
    key = f"{event.server}/{uid}"
    chans = state.get("channels", {})
    if event.type == "Hangup":
        return {**state, "channels": {k: v for k, v in chans.items() if k != key}}
    if event.type != "Newchannel" and key not in chans:
        return state
    row = dict(chans.get(key, {"variables": {}}))
    for header, field in channels.SNAPSHOT_FIELDS:
        if header in data:
            row[field] = data[header]
    if "ChannelState" in data:
        row["channel_state"] = int(data["ChannelState"])
    if event.type == "VarSet":
        row["variables"] = {**row["variables"], data["Variable"]: data.get("Value", "")}
    return {**state, "channels": {**chans, key: row}}


# ------------------------------------------------------------------------------ runs

def measured(applied: int, n: int, what: str) -> None:
    """A run that did not apply the whole log measured something else: stop rather than
    print a rate for it."""
    if applied != n:
        raise SystemExit(f"bench_projections: {what}: applied {applied:,} of {n:,} events; "
                         "not a measurement of the whole log, no figure printed")


def best(repeat: int, run: Callable[[], float]) -> float:
    """The shortest of `repeat` timings of `run` (which returns its own elapsed seconds)."""
    return min(run() for _ in range(repeat))


def timed_apply(projector_factory: Callable[[], Projector], events: list[Event]) -> float:
    projector = projector_factory()
    start = clock()
    for i in range(0, len(events), 2000):  # the engine's batches
        projector.apply(events[i:i + 2000])
    elapsed = clock() - start
    assert not projector.errors, projector.errors
    return elapsed


def bench_memory(events: list[Event], repeat: int) -> None:
    n = len(events)
    elapsed = best(repeat, lambda: timed_apply(lambda: Projector(persist=False), events))
    print(f"  all {len(PROJECTIONS)} projections, in memory  {rate(n, elapsed)}"
          f"   ({elapsed:.2f} s; target >= 200,000)")
    for module in PROJECTIONS:
        alone = best(repeat, lambda m=module: timed_apply(
            lambda: Projector(modules=[m], persist=False), events))
        print(f"      {module.NAME:<10} alone {rate(n, alone)}")
    projector = Projector(persist=False)
    projector.apply(events)
    live = len(projector.state("channels")["channels"])
    print(f"  end state: {live} live channels, {len(projector.rows('calls'))} calls kept")


def library_read(store: Store, after: int, limit: int) -> list[Event]:
    """The read path before: the eventsourcing recorder's select_notifications, then decode."""
    notifications = store.recorder.select_notifications(  # type: ignore[attr-defined]
        after, limit, None, inclusive_of_start=False)
    return [decode_event(n.id, n.originator_id, n.originator_version, n.topic, n.state)
            for n in notifications]


def timed_read(read: Callable[[int, int], list], batch: int = 5000) -> float:
    start = clock()
    after = 0
    while rows := read(after, batch):
        last = rows[-1]
        after = last[0] if isinstance(last, tuple) else last.position
    return clock() - start


def bench_sqlite(events: list[Event], repeat: int) -> None:
    from engine.store import open_store

    n = len(events)
    with tempfile.TemporaryDirectory() as tmp:
        store = open_store(f"sqlite:///{tmp}/bench.db")
        start = time.perf_counter()
        for i in range(0, n, 2000):
            store.append([NewEvent(e.stream, e.version, e.type, e.recorded_at, e.server, e.data)
                          for e in events[i:i + 2000]])
        print(f"  (log written: {rate(n, time.perf_counter() - start)} appends, wall clock)")

        def catch_up() -> float:
            projector = Projector(store, persist=False, batch=5000)
            start = clock()
            applied = projector.catch_up()
            elapsed = clock() - start
            measured(applied, n, "from SQLite")
            return elapsed

        elapsed = best(repeat, catch_up)
        print(f"  all projections, from SQLite (read+decode+apply)  {rate(n, elapsed)}")
        read = best(repeat, lambda: timed_read(store.read))
        before = best(repeat, lambda: timed_read(lambda a, b: library_read(store, a, b)))
        raw = best(repeat, lambda: timed_read(store.read_raw))
        print(f"      of which reading+decoding alone             {rate(n, read)}")
        print(f"        the library's read path, same log         {rate(n, before)}"
              f"   (Store.read {before / read:.1f}x faster)")
        print(f"        rows alone, no decoding (read_raw)         {rate(n, raw)}")

        def persisted() -> float:
            # Every run from position 0. The checkpoints live in the derived file beside the
            # log (`derived_path`), not in the log's file: dropping the table there dropped
            # nothing, the second run resumed at the end of the log, applied no event in no
            # time, and "best of" printed 2.7 billion events/s.
            with sqlite3.connect(derived_path(store.url) or "") as conn:
                conn.execute(f"DROP TABLE IF EXISTS {TABLE}")
            with Projector(store, batch=5000) as projector:
                start = clock()
                applied = projector.catch_up()
                elapsed = clock() - start
            measured(applied, n, "with checkpoints")
            return elapsed

        elapsed = best(repeat, persisted)
        print(f"  same, with checkpoints (defaults: 100k events, 5 s){rate(n, elapsed)}"
              "   (fsync waits not counted)")
        store.close()


def bench_baseline(events: list[Event], repeat: int) -> None:
    n = len(events)

    def naive() -> float:
        state: dict = {}
        start = clock()
        for event in events:
            state = naive_channels_apply(state, event)
        return clock() - start

    slow = best(repeat, naive)
    fast = best(repeat, lambda: timed_apply(
        lambda: Projector(modules=[channels], persist=False), events))
    print(f"  naive copy-on-write channels apply ({n:,} events) {rate(n, slow)}")
    print(f"  our channels apply, same events                 {rate(n, fast)}"
          f"   ({slow / fast:.1f}x faster)")


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def rss_child(channel_count: int) -> None:
    """In a fresh process: RSS before, then with `channel_count` concurrent channels."""
    before = rss_mb()
    projector = Projector(persist=False)
    batch: list[Event] = []
    for event in generate(0, in_flight=channel_count // 2, live_only=True,
                          calls=channel_count // 2):
        batch.append(event)
        if len(batch) == 5000:
            projector.apply(batch)
            batch = []
    projector.apply(batch)
    live = len(projector.state("channels")["channels"])
    after = rss_mb()
    size = sum(len(encode_state(projector.state(m.NAME))) for m in PROJECTIONS)
    checkpoints = MemoryCheckpoints()
    projector._checkpoints = checkpoints
    start = time.perf_counter()
    projector.save()
    saved = time.perf_counter() - start
    print(f"  {live:,} concurrent channels: RSS {after:.0f} MB "
          f"(interpreter and modules {before:.0f} MB, projections +{after - before:.0f} MB;"
          f" target <= 150 MB)")
    print(f"  checkpoint of all states: {size / 1e6:.1f} MB JSON, saved in {saved * 1000:.0f} ms")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--events", type=int, default=500_000)
    parser.add_argument("--channels", type=int, default=10_000)
    parser.add_argument("--naive", type=int, default=50_000)
    parser.add_argument("--repeat", type=int, default=3, help="best of this many runs")
    parser.add_argument("--rss-child", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.rss_child:
        rss_child(args.rss_child)
        return
    tune_gc()
    print(f"Switchboard projections benchmark: Python {sys.version.split()[0]}, "
          f"{len(PROJECTIONS)} projections ({', '.join(m.NAME for m in PROJECTIONS)})")
    start = time.perf_counter()
    events = list(generate(args.events))
    calls = sum(1 for e in events if e.type == "Newchannel") // 2
    print(f"log: {len(events):,} events, about {calls:,} calls, 300 in flight "
          f"(generated in {time.perf_counter() - start:.1f} s)")
    print("\n1. in memory")
    bench_memory(events, args.repeat)
    print("\n2. from a SQLite store")
    bench_sqlite(events, args.repeat)
    print("\n3. baseline, same run")
    bench_baseline(events[: args.naive], args.repeat)
    print("\n4. memory")
    subprocess.run([sys.executable, __file__, "--rss-child", str(args.channels)], check=True)


if __name__ == "__main__":
    main()
