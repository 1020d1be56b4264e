"""projections/queues.py driven by hand-made events shaped like the captured ones."""

from __future__ import annotations

import copy
import itertools
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from engine.capture import action_times, capture_events
from engine.envelope import CONNECTION_LOST, Event
from projections import queues
from tests.captures import CAPTURES

_position = itertools.count(1)
T0 = 1795361614.0


def ev(type_: str, server: str = "pbx1", stream: str | None = None, t: float = T0,
       **headers: str | int) -> Event:
    data = {"Event": type_, **{k: str(v) for k, v in headers.items()}}
    if "ActionID" not in headers:
        data.setdefault("Timestamp", f"{t:.6f}")
    return Event(next(_position), stream or f"ami/{server}/s1", 0, type_,
                 "2026-11-22T15:33:34.000000+00:00", server, data)


def member(type_: str, queue: str = "sales", interface: str = "Local/agent1@agents",
           **headers: str | int) -> Event:
    fields: dict[str, str | int] = {
        "Queue": queue, "MemberName": "Alice", "Interface": interface,
        "StateInterface": interface, "Membership": "dynamic", "Penalty": 0, "CallsTaken": 0,
        "LastCall": 0, "LastPause": 0, "LoginTime": int(T0), "InCall": 0, "Status": 1,
        "Paused": 0, "PausedReason": "", "Ringinuse": 0, "Wrapuptime": 0,
    }
    fields.update(headers)
    return ev(type_, **fields)  # type: ignore[arg-type]


def caller(type_: str, uid: str, queue: str = "sales", **headers: str | int) -> Event:
    fields: dict[str, str | int] = {
        "Channel": f"Local/{uid}@customers;1", "CallerIDNum": "5550100",
        "CallerIDName": "<unknown>", "ConnectedLineNum": "5550100",
        "ConnectedLineName": "<unknown>", "Uniqueid": uid, "Linkedid": uid, "Queue": queue,
    }
    fields.update(headers)
    return ev(type_, **fields)  # type: ignore[arg-type]


def params(queue: str, action: str, **headers: str | int) -> Event:
    fields: dict[str, str | int] = {
        "Queue": queue, "Max": 0, "Strategy": "ringall", "Calls": 0, "Holdtime": 0,
        "TalkTime": 0, "Completed": 0, "Abandoned": 0, "ServiceLevel": 0,
        "ServicelevelPerf": "0.0", "ServicelevelPerf2": "0.0", "Weight": 0, "ActionID": action,
    }
    fields.update(headers)
    return ev("QueueParams", **fields)  # type: ignore[arg-type]


def member_item(queue: str, location: str, action: str, **headers: str | int) -> Event:
    fields: dict[str, str | int] = {
        "Queue": queue, "Name": location, "Location": location, "StateInterface": location,
        "Membership": "dynamic", "Penalty": 0, "CallsTaken": 0, "LastCall": 0, "LastPause": 0,
        "LoginTime": int(T0), "InCall": 0, "Status": 1, "Paused": 0, "PausedReason": "",
        "Wrapuptime": 0, "ActionID": action,
    }
    fields.update(headers)
    return ev("QueueMember", **fields)  # type: ignore[arg-type]


def entry_item(queue: str, uid: str, position: int, action: str, wait: int = 2) -> Event:
    return ev("QueueEntry", Queue=queue, Position=position, Channel=f"Local/{uid}@customers;1",
              Uniqueid=uid, CallerIDNum="unknown", CallerIDName="unknown",
              ConnectedLineNum="unknown", ConnectedLineName="unknown", Wait=wait, Priority=0,
              ActionID=action)


def complete(action: str, items: int) -> Event:
    """The end of a QueueStatus answer of `items` items (QueueParams, QueueMember, QueueEntry)."""
    return ev("QueueStatusComplete", ActionID=action, EventList="Complete", ListItems=items)


def run(events: list[Event], state: dict | None = None) -> dict:
    state = queues.initial() if state is None else state
    for event in events:
        queues.apply(state, event)
    return state


