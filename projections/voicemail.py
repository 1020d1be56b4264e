"""Voicemail (seed 004 `/voicemail/users`, `/voicemail/vms`): mailboxes and their messages.

**Users** come from `VoicemailUsersList`, sent on every connect (`engine/ami/ingest.py`): a
`VoicemailUserEntry` per mailbox, then `VoicemailUserEntryComplete`. The answer is the truth
(`projections/lists.py`): mailboxes of that server it does not list are gone (deleted from
voicemail.conf), and an Asterisk without users answers a bare `There are no voicemail users
currently defined.`, which removes them all. `VoicemailUserDetail` (a `VoicemailUserStatus`
answer) refreshes one. Message waiting: `MessageWaiting` (`Mailbox: 100@default`, `Waiting`,
`New`, `Old`) keeps `waiting` and the counts current between listings.

**Messages** come from `VoicemailBoxSummary` (one `VoicemailBoxDetail` per message: `Folder`,
`CallerID`, `Date`, `Duration`, `Flag`, `ID`). Its items do not say which mailbox they are
about, so only an answer to a command Switchboard sent is read (`GET /voicemail/vms` runs one):
the command's `CommandRequested` names the box, and the items carry its ActionID. A complete
answer replaces what the box held; an answer that is not a list (`There is no voicemail user
matching the given user.`) empties it. A `VoicemailRemove` or `VoicemailMove` command Asterisk
acknowledged without a refusal (`engine/commands.py`'s `acked_refusal`: its "Message remove
failed" is a `Response: Success` too) removes or moves the message at once.

A message row holds what AMI tells (`msg_id`, `dir`, `callerid`, `origdate`, `duration`, `flag`,
and `status`: `unread` in INBOX and Urgent, `read` elsewhere); the seed's other fields
(`msgname`, `context`, `exten`, `callerchan`, `origtime`...) are in the message's file in
Asterisk's spool, which the API reads when `voicemail.spool` is set (`engine/spool.py`).
"""

from __future__ import annotations

from engine.commands import REQUESTED, acked_refusal
from engine.envelope import RESPONSE, Event
from engine.spool import FOLDERS
from projections import lists, pending
from projections.base import (
    Handler,
    Row,
    columns,
    dispatch,
    event_time,
    iso,
    pick,
    to_float,
    to_int,
)

NAME = "voicemail"
VERSION = 1

NO_USERS = "There are no voicemail users currently defined."
UNREAD_FOLDERS = ("INBOX", "Urgent")
_FOLDER_ORDER = {folder: i for i, folder in enumerate(FOLDERS)}

# VoicemailUserEntry header -> (user field, type); seed 004's voicemail user object
_USER_FIELDS: tuple[tuple[str, str, type], ...] = (
    ("VMContext", "context", str),
    ("VoiceMailbox", "mailbox", str),
    ("Email", "email", str),
    ("Fullname", "full_name", str),
    ("Pager", "pager", str),
    ("ServerEmail", "server_email", str),
    ("MailCommand", "mail_command", str),
    ("AttachMessage", "attach_message", str),
    ("AttachmentFormat", "attachment_format", str),
    ("DeleteMessage", "delete_message", str),
    ("CallOperator", "call_operator", str),
    ("Callback", "callback", str),
    ("CanReview", "can_review", str),
    ("CanMarkUrgent", "can_mark_urgent", str),
    ("Dialout", "dialout", str),
    ("ExitContext", "exit_context", str),
    ("FromString", "from_string", str),
    ("Language", "language", str),
    ("MaxMessageCount", "max_message_count", int),
    ("MaxMessageLength", "max_message_length", int),
    ("NewMessageCount", "new_message_count", int),
    ("OldMessageCount", "old_message_count", int),
    ("IMAPFlags", "imap_flag", str),
    ("IMAPPort", "imap_port", str),
    ("IMAPServer", "imap_server", str),
    ("IMAPUser", "imap_user", str),
    ("SayCID", "say_cid", str),
    ("SayDurationMinimum", "say_duration_minimum", int),
    ("SayEnvelope", "say_envelope", str),
    ("TimeZone", "timezone", str),
    ("UniqueID", "unique_id", str),
    ("VolumeGain", "volume_gain", float),
)

