"""Async AGI: the decoders (engine/agi.py), the `agis` projection over the recorded session
(batch2/agi.jsonl), and `/core/agis` end to end: real HTTP, the log, real TCP AMI to the test
server replaying the recording and to the simulated PBX."""

from __future__ import annotations

import asyncio
import string
from pathlib import Path

import httpx
from hypothesis import given
from hypothesis import strategies as st

from engine.agi import decode_env, decode_result, verdict
from engine.ami.asterisk_agi import uri_encode
from engine.ami.simulator import PbxSimulator
from engine.capture import capture_events
from engine.commands import REQUESTED, SUCCEEDED
from engine.envelope import NewEvent
from projections import agis
from tests.captures import CAPTURES, positioned
from tests.live import Live, paused_live, replayed_before

AGI = CAPTURES / "batch2" / "agi.jsonl"
TEXT = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\r\n"),
               max_size=30)


# ------------------------------------------------------------------------------ decoding

@given(st.dictionaries(st.text(string.ascii_lowercase + "_0123456789", min_size=1,
                               max_size=20), TEXT, max_size=25))
def test_env_decodes_what_asterisk_encodes(env: dict[str, str]) -> None:
    """`key: value` lines and an empty one, URL-encoded as res_agi does: every value back,
    blanks, colons, `%` and non-ASCII included."""
    text = "".join(f"{k}: {v}\n" for k, v in env.items()) + "\n"
    assert decode_env(uri_encode(text)) == env


@given(st.sampled_from(["0", "1", "-1", "49"]), st.one_of(st.none(), TEXT.filter(
    lambda t: ")" not in t and t.strip() == t)))
def test_a_success_line_decodes_into_its_value_and_data(value: str, data: str | None) -> None:
    line = f"200 result={value}" + (f" ({data})" if data is not None else "")
    result = decode_result(uri_encode(line + "\n"))
    assert (result.code, result.value, result.data, result.text) == (200, value, data, line)


@given(st.one_of(st.text(max_size=40), st.lists(st.text(max_size=10), max_size=3),
                 st.none(), st.integers()))
def test_decoders_never_raise(value: object) -> None:
    decode_env(value)
    decode_result(value)


def test_failures_and_their_statuses() -> None:
    assert decode_result("510%20Invalid%20or%20unknown%20command%0A").code == 510
    usage = decode_result("520-Invalid%20command%20syntax.%0AUsage%3A%20...%0A520%20End%0A")
    assert usage.code == 520 and usage.text.count("\n") == 2
    assert verdict({"Event": "AsyncAGIExec", "Result": "510%20Invalid%0A"})[:2] == (False, 400)
    assert verdict({"Event": "AsyncAGIExec", "Result": "511%20Dead%0A"})[:2] == (False, 409)
    assert verdict({"Event": "AsyncAGIEnd"})[:2] == (False, 409)
    ok, status, message, more = verdict({"Event": "AsyncAGIExec",
                                         "Result": "200%20result%3D1%20(5550123)%0A"})
    assert (ok, status, message) == (True, 200, "200 result=1 (5550123)")
    assert more["agi"] == {"code": 200, "value": "1", "data": "5550123",
                           "text": "200 result=1 (5550123)"}


# ------------------------------------------------------------------------------ projection

def run(events: list) -> dict:
    state = agis.initial()
    for event in events:
        agis.apply(state, event)
    return state


def test_the_recorded_session_projects_its_channels_env_and_commands() -> None:
    """agi-one: the seed's object with its decoded env; each command's text (from its
    AGIExecStart: the recording sent them) and decoded result under its CommandID; gone at
    AsyncAGIEnd. agi-two: the only AGI channel CoreShowChannels lists, gone when hung up."""
    events = positioned(capture_events(AGI, "pbx1"))
    end = next(i for i, e in enumerate(events) if e.type == "AsyncAGIEnd")
    [row] = agis.rows(run(events[:end]), 0)
    assert row["unique_id"] == "agi-one" and row["channel"] == "Local/501@customers-00000001;1"
    assert row["caller_id_name"] == "AGI Caller" and row["channel_state"] == 6
    assert row["env"]["agi_request"] == "async" and row["env"]["agi_accountcode"] == ""
    assert row["env"]["agi_channel"] == row["channel"] and len(row["env"]) == 20
    assert {cid: (c["command"], c["result"], c["code"], c["value"], c["data"])
            for cid, c in row["cmd"].items()} == {
        "c-answer": ("ANSWER", "200 result=0", 200, "0", None),
        "c-getvar": ("GET VARIABLE CALLERID(num)", "200 result=1 (5550123)", 200, "1",
                     "5550123"),
        "c-setvar": ("SET VARIABLE AUDIT yes", "200 result=1", 200, "1", None),
        "c-exec": ("EXEC Wait 1", "200 result=0", 200, "0", None),
        "c-bad": ("NOT A COMMAND", "510 Invalid or unknown command", 510, None, None),
        "c-break": ("ASYNCAGI BREAK", "200 result=0", 200, "0", None),
    }
    listed = next(i for i, e in enumerate(events) if e.type == "CoreShowChannelsComplete")
    at_list = agis.rows(run(events[:listed + 1]), 0)
    assert [(r["unique_id"], r["env"]["agi_uniqueid"]) for r in at_list] == [
        ("agi-two", "agi-two")]
    assert agis.rows(run(events), 0) == []
    assert set(at_list[0]) == set(agis.COLUMNS["agis"])


