"""API benchmark: REST reads over 1,000 live channels; 200 SSE clients at 2,000 events/s.

One process runs what `switchboard run` runs (engine, projector thread, uvicorn on a real port,
SQLite WAL log); the clients run in another process (raw asyncio sockets), so they do not share
the server's GIL. Each figure is measured twice in the same run, without clients (the baseline)
and with 200 SSE clients subscribed to everything:

  1. `GET /core/channels` with 1,000 live channels: p50 / p99 over sequential requests;
  2. a paced stream of 2,000 events/s appended to the log: the shared captures' events (calls,
     queues, parking, device states: the real mix of change messages), again and again, each
     stamped with the time it is appended: the rate the log sustains, append-to-durable
     latency, and (with clients) append-to-receipt latency at the clients, p50 / p99 (each
     chunk a client reads is timed by its first message, the oldest in it, against the time
     the event with that id was appended);
  3. AMI ingest flat out over TCP from the fake Asterisk (the `bench_ingest` payload): events/s.

    python scripts/bench_api.py [--clients 200] [--rate 2000] [--seconds 10] [--flood 100000]
"""

from __future__ import annotations

import argparse
import asyncio
import bisect
import gc
import json
import multiprocessing
import socket
import statistics
import sys
import tempfile
import time
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import httpx
import uvicorn

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from api.app import create_app  # noqa: E402
from engine.ami.testserver import AmiTestServer  # noqa: E402
from engine.config import parse  # noqa: E402
from engine.envelope import Event, NewEvent, utc_now  # noqa: E402
from engine.runtime import Engine, tune_gc  # noqa: E402

CAPTURES = Path(__file__).resolve().parents[1] / "tests" / "ami-captures"
SENTINEL = b"Event: UserEvent\r\nUserEvent: bench-end\r\n\r\n"
BENCH = "bench"  # the server name of the synthetic channels


def say(text: str) -> None:
    print(f"  {time.strftime('%H:%M:%S')} {text}", file=sys.stderr, flush=True)


def pct(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))]


def capture_mix() -> list[tuple[str, dict[str, Any]]]:
    """(type, headers) of every inbound event of the shared captures, in order."""
    from engine.capture import capture_events

    out = []
    for path in sorted(CAPTURES.glob("*.jsonl")):
        for event in capture_events(path, BENCH):
            if "Event" in event.data and "ActionID" not in event.data:
                out.append((event.type, dict(event.data)))
    return out


def flood_payload(n: int) -> bytes:
    """Every inbound event of the shared captures, repeated to `n`, then a sentinel."""
    messages = []
    for path in sorted(CAPTURES.glob("*.jsonl")):
        for line in path.read_text().splitlines():
            row = json.loads(line)
            if row["dir"] == "in" and row["raw"].startswith("Event: "):
                messages.append(row["raw"].encode())
    return b"".join(messages[i % len(messages)] for i in range(n - 1)) + SENTINEL


# ------------------------------------------------------------------------------ clients

def client_process(port: int, count: int, conn: Connection) -> None:
    import uvloop  # the measuring side may be as fast as it can: uvloop, raw sockets

    uvloop.run(_clients(port, count, conn))


