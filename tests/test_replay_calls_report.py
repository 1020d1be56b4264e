"""The analyst's calls report (one row per call, the `calls` view's logic plus parties and
agents), streamed in constant memory in every format, and the terminal progress bar."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from engine.capture import capture_events
from engine.envelope import Event
from engine.store import open_store
from projections.runner import replay
from replay.calls_report import COLUMNS, EVENT_TYPES, CallsReport, report_rows
from replay.cli import export_calls_report
from replay.export import export
from replay.progress import Progress
from replay.reader import open_reader
from tests.captures import CAPTURE_FILES, all_capture_events

EVENTS = all_capture_events()


def test_one_row_per_call_agreeing_with_the_calls_view() -> None:
    rows = list(report_rows([EVENTS], window=2))
    view = {r["linked_id"]: r for r in replay(EVENTS).rows("calls", 0.0)}
    assert sorted(r["linked_id"] for r in rows) == sorted(view)
    for row in rows:
        assert list(row) == list(COLUMNS)
        call = view[row["linked_id"]]
        for mine, theirs in [("outcome", "outcome"), ("cause", "cause"), ("start", "start"),
                             ("answer", "answer"), ("end", "end"), ("queue", "queue"),
                             ("wait_seconds", "wait_time"), ("talk_seconds", "talk_time"),
                             ("duration_seconds", "duration"), ("legs", "legs")]:
            assert row[mine] == call[theirs], (row["linked_id"], mine)
        assert row["first_position"] <= row["last_position"]


def test_parties_queue_and_agent() -> None:
    rows = {r["server"]: r for r in report_rows([EVENTS])
            if r["server"] in ("originate-answered", "queue-basic", "queue-abandon")}
    originated = rows["originate-answered"]
    assert (originated["caller_num"], originated["caller_name"], originated["dialed"]) == (
        "5550100", "Campaign A", "101")
    assert originated["outcome"] == "answered" and originated["cause"] == 16
    queued = rows["queue-basic"]
    assert queued["queue"] == "sales" and queued["agent"] == "Alice"
    assert queued["agent_interface"] and queued["talk_seconds"] > 0
    abandoned = rows["queue-abandon"]
    assert abandoned["outcome"] == "abandoned" and abandoned["agent"] is None


def test_memory_holds_the_calls_in_flight_not_the_log() -> None:
    """Ten thousand calls through a report with a window of 50: at no point are more than the
    window's ended calls (and the one in flight) held."""
    report = CallsReport(window=50)
    emitted, held = 0, 0
    t = "2026-11-22T15:33:07.000000+00:00"
    position = 0
    for i in range(10_000):
        for type_, extra in (("Newchannel", {"ChannelState": "4"}),
                             ("Newstate", {"ChannelState": "6"}),
                             ("Hangup", {"Cause": "16"})):
            position += 1
            data = {"Uniqueid": f"c{i}", "Linkedid": f"c{i}", "Channel": f"PJSIP/{i}",
                    "Timestamp": f"{1795361587 + position}.0", **extra}
            emitted += len(report.feed(Event(position, "ami/pbx1/s", position, type_, t,
                                             "pbx1", data)))
            held = max(held, len(report.state["calls"]))
    emitted += len(report.finish(None))
    assert emitted == 10_000 and held <= 52
    assert report.state["calls"] == {} and report.parties == {}


def test_export_streams_rows_as_they_come() -> None:
    """With declared columns, export writes each row before asking for the next."""
    out = io.BytesIO()

    def rows() -> Iterator[dict]:
        for i in range(5):
            assert out.getvalue().count(b"\n") == i  # the previous rows are already written
            yield {"n": i}

    assert export(rows(), "jsonl", out, {"n": "int"}) == 5


@pytest.mark.parametrize("fmt", ["csv", "jsonl", "parquet"])
def test_the_report_file_in_each_format(tmp_path: Path, fmt: str) -> None:
    url = f"sqlite:///{tmp_path / 'log.db'}"
    store = open_store(url)
    for path in CAPTURE_FILES:
        store.append(list(capture_events(path, path.stem)))
    store.close()
    out = tmp_path / f"calls.{fmt}"
    count = export_calls_report(url, fmt, str(out), None)
    assert count == 14
    if fmt == "csv":
        rows = list(csv.DictReader(out.open()))
        assert list(rows[0]) == list(COLUMNS) and len(rows) == count
    elif fmt == "jsonl":
        rows = [json.loads(line) for line in out.read_text().splitlines()]
        assert [list(r) for r in rows] == [list(COLUMNS)] * count
    else:
        table = pq.read_table(out)
        assert table.column_names == list(COLUMNS) and table.num_rows == count
        empty = tmp_path / "empty.parquet"
        open_store(f"sqlite:///{tmp_path / 'empty.db'}").close()
        assert export_calls_report(f"sqlite:///{tmp_path / 'empty.db'}", fmt, str(empty),
                                   None) == 0
        assert pq.read_schema(empty).equals(pq.read_schema(out))  # types never from data
    early = export_calls_report(url, "jsonl", str(tmp_path / "early.jsonl"), "300")
    with open_reader(url) as reader:
        started = {e.data["Linkedid"] for e in reader.events(0, 300, EVENT_TYPES)
                   if e.type == "Newchannel"}
    assert early == len(started)


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_draws_only_on_a_terminal() -> None:
    tty, pipe = Terminal(), io.StringIO()
    for stream in (tty, pipe):
        with Progress("replay", 1000, stream) as bar:
            bar._drawn = -1.0
            bar.update(500)
    assert "replay [" in tty.getvalue() and "50%" in tty.getvalue()
    assert tty.getvalue().endswith("\r")  # erased when done
    assert pipe.getvalue() == ""
