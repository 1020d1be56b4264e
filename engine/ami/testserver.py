"""A fake Asterisk that speaks real AMI over TCP, built from the recorded captures.

Ingestion tests and benchmarks need a peer that behaves like Asterisk on a real socket, not a
mock of our own client: it sends the banner, authenticates, answers `Ping`, `Logoff` and the list
actions, and streams the messages a real Asterisk 22 sent in a recorded session
(`tests/ami-captures/*.jsonl`), byte for byte. Faults are injected at runtime (`drop`,
`go_silent`, `fail_logins`, `pause_replay`) so the client's recovery paths can be tested.
An action the recording client also sent with the same parameters (a `Hangup`, `Originate`,
`QueueAdd`...) is answered with Asterisk's recorded response (what it caused is in the replay,
as recorded; the events that answer it later, such as an async Originate's
`OriginateResponse`, carry the client's ActionID); other actions get `Invalid/unknown command`.
Voicemail, modules, async AGI, res_pjsip (from pjsip.conf) and the agent pool (from
agents.conf, if there is one) keep state that actions change (`engine/ami/emulated.py`):
their actions are answered by `parts`, as a real Asterisk would from that state, before any
recorded answer, and the parts see every replayed message.

Each connection gets its own replay, from the start of the capture, after it logs in. Run it
standalone with `python -m engine.ami.testserver --capture FILE` to point `switchboard run` at it.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType

from engine.ami.asterisk_agents import Agents
from engine.ami.asterisk_agi import AsyncAgi
from engine.ami.asterisk_config import Answer, AsteriskConfig
from engine.ami.asterisk_modules import Modules
from engine.ami.asterisk_pjsip import Pjsip
from engine.ami.asterisk_voicemail import Voicemail
from engine.ami.emulated import Part, Reply
from engine.ami.protocol import TERMINATOR, Message, Parser, parse_action
from engine.capture import read_lines
from engine.envelope import MALFORMED, Headers

BANNER = "Asterisk Call Manager/11.0.0"
DEFAULT_FULLY_BOOTED = (
    b"Event: FullyBooted\r\nPrivilege: system,all\r\nUptime: 0\r\nLastReload: 0\r\n"
    b"Status: Fully Booted\r\n\r\n"
)
PAYLOAD_PIECE = 256 * 1024  # payload writes: large, but always cut at a message boundary

# List actions: Asterisk's start message and Complete event, to answer with an empty list when the
# capture never sent that action (a fresh Asterisk with nothing to list answers the same way).
LIST_ACTIONS: dict[str, tuple[str, str, str]] = {
    "coreshowchannels": ("Channels will follow", "CoreShowChannelsComplete", ""),
    "queuestatus": ("Queue status will follow", "QueueStatusComplete", ""),
    "queuesummary": ("Queue summary will follow", "QueueSummaryComplete", ""),
    "parkedcalls": ("Parked calls will follow", "ParkedCallsComplete", "Total: 0\r\n"),
    "parkinglots": ("Parking lots will follow", "ParkinglotsComplete", ""),
    "devicestatelist": ("Device State Changes will follow", "DeviceStateListComplete", ""),
    "status": ("Channel status will follow", "StatusComplete", "Items: 0\r\n"),
    "bridgelist": ("Bridge listing will follow", "BridgeListComplete", ""),
}


@dataclass(frozen=True, slots=True)
class _Inbound:
    index: int  # line number in the capture (0-based), the replay position
    t: float
    raw: str
    action_id: str | None = None  # its ActionID header, if it has one


@dataclass(frozen=True, slots=True)
class _Outbound:
    index: int
    name: str  # lower case: Asterisk matches action names case-insensitively
    action_id: str
    params: dict[str, str]  # every other header, lower-cased keys


@dataclass(slots=True)
class _Capture:
    """A capture split once into what every connection needs."""

    fully_booted: bytes = DEFAULT_FULLY_BOOTED
    start_t: float = 0.0  # capture time of the last message sent at login: the replay's zero
    replay: list[_Inbound] = field(default_factory=list)
    actions: list[_Outbound] = field(default_factory=list)
    answers: dict[str, list[_Inbound]] = field(default_factory=dict)  # ActionID -> messages


def _first_header(raw: str, name: str) -> str | None:
    prefix = name.lower() + ":"
    for line in raw.split("\r\n"):
        if line.lower().startswith(prefix):
            return line[len(prefix) :].strip()
    return None


def _load_capture(path: str | Path, replay_responses: bool = True) -> _Capture:
    """The banner, the login response and the first FullyBooted are sent live, not replayed."""
    lines = read_lines(path)
    out = _Capture()
    login_ids: set[str] = set()
    action_ids: set[str] = set()
    for index, line in enumerate(lines):
        if line.dir != "out":
            continue
        headers = parse_action(line.raw)
        name, action_id = _get(headers, "Action").lower(), _get(headers, "ActionID")
        action_ids.add(action_id)
        if name == "login":
            login_ids.add(action_id)
        out.actions.append(_Outbound(index, name, action_id, _params(headers)))
    banner_seen = booted_seen = False
    for index, line in enumerate(lines):
        if line.dir != "in":
            continue
        if not banner_seen:
            banner_seen = True
            out.start_t = line.t
            continue
        action_id = _first_header(line.raw, "ActionID")
        item = _Inbound(index, line.t, line.raw, action_id)
        if action_id is not None and action_id in action_ids:
            out.answers.setdefault(action_id, []).append(item)
        if action_id is not None and action_id in login_ids:
            out.start_t = line.t
            continue
        if not booted_seen and _first_header(line.raw, "Event") == "FullyBooted":
            booted_seen = True
            out.fully_booted = line.raw.encode("utf-8")
            out.start_t = line.t
            continue
        if not replay_responses and action_id is not None and action_id in action_ids:
            continue
        out.replay.append(item)
    return out


def replayed_lines(path: str | Path) -> list[int]:
    """The capture lines replayed to each connection after its login, in order: every message
    Asterisk sent but the banner, the Login response and the first FullyBooted (sent live)."""
    return [item.index for item in _load_capture(path).replay]


def _get(headers: Headers, name: str) -> str:
    """First value of a header, matched case-insensitively as Asterisk's astman_get_header does."""
    lower = name.lower()
    for key, value in headers.items():
        if key.lower() == lower:
            return (value[0] if isinstance(value, list) else value).strip()
    return ""


