"""Asterisk's voicemail (app_voicemail), emulated: mailboxes, their messages, and the spool.

As Asterisk 22 answers (tests/ami-captures/batch2/voicemail.jsonl, apps/app_voicemail.c):
- `VoicemailUsersList`: a `VoicemailUserEntry` per mailbox; with none, the bare ack "There are
  no voicemail users currently defined.". `VoicemailUserStatus` (`Context`, `Mailbox`): the
  one `VoicemailUserDetail`.
- `VoicemailBoxSummary` (`Context`, `Mailbox`): a `VoicemailBoxDetail` per message, folder by
  folder (INBOX, Old, Work, ...) in file order; an unknown mailbox is the ack "There is no
  voicemail user matching the given user.".
- `VoicemailMove` (`Folder`, `ID`, `ToFolder`) and `VoicemailRemove` (`Folder`, `ID`): the
  acks "Message move successful\\n" / "Message remove successful\\n", or, when the message is
  not there, "Message move failed\\n" / "Message remove failed\\n" (a `Response: Success` too,
  with Asterisk's stray line feed), then `MessageWaiting` with the box's new counts. A moved
  message goes last in its new folder; the files of a folder are renumbered from msg0000.
- `MailboxCount`, `MailboxStatus` (`Mailbox: 100@default`), `VoicemailRefresh` ("Refresh
  sent": Asterisk's `manager_voicemail_refresh` only polls the mailboxes' message counts; it
  does not read voicemail.conf again).
- A reload of app_voicemail (`UpdateConfig` with `Reload: app_voicemail`, `Reload`) makes the
  mailboxes those of voicemail.conf (`reload`): one per variable of each context, its fields
  and options as app_voicemail reads them (`engine/voicemail_conf.py`), `[general]` giving the
  defaults; a mailbox taken out keeps its messages in the spool, listed again if it comes
  back. As in voicemail.jsonl, the reload announces each mailbox's `MessageWaiting` (before
  its `Reload` event), and the next `VoicemailUsersList` lists the mailboxes of the file.

With a `spool` directory, the messages are also files laid out as Asterisk's spool
(`<spool>/<context>/<mailbox>/<folder>/msgNNNN.txt` and `.wav`), rewritten after every move
and removal, so `voicemail.spool` can point at it.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from pathlib import Path

from engine import voicemail_conf
from engine.ami.asterisk_config import Category
from engine.ami.emulated import Part, Reply, ack, error, event, list_answer, param, response
from engine.ami.protocol import parse_action
from engine.capture import read_lines
from engine.envelope import Headers
from engine.spool import FOLDERS

NO_USERS = "There are no voicemail users currently defined."
NO_SUCH_USER = "There is no voicemail user matching the given user."
_TRUE = ("yes", "true", "y", "t", "1", "on")  # ast_true


@dataclass
class Message:
    id: str  # msg_id: "<epoch>-<counter, 8 hex digits>"
    folder: str
    callerid: str
    date: str  # origdate, as Asterisk prints it
    duration: int
    flag: str = ""


@dataclass
class Mailbox:
    context: str
    mailbox: str
    full_name: str = ""
    email: str = ""
    attach: bool = False
    messages: list[Message] = field(default_factory=list)
    pager: str = ""
    options: dict[str, str] = field(default_factory=dict)  # its line's options, lower case

    def count(self, *folders: str) -> int:
        return sum(1 for m in self.messages if m.folder in folders)


def _flag(value: str) -> str:
    return "Yes" if value.strip().lower() in _TRUE else "No"


def _number(value: str, default: int) -> int:
    try:
        return int(value.strip())
    except ValueError:
        return default


def demo_mailboxes() -> list[Mailbox]:
    """The mailboxes of the batch2 recordings: 100 (Alice) with two messages in INBOX and one
    in Old, 101 (Bob) with one in INBOX."""
    def msg(n: int, folder: str, who: int, t: int, date: str, duration: int) -> Message:
        return Message(f"{t}-{n:08x}", folder, f'"Customer {who}" <555010{who}>', date, duration)

    return [
        Mailbox("default", "100", "Alice Agent", "alice@example.com", False, [
            msg(0, "INBOX", 0, 1796660000, "Mon Dec 07 04:13:20 PM UTC 2026", 3),
            msg(1, "INBOX", 1, 1796660600, "Mon Dec 07 04:23:20 PM UTC 2026", 4),
            msg(0, "Old", 0, 1796665000, "Mon Dec 07 05:36:40 PM UTC 2026", 3)]),
        Mailbox("default", "101", "Bob Agent", "bob@example.com", True, [
            msg(2, "INBOX", 2, 1796661200, "Mon Dec 07 04:33:20 PM UTC 2026", 5)]),
    ]


class Voicemail(Part):
    def __init__(self, mailboxes: list[Mailbox] | None = None, spool: Path | None = None
                 ) -> None:
        self.boxes: dict[tuple[str, str], Mailbox] = {
            (b.context, b.mailbox): b for b in mailboxes or []}
        self.spool = spool
        self.general: dict[str, str] = {}  # voicemail.conf's [general], lower-case names
        self.stored: dict[tuple[str, str], list[Message]] = {}  # of mailboxes taken out
        if spool is not None:
            for box in self.boxes.values():
                for folder in FOLDERS:
                    self._write(box, folder)

    @classmethod
    def from_capture(cls, path: str | Path, spool: Path | None = None) -> Voicemail:
        """The mailboxes of the recording at its start: the first answer to
        `VoicemailUsersList` names them, the first `VoicemailBoxSummary` of each holds its
        messages; a mailbox never summarized holds as many messages as that list counts in
        its INBOX and Old (made up: `0000000000-0000000N`, no caller), so its counts are the
        recorded ones. A recording that never listed them has none."""
        lines = read_lines(path)
        sent: dict[str, Headers] = {}
        boxes: dict[tuple[str, str], Mailbox] = {}
        counts: dict[tuple[str, str], tuple[int, int]] = {}
        summarized: set[tuple[str, str]] = set()
        listed = False  # the first VoicemailUsersList answer is complete
        for line in lines:
            if "oicemail" not in line.raw:  # neither a voicemail action nor its answer
                continue
            headers = parse_action(line.raw)
            action_id = param(headers, "ActionID")
            if line.dir == "out":
                sent[action_id] = headers
                continue
            action = sent.get(action_id)
            if action is None:
                continue
            verb, kind = param(action, "Action").lower(), param(headers, "Event")
            if verb == "voicemailuserslist" and kind == "VoicemailUserEntryComplete":
                listed = True
            elif verb == "voicemailuserslist" and kind == "VoicemailUserEntry" and not listed:
                key = (param(headers, "VMContext"), param(headers, "VoiceMailbox"))
                boxes.setdefault(key, Mailbox(
                    *key, param(headers, "Fullname"), param(headers, "Email"),
                    param(headers, "AttachMessage") == "Yes"))
                counts[key] = (_number(param(headers, "NewMessageCount"), 0),
                               _number(param(headers, "OldMessageCount"), 0))
            elif verb == "voicemailboxsummary" and kind == "VoicemailBoxDetail":
                key = (param(action, "Context"), param(action, "Mailbox"))
                box = boxes.get(key)
                if box is not None and key not in summarized:
                    box.messages.append(Message(
                        param(headers, "ID"), param(headers, "Folder"),
                        param(headers, "CallerID"), param(headers, "Date"),
                        int(param(headers, "Duration") or 0), param(headers, "Flag")))
            elif verb == "voicemailboxsummary" and kind == "VoicemailBoxDetailComplete":
                summarized.add((param(action, "Context"), param(action, "Mailbox")))
        for key, (new, old) in counts.items():
            if key not in summarized:
                folders = ["INBOX"] * new + ["Old"] * old
                boxes[key].messages = [Message(f"0000000000-{n:08x}", folder, "", "", 0)
                                       for n, folder in enumerate(folders)]
        return cls(list(boxes.values()), spool)

    # -- voicemail.conf ---------------------------------------------------------------------

    def reload(self, categories: list[Category]) -> list[bytes]:
        """app_voicemail loads voicemail.conf again: its mailboxes are the file's (messages
        kept by mailbox); the `MessageWaiting` of each, which Asterisk sends before the
        reload's `Reload` event."""
        general = next((c for c in categories if c.name.lower() == "general"
                        and not c.template), None)
        self.general = {v.name.lower(): v.value for v in general.variables} if general else {}
        files = [(c.name, c.template, [(v.name, v.value) for v in c.variables])
                 for c in categories]
        boxes: dict[tuple[str, str], Mailbox] = {}
        for context, name, value in voicemail_conf.mailboxes(files):
            line = voicemail_conf.parse(value)
            options = {k.strip().lower(): v for k, v in line.options if v is not None}
            key = next((k for k in boxes if k[0].lower() == context.lower()
                        and k[1].lower() == name.lower()), (context, name))
            attach = options.get("attach", self.general.get("attach", "yes"))
            boxes[key] = Mailbox(key[0], key[1], line.full_name, line.email,
                                 _flag(attach) == "Yes", [], line.pager, options)
        for key, old in self.boxes.items():
            if key not in boxes:
                self.stored[key] = old.messages
        for key, box in boxes.items():
            old_box = self.boxes.get(key)
            box.messages = old_box.messages if old_box else self.stored.pop(key, [])
        self.boxes = boxes
        for box in boxes.values():
            for folder in FOLDERS:
                self._write(box, folder)
        return [self._waiting(box) for box in boxes.values()]

    # -- actions ----------------------------------------------------------------------------

    def answer(self, name: str, headers: Headers, action_id: str) -> Reply | None:
        handler = {
            "voicemailuserslist": self._users,
            "voicemailuserstatus": self._user_status,
            "voicemailboxsummary": self._summary,
            "voicemailmove": self._move,
            "voicemailremove": self._remove,
            "mailboxcount": self._count,
            "mailboxstatus": self._status,
            "voicemailrefresh": self._refresh,
        }.get(name)
        return handler(headers, action_id) if handler is not None else None

    def _users(self, headers: Headers, action_id: str) -> Reply:
        if not self.boxes:
            return Reply(ack(action_id, NO_USERS))
        items = [("VoicemailUserEntry", self._user(b)) for b in self.boxes.values()]
        return Reply(list_answer(action_id, "Voicemail user list will follow",
                                 "VoicemailUserEntryComplete", items))

    def _user_status(self, headers: Headers, action_id: str) -> Reply:
        box, refused = self._box(headers, action_id, "There is no voicemail user of the "
                                 "given info.")
        if box is None:
            return refused
        return Reply(list_answer(action_id, "Voicemail user detail will follow",
                                 "VoicemailUserDetailComplete",
                                 [("VoicemailUserDetail", self._user(box))]))

    def _summary(self, headers: Headers, action_id: str) -> Reply:
        box, refused = self._box(headers, action_id, NO_SUCH_USER)
        if box is None:
            return refused
        items = [("VoicemailBoxDetail", [
            ("Folder", m.folder), ("CallerID", m.callerid), ("Date", m.date),
            ("Duration", str(m.duration)), ("Flag", m.flag), ("ID", m.id)])
            for folder in FOLDERS for m in box.messages if m.folder == folder]
        return Reply(list_answer(action_id, "Voicemail box detail will follow",
                                 "VoicemailBoxDetailComplete", items))

    def _box(self, headers: Headers, action_id: str, unknown: str
             ) -> tuple[Mailbox | None, Reply]:
        context, mailbox = param(headers, "Context"), param(headers, "Mailbox")
        if not context or not mailbox:
            return None, Reply(error(action_id, "Need 'Context' and 'Mailbox' parameters."))
        box = self.boxes.get((context, mailbox))
        return box, Reply(ack(action_id, unknown))

    def _changed(self, headers: Headers, action_id: str, verb: str, needs: tuple[str, ...]
                 ) -> tuple[Mailbox | None, Message | None, Reply | None]:
        for name in ("Mailbox", "Context", *needs):
            if not param(headers, name):
                return None, None, Reply(error(action_id, f"{name} not specified, required"))
        box = self.boxes.get((param(headers, "Context"), param(headers, "Mailbox")))
        found = [m for m in box.messages if m.id == param(headers, "ID")
                 and m.folder == param(headers, "Folder")] if box else []
        if box is None or not found:
            return None, None, Reply(ack(action_id, f"Message {verb} failed\n"))
        return box, found[0], None

    def _move(self, headers: Headers, action_id: str) -> Reply:
        box, found, refused = self._changed(headers, action_id, "move",
                                            ("Folder", "ID", "ToFolder"))
        if box is None or found is None:
            assert refused is not None
            return refused
        to = param(headers, "ToFolder")
        if to not in FOLDERS:
            return Reply(ack(action_id, "Message move failed\n"))
        source = found.folder
        box.messages.remove(found)
        found.folder = to
        box.messages.append(found)
        self._write(box, source)
        self._write(box, to)
        return Reply(ack(action_id, "Message move successful\n"), [self._waiting(box)])

    def _remove(self, headers: Headers, action_id: str) -> Reply:
        box, found, refused = self._changed(headers, action_id, "remove", ("Folder", "ID"))
        if box is None or found is None:
            assert refused is not None
            return refused
        box.messages.remove(found)
        self._write(box, found.folder)
        return Reply(ack(action_id, "Message remove successful\n"), [self._waiting(box)])

    def _count(self, headers: Headers, action_id: str) -> Reply:
        box = self._named(param(headers, "Mailbox"))
        new, old = (box.count("INBOX"), box.count("Old")) if box else (0, 0)
        return Reply(response("Success", action_id, ("Message", "Mailbox Message Count"),
                              ("Mailbox", param(headers, "Mailbox")), ("UrgMessages",
                              str(box.count("Urgent") if box else 0)),
                              ("NewMessages", str(new)), ("OldMessages", str(old))))

    def _status(self, headers: Headers, action_id: str) -> Reply:
        box = self._named(param(headers, "Mailbox"))
        waiting = int(bool(box and box.count("INBOX", "Urgent")))
        return Reply(response("Success", action_id, ("Message", "Mailbox Status"),
                              ("Mailbox", param(headers, "Mailbox")), ("Waiting", str(waiting))))

    def _refresh(self, headers: Headers, action_id: str) -> Reply:
        return Reply(ack(action_id, "Refresh sent"))

    def _named(self, name: str) -> Mailbox | None:
        mailbox, _, context = name.partition("@")
        return self.boxes.get((context or "default", mailbox))

    # -- what Asterisk writes ---------------------------------------------------------------

    def _user(self, box: Mailbox) -> list[tuple[str, str]]:
        """`append_vmu_info_astman`: the mailbox's options, else [general]'s, else Asterisk's
        defaults (those the recording shows)."""
        def opt(name: str, default: str) -> str:
            return box.options.get(name, self.general.get(name, default))

        try:
            gain = float(opt("volgain", "0"))
        except ValueError:
            gain = 0.0
        return [
            ("VMContext", box.context), ("VoiceMailbox", box.mailbox),
            ("Fullname", box.full_name), ("Email", box.email), ("Pager", box.pager),
            ("ServerEmail", opt("serveremail", "asterisk")),
            ("FromString", opt("fromstring", "")),
            ("MailCommand", self.general.get("mailcmd", "/usr/sbin/sendmail -t")),
            ("Language", opt("language", "")), ("TimeZone", box.options.get("tz", "")),
            ("Callback", opt("callback", "")), ("Dialout", opt("dialout", "")),
            ("UniqueID", ""), ("ExitContext", opt("exitcontext", "")),
            ("SayDurationMinimum", str(_number(opt("saydurationm", "2"), 2))),
            ("SayEnvelope", _flag(opt("envelope", "yes"))),
            ("SayCID", _flag(opt("saycid", "no"))),
            ("AttachMessage", "Yes" if box.attach else "No"),
            ("AttachmentFormat", opt("attachfmt", "")),
            ("DeleteMessage", _flag(opt("delete", "no"))), ("VolumeGain", f"{gain:.2f}"),
            ("CanReview", _flag(opt("review", "no"))),
            ("CanMarkUrgent", _flag(opt("leaveurgent", "yes"))),
            ("CallOperator", _flag(opt("operator", "no"))),
            ("MaxMessageCount", str(_number(opt("maxmsg", "100"), 100))),
            ("MaxMessageLength", str(_number(opt("maxsecs", "10"), 10))),
            ("NewMessageCount", str(box.count("INBOX"))),
            ("OldMessageCount", str(box.count("Old"))),
        ]

    @staticmethod
    def _waiting(box: Mailbox) -> bytes:
        new = box.count("INBOX", "Urgent")
        return event("MessageWaiting", [
            ("Mailbox", f"{box.mailbox}@{box.context}"), ("Waiting", str(int(new > 0))),
            ("New", str(new)), ("Old", str(box.count("Old")))])

    def _write(self, box: Mailbox, folder: str) -> None:
        """The folder's files as Asterisk keeps them: msg0000.txt/.wav, in order."""
        if self.spool is None:
            return
        directory = self.spool / box.context / box.mailbox / folder
        directory.mkdir(parents=True, exist_ok=True)
        for old in directory.glob("msg*"):
            old.unlink()
        for n, m in enumerate(x for x in box.messages if x.folder == folder):
            base = directory / f"msg{n:04d}"
            base.with_suffix(".txt").write_text(
                ";\n; Message Information file\n;\n[message]\n"
                f"origmailbox={box.mailbox}\ncontext=tools\nmacrocontext=\nexten=vm\n"
                f"rdnis=unknown\npriority=2\ncallerchan=Local/501@customers-{n:08x};1\n"
                f"callerid={m.callerid}\norigdate={m.date}\norigtime={m.id.split('-')[0]}\n"
                f"category=\nmsg_id={m.id}\nflag={m.flag}\nduration={m.duration}\n")
            base.with_suffix(".wav").write_bytes(silence(m.duration, m.id))


def silence(seconds: int, tag: str) -> bytes:
    """A WAV file (8 kHz, 16-bit mono, as app_voicemail's `wav` format) of `seconds` of
    silence, its last bytes `tag`, so each message's audio can be told apart."""
    body = bytes(16000 * max(seconds, 0)) + tag.encode("ascii", "replace")
    header = b"RIFF" + struct.pack("<I", 36 + len(body)) + b"WAVEfmt " + struct.pack(
        "<IHHIIHH", 16, 1, 1, 8000, 16000, 2, 16) + b"data" + struct.pack("<I", len(body))
    return header + body
