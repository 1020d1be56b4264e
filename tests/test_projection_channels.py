"""Channels and the projections beside it (bridges, calls, devices, peers, agents, systems),
driven by synthetic events shaped like Asterisk's: one rule per test."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.envelope import Event
from projections import agents, calls, channels, devices, peers, q850, systems
from projections.base import iso
from projections.runner import encode_state, replay

T0 = 1795361587.0


class Log:
    """Builds a log of events with increasing positions and timestamps."""

    def __init__(self, server: str = "pbx1") -> None:
        self.server = server
        self.events: list[Event] = []

    def add(self, type_: str, server: str | None = None, t: float | None = None,
            **headers: Any) -> Event:
        server = server or self.server
        position = len(self.events) + 1
        data: dict[str, Any] = {"Event": type_} if type_ not in ("Response", "Banner") else {}
        if t is not None or type_ not in ("Response", "Banner"):
            data["Timestamp"] = f"{T0 + (t if t is not None else position):.6f}"
        data.update({k.replace("__", "-"): v for k, v in headers.items()})
        event = Event(position, f"ami/{server}/s1", position, type_,
                      "2026-11-22T15:33:07.000000+00:00", server, data)
        self.events.append(event)
        return event

    def chan(self, type_: str, uid: str, name: str, state: int = 0, linked: str | None = None,
             prefix: str = "", server: str | None = None, **headers: Any) -> Event:
        return self.add(type_, server=server, **snapshot(uid, name, state, linked, prefix),
                        **headers)

    def banner(self, server: str | None = None) -> Event:
        return self.add("Banner", server=server, Banner="Asterisk Call Manager/11.0.0")

    def list_start(self, action_id: str, server: str | None = None) -> Event:
        return self.add("Response", server=server, Response="Success", ActionID=action_id,
                        EventList="start", Message="Channels will follow")


def snapshot(uid: str, name: str, state: int = 0, linked: str | None = None,
             prefix: str = "") -> dict[str, str]:
    desc = channels.STATE_DESC[state]
    fields = {
        "Channel": name, "ChannelState": str(state), "ChannelStateDesc": desc,
        "CallerIDNum": "5550100", "CallerIDName": "Campaign A", "ConnectedLineNum": "<unknown>",
        "ConnectedLineName": "<unknown>", "Language": "en", "AccountCode": "",
        "Context": "customers", "Exten": "101", "Priority": "1", "Uniqueid": uid,
        "Linkedid": linked or uid,
    }
    return {prefix + k: v for k, v in fields.items()}


def view(log: Log, name: str, now: float | None = None) -> list[dict]:
    return replay(log.events).rows(name, now=now if now is not None else T0 + 1000)


def by_id(rows: list[dict], key: str = "unique_id") -> dict[str, dict]:
    return {r[key]: r for r in rows}


# ------------------------------------------------------------------------------ channels

def test_channel_lifecycle_fills_the_seed_fields() -> None:
    log = Log()
    log.chan("Newchannel", "1.1", "PJSIP/100-01", 0)
    log.chan("Newstate", "1.1", "PJSIP/100-01", 5)
    log.chan("Newexten", "1.1", "PJSIP/100-01", 5, Extension="101", Application="Dial",
             AppData="PJSIP/200,20")
    log.chan("VarSet", "1.1", "PJSIP/100-01", 5, Variable="OB_CAMPAIGN", Value="camp-1")
    log.chan("NewCallerid", "1.1", "PJSIP/100-01", 5, ChanVariable=["A=1", "B=x=y"])
    log.chan("Newstate", "1.1", "PJSIP/100-01", 6)
    log.add("BridgeEnter", BridgeUniqueid="br-1", **snapshot("1.1", "PJSIP/100-01", 6))
    [row] = view(log, "channels", now=T0 + 11.5)
    assert row["server"] == "pbx1" and row["unique_id"] == "1.1" and row["linked_id"] == "1.1"
    assert (row["channel_state"], row["channel_state_desc"]) == (6, "Up")
    assert (row["application"], row["application_data"]) == ("Dial", "PJSIP/200,20")
    assert row["variables"] == {"OB_CAMPAIGN": "camp-1", "A": "1", "B": "x=y"}
    assert row["bridge_id"] == "br-1" and row["duration"] == 10
    assert row["hangup_cause"] is None and row["hangup_cause_desc"] is None
    assert set(channels.COLUMNS["channels"]) == set(row)
    assert row["tm_create"] == "2026-11-22T15:33:08.000000000Z"

    log.add("BridgeLeave", BridgeUniqueid="br-1", **snapshot("1.1", "PJSIP/100-01", 6))
    log.add("Rename", Channel="PJSIP/100-01", Newname="PJSIP/100-01<ZOMBIE>", Uniqueid="1.1")
    [row] = view(log, "channels")
    assert row["bridge_id"] is None and row["channel"] == "PJSIP/100-01<ZOMBIE>"

    log.chan("Hangup", "1.1", "PJSIP/100-01", 6, Cause="16", Cause__txt="Normal Clearing")
    projector = replay(log.events)
    assert projector.rows("channels") == []
    closed = projector.state("channels")["closed"]["pbx1/1.1"]
    assert (closed["hangup_cause"], closed["hangup_cause_desc"]) == (16, "Normal Clearing")


def test_a_channel_taken_out_of_its_dialplan_into_a_bridge_is_asterisks_new_channel() -> None:
    """The AMI `Bridge` (or `Park`) of a channel running `Wait`: Asterisk yanks it, a new
    channel takes its name and uniqueid, created then, running nothing, at the next priority
    (batch2/transfers.jsonl: listed with `Application:` empty and the `Duration` since).
    A channel that enters a bridge from the application at its priority (Dial, Queue, Park,
    ConfBridge) is the same channel as before."""
    log = Log()
    log.chan("Newchannel", "1.1", "Local/1@c-01;1", 6)
    log.chan("Newexten", "1.1", "Local/1@c-01;1", 6, Application="Wait", AppData="30")
    log.chan("Newchannel", "2.2", "PJSIP/2-02", 6)
    log.chan("Newexten", "2.2", "PJSIP/2-02", 6, Application="Dial", AppData="PJSIP/3")
    log.add("BridgeEnter", t=20, BridgeUniqueid="b1",
            **{**snapshot("1.1", "Local/1@c-01;1", 6), "Priority": "2"})
    log.add("BridgeEnter", t=21, BridgeUniqueid="b1", **snapshot("2.2", "PJSIP/2-02", 6))
    rows = by_id(view(log, "channels", now=T0 + 30))
    yanked, dialing = rows["1.1"], rows["2.2"]
    assert (yanked["application"], yanked["application_data"]) == ("", "")
    assert yanked["priority"] == "2" and yanked["duration"] == 10
    assert yanked["bridge_id"] == "b1"
    assert (dialing["application"], dialing["application_data"]) == ("Dial", "PJSIP/3")
    assert dialing["duration"] == 27


def test_late_events_about_a_hung_up_channel_never_bring_it_back() -> None:
    log = Log()
    log.chan("Newchannel", "1.1", "Local/1@c-01;1", 6)
    log.chan("Hangup", "1.1", "Local/1@c-01;1", 6, Cause="16")
    log.chan("AgentComplete", "1.1", "Local/1@c-01;1", 6, Queue="sales")
    log.chan("Newstate", "9.9", "Local/9@c-09;1", 6)  # never created: not a channel we hold
    assert view(log, "channels") == []


def test_prefixed_snapshots_refresh_the_channel_they_describe() -> None:
    log = Log()
    log.chan("Newchannel", "1.1", "Local/1@c-01;1", 0)
    log.chan("Newchannel", "1.2", "Local/1@c-01;2", 4, linked="1.1")
    log.add("DialState", **snapshot("1.1", "Local/1@c-01;1", 5, prefix="Dest"),
            DialStatus="RINGING")
    log.add("LocalBridge", **snapshot("1.1", "Local/1@c-01;1", 5, prefix="LocalOne"),
            **snapshot("1.2", "Local/1@c-01;2", 6, linked="1.1", prefix="LocalTwo"))
    rows = by_id(view(log, "channels"))
    assert rows["1.1"]["channel_state"] == 5 and rows["1.2"]["channel_state"] == 6
    assert rows["1.2"]["linked_id"] == "1.1"


def test_unknown_event_types_carrying_a_snapshot_still_count() -> None:
    log = Log()
    log.chan("Newchannel", "1.1", "SIP/1-01", 0)
    log.chan("SomeFutureEvent", "1.1", "SIP/1-01", 6)
    assert view(log, "channels")[0]["channel_state"] == 6


def test_missing_state_desc_is_derived_from_the_number() -> None:
    log = Log()
    log.add("Newchannel", Channel="SIP/1-01", ChannelState="0", Uniqueid="1.1", Linkedid="1.1")
    log.add("Newstate", Channel="SIP/1-01", ChannelState="7", Uniqueid="1.1")
    assert view(log, "channels")[0]["channel_state_desc"] == "Busy"


def _reconnect_with_list(log: Log, items: list[tuple[str, str, int]], created_later: bool
                         ) -> None:
    log.banner()
    log.list_start("coreshowchannels-1")
    if created_later:
        log.chan("Newchannel", "4.4", "SIP/4-04", 4)
    for uid, name, state in items:
        log.add("CoreShowChannel", ActionID="coreshowchannels-1", **snapshot(uid, name, state),
                Application="Wait", ApplicationData="30", Duration="00:01:05", BridgeId="")
    log.add("CoreShowChannelsComplete", ActionID="coreshowchannels-1", EventList="Complete",
            ListItems=str(len(items)))


def test_core_show_channels_closes_the_vanished_and_adds_the_unknown() -> None:
    log = Log()
    log.chan("Newchannel", "1.1", "SIP/1-01", 6)
    log.chan("Newchannel", "2.2", "SIP/2-02", 5)
    _reconnect_with_list(log, [("2.2", "SIP/2-02", 6), ("3.3", "SIP/3-03", 6)],
                         created_later=True)
    projector = replay(log.events)
    rows = by_id(projector.rows("channels", now=T0 + 1000))
    assert sorted(rows) == ["2.2", "3.3", "4.4"]  # 4.4 was born after the list began
    assert rows["2.2"]["channel_state"] == 6 and rows["2.2"]["application"] == "Wait"
    assert rows["3.3"]["application_data"] == "30"
    item_time = T0 + len(log.events) - 1  # the item before the Complete
    assert rows["3.3"]["tm_create"] == iso(item_time - 65)
    gone = projector.state("channels")["closed"]["pbx1/1.1"]
    assert gone["hangup_reason"] == channels.VANISHED and gone["hangup_cause"] is None

    # Its Hangup, queued before the list but delivered after it, still tells the cause.
    log.chan("Hangup", "1.1", "SIP/1-01", 6, Cause="17")
    closed = replay(log.events).state("channels")["closed"]["pbx1/1.1"]
    assert closed["hangup_cause"] == 17 and closed["hangup_cause_desc"] == "User busy"
    assert closed["hangup_reason"] == channels.VANISHED


def test_listed_fields_already_right_are_left_alone() -> None:
    log = Log()
    log.chan("Newchannel", "2.2", "SIP/2-02", 6)
    before = view(log, "channels")[0]
    _reconnect_with_list(log, [("2.2", "SIP/2-02", 6)], created_later=False)
    log.chan("Newchannel", "2.2", "SIP/2-02", 0)  # delivered late: the list was newer
    [after] = view(log, "channels")
    assert after["channel_state"] == 6
    assert after["tm_create"] == before["tm_create"]


def test_a_list_received_incomplete_closes_nothing() -> None:
    log = Log()
    log.chan("Newchannel", "1.1", "SIP/1-01", 6)
    log.list_start("csc-2")
    log.add("CoreShowChannelsComplete", ActionID="csc-2", EventList="Complete", ListItems="1")
    assert [r["unique_id"] for r in view(log, "channels")] == ["1.1"]


def test_a_reconnect_alone_closes_nothing_and_drops_a_cut_list() -> None:
    log = Log()
    log.chan("Newchannel", "1.1", "SIP/1-01", 6)
    log.list_start("csc-3")
    log.add("CoreShowChannel", ActionID="csc-3", **snapshot("1.1", "SIP/1-01", 6))
    log.add("ConnectionLost", Reason="EOF")
    log.banner()
    assert [r["unique_id"] for r in view(log, "channels")] == ["1.1"]
    assert replay(log.events).state("channels")["lists"] == {}


def test_two_asterisks_never_overwrite_each_other() -> None:
    log = Log()
    log.chan("Newchannel", "1.1", "SIP/a-01", 6, server="pbx1")
    log.chan("Newchannel", "1.1", "SIP/b-01", 4, server="pbx2")
    log.list_start("csc-4", server="pbx1")
    log.add("CoreShowChannelsComplete", server="pbx1", ActionID="csc-4", ListItems="0")
    rows = view(log, "channels")
    assert [(r["server"], r["channel"]) for r in rows] == [("pbx2", "SIP/b-01")]


def test_status_items_add_channels_but_never_close_any() -> None:
    log = Log()
    log.chan("Newchannel", "1.1", "SIP/1-01", 6)
    log.list_start("status-1")
    log.add("Status", ActionID="status-1", **snapshot("2.2", "SIP/2-02", 6), Application="Park",
            Data="", BridgeID="br-9", Seconds="4")
    log.add("StatusComplete", ActionID="status-1", ListItems="1")
    rows = by_id(view(log, "channels"))
    assert sorted(rows) == ["1.1", "2.2"] and rows["2.2"]["bridge_id"] == "br-9"


# ------------------------------------------------------------------------------ bridges

def test_bridges_follow_enter_leave_destroy_and_lists() -> None:
    log = Log()
    bridge = {"BridgeType": "basic", "BridgeTechnology": "simple_bridge",
              "BridgeCreator": "<unknown>", "BridgeName": "<unknown>",
              "BridgeVideoSourceMode": "none"}
    log.add("BridgeCreate", BridgeUniqueid="b1", BridgeNumChannels="0", **bridge)
    log.add("BridgeEnter", BridgeUniqueid="b1", BridgeNumChannels="1", **bridge,
            **snapshot("1.1", "SIP/1-01", 6))
    log.add("BridgeEnter", BridgeUniqueid="b1", BridgeNumChannels="2", **bridge,
            **snapshot("2.2", "SIP/2-02", 6))
    # A bridge first seen in a BridgeEnter (it predates the log) is created too.
    log.add("BridgeEnter", BridgeUniqueid="park", BridgeType="parking", BridgeNumChannels="1",
            **snapshot("3.3", "SIP/3-03", 6))
    rows = by_id(view(log, "bridges"), "bridge_id")
    assert rows["b1"]["channels"] == ["1.1", "2.2"] and rows["b1"]["bridge_num_channels"] == 2
    assert rows["park"]["bridge_type"] == "parking"

    log.add("BridgeLeave", BridgeUniqueid="b1", BridgeNumChannels="1", **bridge,
            **snapshot("1.1", "SIP/1-01", 6))
    log.list_start("bl-1")
    log.add("BridgeListItem", ActionID="bl-1", BridgeUniqueid="b1", BridgeNumChannels="1",
            **bridge)
    log.add("BridgeListItem", ActionID="bl-1", BridgeUniqueid="new", BridgeNumChannels="0",
            **bridge)
    log.add("BridgeListComplete", ActionID="bl-1", ListItems="2")
    rows = by_id(view(log, "bridges"), "bridge_id")
    assert sorted(rows) == ["b1", "new"] and rows["b1"]["channels"] == ["2.2"]

    log.add("BridgeDestroy", BridgeUniqueid="b1", **bridge)
    assert [r["bridge_id"] for r in view(log, "bridges")] == ["new"]


# ------------------------------------------------------------------------------ calls

def _originate(log: Log, uid: str, answered: bool, causes: tuple[str, str]) -> None:
    one, two = f"{uid}", f"{uid}b"
    log.chan("Newchannel", one, f"Local/{uid}@c;1", 0, linked=uid)
    log.chan("Newchannel", two, f"Local/{uid}@c;2", 4, linked=uid)
    if answered:
        log.chan("Newstate", two, f"Local/{uid}@c;2", 6, linked=uid)
        log.chan("Newstate", one, f"Local/{uid}@c;1", 6, linked=uid)
    log.chan("Hangup", one, f"Local/{uid}@c;1", 0, linked=uid, Cause=causes[0])
    log.chan("Hangup", two, f"Local/{uid}@c;2", 0, linked=uid, Cause=causes[1])


def test_calls_group_legs_by_linked_id_and_classify_the_outcome() -> None:
    log = Log()
    _originate(log, "a", True, ("16", "16"))
    _originate(log, "b", False, ("0", "17"))
    _originate(log, "c", False, ("19", "19"))
    _originate(log, "d", False, ("0", "34"))
    _originate(log, "e", False, ("1", "1"))
    rows = by_id(view(log, "calls"), "linked_id")
    assert rows["a"]["outcome"] == "answered" and rows["a"]["cause"] == 16
    assert rows["a"]["legs"] == 2 and rows["a"]["talk_time"] == 3.0
    assert rows["a"]["wait_time"] == 2.0 and rows["a"]["duration"] == 5.0
    assert (rows["b"]["outcome"], rows["b"]["cause"], rows["b"]["cause_desc"]) == (
        "busy", 17, "User busy")
    assert rows["c"]["outcome"] == "no_answer"
    assert rows["d"]["outcome"] == "congestion"
    assert rows["e"]["outcome"] == "invalid_number" and rows["e"]["talk_time"] is None
    assert set(calls.COLUMNS["calls"]) == set(rows["a"])


def test_a_live_call_ages_with_now_and_a_vanished_leg_ends_it() -> None:
    log = Log()
    log.chan("Newchannel", "x", "SIP/x-01", 6)
    [row] = view(log, "calls", now=T0 + 31)
    assert row["outcome"] == "up" and row["end"] is None and row["duration"] == 30.0
    log.list_start("csc")
    log.add("CoreShowChannelsComplete", ActionID="csc", ListItems="0")
    [row] = view(log, "calls")
    assert row["end"] is not None and row["hangup_reason"] == channels.VANISHED
    assert row["outcome"] == "answered"


def test_ended_calls_are_kept_up_to_a_bound(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(calls, "ENDED_KEPT", 3)
    log = Log()
    for i in range(5):
        _originate(log, f"c{i}", True, ("16", "16"))
    assert [r["linked_id"] for r in view(log, "calls")] == ["c2", "c3", "c4"]


# ------------------------------------------------------------------------------ devices

def test_device_states_and_their_list() -> None:
    log = Log()
    log.add("DeviceStateChange", Device="PJSIP/100", State="INUSE")
    log.add("DeviceStateChange", Device="Local/1@c", State="INUSE")
    log.add("DeviceStateChange", Device="Queue:sales_avail", State="NOT_INUSE")
    rows = by_id(view(log, "device-states"), "device")
    assert rows["Local/1@c"]["cached"] is False and rows["PJSIP/100"]["cached"] is True
    log.list_start("dsl-1")
    log.add("DeviceStateChange", ActionID="dsl-1", Device="PJSIP/100", State="NOT_INUSE")
    log.add("DeviceStateChange", ActionID="dsl-1", Device="park:701@parkedcalls",
            State="INUSE")
    log.add("DeviceStateListComplete", ActionID="dsl-1", ListItems="2")
    rows = {r["device"]: r["state"] for r in view(log, "device-states")}
    # Queue:sales_avail left the cache; Local devices are never cached, so they stay.
    assert rows == {"PJSIP/100": "NOT_INUSE", "park:701@parkedcalls": "INUSE",
                    "Local/1@c": "INUSE"}
    assert devices.is_cached("Queue:sales_pause_Local/agent1@agents")


def _csc_answer(log: Log, action_id: str, items: list[tuple[str, str]],
                server: str | None = None) -> None:
    """A `CoreShowChannels` answer listing `(uid, channel name)`, after a reconnect."""
    log.banner(server=server)
    log.list_start(action_id, server=server)
    for uid, name in items:
        log.add("CoreShowChannel", server=server, ActionID=action_id, **snapshot(uid, name, 6))
    log.add("CoreShowChannelsComplete", server=server, ActionID=action_id,
            EventList="Complete", ListItems=str(len(items)))


def _device_states(log: Log, server: str = "pbx1") -> dict[str, str]:
    return {r["device"]: r["state"] for r in view(log, "device-states") if r["server"] == server}


def test_an_uncached_device_whose_last_channel_vanished_is_not_in_use() -> None:
    """Issue 12 item 18: after an Asterisk restart (or the engine down while the calls
    ended) no event ever says a Local device is free again, and Asterisk never lists it:
    closing its last channel at reconciliation frees it."""
    log = Log()
    log.chan("Newchannel", "1.1", "Local/101@customers-00000001;1", 6)
    log.chan("Newchannel", "1.2", "Local/101@customers-00000001;2", 6)
    log.add("DeviceStateChange", Device="Local/101@customers", State="INUSE")
    log.chan("Newchannel", "2.1", "PJSIP/100-00000002", 6)
    log.add("DeviceStateChange", Device="PJSIP/100", State="INUSE")
    log.add("ConnectionLost", Reason="connection closed by Asterisk")
    _csc_answer(log, "csc-1", [])
    states = _device_states(log)
    assert states["Local/101@customers"] == "NOT_INUSE"
    assert states["PJSIP/100"] == "INUSE"  # cached: its DeviceStateList answer says
    row = by_id(view(log, "device-states"), "device")["Local/101@customers"]
    assert row["tm_update"] == iso(T0 + len(log.events))  # the answer's Complete


def test_an_uncached_device_stays_in_use_while_a_channel_of_it_is_listed() -> None:
    log = Log()
    log.chan("Newchannel", "1.1", "Local/101@customers-00000001;1", 6)
    log.chan("Newchannel", "1.2", "Local/101@customers-00000001;2", 6)
    log.chan("Newchannel", "3.1", "Local/101@customers-00000003;1", 6)
    log.add("DeviceStateChange", Device="Local/101@customers", State="INUSE")
    log.chan("Newchannel", "4.1", "Local/102@from-internal-00000004;1", 6)
    log.add("DeviceStateChange", Device="Local/102@from-internal", State="INUSE")
    _csc_answer(log, "csc-1", [("3.1", "Local/101@customers-00000003;1")])
    states = _device_states(log)
    assert states == {"Local/101@customers": "INUSE", "Local/102@from-internal": "NOT_INUSE"}

    # listed, then gone at the next reconnect: free too; a short answer closes nothing
    log.chan("Newchannel", "5.1", "Local/103@customers-00000005;1", 6)
    log.add("DeviceStateChange", Device="Local/103@customers", State="RINGING")
    log.banner()
    log.list_start("csc-2")
    log.add("CoreShowChannelsComplete", ActionID="csc-2", EventList="Complete", ListItems="1")
    assert _device_states(log)["Local/103@customers"] == "RINGING"
    _csc_answer(log, "csc-3", [])
    assert set(_device_states(log).values()) == {"NOT_INUSE"}


def test_a_channel_born_during_the_answer_keeps_its_device_in_use() -> None:
    log = Log()
    log.chan("Newchannel", "1.1", "Local/101@customers-00000001;1", 6)
    log.add("DeviceStateChange", Device="Local/101@customers", State="INUSE")
    log.banner()
    log.list_start("csc-1")
    log.chan("Newchannel", "2.1", "Local/101@customers-00000002;1", 4)  # newer than the answer
    log.add("CoreShowChannelsComplete", ActionID="csc-1", EventList="Complete", ListItems="0")
    assert _device_states(log)["Local/101@customers"] == "INUSE"


def test_device_reconciliation_keeps_to_its_server() -> None:
    log = Log()
    for server in ("pbx1", "pbx2"):
        log.chan("Newchannel", "1.1", "Local/101@customers-00000001;1", 6, server=server)
        log.add("DeviceStateChange", server=server, Device="Local/101@customers", State="INUSE")
    _csc_answer(log, "csc-1", [], server="pbx2")
    assert _device_states(log, "pbx1") == {"Local/101@customers": "INUSE"}
    assert _device_states(log, "pbx2") == {"Local/101@customers": "NOT_INUSE"}


CALL_STEPS = st.lists(st.one_of(
    st.tuples(st.just("call"), st.integers(0, 2)),
    st.tuples(st.just("end"), st.integers(0, 99)),
    st.tuples(st.just("reconnect"), st.lists(st.booleans(), max_size=12)),
), max_size=40)


@settings(max_examples=150, deadline=None)
@given(steps=CALL_STEPS)
def test_uncached_devices_follow_their_channels_through_reconnects(steps: list) -> None:
    """Any history of Local calls (Newchannel of both halves, INUSE when a device's first
    channel comes, Hangups and NOT_INUSE when its last goes) and of reconnects during which
    some calls ended unseen, each followed by Asterisk's `CoreShowChannels` answer: after every
    answer each Local device is INUSE exactly while a call of it is up, and the channels the
    projection holds as using a device are the live ones. Fed in two parts through a
    checkpoint's JSON, the state is the same as replayed at once."""
    names = [f"Local/10{i}@customers" for i in range(3)]
    log = Log()
    live: list[tuple[int, list[str]]] = []  # (device index, its legs' uids), in call order
    serial = 0

    def in_use(i: int) -> bool:
        return any(d == i for d, _ in live)

    def check() -> None:
        projector = replay(log.events)
        states = _device_states(log)
        for i, name in enumerate(names):
            if name in states:
                assert states[name] == ("INUSE" if in_use(i) else "NOT_INUSE"), (name, live)
        held = projector.state("devices")["channels"]
        assert sorted(held) == sorted(f"pbx1/{u}" for _, legs in live for u in legs)

    for step in steps:
        if step[0] == "call":
            serial += 1
            i = step[1]
            was = in_use(i)
            legs = [f"{serial}.1", f"{serial}.2"]
            for n, uid in enumerate(legs, 1):
                log.chan("Newchannel", uid, f"{names[i]}-{serial:08x};{n}", 6)
            live.append((i, legs))
            if not was:
                log.add("DeviceStateChange", Device=names[i], State="INUSE")
        elif step[0] == "end" and live:
            i, legs = live.pop(step[1] % len(live))
            for n, uid in enumerate(legs, 1):
                log.chan("Hangup", uid, f"{names[i]}-x;{n}", 6, Cause="16")
            if not in_use(i):
                log.add("DeviceStateChange", Device=names[i], State="NOT_INUSE")
        elif step[0] == "reconnect":
            log.add("ConnectionLost", Reason="connection closed by Asterisk")
            ended = step[1] + [False] * len(live)
            live = [call for call, gone in zip(live, ended, strict=False) if not gone]
            serial += 1
            _csc_answer(log, f"csc-{serial}", [
                (uid, f"{names[i]}-{serial:08x};1") for i, legs in live for uid in legs])
            check()
    if steps:
        check()

    half = len(log.events) // 2
    state = devices.initial()
    for event in log.events[:half]:
        state = devices.apply(state, event)
    state = json.loads(encode_state(state))  # what a checkpoint gives back
    for event in log.events[half:]:
        state = devices.apply(state, event)
    assert encode_state(state) == replay(log.events).serialize("devices")


