"""Voicemail: the `voicemail` projection over the recorded session (batch2/voicemail.jsonl) and,
model-based, against the emulated app_voicemail; `/voicemail/*` end to end on the simulated PBX
writing a real spool, and against the test server replaying the recording."""

from __future__ import annotations

import functools
from collections.abc import Iterator
from pathlib import Path
from typing import get_args

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from api.app import startup
from api.voicemail import Folder
from engine.ami.asterisk_voicemail import Voicemail, demo_mailboxes
from engine.ami.emulated import Reply
from engine.ami.protocol import parse_headers
from engine.ami.simulator import PbxSimulator
from engine.capture import capture_events
from engine.commands import FAILED, REQUESTED, SUCCEEDED, acked_refusal
from engine.envelope import NewEvent
from engine.spool import FOLDERS
from projections import voicemail
from tests.captures import CAPTURES, positioned
from tests.live import Live, paused_live

VOICEMAIL = CAPTURES / "batch2" / "voicemail.jsonl"
T = "2026-12-07T20:10:42.000000+00:00"
BOX = {"context": "default", "mailbox": "100"}


def users_over_time() -> list[list[tuple[str, int | None, int | None, int | None]]]:
    state = voicemail.initial()
    seen = []
    for event in positioned(capture_events(VOICEMAIL, "pbx1")):
        voicemail.apply(state, event)
        rows = [(r["id"], r["new_message_count"], r["old_message_count"], r["waiting"])
                for r in voicemail.user_rows(state, 0)]
        if not seen or rows != seen[-1]:
            seen.append(rows)
    return seen


def test_the_recorded_session_users_counts_and_message_waiting() -> None:
    """Listed on connect (seed field names), 102 added by a reload and listed, the move, the
    removal and a new message seen through MessageWaiting, 102 gone from the last list. The
    box summaries of the recording are some other client's: no messages are guessed from
    them."""
    bob, carol = ("101@default", 1, 0, 1), ("102@default", 0, 0, 0)
    assert users_over_time() == [
        [], [("100@default", 2, 1, 1)], [("100@default", 2, 1, 1), bob],
        [("100@default", 2, 1, 1), bob, carol],
        [("100@default", 1, 2, 1), bob, carol],  # moved from INBOX to Old
        [("100@default", 1, 1, 1), bob, carol],  # removed from Old
        [("100@default", 2, 1, 1), bob, carol],  # a caller left a message
        [("100@default", 2, 1, 1), bob],  # 102 deleted from voicemail.conf
    ]
    state = voicemail.initial()
    for event in positioned(capture_events(VOICEMAIL, "pbx1")):
        voicemail.apply(state, event)
    assert voicemail.message_rows(state, 0) == []
    [alice, _] = voicemail.user_rows(state, 0)
    assert list(alice) == list(voicemail.COLUMNS["voicemail-users"])
    assert (alice["full_name"], alice["email"], alice["volume_gain"], alice["imap_user"],
            alice["max_message_length"], alice["say_envelope"]) == (
        "Alice Agent", "alice@example.com", 0.0, "", 10, "Yes")


def news(reply: Reply) -> list[NewEvent]:
    out = []
    for blob in (reply.response, *reply.events):
        for text in blob.decode().split("\r\n\r\n"):
            if text:
                message = parse_headers(text)
                out.append(NewEvent("ami/pbx1/s", 0, message.type, T, "pbx1", message.headers))
    return out


class Box:
    """The projection fed what app_voicemail (emulated) answers to commands, as the log
    would hold them: the request, Asterisk's messages, the outcome."""

    def __init__(self) -> None:
        self.part = Voicemail(demo_mailboxes())
        self.state = voicemail.initial()
        self.position = 0
        self.commands = 0

    def command(self, action: dict[str, str]) -> str:
        self.commands += 1
        cid = f"c{self.commands}"
        reply = self.part.answer(action["Action"].lower(), action, f"cmd-{cid}")
        assert reply is not None
        answer = news(reply)
        message = str(answer[0].data.get("Message", "")).strip()
        ok = answer[0].data["Response"] == "Success" and acked_refusal(message) is None
        stream = f"command/{cid}"
        events = [NewEvent(stream, 0, REQUESTED, T, "pbx1", {"id": cid, "action": action}),
                  *answer, NewEvent(stream, 1, SUCCEEDED if ok else FAILED, T, "pbx1",
                                    {"id": cid})]
        for event in positioned(events, self.position + 1):
            voicemail.apply(self.state, event)
        self.position += len(events)
        return message

    def listed(self) -> list[tuple[str, str]]:
        return [(r["msg_id"], r["dir"]) for r in voicemail.message_rows(self.state, 0)]

    def truth(self) -> list[tuple[str, str]]:
        """Asterisk's order: folder by folder, each in file order."""
        messages = self.part.boxes[("default", "100")].messages
        return [(m.id, m.folder) for folder in FOLDERS for m in messages
                if m.folder == folder]