def view(state: dict, name: str, now: float = T0) -> list[dict]:
    return queues.VIEWS[name](state, now)


def positions(state: dict, queue: str = "sales") -> list[tuple[str, int]]:
    return [(e["unique_id"], e["position"]) for e in view(state, "queue-entries")
            if e["queue_name"] == queue]


# ---------------------------------------------------------------------------------------------
# members


def test_member_added_has_every_seed_field_typed() -> None:
    state = run([member("QueueMemberAdded")])
    (row,) = view(state, "queue-members")
    assert row == {
        "id": "Local/agent1@agents@sales", "name": "Alice", "queue_name": "sales", "status": 1,
        "membership": "dynamic", "state_interface": "Local/agent1@agents",
        "location": "Local/agent1@agents", "paused": 0, "paused_reason": "", "penalty": 0,
        "calls_taken": 0, "in_call": 0, "last_call": 0, "last_pause": 0,
        "login_time": int(T0), "ring_inuse": 0, "wrapuptime": 0,
        "tm_update": "2026-11-22T15:33:34.000000000Z", "server": "pbx1",
    }


def test_pause_with_reason_then_unpause() -> None:
    state = run([member("QueueMemberAdded"),
                 member("QueueMemberPause", Paused=1, PausedReason="lunch", LastPause=int(T0))])
    (row,) = view(state, "queue-members")
    assert (row["paused"], row["paused_reason"], row["last_pause"]) == (1, "lunch", int(T0))
    run([member("QueueMemberPause", Paused=0, PausedReason="", LastPause=int(T0))], state)
    (row,) = view(state, "queue-members")
    assert (row["paused"], row["paused_reason"]) == (0, "")


def test_old_style_pause_reason_header() -> None:
    state = run([member("QueueMemberAdded"), ev("QueueMemberPause", Queue="sales",
                                                 Interface="Local/agent1@agents", Paused="1",
                                                 Reason="break")])
    (row,) = view(state, "queue-members")
    assert (row["paused"], row["paused_reason"], row["name"]) == (1, "break", "Alice")


def test_member_status_is_the_numeric_device_state() -> None:
    state = run([member("QueueMemberAdded"), member("QueueMemberStatus", Status=2)])
    assert view(state, "queue-members")[0]["status"] == 2


def test_agent_connect_and_complete_set_in_call() -> None:
    state = run([member("QueueMemberAdded"),
                 caller("AgentConnect", "c1", Interface="Local/agent1@agents", HoldTime=1)])
    assert view(state, "queue-members")[0]["in_call"] == 1
    run([caller("AgentComplete", "c1", Interface="Local/agent1@agents", HoldTime=1,
                TalkTime=4)], state)
    assert view(state, "queue-members")[0]["in_call"] == 0


def test_member_removed() -> None:
    state = run([member("QueueMemberAdded"), member("QueueMemberAdded", interface="Local/b@a"),
                 member("QueueMemberRemoved")])
    assert [m["location"] for m in view(state, "queue-members")] == ["Local/b@a"]


def test_unchanged_member_event_keeps_tm_update() -> None:
    state = run([member("QueueMemberAdded")])
    before = copy.deepcopy(state)
    run([member("QueueMemberStatus", t=T0 + 60)], state)
    assert state["members"] == before["members"]


# ---------------------------------------------------------------------------------------------
# entries


def test_join_and_leave_renumber_like_asterisk() -> None:
    state = run([caller("QueueCallerJoin", u, Position=i, Count=i)
                 for i, u in enumerate("abc", 1)])
    assert positions(state) == [("a", 1), ("b", 2), ("c", 3)]
    run([caller("QueueCallerLeave", "a", Position=1, Count=2)], state)
    assert positions(state) == [("b", 1), ("c", 2)]
    # a priority caller joining at position 1 pushes everybody down
    run([caller("QueueCallerJoin", "vip", Position=1, Count=3)], state)
    assert positions(state) == [("vip", 1), ("b", 2), ("c", 3)]
    assert view(state, "queues")[0]["calls"] == 3


