"""Placeholder: being written (see projections/base.py for the contract)."""

from __future__ import annotations

from engine.envelope import Event

NAME = "queues"


def initial() -> dict:
    return {}


def apply(state: dict, event: Event) -> dict:
    return state


VIEWS: dict = {}