SUMMARY = {"Action": "VoicemailBoxSummary", "Context": "default", "Mailbox": "100"}


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["move", "remove", "list", "stale"]),
                          st.integers(0, 9), st.sampled_from(FOLDERS[:4])), max_size=15))
def test_the_box_follows_app_voicemail_through_moves_and_removals(
        ops: list[tuple[str, int, str]]) -> None:
    """Model-based: after a listing, every move and removal Asterisk accepted (and none it
    refused: an id no longer where it was, answered 'failed' as a success) leaves the
    projected box exactly as app_voicemail's, in its order, listed again or not."""
    box = Box()
    box.command(SUMMARY)
    assert box.listed() == box.truth()
    for op, n, folder in ops:
        messages = box.part.boxes[("default", "100")].messages
        if op == "list":
            box.command(SUMMARY)
        elif messages:
            target = messages[n % len(messages)]
            where = "Urgent" if op == "stale" else target.folder  # "stale": the wrong folder
            action = {"Action": "VoicemailRemove" if op in ("remove", "stale") else
                      "VoicemailMove", "Mailbox": "100", "Context": "default",
                      "Folder": where, "ID": target.id}
            if op == "move":
                action["ToFolder"] = folder
            said = box.command(action)
            assert said.endswith("failed") == (op == "stale")
        assert box.listed() == box.truth()


def test_box_answers_that_cannot_speak_for_the_box_change_nothing() -> None:
    """An answer short of its ListItems leaves the last listing; an unknown mailbox empties
    it; a server without users drops them all; another client's summary is not ours."""
    box = Box()
    box.command(SUMMARY)
    before = box.listed()
    cut = [NewEvent("command/x", 0, REQUESTED, T, "pbx1", {"id": "x", "action": SUMMARY}),
           NewEvent("ami/pbx1/s", 1, "Response", T, "pbx1", {
               "Response": "Success", "ActionID": "cmd-x", "EventList": "start"}),
           NewEvent("ami/pbx1/s", 2, "VoicemailBoxDetailComplete", T, "pbx1", {
               "ActionID": "cmd-x", "EventList": "Complete", "ListItems": "3"})]
    for event in positioned(cut, 1000):
        voicemail.apply(box.state, event)
    assert box.listed() == before
    gone = NewEvent("ami/pbx1/s", 3, "Response", T, "pbx1", {
        "Response": "Success", "ActionID": "cmd-y",
        "Message": "There is no voicemail user matching the given user."})
    for event in positioned([NewEvent("command/y", 0, REQUESTED, T, "pbx1", {
            "id": "y", "action": SUMMARY}), gone], 2000):
        voicemail.apply(box.state, event)
    assert box.listed() == []
    listed_users = Box()
    listed_users.command({"Action": "VoicemailUsersList"})
    assert [u["id"] for u in voicemail.user_rows(listed_users.state, 0)] == [
        "100@default", "101@default"]
    listed_users.part.boxes.clear()
    listed_users.command({"Action": "VoicemailUsersList"})
    assert voicemail.user_rows(listed_users.state, 0) == []


# ------------------------------------------------------------------------------ end to end

ADMIN = ("root", "root-secret")


@pytest.fixture
def pbx(tmp_path: Path) -> Iterator[tuple[Live, httpx.Client, Path]]:
    """The simulated PBX with the recordings' mailboxes, writing its spool where
    `voicemail.spool` points; access control on, with an admin."""
    spool = tmp_path / "spool"
    config = {"voicemail": {"spool": str(spool)},
              "auth": {"initial_admin": ADMIN[0], "initial_password": ADMIN[1]}}
    simulator = functools.partial(PbxSimulator, voicemail_spool=spool)
    with Live(f"sqlite:///{tmp_path / 'log.db'}", [None], config=config,
              asterisk=simulator) as live, httpx.Client(base_url=live.url, timeout=10) as client:
        assert live.call(startup(live.engine, "127.0.0.1")) is None  # type: ignore[arg-type]
        live.connected()
        live.settled()
        token = client.post("/admin/login", auth=ADMIN).json()["result"]["authtoken"]
        client.headers["Authorization"] = f"Bearer {token}"
        yield live, client, spool


