"""Dialer benchmark: a campaign of 10,000 dial list entries against 50 simulated agents.

The simulated PBX (`engine/ami/simulator.py`) runs in a process of its own, over real AMI TCP;
the engine (SQLite log, durable), its projections, the dialer and its results file run in this
one, as `switchboard run` would. Each scenario runs the same campaign for `--seconds` and
prints, for every Originate whose pass ran for a freed queue member (the member's
`QueueMemberStatus`; the earliest such event when a pass ran for several):

- decision latency (target p99 <= 5 ms): from the freeing event committed to the log (from
  then on the engine knows the member is free, and may act on it) to the `Originate` written
  to the AMI socket, the decision itself durably logged in between;
- reaction latency: from the engine receiving the freeing message off the socket, so the
  freeing event's own commit included;
- as the PBX sees it: from the freeing event's `Timestamp` to the PBX handling the
  `Originate` of that dialing (its `ChannelId`); one clock, the same machine;
- where the time goes (`Dialer.sent`): received -> committed by the log writer -> applied by
  the dialer's read models -> decided -> the decision committed -> the Originate written;
- freed -> next Originate (PBX side, every freed member, for all three scenarios alike): from
  a member freed to the next Originate the PBX receives, if it comes before the next freeing;
  the polling baseline's only latency figure;
- dials/s, agent occupancy (the share of the agents' time spent talking to a customer,
  AgentConnect to AgentComplete, from the PBX's own timestamps), and the abandon rate:
  answered customers who waited more than `dialer.abandon_after` seconds for an agent (or
  never got one), against the target (`dialer.abandon_target`, 3 %).

Scenarios, in the same run so the machine's speed cancels out:
1. the seed's pacing (`dial_mode` 1), event-driven;
2. adaptive predictive (`dial_mode` 6), event-driven;
3. baseline: jade's loop, a 100 ms tick and one Originate per campaign per tick, with the
   seed's pacing (`Dialer(tick=0.1)`).

    python scripts/bench_dialer.py [--entries 10000] [--agents 50] [--seconds 120]
"""

from __future__ import annotations

import argparse
import asyncio
import bisect
import multiprocessing
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from engine.ami.simulator import PbxSimulator, Timings  # noqa: E402
from engine.config import Config, DialerConfig, ServerConfig  # noqa: E402
from engine.dialer import dls as dl_model  # noqa: E402
from engine.dialer import events as ev  # noqa: E402
from engine.dialer import process  # noqa: E402
from engine.dialer.objects import build, new_uuid  # noqa: E402
from engine.dialer.service import Dialer, Sent  # noqa: E402
from engine.envelope import Event, NewEvent  # noqa: E402
from engine.runtime import Engine, tune_gc  # noqa: E402
from projections.base import event_time  # noqa: E402

# Durations vary by +-50 % around these (`Timings.jitter`): with fixed ones the calls the first
# pass placed together stay in lockstep, and every few seconds dozens of agents are freed in the
# same millisecond, which no call centre sees.
TIMINGS = {"ring": 1.0, "agent_ring": 0.2, "agent_talk": 4.0, "patience": 15.0,
           "noanswer": 2.0, "talk": 1.0, "jitter": 0.5}
FREED = "QueueMemberStatus"  # the event that frees a member (the dialer's trigger measured)
MIX = {"answer": 0.65, "busy": 0.1, "noanswer": 0.15, "congestion": 0.05, "unallocated": 0.05}


# -- the PBX, in its own process ---------------------------------------------------------------


def pbx(agents: int, conn: Any) -> None:
    """Serve the simulated PBX until asked for what it saw, then send it and exit."""

    async def main() -> None:
        sim = PbxSimulator(queues={"sales": [f"SIP/agent-{i:03d}" for i in range(agents)]},
                           outcome=MIX, timings=Timings(**TIMINGS), seed=11)
        await sim.start()
        conn.send(sim.port)
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(None, conn.recv)
        conn.send(sim.originated_at)
        await sim.close()

    asyncio.run(main())