def _params(headers: Headers) -> dict[str, str]:
    """An action's parameters, to compare with a recorded one's: every header but Action and
    ActionID, keys lower-cased, a repeated header's values joined by newlines."""
    return {key.lower(): "\n".join(value) if isinstance(value, list) else value
            for key, value in headers.items() if key.lower() not in ("action", "actionid")}


def _client_headers(message: Message) -> Headers:
    """An action has neither Event nor Response, so the shared parser calls it Malformed."""
    if message.type == MALFORMED:
        return parse_action(str(message.headers.get("raw", "")))
    return message.headers


def _response(status: str, action_id: str, *lines: str) -> bytes:
    """Asterisk leaves ActionID out when the action had none."""
    parts = [f"Response: {status}"]
    if action_id:
        parts.append(f"ActionID: {action_id}")
    parts.extend(lines)
    return ("\r\n".join(parts) + "\r\n\r\n").encode("utf-8")


def _ack(action_id: str, message: str) -> bytes:
    return _response("Success", action_id, f"Message: {message}")


def _error(action_id: str, message: str) -> bytes:
    return _response("Error", action_id, f"Message: {message}")


def _rewrite_action_id(raw: str, old: str, new: str) -> bytes:
    """Line-wise, so the recorded message stays byte-identical apart from the ActionID."""
    out: list[str] = []
    for line in raw.split("\r\n"):
        key, sep, value = line.partition(":")
        if sep and key.lower() == "actionid" and value.strip() == old:
            if not new:
                continue
            line = f"{key}: {new}"
        out.append(line)
    return "\r\n".join(out).encode("utf-8")


def _empty_list(name: str, action_id: str) -> bytes:
    message, complete, extra = LIST_ACTIONS[name]
    start = _response("Success", action_id, "EventList: start", f"Message: {message}")
    aid = f"ActionID: {action_id}\r\n" if action_id else ""
    end = f"Event: {complete}\r\n{aid}EventList: Complete\r\nListItems: 0\r\n{extra}\r\n"
    return start + end.encode("utf-8")


