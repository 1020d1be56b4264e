"""The seed's V1 read models over HTTP (`api/devices.py`): a detail asked as the seed asks it,
the key in a JSON body on a GET (`GET /agents/ -d '{"id": "1001"}'`), answers the row the path
form does; a body that is not exactly `{"<key>": "<text>"}` is a 400 naming the field.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator

import httpx
import pytest

from tests.live import Live

EVENTS = [
    ("Event: AgentLogin", "Agent: 1001", "Channel: SIP/300-00000425", "ChannelState: 6",
     "ChannelStateDesc: Up", "CallerIDNum: 300", "CallerIDName: 300", "Context: agents",
     "Exten: s", "Priority: 2", "Uniqueid: 1489423716.2037", "Linkedid: 1489423716.2037"),
    ("Event: PeerStatus", "ChannelType: SIP", "Peer: SIP/300", "PeerStatus: Registered",
     "Address: 10.0.0.1:5060"),
    ("Event: Registry", "ChannelType: SIP", "Username: 2345", "Domain: sip_proxy",
     "Status: Registered"),
    ("Event: DeviceStateChange", "Device: PJSIP/6001", "State: NOT_INUSE"),
]
# (body form, its key, the path form of the same row)
DETAILS = [
    ("/agents/", {"id": "1001"}, "/agents/1001"),
    ("/device_states/", {"device": "PJSIP/6001"}, "/device_states/PJSIP%2F6001"),
    ("/peers/", {"peer": "SIP/300"}, "/peers/SIP%2F300"),
    ("/registries/", {"account": "2345@sip_proxy"}, "/registries/2345%40sip_proxy"),
]


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    path = tmp_path_factory.mktemp("devices") / "log.db"
    with Live(f"sqlite:///{path}", [None]) as running:
        running.connected()
        for event in EVENTS:
            raw = ("\r\n".join(event) + "\r\n\r\n").encode()
            running.call(running.asterisks[0].broadcast(raw))
        running.call(asyncio.sleep(0.2))
        running.settled()
        yield running


@pytest.fixture(scope="module")
def client(live: Live) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=live.url, timeout=10) as c:
        yield c


def get(client: httpx.Client, path: str, body: object) -> httpx.Response:
    content = body if isinstance(body, bytes) else json.dumps(body).encode()
    return client.request("GET", path, content=content,
                          headers={"Content-Type": "application/json"})


@pytest.mark.parametrize(("path", "key", "by_path"), DETAILS, ids=[d[0] for d in DETAILS])
def test_a_detail_with_its_key_in_a_get_body_is_the_row_of_the_path_form(
        client: httpx.Client, path: str, key: dict, by_path: str) -> None:
    expected = client.get(by_path)
    assert expected.status_code == 200, expected.text
    for prefix in ("", "/v1"):
        answer = get(client, prefix + path, key)
        assert answer.status_code == 200, answer.text
        assert answer.json()["result"] == expected.json()["result"]
        assert answer.headers["x-switchboard-position"] == expected.headers[
            "x-switchboard-position"]
    (field, value), = key.items()
    assert answer.json()["result"][field] == value


def test_the_body_must_be_exactly_the_key(live: Live, client: httpx.Client) -> None:
    assert live.engine is not None
    before = live.engine.store.last_position()
    for body, status, message in (
        (b"", 400, "id: required field missing"),
        ({}, 400, "id: required field missing"),
        ({"ID": "1001"}, 400, "ID: unknown field"),
        ({"id": "1001", "name": "x"}, 400, "name: unknown field"),
        ({"id": 1001}, 400, "id: expected str, got int"),
        ({"id": ""}, 400, "id: expected str of length >= 1"),
        (["1001"], 400, "body: expected object, got array"),
        (b"{id: 1001}", 400, "body is not valid JSON"),
        (b"\xff", 400, "body is not UTF-8 text"),
        ({"id": "nobody"}, 404, "no agent 'nobody'"),
    ):
        answer = get(client, "/agents/", body)
        assert answer.status_code == status, (body, answer.text)
        assert answer.json()["error"]["message"].startswith(message), (body, answer.text)
    assert get(client, "/peers/", {"peer": "SIP/300", "x": 1}).json()["error"]["message"] == \
        "x: unknown field"
    refused = client.request("GET", "/agents/", content=b'{"id": "1001"}',
                             params={"iid": "1"})
    assert refused.status_code == 400  # its query string is checked as every route's
    assert live.engine.store.last_position() == before  # nothing stored


def test_the_path_forms_still_answer(client: httpx.Client) -> None:
    assert client.get("/device_states/PJSIP%2F6001").json()["result"]["state"] == "NOT_INUSE"
    assert client.get("/agents/nobody").status_code == 404
    assert client.get("/agents").json()["result"]["list"][0]["id"] == "1001"
