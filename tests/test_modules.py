"""Modules: the `module show` table parser (property-tested against the CLI's own format), the
`modules` projection over the recorded session and hand-made answers, and `/core/modules` end to
end against the test server replaying batch2/modules.jsonl and the simulated PBX."""

from __future__ import annotations

import string
from pathlib import Path

import httpx
from hypothesis import given
from hypothesis import strategies as st

from engine.ami.asterisk_modules import HEADING, Module, table_line
from engine.ami.ingest import LIST_ACTIONS, list_action
from engine.ami.simulator import PbxSimulator
from engine.capture import capture_events
from engine.commands import FAILED, REQUESTED, SUCCEEDED
from engine.envelope import NewEvent
from projections import modules
from projections.modules import MODULE_TABLE, ModuleLine, module_file, module_name, parse_table
from tests.captures import CAPTURES, positioned
from tests.live import Live, paused_live

MODULES = CAPTURES / "batch2" / "modules.jsonl"
T = "2026-12-07T20:09:18.000000+00:00"

NAMES = st.text(string.ascii_lowercase + "_0123456789", min_size=1, max_size=40).map(
    lambda s: s + ".so")
LINES = st.builds(ModuleLine, NAMES,
                  st.text(string.ascii_letters + string.digits + " ()-/.,", max_size=60).map(
                      lambda s: " ".join(s.split())[:40].strip()),
                  st.integers(0, 10_000), st.sampled_from(["Running", "Not Running"]),
                  st.sampled_from(["core", "extended", "deprecated", "unknown"]))


@given(st.lists(LINES, max_size=20))
def test_the_table_parses_back_whatever_the_cli_prints(rows: list[ModuleLine]) -> None:
    """main/cli.c's columns: names longer than their column, descriptions with blanks and
    digits, cut at 40 characters, either status."""
    output = [table_line(HEADING)]
    output += [table_line((r.name, r.description, str(r.use_count), r.status,
                           r.support_level)) for r in rows]
    output.append(f"{len(rows)} modules loaded")
    assert parse_table(output) == rows


@given(st.lists(st.text(max_size=60), max_size=5))
def test_other_output_is_not_the_table(lines: list[str]) -> None:
    assert parse_table(["System uptime: 1 minute, 59 seconds", *lines]) is None
    parse_table(lines)  # never raises


def test_names_with_and_without_so() -> None:
    assert module_name("app_queue.so") == module_name("app_queue") == "app_queue"
    assert module_file("app_queue") == module_file("app_queue.so") == "app_queue.so"


# ------------------------------------------------------------------------------ projection

def ev(type_: str, data: dict, stream: str = "ami/pbx1/s") -> NewEvent:
    return NewEvent(stream, 0, type_, T, "pbx1", data, None, None)


def table(action_id: str, *names: str) -> NewEvent:
    output = [table_line(HEADING)] + [table_line((n, "x", "0", "Running", "core"))
                                      for n in names] + [f"{len(names)} modules loaded"]
    return ev("Response", {"Response": "Success", "ActionID": action_id,
                           "Message": "Command output follows", "Output": output})


def project(news: list[NewEvent]) -> list[tuple[str, str]]:
    state = modules.initial()
    for event in positioned(news):
        modules.apply(state, event)
    return [(r["name"], r["load"]) for r in modules.rows(state, 0)]


def test_the_recorded_session() -> None:
    """module show like app_q (app_queue), then app_dictate unloaded (never listed: nothing
    to remove) and loaded again (its Load adds it), app_confbridge reloaded (not listed: no
    row), a missing module refused: app_queue and app_dictate."""
    events = positioned(capture_events(MODULES, "pbx1"))
    state = modules.initial()
    seen = []
    for event in events:
        modules.apply(state, event)
        seen.append(sorted(r["name"] for r in modules.rows(state, 0)))
    assert [names for i, names in enumerate(seen) if i and names != seen[i - 1]] == [
        ["app_queue"], ["app_dictate", "app_queue"]]
    rows = {r["name"]: r for r in modules.rows(state, 0)}
    assert set(rows) == {"app_queue", "app_dictate"}
    assert rows["app_queue"] == {**rows["app_queue"], "load": "Running", "size": None,
                                 "description": "True Call Queueing", "use_count": 0,
                                 "support_level": "core"}
    assert set(rows["app_queue"]) == set(modules.COLUMNS["modules"])


def test_only_the_engines_own_table_removes_unlisted_modules() -> None:
    """A filtered `module show like` lists some modules: it removes none. The engine's
    unfiltered one (ActionID sb-modules-...) is every loaded module: the others are gone."""
    start = [table(f"{MODULE_TABLE}1", "app_queue.so", "app_dictate.so", "res_agi.so")]
    assert project([*start, table("mine-1", "app_queue.so")]) == [
        ("app_dictate", "Running"), ("app_queue", "Running"), ("res_agi", "Running")]
    assert project([*start, table(f"{MODULE_TABLE}2", "app_queue.so")]) == [
        ("app_queue", "Running")]


