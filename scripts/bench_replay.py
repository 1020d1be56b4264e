"""Replay benchmark: rebuilding every projection from a 1,000,000-event SQLite log, point-in-time
views, timelines, verification and the calls report, each against a baseline in the same run.

The log is generated from the real AMI sessions in `tests/ami-captures/`: every call there
(its channels' events, the bridges they entered, their devices' state changes and Originate
answers) becomes a template, instantiated thousands of times with fresh ids, channel names and
times, a few hundred calls in flight per server, on three servers, interleaved by time as
Asterisk would send them; each server's session also answers `CoreShowChannels` (listing the
channels live at that moment) and `QueueSummary` now and then. The log is written through the
store's own batch append (2,000 events per transaction).

Prints:
  1. replay of all projections together from SQLite: the old path (`Projector.catch_up`
     through `Store.read`), replay's reader in one process, in one process per core, and as
     `replay rebuild` runs it by default (one process per core that is free at the time;
     target >= 200,000 events/s), with the periodic snapshots written on the way;
  2. point-in-time views (`replay.moment.view_at`, random positions and views, snapshots every
     50,000 events): latency percentiles (target <= 1 s), against a replay from position 0;
  3. timelines: building the index, then latency of random calls' timelines, against a scan;
  4. verification: the hash chain, and a whole `replay verify`;
  5. the calls report streamed to CSV: rate and peak memory.

    python scripts/bench_replay.py [--events 1000000] [--keep FILE] [--only 1,2,3,4,5]
"""

from __future__ import annotations

import argparse
import heapq
import multiprocessing
import os
import random
import re
import resource
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from engine.envelope import NewEvent  # noqa: E402
from engine.store import Store, open_store  # noqa: E402
from projections import PROJECTIONS, VIEWS  # noqa: E402
from projections.runner import Projector  # noqa: E402

T = TypeVar("T")

CAPTURES = Path(__file__).resolve().parents[1] / "tests" / "ami-captures"
SERVERS = ("pbx1", "pbx2", "pbx3")
IN_FLIGHT = 200  # calls per server
LIST_EVERY = 25_000  # events per server between CoreShowChannels / QueueSummary answers
T0 = 1795400000.0
_SUFFIX = re.compile(r"-([0-9a-f]{8})(?=;|$)")


# ------------------------------------------------------------------------------ templates

def capture_messages(path: Path) -> list[tuple[str, dict]]:
    from engine.capture import capture_events

    return [(e.type, e.data) for e in capture_events(path, "t")]


def templates() -> tuple[list[list[tuple[str, dict]]], list[list[tuple[str, dict]]]]:
    """(calls, queue summaries) cut from the captures: each call is its events in order."""
    calls: dict[tuple[str, str], list[tuple[str, dict]]] = {}
    summaries: list[list[tuple[str, dict]]] = []
    for path in sorted(CAPTURES.glob("*.jsonl")):
        chan_call: dict[str, tuple[str, str]] = {}
        bridge_call: dict[str, tuple[str, str]] = {}
        device_call: dict[str, tuple[str, str]] = {}
        messages = capture_messages(path)
        answers = {d["ActionID"] for t, d in messages if t == "QueueSummaryComplete"}
        by_action: dict[str, list[tuple[str, dict]]] = {}
        for type_, data in messages:
            action = data.get("ActionID")
            if action in answers:
                by_action.setdefault(action, []).append((type_, data))
                continue
            if action is not None and type_ != "OriginateResponse":
                continue
            call = None
            linked = data.get("Linkedid")
            if isinstance(linked, str) and linked:
                call = (path.stem, linked)
            elif data.get("Uniqueid") in chan_call:
                call = chan_call[data["Uniqueid"]]
            elif data.get("BridgeUniqueid") in bridge_call:
                call = bridge_call[data["BridgeUniqueid"]]
            elif type_ == "DeviceStateChange" and data.get("Device") in device_call:
                call = device_call[data["Device"]]
            if call is None:
                continue
            calls.setdefault(call, []).append((type_, data))
            for name, value in data.items():
                if name.endswith("Uniqueid") and not name.endswith("BridgeUniqueid"):
                    chan_call[value] = call
                if name.endswith("Channel") and isinstance(value, str) and "-" in value:
                    device_call[value.rsplit("-", 1)[0]] = call
            if type_ == "BridgeEnter":
                bridge_call[data["BridgeUniqueid"]] = call
        summaries += by_action.values()
    return [c for c in calls.values() if len(c) >= 6], summaries


