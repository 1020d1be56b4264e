"""The emulated parts of Asterisk (engine/ami/asterisk_*.py) answer as the recorded Asterisk 22
did: each recorded action of batch2/voicemail, modules and agi is sent to the part built from
the recording's start, in order, and its answer must be the recorded one (ActionID and clock
headers aside): the same messages, the same events, the same state changes seen by the next
listing."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.ami.asterisk_agi import AsyncAgi
from engine.ami.asterisk_modules import Modules, table_line
from engine.ami.asterisk_voicemail import Voicemail, demo_mailboxes
from engine.ami.emulated import Part, Reply
from engine.ami.protocol import parse_action
from engine.capture import read_lines
from tests.captures import CAPTURES

BATCH2 = CAPTURES / "batch2"
CLOCK = ("Timestamp", "ActionID", "Privilege")


def messages(blob: bytes) -> list[dict]:
    """AMI messages as header dicts, clock and ActionID left out."""
    out = []
    for text in blob.decode().split("\r\n\r\n"):
        if text:
            out.append({k: v for k, v in parse_action(text + "\r\n").items() if k not in CLOCK})
    return out


def recorded(path: Path) -> list[tuple[dict, list[dict]]]:
    """Each action the recording sent, with the messages that carry its ActionID."""
    lines = read_lines(path)
    actions: list[tuple[dict, list[dict]]] = []
    by_id: dict[str, list[dict]] = {}
    for line in lines:
        headers = parse_action(line.raw)
        aid = headers.get("ActionID", "")
        if line.dir == "out":
            answer: list[dict] = []
            actions.append((headers, answer))
            by_id[aid] = answer
        elif aid in by_id:
            by_id[aid].append({k: v for k, v in headers.items() if k not in CLOCK})
    return actions


def ask(part: Part, action: dict) -> Reply | None:
    return part.answer(action["Action"].lower(), action, action.get("ActionID", ""))


def test_voicemail_answers_every_box_action_as_recorded(tmp_path: Path) -> None:
    """Box summaries before and after a move and a removal, the failed removal of an unknown
    id (a `Response: Success` with the stray line feed), the MessageWaiting each change
    sends: all as recorded. The spool follows."""
    path = BATCH2 / "voicemail.jsonl"
    spool = tmp_path / "spool"
    part = Voicemail.from_capture(path, spool)
    checked = 0
    for action, answer in recorded(path):
        name = action["Action"]
        if name not in ("VoicemailBoxSummary", "VoicemailMove", "VoicemailRemove",
                        "MailboxStatus"):
            continue
        reply = ask(part, action)
        assert reply is not None, name
        assert messages(reply.response) == answer, name
        checked += 1
        if name in ("VoicemailMove", "VoicemailRemove") and "successful" in str(answer):
            [waiting] = messages(b"".join(reply.events))
            assert waiting["Event"] == "MessageWaiting" and waiting["Mailbox"] == "100@default"
    assert checked == 7
    inbox = sorted(p.name for p in (spool / "default/100/INBOX").iterdir())
    old = sorted(p.name for p in (spool / "default/100/Old").iterdir())
    assert inbox == ["msg0000.txt", "msg0000.wav"]
    assert old == ["msg0000.txt", "msg0000.wav"]
    assert "msg_id=1796665000-00000000" in (spool / "default/100/Old/msg0000.txt").read_text()


def test_voicemail_lists_users_as_recorded() -> None:
    """The recorded entry of mailbox 100 (the recording summarized its box), field by field
    and in order; a server without mailboxes acknowledges instead of listing."""
    path = BATCH2 / "voicemail.jsonl"
    part = Voicemail.from_capture(path)
    action, answer = next(a for a in recorded(path) if a[0]["Action"] == "VoicemailUsersList")
    reply = ask(part, action)
    assert reply is not None
    got = messages(reply.response)
    assert got[0] == answer[0] and got[1] == answer[1]
    assert list(got[1]) == list(answer[1])
    assert got[-1] == answer[-1]
    empty = ask(Voicemail(), {"Action": "VoicemailUsersList", "ActionID": "1"})
    assert empty is not None and messages(empty.response) == [
        {"Response": "Success", "Message": "There are no voicemail users currently defined."}]


def test_voicemail_refuses_what_asterisk_refuses() -> None:
    part = Voicemail(demo_mailboxes())
    cases = {
        ("VoicemailBoxSummary", ("Context", "default")):
            ("Error", "Need 'Context' and 'Mailbox' parameters."),
        ("VoicemailBoxSummary", ("Context", "default"), ("Mailbox", "999")):
            ("Success", "There is no voicemail user matching the given user."),
        ("VoicemailMove", ("Mailbox", "100"), ("Context", "default"), ("Folder", "INBOX")):
            ("Error", "ID not specified, required"),
        ("VoicemailMove", ("Mailbox", "100"), ("Context", "default"), ("Folder", "Old"),
         ("ID", "1796660000-00000000"), ("ToFolder", "Work")):
            ("Success", "Message move failed\n"),  # it is in INBOX, not Old
    }
    for (name, *headers), (status, text) in cases.items():
        reply = ask(part, {"Action": name, **dict(headers)})
        assert reply is not None
        assert messages(reply.response) == [{"Response": status, "Message": text}]


def test_modules_answer_every_recorded_action_as_recorded() -> None:
    """module show like, ModuleCheck of a loaded and a missing module, unload (then the
    check fails), load, reload, a load of a module that is not installed: responses and
    their Unload/Load/Reload events as recorded."""
    path = BATCH2 / "modules.jsonl"
    part = Modules.from_capture(path)
    lines = read_lines(path)
    events = [{k: v for k, v in parse_action(line.raw).items() if k not in CLOCK}
              for line in lines if line.raw.startswith(("Event: Load", "Event: Unload",
                                                        "Event: Reload"))]
    sent_events: list[dict] = []
    checked = 0
    for action, answer in recorded(path):
        if action["Action"] not in ("ModuleCheck", "ModuleLoad", "Command") or (
                action["Action"] == "Command" and "module" not in action["Command"]):
            continue
        reply = ask(part, action)
        assert reply is not None
        assert messages(reply.response) == answer, action
        sent_events += messages(b"".join(reply.events))
        checked += 1
    assert checked == 8
    assert sent_events == events


def test_module_show_prints_the_cli_table() -> None:
    """main/cli.c's `%-30s %-40.40s %-10d %-11s %13s`: a long description is cut at 40."""
    line = table_line(("app_queue.so", "True Call Queueing" * 3, "0", "Running", "core"))
    assert line[:31] == "app_queue.so" + " " * 19
    assert line[31:71] == ("True Call Queueing" * 3)[:40]
    assert line.endswith("Running              core")