def test_module_events_and_the_answers_to_module_commands() -> None:
    """Load adds, Unload removes, a Reload of an unknown name (`cdr`, `All`) adds nothing; a
    ModuleCheck command answered 'Module not loaded' removes, and a ModuleLoad the server
    accepted counts even without its event."""
    def command(cid: str, action: dict, response: dict) -> list[NewEvent]:
        return [ev(REQUESTED, {"id": cid, "action": action}, f"command/{cid}"),
                ev("Response", {**response, "ActionID": f"cmd-{cid}"}),
                ev(SUCCEEDED if response["Response"] == "Success" else FAILED, {"id": cid},
                   f"command/{cid}")]

    events = [
        table(f"{MODULE_TABLE}1", "app_queue.so", "app_dictate.so"),
        ev("Load", {"Module": "res_agi.so", "Status": "Success"}),
        ev("Load", {"Module": "bad.so", "Status": "Decline"}),
        ev("Unload", {"Module": "app_queue.so", "Status": "Success"}),
        ev("Reload", {"Module": "cdr", "Status": "0"}),
        ev("Reload", {"Module": "All", "Status": "0"}),
        *command("c1", {"Action": "ModuleCheck", "Module": "app_dictate"},
                 {"Response": "Error", "Message": "Module not loaded"}),
        *command("c2", {"Action": "ModuleLoad", "Module": "chan_pjsip.so", "LoadType": "load"},
                 {"Response": "Success", "Message": "Module loaded."}),
        *command("c3", {"Action": "ModuleLoad", "Module": "res_agi.so", "LoadType": "unload"},
                 {"Response": "Success", "Message": "Module unloaded."}),
        *command("c4", {"Action": "ModuleLoad", "Module": "nope.so", "LoadType": "load"},
                 {"Response": "Error", "Message": "Module not found."}),
    ]
    assert project(events) == [("chan_pjsip", "Running")]
    state = modules.initial()
    for event in positioned(events):
        modules.apply(state, event)
    assert state["pending"] == {}  # each command forgotten at its outcome


def test_the_engine_asks_for_the_table_on_every_connect() -> None:
    assert "Command" in LIST_ACTIONS
    asked = list_action("Command")
    assert asked["Command"] == "module show"
    assert asked["ActionID"].startswith(MODULE_TABLE)
    assert list_action("Command")["ActionID"] != asked["ActionID"]


# ------------------------------------------------------------------------------ end to end

def test_modules_over_http_follow_load_unload_and_reload(tmp_path: Path) -> None:
    """The test server of modules.jsonl (its parts seeded from the recording) answers the
    engine's `module show`: GET lists the modules; DELETE unloads (the row goes), POST loads
    it back (Running again), PUT reloads; a module Asterisk does not have is Asterisk's 404
    with nothing changed; every write is a command in the log; the seed's names without .so
    work, as do names with it."""
    with paused_live(tmp_path, [MODULES]) as live, \
            httpx.Client(base_url=live.url, timeout=10) as client:
        names = [r["name"] for r in client.get("/core/modules").json()["result"]["list"]]
        assert {"app_queue", "app_dictate", "app_confbridge"} <= set(names)
        assert client.get("/core/modules/app_queue.so").json()["result"]["description"] == (
            "True Call Queueing")
        gone = client.delete("/core/modules/app_dictate")
        assert gone.status_code == 200, gone.text
        assert gone.json()["result"]["message"] == "Module unloaded."
        assert client.get("/core/modules/app_dictate").status_code == 404
        back = client.post("/core/modules/app_dictate.so")
        assert back.json()["result"]["message"] == "Module loaded."
        assert client.get("/core/modules/app_dictate").json()["result"]["load"] == "Running"
        assert client.put("/core/modules/app_confbridge").json()["result"]["message"] == (
            "Module reloaded.")
        missing = client.post("/core/modules/no_such_module")
        assert missing.status_code == 404
        assert missing.json()["error"]["message"] == "Module not found."
        unknown = client.get("/core/modules/no_such_module")  # checked with Asterisk first
        assert unknown.status_code == 404
        assert unknown.json()["error"]["message"] == "Module not loaded: no_such_module"
        asterisk = live.asterisks[0]
        live.run(lambda: asterisk.modules.modules.update(  # loaded behind our back
            {"app_new.so": Module("app_new.so", "New")}))
        found = client.get("/core/modules/app_new")
        assert found.status_code == 200 and found.json()["result"]["load"] == "Running"
        checks = [a["Module"] for a in asterisk.actions_received if a["Action"] == "ModuleCheck"]
        assert checks == ["app_dictate", "no_such_module", "app_new"]
        sent = [a for a in live.asterisks[0].actions_received if a["Action"] == "ModuleLoad"]
        assert [a["Module"] for a in sent] == ["app_dictate.so", "app_dictate.so",
                                               "app_confbridge.so", "no_such_module.so"]
        requested = [e.data["command"] for e in live.engine.store.iter_all()  # type: ignore
                     if e.type == REQUESTED]
        assert requested == ["module_unload", "module_check", "module_load", "module_reload",
                             "module_load", "module_check", "module_check"]


def test_the_simulated_pbx_has_modules_too(tmp_path: Path) -> None:
    with Live(f"sqlite:///{tmp_path / 'log.db'}", [None], asterisk=PbxSimulator) as live, \
            httpx.Client(base_url=live.url, timeout=10) as client:
        live.connected()
        live.settled()
        rows = client.get("/core/modules").json()["result"]["list"]
        assert {"app_voicemail", "res_agi", "res_parking"} <= {r["name"] for r in rows}
        assert client.delete("/core/modules/res_parking").status_code == 200
        assert client.delete("/core/modules/res_parking").status_code == 400  # not loaded
        assert "res_parking" not in {
            r["name"] for r in client.get("/core/modules").json()["result"]["list"]}