# -- one scenario -------------------------------------------------------------------------------


async def load_list(engine: Engine, entries: int) -> str:
    """The dlma and its entries, appended straight to the log in batches (REST would add
    10,000 round trips to the setup, not to what is measured)."""
    dlma = build([], {}, new_uuid(), time.time())
    dlma.update(name="bench", detail=None, variables=None, dl_table="")
    await engine.log.append([ev.new(ev.stream("dlma", dlma["uuid"]), 0, ev.created("dlma"),
                                    {"object": dlma})])
    for start in range(0, entries, 2000):
        batch = []
        for i in range(start, min(entries, start + 2000)):
            dl = build(dl_model.FIELDS, {"dlma_uuid": dlma["uuid"], "number_1": f"9{i:06d}",
                                         "number_2": f"8{i:06d}" if i % 2 else None},
                       new_uuid(), time.time())
            batch.append(ev.new(ev.stream("dl", dl["uuid"]), 0, ev.created("dl"),
                                {"object": dl}))
        await engine.log.append(batch)
    return dlma["uuid"]


async def scenario(name: str, *, dial_mode: int, tick: float | None, entries: int,
                   agents: int, seconds: float) -> dict[str, Any]:
    here, there = multiprocessing.get_context("spawn").Pipe()
    proc = multiprocessing.get_context("spawn").Process(target=pbx, args=(agents, there))
    proc.start()
    port = await asyncio.get_running_loop().run_in_executor(None, here.recv)
    with tempfile.TemporaryDirectory() as tmp:
        config = Config(store=f"sqlite:///{tmp}/log.db",
                        servers=[ServerConfig(name="pbx", port=port, username="admin",
                                              secret="admin")],
                        dialer=DialerConfig(results_path=f"{tmp}/results.json"))
        engine = Engine(config)
        # When each freeing message was received: ingestion hands it to the log right after
        # reading it off the socket (`SessionRecorder.messages`).
        received: dict[tuple[str, int], float] = {}
        submit = engine.log.submit

        def stamped(events: list[NewEvent]) -> None:
            now = time.perf_counter()
            received.update(((e.stream, e.version), now) for e in events if e.type == FREED)
            submit(events)

        engine.log.submit = stamped  # type: ignore[method-assign]
        committed: dict[int, tuple[float, float]] = {}  # position -> (received, committed)

        def on_commit(stored: list[Event]) -> None:
            now = time.perf_counter()
            for e in stored:
                if e.type == FREED:
                    committed[e.position] = (received.pop((e.stream, e.version), now), now)

        engine.log.add_listener(on_commit)
        await engine.start()
        dialer = Dialer(engine, tick=tick)
        await dialer.start()
        while not engine.clients[0].connected:
            await asyncio.sleep(0.01)
        dlma = await load_list(engine, entries)
        while len(engine.projector.state("queues")["members"]) < agents:
            await asyncio.sleep(0.05)
        c = dialer.commands
        plan = await c.create("plan", {"name": name, "dial_mode": dial_mode,
                                       "retry_delay": 30, "max_retry_cnt_1": 2})
        dest = await c.create("destination", {"type": 1, "application": "queue",
                                              "data": "sales"})
        camp = await c.create("campaign", {"plan": plan["uuid"], "dest": dest["uuid"],
                                           "dlma": dlma})
        started_at = time.time()
        await c.update("campaign", camp["uuid"], {"status": 1})
        await asyncio.sleep(seconds)
        ended_at = time.time()
        await c.update("campaign", camp["uuid"], {"status": 0})
        # The Originates whose pass ran for a freed member, each timed from the earliest
        # such member's event (a pass may run for several events at once).
        sent = [s._replace(causes=(min(p for p in s.causes if p in committed),))
                for s in dialer.sent if any(p in committed for p in s.causes)]
        await dialer.stop()
        await engine.stop()
        from engine.store import open_store

        store = open_store(config.store)
        events = list(store.iter_all())
        store.close()
    here.send("stats")
    originated_at = await asyncio.get_running_loop().run_in_executor(None, here.recv)
    proc.join()
    freed_at = {e.position: float(e.header("Timestamp")) for e in events if e.type == FREED}
    pbx_side = [originated_at[s.dialing] - freed_at[s.causes[0]] for s in sent
                if s.dialing in originated_at and s.causes[0] in freed_at]
    return {**measure(name, events, sent, committed, pbx_side, started_at, ended_at, agents,
                      config.dialer),
            **next_originate(events, sorted(originated_at.values()), started_at, ended_at),
            "stages": stages(sent, committed)}


