"""`/ws` end to end with the `websockets` client: the seed's subscribe protocol over a capture."""

from __future__ import annotations

import contextlib
import json
import logging
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import ClientConnection, connect

from tests.conftest import CAPTURES
from tests.live import Live, paused_live
from tests.test_sse import as_events, callers_join, expected

CAPTURED = [CAPTURES / "queue-basic.jsonl"]


@pytest.fixture
def live(tmp_path: Path) -> Iterator[Live]:
    with paused_live(tmp_path, CAPTURED) as running:
        yield running


def receive_all(ws: ClientConnection, quiet: float = 1.0) -> list[dict]:
    out = []
    try:
        while True:
            out.append(json.loads(ws.recv(timeout=quiet)))
    except TimeoutError:
        return out


def test_subscribe_receives_prefix_topics_in_log_order_then_unsubscribe_stops(
        live: Live) -> None:
    with connect(f"{live.ws_url}/ws?meta=1") as ws:
        ws.send(json.dumps({"type": "subscribe", "topic": "/queue/statuses/"}))
        ws.send(json.dumps({"type": "subscribe", "topic": "/core/channels/"}))
        time.sleep(0.2)
        live.run(lambda: live.asterisks[0].continue_replay())
        got = receive_all(ws)
        ws.send(json.dumps({"type": "unsubscribe", "topic": "/core/channels/"}))
        ws.send(json.dumps({"type": "unsubscribe", "topic": "/queue/statuses/"}))
        ws.send("not json")
        error = json.loads(ws.recv(timeout=2))
        assert error["type"] == "error"
    after_subscribe = [m for m in expected(live) if m.topic.startswith(
        ("/queue/statuses/", "/core/channels/"))]
    assert [m["id"] for m in got] == [m.id for m in after_subscribe][-len(got):]
    assert len(got) > 50
    first = got[0]
    name = next(iter(first))
    assert name.count(".") == 2 and first["topic"] and isinstance(first[name], dict)
    assert {next(iter(m)).split(".")[0] for m in got} == {"queue", "core"}