def _time(data: dict) -> float | None:
    try:
        return float(data["Timestamp"])
    except (KeyError, ValueError):
        return None


class Instance:
    """One call of a template with fresh ids, channel names and times from `start`."""

    def __init__(self, template: list[tuple[str, dict]], number: int, start: float) -> None:
        self.template = template
        self.number = number
        self.start = start
        times = [t for _, d in template if (t := _time(d)) is not None]
        self.t0 = times[0] if times else 0.0
        self.ids: dict[str, str] = {}
        self.suffixes: dict[str, str] = {}

    def _id(self, value: str) -> str:
        new = self.ids.get(value)
        if new is None:
            new = self.ids[value] = f"{self.number}.{len(self.ids)}"
        return new

    def _channel(self, value: str) -> str:
        def swap(match: re.Match[str]) -> str:
            old = match.group(1)
            new = self.suffixes.get(old)
            if new is None:
                new = self.suffixes[old] = f"{(self.number * 4 + len(self.suffixes)):08x}"
            return "-" + new

        return _SUFFIX.sub(swap, value)

    def events(self) -> Iterator[tuple[float, str, dict]]:
        last = self.start
        for type_, data in self.template:
            t = _time(data)
            at = self.start + (t - self.t0) if t is not None else last
            last = at
            out: dict = {}
            for name, value in data.items():
                if isinstance(value, str) and value and (
                        name.endswith(("Uniqueid", "Linkedid")) or name == "ActionID"):
                    value = self._id(value)
                elif isinstance(value, str) and name.endswith("Channel"):
                    value = self._channel(value)
                out[name] = value
            if "Timestamp" in out:
                out["Timestamp"] = f"{at:.6f}"
            yield at, type_, out


def recorded(t: float) -> str:
    return datetime.fromtimestamp(t, UTC).isoformat(timespec="microseconds")


def generate(n: int, seed: int = 7) -> Iterator[NewEvent]:
    """`n` events: template calls on three servers, interleaved by time, with list answers."""
    rng = random.Random(seed)
    calls, summaries = templates()
    duration = statistics.mean(
        max((_time(d) or 0) for _, d in c) - min((_time(d) or 1e18) for _, d in c)
        for c in calls)
    gap = max(duration, 0.5) / IN_FLIGHT
    heap: list[tuple[float, int, str, Iterator[tuple[float, str, dict]]]] = []
    seq = 0
    number = 0
    versions = dict.fromkeys(SERVERS, 0)
    live: dict[str, dict[str, dict]] = {s: {} for s in SERVERS}
    since_list = dict.fromkeys(SERVERS, 0)
    next_start = dict.fromkeys(SERVERS, T0)

    def emit(server: str, type_: str, data: dict, t: float) -> NewEvent:
        version = versions[server]
        versions[server] += 1
        return NewEvent(f"ami/{server}/bench", version, type_, recorded(t), server, data)

    for server in SERVERS:  # each session begins as a real one does
        yield emit(server, "Banner", {"Banner": "Asterisk Call Manager/11.0.0"}, T0)
        yield emit(server, "FullyBooted", {"Event": "FullyBooted", "Privilege": "system,all",
                                           "Uptime": "30", "LastReload": "30",
                                           "Status": "Fully Booted"}, T0)
    produced = 2 * len(SERVERS)
    while produced < n:
        for server in SERVERS:
            while next_start[server] <= (heap[0][0] if heap else T0) + gap:
                instance = Instance(rng.choice(calls), number, next_start[server])
                number += 1
                it = instance.events()
                first = next(it, None)
                if first is not None:
                    heapq.heappush(heap, (first[0], seq, server, _chain(first, it)))
                    seq += 1
                next_start[server] += gap * rng.uniform(0.5, 1.5)
        t, _, server, it = heapq.heappop(heap)
        step = next(it)
        _, type_, data = step
        following = next(it, None)
        if following is not None:
            heapq.heappush(heap, (following[0], seq, server, _chain(following, it)))
            seq += 1
        uid = data.get("Uniqueid")
        if type_ == "Hangup":
            live[server].pop(uid, None)
        elif uid and "ChannelState" in data:
            live[server][uid] = data
        yield emit(server, type_, data, t)
        produced += 1
        since_list[server] += 1
        if since_list[server] >= LIST_EVERY:
            since_list[server] = 0
            for event in list_answers(server, live[server], summaries, number, t, rng):
                yield emit(server, event[0], event[1], t)
                produced += 1