# ------------------------------------------------------------------------------ peers

def test_peer_status_and_sip_peer_list() -> None:
    log = Log()
    log.add("PeerStatus", ChannelType="SIP", Peer="SIP/300", PeerStatus="Registered",
            Address="10.0.0.5:5060")
    log.add("PeerStatus", ChannelType="SIP", Peer="SIP/300", PeerStatus="Reachable", Time="22")
    log.add("PeerStatus", ChannelType="PJSIP", Peer="PJSIP/6001", PeerStatus="Unreachable")
    rows = by_id(view(log, "peers"), "peer")
    assert rows["SIP/300"]["status"] == "Registered"
    assert rows["SIP/300"]["monitor_status"] == "OK (22 ms)"
    assert rows["SIP/300"]["address"] == "10.0.0.5:5060"
    assert rows["PJSIP/6001"]["monitor_status"] == "UNREACHABLE"

    log.add("PeerStatus", ChannelType="SIP", Peer="SIP/301", PeerStatus="Registered")
    log.list_start("sp-1")
    log.add("PeerEntry", ActionID="sp-1", Channeltype="SIP", ObjectName="300",
            ChanObjectType="peer", IPaddress="10.0.0.5", IPport="5060", Dynamic="yes",
            Status="OK (20 ms)", VideoSupport="no", TextSupport="no", ACL="no",
            Description="", RealtimeDevice="no")
    log.add("PeerlistComplete", ActionID="sp-1", ListItems="1")
    rows = by_id(view(log, "peers"), "peer")
    assert sorted(rows) == ["PJSIP/6001", "SIP/300"]  # SIP/301 vanished; PJSIP untouched
    assert rows["SIP/300"]["monitor_status"] == "OK (20 ms)"
    assert rows["SIP/300"]["dynamic"] == "yes" and rows["SIP/300"]["chan_object_type"] == "peer"


