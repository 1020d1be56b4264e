"""The AMI client against the test server over real sockets.

Each panoramisk defect listed in design.md has a test here that fails on a client with the defect:
split UTF-8, re-sent actions, list actions cut by a disconnect, dead connections, failing
callbacks, silent wrong passwords. Plus backoff, Shutdown and FullyBooted.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import time
from collections.abc import AsyncIterator, Awaitable

import pytest

from engine.ami.client import ActionError, AmiClient, ConnectionLost
from engine.ami.ingest import LIST_ACTIONS, send_list_actions
from engine.ami.protocol import Message
from engine.ami.simulator import PbxSimulator, Timings
from engine.ami.testserver import AmiTestServer
from engine.config import ServerConfig
from engine.envelope import Headers
from tests.polling import until


def config(port: int, **kw: object) -> ServerConfig:
    base = {"name": "pbx1", "port": port, "username": "admin", "secret": "admin",
            "ping_interval": 5.0, "reconnect_max": 1.0}
    base.update(kw)
    return ServerConfig(**base)  # type: ignore[arg-type]


class Received:
    def __init__(self) -> None:
        self.messages: list[Message] = []
        self.sessions: list[str] = []

    def __call__(self, session: str, messages: list[Message]) -> None:
        self.messages.extend(messages)

    def types(self) -> list[str]:
        return [m.type for m in self.messages]


@contextlib.asynccontextmanager
async def running(client: AmiClient) -> AsyncIterator[AmiClient]:
    """The client connecting (and reconnecting) in a task; stopped and awaited on leaving."""
    task = asyncio.create_task(client.run())
    try:
        yield client
    finally:
        client.stop()
        await task


@contextlib.asynccontextmanager
async def connected(server: AmiTestServer, **kw: object) -> AsyncIterator[AmiClient]:
    """A running client of `server` (its `config` changed by `kw`), once it is logged in."""
    client = AmiClient(config(server.port, **kw), Received())
    async with running(client):
        await until(lambda: client.connected)
        yield client


async def cut_off(server: AmiTestServer, client: AmiClient, action: Headers,
                  timeout: float | None = 30.0) -> None:
    """Send `action` to a server gone silent and drop the connection once it has arrived,
    unanswered: the action fails with ConnectionLost, at once (it never hangs). The server
    speaks again afterwards."""
    server.go_silent()
    pending = asyncio.create_task(client.action(action, timeout))
    await until(lambda: any(a.get("Action") == action["Action"] for a in server.actions_received))
    server.drop()
    with pytest.raises(ConnectionLost):
        await asyncio.wait_for(pending, 2)
    server.resume()


def run(coro: Awaitable[None]) -> None:
    asyncio.run(asyncio.wait_for(coro, 30))  # type: ignore[arg-type]


def test_utf8_character_split_across_reads_is_kept() -> None:
    payload = "Event: Newchannel\r\nCallerIDName: José Müller\r\n\r\n".encode()

    async def main() -> None:
        async with AmiTestServer(payload=payload, chunk_size=1) as server:
            got = Received()
            client = AmiClient(config(server.port), got)
            async with running(client):
                await until(lambda: "Newchannel" in got.types())
            [m] = [m for m in got.messages if m.type == "Newchannel"]
            assert m.headers["CallerIDName"] == "José Müller"

    run(main())


def test_unanswered_action_is_not_resent_after_reconnect() -> None:
    """An Originate cut by a disconnect fails; it is never dialed twice."""

    async def main() -> None:
        async with AmiTestServer() as server, connected(server) as client:
            await cut_off(server, client, {"Action": "Originate",
                                           "Channel": "Local/101@customers", "Async": "true"})
            await until(lambda: server.logins == 2 and client.connected)
            await asyncio.sleep(0.2)
            sent = [a for a in server.actions_received if a.get("Action") == "Originate"]
            assert len(sent) == 1

    run(main())


def test_list_action_cut_by_disconnect_fails_instead_of_hanging() -> None:
    async def main() -> None:
        async with AmiTestServer() as server, connected(server) as client:
            await cut_off(server, client, {"Action": "CoreShowChannels"}, timeout=None)

    run(main())


def test_list_action_resolves_with_its_items_and_complete_event(capture) -> None:
    async def main() -> None:
        async with AmiTestServer(capture=capture("queue-basic")) as server, \
                connected(server) as client:
            answer = await client.action({"Action": "QueueStatus"})
            assert answer[0].headers["EventList"] == "start"
            assert answer[-1].type == "QueueStatusComplete"
            assert {m.headers["ActionID"] for m in answer} == {answer[0].headers["ActionID"]}
            with pytest.raises(ActionError, match="Invalid/unknown command"):
                await client.action({"Action": "NoSuchAction"})

    run(main())


def test_silent_dead_connection_is_detected_within_two_ping_intervals() -> None:
    interval = 0.3

    async def main() -> None:
        async with AmiTestServer() as server, connected(server, ping_interval=interval) as client:
            server.go_silent()
            silent_at = time.monotonic()
            await until(lambda: client.status.reconnects >= 1, timeout=5)
            detected = time.monotonic() - silent_at
            assert detected <= 2 * interval + 0.1, detected
            assert "no answer to Ping" in (client.status.last_error or "")
            server.resume()
            await until(lambda: client.connected and server.logins == 2)

    run(main())


def test_exception_in_callback_does_not_tear_the_connection_down(capture) -> None:
    got = Received()

    def flaky(session: str, messages: list[Message]) -> None:
        got(session, messages)
        if any(m.type == "Newchannel" for m in messages):
            raise RuntimeError("a consumer bug")

    async def main() -> None:
        async with AmiTestServer(capture=capture("originate-answered"), chunk_size=200) as server:
            client = AmiClient(config(server.port), flaky)
            async with running(client):
                await until(lambda: "Hangup" in got.types())
                await until(lambda: got.types().count("Hangup") == 2)
                assert client.status.callback_errors >= 1
                assert server.connections == 1 and client.connected

    run(main())


def test_wrong_secret_is_a_clear_error_and_is_retried_with_backoff(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def main() -> None:
        async with AmiTestServer(secret="right") as server:
            client = AmiClient(config(server.port, secret="wrong"), Received())
            async with running(client):
                await until(lambda: client.status.state == "auth_failed")
                assert "Authentication failed" in (client.status.last_error or "")
                logins = lambda: [a for a in server.actions_received if a.get("Action") == "Login"]  # noqa: E731
                await until(lambda: len(logins()) >= 2, timeout=3)
                assert client.status.state in ("auth_failed", "connecting", "logging_in")
                server.secret = "wrong"  # the operator fixes the secret on the Asterisk side
                await until(lambda: client.connected, timeout=3)

    with caplog.at_level(logging.ERROR, logger="switchboard.ami"):
        run(main())
    assert any("authentication failed" in r.getMessage() and r.levelno == logging.ERROR
               for r in caplog.records)


def test_reconnect_backoff_doubles_and_is_capped(caplog: pytest.LogCaptureFixture) -> None:
    async def main() -> None:
        server = AmiTestServer()
        await server.start()
        port = server.port
        await server.close()  # nothing listens: every connect is refused
        client = AmiClient(config(port, reconnect_max=2.0), Received())
        task = asyncio.create_task(client.run())
        await asyncio.sleep(5.8)
        client.stop()
        task.cancel()

    with caplog.at_level(logging.WARNING, logger="switchboard.ami"):
        run(main())
    delays = [float(m.group(1)) for r in caplog.records
              if (m := re.search(r"reconnecting in ([\d.]+)s", r.getMessage()))]
    assert delays[:5] == [0.5, 1.0, 2.0, 2.0, 2.0][: len(delays[:5])]
    assert len(delays) >= 4 and max(delays) == 2.0


def test_shutdown_then_reconnect_sends_the_list_actions_again() -> None:
    payload = (b"Event: Shutdown\r\nPrivilege: system,all\r\nShutdown: Cleanly\r\n"
               b"Restart: True\r\n\r\n")

    async def main() -> None:
        async with AmiTestServer(payload=payload) as server:
            got = Received()
            client = AmiClient(config(server.port), got, on_login=send_list_actions)
            async with running(client):
                await until(lambda: "Shutdown" in got.types())
                assert client.status.shutdown == "Cleanly, restart: True"
                server.drop()  # Asterisk goes away after Shutdown
                await until(lambda: server.logins == 2 and client.connected)
                asked = lambda: [a["Action"] for a in server.actions_received]  # noqa: E731
                await until(lambda: asked().count("DeviceStateList") == 2)
                for name in LIST_ACTIONS:
                    assert asked().count(name) == 2, name
                assert client.status.booted  # FullyBooted of the new session was seen

    run(main())


FULLY_BOOTED = b"Event: FullyBooted\r\nPrivilege: system,all\r\nStatus: Fully Booted\r\n\r\n"


def asked(server: AmiTestServer) -> list[str]:
    return [str(a["Action"]) for a in server.actions_received]


@contextlib.asynccontextmanager
async def listed_a_second_ago(server: AmiTestServer) -> AsyncIterator[AmiClient]:
    """A client that sends the list actions at every login: logged in to `server`, and its
    list actions sent, over a second ago."""
    client = AmiClient(config(server.port), Received(), on_login=send_list_actions)
    async with running(client):
        await until(lambda: asked(server).count("DeviceStateList") == 1)
        await asyncio.sleep(1.2)
        yield client


def test_reconnect_lists_once_without_false_failures(caplog: pytest.LogCaptureFixture) -> None:
    """Issue 12 item 17. Asterisk sends FullyBooted right after accepting a Login. The first
    session lasts over a second; on the next one that FullyBooted was judged against the first
    session's login time, so it looked late and the list actions went out a second time (or,
    read while the state was still `logging_in`, failed with 'not connected')."""

    async def main() -> None:
        async with AmiTestServer() as server, listed_a_second_ago(server) as client:
            server.drop()
            await until(lambda: server.logins == 2 and client.connected)
            await until(lambda: asked(server).count("DeviceStateList") == 2)
            await asyncio.sleep(0.3)  # a second round would have been sent by now
            for name in LIST_ACTIONS:
                assert asked(server).count(name) == 2, (name, asked(server))

    with caplog.at_level(logging.INFO, logger="switchboard.ingest"):
        run(main())
    failures = [r.getMessage() for r in caplog.records
                if r.name == "switchboard.ingest" and "not connected" in r.getMessage()]
    assert failures == []


def test_fully_booted_after_login_sends_the_list_actions_again() -> None:
    """Asterisk still booting when we logged in: what we listed may be partial, so its
    FullyBooted, arriving over a second after this session's login, asks again."""

    async def main() -> None:
        async with AmiTestServer() as server, listed_a_second_ago(server):
            await server.broadcast(FULLY_BOOTED)
            await until(lambda: asked(server).count("DeviceStateList") == 2)
            assert server.logins == 1

    run(main())


def test_an_event_answering_an_action_is_awaited_and_fails_with_its_session() -> None:
    """`expect`: an async Originate's OriginateResponse, registered before the action leaves
    (it may come in the same read as the response), fails with ConnectionLost when the
    session ends first, as a pending action does."""

    async def main() -> None:
        async with PbxSimulator(outcome={"noanswer": 1.0}, timings=Timings(noanswer=30.0)
                                ) as server, connected(server) as client:
            originate = {"Action": "Originate", "Channel": "Bogus/1", "Exten": "echo",
                         "Context": "dialer", "Priority": "1", "Async": "true"}
            follow = client.expect("o-1", "OriginateResponse")
            [response] = await client.action({**originate, "ActionID": "o-1"})
            assert response.headers["Message"] == "Originate successfully queued"
            answer = await asyncio.wait_for(follow, 2)
            assert answer.headers["Response"] == "Failure" and answer.headers["Reason"] == "0"

            ringing = client.expect("o-2", "OriginateResponse")
            await client.action({**originate, "Channel": "SIP/200", "ActionID": "o-2"})
            server.drop()
            with pytest.raises(ConnectionLost):
                await asyncio.wait_for(ringing, 2)

    run(main())
