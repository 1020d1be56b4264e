"""`GET /events` end to end: real captures replayed into the engine while SSE clients read.

The reference is a deriver run over the whole log afterwards: a client must receive exactly
those messages, in log order, whatever it subscribed to and however often it reconnected.
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import httpx
import pytest

from api.changes import Message
from engine.envelope import NewEvent, utc_now
from tests.conftest import CAPTURES
from tests.live import Live, paused_live
from tests.test_topics import derive_all

CAPTURED = [CAPTURES / "queue-basic.jsonl", CAPTURES / "parking.jsonl"]

Event = tuple[str, str, str]  # id, event name, data


def read_events(url: str, headers: dict[str, str] | None = None, limit: int | None = None,
                quiet: float = 1.0) -> list[Event]:
    """Read an SSE stream until `limit` events, or `quiet` seconds without one."""
    out: list[Event] = []
    fields: dict[str, str] = {}
    try:
        with httpx.stream("GET", url, headers=headers, timeout=httpx.Timeout(10, read=quiet)
                          ) as response:
            assert response.status_code == 200, response.read()
            assert response.headers["content-type"].startswith("text/event-stream")
            for line in response.iter_lines():
                if line == "":
                    if "data" in fields:
                        out.append((fields.get("id", ""), fields.get("event", ""),
                                    fields["data"]))
                        if limit is not None and len(out) >= limit:
                            return out
                    fields = {}
                elif not line.startswith(":"):
                    name, _, value = line.partition(": ")
                    fields[name] = value
    except httpx.ReadTimeout:
        pass
    return out


def expected(live: Live) -> list[Message]:
    assert live.engine is not None
    return derive_all(list(live.engine.store.iter_all()))


def as_events(messages: list[Message]) -> list[Event]:
    return [(m.id, m.name, m.json.decode()) for m in messages]


@pytest.fixture
def live(tmp_path: Path) -> Iterator[Live]:
    with paused_live(tmp_path, CAPTURED) as running:
        yield running


def test_clients_see_every_change_in_log_order_and_resume_exactly(live: Live) -> None:
    results: dict[str, list[Event]] = {}

    def everything() -> None:
        results["all"] = read_events(f"{live.url}/events?from=0")

    def queues() -> None:
        results["queues"] = read_events(f"{live.url}/events?from=0&topic=/queue/")

    def reconnecting() -> None:
        """Reads a few events at a time, then reconnects with the last id it saw."""
        got: list[Event] = []
        last = "0"
        while True:
            batch = read_events(f"{live.url}/events", {"Last-Event-ID": last}, limit=37,
                                quiet=1.0)
            got.extend(batch)
            if len(batch) < 37:
                break
            last = batch[-1][0]
        results["reconnecting"] = got

    readers = [threading.Thread(target=f) for f in (everything, queues, reconnecting)]
    for reader in readers:
        reader.start()
    time.sleep(0.2)
    live.run(lambda: [a.continue_replay() for a in live.asterisks])  # the calls happen now
    for reader in readers:
        reader.join(30)
    want = as_events(expected(live))
    assert len(want) > 200
    assert results["all"] == want
    assert results["reconnecting"] == want
    assert results["queues"] == [e for e in want if '"topic":"/queue/' in e[2]]
    assert {e[1].split(".")[0] for e in results["queues"]} == {"queue"}


def test_a_client_resumes_between_two_messages_of_one_event(live: Live) -> None:
    live.run(lambda: [a.continue_replay() for a in live.asterisks])
    live.settled()
    want = as_events(expected(live))
    split = next(i for i, e in enumerate(want) if ":" in e[0])  # an event with several
    got = read_events(f"{live.url}/events?from={want[split][0]}")
    assert got == want[split + 1:]
    server = read_events(f"{live.url}/events?from=0&server=pbx2")
    assert server and all('"server":"pbx2"' in e[2] for e in server)


MALFORMED_IDS = ("abc", "", "-1", "+5", "1_000", " 5", "5 ", "1:0", "1:", ":1", "1:2:3", "0x10",
                 "\u0661\u0662", "1.5", "9" * 5000)


def test_a_resume_id_past_the_end_or_malformed_is_a_400_that_says_what_is_accepted(
        live: Live) -> None:
    last = live.settled()
    refused = [(f"{last + 1}", "past the end"), (f"{last + 1000}:2", "past the end")]
    refused += [(bad, "not a message id") for bad in MALFORMED_IDS]
    for bad, why in refused:
        asked = [{"params": {"from": bad}}]
        if bad.isascii() and bad.strip() == bad and bad:  # what a header can carry
            asked.append({"headers": {"Last-Event-ID": bad}})
        for how in asked:
            with httpx.stream("GET", f"{live.url}/events", timeout=10,
                              **how) as response:  # type: ignore[arg-type]
                assert response.status_code == 400, (bad, how)
                message = json.loads(response.read())["error"]["message"]
            assert why in message and "1234:2" in message, message
            assert len(message) < 300, "the answer does not echo a huge id"
    for good in ("0", str(last), f"{last}:1"):
        with httpx.stream("GET", f"{live.url}/events", params={"from": good},
                          timeout=10) as response:
            assert response.status_code == 200, good


def callers_join(live: Live, queues: list[str]) -> int:
    """A caller joins each queue (the captures have no queue whose name needs encoding); the
    log position of the last join."""
    assert live.engine is not None
    session = secrets.token_hex(4)
    live.run(lambda: live.engine.log.submit([  # type: ignore[union-attr]
        NewEvent(f"ami/pbx9/{session}", i, "QueueCallerJoin", utc_now(), "pbx9",
                 {"Event": "QueueCallerJoin", "Queue": queue, "Uniqueid": f"{session}-{i}",
                  "Channel": f"PJSIP/{session}-{i}", "Position": "1", "Count": "1"})
        for i, queue in enumerate(queues)]))
    return live.settled()


def test_a_topic_spelled_as_the_seed_does_receives_the_same_messages(live: Live) -> None:
    """Seed 004 writes the queue `sales_1` as `/queue/statuses/sales%5F1`; we send its topic as
    `/queue/statuses/sales_1`: both subscribe to it, and so does any prefix of either."""
    start = live.settled()
    callers_join(live, ["sales_1", "sales_2", "ventes été", "sales_1"])
    spellings = {"seed": "/queue/statuses/sales%5F1", "ours": "/queue/statuses/sales_1",
                 "lower-case hex": "/queue/statuses/sales%5f1", "prefix": "/queue/statuses/sal"}
    got = {name: read_events(f"{live.url}/events?from={start}&topic={quote(topic)}")
           for name, topic in spellings.items()}
    want = [e for e in as_events(expected(live)) if int(e[0].split(":")[0]) > start]
    sales_1 = [e for e in want if '"topic":"/queue/statuses/sales_1"' in e[2]]
    assert sales_1 and got["seed"] == got["ours"] == got["lower-case hex"] == sales_1
    assert got["prefix"] == [e for e in want if '"topic":"/queue/statuses/sales_' in e[2]]
    accents = read_events(f"{live.url}/events?from={start}&topic=/queue/statuses/ventes été")
    assert accents and all("ventes%20%C3%A9t%C3%A9" in e[2] for e in accents)
    for bad in ("/queue/statuses/%FF", "queue/", "/" + "x" * 2000):
        response = httpx.get(f"{live.url}/events", params={"topic": bad}, timeout=10)
        assert response.status_code == 400 and "topic" in response.json()["error"]["message"]
    response = httpx.get(f"{live.url}/events", timeout=10,
                         params=[("topic", f"/q/{i}") for i in range(65)])
    assert response.status_code == 400 and "at most 64" in response.json()["error"]["message"]


def test_a_client_that_stops_reading_is_cut_off_and_resumes(tmp_path: Path) -> None:
    config = {"api": {"send_timeout": 0.3, "client_lag": 50, "stream_buffer": 100}}
    with Live(f"sqlite:///{tmp_path / 'log.db'}", CAPTURED + CAPTURED, config=config) as live:
        live.connected()
        live.settled()
        hub = live.app.state.ctx.hub
        stuck = socket.socket()
        stuck.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1024)
        stuck.connect(("127.0.0.1", live.port))
        stuck.sendall(b"GET /events?from=0 HTTP/1.1\r\nHost: x\r\n\r\n")  # and never reads
        live.run(lambda: live.engine.log.submit([  # type: ignore[union-attr]
            NewEvent("ami/flood/1", i, "Newchannel", utc_now(), "flood",
                     {"Event": "Newchannel", "Channel": f"PJSIP/x-{i}", "ChannelState": "0",
                      "Uniqueid": f"x-{i}", "Linkedid": f"x-{i}",
                      "CallerIDName": "a" * 200})
            for i in range(6000)]))  # far more than the socket buffers hold
        deadline = time.monotonic() + 20
        while hub.clients and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not hub.clients, "the stream of a client that stopped reading ended"
        stuck.close()
        live.settled()  # a reader starting while the flood is still being applied would lag
        # the ring holds only 100 messages: the rest comes from a rebuild, all of it exact
        assert read_events(f"{live.url}/events?from=0") == as_events(expected(live))


def test_switchboard_run_ends_open_streams_when_it_stops(tmp_path: Path) -> None:
    """Ctrl-C with clients still streaming: they get `event: closing` and the server exits
    instead of waiting for streams that never end."""
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    env.pop("SWITCHBOARD_STORE", None)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    run = subprocess.Popen([sys.executable, "-m", "engine.cli", "run", "--port", str(port)],
                           cwd=tmp_path, env=env, stderr=subprocess.PIPE, text=True)
    try:
        lines: list[str] = []
        for _ in range(200):
            try:
                with httpx.stream("GET", f"http://127.0.0.1:{port}/events",
                                  timeout=httpx.Timeout(10, read=10)) as response:
                    for line in response.iter_lines():
                        lines.append(line)
                        if line == ": connected":
                            run.send_signal(signal.SIGINT)
                break
            except httpx.ConnectError:
                time.sleep(0.05)
        assert run.wait(10) == 0, run.stderr.read() if run.stderr else ""
        assert "event: closing" in lines
    finally:
        run.kill()