def test_pjsip_endpoints_contacts_aors_and_registrations() -> None:
    log = Log()
    log.list_start("ep-1")
    for name in ("6001", "6002"):
        log.add("EndpointList", ActionID="ep-1", ObjectType="endpoint", ObjectName=name,
                Transport="udp", Aor=name, Auths=name, OutboundAuths="",
                DeviceState="Not in use", ActiveChannels="0", Contacts="")
    log.add("EndpointListComplete", ActionID="ep-1", ListItems="2")
    log.add("EndpointDetail", ActionID="ep-2", ObjectType="endpoint", ObjectName="6001",
            Context="from-internal", DtmfMode="rfc4733", RtpIpv6="false", Callerid="Bob <6001>",
            **{"100rel": "yes"}, G726NonStandard="no", TimersSessExpires="1800")
    log.add("ContactStatus", URI="sip:6001@10.0.0.7:5060", ContactStatus="Created",
            AOR="6001", EndpointName="6001", RoundtripUsec="N/A")
    log.add("ContactStatus", URI="sip:6001@10.0.0.7:5060", ContactStatus="Reachable",
            AOR="6001", EndpointName="6001", RoundtripUsec="1234")
    log.add("AorDetail", ObjectType="aor", ObjectName="6001", MaxContacts="1",
            TotalContacts="1", ContactsRegistered="1", EndpointName="6001",
            QualifyTimeout="3.000000")
    log.add("Registry", ChannelType="PJSIP", Username="sip:me@prov", Domain="sip:prov:5061",
            Status="Registered")
    projector = replay(log.events)
    endpoints = by_id(projector.rows("endpoints"), "object_name")
    assert sorted(endpoints) == ["6001", "6002"]
    e = endpoints["6001"]
    assert (e["context"], e["dtmf_mode"], e["rtp_ipv6"], e["caller_id"]) == (
        "from-internal", "rfc4733", "false", "Bob <6001>")
    assert e["rel_100"] == "yes" and e["g_726_non_standard"] == "no"
    assert e["timers_sess_expires"] == 1800 and e["aors"] == "6001" and e["auth"] == "6001"
    assert e["device_state"] == "Not in use"
    [contact] = projector.rows("contacts")
    assert (contact["status"], contact["round_trip_usec"], contact["aor"]) == (
        "Reachable", "1234", "6001")
    [aor] = projector.rows("aors")
    assert aor["max_contacts"] == 1 and aor["qualify_timeout"] == 3
    [registry] = projector.rows("registries")
    assert registry["state"] == "Registered" and registry["account"] == "me@prov:5061"
    assert (registry["username"], registry["domain"], registry["host"], registry["port"]) == (
        "me", "prov", "prov", 5061)

    log.add("ContactStatus", URI="sip:6001@10.0.0.7:5060", ContactStatus="Removed",
            AOR="6001", EndpointName="6001")
    assert view(log, "contacts") == []
    assert peers.snake("T38UdptlMaxdatagram") == "t38_udptl_maxdatagram"


