"""The fake Asterisk, exercised over real sockets: it must behave like the recorded Asterisk."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

from engine.ami.protocol import Message, Parser
from engine.ami.testserver import AmiTestServer
from engine.capture import action_times, read_lines
from engine.envelope import BANNER
from tests.conftest import CAPTURES
from tests.polling import until

ANSWERED = CAPTURES / "originate-answered.jsonl"
CONTROL = CAPTURES / "control-actions.jsonl"
LOGIN = (
    b"Action: Login\r\nActionID: login-1\r\nUsername: admin\r\nSecret: admin\r\nEvents: on\r\n\r\n"
)
JOSE = (
    "Event: Newchannel\r\nPrivilege: call,all\r\nChannel: Local/777@customers-0000abcd;1\r\n"
    "CallerIDNum: 5550199\r\nCallerIDName: José Müller\r\nUniqueid: 1795361999.1\r\n\r\n"
).encode()


def run(test: Callable[[], Awaitable[None]]) -> None:
    async def guarded() -> None:
        try:
            await asyncio.wait_for(test(), timeout=8)
        finally:
            for client in Client.opened:
                client.writer.close()
            Client.opened.clear()

    asyncio.run(guarded())


def inbound_bytes(path: Path) -> bytes:
    return b"".join(line.raw.encode("utf-8") for line in read_lines(path) if line.dir == "in")


def inbound_messages(path: Path) -> list[Message]:
    return Parser().feed(inbound_bytes(path))


def recorded_answer(path: Path, action_id: str) -> list[Message]:
    return [m for m in inbound_messages(path) if m.headers.get("ActionID") == action_id]


class Client:
    """A bare AMI client: what the engine's connection does, minus everything clever."""

    opened: list[Client] = []  # closed by run() when the test ends

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer
        self.parser = Parser()
        self.pending: list[Message] = []
        Client.opened.append(self)

    @classmethod
    async def connect(cls, server: AmiTestServer) -> Client:
        return cls(*await asyncio.open_connection("127.0.0.1", server.port))

    def send(self, raw: bytes) -> None:
        self.writer.write(raw)

    def action(self, name: str, action_id: str, **headers: str) -> None:
        lines = [f"Action: {name}", f"ActionID: {action_id}"]
        lines += [f"{k}: {v}" for k, v in headers.items()]
        self.send(("\r\n".join(lines) + "\r\n\r\n").encode())

    async def next(self) -> Message:
        while not self.pending:
            data = await self.reader.read(65536)
            if not data:
                raise EOFError
            self.pending.extend(self.parser.feed(data))
        return self.pending.pop(0)

    async def take(self, n: int) -> list[Message]:
        return [await self.next() for _ in range(n)]

    async def until(self, event: str) -> list[Message]:
        out = [await self.next()]
        while out[-1].type != event:
            out.append(await self.next())
        return out

    @classmethod
    async def logged_in(cls, server: AmiTestServer) -> Client:
        client = await cls.connect(server)
        await client.login()
        return client

    async def login(self) -> None:
        self.send(LOGIN)
        banner, accepted, booted = await self.take(3)
        assert banner.type == BANNER
        assert accepted.headers["Message"] == "Authentication accepted"
        assert booted.type == "FullyBooted"

    async def closed(self) -> bool:
        """True once the server has closed (or reset) the socket; reads everything before."""
        try:
            while await asyncio.wait_for(self.reader.read(65536), timeout=2):
                pass
        except ConnectionError:
            pass
        return True

    async def quiet_for(self, seconds: float) -> bool:
        try:
            await asyncio.wait_for(self.next(), timeout=seconds)
        except TimeoutError:
            return True
        return False


def test_login_replays_every_inbound_message_to_each_connection() -> None:
    expected = inbound_messages(ANSWERED)

    async def main() -> None:
        async with AmiTestServer(capture=ANSWERED) as server:
            one, two = await Client.connect(server), await Client.connect(server)
            one.send(LOGIN)
            two.send(LOGIN)
            for client in (one, two):
                assert await client.take(len(expected)) == expected
                assert await client.quiet_for(0.05)
            assert (server.connections, server.logins) == (2, 2)
            assert server.messages_replayed == 2 * (len(expected) - 3)
            assert server.actions_received[0]["Action"] == "Login"

    run(main)


def test_capture_responses_can_be_left_out() -> None:
    recorded_ids = {headers.get("ActionID") for _, headers in action_times(ANSWERED)}
    expected = [
        m for m in inbound_messages(ANSWERED)[3:] if m.headers.get("ActionID") not in recorded_ids
    ]

    async def main() -> None:
        async with AmiTestServer(capture=ANSWERED, replay_responses=False) as server:
            client = await Client.logged_in(server)
            assert await client.take(len(expected)) == expected
            assert await client.quiet_for(0.05)

    run(main)


