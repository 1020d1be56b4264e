"""Destination: who takes the call once the customer answers (seed 3.9, 5.2), and how many
calls it can take, which is what paces the campaign (5.3).

Type 0 sends the answered call to `context`/`exten`/`priority`; type 1 to an application
(`queue` with the queue name in `data`, `park`, anything else). A queue can take as many calls
as it has free members; everything else is unlimited in the seed (`None` here).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from engine.dialer import codes
from engine.dialer.objects import Field, Invalid, common

FIELDS: list[Field] = [
    *common(),
    Field("type", "int", codes.DEST_EXTENSION, nullable=False),
    Field("application", "str"),
    Field("data", "str"),
    Field("context", "str"),
    Field("exten", "str"),
    Field("priority", "str"),
    Field("variables", "vars"),
]


def check(dest: Mapping[str, Any]) -> None:
    if dest["type"] not in (codes.DEST_EXTENSION, codes.DEST_APPLICATION):
        raise Invalid(f"type: {dest['type']} is not 0 (extension) or 1 (application)")


def problem(dest: Mapping[str, Any]) -> str | None:
    """Why an answered call could not be sent there, or None (checked when a campaign runs)."""
    if dest["type"] == codes.DEST_APPLICATION:
        return None if dest.get("application") else "destination has no application"
    if not dest.get("context") or not dest.get("exten"):
        return "destination has no context/exten"
    return None


def queue_name(dest: Mapping[str, Any]) -> str | None:
    """The queue a `queue` application destination sends calls to (`data` up to its options)."""
    if dest["type"] != codes.DEST_APPLICATION:
        return None
    if str(dest.get("application") or "").lower() != "queue":
        return None
    name = str(dest.get("data") or "").split(",", 1)[0].strip()
    return name or None


def originate_target(dest: Mapping[str, Any]) -> dict[str, str]:
    """The Originate headers that send the answered call to this destination."""
    if dest["type"] == codes.DEST_APPLICATION:
        return {"Application": str(dest.get("application") or ""),
                "Data": str(dest.get("data") or "")}
    return {"Context": str(dest.get("context") or ""), "Exten": str(dest.get("exten") or ""),
            "Priority": str(dest.get("priority") or "1")}