def next_originate(events: list[Event], originates: list[float], t0: float, t1: float
                   ) -> dict[str, float]:
    """From each member freed (PBX clock) to the next Originate the PBX handled, when that
    comes before the next freeing: the one figure the polling baseline has too."""
    freed = sorted(float(e.header("Timestamp")) for e in events if e.type == FREED
                   and process.triggers(e.type, e.header, {}) and t0 <= _recorded(e) <= t1)
    waits = []
    for i, at in enumerate(freed):
        j = bisect.bisect_right(originates, at)
        nxt = freed[i + 1] if i + 1 < len(freed) else float("inf")
        if j < len(originates) and originates[j] < nxt:
            waits.append(originates[j] - at)
    return {"next p50 ms": pct(waits, 0.50) * 1e3, "next p99 ms": pct(waits, 0.99) * 1e3}


STAGES = [  # (label, from, to): the Sent fields; "received" and "committed" from the log
    ("received -> committed", "received", "committed"),
    ("committed -> seen", "committed", "seen"),
    ("seen -> decided", "seen", "decided"),
    ("decided -> durable", "decided", "durable"),
    ("durable -> sent", "durable", "sent"),
]


def instant(s: Sent, what: str, committed: dict[int, tuple[float, float]]) -> float:
    if what == "received":
        return committed[s.causes[0]][0]
    if what == "committed":
        return committed[s.causes[0]][1]
    return float(getattr(s, what))


def stages(sent: list[Sent], committed: dict[int, tuple[float, float]]
           ) -> dict[str, tuple[float, float]]:
    """p50 and p99 (ms) of each stage of the Originates a freed member caused."""
    out = {}
    for label, start, end in STAGES:
        spans = [instant(s, end, committed) - instant(s, start, committed) for s in sent]
        out[label] = (pct(spans, 0.50) * 1e3, pct(spans, 0.99) * 1e3)
    return out


def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def measure(name: str, events: list[Event], sent: list[Sent],
            committed: dict[int, tuple[float, float]], pbx_side: list[float], t0: float,
            t1: float, agents: int, config: DialerConfig) -> dict[str, Any]:
    window = t1 - t0
    dials = [e for e in events if e.type == ev.DIALING_CREATED
             and t0 <= _recorded(e) <= t1]
    reaction = [s.sent - committed[s.causes[0]][0] for s in sent]
    decision = [s.sent - committed[s.causes[0]][1] for s in sent]
    # Occupancy: talking time within the window, from the PBX's timestamps.
    talking = 0.0
    connected: dict[str, float] = {}
    for e in events:
        if e.type == "AgentConnect":
            connected[e.header("Interface")] = event_time(e)
        elif e.type == "AgentComplete" and e.header("Interface") in connected:
            start = max(connected.pop(e.header("Interface")), t0)
            talking += max(0.0, min(event_time(e), t1) - start)
    for start in connected.values():
        talking += max(0.0, t1 - max(start, t0))
    outcomes = [e.data["outcome"] for e in events if e.type == ev.DIALING_ENDED
                and t0 <= _recorded(e) <= t1 + 30]
    answered = [w for ok, w in outcomes if ok]
    abandoned = sum(1 for w in answered if w < 0 or w > config.abandon_after)
    return {
        "scenario": name,
        "dials/s": len(dials) / window,
        "reaction p50 ms": pct(reaction, 0.50) * 1e3,
        "reaction p99 ms": pct(reaction, 0.99) * 1e3,
        "decision p50 ms": pct(decision, 0.50) * 1e3,
        "decision p99 ms": pct(decision, 0.99) * 1e3,
        "pbx p50 ms": pct(pbx_side, 0.50) * 1e3,
        "pbx p99 ms": pct(pbx_side, 0.99) * 1e3,
        "occupancy %": 100.0 * talking / (agents * window),
        "abandon %": 100.0 * abandoned / len(answered) if answered else 0.0,
        "answered": len(answered),
        "samples": len(reaction),
    }