def test_wrong_secret_is_refused_and_the_socket_closed() -> None:
    async def main() -> None:
        async with AmiTestServer(capture=ANSWERED, secret="s3cret") as server:
            client = await Client.connect(server)
            client.send(LOGIN)
            banner, refused = await client.take(2)
            assert refused.headers == {
                "Response": "Error", "ActionID": "login-1", "Message": "Authentication failed",
            }
            assert await client.closed()
            assert server.logins == 0 and server.messages_replayed == 0

            server.fail_logins(1)  # right secret, still refused once
            server.secret = "admin"
            again = await Client.connect(server)
            again.send(LOGIN)
            assert (await again.take(2))[1].headers["Message"] == "Authentication failed"
            assert await again.closed()
            await Client.logged_in(server)
            assert server.logins == 1

    run(main)


def test_actions_before_login_are_denied_and_garbage_is_survived() -> None:
    async def main() -> None:
        async with AmiTestServer() as server:
            client = await Client.connect(server)
            client.action("Ping", "p-1")
            client.send(b"\xff\xfe garbage \x00\r\n\r\nno colon here\r\n\r\n")
            banner, denied, missing, missing2 = await client.take(4)
            assert denied.headers == {
                "Response": "Error", "ActionID": "p-1", "Message": "Permission denied",
            }
            assert missing.headers["Message"] == "Missing action in request"
            assert missing2.headers["Message"] == "Missing action in request"
            client.send(LOGIN)
            assert (await client.next()).headers["Message"] == "Authentication accepted"
            assert (await client.next()).type == "FullyBooted"
            client.action("Originate", "o-1", Channel="Local/101@customers")
            unknown = await client.next()
            assert unknown.headers == {
                "Response": "Error", "ActionID": "o-1", "Message": "Invalid/unknown command",
            }
            assert [a["Action"] for a in server.actions_received] == ["Ping", "Login", "Originate"]

    run(main)


def test_ping_pong_and_logoff() -> None:
    async def main() -> None:
        async with AmiTestServer() as server:
            client = await Client.logged_in(server)
            client.action("Ping", "ping-7")
            pong = await client.next()
            assert pong.type == "Response"
            assert pong.headers["Response"] == "Success"
            assert pong.headers["ActionID"] == "ping-7"
            assert pong.headers["Ping"] == "Pong"
            assert abs(float(pong.headers["Timestamp"]) - time.time()) < 5
            client.action("Logoff", "bye-1")
            assert (await client.next()).headers == {
                "Response": "Goodbye", "ActionID": "bye-1", "Message": "Thanks for all the fish.",
            }
            assert await client.closed()

    run(main)


def _rewritten(messages: list[Message], action_id: str) -> list[Message]:
    return [Message(m.type, {**m.headers, "ActionID": action_id}) for m in messages]


def test_list_actions_answer_from_the_recording_at_the_replay_position() -> None:
    total = len(inbound_messages(CONTROL)) - 3

    async def main() -> None:
        async with AmiTestServer(capture=CONTROL, pause_after=0) as server:
            client = await Client.logged_in(server)
            # Nothing replayed yet: the first recorded CoreShowChannels answers.
            client.action("CoreShowChannels", "mine-1")
            answer = await client.until("CoreShowChannelsComplete")
            assert answer == _rewritten(recorded_answer(CONTROL, "coreshowchannels-4"), "mine-1")
            assert answer[0].headers["EventList"] == "start"
            # A Status with a channel gets the recorded answer to that same filtered Status.
            client.action("Status", "mine-2", Channel="Local/501@customers-00000000;1")
            assert await client.until("StatusComplete") == _rewritten(
                recorded_answer(CONTROL, "status-7"), "mine-2"
            )
            server.continue_replay()
            replayed = await client.take(total)
            assert replayed[-1].headers["Response"] == "Goodbye"
            # At the end of the replay: the last recorded QueueStatus answers.
            client.action("QueueStatus", "mine-3")
            assert await client.until("QueueStatusComplete") == _rewritten(
                recorded_answer(CONTROL, "queuestatus-22"), "mine-3"
            )

    run(main)


def test_list_action_without_a_recording_is_an_empty_list() -> None:
    async def main() -> None:
        async with AmiTestServer() as server:
            client = await Client.logged_in(server)
            client.action("ParkedCalls", "pc-1")
            start, complete = await client.take(2)
            assert start.headers["EventList"] == "start" and start.headers["ActionID"] == "pc-1"
            assert complete.type == "ParkedCallsComplete"
            assert complete.headers["ListItems"] == "0" and complete.headers["ActionID"] == "pc-1"

    run(main)


