"""Counts in user-facing messages: "1 event", "2 events", "1,000 events", never "1 events"."""

from __future__ import annotations


def plural(count: int, noun: str, nouns: str | None = None) -> str:
    """`count` with thousands separators and the noun in the number it takes (`nouns`: the
    plural when it is not `noun` + "s", as in "process", "processes")."""
    word = noun if count == 1 else (nouns or noun + "s")
    return f"{count:,} {word}"
