"""The two objects, their streams and events: the catalogue of what a dialplan write appends.

One stream per object, `dpma/<uuid>` and `dialplan/<uuid>`, folded with the outbound dialer's
`evolve` (`engine/dialer/objects.py`: `*Created` carries the whole object, `*Updated` the
`changes` and `tm_update`, `*Deleted` `tm_delete`), so the command side and the projection read
an object the same way. Each event is caused by the command that changed extensions.conf for it
(`causation_id` and `correlation_id`: the command's id), and appended only after that command
succeeded.

Fields are the seed's: a dpma `uuid, name, detail, tm_create, tm_update`; a dialplan `uuid,
dpma_uuid, sequence, name, detail, command, tm_create, tm_update`. Beyond the seed each holds
`server`, the Asterisk whose extensions.conf holds its context (a dialplan: its dpma's).
"""

from __future__ import annotations

import sys
from typing import Any

KINDS = ("dpma", "dialplan")
OUTBOX = "outbox"  # the key of a write's CommandRequested that holds the events it appends
PREFIX = {"dpma": "Dpma", "dialplan": "Dialplan"}
COLLECTION = {"dpma": "dpmas", "dialplan": "dialplans"}
FIELDS: dict[str, tuple[str, ...]] = {
    "dpma": ("name", "detail"),
    "dialplan": ("dpma_uuid", "sequence", "name", "detail", "command"),
}


def stream(kind: str, uuid: str) -> str:
    return f"{kind}/{uuid}"


def kind_of(stream_: str) -> str | None:
    """The object kind of a stream (`dpma/<uuid>` -> `dpma`), None for any other stream."""
    kind, sep, _ = stream_.partition("/")
    return kind if sep and kind in PREFIX else None


def created(kind: str) -> str:
    return f"{PREFIX[kind]}Created"


def updated(kind: str) -> str:
    return f"{PREFIX[kind]}Updated"


def deleted(kind: str) -> str:
    return f"{PREFIX[kind]}Deleted"


OBJECT_TYPES = frozenset(t for k in KINDS for t in (created(k), updated(k), deleted(k)))

CATALOGUE: list[tuple[str, str, str]] = [
    *[(created(k), f"{k}/<uuid>", f"a {k} was created (REST POST); data: the whole object")
      for k in KINDS],
    *[(updated(k), f"{k}/<uuid>", f"a {k} was changed (REST PUT); data: changes, tm_update")
      for k in KINDS],
    *[(deleted(k), f"{k}/<uuid>", f"a {k} was deleted (REST DELETE); data: tm_delete")
      for k in KINDS],
]


def alive(obj: dict[str, Any] | None) -> bool:
    """An object that exists (`evolve` leaves a deleted one with `in_use` 0)."""
    return obj is not None and obj.get("in_use") != 0


def markdown() -> str:
    lines = ["| event | stream | meaning |", "|---|---|---|"]
    lines += [f"| `{t}` | `{s}` | {m} |" for t, s, m in CATALOGUE]
    return "\n".join(lines)


if __name__ == "__main__":
    sys.stdout.write(markdown() + "\n")