def test_entry_fields_and_wait() -> None:
    state = run([caller("QueueCallerJoin", "c1", Position=1, Count=1)])
    (row,) = view(state, "queue-entries", now=T0 + 7.9)
    assert row == {
        "unique_id": "c1", "queue_name": "sales", "channel": "Local/c1@customers;1",
        "caller_id_name": "<unknown>", "caller_id_num": "5550100",
        "connected_line_name": "<unknown>", "connected_line_num": "5550100", "position": 1,
        "wait": 7, "tm_update": "2026-11-22T15:33:34.000000000Z", "server": "pbx1",
    }


def test_abandon_counts_and_closes_with_reason() -> None:
    state = run([params("support", "q1", Abandoned=2), complete("q1", 1),
                 caller("QueueCallerJoin", "c1", queue="support", Position=1, Count=1),
                 caller("QueueCallerAbandon", "c1", queue="support", Position=1,
                        OriginalPosition=1, HoldTime=5),
                 caller("QueueCallerLeave", "c1", queue="support", Position=1, Count=0)])
    assert view(state, "queue-entries") == []
    assert view(state, "queues")[0]["abandoned"] == 3
    assert state["closed"][-1]["reason"] == "abandoned"


def test_statistics_follow_app_queue() -> None:
    state = run([params("sales", "q1", Completed=1, TalkTime=4, Holdtime=2, ServiceLevel=10,
                        ServicelevelPerf="100.0", ServicelevelPerf2="100.0"), complete("q1", 1),
                 caller("AgentConnect", "c", Interface="x", HoldTime=6),
                 caller("AgentComplete", "c", Interface="x", HoldTime=6, TalkTime=8),
                 caller("AgentConnect", "d", Interface="x", HoldTime=20),
                 caller("AgentComplete", "d", Interface="x", HoldTime=20, TalkTime=20)])
    (row,) = view(state, "queues")
    # hold: (3*2+6)>>2 = 3, then (3*3+20)>>2 = 7; talk: (3*4+8)>>2 = 5, then (3*5+20)>>2 = 8
    assert (row["completed"], row["hold_time"], row["talk_time"]) == (3, 7, 8)
    assert (row["service_level_perf"], row["service_level_perf2"]) == (66.7, 66.7)


def test_statistics_unknown_until_asterisk_says() -> None:
    state = run([member("QueueMemberAdded"),
                 caller("AgentComplete", "c", Interface="x", HoldTime=1, TalkTime=4)])
    (row,) = view(state, "queues")
    assert row["completed"] is None and row["talk_time"] is None and row["strategy"] is None


# ---------------------------------------------------------------------------------------------
# reconciliation


def test_queue_status_answer_corrects_the_projection() -> None:
    state = run([member("QueueMemberAdded", interface="Local/stale@agents"),
                 member("QueueMemberAdded", interface="Local/kept@agents"),
                 caller("QueueCallerJoin", "gone", Position=1, Count=1),
                 caller("QueueCallerJoin", "kept", Position=2, Count=2)])
    run([params("sales", "q1", Calls=2),
         member_item("sales", "Local/kept@agents", "q1", Paused=1, PausedReason="x"),
         member_item("sales", "Local/new@agents", "q1"),
         entry_item("sales", "kept", 1, "q1"), entry_item("sales", "new", 2, "q1", wait=30),
         complete("q1", 5)], state)
    assert [m["location"] for m in view(state, "queue-members")] == [
        "Local/kept@agents", "Local/new@agents"]
    assert view(state, "queue-members")[0]["paused"] == 1
    assert positions(state) == [("kept", 1), ("new", 2)]
    assert state["closed"][-1] == {
        "server": "pbx1", "queue_name": "sales", "unique_id": "gone",
        "channel": "Local/gone@customers;1", "reason": "not in QueueStatus answer",
        "tm_update": T0,
    }
    new = view(state, "queue-entries", now=T0)[1]
    assert new["wait"] == 30 and new["caller_id_num"] == "<unknown>"
    assert state["lists"] == {}


