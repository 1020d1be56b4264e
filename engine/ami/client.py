"""A small AMI client of our own, in place of panoramisk.

panoramisk 1.4 has defects a call centre cannot live with (design.md): it drops a UTF-8 character
split across TCP reads, re-sends unanswered actions after a reconnect (an `Originate` dialed
twice), leaves a list action cut by a disconnect unresolved forever, never notices a dead
connection, lets one failing callback tear the connection down, and fails silently on a wrong
secret. Wrapping it would mean overriding most of it, so this client does the little we need:

- bytes are parsed by `engine.ami.protocol.Parser`, decoded only once a message is complete;
- an action is sent once, on the connection that exists when it is sent; when that connection
  ends, every pending action fails with `ConnectionLost` and is never re-sent;
- a list action (`EventList: start`) resolves with all its items at its `EventList: Complete`
  event, or fails with `ConnectionLost`;
- an event that answers an action after its response can be awaited too (`expect`), by
  the header that names the action in it (an async Originate's `OriginateResponse` by its
  ActionID, an AGI command's `AsyncAGIExec` by its CommandId), and fails the same way;
- a Ping every `ping_interval`; a Ping still unanswered at the next tick means the connection is
  dead (detected within two intervals of going silent) and it is aborted and re-established;
- a callback that raises is logged and counted; the connection carries on;
- a wrong secret is an `AuthenticationFailed` with Asterisk's message, shown in `status`,
  logged at ERROR, and retried with the same capped exponential backoff (0.5 s doubling to
  `reconnect_max`, 30 s by default);
- an action can also be written from another thread (`send_threadsafe`): the dialer's Originate
  leaves from the thread that made its decision durable, without waiting for the event loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import secrets
import socket
import threading
import time
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any

from engine.ami.protocol import Message, Parser, serialize
from engine.config import ServerConfig
from engine.envelope import RESPONSE, Headers, utc_now

log = logging.getLogger("switchboard.ami")


class AmiError(Exception):
    pass


class ConnectionLost(AmiError):
    """The connection ended before the action was answered; it was not (and will not be) re-sent."""


class AuthenticationFailed(AmiError):
    pass


class ActionError(AmiError):
    """Asterisk answered `Response: Error`; `.message` is Asterisk's own text."""

    def __init__(self, response: Headers) -> None:
        self.response = response
        self.message = str(response.get("Message", "error"))
        super().__init__(self.message)


@dataclass
class ServerStatus:
    """What an operator needs to see about one AMI connection (served by the API)."""

    name: str
    state: str = "idle"  # connecting, logging_in, connected, auth_failed, disconnected, stopped
    session: str | None = None
    last_error: str | None = None
    connected_since: str | None = None
    reconnects: int = 0
    booted: bool = False
    shutdown: str | None = None  # Asterisk announced it is going down (this session)
    callback_errors: int = 0
    next_retry_in: float | None = None


@dataclass
class _Pending:
    future: asyncio.Future[list[Message]]
    items: list[Message] = field(default_factory=list)
    is_list: bool = False


OnMessages = Callable[[str, list[Message]], None]
OnSession = Callable[[str], None]
OnSessionEnd = Callable[[str, str], None]
OnLogin = Callable[["AmiClient"], Awaitable[None]]