COLUMNS: dict[str, dict[str, str]] = {
    "voicemail-users": {
        "server": "str", "id": "str",
        **{field: {int: "int", float: "float", str: "str"}[kind]
           for _, field, kind in _USER_FIELDS},
        "waiting": "int", "tm_update": "str",
    },
    "voicemail-messages": columns(
        "server box msgname msg_id status dir context exten priority callerchan callerid rdnis "
        "category flag macrocontext origdate origmailbox origtime duration tm_update"),
}


def initial() -> dict:
    return {
        "users": {},  # "<server>/<mailbox>@<context>" -> user row (+ "pos")
        "boxes": {},  # "<server>/<mailbox>@<context>" -> {msg_id: message row}
        "pending": {},  # command id -> what it asked: box summary, move, remove (pending.py)
        "lists": {},  # VoicemailUsersList answers being read (projections/lists.py)
    }


def box_id(mailbox: str, context: str) -> str:
    """A mailbox as Asterisk names it (`MessageWaiting`'s `Mailbox`) and seed 004's user id."""
    return f"{mailbox}@{context}"


# ---------------------------------------------------------------------------------------------
# users


def _user(state: dict, event: Event, create: bool) -> dict | None:
    data = event.data
    mailbox, context = data.get("VoiceMailbox"), data.get("VMContext")
    if not (isinstance(mailbox, str) and isinstance(context, str) and mailbox and context):
        return None
    ident = box_id(mailbox, context)
    key = f"{event.server}/{ident}"
    row = state["users"].get(key)
    if row is None:
        if not create:
            return None
        row = state["users"][key] = {name: None for name in COLUMNS["voicemail-users"]}
        row.update(server=event.server, id=ident, pos=event.position)
    t = event_time(event)
    for header, field, kind in _USER_FIELDS:
        value = event.header(header)  # absent: "" (seed 004: imap_* "" without IMAP storage)
        row[field] = (to_int(value) if kind is int else to_float(value) if kind is float
                      else value)
    new = row["new_message_count"]
    row["waiting"] = None if new is None else int(new > 0)
    row["tm_update"] = t
    return row


def _user_entry(state: dict, event: Event) -> None:
    row = _user(state, event, create=True)
    if row is not None:
        lists.item(state["lists"], event, row["id"])


def _user_detail(state: dict, event: Event) -> None:
    _user(state, event, create=True)


def _users_complete(state: dict, event: Event) -> None:
    for key in lists.gone(state, state["users"], event):
        _drop_user(state, key)


def _drop_user(state: dict, key: str) -> None:
    del state["users"][key]
    state["boxes"].pop(key, None)


def _no_users(state: dict, event: Event) -> None:
    """`VoicemailUsersList` answered without a list: the server has no mailbox left (but one
    listed after this answer began is newer than it)."""
    prefix = event.server + "/"
    for key in [k for k, row in state["users"].items()
                if k.startswith(prefix) and row["pos"] < event.position]:
        _drop_user(state, key)


def _message_waiting(state: dict, event: Event) -> None:
    row = state["users"].get(f"{event.server}/{event.header('Mailbox')}")
    if row is None:
        return
    row["waiting"] = to_int(event.data.get("Waiting"))
    row["new_message_count"] = to_int(event.data.get("New"))
    row["old_message_count"] = to_int(event.data.get("Old"))
    row["tm_update"] = event_time(event)


# ---------------------------------------------------------------------------------------------
# messages, through the commands that ask for them


def _requested(state: dict, event: Event) -> None:
    action = pending.requested(event)
    if action is None:
        return
    verb = str(action.get("Action", "")).lower()
    mailbox, context = action.get("Mailbox"), action.get("Context")
    if verb not in ("voicemailboxsummary", "voicemailremove", "voicemailmove") or not (
            isinstance(mailbox, str) and isinstance(context, str)):
        return
    pending.note(state, event, {
        "verb": verb, "box": f"{event.server}/{box_id(mailbox, context)}",
        "folder": action.get("Folder"), "id": action.get("ID"), "to": action.get("ToFolder"),
        "listed": None})