def test_answer_filtered_by_queue_only_reconciles_that_queue() -> None:
    state = run([member("QueueMemberAdded", queue="support"),
                 caller("QueueCallerJoin", "s1", queue="support", Position=1, Count=1),
                 member("QueueMemberAdded", queue="sales")])
    run([params("sales", "q1"), complete("q1", 1)], state)
    assert [m["queue_name"] for m in view(state, "queue-members")] == ["support"]
    assert positions(state, "support") == [("s1", 1)]


def test_answer_only_touches_its_own_server() -> None:
    state = run([ev("QueueMemberAdded", server="pbx2", Queue="sales", Interface="Local/x@a"),
                 member("QueueMemberAdded")])
    run([params("sales", "q1"), complete("q1", 1)], state)
    assert [(m["server"], m["location"]) for m in view(state, "queue-members")] == [
        ("pbx2", "Local/x@a")]


def test_live_change_during_an_answer_survives_it() -> None:
    state = run([params("sales", "q1"),
                 caller("QueueCallerJoin", "late", Position=1, Count=1),
                 member("QueueMemberAdded", interface="Local/late@agents"),
                 complete("q1", 1)])
    assert positions(state) == [("late", 1)]
    assert len(view(state, "queue-members")) == 1


def test_entry_listed_in_another_queue_moves() -> None:
    state = run([caller("QueueCallerJoin", "c1", queue="support", Position=1, Count=1)])
    run([params("sales", "q1"), entry_item("sales", "c1", 1, "q1"), complete("q1", 2)], state)
    assert positions(state, "support") == [] and positions(state, "sales") == [("c1", 1)]


def test_cut_answer_is_forgotten_on_connection_lost() -> None:
    state = run([member("QueueMemberAdded"), params("sales", "q1")])
    assert state["lists"]
    run([ev(CONNECTION_LOST, Reason="reset"), complete("q1", 1)], state)
    assert state["lists"] == {} and len(view(state, "queue-members")) == 1


def test_same_answer_twice_changes_nothing() -> None:
    answer = [params("sales", "q1", Calls=1), member_item("sales", "Local/a@b", "q1"),
              entry_item("sales", "c1", 1, "q1"), complete("q1", 3)]
    state = run(answer)
    once = copy.deepcopy(state)
    run(answer, state)
    assert state == once


# ---------------------------------------------------------------------------------------------
# robustness


def test_junk_and_unknown_events_never_raise() -> None:
    state = run([member("QueueMemberAdded")])
    junk = [
        ev("QueueMemberStatus", Queue="sales", Interface="Local/agent1@agents", Status="n/a",
           Paused="yes?", Penalty=""),
        ev("QueueCallerJoin"), ev("QueueCallerLeave", Queue="sales"), ev("QueueCallerAbandon"),
        ev("QueueParams", ActionID="x", Queue="q", ServicelevelPerf="inf", Completed="9"),
        ev("QueueParams", ActionID="x", Queue="q", ServicelevelPerf2="nan", Completed="lots"),
        ev("QueueEntry", ActionID="x"), ev("QueueMember", ActionID="x"),
        ev("QueueStatusComplete"), ev("AgentConnect"), ev("AgentComplete"),
        ev("QueueMemberRemoved"), ev("QueueSummary", Queue="q", Callers="?"),
        ev("SomethingNew", Queue="sales"), ev("Malformed", raw="xx", error="bad"),
    ]
    run(junk, state)
    row = view(state, "queue-members")[0]
    assert (row["status"], row["paused"], row["penalty"]) == (0, 0, 0)
    for name in queues.VIEWS:
        queues.VIEWS[name](state, T0)


