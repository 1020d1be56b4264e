"""What a dialplan's `command` may hold and how a dpma becomes a context (`engine/dialplans/
render.py`), and the dialplans projection over any sequence of writes, crashes included."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.commands import FAILED, REQUESTED, SUCCEEDED
from engine.dialer.objects import Invalid, evolve
from engine.dialplans import render
from engine.dialplans.objects import created, deleted, stream, updated
from engine.envelope import NewEvent
from projections import dialplans as dp_view
from projections.runner import replay
from tests.captures import positioned

APP = st.from_regex(r"[A-Za-z][A-Za-z0-9_]{0,11}", fullmatch=True)
DATA = st.text(st.characters(blacklist_characters="\r\n", blacklist_categories=("Cs",)),
               max_size=30)


def agi_quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


@given(APP, DATA)
def test_an_application_is_written_as_given(app: str, data: str) -> None:
    assert render.application(f" {app}({data}) ") == f"{app}({data})"


@given(APP, DATA, st.sampled_from(["EXEC", "Exec", "exec"]))
def test_agi_exec_is_its_application(app: str, data: str, verb: str) -> None:
    assert render.application(f"{verb} {app} {agi_quote(data)}") == f"{app}({data})"
    assert render.application(f"{verb}  {app}") == f"{app}()"


@given(st.lists(DATA, max_size=6))
def test_agi_arguments_split_as_quoted(args: list[str]) -> None:
    assert render.agi_args(" ".join(agi_quote(a) for a in args)) == args


@pytest.mark.parametrize(("command", "application"), [
    ('Exec NoOp "Jade default dialplan for originate call to device"',
     "NoOp(Jade default dialplan for originate call to device)"),
    ("EXEC Dial PJSIP/100,30", "Dial(PJSIP/100,30)"),
    ('EXEC Set "X=a \\"quoted\\" b"', 'Set(X=a "quoted" b)'),
    ("ANSWER", "Answer()"), ("hangup", "Hangup()"), ("NoOp", "NoOp()"),
    ("SET VARIABLE FOO bar", "Set(FOO=bar)"), ("Wait(1)", "Wait(1)"),
    ("Hangup()", "Hangup()"), (None, "NoOp(name)"), ("  ", "NoOp(name)"),
])
def test_the_forms_of_a_command(command: str | None, application: str) -> None:
    assert render.application(command, "name") == application


@pytest.mark.parametrize(("command", "message"), [
    ("EXEC", "command: EXEC needs an application name (EXEC Playback hello)"),
    ("EXEC 1x", "command: EXEC needs an application name (EXEC Playback hello)"),
    ('EXEC NoOp "open', "command: an unclosed quote or a trailing backslash"),
    ("EXEC NoOp a\\", "command: an unclosed quote or a trailing backslash"),
    ("SET VARIABLE FOO", "command: SET VARIABLE <name> <value>"),
    ("HANGUP SIP/1-0001", "command: 'HANGUP SIP/1-0001' is neither an application "
                          "(Playback(hello)) nor an AGI command with one (EXEC, ANSWER, "
                          "HANGUP, NOOP, SET VARIABLE)"),
    ("GET VARIABLE X", "command: 'GET VARIABLE X' is neither an application "
                       "(Playback(hello)) nor an AGI command with one (EXEC, ANSWER, "
                       "HANGUP, NOOP, SET VARIABLE)"),
    ("NoOp(a)\nsame => n,System(rm)", "command: line breaks are not allowed"),
])
def test_what_a_command_may_not_hold(command: str, message: str) -> None:
    with pytest.raises(Invalid) as refused:
        render.application(command)
    assert str(refused.value) == message


def test_a_name_is_no_dialplan_code() -> None:
    assert render.shown("${SHELL(rm -rf /)} [x]; \"q\"") == "__SHELL_rm -rf /__ _x__ _q_"
    assert render.lines({"uuid": "u", "name": "$[1+1]"}, [])[0] == ["exten", "_X.,1,NoOp(__1+1_)"]


DIALPLANS = st.lists(st.fixed_dictionaries({
    "uuid": st.uuids().map(str), "sequence": st.integers(1, 50),
    "name": st.one_of(st.none(), DATA), "command": st.one_of(st.none(), APP.map(
        lambda a: f"{a}()"))}), max_size=8, unique_by=lambda d: d["sequence"])


@given(DIALPLANS, st.one_of(st.none(), DATA))
def test_a_dpma_is_a_context_of_its_dialplans_in_sequence_order(dialplans: list[dict],
                                                                name: str | None) -> None:
    category = render.category({"uuid": "u", "name": name}, reversed(dialplans))
    assert category["name"] == "dpma-u"
    header, *priorities = category["variables"]
    assert header == ["exten", f"_X.,1,NoOp({render.shown(name)})"]
    ordered = sorted(dialplans, key=lambda d: d["sequence"])
    assert priorities == [["same", "n," + render.application(d["command"], d["name"])]
                          for d in ordered]


def test_a_priority_asterisk_could_not_read_is_refused() -> None:
    with pytest.raises(Invalid) as refused:
        render.lines({"uuid": "u"}, [{"uuid": "d", "sequence": 1,
                                      "command": "NoOp(" + "é" * 600 + ")"}])
    assert str(refused.value) == ("command: the priority would be longer than the 1000 bytes "
                                  "Asterisk reads in a line")


# ------------------------------------------------------------------------------ the projection

OPS = st.lists(st.tuples(
    st.sampled_from(["dpma+", "dpma~", "dpma-", "dp+", "dp~", "dp-"]),
    st.integers(0, 5), st.sampled_from(["direct", "ok", "failed", "crash", "lost"]),
    DATA), max_size=40)


def writes(ops: list[tuple[str, int, str, str]]) -> list[NewEvent]:
    """A log of dialplan writes: each appended directly, through a command that succeeded
    (then its events), failed, or succeeded with its events lost to a crash, or left without
    an outcome."""
    objs: dict[str, dict] = {}
    versions: dict[str, int] = {}
    log: list[NewEvent] = []
    dpmas = [f"00000000-0000-4000-8000-00000000000{i}" for i in range(6)]
    plans = [f"00000000-0000-4000-8000-00000000001{i}" for i in range(6)]
    for n, (op, i, how, text) in enumerate(ops):
        kind = "dpma" if op.startswith("dpma") else "dialplan"
        uuid = (dpmas if kind == "dpma" else plans)[i]
        key = stream(kind, uuid)
        obj, version = objs.get(key), versions.get(key, -1)
        if op.endswith("+") and obj is None and version < 0:
            owner = objs.get(stream("dpma", dpmas[i]))
            if kind == "dialplan" and owner is None:
                continue
            new = {"uuid": uuid, "name": text, "server": "pbx1", "tm_create": f"t{n}",
                   "tm_update": None}
            if kind == "dialplan":
                new.update(dpma_uuid=dpmas[i], sequence=n + 1, command=None, detail=None)
            type_, data = created(kind), {"object": new}
        elif op.endswith("~") and obj is not None:
            type_, data = updated(kind), {"changes": {"name": text}, "tm_update": f"t{n}"}
        elif op.endswith("-") and obj is not None:
            type_, data = deleted(kind), {"tm_delete": f"t{n}"}
        else:
            continue
        event = {"stream": key, "version": version + 1, "type": type_, "data": data}
        cid = f"c{n}"
        if how != "direct":
            log.append(NewEvent(f"command/{cid}", 0, REQUESTED, "t", "pbx1",
                                {"id": cid, "outbox": [event]}))
            if how != "lost":
                log.append(NewEvent(f"command/{cid}", 1, FAILED if how == "failed" else
                                    SUCCEEDED, "t", "pbx1", {"id": cid}))
        if how in ("direct", "ok"):
            log.append(NewEvent(key, version + 1, type_, "t", "pbx1", data, cid, cid))
            objs[key] = evolve(obj, type_, data, version + 1)  # type: ignore[assignment]
            versions[key] = version + 1
            if objs[key].get("in_use") == 0:
                objs.pop(key)
    return log


@settings(max_examples=200)
@given(OPS, st.lists(st.integers(1, 60), max_size=4))
def test_any_log_of_writes_folds_alike_whole_or_in_pieces(ops: list, cuts: list[int]) -> None:
    events = positioned(writes(ops))
    whole = replay(events, [dp_view])
    state = dp_view.initial()
    bounds = [0, *sorted(c for c in cuts if c < len(events)), len(events)]
    for a, b in zip(bounds, bounds[1:], strict=False):
        state = json.loads(json.dumps(state))  # a checkpoint written and read back
        for event in events[a:b]:
            state = dp_view.apply(state, event)
    assert json.dumps(state, sort_keys=True) == json.dumps(whole.state(dp_view.NAME),
                                                           sort_keys=True)
    # the outbox holds exactly the writes whose command did not fail and whose events are
    # missing: succeeded ones (a crash's, to recover) and unfinished ones
    crashed = {f"c{n}" for n, (_, _, how, _) in enumerate(ops) if how in ("crash", "lost")}
    assert set(state["outbox"]) <= crashed
    assert all(entry["succeeded"] == (cid in {f"c{n}" for n, o in enumerate(ops)
                                              if o[2] == "crash"})
               for cid, entry in state["outbox"].items())
    for view in ("dpmas", "dialplans"):
        assert [list(r) for r in whole.rows(view, 0)] == [list(dp_view.COLUMNS[view])] * len(
            whole.rows(view, 0))