def _response(state: dict, event: Event) -> None:
    if event.header("Message") == NO_USERS:
        _no_users(state, event)
        return
    found = pending.asked(state, event)
    if found is None:
        lists.HANDLERS[RESPONSE](state, event)
        return
    cid, sent = found
    message = event.header("Message").strip()
    if event.header("Response") != "Success" or acked_refusal(message) is not None:
        if sent["verb"] == "voicemailboxsummary" and acked_refusal(message) == 404:
            state["boxes"].pop(sent["box"], None)  # Asterisk knows no such mailbox
        del state["pending"][cid]
        return
    if sent["verb"] == "voicemailboxsummary":
        if event.header("EventList").lower() == "start":
            sent["listed"] = []
        return
    del state["pending"][cid]
    box = state["boxes"].get(sent["box"])
    message_row = box.get(sent["id"]) if box is not None else None
    if message_row is None:
        return
    if sent["verb"] == "voicemailremove":
        del box[sent["id"]]
    else:  # last in its new folder, as Asterisk files it
        box[sent["id"]] = box.pop(sent["id"])
        message_row["dir"] = sent["to"]
        message_row["status"] = _status(sent["to"])
        message_row["tm_update"] = event_time(event)


def _status(folder: object) -> str:
    return "unread" if folder in UNREAD_FOLDERS else "read"


def _box_detail(state: dict, event: Event) -> None:
    found = pending.asked(state, event)
    if found is None or found[1]["listed"] is None:
        return
    found[1]["listed"].append({
        "msg_id": event.header("ID"), "dir": event.header("Folder"),
        "callerid": event.header("CallerID"), "origdate": event.header("Date"),
        "duration": event.header("Duration"), "flag": event.header("Flag")})


def _box_complete(state: dict, event: Event) -> None:
    found = pending.asked(state, event)
    if found is None:
        return
    cid, sent = found
    del state["pending"][cid]
    listed = sent["listed"]
    if listed is None or to_int(event.data.get("ListItems")) not in (None, len(listed)):
        return  # arrived short: it cannot speak for the box
    t = event_time(event)
    server, ident = sent["box"].split("/", 1)
    box = state["boxes"][sent["box"]] = {}
    for item in listed:
        row = {name: None for name in COLUMNS["voicemail-messages"]}
        row.update(item, server=server, box=ident, status=_status(item["dir"]), tm_update=t)
        box[item["msg_id"]] = row


HANDLERS: dict[str, Handler] = {
    **lists.HANDLERS,
    **pending.HANDLERS,
    RESPONSE: _response,
    REQUESTED: _requested,
    "VoicemailUserEntry": _user_entry,
    "VoicemailUserEntryComplete": _users_complete,
    "VoicemailUserDetail": _user_detail,
    "MessageWaiting": _message_waiting,
    "VoicemailBoxDetail": _box_detail,
    "VoicemailBoxDetailComplete": _box_complete,
}
EVENT_TYPES = frozenset(HANDLERS)
apply = dispatch(HANDLERS)


def user_rows(state: dict, now: float) -> list[Row]:
    out = [pick(row, COLUMNS["voicemail-users"], tm_update=iso(row["tm_update"]))
           for row in state["users"].values()]
    out.sort(key=lambda r: (r["server"], r["context"], r["mailbox"]))
    return out


def message_rows(state: dict, now: float) -> list[Row]:
    """Box by box, in Asterisk's order: folder by folder (INBOX, Old, Work...), each in its
    files' order."""
    out = [pick(row, COLUMNS["voicemail-messages"], tm_update=iso(row["tm_update"]))
           for box in state["boxes"].values() for row in box.values()]
    out.sort(key=lambda r: (r["server"], r["box"], _FOLDER_ORDER.get(r["dir"], 99)))
    return out


VIEWS = {"voicemail-users": user_rows, "voicemail-messages": message_rows}