def test_chunk_size_one_gives_a_byte_identical_stream() -> None:
    expected = inbound_bytes(ANSWERED) + JOSE

    async def main() -> None:
        async with AmiTestServer(capture=ANSWERED, chunk_size=1, payload=JOSE) as server:
            reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
            writer.write(LOGIN)
            got, reads = b"", 0
            while len(got) < len(expected):
                got += await reader.read(65536)
                reads += 1
            assert got == expected
            assert reads > len(expected) // 10  # really split, not one big read
            assert Parser().feed(got)[-1].headers["CallerIDName"] == "José Müller"
            writer.close()

    run(main)


def test_payload_is_streamed_whole_after_the_replay() -> None:
    payload = b"".join(
        f"Event: VarSet\r\nPrivilege: dialplan,all\r\nVariable: n\r\nValue: {i}\r\n\r\n".encode()
        for i in range(20_000)
    )

    async def main() -> None:
        async with AmiTestServer(payload=payload) as server:
            client = await Client.logged_in(server)
            client.action("Ping", "p-1")  # answered between payload pieces, never inside one
            messages = await client.take(20_001)
            values = [m.headers["Value"] for m in messages if m.type == "VarSet"]
            assert values == [str(i) for i in range(20_000)]
            assert [m.headers["Ping"] for m in messages if m.type == "Response"] == ["Pong"]

    run(main)


def test_drop_aborts_every_connection_and_new_ones_still_work() -> None:
    async def main() -> None:
        async with AmiTestServer(capture=ANSWERED, pause_after=2) as server:
            clients = [await Client.connect(server) for _ in range(2)]
            for client in clients:
                await client.login()
                await client.take(2)
            server.drop()
            for client in clients:
                assert await client.closed()
            await until(lambda: server.open_connections == 0)
            await Client.logged_in(server)
            assert (server.connections, server.logins) == (3, 3)

    run(main)


def test_go_silent_holds_everything_until_resume() -> None:
    async def main() -> None:
        async with AmiTestServer() as server:
            client = await Client.logged_in(server)
            server.go_silent()
            client.action("Ping", "p-1")
            assert await client.quiet_for(0.2)
            await until(lambda: len(server.actions_received) == 2)  # heard, not answered
            late = await Client.connect(server)
            assert await late.quiet_for(0.05)  # not even a banner
            server.resume()
            assert (await client.next()).headers["Ping"] == "Pong"
            assert (await late.next()).type == BANNER

    run(main)


def test_pause_after_stops_the_replay_until_continued() -> None:
    expected = inbound_messages(ANSWERED)[3:]

    async def main() -> None:
        async with AmiTestServer(capture=ANSWERED, pause_after=5) as server:
            client = await Client.logged_in(server)
            assert await client.take(5) == expected[:5]
            assert await client.quiet_for(0.1)
            server.continue_replay(3)
            assert await client.take(3) == expected[5:8]
            assert await client.quiet_for(0.1)
            server.continue_replay()
            assert await client.take(len(expected) - 8) == expected[8:]
            assert server.messages_replayed == len(expected)

    run(main)


def test_speed_follows_the_recorded_pace() -> None:
    lines = [line for line in read_lines(ANSWERED) if line.dir == "in"]
    recorded = lines[-1].t - lines[3].t  # from the FullyBooted sent at login to the last message

    async def main() -> None:
        async with AmiTestServer(capture=ANSWERED, speed=40.0) as server:
            client = await Client.logged_in(server)
            started = time.monotonic()
            await client.take(len(lines) - 3)
            elapsed = time.monotonic() - started
            assert recorded / 40 * 0.9 <= elapsed < recorded / 40 + 1.0

    run(main)


def test_standalone_command_serves_until_ctrl_c() -> None:
    root = Path(__file__).resolve().parents[1]
    process = subprocess.Popen(
        [sys.executable, "-m", "engine.ami.testserver", "--capture", str(ANSWERED),
         "--port", "0", "--speed", "0", "--loop"],
        cwd=root, stderr=subprocess.PIPE, text=True, env={**os.environ, "PYTHONPATH": str(root)},
    )
    try:
        assert process.stderr is not None
        line = process.stderr.readline()
        port = int(line.split(" on ", 1)[1].split()[0].rsplit(":", 1)[1])

        async def main() -> None:
            expected = inbound_messages(ANSWERED)
            for _ in range(2):  # every connection gets the whole capture
                reader, writer = await asyncio.open_connection("127.0.0.1", port)
                client = Client(reader, writer)
                client.send(LOGIN)
                assert await client.take(len(expected)) == expected

        run(main)
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=5) == 0
    finally:
        process.kill()
        process.wait()
        if process.stderr is not None:
            process.stderr.close()
