"""Hostile bodies and parameters (issue 12, items 7-9): a 4xx naming what is wrong, never a 500,
and nothing stored. Over real HTTP (uvicorn) to the engine with its dialer, on an SQLite log."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from api.bodies import decode
from api.envelope import ApiError
from api.routing import INTEGER, Param, parse_param
from tests.live import Live


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    folder: Path = tmp_path_factory.mktemp("bodies")
    config = {"auth": {"enabled": False}, "api": {"max_body": 64 * 1024},
              "dialer": {"results_path": str(folder / "results.jsonl")}}
    with Live(f"sqlite:///{folder / 'log.db'}", [], config=config, dialer=True) as running:
        yield running


@pytest.fixture
def http(live: Live) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=live.url, timeout=10) as client:
        yield client


def stored(live: Live) -> int:
    live.settled()
    return live.engine.store.last_position()  # type: ignore[union-attr]


def refused(response: httpx.Response, status: int = 400) -> str:
    assert response.status_code == status, response.text
    body = response.json()
    assert body["statuscode"] == status and body["api_ver"] == "0.1"
    return body["error"]["message"]


# -- item 7: the body limit -----------------------------------------------------------------------

def test_a_body_past_max_body_is_413_before_it_is_read(live: Live) -> None:
    """A 50 MB POST declared in Content-Length: answered at once, the body never sent."""
    before = stored(live)
    with socket.create_connection(("127.0.0.1", live.port), timeout=5) as sock:
        sock.sendall(b"POST /ob/plans HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                     b"Content-Length: 52428800\r\n\r\n{\"name\": \"")
        started = time.monotonic()
        answer = b""
        while b"}}" not in answer and (chunk := sock.recv(65536)):
            answer += chunk
        assert time.monotonic() - started < 2
    assert answer.startswith(b"HTTP/1.1 413"), answer
    assert b"api.max_body (65536 bytes)" in answer
    assert stored(live) == before


def test_a_chunked_body_is_counted_as_it_arrives(live: Live, http: httpx.Client) -> None:
    before = stored(live)

    def chunks() -> Iterator[bytes]:
        yield b'{"name": "'
        for _ in range(100):
            yield b"x" * 4096  # 400 kB, no Content-Length
        yield b'"}'

    message = refused(http.post("/ob/plans", content=chunks()), 413)
    assert "larger than api.max_body" in message
    assert stored(live) == before
    assert http.post("/ob/plans", json={"name": "x" * 1000}).status_code == 200


# -- item 8: strict bodies

@pytest.mark.parametrize(("path", "body", "message"), [
    ("/ob/campaigns", {"zzz": 1}, "zzz: unknown field of a campaign"),
    ("/ob/plans", {"dial_mode": "1"}, "dial_mode: expected an integer, got a string"),
    ("/ob/plans", {"dial_mode": True}, "dial_mode: expected an integer, got a boolean"),
    ("/ob/plans", {"dial_timeout": 3.5}, "dial_timeout: expected an integer, got a number"),
    ("/ob/plans", {"name": 5}, "name: expected a string, got a number"),
    ("/ob/plans", {"variables": {"a": 1}}, "variables.a: expected a string, got a number"),
    ("/ob/plans", {"in_use": 0}, "in_use: read-only (set by the dialer)"),
    ("/ob/dls", {"name": "no list"}, "dlma_uuid: required"),
    ("/ob/plans", [1, 2], "expected object, got array"),
    ("/admin/users", {"name": "x", "password": "12345678", "role": "viewer", "admin": True},
     "admin: unknown field"),
    ("/admin/users", {"password": "12345678"}, "name: required field missing"),
    ("/core/channels", {"channel": "Local/1@x", "exten": 5}, "exten: expected str | null, got int"),
])
def test_bodies_are_decoded_strictly(live: Live, http: httpx.Client, path: str, body: Any,
                                     message: str) -> None:
    before = stored(live)
    assert message in refused(http.post(path, json=body))
    assert stored(live) == before


def test_a_campaign_without_plan_cannot_be_started(live: Live, http: httpx.Client) -> None:
    camp = http.post("/ob/campaigns", json={"name": "empty"}).json()["result"]
    before = stored(live)
    message = refused(http.put(f"/ob/campaigns/{camp['uuid']}", json={"status": 1}))
    assert message == "plan: required to start a campaign"
    assert refused(http.post("/ob/campaigns", json={"status": 1})) == message
    assert stored(live) == before


def test_a_client_may_write_back_what_it_read(live: Live, http: httpx.Client) -> None:
    """Read-only fields may come back unchanged in a PUT (read, modify, write), never changed."""
    plan = http.post("/ob/plans", json={"name": "p"}).json()["result"]
    changed = http.put(f"/ob/plans/{plan['uuid']}", json={**plan, "name": "q"})
    assert changed.status_code == 200 and changed.json()["result"]["name"] == "q"
    message = refused(http.put(f"/ob/plans/{plan['uuid']}", json={"tm_create": "x"}))
    assert message == "tm_create: read-only (set by the dialer)"


# -- item 9: what used to be a 500, or nonsense accepted

@pytest.mark.parametrize(("raw", "message"), [
    (b'{"name":"\xff\xfe"}', "body is not UTF-8 text"),
    (b'{"name":' + b"[" * 20_000 + b"]" * 20_000 + b"}", "body is nested too deep"),
    (b"[" * 30_000, "body: expected object, got array"),
    (b'{"name": "x"', "body is not valid JSON"),
])
def test_malformed_bodies(live: Live, http: httpx.Client, raw: bytes, message: str) -> None:
    before = stored(live)
    json = {"Content-Type": "application/json"}
    assert refused(http.post("/ob/plans", content=raw, headers=json)).startswith(message)
    for path in ("/admin/users", "/core/channels"):  # typed: refused where it first differs
        assert refused(http.post(path, content=raw, headers=json))
    assert stored(live) == before


@pytest.mark.parametrize(("url", "message"), [
    ("/ob/dls?count=99999999999999999999", "count: an integer from 0 to 1000000000"),
    ("/ob/dls?count=-1", "count: an integer from 0 to 1000000000"),
    ("/ob/dls?count=1&count=2", "count: given 2 times, accepted once"),
    ("/ob/results?statuss=1", "unknown query parameter 'statuss'"),
    ("/ob/results?since=garbage", "since: 'garbage' is not a time"),
    ("/ob/results?until=-5", "until: '-5' is not a time"),
    ("/ob/plans/x?force=2", "force: 0 or 1"),
    ("/views/channels?at=-5", "neither a position"),
    ("/views/channels?at=1.5", "neither a position"),
    ("/views/channels?at=", "give a position"),
    ("/views/channels?at=99999999", "past the end of the log"),
    ("/core/channels?sever=pbx1", "unknown query parameter 'sever'; accepted: server"),
    ("/timeline/x?format=xml", "format: json or text"),
])
def test_parameters_are_validated(live: Live, http: httpx.Client, url: str, message: str) -> None:
    method = "DELETE" if "force" in url else "GET"
    assert message in refused(http.request(method, url))


def test_since_and_until_compare_as_times(live: Live, http: httpx.Client) -> None:
    """An epoch `since` used to be compared with the seed's timestamps as text."""
    assert http.get("/ob/results", params={"since": "1795361587.0"}).status_code == 200
    assert http.get("/ob/results", params={"since": "2026-11-22T15:33:07.250000000Z",
                                           "until": "2026-11-22T16:00:00"}).status_code == 200


# -- the decoders themselves, for any input

class Sample(msgspec.Struct, forbid_unknown_fields=True):
    name: str
    count: int = 0


@settings(max_examples=300, deadline=None)
@given(st.one_of(st.binary(max_size=200),
                 st.recursive(st.none() | st.booleans() | st.integers() | st.text(),
                              lambda inner: st.lists(inner) | st.dictionaries(st.text(), inner),
                              max_leaves=20).map(msgspec.json.encode)))
def test_any_bytes_decode_or_are_a_400(raw: bytes) -> None:
    for type_ in (Sample, dict[str, Any]):
        try:
            decode(raw, type_)
        except ApiError as exc:
            assert exc.status == 400 and exc.message


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=30))
def test_any_query_value_parses_or_is_a_400(text: str) -> None:
    param = Param("count", "query", "", INTEGER)
    try:
        value = parse_param(param, text)
    except ApiError as exc:
        assert exc.status == 400 and exc.message.startswith("count: ")
    else:
        assert isinstance(value, int) and 0 <= value <= 1_000_000_000 and str(value) == text
