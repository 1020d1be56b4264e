"""Commands end to end: HTTP in, the log, the AMI action, Asterisk's answer, the read model.

The fake Asterisk replays `control-actions` / `queue-basic` and answers the actions the
recording client sent with Asterisk's recorded responses; the API sends the same actions at the
same moments of the replay. Every command must be durable in the log before its action reaches
Asterisk, answer with Asterisk's own message, and be tied to its answer and to the events of
the channels it acted on.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from engine.ami.simulator import PbxSimulator, Timings, capture_dialplan
from engine.ami.testserver import AmiTestServer
from engine.commands import FAILED, REQUESTED, SENT, SUCCEEDED
from engine.envelope import Headers
from projections.commands import WATCHED
from tests.conftest import CAPTURES
from tests.live import Live, replayed_before

CONTROL = CAPTURES / "control-actions.jsonl"
QUEUE = CAPTURES / "queue-basic.jsonl"


class Recording(AmiTestServer):
    """The fake Asterisk, noting for each command's action whether the log already held the
    command when the action arrived."""

    store = None  # set once the engine exists
    durable_first: dict[str, bool] = {}

    def handle_action(self, name: str, headers: Headers, action_id: str) -> bytes | None:
        if action_id.startswith("cmd-") and Recording.store is not None:
            stream = Recording.store.read_stream(f"command/{action_id[4:]}")
            Recording.durable_first[action_id] = [e.type for e in stream][:1] == [REQUESTED]
        return None


@pytest.fixture
def control(tmp_path: Path) -> Iterator[tuple[Live, httpx.Client]]:
    with Live(f"sqlite:///{tmp_path / 'log.db'}", [CONTROL], asterisk=Recording,
              pause_after=replayed_before(CONTROL, 5)) as live, \
            httpx.Client(base_url=live.url, timeout=10) as client:
        assert live.engine is not None
        Recording.store = live.engine.store
        Recording.durable_first = {}
        live.connected()
        live.settled()
        yield live, client
    Recording.store = None


def replay_to(live: Live, line: int, path: Path = CONTROL) -> None:
    """Let the fake Asterisk replay everything before capture line `line` (0-based)."""
    asterisk = live.asterisks[0]

    async def go() -> None:
        asterisk.continue_replay(replayed_before(path, line) - asterisk.messages_replayed)
        while asterisk.messages_replayed < replayed_before(path, line):
            await asyncio.sleep(0.005)
    live.call(go())
    live.settled()


def answered_at(live: Live, line: int, request: Callable[[], httpx.Response]
                ) -> httpx.Response:
    """Make `request` (it sends one action), and once its action has reached the fake
    Asterisk replay everything before capture line `line`: its answer."""
    asterisk = live.asterisks[0]
    sent = len(asterisk.actions_received)
    with ThreadPoolExecutor(1) as pool:
        pending = pool.submit(request)
        deadline = time.monotonic() + 10
        while len(asterisk.actions_received) == sent and not pending.done():
            assert time.monotonic() < deadline, "the action never reached Asterisk"
            time.sleep(0.005)
        replay_to(live, line)
        return pending.result(10)


def command(client: httpx.Client, response: httpx.Response) -> dict:
    return client.get(f"/commands/{response.headers['x-switchboard-command']}").json()["result"]


def test_channel_commands_are_logged_first_answered_by_asterisk_and_tied_to_their_events(
        control: tuple[Live, httpx.Client]) -> None:
    live, client = control
    # Each async Originate is answered once its OriginateResponse is replayed (capture lines
    # 29 and 30), with the ActionID the API gave it.
    originate = answered_at(live, 30, lambda: client.post("/core/channels", json={
        "channel": "Local/501@customers", "context": "dialer", "exten": "hold", "priority": 1,
        "timeout": 20000, "channel_id": "chan-live-1", "other_channel_id": "chan-live-2"}))
    assert originate.status_code == 200, originate.text
    result = originate.json()["result"]
    assert result["state"] == "succeeded"
    assert result["message"] == "Originate succeeded, reason 4: Remote end has answered"
    assert result["response"]["Message"] == "Originate successfully queued"
    assert result["originate_response"]["unique_id"] == "chan-live-1"
    assert result["targets"] == ["chan-live-1", "chan-live-2"]
    second = answered_at(live, 31, lambda: client.post("/core/channels", json={
        "channel": "Local/502@customers", "context": "dialer", "exten": "hold", "priority": 1,
        "timeout": 20000, "channel_id": "chan-redir-1", "other_channel_id": "chan-redir-2"}))
    assert second.status_code == 200 and second.json()["result"]["state"] == "succeeded"

    replay_to(live, 55)  # the recording redirects chan-redir-1 into parking here
    channel = client.get("/core/channels/chan-redir-1").json()["result"]
    assert channel["channel"] == "Local/502@customers-00000001;1"
    redirect = client.post("/core/channels/chan-redir-1/redirect",
                           json={"context": "dialer", "exten": "park", "priority": 1})
    assert redirect.status_code == 200 and redirect.json()["result"]["message"] == \
        "Redirect successful"

    replay_to(live, 63)  # ... and hangs up chan-live-1, an unknown channel, a bogus originate
    hangup = client.delete("/core/channels/chan-live-1", params={"cause": 16})
    assert hangup.status_code == 200 and hangup.json()["result"]["message"] == "Channel Hungup"
    unknown = client.delete("/core/channels/Local%2Fdoes-not-exist-00000000%3B1")
    assert unknown.status_code == 404
    assert unknown.json()["error"]["message"] == "No such channel"
    bogus = client.post("/core/channels", json={
        "channel": "Bogus/123", "context": "dialer", "exten": "echo", "priority": 1,
        "async": False})
    assert bogus.status_code == 400 and bogus.json()["error"]["message"] == "Originate failed"

    replay_to(live, 10_000)
    # every action reached Asterisk only once its command was durable in the log
    assert len(Recording.durable_first) == 6 and all(Recording.durable_first.values())
    store = live.engine.store  # type: ignore[union-attr]
    for response, outcome in ((originate, SUCCEEDED), (hangup, SUCCEEDED), (unknown, FAILED),
                              (bogus, FAILED)):
        cid = response.headers["x-switchboard-command"]
        own = store.read_stream(f"command/{cid}")
        assert [e.type for e in own] == [REQUESTED, SENT, outcome]
        answers = [e for e in store.iter_all() if e.causation_id == cid and e.type == "Response"]
        assert len(answers) == 1 and answers[0].correlation_id == cid
        assert own[0].position < answers[0].position < own[2].position
        row = command(client, response)
        assert row["response_position"] == answers[0].position
    failed = command(client, unknown)
    assert failed["state"] == "failed" and failed["status"] == 404
    assert failed["message"] == "No such channel"
    hung = command(client, hangup)
    positions = {e.position: e for e in store.iter_all()}
    linked = [positions[p] for p in hung["events"]]
    assert any(e.type == "Hangup" and e.data["Uniqueid"] == "chan-live-1" for e in linked)
    created = command(client, originate)
    linked = [positions[p] for p in created["events"]]
    ours = {"chan-live-1", "chan-live-2"}
    assert linked and all(ours & {e.data.get(h) for h in WATCHED} for e in linked)
    assert any(e.type == "Newchannel" for e in linked)
    [answer] = [e for e in linked if e.type == "OriginateResponse"]  # with our ActionID
    assert answer.data["ActionID"] == f"cmd-{created['id']}"
    assert created["originate_response"] == {
        "response": "Success", "reason": "4", "reason_text": "Remote end has answered",
        "unique_id": "chan-live-1", "channel": "Local/501@customers-00000000;1"}


def test_queue_member_add_pause_unpause_remove(tmp_path: Path) -> None:
    with Live(f"sqlite:///{tmp_path / 'log.db'}", [QUEUE],
              pause_after=replayed_before(QUEUE, 5)) as live, \
            httpx.Client(base_url=live.url, timeout=10) as client:
        live.connected()
        live.settled()
        for name in ("Alice", "Bob"):
            added = client.post("/queue/members", json={
                "queue_name": "sales", "interface": f"Local/agent{1 if name == 'Alice' else 2}"
                "@agents", "member_name": name, "penalty": 0})
            assert added.status_code == 200, added.text
            assert added.json()["result"]["message"] == "Added interface to queue"
        replay_to(live, 14, QUEUE)
        member = client.get("/queue/members/Local%2Fagent2%40agents",
                            params={"queue_name": "sales"})
        assert member.status_code == 200 and member.json()["result"]["name"] == "Bob"
        paused = client.put("/queue/members/Bob", json={"paused": True, "reason": "lunch"})
        assert paused.status_code == 200, paused.text
        assert paused.json()["result"]["message"] == "Interface paused successfully"
        assert paused.json()["result"]["command"] == "queue_pause"
        replay_to(live, 10_000, QUEUE)
        # the recording unpaused and removed both; the same actions again are answered the same
        unpaused = client.put("/queue/members/Local%2Fagent2%40agents?queue_name=sales",
                              json={"paused": False})
        assert unpaused.json()["result"]["message"] == "Interface unpaused successfully"
        removed = client.delete("/queue/members/Local%2Fagent1%40agents?queue_name=sales")
        assert removed.json()["result"]["message"] == "Removed interface from queue"
        missing = client.delete("/queue/members/nobody")
        assert missing.status_code == 404 and "queue_name" in missing.json()["error"]["message"]
        listed = client.get("/commands").json()["result"]["list"]
        assert [c["command"] for c in listed] == [
            "queue_add", "queue_add", "queue_pause", "queue_unpause", "queue_remove"]
        assert all(c["who"].startswith("anonymous@") for c in listed)


def test_a_command_while_disconnected_is_a_logged_503(tmp_path: Path) -> None:
    with Live(f"sqlite:///{tmp_path / 'log.db'}", [None]) as live, \
            httpx.Client(base_url=live.url, timeout=10) as client:
        live.connected()
        asterisk = live.asterisks[0]
        live.run(lambda: (asterisk.fail_logins(1000), asterisk.drop()))

        async def down() -> None:
            while live.engine.clients[0].connected:  # type: ignore[union-attr]
                await asyncio.sleep(0.01)
        live.call(down())
        response = client.post("/core/modules/res_parking.so")
        assert response.status_code == 503
        assert "not connected" in response.json()["error"]["message"]
        row = command(client, response)
        assert row["state"] == "failed" and row["status"] == 503
        assert row["command"] == "module_load" and row["action"] == "ModuleLoad"


def test_hanging_up_a_parked_call_names_the_parkee_and_relays_asterisks_refusal(
        tmp_path: Path) -> None:
    parking = CAPTURES / "parking.jsonl"
    with Live(f"sqlite:///{tmp_path / 'log.db'}", [parking],
              pause_after=replayed_before(parking, 80)) as live, \
            httpx.Client(base_url=live.url, timeout=10) as client:
        live.connected()
        live.settled()
        parked = client.get("/park/parkedcalls").json()["result"]["list"]
        assert parked
        call = parked[0]
        response = client.delete(f"/park/parkedcalls/{call['parkee_unique_id']}")
        # this recording never hung up a parked call: the fake Asterisk refuses it, as an
        # Asterisk without the action would, and the refusal comes back as Asterisk said it
        assert response.status_code == 400
        assert response.json()["error"]["message"] == "Invalid/unknown command"
        row = command(client, response)
        assert row["action"] == "Hangup" and row["targets"] == [call["parkee_unique_id"]]
        sent = live.asterisks[0].actions_received[-1]
        assert sent["Action"] == "Hangup" and sent["Channel"] == call["parkee_channel"]
        assert sent["ActionID"] == f"cmd-{row['id']}"
        missing = client.delete("/park/parkedcalls/nope")
        assert missing.status_code == 404
        status = client.get("/status").json()
        assert status["streams"]["clients"] == 0 and status["streams"]["derive_errors"] == 0


class Dialplan(PbxSimulator):
    """The simulated PBX dialing the captures' numbers (1XX answer, 2XX busy, 3XX ring
    without an answer for a second, 9XX unallocated), for the API's Originates."""

    def __init__(self, **kwargs: object) -> None:
        kwargs.pop("capture", None)
        super().__init__(outcome=capture_dialplan, timings=Timings(noanswer=1.0),
                         **kwargs)  # type: ignore[arg-type]