class AmiClient:
    def __init__(
        self,
        config: ServerConfig,
        on_messages: OnMessages,
        on_session_start: OnSession | None = None,
        on_session_end: OnSessionEnd | None = None,
        on_login: OnLogin | None = None,
        backpressure: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        self.config = config
        self.status = ServerStatus(config.name)
        self._on_messages = on_messages
        self._on_session_start = on_session_start
        self._on_session_end = on_session_end
        self._on_login = on_login
        self._backpressure = backpressure
        self._writer: asyncio.StreamWriter | None = None
        self._sock: socket.socket | None = None  # the writer's socket, for send_threadsafe
        self._loop: asyncio.AbstractEventLoop | None = None
        # Every write takes this lock: the event loop's and `send_threadsafe`'s, whose bytes
        # the socket did not take at once wait in `_tail` for the loop, ahead of later writes.
        self._write_lock = threading.Lock()
        self._tail = bytearray()
        self._pending: dict[str, _Pending] = {}
        # (event type, value of its naming header) -> futures: events that follow an action's
        # response; `_naming` says which header names the action in each such event type
        self._expected: dict[tuple[str, str], list[asyncio.Future[Message]]] = {}
        self._naming: dict[str, str] = {}
        self._ids = itertools.count(1)
        self._session_tag = ""
        self._stopping = False
        self._logged_in_at = 0.0
        self._login_task: asyncio.Task[None] | None = None
        self._session_logged_in = False
        self._login_id = ""  # ActionID of this session's Login
        self._login_error: str | None = None  # Asterisk's refusal of it, if any

    # -- public ------------------------------------------------------------------------------

    async def run(self) -> None:
        """Connect, and reconnect with capped exponential backoff, until `stop()`."""
        delay = 0.5
        while not self._stopping:
            reason = await self._session()
            if self._stopping:
                break
            if self._session_logged_in:
                delay = 0.5  # the session had logged in: start the backoff afresh
            if self.status.state != "auth_failed":
                self.status.state = "disconnected"
            self.status.reconnects += 1
            self.status.next_retry_in = delay
            log.warning("%s: %s; reconnecting in %.1fs", self.config.name, reason, delay)
            await asyncio.sleep(delay)
            self.status.next_retry_in = None
            delay = min(delay * 2, self.config.reconnect_max)
        self.status.state = "stopped"

    def stop(self) -> None:
        self._stopping = True
        if self._writer is not None:
            self._writer.transport.abort()

    @property
    def connected(self) -> bool:
        return self.status.state == "connected"

    async def action(self, headers: Headers, timeout: float | None = 30.0) -> list[Message]:
        """Send one action; return its response (and, for a list action, its items + Complete).

        Raises `ActionError` on `Response: Error`, `ConnectionLost` if the connection ends first.
        The ActionID is chosen here unless the caller set one (the dialer sets its own).
        """
        return await self.send(headers, timeout)

    def send(self, headers: Headers, timeout: float | None = 30.0
             ) -> Coroutine[Any, Any, list[Message]]:
        """`action`, except that the action is written before this returns; await the
        result for the answer. `await action(...)` writes it only when its coroutine first
        runs, a turn of the event loop later: a dialer decision, timed from the event that
        freed an agent, is sent from the callback that receives it instead. Call it on the
        event loop's thread; raises `ConnectionLost` at once when not connected."""
        if self._writer is None or not self.connected:
            raise ConnectionLost(f"{self.config.name}: not connected")
        return self.answer(*self._write(headers), timeout)

    def expect(self, value: str, event_type: str, header: str = "ActionID"
               ) -> asyncio.Future[Message]:
        """The future of the next event `event_type` whose `header` is `value`: the event that
        answers an action after its response (an async Originate's `OriginateResponse`
        carries its ActionID; an AGI command's `AsyncAGIExec` its `CommandId`). Call it
        before sending the action: Asterisk may send the event in the same read as the
        response. Several may wait for the same event. It fails with `ConnectionLost` when
        this session ends; cancel it to stop waiting. One header per event type. Call it on
        the event loop's thread."""
        known = self._naming.setdefault(event_type, header)
        if known != header:
            raise ValueError(f"{event_type} is awaited by its {known}, not by {header}")
        future: asyncio.Future[Message] = asyncio.get_running_loop().create_future()
        key = (event_type, value)
        self._expected.setdefault(key, []).append(future)

        def done(_: asyncio.Future[Message]) -> None:
            waiting = self._expected.get(key)
            if waiting is not None and future in waiting:
                waiting.remove(future)
                if not waiting:
                    del self._expected[key]

        future.add_done_callback(done)
        return future

    def send_threadsafe(self, headers: Headers, session: str) -> asyncio.Future[list[Message]]:
        """Write an action now, from any thread, on the AMI session `session` (the stream name's
        last part, `ServerStatus.session`) and on no other: raises `ConnectionLost` if that
        session is not the connected one. Returns the future of its answer (an event loop
        future: await it there).

        The bytes go straight to the socket when nothing written before is still waiting to
        be sent; otherwise after it, through the event loop. Every write holds one lock, and
        the loop's own writes send this one's leftover first, so actions never interleave."""
        with self._write_lock:
            writer, sock, loop = self._writer, self._sock, self._loop
            if (writer is None or sock is None or loop is None or not self.connected
                    or self.status.session != session or writer.transport.is_closing()):
                raise ConnectionLost(f"{self.config.name}: session {session} is not connected")
            action_id, data = self._action_bytes(headers)
            future: asyncio.Future[list[Message]] = loop.create_future()
            self._pending[action_id] = _Pending(future)
            sent = 0
            if not self._tail and not writer.transport.get_write_buffer_size():
                try:
                    sent = sock.send(data)
                except BlockingIOError:
                    sent = 0
                except OSError as exc:
                    self._pending.pop(action_id, None)
                    raise ConnectionLost(f"{self.config.name}: {exc}") from exc
            if sent < len(data):
                self._tail += data[sent:]
                loop.call_soon_threadsafe(self._flush_tail)
        return future

    def _flush_tail(self) -> None:
        with self._write_lock:
            if self._tail and self._writer is not None:
                self._writer.write(bytes(self._tail))
            self._tail.clear()

    # -- one session ---------------------------------------------------------------------------

    async def _session(self) -> str:
        cfg = self.config
        self.status.state = "connecting"
        self.status.shutdown = None
        self._session_logged_in = False
        # This session's login time, once it has one: Asterisk sends FullyBooted right after
        # accepting the Login, and judged against the previous session's time it looked late
        # (the list actions went out twice, or failed as 'not connected' while logging in).
        self._logged_in_at = 0.0
        self._login_id = ""
        self._login_error = None
        session = time.strftime("%Y%m%dT%H%M%S", time.gmtime()) + "-" + secrets.token_hex(3)
        try:
            reader, writer = await asyncio.wait_for(
                asyncio.open_connection(cfg.host, cfg.port), cfg.connect_timeout
            )
        except (OSError, TimeoutError) as exc:
            self.status.last_error = f"connect to {cfg.host}:{cfg.port} failed: {exc or 'timeout'}"
            return self.status.last_error
        with self._write_lock:
            self._writer, self._loop = writer, asyncio.get_running_loop()
            # asyncio hands out only a wrapper of its socket, without send(): a duplicate of
            # the descriptor, written only under the write lock and closed with the session
            self._sock = writer.get_extra_info("socket").dup()
            self._sock.setblocking(False)
            self._tail.clear()
        self._session_tag = session[-6:]
        self.status.session = session
        self._callback(self._on_session_start, session)
        reason = "connection closed by Asterisk"
        reader_task = asyncio.create_task(self._read(reader, session))
        self._login_task = asyncio.create_task(self._login_and_watch())
        try:
            done, _ = await asyncio.wait(
                {reader_task, self._login_task}, return_when=asyncio.FIRST_EXCEPTION
            )
            if self._login_error is not None:
                # Asterisk closes right after refusing a Login: the refusal is the reason,
                # even when the reader saw the close first.
                raise AuthenticationFailed(self._login_error)
            for task in done:
                exc = task.exception()
                if exc is not None:
                    raise exc
            reason = "connection closed by Asterisk"
        except AuthenticationFailed as exc:
            reason = f"authentication failed: {exc}"
            self.status.state = "auth_failed"
            self.status.last_error = reason
            log.error("%s: %s (check username/secret in config)", cfg.name, reason)
        except _Dead as exc:
            reason = str(exc)
            self.status.last_error = reason
        except (OSError, ConnectionLost) as exc:
            reason = f"connection lost: {exc}"
            self.status.last_error = reason
        finally:
            for task in (reader_task, self._login_task):
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
            with self._write_lock:
                writer.transport.abort()
                self._writer = None
                if self._sock is not None:
                    self._sock.close()
                    self._sock = None
            self._fail_pending(reason)
            self.status.booted = False
            self.status.connected_since = None
            self._callback(self._on_session_end, session, reason)
        return reason

    async def _read(self, reader: asyncio.StreamReader, session: str) -> None:
        parser = Parser()
        while True:
            data = await reader.read(262144)
            if not data:
                raise ConnectionLost("connection closed by Asterisk")
            messages = parser.feed(data)
            if not messages:
                continue
            for message in messages:
                self._route(message)
            self._callback(self._on_messages, session, messages)
            if self._backpressure is not None:
                await self._backpressure()

    def _route(self, message: Message) -> None:
        headers = message.headers
        if message.type == "FullyBooted":
            # late: more than a second after this session's login (0.0 until it has one)
            late = self._logged_in_at and time.monotonic() - self._logged_in_at > 1.0
            self.status.booted = True
            if late and self._on_login is not None:
                # Asterisk finished booting after we logged in: what we listed may be partial.
                asyncio.get_running_loop().create_task(self._on_login(self))
        elif message.type == "Shutdown":
            log.warning("%s: Asterisk is shutting down (%s)", self.config.name,
                        headers.get("Shutdown", ""))
            self.status.shutdown = (f"{headers.get('Shutdown', '')}, "
                                    f"restart: {headers.get('Restart', '')}")
        naming = self._naming.get(message.type)
        if naming is not None and self._awaited(message, naming):
            return
        action_id = headers.get("ActionID")
        if not isinstance(action_id, str):
            return
        pending = self._pending.get(action_id)
        if pending is None:
            return
        pending.items.append(message)
        if message.type == RESPONSE:
            if headers.get("Response") == "Error":
                if action_id == self._login_id:
                    self._login_error = str(headers.get("Message", "login refused"))
                self._pending.pop(action_id)
                if not pending.future.done():
                    pending.future.set_exception(ActionError(headers))
                return
            if str(headers.get("EventList", "")).lower() == "start":
                pending.is_list = True
                return
        elif not pending.is_list or str(headers.get("EventList", "")).lower() != "complete":
            return
        self._pending.pop(action_id)
        if not pending.future.done():
            pending.future.set_result(pending.items)

    def _awaited(self, message: Message, header: str) -> bool:
        """Hand `message` to whoever `expect`s it; False when nobody does."""
        value = message.headers.get(header)
        waiting = self._expected.get((message.type, value)) if isinstance(value, str) else None
        if not waiting:
            return False
        for future in list(waiting):
            if not future.done():
                future.set_result(message)
        return True

    async def _send(self, headers: Headers, timeout: float | None) -> list[Message]:
        return await self.answer(*self._write(headers), timeout)

    def _write(self, headers: Headers) -> tuple[str, asyncio.Future[list[Message]]]:
        """Write one action now (on the event loop); its ActionID and the future its answer
        resolves."""
        with self._write_lock:
            assert self._writer is not None
            action_id, data = self._action_bytes(headers)
            future: asyncio.Future[list[Message]] = asyncio.get_running_loop().create_future()
            self._pending[action_id] = _Pending(future)
            if self._tail:
                self._writer.write(bytes(self._tail))
                self._tail.clear()
            self._writer.write(data)
        return action_id, future

    def _action_bytes(self, headers: Headers) -> tuple[str, bytes]:
        """The action's ActionID (ours unless the caller set one) and its bytes."""
        headers = dict(headers)
        action_id = headers.get("ActionID")
        if not isinstance(action_id, str):
            action_id = f"sb-{self._session_tag}-{next(self._ids)}"
            headers = {"Action": headers.pop("Action"), "ActionID": action_id, **headers}
        return action_id, serialize(headers)

    async def answer(self, action_id: str, future: asyncio.Future[list[Message]],
                     timeout: float | None) -> list[Message]:
        """The answer to an action written (`send_threadsafe`'s future), within `timeout`."""
        try:
            return await asyncio.wait_for(asyncio.shield(future), timeout)
        except TimeoutError:
            self._pending.pop(action_id, None)
            raise

    async def _login_and_watch(self) -> None:
        cfg = self.config
        self.status.state = "logging_in"
        self._login_id = f"sb-{self._session_tag}-login"
        try:
            await self._send(
                {"Action": "Login", "ActionID": self._login_id, "Username": cfg.username,
                 "Secret": cfg.secret, "Events": "on"},
                cfg.connect_timeout,
            )
        except ActionError as exc:
            raise AuthenticationFailed(exc.message) from None
        except TimeoutError:
            raise _Dead(f"no answer to Login within {cfg.connect_timeout}s") from None
        self.status.state = "connected"
        self._session_logged_in = True
        self.status.last_error = None
        self.status.connected_since = utc_now()
        self._logged_in_at = time.monotonic()
        log.info("%s: logged in to %s:%d", cfg.name, cfg.host, cfg.port)
        if self._on_login is not None:
            asyncio.get_running_loop().create_task(self._on_login(self))
        await self._watchdog()

    async def _watchdog(self) -> None:
        interval = self.config.ping_interval
        while True:
            ping = asyncio.ensure_future(self._send({"Action": "Ping"}, None))
            try:
                await asyncio.sleep(interval)
            except asyncio.CancelledError:
                ping.cancel()
                raise
            if not ping.done():
                ping.cancel()
                raise _Dead(f"no answer to Ping within {interval:g}s: connection is dead")
            error = ping.exception()
            if error is not None and not isinstance(error, ActionError):
                raise _Dead(f"Ping failed: {error}")

    def _fail_pending(self, reason: str) -> None:
        with self._write_lock:
            pending, self._pending = self._pending, {}
        expected, self._expected = self._expected, {}
        futures: list[asyncio.Future[Any]] = [p.future for p in pending.values()]
        futures.extend(f for waiting in expected.values() for f in waiting)
        for future in futures:
            if not future.done():
                future.set_exception(ConnectionLost(reason))
                future.exception()  # mark retrieved: nobody may be awaiting it any more

    def _callback(self, fn: Callable[..., object] | None, *args: object) -> None:
        if fn is None:
            return
        try:
            fn(*args)
        except Exception:
            self.status.callback_errors += 1
            log.exception("%s: callback %s failed; connection kept", self.config.name,
                          getattr(fn, "__name__", fn))


class _Dead(AmiError):
    pass
