"""voicemail.conf's mailboxes: how a mailbox line reads and is written (app_voicemail's format).

Every category of voicemail.conf but `[general]` and `[zonemessages]` is a voicemail context,
and every variable of a context is a mailbox: `100 => 1234,Alice Agent,alice@example.com,
pager@example.com,attach=no|tz=central`. app_voicemail (`append_mailbox`) reads the value's
first four comma-separated fields as the PIN, the full name, the e-mail address and the pager
address, and hands the rest to `apply_options`, which splits it on `|` into `name=value`
options (an option without `=` is ignored). A mailbox named twice in a context is the last
line: `find_or_create` returns the first one made and each line applies over it.

Seed 004's voicemail user (`POST /voicemail/users`) names these with its own fields
(`full_name`, `timezone`, `attach_message`...): `FIELDS` are the line's four fields, `OPTIONS`
the option each other field is written as, jade's table (its `create_voicemail_user_info_string`)
with one correction: `send_voicemail` is written `sendvoicemail`, the name app_voicemail
reads (jade wrote `send_voicemail=`, which Asterisk ignores). Several of the seed's fields
(`search_contexts`, `min_password`, `vm_password`, `listen_control_*`...) are options
app_voicemail reads only in `[general]`: they are written as jade writes them, and Asterisk
ignores them on a mailbox (`hidefromdir` is read by app_directory).

Plain data only: the API writes lines with it, the emulated Asterisk reads them, and the users
view takes each mailbox's PIN from it.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field, replace

SETTINGS = frozenset({"general", "zonemessages"})  # not contexts (compared without case)

# the line's fields, in order
FIELDS: tuple[str, ...] = ("password", "full_name", "email", "pager")

# seed 004's user fields -> the mailbox option each is written as
OPTIONS: dict[str, str] = {
    "timezone": "tz",
    "locale": "locale",
    "attach_message": "attach",
    "attachment_format": "attachfmt",
    "say_cid": "saycid",
    "cid_internal_contexts": "cidinternalcontexts",
    "say_duration": "sayduration",
    "say_duration_minimum": "saydurationm",
    "dialout": "dialout",
    "send_voicemail": "sendvoicemail",
    "search_contexts": "searchcontexts",
    "callback": "callback",
    "exit_context": "exitcontext",
    "can_review": "review",
    "call_operator": "operator",
    "say_envelope": "envelope",
    "delete_message": "delete",
    "alias": "alias",
    "volume_gain": "volgain",
    "next_after_cmd": "nextaftercmd",
    "force_name": "forcename",
    "force_greetings": "forcegreetings",
    "hide_from_dir": "hidefromdir",
    "temp_greet_warn": "tempgreetwarn",
    "password_location": "passwordlocation",
    "message_wrap": "messagewrap",
    "min_password": "minpassword",
    "vm_password": "vm-password",
    "vm_new_password": "vm-newpassword",
    "vm_pass_changed": "vm-passchanged",
    "vm_reenter_password": "vm-reenterpassword",
    "vm_mismatch": "vm-mismatch",
    "vm_invalid_password": "vm-invalid-password",
    "vm_pls_try_again": "vm-pls-try-again",
    "vm_prepend_timeout": "vm-prepend-timeout",
    "listen_control_forward_key": "listen-control-forward-key",
    "listen_control_reverse_key": "listen-control-reverse-key",
    "listen_control_pause_key": "listen-control-pause-key",
    "listen_control_restart_key": "listen-control-restart-key",
    "listen_control_stop_key": "listen-control-stop-key",
    "backup_deleted": "backupdeleted",
}


class LineError(ValueError):
    """A value that cannot be written into a mailbox line without changing its meaning."""


@dataclass(frozen=True)
class MailboxLine:
    """A mailbox's value: its four fields and its options in order (an option is (name,
    value); a piece without `=`, which Asterisk ignores, is kept as (text, None) so that
    writing the line back changes nothing else)."""

    password: str = ""
    full_name: str = ""
    email: str = ""
    pager: str = ""
    options: tuple[tuple[str, str | None], ...] = field(default_factory=tuple)

    def option(self, name: str) -> str | None:
        """The value app_voicemail applies for an option: the last one of that name."""
        found = None
        for key, value in self.options:
            if value is not None and key.strip().lower() == name.lower():
                found = value
        return found

    def with_option(self, name: str, value: str) -> MailboxLine:
        """The option set: every piece of that name replaced by one, where the first was."""
        out: list[tuple[str, str | None]] = []
        placed = False
        for key, old in self.options:
            if old is not None and key.strip().lower() == name.lower():
                if not placed:
                    out.append((name, value))
                    placed = True
                continue
            out.append((key, old))
        if not placed:
            out.append((name, value))
        return replace(self, options=tuple(out))

    def render(self) -> str:
        """The value as written: the four fields (trailing empty ones left out when there are
        no options), then `,` and the options joined by `|`."""
        fields = [self.password, self.full_name, self.email, self.pager]
        if not self.options:
            while len(fields) > 1 and not fields[-1]:
                fields.pop()
            return ",".join(fields)
        pieces = [key if value is None else f"{key}={value}" for key, value in self.options]
        return ",".join(fields) + "," + "|".join(pieces)


def parse(value: str) -> MailboxLine:
    """A mailbox's value as app_voicemail reads it (`append_mailbox`, `apply_options`)."""
    parts = value.split(",", 4)
    parts += [""] * (5 - len(parts))
    password, full_name, email, pager, rest = parts
    options: list[tuple[str, str | None]] = []
    for piece in rest.split("|") if rest else ():
        key, sep, text = piece.partition("=")
        options.append((key, text) if sep else (piece, None))
    return MailboxLine(password, full_name, email, pager, tuple(options))


def is_context(category: str) -> bool:
    return category.strip().lower() not in SETTINGS


def changed(line: MailboxLine, values: dict[str, str]) -> MailboxLine:
    """The line with seed fields `values` set (`FIELDS` in place, `OPTIONS` as options);
    raises LineError for a value that would shift the line's fields or split an option."""
    out = line
    for name, value in values.items():
        if name in FIELDS:
            if "," in value:
                raise LineError(f"{name}: a comma would start the next field of the mailbox "
                                "line")
            out = replace(out, **{name: value})
        elif name in OPTIONS:
            if "|" in value or "," in value:
                raise LineError(f"{name}: '|' and ',' separate the mailbox's options")
            out = out.with_option(OPTIONS[name], value)
        else:
            raise LineError(f"{name}: not a voicemail user field")
    return out


Pairs = Iterable[tuple[str, str]] | Iterable[list[str]]


def mailboxes(categories: Iterable[tuple[str, bool, Pairs]]) -> Iterator[tuple[str, str, str]]:
    """(context, mailbox, value) of every mailbox of a file given as (category name, is a
    template, its variables), in file order (a mailbox named twice: both lines, the last
    is the one Asterisk runs)."""
    for name, template, variables in categories:
        if template or not is_context(name):
            continue
        for variable, value in variables:
            yield name, variable, value


def line_of(categories: Iterable[tuple[str, bool, Pairs]], context: str, mailbox: str
            ) -> MailboxLine | None:
    """The line app_voicemail runs for `mailbox@context` (the last one; names compared without
    case, as app_voicemail's `find_or_create` does), None if none."""
    found = None
    for cat, box, value in mailboxes(categories):
        if cat.lower() == context.lower() and box.lower() == mailbox.lower():
            found = value
    return parse(found) if found is not None else None