async def _clients(port: int, count: int, conn: Connection) -> None:
    latencies: list[tuple[int, float]] = []  # (position of a chunk's first message, receipt)
    stats = {"bytes": 0, "messages": 0, "closed": 0, "open": 0}
    recording = False
    loop = asyncio.get_running_loop()

    async def one() -> None:
        sock = socket.socket()
        sock.setblocking(False)
        await loop.sock_connect(sock, ("127.0.0.1", port))
        await loop.sock_sendall(sock, b"GET /events?topic=/ HTTP/1.1\r\nHost: bench\r\n\r\n")
        head = b""
        while b"\r\n\r\n" not in head:
            head += await loop.sock_recv(sock, 4096)
        stats["open"] += 1
        buffer = bytearray(1 << 18)
        try:
            while n := await loop.sock_recv_into(sock, buffer):
                now = time.time()
                stats["bytes"] += n
                stats["messages"] += buffer.count(b"\nevent: ", 0, n)
                at = buffer.find(b"\nid: ", 0, min(n, 8192))
                if recording and at >= 0:
                    end = buffer.find(b"\n", at + 1, at + 40)
                    if end > 0:
                        latencies.append((int(bytes(buffer[at + 5 : end]).split(b":")[0]), now))
        except (ConnectionError, ValueError):
            pass
        stats["closed"] += 1
        sock.close()

    tasks = [asyncio.create_task(one()) for _ in range(count)]
    while True:
        command = await loop.run_in_executor(None, conn.recv)
        if command == "open":
            conn.send(stats["open"])
        elif command == "record":
            latencies.clear()
            stats.update(bytes=0, messages=0)
            recording = True
            conn.send(True)
        elif command == "report":
            recording = False
            conn.send({"latencies": list(latencies), **stats})
        elif command == "stop":
            for task in tasks:
                task.cancel()
            conn.send(True)
            return


# ------------------------------------------------------------------------------ server side