@pytest.fixture
def dialplan(tmp_path: Path) -> Iterator[tuple[Live, httpx.Client]]:
    with Live(f"sqlite:///{tmp_path / 'log.db'}", [None], asterisk=Dialplan,
              config={"api": {"command_timeout": 0.5}}) as live, \
            httpx.Client(base_url=live.url, timeout=10) as client:
        live.connected()
        live.settled()
        yield live, client


def originate(client: httpx.Client, channel: str) -> httpx.Response:
    return client.post("/core/channels", json={
        "channel": channel, "context": "dialer", "exten": "echo", "priority": 1,
        "timeout": 20000})


def test_an_async_originate_follows_its_originate_response(
        dialplan: tuple[Live, httpx.Client]) -> None:
    """Issue 12 item 19: Asterisk answers every async Originate 'Originate successfully
    queued'; only its OriginateResponse tells whether the call was placed. The command
    (its outcome event, GET /commands, the POST's answer) follows the OriginateResponse,
    reason code and text kept."""
    live, client = dialplan
    cases = [  # channel, HTTP status, state, Reason, its text
        ("Bogus/123", 409, "failed", "0", "the call could not be placed"),
        ("Local/201@customers", 409, "failed", "5", "Remote end is busy"),
        ("Local/901@customers", 409, "failed", "0", "the call could not be placed"),
        ("Local/101@customers", 200, "succeeded", "4", "Remote end has answered"),
    ]
    store = live.engine.store  # type: ignore[union-attr]
    for channel, status, state, reason, text in cases:
        response = originate(client, channel)
        assert response.status_code == status, (channel, response.text)
        said = f"Originate {'succeeded' if status == 200 else 'failed'}, reason {reason}: {text}"
        if status == 200:
            assert response.json()["result"]["state"] == state
            assert response.json()["result"]["message"].startswith(said)
        else:
            assert response.json()["error"]["message"].startswith(said), channel
        row = command(client, response)
        assert row["state"] == state and row["status"] == status, channel
        assert row["response"]["Message"] == "Originate successfully queued"
        assert row["originate_response"]["reason"] == reason
        assert row["originate_response"]["reason_text"].startswith(text)
        assert row["originate_response"]["response"] == \
            ("Success" if state == "succeeded" else "Failure")
        own = store.read_stream(f"command/{row['id']}")
        assert [e.type for e in own] == [REQUESTED, SENT,
                                         SUCCEEDED if state == "succeeded" else FAILED]
        assert own[2].data["reason"] == int(reason)
        [answer] = [e for e in store.iter_all()
                    if e.type == "OriginateResponse" and e.causation_id == row["id"]]
        assert answer.position < own[2].position  # the outcome follows Asterisk's word


