"""Issue 12, item 3: refused requests can no longer grow the log without bound, and failed logins
are throttled. Over real HTTP to a running engine with access control on."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import msgspec
import pytest

from api.throttle import LoginThrottle
from engine.auth import ACCESS_DENIED
from tests.live import Live

WINDOW = 0.5


@pytest.fixture
def secured(tmp_path: Path) -> Iterator[tuple[Live, httpx.Client]]:
    config = {"auth": {"initial_admin": "root", "initial_password": "root-secret",
                       "denial_window": WINDOW, "login_failures": 2, "login_max_delay": 2.0}}
    with Live(f"sqlite:///{tmp_path / 'log.db'}", [], config=config) as live, \
            httpx.Client(base_url=live.url, timeout=10) as client:
        from api.app import startup
        assert live.call(startup(live.engine, "127.0.0.1")) is None  # type: ignore[arg-type]
        yield live, client


def denials(live: Live) -> list[dict]:
    live.settled()
    events = live.engine.store.iter_all()  # type: ignore[union-attr]
    return [e.data for e in events if e.type == ACCESS_DENIED]


def test_a_flood_of_refusals_adds_one_bounded_event_per_window(
        secured: tuple[Live, httpx.Client]) -> None:
    live, client = secured
    before = live.settled()
    long_path = "/core/channels/" + "x" * 6000
    for i in range(400):
        assert client.get(long_path if i % 2 else "/calls").status_code == 401
    time.sleep(WINDOW + 0.3)
    found = denials(live)
    appended = live.settled() - before
    assert 1 <= appended <= 3  # one per window the flood spanned, not one per request
    assert sum(d["count"] for d in found) == 400
    for data in found:
        assert len(msgspec.json.encode(data)) < 2000
        assert all(len(p) <= 200 for p in data["paths"]) and len(data["paths"]) <= 5
        assert data["client"] == "127.0.0.1" and data["reasons"] == ["authtoken required"]


def test_addresses_past_the_cap_are_counted_together(secured: tuple[Live, httpx.Client]) -> None:
    """Whatever arrives, a window adds at most `max_clients + 1` events."""
    live, _ = secured
    tally = live.app.state.ctx.access.denials
    tally.max_clients = 50
    before = live.settled()

    def flood() -> None:
        for i in range(3000):
            tally.add(f"10.0.{i // 250}.{i % 250}", "-", "GET", "/x", "authtoken required")

    live.run(flood)
    live.run(tally.flush)
    assert live.settled() - before == 51
    found = denials(live)
    assert sum(d["count"] for d in found) == 3000
    assert found[-1]["client"] == "*" and found[-1]["count"] == 3000 - 50


def test_failed_logins_make_the_next_ones_wait(secured: tuple[Live, httpx.Client]) -> None:
    live, client = secured
    for _ in range(2):  # login_failures: free
        assert client.post("/admin/login", auth=("root", "guess")).status_code == 401
    assert client.post("/admin/login", auth=("root", "guess")).status_code == 401  # waits 1 s
    throttled = client.post("/admin/login", auth=("root", "root-secret"))
    assert throttled.status_code == 429 and throttled.headers["Retry-After"] == "1"
    assert throttled.json()["error"]["message"] == "too many failed logins: try again in 1 s"
    # the address is throttled too: another name from it waits the same
    assert client.post("/admin/login", auth=("other", "guess")).status_code == 429
    time.sleep(1.1)
    assert client.post("/admin/login", auth=("root", "root-secret")).status_code == 200
    time.sleep(WINDOW + 0.3)
    reasons = [r for d in denials(live) for r in d["reasons"]]
    assert "too many failed logins: try again in 1 s" in reasons


def test_the_wait_doubles_up_to_the_cap_and_success_clears_it() -> None:
    now = [0.0]
    throttle = LoginThrottle(free=3, max_delay=8.0, clock=lambda: now[0])
    waits = []
    for _ in range(8):
        throttle.failed("ann", "10.0.0.1")
        waits.append(throttle.wait("ann", "10.0.0.2"))  # the name, from another address
    assert waits == [0, 0, 0, 1, 2, 4, 8, 8]
    assert throttle.wait("bob", "10.0.0.1") == 8  # the address, for another name
    throttle.succeeded("ann")
    assert throttle.wait("ann", "10.0.0.2") == 0
    now[0] += 3601  # an hour without failures: the address starts again
    assert throttle.wait("bob", "10.0.0.1") == 0