class Bench:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.engine: Engine | None = None
        self.version = 0
        self.commits: dict[str, list[tuple[float, int]]] = {}  # server -> (time, events)
        self.durable: list[float] = []  # append -> durable, paced events
        self.appended: dict[int, float] = {}  # position -> append time, paced events
        self.committed: dict[int, float] = {}  # position -> commit time, paced events
        self.projected: dict[int, float] = {}  # position -> applied by the projector
        self.flushes: list[tuple[int, float]] = []  # (hub position, time) of each hub flush
        self.recording = False
        self.mix = capture_mix()
        self.hub: Any = None
        self.base = 0  # versions of the bench stream minus log positions (for lag sampling)
        self.lags: list[tuple[float, int, int, int]] = []

    def on_commit(self, events: list[Event]) -> None:  # log writer thread
        now = time.time()
        by_server: dict[str, int] = {}
        for event in events:
            by_server[event.server] = by_server.get(event.server, 0) + 1
        for server, n in by_server.items():
            self.commits.setdefault(server, []).append((now, n))
        if self.recording:
            for event in events:
                if event.server == BENCH:
                    self.appended[event.position] = float(event.data["Timestamp"])
                    self.committed[event.position] = now
            for event in events[::20]:
                if event.server == BENCH:
                    self.durable.append(now - float(event.data["Timestamp"]))

    def on_projected(self, event: Event) -> None:  # projector thread
        if self.recording:
            self.projected[event.position] = time.time()

    def watch_hub(self, hub: Any) -> None:
        """Note the time and position of every hub flush (messages handed to the clients)."""
        flush = hub._flush

        def timed() -> None:
            flush()
            if self.recording:
                self.flushes.append((hub.position, time.time()))

        hub._flush = timed

    def stages(self, chunks: list[tuple[int, float]]) -> dict[str, list[float]]:
        """Where each timed chunk's latency went: append -> commit -> applied by the projector
        -> handed to the clients by a hub flush -> read by the client."""
        positions = [p for p, _ in self.flushes]
        out: dict[str, list[float]] = {"commit": [], "project": [], "flush": [], "deliver": []}
        for position, received in chunks:
            at = bisect.bisect_left(positions, position)
            if position not in self.projected or at == len(positions):
                continue
            appended, committed = self.appended[position], self.committed[position]
            projected, flushed = self.projected[position], self.flushes[at][1]
            out["commit"].append(committed - appended)
            out["project"].append(projected - committed)
            out["flush"].append(flushed - projected)
            out["deliver"].append(received - flushed)
        return out

    def event(self, type_: str, **data: str) -> NewEvent:
        """An event of the bench server, stamped with the time it is appended."""
        self.version += 1
        data.pop("Timestamp", None)
        data.pop("Event", None)
        return NewEvent(f"ami/{BENCH}/s", self.version, type_, utc_now(), BENCH,
                        {"Event": type_, "Timestamp": f"{time.time():.6f}", **data})

    def channel(self, i: int, exten: int) -> dict[str, str]:
        return {"Channel": f"PJSIP/agent{i:04d}-00000001", "ChannelState": "6",
                "ChannelStateDesc": "Up", "CallerIDNum": f"{1000 + i}",
                "CallerIDName": f"Agent {i}", "ConnectedLineNum": "5550100",
                "ConnectedLineName": "Customer", "Language": "en", "AccountCode": "",
                "Context": "agents", "Exten": str(exten), "Priority": "1",
                "Uniqueid": f"bench-{i}", "Linkedid": f"bench-{i}"}

    async def settle(self) -> None:
        engine = self.engine
        assert engine is not None
        await engine.log.flush()
        while engine.projector.position < engine.store.last_position():
            await asyncio.sleep(0.01)

    async def rest(self, url: str, n: int) -> list[float]:
        def run() -> list[float]:
            out = []
            with httpx.Client(base_url=url, timeout=30) as client:
                for _ in range(n):
                    started = time.perf_counter()
                    response = client.get("/core/channels")
                    out.append(time.perf_counter() - started)
                    assert len(response.json()["result"]["list"]) >= self.args.channels
            return out
        return await asyncio.to_thread(run)

    async def paced(self, seconds: float) -> dict[str, float]:
        """`rate` events/s of the captures' mix appended to the log for `seconds`."""
        engine = self.engine
        assert engine is not None
        rate, mix = self.args.rate, self.mix
        self.durable.clear()
        self.appended.clear()
        self.committed.clear()
        self.projected.clear()
        self.flushes.clear()
        self.commits.pop(BENCH, None)
        self.recording = True
        start = time.monotonic()
        sent = 0
        self.lags = []
        self.base = self.version - engine.store.last_position()
        hub = self.hub
        while (elapsed := time.monotonic() - start) < seconds:
            if self.args.timeline and hub is not None:
                last = engine.store.last_position()
                self.lags.append((elapsed, self.version - self.base - last,
                                  last - engine.projector.position,
                                  engine.projector.position - hub.position))
            due = int(elapsed * rate) - sent
            if due > 0:
                batch = [mix[(sent + k) % len(mix)] for k in range(due)]
                engine.log.submit([self.event(t, **h) for t, h in batch])
                sent += due
            await asyncio.sleep(0.001)
        await self.settle()
        self.recording = False
        commits = self.commits.get(BENCH, [])
        total = sum(n for _, n in commits)
        span = commits[-1][0] - commits[0][0] if len(commits) > 1 else seconds
        return {"sent": sent, "rate": total / span, "durable_p50": pct(self.durable, 50),
                "durable_p99": pct(self.durable, 99)}

    async def flood(self, asterisk: AmiTestServer, server: str) -> float:
        """Events/s from the moment the fake Asterisk starts sending to the last commit."""
        self.commits.pop(server, None)
        started = time.time()
        asterisk.continue_replay()
        while sum(n for _, n in self.commits.get(server, [])) < self.args.flood:
            await asyncio.sleep(0.02)
        commits = self.commits[server]
        return sum(n for _, n in commits) / (commits[-1][0] - started)


GC_PAUSES: list[tuple[int, float]] = []  # (generation, seconds) of every collection