def _message_pieces(blob: bytes, size: int) -> Iterator[bytes]:
    """Cut near every `size` bytes but only after a terminator, so a response never lands inside
    a payload message."""
    start = 0
    while start < len(blob):
        end = blob.find(TERMINATOR, start + max(size - len(TERMINATOR), 0))
        end = len(blob) if end < 0 else end + len(TERMINATOR)
        yield blob[start:end]
        start = end


@dataclass(eq=False, slots=True)
class _Connection:
    writer: asyncio.StreamWriter
    limit: int | None  # replay stops once `replayed` reaches this; None = no limit
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    more: asyncio.Event = field(default_factory=asyncio.Event)
    authenticated: bool = False
    finished: bool = False  # the session's last message (Goodbye, failed login) is out
    position: int = 0  # capture line index of the last replayed message
    # recorded ActionID -> the client's, for the recorded actions this client sent too
    renamed: dict[str, str] = field(default_factory=dict)
    replayed: int = 0
    task: asyncio.Task[None] | None = None
    replay_task: asyncio.Task[None] | None = None


class AmiTestServer:
    """A fake Asterisk Manager Interface on a real TCP socket.

    Options are keyword-only. All but `capture` and `replay_responses` (read once, at
    construction) are also attributes of the same name that a test may change at runtime; each
    is read when it is needed (`secret` at the next Login, `pause_after` when a connection opens,
    `speed`, `chunk_size` and `payload` as the replay goes). The fault methods are plain calls
    made from the server's event loop.

    - `username`, `secret`: the one manager account. Changing `secret` at runtime makes the next
      logins fail (or succeed) without restarting the server.
    - `capture`: a `.jsonl` session to replay to each connection after it logs in; None replays
      nothing (the server still answers Login, Ping, Logoff and list actions with empty lists).
    - `speed`: 0 replays as fast as the socket takes it; 1.0 at the recorded pace (the capture's
      `t`), 2.0 twice as fast, and so on.
    - `chunk_size`: split every write into pieces of this many bytes, so the client sees
      messages (and multi-byte UTF-8 characters) cut at arbitrary points.
    - `payload`: raw AMI bytes streamed after the capture's replay (or right after login without
      a capture), in large writes with backpressure: how a benchmark pushes 200k+ events.
      It must be whole messages; it is not counted by `pause_after`.
    - `pause_after`: each new connection's replay stops after this many messages until
      `continue_replay()`.
    - `replay_responses`: also replay the recorded responses to the recording client's own
      actions (they are part of what Asterisk sent). False leaves out every message carrying an
      ActionID of the capture.
    - `banner`: the first line sent on connect.
    - `config`: its configuration files (`engine/ami/asterisk_config.py`; the captures' PBX by
      default): `GetConfig`, `GetConfigJSON`, `ListCategories`, `UpdateConfig` and `Reload` are
      answered from them, statefully, and a reload that changes the queues or parking lots
      shows in the list answers after it. Without a capture its queues and lots are listed,
      idle, from the start.
    """

    def __init__(
        self,
        *,
        username: str = "admin",
        secret: str = "admin",
        capture: str | Path | None = None,
        speed: float = 0.0,
        chunk_size: int | None = None,
        payload: bytes | None = None,
        pause_after: int | None = None,
        replay_responses: bool = True,
        banner: str = BANNER,
        config: AsteriskConfig | None = None,
    ) -> None:
        if speed < 0:
            raise ValueError("speed must be >= 0 (0 = as fast as possible)")
        if chunk_size is not None and chunk_size < 1:
            raise ValueError("chunk_size must be >= 1 byte")
        self.username = username
        self.secret = secret
        self.speed = speed
        self.chunk_size = chunk_size
        self.payload = payload
        self.pause_after = pause_after
        self.banner = banner
        self.config = config if config is not None else AsteriskConfig()
        if capture is None:
            self.config.recorded_nothing()  # its queues and lots are listed, idle
        self._capture = _load_capture(capture, replay_responses) if capture else _Capture()
        # Asterisk's stateful areas, as of the recording's start (emulated.py)
        self.voicemail = Voicemail.from_capture(capture) if capture else Voicemail()
        self.modules = Modules.from_capture(capture) if capture else Modules.demo()
        self.agi = AsyncAgi()
        self.pjsip = Pjsip(self.config)
        self.agents = Agents(self.config)
        self._server: asyncio.Server | None = None
        self._open: set[_Connection] = set()
        self._speaking = asyncio.Event()
        self._speaking.set()
        self._failing_logins = 0
        # Observability for tests: cumulative since the server was created.
        self.connections = 0  # connections accepted
        self.logins = 0  # successful logins
        self.messages_replayed = 0  # capture messages sent, all connections together
        self.actions_received: list[Headers] = []  # every client action, in arrival order

    # -- lifecycle --------------------------------------------------------------------------

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> None:
        self._server = await asyncio.start_server(self._serve, host, port)

    @property
    def port(self) -> int:
        if self._server is None or not self._server.sockets:
            raise RuntimeError("server not started")
        return int(self._server.sockets[0].getsockname()[1])

    @property
    def open_connections(self) -> int:
        return len(self._open)

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
        tasks = [c.task for c in self._open if c.task is not None]
        self.drop()  # each connection's reader sees EOF and cleans up after itself
        await asyncio.gather(*tasks, return_exceptions=True)
        if self._server is not None:
            await self._server.wait_closed()
            self._server = None

    async def __aenter__(self) -> AmiTestServer:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    # -- fault injection --------------------------------------------------------------------

    def drop(self) -> None:
        """Abort every open connection now: buffered bytes are discarded, no Goodbye, as when
        Asterisk dies or the network drops. New connections are accepted as usual."""
        for conn in list(self._open):
            conn.writer.transport.abort()

    def go_silent(self) -> None:
        """Send nothing more on any connection, current or new (not even the banner or a Pong),
        while still reading: a hung Asterisk. What would have been sent is held, not lost."""
        self._speaking.clear()

    def resume(self) -> None:
        """End `go_silent`: everything held is sent, in order, as a stalled process would."""
        self._speaking.set()

    def fail_logins(self, n: int) -> None:
        """The next `n` Login actions (on any connection) fail even with the right secret."""
        self._failing_logins = n

    def pause_replay(self, after: int = 0) -> None:
        """Current connections stop their replay after `after` more messages."""
        for conn in self._open:
            conn.limit = conn.replayed + after

    def continue_replay(self, count: int | None = None) -> None:
        """Current connections go on with their replay: `count` more messages, or to the end.

        At a recorded pace the clock skips the pause: the next message goes out at once."""
        for conn in self._open:
            conn.limit = None if count is None else conn.replayed + count
            conn.more.set()

    @property
    def parts(self) -> tuple[Part, ...]:
        return (self.voicemail, self.modules, self.agi, self.pjsip, self.agents)

    # -- extending: a subclass simulating a PBX (engine/ami/simulator.py) -------------------

    def handle_action(self, name: str, headers: Headers, action_id: str) -> bytes | None:
        """A subclass's answer to an action from a logged-in client (`name` lower case), or
        None for the default answer. Events it causes go out with `broadcast`, after the
        answer (a task it starts runs once the answer is written)."""
        return None

    def apply_reload(self, modules: list[str]) -> list[bytes]:
        """The running state follows the modules `self.config` just reloaded: app_voicemail's
        mailboxes are voicemail.conf's (`Voicemail.reload`), a subclass's queues and lots
        theirs (the list answers of this server follow them through
        `AsteriskConfig.overlay`). The events the reloads send before their `Reload` event."""
        if "app_voicemail" in modules:
            return self.voicemail.reload(self.config.loaded["app_voicemail"])
        return []

    async def _configured(self, answer: Answer) -> None:
        """After a configuration action's reply: what its reloads changed, then their events."""
        events = self.apply_reload(answer.reloaded) if answer.reloaded else []
        for event in [*events, *answer.events]:
            await self.broadcast(event)

    async def broadcast(self, data: bytes) -> None:
        """Send an event to every logged-in connection, as Asterisk sends events to every
        manager session."""
        for conn in list(self._open):
            if conn.authenticated and not conn.finished:
                with contextlib.suppress(ConnectionError, OSError):
                    await self._send(conn, data)

    # -- one connection ---------------------------------------------------------------------

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """Reads actions as they come and queues them, so a silent or slow writer never stops
        `actions_received` from recording what the client sent."""
        conn = _Connection(writer, self.pause_after, task=asyncio.current_task())
        self._open.add(conn)
        self.connections += 1
        actions: asyncio.Queue[Headers] = asyncio.Queue()
        responder = asyncio.create_task(self._respond(conn, actions))
        parser = Parser(expect_banner=False)
        try:
            while data := await reader.read(65536):
                for message in parser.feed(data):
                    headers = _client_headers(message)
                    if _get(headers, "Action"):
                        self.actions_received.append(headers)
                    actions.put_nowait(headers)
        except (ConnectionError, OSError):
            pass
        finally:
            self._open.discard(conn)
            tasks = [t for t in (responder, conn.replay_task) if t is not None]
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            writer.transport.abort()

    async def _respond(self, conn: _Connection, actions: asyncio.Queue[Headers]) -> None:
        try:
            await self._send(conn, f"{self.banner}\r\n".encode())
            while True:
                if not await self._answer(conn, await actions.get()):
                    conn.writer.close()  # flushes what is buffered, then FIN
                    return
        except (ConnectionError, OSError):
            conn.writer.transport.abort()

    async def _answer(self, conn: _Connection, headers: Headers) -> bool:
        """One action, answered as Asterisk 22 does. False: the session ends here."""
        name, action_id = _get(headers, "Action").lower(), _get(headers, "ActionID")
        if name == "login":
            return await self._login(conn, headers, action_id)
        if name == "logoff":
            goodbye = _response("Goodbye", action_id, "Message: Thanks for all the fish.")
            await self._send(conn, goodbye, last=True)
            return False
        configured = None
        if not name:
            reply = _error(action_id, "Missing action in request")
        elif not conn.authenticated:
            reply = _error(action_id, "Permission denied")
        elif (handled := self.handle_action(name, headers, action_id)) is not None:
            reply = handled
        elif (configured := self.config.answer(name, headers, action_id)) is not None:
            reply = configured.reply
        elif (answer := self._part_answer(name, headers, action_id)) is not None:
            await self._send(conn, answer.response)
            for data in answer.events:
                await self.broadcast(data)
            return True
        elif name == "ping":
            reply = _response("Success", action_id, "Ping: Pong", f"Timestamp: {time.time():.6f}")
        elif name in LIST_ACTIONS:
            reply = self._list_answer(conn, name, headers, action_id)
        elif (recorded := self._recorded_answer(conn, name, headers, action_id)) is not None:
            reply = recorded
        else:
            reply = _error(action_id, "Invalid/unknown command")
        await self._send(conn, reply)
        if configured is not None:
            await self._configured(configured)
        return True

    def _part_answer(self, name: str, headers: Headers, action_id: str) -> Reply | None:
        for part in self.parts:
            answer = part.answer(name, headers, action_id)
            if answer is not None:
                return answer
        return None

    async def _login(self, conn: _Connection, headers: Headers, action_id: str) -> bool:
        if conn.authenticated:
            await self._send(conn, _ack(action_id, "Already authenticated"))
            return True
        right = (
            _get(headers, "Username").lower() == self.username.lower()
            and _get(headers, "Secret") == self.secret
        )
        if self._failing_logins > 0:
            self._failing_logins -= 1
            right = False
        if not right:
            await self._send(conn, _error(action_id, "Authentication failed"), last=True)
            return False
        conn.authenticated = True
        self.logins += 1
        accepted = _ack(action_id, "Authentication accepted")
        await self._send(conn, accepted + self._capture.fully_booted)
        conn.replay_task = asyncio.create_task(self._replay(conn))
        return True

    def _list_answer(self, conn: _Connection, name: str, headers: Headers, action_id: str) -> bytes:
        """The recorded answer to the same action (same parameters when one was recorded) as of
        the replay position, so the list agrees with the events the client has seen; what
        reloads changed since the start is applied to it (`AsteriskConfig.overlay`)."""
        return self.config.overlay(name, headers, self._recorded_list(conn, name, headers,
                                                                      action_id))

    def _recorded_list(self, conn: _Connection, name: str, headers: Headers,
                       action_id: str) -> bytes:
        same_name = [a for a in self._capture.actions if a.name == name]
        params = _params(headers)
        candidates = [a for a in same_name if a.params == params] or same_name
        if not candidates:
            return _empty_list(name, action_id)
        sent = [a for a in candidates if a.index <= conn.position]
        chosen = sent[-1] if sent else candidates[0]
        answer = self._capture.answers.get(chosen.action_id)
        if not answer:  # the recording ended before Asterisk answered
            return _empty_list(name, action_id)
        return b"".join(_rewrite_action_id(m.raw, chosen.action_id, action_id) for m in answer)

    def _recorded_answer(self, conn: _Connection, name: str, headers: Headers,
                         action_id: str) -> bytes | None:
        """An action the recording client also sent, with the same parameters (Hangup,
        Originate, QueueAdd, CoreStatus...), gets Asterisk's recorded response. What it caused
        later in the recording (events, an async `OriginateResponse`) is part of the replay,
        as recorded; the events among it that carry the recorded action's ActionID carry
        this action's instead, as Asterisk's answer to it would."""
        params = _params(headers)
        same = [a for a in self._capture.actions if a.name == name and a.params == params]
        if not same:
            return None
        sent = [a for a in same if a.index <= conn.position]
        chosen = sent[-1] if sent else same[0]
        answer = self._capture.answers.get(chosen.action_id)
        if not answer or _first_header(answer[0].raw, "Response") is None:
            return None
        conn.renamed[chosen.action_id] = action_id
        return _rewrite_action_id(answer[0].raw, chosen.action_id, action_id)

    async def _replay(self, conn: _Connection) -> None:
        with contextlib.suppress(ConnectionError, OSError):
            await self._replay_messages(conn)

    async def _replay_messages(self, conn: _Connection) -> None:
        loop = asyncio.get_running_loop()
        zero = loop.time()
        for item in self._capture.replay:
            while conn.limit is not None and conn.replayed >= conn.limit:
                conn.more.clear()
                paused_at = loop.time()
                await conn.more.wait()
                zero += loop.time() - paused_at
            if self.speed > 0:
                delay = zero + (item.t - self._capture.start_t) / self.speed - loop.time()
                if delay > 0:
                    await asyncio.sleep(delay)
            renamed = conn.renamed.get(item.action_id) if item.action_id else None
            if renamed is not None and item.raw.startswith("Event:"):
                data = _rewrite_action_id(item.raw, item.action_id or "", renamed)
            else:
                data = item.raw.encode("utf-8")
            await self._send(conn, data)
            for part in self.parts:
                part.observe(item.raw)
            conn.position = item.index
            conn.replayed += 1
            self.messages_replayed += 1
        if self.payload:
            for piece in _message_pieces(self.payload, PAYLOAD_PIECE):
                await self._send(conn, piece)

    async def _send(self, conn: _Connection, data: bytes, last: bool = False) -> None:
        """One message (or batch) at a time per connection, so chunking and interleaved
        responses never mix the bytes of two messages, and nothing follows a `last` one."""
        async with conn.lock:
            if conn.finished:
                raise ConnectionResetError("session ended")
            conn.finished = last
            size = self.chunk_size or len(data) or 1
            for start in range(0, len(data), size):
                await self._speaking.wait()
                if conn.writer.is_closing():
                    raise ConnectionResetError("connection closed")
                conn.writer.write(data[start : start + size])
                await conn.writer.drain()
                if self.chunk_size:
                    await asyncio.sleep(0)  # let the peer read this piece on its own