def as_viewer(client: httpx.Client) -> dict[str, str]:
    made = client.post("/admin/users", json={"name": "val", "password": "val-password",
                                             "role": "viewer"})
    assert made.status_code == 200, made.text
    token = client.post("/admin/login", auth=("val", "val-password"),
                        headers={"Authorization": ""}).json()["result"]["authtoken"]
    return {"Authorization": f"Bearer {token}"}


def test_users_with_their_pin_for_admins_only(pbx: tuple[Live, httpx.Client, Path]) -> None:
    live, client, _ = pbx
    listed = client.get("/voicemail/users").json()["result"]["list"]
    assert [(u["id"], u["full_name"], u["new_message_count"], u["waiting"]) for u in listed] \
        == [("100@default", "Alice Agent", 2, 1), ("101@default", "Bob Agent", 1, 1)]
    # not in AMI: the PIN of each mailbox's line in voicemail.conf, as the config view has it
    assert [u["password"] for u in listed] == ["1234", "4321"]
    viewer = as_viewer(client)
    for user in client.get("/voicemail/users", headers=viewer).json()["result"]["list"]:
        assert user["password"] == "(redacted)"
    one = client.get("/voicemail/users/100%40default", headers=viewer)
    assert one.status_code == 200 and one.json()["result"]["password"] == "(redacted)"
    assert client.get("/voicemail/users/999%40default").status_code == 404
    assert client.delete("/voicemail/vms/x", headers=viewer, params=BOX).status_code == 403


def test_messages_list_download_move_and_remove(pbx: tuple[Live, httpx.Client, Path]) -> None:
    """The box as Asterisk lists it, completed from the spool; the audio of a message by
    its msg_id and by the seed's msgNNNN name; a move and a removal, each a command in the
    log and visible in the next listing and in the users' counts."""
    live, client, spool = pbx
    listed = client.get("/voicemail/vms", params=BOX)
    assert listed.status_code == 200, listed.text
    rows = listed.json()["result"]["list"]
    assert [(m["msg_id"], m["dir"], m["status"], m["msgname"]) for m in rows] == [
        ("1796660000-00000000", "INBOX", "unread", "msg0000"),
        ("1796660600-00000001", "INBOX", "unread", "msg0001"),
        ("1796665000-00000000", "Old", "read", "msg0000")]
    assert rows[0]["callerid"] == '"Customer 0" <5550100>' and rows[0]["duration"] == "3"
    assert (rows[0]["origmailbox"], rows[0]["origtime"], rows[0]["exten"]) == (
        "100", "1796660000", "vm")
    first = rows[0]["msg_id"]
    audio = client.get(f"/voicemail/vms/{first}", params=BOX)
    assert audio.status_code == 200
    assert audio.headers["content-type"] == "application/octet-stream"
    assert audio.headers["content-disposition"] == 'attachment; filename="msg0000.wav"'
    assert audio.content == (spool / "default/100/INBOX/msg0000.wav").read_bytes()
    assert audio.content.startswith(b"RIFF") and audio.content.endswith(first.encode())
    by_name = client.get("/voicemail/vms/msg0001", params={**BOX, "dir": "INBOX"})
    assert by_name.content.endswith(b"1796660600-00000001")

    moved = client.put(f"/voicemail/vms/{first}", params=BOX, json={"dir": "Old"})
    assert moved.status_code == 200, moved.text
    assert moved.json()["result"]["message"] == "Message move successful"
    after = client.get("/voicemail/vms", params=BOX).json()["result"]["list"]
    assert [(m["msg_id"], m["dir"], m["msgname"]) for m in after] == [
        ("1796660600-00000001", "INBOX", "msg0000"), ("1796665000-00000000", "Old", "msg0000"),
        (first, "Old", "msg0001")]
    removed = client.delete("/voicemail/vms/msg0000", params={**BOX, "dir": "Old"})
    assert removed.status_code == 200, removed.text
    assert removed.json()["result"]["message"] == "Message remove successful"
    live.settled()
    after = client.get("/voicemail/vms", params=BOX).json()["result"]["list"]
    assert [m["msg_id"] for m in after] == ["1796660600-00000001", first]
    alice = client.get("/voicemail/users/100%40default").json()["result"]
    assert (alice["new_message_count"], alice["old_message_count"]) == (1, 1)
    events = list(live.engine.store.iter_all())  # type: ignore[union-attr]
    asked = [(e.data["command"], e.data["action"].get("ID")) for e in events
             if e.type == REQUESTED]
    assert ("voicemail_move", first) in asked
    assert ("voicemail_remove", "1796665000-00000000") in asked
    assert [e.type for e in events if e.type == "MessageWaiting"] == ["MessageWaiting"] * 2


