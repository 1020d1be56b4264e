"""Live ingestion: real captures, over real TCP, into a real log (SQLite and PostgreSQL)."""

from __future__ import annotations

import asyncio

from engine.ami.ingest import LIST_ACTIONS
from engine.ami.protocol import Parser
from engine.ami.testserver import AmiTestServer
from engine.capture import read_lines
from engine.config import Config, ServerConfig
from engine.configs import WHOLE_PREFIX
from engine.envelope import BANNER, CONNECTION_LOST
from engine.runtime import Engine
from engine.store import open_store
from tests.polling import until


def inbound_types(path) -> list[str]:  # noqa: ANN001
    """What Asterisk sent in the capture, less the answer to the recorder's own Login."""
    parser = Parser()
    data = b"".join(line.raw.encode() for line in read_lines(path) if line.dir == "in")
    return [m.type for m in parser.feed(data)
            if not str(m.headers.get("ActionID", "")).startswith("login")]


def server_config(name: str, port: int) -> ServerConfig:
    return ServerConfig(name=name, port=port, username="admin", secret="admin",
                        ping_interval=5.0, reconnect_max=1.0)


def test_every_message_of_a_live_session_is_logged_with_its_server(store_url, capture) -> None:
    path = capture("queue-basic")
    expected = inbound_types(path)

    async def main() -> None:
        async with AmiTestServer(capture=path, chunk_size=997) as server:
            engine = Engine(Config(store=store_url, servers=[server_config("pbx1", server.port)]))
            await engine.start()
            store = engine.store
            ours: set[str] = set()

            def theirs() -> list[str]:
                """Types of what Asterisk sent on its own (not answers to our actions)."""
                ours.update(a["ActionID"] for a in server.actions_received
                            if a["Action"] != "Login")
                return [e.type for e in store.iter_all()
                        if not e.header("ActionID").startswith(("sb-", WHOLE_PREFIX))
                        and e.header("ActionID") not in ours]

            await until(lambda: len(theirs()) >= len(expected))
            await until(lambda: any(e.type == "QueueSummaryComplete" and
                                    e.header("ActionID").startswith(WHOLE_PREFIX)
                                    for e in store.iter_all()))
            events = list(store.iter_all())
            assert {e.server for e in events} == {"pbx1"}
            assert len({e.stream for e in events}) == 1
            assert [e.version for e in events] == list(range(len(events)))
            assert events[0].type == BANNER
            assert theirs() == expected  # every message Asterisk sent, in order
            asked = [a["Action"] for a in server.actions_received]
            assert all(name in asked for name in LIST_ACTIONS)
            answered = {e.header("ActionID") for e in events if e.type == "Response"}
            for action in server.actions_received:
                if action["Action"] in LIST_ACTIONS:
                    assert action["ActionID"] in answered  # the answers are in the log
            await engine.stop()

    asyncio.run(main())


def test_reconnect_starts_a_new_session_stream_and_marks_the_lost_one(tmp_path, capture) -> None:
    url = f"sqlite:///{tmp_path / 'log.db'}"

    async def main() -> None:
        async with AmiTestServer(capture=capture("originate-answered")) as server:
            engine = Engine(Config(store=url, servers=[server_config("pbx1", server.port)]))
            await engine.start()
            await until(lambda: server.logins == 1 and engine.clients[0].connected)
            await asyncio.sleep(0.3)
            server.drop()
            await until(lambda: server.logins == 2 and engine.clients[0].connected)
            await asyncio.sleep(0.3)
            status = engine.status()["servers"][0]
            assert status["reconnects"] == 1 and status["state"] == "connected"
            await engine.stop()
        store = open_store(url)
        events = list(store.iter_all())
        streams = list(dict.fromkeys(e.stream for e in events))
        assert len(streams) == 2 and all(s.startswith("ami/pbx1/") for s in streams)
        first = [e for e in events if e.stream == streams[0]]
        assert first[-1].type == CONNECTION_LOST and "closed" in first[-1].header("Reason")
        second = [e for e in events if e.stream == streams[1]]
        assert second[0].type == BANNER and second[0].version == 0
        store.close()

    asyncio.run(main())


def test_two_servers_feed_one_log_without_mixing(tmp_path, capture) -> None:
    url = f"sqlite:///{tmp_path / 'log.db'}"

    async def main() -> None:
        async with AmiTestServer(capture=capture("parking")) as a, \
                AmiTestServer(capture=capture("queue-abandon")) as b:
            engine = Engine(Config(store=url, servers=[server_config("east", a.port),
                                                       server_config("west", b.port)]))
            await engine.start()
            await until(lambda: a.messages_replayed > 200 and b.messages_replayed > 150)
            await asyncio.sleep(0.3)
            events = list(engine.store.iter_all())
            await engine.stop()
        for name, capture_name in (("east", "parking"), ("west", "queue-abandon")):
            mine = [e for e in events if e.server == name]
            assert {e.stream.split("/")[1] for e in mine} == {name}
            assert [e.type for e in mine if e.type == "QueueCallerAbandon"] == (
                ["QueueCallerAbandon"] if capture_name == "queue-abandon" else [])

    asyncio.run(main())


def test_wrong_secret_shows_in_engine_status(tmp_path) -> None:
    url = f"sqlite:///{tmp_path / 'log.db'}"

    async def main() -> None:
        async with AmiTestServer(secret="other") as server:
            engine = Engine(Config(store=url, servers=[server_config("pbx1", server.port)]))
            await engine.start()
            await until(lambda: engine.status()["servers"][0]["state"] == "auth_failed")
            assert "Authentication failed" in engine.status()["servers"][0]["last_error"]
            await engine.stop()

    asyncio.run(main())