def test_statuses_view_groups_queue_members_entries() -> None:
    state = run([member("QueueMemberAdded"),
                 caller("QueueCallerJoin", "c1", Position=1, Count=1),
                 caller("QueueCallerJoin", "c2", queue="support", Position=1, Count=1)])
    rows = view(state, "queue-statuses")
    assert [(r["name"], len(r["members"]), len(r["entries"])) for r in rows] == [
        ("sales", 1, 1), ("support", 0, 1)]
    assert rows[0]["queue"]["name"] == "sales" and rows[0]["server"] == "pbx1"


# ---------------------------------------------------------------------------------------------
# against the captured statistics


def _replay_until(path: Path, t: float) -> dict:
    return run([Event(i, e.stream, e.version, e.type, e.recorded_at, e.server, e.data)
                for i, e in enumerate(capture_events(path, until=t))])


def test_captured_statistics_match_asterisks_next_answer() -> None:
    """After an answer gave the counters, events alone must reach the next answer's values."""
    for name in ("queue-basic.jsonl", "queue-abandon.jsonl"):
        path = CAPTURES / name
        answers = [(t, h["ActionID"]) for t, h in action_times(path)
                   if h.get("Action") == "QueueStatus"]
        everything = [Event(i, e.stream, e.version, e.type, e.recorded_at, e.server, e.data)
                      for i, e in enumerate(capture_events(path))]
        for t, action_id in answers[1:]:
            rows = {q["name"]: q for q in view(_replay_until(path, t), "queues")}
            for item in everything:
                if item.type != "QueueParams" or item.header("ActionID") != action_id:
                    continue
                row = rows[item.header("Queue")]
                assert (row["calls"], row["completed"], row["abandoned"], row["hold_time"],
                        row["talk_time"]) == tuple(int(item.header(h)) for h in (
                            "Calls", "Completed", "Abandoned", "Holdtime", "TalkTime")), name


# ---------------------------------------------------------------------------------------------
# properties

uids = st.sampled_from([f"c{i}" for i in range(8)])
queue_names = st.sampled_from(["sales", "support"])
ops = st.lists(st.tuples(st.sampled_from(["join", "leave"]), uids, queue_names,
                         st.integers(1, 10)), max_size=40)


def _asterisk_events(operations: list[tuple[str, str, str, int]], server: str = "pbx1"
                     ) -> tuple[list[Event], dict[str, list[str]]]:
    """What app_queue would emit for these joins/leaves, and its own lines afterwards."""
    lines: dict[str, list[str]] = {"sales": [], "support": []}
    where: dict[str, str] = {}
    events = []
    for op, uid, queue, wanted in operations:
        if op == "join" and uid not in where:
            line = lines[queue]
            line.insert(min(wanted, len(line) + 1) - 1, uid)
            where[uid] = queue
            events.append(caller("QueueCallerJoin", uid, queue=queue, server=server,
                                 Position=line.index(uid) + 1, Count=len(line)))
        elif op == "leave" and uid in where:
            line = lines[where[uid]]
            position = line.index(uid) + 1
            line.remove(uid)
            events.append(caller("QueueCallerLeave", uid, queue=where.pop(uid), server=server,
                                 Position=position, Count=len(line)))
    return events, lines


@settings(max_examples=200, deadline=None)
@given(ops)
def test_positions_stay_contiguous_and_match_asterisk(operations: list) -> None:
    events, lines = _asterisk_events(operations)
    state = run(events)
    for queue in ("sales", "support"):
        assert positions(state, queue) == [(u, i) for i, u in enumerate(lines[queue], 1)]


@settings(max_examples=100, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["join", "leave"]), uids, queue_names,
                          st.integers(-3, 12)), max_size=40))
def test_positions_contiguous_even_with_inconsistent_events(operations: list) -> None:
    """Missed or duplicated events must never leave a gap or a duplicate position."""
    state = run([caller("QueueCallerJoin" if op == "join" else "QueueCallerLeave", uid,
                        queue=queue, Position=pos, Count=0) for op, uid, queue, pos in operations])
    for queue in ("sales", "support"):
        got = [p for _, p in positions(state, queue)]
        assert got == list(range(1, len(got) + 1))
    assert len({e["unique_id"] for e in view(state, "queue-entries")}) == len(
        view(state, "queue-entries"))