def test_from_resumes_exactly_with_topics_in_the_query(live: Live) -> None:
    live.run(lambda: live.asterisks[0].continue_replay())
    live.settled()
    want = [e for e in as_events(expected(live)) if '"topic":"/queue/' in e[2]]
    middle = want[len(want) // 2][0]
    with connect(f"{live.ws_url}/ws?from={middle}&topic=/queue/&meta=1") as ws:
        got = receive_all(ws, quiet=0.5)
    assert [m["id"] for m in got] == [e[0] for e in want[len(want) // 2 + 1:]]
    assert [json.dumps(m, separators=(",", ":"), ensure_ascii=False) for m in got] == [
        e[2] for e in want[len(want) // 2 + 1:]]


def test_a_refused_client_gets_no_upgrade_but_the_reason(tmp_path: Path) -> None:
    with Live(f"sqlite:///{tmp_path / 'log.db'}", [], config={"auth": {"enabled": True}}
              ) as live:
        for query, why in (("", "authtoken required"),
                           ("?authtoken=wrong", "invalid or expired authtoken")):
            with pytest.raises(InvalidStatus) as refused:
                connect(f"{live.ws_url}/ws{query}")
            response = refused.value.response
            assert response.status_code == 401
            assert json.loads(response.body)["error"]["message"] == why
    assert threading.active_count() >= 1


def test_messages_have_the_seed_shape_unless_meta_1_asks_for_topic_and_id(live: Live) -> None:
    """Seed 004: a push is `{"<event.name>": {...}}`, nothing else; `?meta=1` adds the topic
    and the id a client needs to resume with `?from=`."""
    with connect(f"{live.ws_url}/ws?topic=/queue/") as seed, \
            connect(f"{live.ws_url}/ws?topic=/queue/&meta=1") as meta, \
            connect(f"{live.ws_url}/ws?topic=/queue/&meta=0") as plain:
        time.sleep(0.2)
        live.run(lambda: live.asterisks[0].continue_replay())
        got = {"seed": receive_all(seed), "meta": receive_all(meta),
               "plain": receive_all(plain, quiet=0.2)}
    want = [m for m in expected(live) if m.topic.startswith("/queue/")][-len(got["meta"]):]
    assert len(want) > 10
    assert got["seed"] == got["plain"] == [{m.name: json.loads(m.json)[m.name]} for m in want]
    assert got["meta"] == [{m.name: json.loads(m.json)[m.name], "topic": m.topic, "id": m.id}
                           for m in want]
    for bad in ("2", "yes", "", "true"):
        with pytest.raises(InvalidStatus) as refused:
            connect(f"{live.ws_url}/ws?meta={bad}")
        assert refused.value.response.status_code == 400
        assert "meta" in json.loads(refused.value.response.body)["error"]["message"]


def test_subscribing_to_the_seeds_encoded_topic_receives_its_messages(live: Live) -> None:
    """`/queue/statuses/sales%5F1`, copied from seed 004, in a subscribe frame or `?topic=`;
    unsubscribing in the other spelling ends it."""
    with connect(f"{live.ws_url}/ws?meta=1") as framed, \
            connect(f"{live.ws_url}/ws?meta=1&topic=/queue/statuses/sales%255F1") as queried:
        framed.send(json.dumps({"type": "subscribe", "topic": "/queue/statuses/sales%5F1"}))
        time.sleep(0.2)
        callers_join(live, ["sales_1", "sales_2"])
        got = {"framed": receive_all(framed), "queried": receive_all(queried, quiet=0.2)}
        framed.send(json.dumps({"type": "unsubscribe", "topic": "/queue/statuses/sales_1"}))
        time.sleep(0.2)
        callers_join(live, ["sales_1"])
        assert receive_all(framed, quiet=0.5) == []
    assert got["framed"] and got["framed"] == got["queried"]
    assert {m["topic"] for m in got["framed"]} == {"/queue/statuses/sales_1"}
    assert {next(iter(m)) for m in got["framed"]} == {"queue.queue.update", "queue.entry.update"}


@contextlib.contextmanager
def server_errors() -> Iterator[list[logging.LogRecord]]:
    """What the server logs at ERROR or with a traceback while the block runs (uvicorn's
    loggers do not propagate to the root, so pytest's caplog would not see them)."""
    records: list[logging.LogRecord] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            if record.levelno >= logging.ERROR or record.exc_info:
                records.append(record)

    handler = Keep()
    loggers = [logging.getLogger(n) for n in ("uvicorn.error", "asyncio", "switchboard")]
    for logger in loggers:
        logger.addHandler(handler)
    try:
        yield records
    finally:
        for logger in loggers:
            logger.removeHandler(handler)


def closed_with(ws: ClientConnection) -> tuple[int, str]:
    """The close code and reason the server sent (waits for them)."""
    with pytest.raises(ConnectionClosed) as closed:
        while True:
            ws.recv(timeout=5)
    assert closed.value.rcvd is not None, "the server closed without a close frame"
    return closed.value.rcvd.code, closed.value.rcvd.reason


def test_a_binary_frame_is_closed_1003_with_a_reason_and_nothing_logged(live: Live) -> None:
    with server_errors() as logged:
        with connect(f"{live.ws_url}/ws") as ws:
            ws.send(b"\x00\x01 not text")
            code, reason = closed_with(ws)
        with connect(f"{live.ws_url}/ws") as ws:
            ws.send(b"\xff\xfe not UTF-8", text=True)  # the protocol closes it: 1007
            not_utf8 = closed_with(ws)[0]
        time.sleep(0.2)
    assert code == 1003 and "text" in reason
    assert not_utf8 == 1007
    assert not logged, [r.getMessage() for r in logged]


def test_malformed_text_frames_get_an_error_and_the_stream_goes_on(live: Live) -> None:
    hostile = ["not json", "", "null", "[]", '"subscribe"', "[" * 100_000,
               '{"type": 1, "topic": "/"}', '{"type": "subscribe"}',
               '{"type": "subscribe", "topic": "/", "zzz": 1}',
               '{"type": "subscribe", "topic": "/\\ud800"}',
               '{"type": "resubscribe", "topic": "/"}',
               '{"type": "subscribe", "topic": "queue"}',
               '{"type": "subscribe", "topic": "/' + "x" * 100_000 + '"}']
    with server_errors() as logged:
        with connect(f"{live.ws_url}/ws", max_size=None) as ws:
            for frame in hostile:
                ws.send(frame)
                answer = json.loads(ws.recv(timeout=5))
                assert answer["type"] == "error" and answer["message"], frame[:40]
                assert len(answer["message"]) < 300, "the answer does not echo a huge frame"
            ws.send(json.dumps({"type": "subscribe", "topic": "/queue/"}))
            time.sleep(0.2)
            live.run(lambda: live.asterisks[0].continue_replay())
            got = receive_all(ws)
        time.sleep(0.2)
    assert got and all(next(iter(m)).startswith("queue.") for m in got)
    assert not logged, [r.getMessage() for r in logged]


def test_ws_from_past_the_end_or_malformed_is_refused_400_with_the_reason(live: Live) -> None:
    last = live.settled()
    for bad, why in ((str(last + 1), "past the end"), ("1_000", "not a message id"),
                     ("1:0", "not a message id")):
        with pytest.raises(InvalidStatus) as refused:
            connect(f"{live.ws_url}/ws?from={bad}")
        response = refused.value.response
        assert response.status_code == 400, bad
        assert why in json.loads(response.body)["error"]["message"]
    with connect(f"{live.ws_url}/ws?from={last}") as ws:
        assert receive_all(ws, quiet=0.3) == []
