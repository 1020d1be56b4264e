"""Open streams end when the right they were opened with does (`api/grants.py`).

Real SSE and WebSocket clients on a real server, users and tokens changed through the API:
a stream whose token is logged out, revoked or expired, or whose user is deleted, ends (SSE:
`event: revoked` and the end of the response; WebSocket: close 1008), saying why; a user whose
role changes keeps streaming while it may read, and nobody else's stream is touched.
"""

from __future__ import annotations

import contextlib
import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection, connect

from api.app import startup
from tests.live import Live
from tests.test_auth import login
from tests.test_ws import closed_with


class SseReader(threading.Thread):
    """An SSE client reading `/events` (with a token, if given) until the server ends the
    response."""

    def __init__(self, live: Live, token: str | None) -> None:
        super().__init__(daemon=True)
        self.url = f"{live.url}/events"
        self.token = token
        self.lines: list[str] = []
        self.status = 0
        self.ended: float | None = None
        self.start()
        deadline = time.monotonic() + 5
        while ": connected" not in self.lines and time.monotonic() < deadline:
            time.sleep(0.01)
        assert self.status == 200, self.status

    def run(self) -> None:
        headers = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        with httpx.stream("GET", self.url, headers=headers,
                          timeout=httpx.Timeout(10, read=30)) as response:
            self.status = response.status_code
            for line in response.iter_lines():
                self.lines.append(line)
        self.ended = time.monotonic()

    def revoked(self, timeout: float = 5) -> str:
        """The reason of the `event: revoked` the stream ended with."""
        self.join(timeout)
        assert self.ended is not None, "the stream did not end"
        at = self.lines.index("event: revoked")
        return json.loads(self.lines[at + 1].removeprefix("data: "))["reason"]

    def streaming(self) -> bool:
        """Still open and still sent to (keep-alives every 0.3 s)."""
        seen = len(self.lines)
        time.sleep(0.7)
        return self.ended is None and len(self.lines) > seen


def ws_open(ws: ClientConnection) -> bool:
    """Still open after a while (a message or nothing at all)."""
    try:
        ws.recv(timeout=0.7)
    except TimeoutError:
        pass
    except ConnectionClosed:
        return False
    return True


@contextlib.contextmanager
def secured(tmp_path: Path, token_ttl: float) -> Iterator[tuple[Live, httpx.Client]]:
    """A server with access control on (admin `root`) and keep-alives every 0.3 s."""
    config = {"auth": {"initial_admin": "root", "initial_password": "root-secret",
                       "token_ttl": token_ttl},
              "api": {"keepalive": 0.3}}
    with Live(f"sqlite:///{tmp_path / 'log.db'}", [], config=config) as live, \
            httpx.Client(base_url=live.url, timeout=10) as client:
        assert live.call(startup(live.engine, "0.0.0.0")) is None  # type: ignore[arg-type]
        yield live, client


def test_logout_revocation_and_a_deleted_user_end_their_open_streams_and_no_other(
        tmp_path: Path) -> None:
    with secured(tmp_path, 3600.0) as (live, client), contextlib.ExitStack() as stack:
        admin = {"Authorization": f"Bearer {login(client, 'root', 'root-secret')}"}
        for name, role in (("val", "viewer"), ("otto", "operator"), ("gone", "viewer"),
                           ("boss", "admin")):
            made = client.post("/admin/users", headers=admin, json={
                "name": name, "password": f"{name}-password", "role": role})
            assert made.status_code == 200, made.text
        tokens = {name: login(client, name, f"{name}-password")
                  for name in ("val", "otto", "gone", "boss")}
        sse = {name: SseReader(live, token) for name, token in tokens.items()}
        ws = {name: stack.enter_context(connect(f"{live.ws_url}/ws?authtoken={token}"))
              for name, token in tokens.items()}

        # val logs out (the seed's DELETE /admin/login)
        bearer = {"Authorization": f"Bearer {tokens['val']}"}
        assert client.delete("/admin/login", headers=bearer).status_code == 200
        assert sse["val"].revoked() == "authtoken revoked (logged out, or by an admin)"
        assert closed_with(ws["val"]) == (1008, "authtoken revoked (logged out, or by an admin)")
        assert all(sse[name].ended is None for name in ("otto", "gone", "boss"))

        # an admin revokes otto's token
        listed = client.get("/admin/tokens", headers=admin).json()["result"]["list"]
        otto = next(t["id"] for t in listed if t["user"] == "otto")
        assert client.delete(f"/admin/tokens/{otto}", headers=admin).status_code == 200
        assert "revoked" in sse["otto"].revoked()
        assert closed_with(ws["otto"])[0] == 1008
        assert all(sse[name].ended is None for name in ("gone", "boss"))

        # an admin deletes a user
        assert client.delete("/admin/users/gone", headers=admin).status_code == 200
        assert sse["gone"].revoked() == "user gone was deleted"
        assert closed_with(ws["gone"]) == (1008, "user gone was deleted")

        # an admin demoted to viewer may still read: the streams go on
        demoted = client.put("/admin/users/boss", headers=admin, json={"role": "viewer"})
        assert demoted.json()["result"]["role"] == "viewer"
        assert sse["boss"].streaming() and ws_open(ws["boss"])
        # and a stream that ended cannot be opened again with its token
        refused = client.get("/events", headers=bearer)
        assert refused.status_code == 401


def test_a_stream_ends_when_its_token_expires_not_before(tmp_path: Path) -> None:
    with secured(tmp_path, 2.5) as (live, client):
        token = login(client, "root", "root-secret")
        expires = time.monotonic() + 2.5
        reader = SseReader(live, token)
        with connect(f"{live.ws_url}/ws?authtoken={token}") as ws:
            assert reader.streaming() and ws_open(ws)
            assert reader.revoked(timeout=5) == "authtoken expired"
            assert closed_with(ws) == (1008, "authtoken expired")
        assert reader.ended is not None and expires - 0.2 <= reader.ended <= expires + 1.5


def test_streams_opened_without_access_control_end_when_it_turns_on(tmp_path: Path) -> None:
    """No user, no `auth.enabled`: anyone on loopback reads. The first user turns access
    control on, and a stream that presented no token may no longer run."""
    with Live(f"sqlite:///{tmp_path / 'log.db'}", [], config={"api": {"keepalive": 0.3}}
              ) as live, httpx.Client(base_url=live.url, timeout=10) as client:
        reader = SseReader(live, None)
        with connect(f"{live.ws_url}/ws") as ws:
            assert reader.streaming() and ws_open(ws)
            made = client.post("/admin/users", json={"name": "first", "password": "first-pass",
                                                     "role": "admin"})
            assert made.status_code == 200, made.text
            assert reader.revoked() == "access control is on now: log in"
            assert closed_with(ws) == (1008, "access control is on now: log in")