def test_a_list_answer_reconciles_and_adopts_channels_in_async_agi() -> None:
    """After a reconnect: a row CoreShowChannels no longer lists is gone; a listed channel
    running AGI(agi:async) we never saw start is adopted (its env unknown)."""
    events = positioned(capture_events(AGI, "pbx1"))
    listed = next(i for i, e in enumerate(events) if e.type == "CoreShowChannelsComplete")
    start = next(i for i, e in enumerate(events) if e.type == "AsyncAGIStart"
                 and e.data["Uniqueid"] == "agi-two")
    answer = [e for e in events[start:listed + 1] if e.data.get("ActionID")
              == events[listed].data["ActionID"]]
    state = run(events[:start])  # agi-one ended; agi-two never seen
    stale = run([events[0], *[e for e in events[:start] if e.type == "AsyncAGIStart"]])
    assert [r["unique_id"] for r in agis.rows(stale, 0)] == ["agi-one"]
    for event in answer:
        agis.apply(state, event)
        agis.apply(stale, event)
    for result in (state, stale):
        [row] = agis.rows(result, 0)
        assert (row["unique_id"], row["env"], row["cmd"]) == ("agi-two", {}, {})
        assert row["channel"] == "Local/502@customers-00000002;1"


def test_a_command_requested_through_the_log_names_its_entry_before_its_result() -> None:
    events = positioned(capture_events(AGI, "pbx1"))
    begin = next(i for i, e in enumerate(events) if e.type == "AsyncAGIStart")
    state = run(events[:begin + 1])
    asked = NewEvent("command/c1", 0, REQUESTED, events[begin].recorded_at, "pbx1", {
        "id": "c1", "command": "agi", "targets": ["agi-one"], "params": {},
        "action": {"Action": "AGI", "Channel": "Local/501@customers-00000001;1",
                   "Command": "SAY DIGITS 12 #", "CommandID": "mine"}}, None, "c1")
    agis.apply(state, positioned([asked], 10_000)[0])
    [row] = agis.rows(state, 0)
    assert row["cmd"]["mine"]["command"] == "SAY DIGITS 12 #"
    assert row["cmd"]["mine"]["result"] is None


# ------------------------------------------------------------------------------ end to end

