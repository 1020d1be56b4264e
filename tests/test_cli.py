"""The `switchboard` command, run as a user runs it: a subprocess, real files, real HTTP."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

from engine.capture import capture_events, read_lines

SWITCHBOARD = [sys.executable, "-m", "engine.cli"]


def sb(*args: str, cwd: Path, **kw) -> subprocess.CompletedProcess:  # noqa: ANN003
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    env.pop("SWITCHBOARD_STORE", None)
    return subprocess.run([*SWITCHBOARD, *args], cwd=cwd, capture_output=True, text=True,
                          timeout=60, env=env, **kw)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_ingest_capture_then_events_jsonl(tmp_path: Path, capture) -> None:
    path = capture("parking")
    first = sb("ingest-capture", str(path), "--server", "pbx1", "--until", "5", cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    expected_head = list(capture_events(path, "pbx1", until=5))
    assert f"{len(expected_head)} appended" in first.stdout
    second = sb("ingest-capture", str(path), "--server", "pbx1", cwd=tmp_path)
    inbound_all = list(capture_events(path, "pbx1"))
    assert f"{len(inbound_all) - len(expected_head)} appended" in second.stdout
    assert f"{len(expected_head)} duplicates" in second.stdout
    assert (tmp_path / "switchboard.db").exists()  # the embedded default store

    out = sb("events", "--format", "jsonl", cwd=tmp_path)
    rows = [json.loads(line) for line in out.stdout.splitlines()]
    assert len(rows) == len(inbound_all)
    assert list(rows[0]) == ["position", "stream", "version", "type", "recorded_at", "server",
                             "data", "causation_id", "correlation_id"]
    assert [r["position"] for r in rows] == list(range(1, len(rows) + 1))
    assert [r["type"] for r in rows] == [e.type for e in inbound_all]
    walls = [line.wall for line in read_lines(path) if line.dir == "in"]
    assert rows[0]["recorded_at"] == walls[0] and rows[0]["server"] == "pbx1"

    tail = sb("events", "--from", str(len(rows) - 1), cwd=tmp_path)
    assert len(tail.stdout.splitlines()) == 2 and tail.stdout.split()[0] == str(len(rows) - 1)


def test_events_follow_prints_new_events_as_they_commit(tmp_path: Path, capture) -> None:
    store = f"sqlite:///{tmp_path / 'log.db'}"
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    follower = subprocess.Popen([*SWITCHBOARD, "events", "--follow", "--store", store,
                                 "--format", "jsonl"], stdout=subprocess.PIPE, text=True,
                                cwd=tmp_path, env=env)
    try:
        time.sleep(1.0)
        done = sb("ingest-capture", str(capture("originate-answered")), "--store", store,
                  cwd=tmp_path)
        assert done.returncode == 0
        assert follower.stdout is not None
        lines = [follower.stdout.readline() for _ in range(3)]
        assert [json.loads(line)["position"] for line in lines] == [1, 2, 3]
    finally:
        follower.terminate()
        follower.wait(5)


def test_bad_config_names_the_key_and_exits_2(tmp_path: Path) -> None:
    (tmp_path / "switchboard.toml").write_text('[[servers]]\nname = "a"\nport = "five"\n')
    result = sb("events", cwd=tmp_path)
    assert result.returncode == 2 and "servers[0].port" in result.stderr


def test_bad_store_url_is_a_clear_error(tmp_path: Path) -> None:
    result = sb("events", "--store", "oracle://x", cwd=tmp_path)
    assert result.returncode == 2 and "oracle://x" in result.stderr


def test_run_without_servers_says_so_and_serves_the_log(tmp_path: Path, capture) -> None:
    sb("ingest-capture", str(capture("queue-abandon")), cwd=tmp_path)
    port = free_port()
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    proc = subprocess.Popen([*SWITCHBOARD, "run", "--port", str(port)], cwd=tmp_path, env=env,
                            stderr=subprocess.PIPE, text=True)
    try:
        status = None
        for _ in range(100):
            try:
                status = httpx.get(f"http://127.0.0.1:{port}/status", timeout=1).json()
                break
            except httpx.TransportError:
                time.sleep(0.1)
        assert status is not None and status["servers"] == []
        # what the log held, plus the dialer's DialerStarted marker
        assert status["last_position"] == len(list(capture_events(capture("queue-abandon")))) + 1
    finally:
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=10)
    assert proc.returncode == 0
    assert "no AMI server configured" in err


def test_run_ingests_from_a_configured_asterisk(tmp_path: Path, capture) -> None:
    ami_port, api_port = free_port(), free_port()
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    fake = subprocess.Popen([sys.executable, "-m", "engine.ami.testserver", "--capture",
                             str(capture("originate-answered")), "--port", str(ami_port)],
                            env=env, stderr=subprocess.PIPE, text=True)
    (tmp_path / "switchboard.toml").write_text(
        f'[[servers]]\nname = "pbx1"\nport = {ami_port}\nusername = "admin"\nsecret = "admin"\n'
    )
    proc = subprocess.Popen([*SWITCHBOARD, "run", "--port", str(api_port)], cwd=tmp_path,
                            env=env, stderr=subprocess.PIPE, text=True)
    try:
        status: dict = {}
        for _ in range(100):
            try:
                status = httpx.get(f"http://127.0.0.1:{api_port}/status", timeout=1).json()
                if status["servers"][0]["state"] == "connected" and status["last_position"] > 70:
                    break
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        assert status["servers"][0]["state"] == "connected", status
        assert status["last_position"] > 70  # the capture's 70 messages and our list answers
    finally:
        proc.send_signal(signal.SIGINT)
        proc.communicate(timeout=10)
        fake.send_signal(signal.SIGINT)
        fake.communicate(timeout=10)
    assert proc.returncode == 0


def test_export_views_in_every_format(tmp_path: Path, capture) -> None:
    import pyarrow.parquet as pq

    sb("ingest-capture", str(capture("parking")), "--until", "5.5", cwd=tmp_path)
    out = sb("export", "parked-calls", cwd=tmp_path)
    rows = [json.loads(line) for line in out.stdout.splitlines()]
    assert rows and {r["parking_lot"] for r in rows} == {"default"}
    assert all(r["parking_space"] and r["parkee_channel"].startswith("Local/") for r in rows)
    csv_out = sb("export", "channels", "--format", "csv", cwd=tmp_path)
    assert csv_out.stdout.splitlines()[0].startswith("server,unique_id,linked_id,channel,")
    done = sb("export", "calls", "--format", "parquet", "--output", "calls.parquet", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    table = pq.read_table(tmp_path / "calls.parquet")
    assert "linked_id" in table.column_names and table.num_rows >= 1
    bad = sb("export", "nope", cwd=tmp_path)
    assert bad.returncode == 2 and "unknown view 'nope'" in bad.stderr