# ------------------------------------------------------------------------------ agents

def test_agents_login_calls_and_logoff() -> None:
    log = Log()
    log.list_start("ag-1")
    log.add("Agents", ActionID="ag-1", Agent="1001", Name="Alice", Status="AGENT_LOGGEDOFF")
    log.add("Agents", ActionID="ag-1", Agent="1002", Name="Bob", Status="AGENT_LOGGEDOFF")
    log.add("AgentsComplete", ActionID="ag-1", ListItems="2")
    log.add("AgentLogin", Agent="1001", **snapshot("7.7", "PJSIP/alice-01", 6))
    rows = by_id(view(log, "agents"), "id")
    alice = rows["1001"]
    assert alice["status"] == "AGENT_IDLE" and alice["name"] == "Alice"
    assert alice["channel_name"] == "PJSIP/alice-01" and alice["channel_state"] == 6
    assert alice["logged_in_time"] == int(T0 + len(log.events))
    log.add("AgentConnect", Interface="Agent/1001", MemberName="Alice", Queue="sales")
    assert by_id(view(log, "agents"), "id")["1001"]["status"] == "AGENT_ONCALL"
    log.add("AgentComplete", Interface="Agent/1001", MemberName="Alice", Queue="sales")
    assert by_id(view(log, "agents"), "id")["1001"]["status"] == "AGENT_IDLE"
    log.add("AgentLogoff", Agent="1001", Logintime="60", **snapshot("7.7", "PJSIP/alice-01", 6))
    alice = by_id(view(log, "agents"), "id")["1001"]
    assert alice["status"] == "AGENT_LOGGEDOFF" and alice["channel_name"] == ""
    assert set(agents.COLUMNS["agents"]) == set(alice)