interfaces = st.sampled_from([f"Local/agent{i}@agents" for i in range(4)])
member_ops = st.lists(st.tuples(st.sampled_from(["add", "remove", "pause", "unpause", "status"]),
                                interfaces, queue_names, st.integers(0, 8)), max_size=40)


def _member_events(operations: list, server: str = "pbx1") -> list[Event]:
    kinds = {"add": "QueueMemberAdded", "remove": "QueueMemberRemoved",
             "pause": "QueueMemberPause", "unpause": "QueueMemberPause",
             "status": "QueueMemberStatus"}
    out = []
    for op, interface, queue, status in operations:
        extra: dict = {"Status": status}
        if op in ("pause", "unpause"):
            extra.update(Paused=int(op == "pause"), PausedReason="r" if op == "pause" else "")
        out.append(ev(kinds[op], server=server, Queue=queue, Interface=interface,
                      MemberName=interface, **extra))
    return out


@settings(max_examples=150, deadline=None)
@given(member_ops)
def test_member_sequences_match_a_model(operations: list) -> None:
    model: dict[tuple[str, str], tuple[int, int, str]] = {}
    for op, interface, queue, status in operations:
        k = (queue, interface)
        if op == "remove":
            model.pop(k, None)
        else:  # every member event carries the whole member: an unknown one appears
            paused, reason = model.get(k, (0, 0, ""))[1:]
            if op in ("pause", "unpause"):
                paused, reason = int(op == "pause"), "r" if op == "pause" else ""
            model[k] = (status, paused, reason)
    state = run(_member_events(operations))
    got = {(m["queue_name"], m["location"]): (m["status"], m["paused"], m["paused_reason"])
           for m in view(state, "queue-members")}
    assert got == model


@settings(max_examples=100, deadline=None)
@given(ops, member_ops, st.lists(st.tuples(uids, queue_names), max_size=6),
       st.lists(st.tuples(interfaces, queue_names), max_size=6), st.booleans())
def test_reconciliation_is_idempotent(operations: list, moperations: list, listed: list,
                                      mlisted: list, one_queue: bool) -> None:
    state = run(_asterisk_events(operations)[0] + _member_events(moperations))
    covered = ["sales"] if one_queue else ["sales", "support"]
    answer: list[Event] = [params(q, "qs") for q in covered]
    seen: set[str] = set()
    for uid, queue in listed:
        if queue in covered and uid not in seen:
            seen.add(uid)
            answer.append(entry_item(queue, uid, 1 + sum(
                1 for e in answer if e.type == "QueueEntry" and e.header("Queue") == queue),
                "qs"))
    answer += [member_item(q, i, "qs") for i, q in dict.fromkeys(mlisted) if q in covered]
    answer.append(complete("qs", len(answer)))
    run(answer, state)
    once = copy.deepcopy(state)
    run(answer, state)
    assert state == once
    got = {(e["queue_name"], e["unique_id"], e["position"]) for e in view(state, "queue-entries")
           if e["queue_name"] in covered}
    assert got == {(e.header("Queue"), e.header("Uniqueid"), int(e.header("Position")))
                   for e in answer if e.type == "QueueEntry"}


@settings(max_examples=100, deadline=None)
@given(ops, member_ops, ops, member_ops)
def test_two_servers_never_overwrite_each_other(ops1: list, m1: list, ops2: list, m2: list
                                                ) -> None:
    one = _asterisk_events(ops1, "pbx1")[0] + _member_events(m1, "pbx1")
    two = _asterisk_events(ops2, "pbx2")[0] + _member_events(m2, "pbx2")
    mixed = run([e for pair in itertools.zip_longest(one, two) for e in pair if e is not None])
    alone1, alone2 = run(one), run(two)
    for name in ("queue-entries", "queue-members"):
        rows = view(mixed, name)
        assert [r for r in rows if r["server"] == "pbx1"] == view(alone1, name)
        assert [r for r in rows if r["server"] == "pbx2"] == view(alone2, name)