def _recorded(event: Event) -> float:
    from datetime import datetime

    return datetime.fromisoformat(event.recorded_at).timestamp()


async def main_async(args: argparse.Namespace) -> list[dict[str, Any]]:
    runs = [
        ("seed pacing, event-driven", 1, None),
        ("adaptive predictive, event-driven", 6, None),
        ("baseline: jade loop, 100 ms tick", 1, 0.1),
    ]
    out = []
    for name, mode, tick in runs:
        print(f"running: {name} ({args.seconds:g} s)...", file=sys.stderr, flush=True)
        out.append(await scenario(name, dial_mode=mode, tick=tick, entries=args.entries,
                                  agents=args.agents, seconds=args.seconds))
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--entries", type=int, default=10_000)
    parser.add_argument("--agents", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=120.0)
    args = parser.parse_args()
    tune_gc()
    results = asyncio.run(main_async(args))
    target = DialerConfig().abandon_target
    print(f"\n{args.entries:,} dial list entries, {args.agents} agents, {args.seconds:g} s each;"
          f" agents talk {TIMINGS['agent_talk']} s, customers ring {TIMINGS['ring']} s "
          f"(each +-{TIMINGS['jitter']:.0%}), "
          f"answer {MIX['answer']:.0%}; abandon target {target:g} %\n")
    cols = ["scenario", "dials/s", "decision p50 ms", "decision p99 ms", "reaction p50 ms",
            "reaction p99 ms", "pbx p50 ms", "pbx p99 ms", "next p50 ms", "next p99 ms",
            "occupancy %", "abandon %"]
    print("| " + " | ".join(cols) + " |")
    print("|" + "|".join("---" if c == "scenario" else "---:" for c in cols) + "|")
    def cell(r: dict[str, Any], c: str) -> str:
        if c == "scenario":
            return r[c]
        if r[c] != r[c]:  # NaN: the polling baseline decides on its tick, not on an event
            return "n/a"
        return f"{r[c]:.2f}" if "ms" in c else f"{r[c]:.1f}"

    for r in results:
        print("| " + " | ".join(cell(r, c) for c in cols) + " |")
    base = results[-1]
    for r in results[:-1]:
        print(f"\n{r['scenario']} vs baseline: {r['dials/s'] / base['dials/s']:.1f}x dials/s, "
              f"occupancy {r['occupancy %']:.1f} % vs {base['occupancy %']:.1f} %, freed -> next "
              f"Originate p50 {r['next p50 ms']:.1f} vs {base['next p50 ms']:.1f} ms")
    print("\nwhere the time goes, p50 / p99 ms (received: the freeing message read off the "
          "socket; committed: by the log writer; seen: applied by the dialer's read models):\n")
    print("| stage | " + " | ".join(r["scenario"] for r in results[:-1]) + " |")
    print("|---|" + "---:|" * (len(results) - 1))
    for label, _, _ in STAGES:
        print(f"| {label} | " + " | ".join(
            "{:.2f} / {:.2f}".format(*r["stages"][label]) for r in results[:-1]) + " |")
    p99 = max(r["decision p99 ms"] for r in results[:-1])
    print(f"\ndecision latency p99 (event-driven, freeing event committed -> Originate "
          f"written): {p99:.2f} ms; target <= 5 ms: {'met' if p99 <= 5.0 else 'NOT met'}")
    print(f"samples: {', '.join(str(r['samples']) for r in results)} Originates after a "
          f"freed member; {', '.join(str(r['answered']) for r in results)} answered")
    return 0


if __name__ == "__main__":
    sys.exit(main())