def agi_replayed_to(path: Path, stop: str) -> tuple[AsyncAgi, list[tuple[dict, list[dict]]]]:
    """The AGI part having observed the recording up to its first line containing `stop`."""
    part = AsyncAgi()
    for line in read_lines(path):
        if stop in line.raw:
            break
        if line.dir == "in":
            part.observe(line.raw)
    return part, recorded(path)


def test_agi_commands_are_reported_as_recorded() -> None:
    """Each AGI action on the recorded channel: the queued ack, then AGIExecStart/End and an
    AsyncAGIExec with the action's CommandID and the recorded URL-encoded result; ASYNCAGI
    BREAK ends the session (AsyncAGIEnd), and a channel that does not exist is refused."""
    path = BATCH2 / "agi.jsonl"
    part, actions = agi_replayed_to(path, "Action: AGI")
    lines = [parse_action(line.raw) for line in read_lines(path) if line.dir == "in"]
    reports = {h["CommandId"]: h for h in lines if h.get("Event") == "AsyncAGIExec"}
    checked = 0
    for action, answer in actions:
        if action["Action"] != "AGI":
            continue
        reply = ask(part, action)
        assert reply is not None
        assert messages(reply.response) == answer
        checked += 1
        if answer[0]["Response"] == "Error":
            assert answer[0]["Message"] == "Channel Local/none-00000000;1 does not exist."
            continue
        sent = messages(b"".join(reply.events))
        report = next(e for e in sent if e["Event"] == "AsyncAGIExec")
        assert report["CommandId"] == action["CommandID"]
        assert report["Result"] == reports[action["CommandID"]]["Result"]
        assert [e["Event"] for e in sent][:1] == ["AGIExecStart"]
        if action["Command"] == "ASYNCAGI BREAK":
            assert sent[-1]["Event"] == "AsyncAGIEnd"
    assert checked == 7
    assert part.sessions == {}


def test_agi_on_a_channel_not_in_agi_is_refused_as_res_agi_does() -> None:
    part = AsyncAgi(exists=lambda name: name == "SIP/up-1")
    for channel, text in (("SIP/up-1", "Failed to add AGI command to channel SIP/up-1 queue"),
                          ("SIP/gone-1", "Channel SIP/gone-1 does not exist.")):
        reply = ask(part, {"Action": "AGI", "Channel": channel, "Command": "ANSWER"})
        assert reply is not None and messages(reply.response) == [
            {"Response": "Error", "Message": text}]
    reply = ask(part, {"Action": "AGI", "Channel": "SIP/up-1"})
    assert reply is not None and messages(reply.response) == [
        {"Response": "Error", "Message": "Both, Channel and Command are *required*"}]


@pytest.mark.parametrize("name", ["coreshowchannels", "originate", "queuestatus"])
def test_parts_leave_other_actions_alone(name: str) -> None:
    for part in (Voicemail(demo_mailboxes()), Modules.demo(), AsyncAgi()):
        assert part.answer(name, {"Action": name}, "1") is None
    assert Modules.demo().answer("command", {"Command": "core show uptime"}, "1") is None