def test_cut_answer_without_marker_is_dropped_by_the_next_session() -> None:
    state = run([params("sales", "q1", stream="ami/pbx1/old"),
                 params("sales", "q1", stream="ami/pbx1/new")])
    assert [a["stream"] for a in state["lists"]["pbx1"].values()] == ["ami/pbx1/new"]


def test_event_already_counted_by_an_answer_is_not_counted_twice() -> None:
    """Answers come from live structures and can run ahead of the events delivered."""
    agent = {"Interface": "Local/agent1@agents"}
    # the answer saw the call completed (InCall 0, Completed 1); AgentComplete arrives after
    state = run([caller("AgentConnect", "c1", HoldTime=1, **agent),
                 params("sales", "q1", Completed=1, TalkTime=4, Holdtime=1),
                 member_item("sales", agent["Interface"], "q1", InCall=0), complete("q1", 2),
                 caller("AgentComplete", "c1", HoldTime=1, TalkTime=4, **agent)])
    assert view(state, "queues")[0]["completed"] == 1
    # the answer saw the call going on (InCall 1): its AgentConnect is late, its end counts
    state = run([params("sales", "q1", Completed=0, Holdtime=1),
                 member_item("sales", agent["Interface"], "q1", InCall=1), complete("q1", 2),
                 caller("AgentConnect", "c1", HoldTime=9, **agent),
                 caller("AgentComplete", "c1", HoldTime=9, TalkTime=4, **agent)])
    (row,) = view(state, "queues")
    assert (row["completed"], row["hold_time"], row["talk_time"]) == (1, 1, 4)
    # the answer no longer listed the caller and counted the abandon: late events change nothing
    state = run([caller("QueueCallerJoin", "c2", Position=1, Count=1),
                 params("sales", "q1", Abandoned=1), complete("q1", 1),
                 caller("QueueCallerAbandon", "c2", Position=1, HoldTime=3),
                 caller("QueueCallerLeave", "c2", Position=1, Count=0)])
    assert view(state, "queues")[0]["abandoned"] == 1


# ---------------------------------------------------------------------------------------------
# queues a reload removed


def start(action: str) -> Event:
    return ev("Response", Response="Success", ActionID=action, EventList="start",
              Message="Queue status will follow")


def test_a_whole_answer_drops_the_queues_it_does_not_list_and_a_filtered_one_does_not(
        ) -> None:
    """After a reload of app_queue took `billing` out of queues.conf, the engine's whole
    QueueStatus (ActionID `whole-...`) no longer lists it: it goes, with its static member
    and its caller; a queue born after the answer began stays. A filtered answer (any other
    ActionID) speaks for its queue only."""
    before = [start("w1"), params("sales", "w1"), params("billing", "w1"),
              member_item("billing", "Local/agent7@agents", "w1", Membership="static"),
              entry_item("billing", "c1", 1, "w1"), complete("w1", 4)]
    state = run(before)
    assert {q["name"] for q in view(state, "queues")} == {"sales", "billing"}
    filtered = run([start("f1"), params("sales", "f1"), complete("f1", 1)],
                   copy.deepcopy(state))
    assert {q["name"] for q in view(filtered, "queues")} == {"sales", "billing"}
    late = [start("whole-2"), params("sales", "whole-2"), member("QueueMemberAdded", "vip"),
            complete("whole-2", 1)]
    state = run(late, state)
    assert {q["name"] for q in view(state, "queues")} == {"sales", "vip"}
    assert [m["queue_name"] for m in view(state, "queue-members")] == ["vip"]
    assert view(state, "queue-entries") == []
    assert state["closed"][-1]["reason"] == "not in QueueStatus answer"
