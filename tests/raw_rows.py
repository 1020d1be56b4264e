"""Rows written into a log by hand, past the store: what an older version, a restore or a
mistaken `INSERT` could have left there, for the readers to survive."""

from __future__ import annotations

import sqlite3
from typing import Any

import psycopg

from engine.store import split_schema, sqlite_path

TABLE = "switchboard_events"
# A capture line whose `wall` was null, as ingest-capture stored it before envelopes were
# checked: [recorded_at, server, data, causation_id, correlation_id].
NULL_WALL = b'[null,"pbx1",{"Event":"FullyBooted","Status":"Fully Booted"},null,null]'


def insert_raw_row(store_url: str, stream: str, version: int, topic: Any, state: Any) -> None:
    """One row straight into the events table (the next position), bypassing the store."""
    path = sqlite_path(store_url)
    if path is not None:
        with sqlite3.connect(path) as conn:
            conn.execute(f"INSERT INTO {TABLE} (originator_id, originator_version, topic, "
                         "state) VALUES (?, ?, ?, ?)", (stream, version, topic, state))
        return
    conninfo, schema = split_schema(store_url)
    with psycopg.connect(conninfo, autocommit=True) as conn:
        conn.execute(f'INSERT INTO "{schema or "public"}".{TABLE} (originator_id, '
                     "originator_version, topic, state) VALUES (%s, %s, %s, %s)",
                     (stream, version, topic, state))