def watch_gc() -> None:
    started: list[float] = []

    def callback(phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            started[:] = [time.perf_counter()]
        elif started:
            GC_PAUSES.append((info["generation"], time.perf_counter() - started[0]))

    gc.callbacks.append(callback)


async def main(args: argparse.Namespace) -> None:
    watch_gc()
    tmp = Path(tempfile.mkdtemp())
    payload = flood_payload(args.flood)
    capture = CAPTURES / "originate-answered.jsonl"
    floods = [AmiTestServer(capture=capture, pause_after=0, payload=payload) for _ in range(2)]
    for asterisk in floods:
        await asterisk.start()
    config = parse({
        "store": f"sqlite:///{tmp / 'log.db'}",
        "servers": [{"name": f"flood{i}", "port": a.port, "username": "admin",
                     "secret": "admin", "ping_interval": 30.0} for i, a in enumerate(floods)],
    })
    bench = Bench(args)
    engine = bench.engine = Engine(config)
    tune_gc()
    engine.log.add_listener(bench.on_commit)
    engine.on_projected(bench.on_projected)
    await engine.start()
    app = create_app(engine)
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_level="error",
                                           lifespan="off"))
    serving = asyncio.create_task(server.serve())
    while not server.started:
        await asyncio.sleep(0.01)
    port = server.servers[0].sockets[0].getsockname()[1]
    url = f"http://127.0.0.1:{port}"
    while not all(c.connected for c in engine.clients):
        await asyncio.sleep(0.01)

    engine.log.submit([bench.event("Newchannel", **bench.channel(i, 100))
                       for i in range(args.channels)])
    await bench.settle()
    print(f"{args.channels} live channels; log at {engine.store.last_position()} events",
          flush=True)

    results: dict[str, dict[str, Any]] = {}
    bench.hub = app.state.ctx.hub
    bench.watch_hub(bench.hub)
    # -- baseline: no clients
    say("baseline: REST")
    rest = await bench.rest(url, args.requests)
    say("baseline: paced stream")
    paced = await bench.paced(args.seconds)
    report_lags(args, bench.lags, "baseline")
    say("baseline: AMI flood")
    flood = await bench.flood(floods[0], "flood0")
    await bench.settle()
    results["baseline"] = {"rest": rest, "paced": paced, "flood": flood}

    # -- with clients
    parent, child = multiprocessing.Pipe()
    process = multiprocessing.get_context("spawn").Process(
        target=client_process, args=(port, args.clients, child), daemon=True)
    process.start()
    while True:
        parent.send("open")
        if await asyncio.to_thread(parent.recv) >= args.clients:
            break
        await asyncio.sleep(0.1)
    await asyncio.sleep(0.5)
    hub = app.state.ctx.hub
    say(f"{args.clients} clients: paced stream")
    parent.send("record")
    await asyncio.to_thread(parent.recv)
    paced = await bench.paced(args.seconds)
    await asyncio.sleep(0.5)
    parent.send("report")
    seen = await asyncio.to_thread(parent.recv)
    seen["latencies_raw"] = [(p, r) for p, r in seen["latencies"] if p in bench.appended]
    timed = [(received, received - bench.appended[position])
             for position, received in seen["latencies_raw"]]
    seen["latencies"] = [latency for _, latency in timed]
    seen["stages"] = bench.stages([(p, r) for p, r in seen["latencies_raw"]])
    report_lags(args, bench.lags, "with clients")
    if args.timeline and timed:
        start = min(t for t, _ in timed)
        windows: dict[int, list[float]] = {}
        for t, latency in timed:
            windows.setdefault(int((t - start) * 4), []).append(latency)
        for w in sorted(windows):
            print(f"    t={w / 4:5.2f}s  p50 {pct(windows[w], 50) * 1000:6.1f}  "
                  f"max {max(windows[w]) * 1000:7.1f} ms", file=sys.stderr)
    say(f"{args.clients} clients: REST")
    rest = await bench.rest(url, args.requests)
    dropped_before = hub.dropped
    say(f"{args.clients} clients: AMI flood")
    flood = await bench.flood(floods[1], "flood1")
    results["clients"] = {"rest": rest, "paced": paced, "flood": flood, "seen": seen,
                          "dropped": hub.dropped - dropped_before}
    parent.send("stop")
    await asyncio.to_thread(parent.recv)
    process.join(5)

    report(args, results)
    hub.close()
    server.should_exit = True
    await serving
    await engine.stop()
    for asterisk in floods:
        await asterisk.close()