def test_what_the_box_does_not_hold_is_refused(pbx: tuple[Live, httpx.Client, Path]) -> None:
    live, client, _ = pbx
    missing = client.delete("/voicemail/vms/1700000000-00000009", params=BOX)
    assert missing.status_code == 404
    assert missing.json()["error"]["message"] == (
        "no message '1700000000-00000009' in 100@default")
    nobody = client.get("/voicemail/vms", params={"context": "default", "mailbox": "999"})
    assert nobody.status_code == 404
    assert nobody.json()["error"]["message"] == (
        "There is no voicemail user matching the given user.")
    for params in ({"context": "default"}, {"mailbox": "100"}, {**BOX, "dir": "Nowhere"},
                   {**BOX, "folder": "INBOX"}):
        assert client.get("/voicemail/vms/msg0000", params=params).status_code == 400
    traversal = client.get("/voicemail/vms/msg0000",
                           params={"context": "..", "mailbox": "..", "dir": "INBOX"})
    assert traversal.status_code == 400
    assert client.get("/voicemail/vms/..%2F..%2Fsecret",
                      params={**BOX, "dir": "INBOX"}).status_code == 404
    for body in ({}, {"dir": "Nowhere"}, {"dir": "Old", "x": 1}, {"dir": 5}):
        assert client.put("/voicemail/vms/1796660000-00000000", params=BOX,
                          json=body).status_code == 400
    assert [e for e in live.engine.store.iter_all()  # type: ignore[union-attr]
            if e.type == REQUESTED and e.data["command"] != "voicemail_list"] == []


def test_downloads_without_a_spool_say_why_and_the_recording_answers(tmp_path: Path) -> None:
    """Against the test server replaying voicemail.jsonl (no spool configured): the audio is a
    501 that says what to set; the box, its move and its removal are answered by the test
    server's voicemail part as the recording did."""
    with paused_live(tmp_path, [VOICEMAIL]) as live, \
            httpx.Client(base_url=live.url, timeout=10) as client:
        refused = client.get("/voicemail/vms/1796660000-00000000", params=BOX)
        assert refused.status_code == 501
        assert "voicemail.spool is not set" in refused.json()["error"]["message"]
        rows = client.get("/voicemail/vms", params=BOX).json()["result"]["list"]
        assert [(m["msg_id"], m["dir"], m["msgname"]) for m in rows] == [
            ("1796660000-00000000", "INBOX", None), ("1796660600-00000001", "INBOX", None),
            ("1796665000-00000000", "Old", None)]
        moved = client.put("/voicemail/vms/1796660000-00000000", params=BOX,
                           json={"dir": "Old"})
        assert moved.json()["result"]["message"] == "Message move successful"
        stale = client.delete("/voicemail/vms/1796660000-00000000",
                              params={**BOX, "dir": "INBOX"})
        assert stale.status_code == 404  # it is in Old now
        gone = client.delete("/voicemail/vms/1796660000-00000000", params=BOX)
        assert gone.status_code == 200
        after = client.get("/voicemail/vms", params=BOX).json()["result"]["list"]
        assert [m["msg_id"] for m in after] == ["1796660600-00000001", "1796665000-00000000"]
        named = client.delete("/voicemail/vms/msg0000", params={**BOX, "dir": "INBOX"})
        assert named.status_code == 404
        assert "msg_id" in named.json()["error"]["message"]


def test_a_move_names_app_voicemails_folders() -> None:
    assert get_args(Folder) == FOLDERS