def test_agis_over_http_against_the_recorded_asterisk(tmp_path: Path) -> None:
    """The test server replays agi.jsonl up to the first recorded AGI action: agi-one is in
    AGI. GET lists it with its env; a command through the log is answered by the test
    server's AGI part with an AsyncAGIExec carrying our CommandID, decoded; 510 is a 400;
    the detail's `cmd` holds both; a channel not in AGI is a 404; each is a command in the
    log, its request before its answer."""
    first = next(i for i, line in enumerate(AGI.read_text().splitlines())
                 if "Action: AGI" in line)
    with paused_live(tmp_path, [AGI]) as live, \
            httpx.Client(base_url=live.url, timeout=10) as client:
        replay_to(live, AGI, first)
        # (the test server answered the engine's CoreShowChannels at connect with the
        # recording's only one, from later on: agi-two is listed too, adopted without env)
        listed = {r["unique_id"]: r for r in client.get("/core/agis").json()["result"]["list"]}
        assert listed["agi-one"]["env"]["agi_calleridname"] == "AGI Caller"
        assert listed["agi-two"]["env"] == {}
        answer = client.post("/core/agis/agi-one/commands",
                             json={"command": "GET VARIABLE CALLERID(num)"})
        assert answer.status_code == 200, answer.text
        result = answer.json()["result"]
        assert result["state"] == "succeeded" and result["command"] == "agi"
        assert result["agi"] == {"code": 200, "value": "1", "data": "5550123",
                                 "text": "200 result=1 (5550123)"}
        refused = client.post("/core/agis/agi-one/commands", json={"command": "NOT A THING"})
        assert refused.status_code == 400
        assert refused.json()["error"]["message"] == "510 Invalid or unknown command"
        detail = client.get("/core/agis/agi-one").json()["result"]
        assert sorted(c["command"] for c in detail["cmd"].values()) == [
            "GET VARIABLE CALLERID(num)", "NOT A THING"]
        by_name = client.get("/core/agis/" + "Local%2F501%40customers-00000001%3B1")
        assert by_name.json()["result"]["unique_id"] == "agi-one"
        assert client.post("/core/agis/nobody/commands",
                           json={"command": "ANSWER"}).status_code == 404
        assert client.delete("/core/agis/nobody").status_code == 404
        for bad in ({}, {"command": ""}, {"command": 5}, {"command": "X", "zzz": 1},
                    {"command": "ANSWER\r\nAction: Originate"}):
            assert client.post("/core/agis/agi-one/commands", json=bad).status_code == 400
        store = live.engine.store  # type: ignore[union-attr]
        commands = [e for e in store.iter_all() if e.stream.startswith("command/")]
        assert [e.type for e in commands if e.type == REQUESTED] == [REQUESTED] * 2
        assert sum(1 for e in commands if e.type == SUCCEEDED) == 1
        assert {e.data["action"]["Command"] for e in commands if e.type == REQUESTED} == {
            "GET VARIABLE CALLERID(num)", "NOT A THING"}


def test_agi_calls_on_the_simulated_pbx_run_commands_and_hang_up(tmp_path: Path) -> None:
    """A call answered into AGI(agi:async) on the simulated PBX: create, a SET then a GET of
    the same variable, `ASYNCAGI BREAK` ends AGI (the call then hangs up); a second call in
    AGI is hung up by DELETE (the seed's hang up): AsyncAGIEnd, then its Hangup."""
    with Live(f"sqlite:///{tmp_path / 'log.db'}", [None], asterisk=PbxSimulator) as live, \
            httpx.Client(base_url=live.url, timeout=10) as client:
        live.connected()
        for uid in ("one", "two"):
            placed = client.post("/core/channels", json={
                "channel": "Local/101@customers", "application": "AGI", "data": "agi:async",
                "channel_id": uid, "caller_id": '"Ann" <5550100>'})
            assert placed.status_code == 200, placed.text
        live.call(_until(lambda: len(live.asterisks[0].agi.sessions) == 2))
        live.settled()
        rows = {r["unique_id"]: r for r in client.get("/core/agis").json()["result"]["list"]}
        assert set(rows) == {"one", "two"} and rows["one"]["env"]["agi_callerid"] == "5550100"
        assert client.post("/core/agis/one/commands",
                           json={"command": "SET VARIABLE COLOR blue"}).status_code == 200
        got = client.post("/core/agis/one/commands", json={"command": "GET VARIABLE COLOR",
                                                            "command_id": "q-1"})
        assert got.json()["result"]["agi"]["data"] == "blue"
        assert client.get("/core/agis/one").json()["result"]["cmd"]["q-1"]["data"] == "blue"
        done = client.post("/core/agis/one/commands", json={"command": "ASYNCAGI BREAK"})
        assert done.status_code == 200
        live.settled()
        assert client.get("/core/agis/one").status_code == 404
        hung = client.delete("/core/agis/two")
        assert hung.status_code == 200
        assert hung.json()["result"]["message"] == "Channel Hungup, cause 16: Normal Clearing"
        assert client.get("/core/agis").json()["result"]["list"] == []  # gone at the answer
        types = [e.type for e in live.engine.store.iter_all()  # type: ignore[union-attr]
                 if e.data.get("Uniqueid") == "two"]
        assert types.index("AsyncAGIEnd") < types.index("Hangup")


def replay_to(live: Live, path: Path, line: int) -> None:
    """Let the paused fake Asterisk replay everything before capture line `line`."""
    asterisk = live.asterisks[0]
    asterisk_target = replayed_before(path, line)
    live.run(lambda: asterisk.continue_replay(asterisk_target - asterisk.messages_replayed))
    live.call(_until(lambda: asterisk.messages_replayed >= asterisk_target))
    live.settled()


async def _until(condition, timeout: float = 10.0) -> None:  # type: ignore[no-untyped-def]
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not condition():
        assert loop.time() < deadline, "timed out"
        await asyncio.sleep(0.01)
