"""Export: JSON lines, CSV and Parquet with schemas from the view's declared fields."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from engine.envelope import NewEvent
from engine.store import Store, open_store
from projections import VIEWS
from projections.runner import Projector
from replay.export import (
    ExportError,
    coerce,
    declared_columns,
    export,
    export_view,
    schema_for,
)
from tests.captures import CAPTURES, envelopes

NOW = 1795361700.0
EXPORTED_VIEWS = ["channels", "calls", "bridges", "queues", "queue-members", "queue-entries",
                  "parking-lots", "parked-calls", "device-states", "peers", "endpoints",
                  "agents", "systems"]


@pytest.fixture
def loaded(tmp_path: Path) -> Store:
    """A SQLite log holding the queue-basic session up to its first CoreShowChannels (calls
    live) plus the whole parking session (a second server)."""
    store = open_store(f"sqlite:///{tmp_path / 'log.db'}")
    events: list[NewEvent] = []
    events += [e for e in envelopes(CAPTURES / "queue-basic.jsonl", 4.6)]
    from engine.capture import capture_events

    events += list(capture_events(CAPTURES / "parking.jsonl", "pbx2"))
    store.append(events)
    yield store
    store.close()


def test_every_view_the_cli_offers_exists_and_declares_a_schema() -> None:
    for view in EXPORTED_VIEWS:
        assert view in VIEWS
        assert declared_columns(view), view


@pytest.mark.parametrize("fmt", ["jsonl", "csv", "parquet"])
def test_each_format_writes_every_row_with_the_declared_columns(loaded: Store, tmp_path: Path,
                                                                fmt: str) -> None:
    out = tmp_path / f"channels.{fmt}"
    count = export_view(loaded, "channels", fmt, out, now=NOW)
    assert count == 4
    columns = list(declared_columns("channels"))
    if fmt == "jsonl":
        rows = [json.loads(line) for line in out.read_text().splitlines()]
        assert [list(r) for r in rows] == [columns] * 4
        assert all(isinstance(r["variables"], dict) for r in rows)
    elif fmt == "csv":
        rows = list(csv.DictReader(out.open()))
        assert list(rows[0]) == columns and len(rows) == 4
        assert {r["channel_state"] for r in rows} == {"6"}
        assert json.loads(rows[0]["variables"]) is not None
    else:
        table = pq.read_table(out)
        assert table.num_rows == 4 and table.column_names == columns
        assert table.schema.field("channel_state").type == pa.int64()
        assert table.schema.field("duration").type == pa.int64()
        assert table.schema.field("variables").type == pa.string()


def test_parquet_schema_is_the_same_empty_or_full(loaded: Store, tmp_path: Path) -> None:
    """Types come from the view's fields, not from the first row: an empty export and a full
    one (with nulls in the first row) have one schema, for every view."""
    empty_store = open_store(f"sqlite:///{tmp_path / 'empty.db'}")
    for view in EXPORTED_VIEWS:
        full, empty = tmp_path / f"{view}-full.parquet", tmp_path / f"{view}-empty.parquet"
        export_view(loaded, view, "parquet", full, now=NOW)
        assert export_view(empty_store, view, "parquet", empty, now=NOW) == 0
        assert pq.read_schema(full).equals(pq.read_schema(empty)), view
    empty_store.close()


def test_view_history_with_until(loaded: Store, tmp_path: Path) -> None:
    first = next(e.position for e in loaded.iter_all() if e.type == "Newchannel")
    out = tmp_path / "calls.jsonl"
    assert export_view(loaded, "calls", "jsonl", out, until=first - 1) == 0
    assert export_view(loaded, "calls", "jsonl", out, until=first) == 1
    assert json.loads(out.read_text())["outcome"] == "ringing"
    assert export_view(loaded, "calls", "jsonl", out) == 5


def test_export_to_stdout_and_to_open_streams(loaded: Store,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    assert export_view(loaded, "device-states", "csv", "-") > 0
    printed = capsys.readouterr().out
    assert printed.splitlines()[0] == "server,device,state,cached,tm_update"
    text = io.StringIO()
    export([{"a": 1}], "jsonl", text)
    assert text.getvalue() == '{"a":1}\n'
    binary = io.BytesIO()
    export([{"a": 1, "b": None}], "parquet", binary, {"a": "int", "b": "str"})
    assert pq.read_table(pa.BufferReader(binary.getvalue())).to_pylist() == [
        {"a": 1, "b": None}]


def test_values_are_coerced_to_the_declared_type(tmp_path: Path) -> None:
    rows = [{"n": "7", "f": "1.5", "b": "yes", "s": 5, "j": {"x": [1]}, "extra": 2},
            {"n": None, "f": 2, "b": False, "s": ["l"], "j": None, "extra": 2.5}]
    columns = {"n": "int", "f": "float", "b": "bool", "s": "str", "j": "json"}
    out = tmp_path / "t.parquet"
    assert export(rows, "parquet", out, columns) == 2
    assert pq.read_table(out).to_pylist() == [  # undeclared "extra" is not exported
        {"n": 7, "f": 1.5, "b": True, "s": "5", "j": '{"x":[1]}'},
        {"n": None, "f": 2.0, "b": False, "s": '["l"]', "j": None},
    ]
    assert schema_for(rows, None) == {"b": "str", "extra": "float", "f": "str", "j": "json",
                                      "n": "str", "s": "json"}


def test_errors_name_the_choices(loaded: Store) -> None:
    with pytest.raises(ExportError, match="unknown view 'nope'"):
        export_view(loaded, "nope", "jsonl", "-")
    with pytest.raises(ExportError, match="formats: jsonl, csv, parquet"):
        export_view(loaded, "channels", "xml", "-")


def test_queue_and_parking_exports_keep_every_field(loaded: Store, tmp_path: Path) -> None:
    """Their columns are declared like every other view's, so nothing the rows hold is lost."""
    assert {"service_level_perf2": "float"}.items() <= declared_columns("queues").items()
    assert {"login_time": "int", "wrapuptime": "int"}.items() <= declared_columns(
        "queue-members").items()
    assert declared_columns("parking-lots")["stop_spcae"] == "str"  # the seed's typo, verbatim
    for view in ("queues", "queue-members", "queue-entries", "parked-calls", "parking-lots"):
        out = tmp_path / f"{view}.jsonl"
        export_view(loaded, view, "jsonl", out, now=NOW)
        rows = [json.loads(line) for line in out.read_text().splitlines()]
        live = Projector(loaded, read_only=True)
        live.catch_up()
        assert rows == [coerce(row, declared_columns(view)) for row in live.rows(view, NOW)]
        live.close()


def test_a_view_without_declared_columns_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    from projections import parking

    monkeypatch.setattr(parking, "COLUMNS", {})
    with pytest.raises(ExportError, match="declares no columns"):
        declared_columns("parked-calls")
