"""Crash safety: the engine (with the dialer and the API) runs in a subprocess that is killed
with SIGKILL at random moments of a running campaign and restarted, against one simulated PBX
that lives on in the test process and records every action it receives.

After every restart, each dialing decided before the kill is reconciled within 5 s of the new
AMI session: found alive in its `CoreShowChannels` answer, or closed with the reason. Across all
of it, no attempt is dialed twice: every Originate the PBX received has its own ChannelId, was
decided (logged) before it was sent, and no (dl, number, try) was decided twice.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from engine.ami.simulator import PbxSimulator, Timings
from engine.dialer import events as ev
from engine.envelope import Event
from engine.store import open_store
from tests.test_dialer_harness import run, until

KILLS = 5
ROOT = Path(__file__).resolve().parents[1]


class EngineProcess:
    def __init__(self, config: Path, log: Path) -> None:
        self.config, self.log = config, log
        self.proc: subprocess.Popen[bytes] | None = None
        self.base = ""
        self.started = 0

    async def start(self) -> None:
        self.started += 1
        out = self.log.with_name(f"{self.log.stem}-{self.started}.log")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "engine.demo", "--config", str(self.config),
             "--no-simulator", "--no-sample", "--port", "0"],
            cwd=ROOT, stdout=out.open("wb"), stderr=subprocess.STDOUT,
            env={**os.environ, "PYTHONUNBUFFERED": "1"})

        def ready() -> str | None:
            assert self.proc is not None and self.proc.poll() is None, out.read_text()
            for line in out.read_text().splitlines():
                if line.startswith("ready "):
                    return line.split()[1]
            return None

        self.base = await until(ready, 20, "engine process ready")

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.kill()


def read_log(url: str) -> list[Event]:
    store = open_store(url)
    try:
        return list(store.iter_all())
    finally:
        store.close()


def settled(events: list[Event], decided: list[Event], session: str) -> list[str]:
    """The decisions not yet reconciled: neither ended nor seen in `session`."""
    ended = {e.data["dialing"] for e in events if e.type == ev.DIALING_ENDED}
    seen: set[str] = set()
    for e in events:
        if e.stream == session:
            seen.add(e.header("Uniqueid"))
            seen.add(e.header("DestUniqueid"))
    out = []
    for d in decided:
        dialing = d.data["dialing"]
        if dialing["uuid"] in ended:
            continue
        if dialing["uuid"] in seen or dialing["other_channel_id"] in seen:
            continue
        out.append(dialing["uuid"])
    return out


async def api(base: str, method: str, path: str, body: Any = None) -> Any:
    async with httpx.AsyncClient(timeout=10) as http:
        response = await http.request(method, base + path, json=body)
        assert response.status_code == 200, response.text
        return response.json()["result"]


@pytest.mark.slow
def test_sigkill_at_random_points_never_dials_an_attempt_twice(tmp_path: Path,
                                                               store_url: str) -> None:
    """On both backends (a PostgreSQL transaction cut by the kill is rolled back by the
    server, an SQLite one by the next opener of the file)."""
    seed = random.randrange(1 << 30)
    rng = random.Random(seed)
    timings = Timings(ring=0.15, agent_ring=0.05, agent_talk=0.4, noanswer=0.3, patience=5)
    mix = {"answer": 0.6, "busy": 0.15, "noanswer": 0.15, "congestion": 0.1}
    store = store_url

    async def main() -> None:
        sim = PbxSimulator(queues={"sales": [f"SIP/a{i}" for i in range(4)]}, outcome=mix,
                           timings=timings, seed=seed)
        await sim.start()
        config = tmp_path / "switchboard.toml"
        config.write_text(
            f'store = "{store}"\n[[servers]]\nname = "pbx"\nport = {sim.port}\n'
            'username = "admin"\nsecret = "admin"\nreconnect_max = 1.0\nping_interval = 2.0\n'
            f'[dialer]\nresults_path = "{tmp_path / "results.json"}"\n')
        engine = EngineProcess(config, tmp_path / "engine.log")
        try:
            await engine.start()
            plan = await api(engine.base, "POST", "/ob/plans", {
                "tech_name": "SIP", "dial_mode": 1, "service_level": 2, "retry_delay": 0,
                "max_retry_cnt_1": 2, "dial_timeout": 2000})
            dest = await api(engine.base, "POST", "/ob/destinations",
                             {"type": 1, "application": "queue", "data": "sales"})
            dlma = await api(engine.base, "POST", "/ob/dlmas", {"name": "crash"})
            for i in range(40):
                await api(engine.base, "POST", "/ob/dls",
                          {"dlma_uuid": dlma["uuid"], "number_1": f"7{i:03d}"})
            camp = await api(engine.base, "POST", "/ob/campaigns", {
                "plan": plan["uuid"], "dest": dest["uuid"], "dlma": dlma["uuid"]})
            await api(engine.base, "PUT", f"/ob/campaigns/{camp['uuid']}", {"status": 1})
            in_flight_at_kill = 0
            for _ in range(KILLS):
                await asyncio.sleep(rng.uniform(0.05, 0.8))
                engine.kill()
                events = read_log(store)
                decided = [e for e in events if e.type == ev.DIALING_CREATED]
                open_ = settled(events, decided, "none")
                in_flight_at_kill += len(open_)
                sessions_before = {e.stream for e in events if e.stream.startswith("ami/")}
                await asyncio.sleep(rng.uniform(0.0, 0.5))
                await engine.start()

                def reconciled(sessions_before: set[str] = sessions_before,
                               decided: list[Event] = decided) -> tuple[float, float] | None:
                    now = read_log(store)
                    new = [e for e in now if e.stream.startswith("ami/")
                           and e.stream not in sessions_before]
                    if not new:
                        return None
                    session = new[0].stream
                    if settled(now, decided, session):
                        return None
                    return new[0].position, time.time()

                await until(reconciled, 8, f"reconciled after restart (seed {seed})")
                events = read_log(store)
                new_session = next(e for e in events if e.stream.startswith("ami/")
                                   and e.stream not in sessions_before)
                last = max((e for e in events if e.type == ev.DIALING_ENDED
                            and e.data["dialing"] in set(open_)), key=lambda e: e.position,
                           default=None)
                if last is not None:  # closed by reconciliation: within 5 s of reconnecting
                    gap = (_t(last.recorded_at) - _t(new_session.recorded_at))
                    assert gap < 5.0, (gap, seed)
            assert in_flight_at_kill > 0, f"never killed with a call in flight (seed {seed})"

            async def finished() -> bool:
                got = await api(engine.base, "GET", f"/ob/campaigns/{camp['uuid']}")
                return got["status"] == 0

            deadline = time.monotonic() + 30
            while not await finished():
                assert time.monotonic() < deadline, f"campaign did not finish (seed {seed})"
                await asyncio.sleep(0.1)
            def all_ended() -> bool:
                events = read_log(store)
                return len(_ended(events)) == len(_created(events))

            await until(all_ended, 10, f"every decision settled (seed {seed})")
        finally:
            engine.stop()
            await sim.close()
        events = read_log(store)
        created, ended = _created(events), _ended(events)
        originates = sim.originates()
        channel_ids = [o["ChannelId"] for o in originates]
        assert len(channel_ids) == len(set(channel_ids)), f"an Originate was re-sent ({seed})"
        decided_ids = {e.data["dialing"]["uuid"]: e for e in created}
        assert set(channel_ids) <= set(decided_ids), "an Originate nobody decided"
        for o in originates:  # each sent exactly as decided
            decision = decided_ids[o["ChannelId"]].data["originate"]
            assert o["ActionID"] == decision["ActionID"]
        attempts = [(e.stream, e.data["dialing"]["dial_index"], e.data["dialing"]["dial_trycnt"])
                    for e in created]
        assert len(attempts) == len(set(attempts)), f"an attempt decided twice ({seed})"
        assert set(ended) == set(decided_ids), "a decision never settled"
        lines = (tmp_path / "results.json").read_text().splitlines()
        assert sorted(json.loads(line)["uuid"] for line in lines) == sorted(ended)

    run(main(), timeout=150)


def _created(events: list[Event]) -> list[Event]:
    return [e for e in events if e.type == ev.DIALING_CREATED]


def _ended(events: list[Event]) -> list[str]:
    return [e.data["dialing"] for e in events if e.type == ev.DIALING_ENDED]


def _t(recorded_at: str) -> float:
    from datetime import datetime

    return datetime.fromisoformat(recorded_at).timestamp()