def report_lags(args: argparse.Namespace, lags: list[tuple[float, int, int, int]],
                phase: str) -> None:
    """How far behind each stage was, worst per quarter second (--timeline)."""
    if not args.timeline:
        return
    worst: dict[int, tuple[int, ...]] = {}
    for t, *lag in lags:
        w = int(t * 4)
        before = worst.get(w, (0, 0, 0))
        worst[w] = tuple(max(a, b) for a, b in zip(before, lag, strict=True))
    for w in sorted(worst):
        log_, projector, hub = worst[w]
        print(f"    {phase} t={w / 4:5.2f}s  events behind: log {log_:5d}  "
              f"projector {projector:5d}  hub {hub:5d}", file=sys.stderr)


def report(args: argparse.Namespace, results: dict[str, dict[str, Any]]) -> None:
    base, load = results["baseline"], results["clients"]
    seen = load["seen"]
    ms = 1000.0
    print()
    print(f"{'':44} {'no clients':>12} {f'{args.clients} SSE clients':>16}")
    print(f"{'GET /core/channels p50 (ms)':44} {pct(base['rest'], 50) * ms:12.1f} "
          f"{pct(load['rest'], 50) * ms:16.1f}")
    print(f"{'GET /core/channels p99 (ms)':44} {pct(base['rest'], 99) * ms:12.1f} "
          f"{pct(load['rest'], 99) * ms:16.1f}")
    print(f"{'paced ingest sustained (events/s)':44} {base['paced']['rate']:12.0f} "
          f"{load['paced']['rate']:16.0f}")
    print(f"{'append -> durable p50 (ms)':44} {base['paced']['durable_p50'] * ms:12.1f} "
          f"{load['paced']['durable_p50'] * ms:16.1f}")
    print(f"{'append -> durable p99 (ms)':44} {base['paced']['durable_p99'] * ms:12.1f} "
          f"{load['paced']['durable_p99'] * ms:16.1f}")
    print(f"{'AMI ingest flat out (events/s)':44} {base['flood']:12.0f} {load['flood']:16.0f}"
          f"   ({load['flood'] / base['flood']:.2f}x)")
    lat = seen["latencies"]
    print()
    print(f"SSE, {args.clients} clients at {args.rate} events/s for {args.seconds:g} s: "
          f"{seen['messages']:,} messages, {seen['bytes'] / 1e6:,.0f} MB received; "
          f"append -> client receipt p50 {pct(lat, 50) * ms:.1f} ms, "
          f"p99 {pct(lat, 99) * ms:.1f} ms, max {max(lat, default=0) * ms:.1f} ms "
          f"({len(lat):,} chunks timed)")
    print("  where it went, p50 / p99 (ms): " + ", ".join(
        f"{stage} {pct(values, 50) * ms:.1f} / {pct(values, 99) * ms:.1f}"
        for stage, values in seen["stages"].items()))
    print(f"clients dropped during the flood (fell {10_000:,} messages behind): "
          f"{load['dropped']}; still connected at the end: {seen['open'] - seen['closed']}")
    print(f"mean REST latency {statistics.mean(base['rest']) * ms:.1f} ms without clients")
    for generation in (1, 2):
        pauses = [t for g, t in GC_PAUSES if g == generation]
        print(f"gen{generation} GC collections in the server: {len(pauses)}, longest "
              f"{max(pauses, default=0) * ms:.0f} ms")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=200)
    parser.add_argument("--rate", type=int, default=2000)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--channels", type=int, default=1000)
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--flood", type=int, default=100_000)
    parser.add_argument("--timeline", action="store_true",
                        help="print client latency per quarter second (diagnosis)")
    asyncio.run(main(parser.parse_args()))