# ------------------------------------------------------------------------------ systems

def test_systems_from_session_events_and_core_answers() -> None:
    log = Log()
    log.banner()
    log.add("FullyBooted", Uptime="30", LastReload="10", Status="Fully Booted")
    log.add("Response", Response="Success", ActionID="cs-1", AMIversion="11.0.0",
            AsteriskVersion="22.1.0", SystemName="pbx-a", CoreMaxCalls="0",
            CoreMaxLoadAvg="0.000000", CoreRunUser="asterisk", CoreRunGroup="asterisk",
            CoreMaxFilehandles="1024", CoreRealTimeEnabled="No", CoreCDRenabled="Yes",
            CoreHTTPenabled="No")
    log.add("Response", Response="Success", ActionID="cs-2", CoreStartupDate="2026-11-22",
            CoreStartupTime="15:32:36", CoreReloadDate="2026-11-22", CoreReloadTime="15:32:36",
            CoreCurrentCalls="3", CoreProcessedCalls="6")
    [row] = view(log, "systems")
    assert (row["ast_version"], row["system_name"], row["current_calls"]) == (
        "22.1.0", "pbx-a", 3)
    assert row["connected"] and row["fully_booted"] and row["uptime"] == 30
    assert row["max_load_avg"] == 0.0 and row["startup_time"] == "15:32:36"
    log.add("ConnectionLost", Reason="EOF")
    [row] = view(log, "systems")
    assert not row["connected"] and row["disconnect_reason"] == "EOF"
    assert set(systems.COLUMNS["systems"]) == set(row)


# ------------------------------------------------------------------------------ q850

def test_q850_texts_are_asterisks() -> None:
    assert q850.cause_desc(127) == "Interworking, unspecified"
    assert q850.cause_desc(16) == "Normal Clearing"
    assert q850.cause_desc(0) == "Unknown" and q850.cause_desc(None) is None
    assert q850.cause_name(17) == "USER_BUSY" and q850.seed_text(18) == "No user response"