# -- standalone ---------------------------------------------------------------------------------


async def _serve_forever(server: AmiTestServer, args: argparse.Namespace) -> None:
    await server.start(args.host, args.port)
    print(
        f"fake Asterisk on {args.host}:{server.port} replaying {args.capture} "
        f"(user {args.username!r}); Ctrl-C stops",
        file=sys.stderr,
        flush=True,
    )
    try:
        await asyncio.Event().wait()
    finally:
        await server.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m engine.ami.testserver",
        description="Serve a recorded AMI session as a fake Asterisk until Ctrl-C.",
    )
    parser.add_argument("--capture", required=True, type=Path, help="a capture .jsonl file")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=5038, help="0 picks a free port")
    parser.add_argument("--speed", type=float, default=1.0, help="1 = recorded pace, 0 = flat out")
    parser.add_argument("--username", default="admin")
    parser.add_argument("--secret", default="admin")
    parser.add_argument(
        "--loop",
        action="store_true",
        help="replay the capture again for each new connection (always the case; kept explicit)",
    )
    args = parser.parse_args(argv)
    try:
        server = AmiTestServer(
            username=args.username, secret=args.secret, capture=args.capture, speed=args.speed
        )
    except (OSError, ValueError) as exc:
        parser.error(str(exc))
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_serve_forever(server, args))
    return 0


if __name__ == "__main__":
    sys.exit(main())