def _chain(first: tuple[float, str, dict], rest: Iterator[tuple[float, str, dict]]
           ) -> Iterator[tuple[float, str, dict]]:
    yield first
    yield from rest


SNAPSHOT_HEADERS = ("Channel", "ChannelState", "ChannelStateDesc", "CallerIDNum",
                    "CallerIDName", "ConnectedLineNum", "ConnectedLineName", "Language",
                    "AccountCode", "Context", "Exten", "Priority", "Uniqueid", "Linkedid")


def list_answers(server: str, live: dict[str, dict], summaries: list, number: int, t: float,
                 rng: random.Random) -> Iterator[tuple[str, dict]]:
    """A `CoreShowChannels` answer listing the live channels, then a `QueueSummary` one."""
    action = f"bench-{server}-{number}"
    yield "Response", {"Response": "Success", "ActionID": action, "EventList": "start",
                       "Message": "Channels will follow"}
    for data in live.values():
        item = {"Event": "CoreShowChannel", "ActionID": action}
        item.update((h, data[h]) for h in SNAPSHOT_HEADERS if h in data)
        item.update({"Application": "Dial", "ApplicationData": "", "Duration": "00:00:03",
                     "BridgeId": ""})
        yield "CoreShowChannel", item
    yield "CoreShowChannelsComplete", {"Event": "CoreShowChannelsComplete",
                                       "ActionID": action, "EventList": "Complete",
                                       "ListItems": str(len(live))}
    if summaries:
        qaction = f"bench-q-{server}-{number}"
        for type_, data in rng.choice(summaries):
            yield type_, {**data, "ActionID": qaction}


# ------------------------------------------------------------------------------ helpers

def rate(n: int, seconds: float) -> str:
    return f"{n / seconds:>11,.0f} events/s"


def percentiles(values: list[float]) -> str:
    ordered = sorted(values)

    def p(q: float) -> float:
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))]

    return (f"p50 {p(0.5) * 1000:6.0f} ms  p90 {p(0.9) * 1000:6.0f} ms  "
            f"p99 {p(0.99) * 1000:6.0f} ms  max {ordered[-1] * 1000:6.0f} ms")


