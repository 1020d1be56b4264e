"""The replay verbs as a user runs them: `switchboard replay ...` and `export --at` in a
subprocess, on the embedded default store, over the shared captures."""

from __future__ import annotations

import csv
import io
import json
import sqlite3
from pathlib import Path

from engine.capture import capture_events
from engine.store import open_store
from projections.runner import Projector
from tests.captures import CAPTURE_FILES
from tests.test_cli import sb


def make_log(tmp_path: Path) -> int:
    store = open_store(f"sqlite:///{tmp_path / 'switchboard.db'}")
    for path in CAPTURE_FILES:
        store.append(list(capture_events(path, path.stem)))
    with Projector(store) as live:
        live.catch_up()
    last = store.last_position()
    store.close()
    return last


def test_replay_verbs(tmp_path: Path) -> None:
    last = make_log(tmp_path)
    live_before = sqlite3.connect(tmp_path / "switchboard.derived.db").execute(
        "SELECT name, position, state FROM switchboard_projections ORDER BY name").fetchall()

    rebuilt = sb("replay", "rebuild", "--to", "500", "--projection", "calls", cwd=tmp_path)
    assert rebuilt.returncode == 0, rebuilt.stderr
    assert "at position 500" in rebuilt.stdout and "switchboard.rebuild.db" in rebuilt.stdout
    rows = sqlite3.connect(tmp_path / "switchboard.rebuild.db").execute(
        "SELECT name, position FROM switchboard_projections").fetchall()
    assert rows == [("calls", 500)]
    refused = sb("replay", "rebuild", "--into", "switchboard.db", cwd=tmp_path)
    assert refused.returncode == 2 and "the log itself" in refused.stderr
    live_after = sqlite3.connect(tmp_path / "switchboard.derived.db").execute(
        "SELECT name, position, state FROM switchboard_projections ORDER BY name").fetchall()
    assert live_after == live_before

    verified = sb("replay", "verify", "--format", "json", cwd=tmp_path)
    assert verified.returncode == 0, verified.stdout + verified.stderr
    report = json.loads(verified.stdout)
    assert report["ok"] and report["chain"]["ok"] and report["position"] == last

    timeline = sb("replay", "timeline", "1795361615.18", "--format", "jsonl", cwd=tmp_path)
    events = [json.loads(line) for line in timeline.stdout.splitlines()]
    assert events[0]["offset"] == 0.0 and events[0]["type"] == "Newchannel"
    assert sb("replay", "timeline", "nobody", cwd=tmp_path).returncode == 1

    snap = sb("replay", "snapshot", "--interval", "250", cwd=tmp_path)
    assert snap.returncode == 0 and "3 positions" in snap.stdout


def test_export_at_a_moment_and_the_calls_report(tmp_path: Path) -> None:
    make_log(tmp_path)
    at = sb("export", "channels", "--at", "420", "--format", "csv", cwd=tmp_path)
    assert at.returncode == 0, at.stderr
    assert "channels at position 420" in at.stderr
    header = next(csv.reader(io.StringIO(at.stdout)))
    assert header[:3] == ["server", "unique_id", "linked_id"]
    report = sb("export", "calls-report", "--format", "csv", "-o", "calls.csv", cwd=tmp_path)
    assert report.returncode == 0, report.stderr
    rows = list(csv.DictReader((tmp_path / "calls.csv").open()))
    assert len(rows) == 14 and {r["outcome"] for r in rows} >= {"answered", "busy",
                                                                 "abandoned"}
    bad = sb("export", "calls", "--at", "whenever", cwd=tmp_path)
    assert bad.returncode == 2 and "neither a position" in bad.stderr


def test_a_moment_that_is_no_moment_is_refused(tmp_path: Path) -> None:
    """Issue 12 item 9: `--at -5` (and 1.5, an empty value, a position past the end) used to be
    taken as some moment in 1970 or clamped to the end; now exit 2 saying what is accepted."""
    last = make_log(tmp_path)
    for at in ("-5", "1.5", "", str(last + 1), "garbage"):
        refused = sb("export", "channels", "--at", at, cwd=tmp_path)
        assert refused.returncode == 2, (at, refused.stdout, refused.stderr)
        assert refused.stderr.startswith("switchboard: ") and "position" in refused.stderr
        assert refused.stdout == ""
    assert sb("export", "channels", "--at", str(last), cwd=tmp_path).returncode == 0
    assert sb("export", "channels", "--at", "2026-11-22T15:33:07Z", cwd=tmp_path).returncode == 0
