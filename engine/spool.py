"""Asterisk's voicemail spool, read from disk (`voicemail.spool`): message files and audio.

AMI tells a message's id, folder, caller, date, duration and flag, but not its audio, nor the
rest of what jade served (seed 004 `/voicemail/vms`: `msgname`, `context`, `exten`, `priority`,
`callerchan`, `rdnis`, `category`, `macrocontext`, `origmailbox`, `origtime`). Those are in the
spool Asterisk keeps per message, `<spool>/<context>/<mailbox>/<folder>/msgNNNN.txt` (an INI
`[message]` section) beside its audio `msgNNNN.<format>` (`wav` by default): readable when
Switchboard runs beside Asterisk, or over a mount. Message numbers shift as messages are
removed or moved (Asterisk renumbers a folder from msg0000); the `msg_id` inside the file does
not, so a message is found by its id, or by its name in a folder.

Every name that becomes part of a path is checked first (one path component, no `..`, a known
folder), and the file found must lie inside the spool: a request cannot read anything else.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

FOLDERS = ("INBOX", "Old", "Work", "Family", "Friends", "Cust1", "Cust2", "Cust3", "Cust4",
           "Cust5", "Deleted", "Urgent")
AUDIO = (".wav", ".WAV", ".gsm", ".g722", ".ulaw", ".alaw", ".sln")  # app_voicemail formats
MSGNAME = re.compile(r"^msg\d{4}$")
MEDIA_TYPES = {".wav": "audio/wav", ".WAV": "audio/wav", ".gsm": "audio/gsm"}
# The `[message]` keys that fill a message row (seed 004's names are the file's)
FIELDS = ("msgname", "context", "exten", "priority", "callerchan", "callerid", "rdnis",
          "category", "flag", "macrocontext", "origdate", "origmailbox", "origtime",
          "duration", "msg_id")


class SpoolError(Exception):
    """The spool cannot be read (not set, missing, not a readable directory)."""


@dataclass(frozen=True)
class SpoolMessage:
    folder: str
    msgname: str
    info: dict[str, str]  # the `[message]` section
    txt: Path

    def audio(self) -> Path | None:
        """The message's audio file, in the first format present."""
        for suffix in AUDIO:
            path = self.txt.with_suffix(suffix)
            if path.is_file():
                return path
        return None


def open_spool(path: str) -> Path:
    """The spool directory, if `voicemail.spool` names one that can be read; else SpoolError
    saying why."""
    if not path:
        raise SpoolError("voicemail.spool is not set: Switchboard cannot read voicemail "
                         "audio; set it to Asterisk's spool directory (e.g. "
                         "/var/spool/asterisk/voicemail, on this host or a mount)")
    root = Path(path)
    if not root.is_dir():
        raise SpoolError(f"voicemail.spool {path} is not a directory")
    if not os.access(root, os.R_OK | os.X_OK):
        raise SpoolError(f"voicemail.spool {path} is not readable by Switchboard")
    return root.resolve()


def component(value: str) -> bool:
    """Whether `value` may be one path component (a context, a mailbox)."""
    return bool(value) and value not in (".", "..") and not any(
        c in value for c in "/\\\x00")


def read_info(txt: Path) -> dict[str, str]:
    """A message file's `[message]` section (Asterisk writes `key=value` lines)."""
    info: dict[str, str] = {}
    try:
        text = txt.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return info
    section = ""
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith(";"):
            continue
        if line.startswith("[") and line.endswith("]"):
            section = line[1:-1]
        elif section == "message" and "=" in line:
            key, _, value = line.partition("=")
            info[key.strip()] = value.strip()
    return info


def messages(root: Path, context: str, mailbox: str, folder: str | None = None
             ) -> list[SpoolMessage]:
    """The messages of a mailbox in the spool (one folder, or every one), in file order."""
    if not (component(context) and component(mailbox)):
        return []
    out: list[SpoolMessage] = []
    for name in (folder,) if folder else FOLDERS:
        if name not in FOLDERS:
            continue
        directory = root / context / mailbox / name
        if not _inside(root, directory) or not directory.is_dir():
            continue
        for txt in sorted(directory.glob("msg[0-9][0-9][0-9][0-9].txt")):
            out.append(SpoolMessage(name, txt.stem, read_info(txt), txt))
    return out


def find(root: Path, context: str, mailbox: str, key: str, folder: str | None = None
         ) -> SpoolMessage | None:
    """A message by its `msg_id`, or by its name (`msg0003`) in `folder`."""
    for message in messages(root, context, mailbox, folder):
        if message.info.get("msg_id") == key or (folder and message.msgname == key):
            return message
    return None


def row_fields(message: SpoolMessage) -> dict[str, str]:
    """What the file adds to a message row (seed 004's field names)."""
    return {name: message.msgname if name == "msgname" else message.info.get(name, "")
            for name in FIELDS}


def _inside(root: Path, path: Path) -> bool:
    try:
        return path.resolve().is_relative_to(root)
    except (OSError, ValueError):
        return False