def rss_mb(field: str = "VmHWM") -> float:
    """This process's peak (VmHWM) or current (VmRSS) resident memory, in MB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def write_log(store: Store, n: int, wal: str) -> tuple[float, int]:
    """Seconds taken, and the largest the SQLite WAL (`wal`) grew meanwhile, in bytes: with
    appends back to back it must still start over (`SQLiteStore._checkpoint`)."""
    start = time.perf_counter()
    largest = 0
    batch: list[NewEvent] = []
    for event in generate(n):
        batch.append(event)
        if len(batch) == 2000:
            store.append(batch)
            batch = []
            largest = max(largest, os.path.getsize(wal) if os.path.exists(wal) else 0)
    if batch:
        store.append(batch)
    return time.perf_counter() - start, largest


# ------------------------------------------------------------------------------ runs

def _spin(n: int) -> float:
    start = time.perf_counter()
    total = 0
    for i in range(n):
        total += i
    return time.perf_counter() - start


def scaling() -> float:
    """How much faster two busy processes finish than one twice, on this machine, now."""
    n = 3_000_000
    alone = _spin(n)
    child = multiprocessing.get_context("fork").Process(target=_spin, args=(n * 2,))
    child.start()
    together = _spin(n)
    child.terminate()
    child.join()
    return 2 * alone / max(together, alone)


def fresh(fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """`fn(*args, **kwargs)` in a new interpreter, as `switchboard replay rebuild` runs: this
    process holds the baseline's states (hundreds of MB), and forking workers from it made
    every page they touched a copy-on-write fault (measured: 110-150k events/s here against
    210-220k from a fresh process)."""
    with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as pool:
        return pool.submit(fn, *args, **kwargs).result()


def bench_rebuild(store: Store, interval: int) -> None:
    from replay.reader import open_reader
    from replay.rebuild import default_workers, rebuild
    from replay.snapshots import due

    n = store.last_position()
    print(f"  this machine now: load average {os.getloadavg()[0]:.1f}; two busy processes "
          f"run {scaling():.2f}x as fast as one (2.00: two free cores)")
    start = time.perf_counter()
    baseline = Projector(store, persist=False, batch=5000)
    baseline.catch_up()
    old = time.perf_counter() - start
    print(f"  baseline: Projector.catch_up through Store.read     {rate(n, old)}"
          f"   ({old:.1f} s)")
    one = fresh(rebuild, store.url, workers=1, tune_gc=True)
    print(f"  replay reader, one process                          {rate(n, one.seconds)}"
          f"   ({one.seconds:.1f} s, {old / one.seconds:.1f}x)")
    cores = default_workers()
    two = fresh(rebuild, store.url, workers=cores, tune_gc=True)
    print(f"  replay rebuild, {len(two.groups)} processes (one per core)         "
          f"{rate(n, two.seconds)}   ({two.seconds:.1f} s, {old / two.seconds:.1f}x)")
    print(f"      groups: {' | '.join(','.join(g) for g in two.groups)}")
    many = fresh(rebuild, store.url, tune_gc=True)  # as `replay rebuild` runs it
    print(f"  replay rebuild, the default (here: {len(many.groups)} process"
          f"{'es' if len(many.groups) > 1 else ''} for the free cores) {rate(n, many.seconds)}"
          f"   ({many.seconds:.1f} s, {old / many.seconds:.1f}x; target >= 200,000)")
    same = many.states == one.states == two.states == {
        m.NAME: baseline.serialize(m.NAME) for m in PROJECTIONS}
    print(f"      states byte-identical to the baseline's: {same}")
    with open_reader(store.url) as reader:
        events = [e for chunk in reader.chunks(0, min(n, 200_000)) for e in chunk]
    ceiling = Projector(None, persist=False)
    start = time.perf_counter()
    for i in range(0, len(events), 500):
        ceiling.apply(events[i:i + 500])
    took = time.perf_counter() - start
    print(f"  ceiling on one core: applying alone (events already decoded, first "
          f"{len(events):,}) {rate(len(events), took)}")
    del events
    snap = fresh(rebuild, store.url, tune_gc=True, snapshot_at=due(interval, n))
    print(f"  same, writing {len(due(interval, n))} snapshots of every projection on the way "
          f"{rate(n, snap.seconds)}   ({snap.seconds:.1f} s)")


def bench_moments(store: Store, interval: int, samples: int) -> None:
    from replay.moment import view_at

    n = store.last_position()
    rng = random.Random(3)
    views = ["channels", "calls", "queues", "bridges", "device-states", "queue-members"]
    latencies: list[float] = []
    for _ in range(samples):
        view, position = rng.choice(views), rng.randint(1, n)
        start = time.perf_counter()
        view_at(store.url, view, position, interval=interval, write_snapshots=False)
        latencies.append(time.perf_counter() - start)
    print(f"  view at a random position ({samples} queries)   {percentiles(latencies)}"
          f"   (target <= 1 s)")
    base: list[float] = []
    for position in [n // 4, n // 2, 3 * n // 4]:
        start = time.perf_counter()
        projector = Projector(store, persist=False, batch=5000)
        projector.catch_up(position)
        projector.rows("calls", 0.0)
        base.append(time.perf_counter() - start)
    print(f"  baseline: replay from 0 (3 queries)         {percentiles(base)}")


def bench_timeline(store: Store, samples: int) -> None:
    from replay.index import keys_of, open_index
    from replay.reader import open_reader
    from replay.timeline import build

    n = store.last_position()
    index = open_index(store.url)
    start = time.perf_counter()
    indexed = index.catch_up()
    built = time.perf_counter() - start
    if indexed:
        print(f"  index built: {rate(indexed, built)}   ({built:.1f} s, once; the engine "
              "keeps it current with replay.live)")
    else:
        print("  index: already built (kept log)")
    rng = random.Random(5)
    with open_reader(store.url) as reader:
        linked = [e.data["Linkedid"] for e in reader.at(rng.sample(range(1, n + 1), 2000))
                  if e.type == "Newchannel"][:samples]
        latencies: list[float] = []
        sizes: list[int] = []
        for ident in linked:
            start = time.perf_counter()
            timeline = build(ident, index, reader)
            latencies.append(time.perf_counter() - start)
            sizes.append(len(timeline.entries))
        print(f"  timeline of a random call ({len(linked)} calls, {statistics.mean(sizes):.0f} "
              f"events each)  {percentiles(latencies)}")
        start = time.perf_counter()
        found = [e for e in reader.events() if linked[0] in keys_of(e)]
        scan = time.perf_counter() - start
        print(f"  baseline: scan the log for one id ({len(found)} events)  {scan * 1000:.0f} ms")
    index.close()


def bench_verify(store: Store) -> None:
    from replay.verify import check_chain, verify

    start = time.perf_counter()
    chain = check_chain(store)
    took = time.perf_counter() - start
    print(f"  hash chain checked: intact={chain.ok}  {rate(store.last_position(), took)}"
          f"   ({took:.1f} s)")
    with Projector(store, batch=5000) as live:  # the engine's checkpoints to compare with
        live.catch_up()
    start = time.perf_counter()
    report = verify(store, tune_gc=True)
    took = time.perf_counter() - start
    print(f"  replay verify (chain + rebuild + {len(report.compared)} recorded states): "
          f"ok={report.ok} in {took:.1f} s")


def _report_child(url: str, out: str) -> tuple[int, float, float, float]:
    """In a fresh process: the report, and the peak of its heap (anonymous memory, sampled:
    the log's pages the reader maps are page cache, not the report's memory)."""
    import threading

    from replay.cli import export_calls_report

    before = rss_mb("RssAnon")
    peak = [before]
    done = threading.Event()

    def sample() -> None:
        while not done.wait(0.02):
            peak[0] = max(peak[0], rss_mb("RssAnon"))

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    start = time.perf_counter()
    rows = export_calls_report(url, "csv", out, None)
    took = time.perf_counter() - start
    done.set()
    sampler.join()
    return rows, took, before, max(peak[0], rss_mb("RssAnon"))


def bench_report(store: Store) -> None:
    n = store.last_position()
    with tempfile.TemporaryDirectory() as tmp:
        out = f"{tmp}/calls.csv"
        with multiprocessing.get_context("spawn").Pool(1) as pool:  # its own memory
            rows, took, before, peak = pool.apply(_report_child, (store.url, out))
        size = os.path.getsize(out)
    print(f"  calls report to CSV: {rows:,} calls from {n:,} events {rate(n, took)}"
          f"   ({took:.1f} s, {size / 1e6:.0f} MB; heap {before:.0f} MB before, "
          f"{peak:.0f} MB at most)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--interval", type=int, default=50_000)
    parser.add_argument("--samples", type=int, default=60)
    parser.add_argument("--keep", help="write the log to this file and keep it")
    parser.add_argument("--only", default="1,2,3,4,5", help="sections to run, e.g. 1,2")
    args = parser.parse_args()
    only = set(args.only.split(","))
    print(f"Switchboard replay benchmark: Python {sys.version.split()[0]}, {os.cpu_count()} "
          f"cores, {len(PROJECTIONS)} projections, {len(VIEWS)} views")
    with tempfile.TemporaryDirectory() as tmp:
        path = args.keep or f"{tmp}/bench.db"
        fresh = not os.path.exists(path)
        store = open_store(f"sqlite:///{path}")
        if fresh:
            took, wal = write_log(store, args.events, f"{path}-wal")
            print(f"log: {store.last_position():,} events generated from the captures' calls "
                  f"and appended in batches of 2,000 in {took:.1f} s ({path}); its WAL at most "
                  f"{wal / 1e6:.0f} MB")
        else:
            print(f"log: {store.last_position():,} events ({path})")
        if "1" in only:
            print("\n1. replay of all projections together, from SQLite")
            bench_rebuild(store, args.interval)
        if "2" in only:
            print(f"\n2. point in time (snapshots every {args.interval:,} events)")
            bench_moments(store, args.interval, args.samples)
        if "3" in only:
            print("\n3. timelines")
            bench_timeline(store, args.samples)
        if "4" in only:
            print("\n4. verification")
            bench_verify(store)
        if "5" in only:
            print("\n5. calls report")
            bench_report(store)
        store.close()


if __name__ == "__main__":
    main()