def test_an_originate_still_ringing_answers_sent_then_follows_its_response(
        dialplan: tuple[Live, httpx.Client]) -> None:
    """The OriginateResponse of a call that rings longer than `api.command_timeout` comes
    after the POST has answered: the command is `sent` (Asterisk queued it) until then."""
    _, client = dialplan
    response = originate(client, "Local/301@customers")  # rings a second, never answered
    assert response.status_code == 200, response.text
    result = response.json()["result"]
    assert result["state"] == "sent" and result["status"] is None
    assert result["response"]["Message"] == "Originate successfully queued"

    deadline = time.monotonic() + 10
    while (row := command(client, response))["state"] == "sent":
        assert time.monotonic() < deadline, row
        time.sleep(0.05)
    assert row["state"] == "failed" and row["status"] == 409
    assert row["message"] == "Originate failed, reason 3: no answer, it rang until the timeout"
    assert row["originate_response"]["reason"] == "3"


def test_an_originate_whose_connection_drops_before_its_response_fails_with_503(
        dialplan: tuple[Live, httpx.Client]) -> None:
    live, client = dialplan
    response = originate(client, "Local/301@customers")
    assert command(client, response)["state"] == "sent"
    asterisk = live.asterisks[0]
    live.run(asterisk.drop)
    deadline = time.monotonic() + 10
    while (row := command(client, response))["state"] == "sent":
        assert time.monotonic() < deadline, row
        time.sleep(0.05)
    assert row["state"] == "failed" and row["status"] == 503
    assert row["message"].startswith("connection lost before the OriginateResponse")
    assert row["originate_response"] is None
