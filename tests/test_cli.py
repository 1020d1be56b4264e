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
import psycopg
import pytest

from engine.capture import capture_events, read_lines
from projections import PROJECTIONS

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


# ------------------------------------------------------------------------------ hardening

def served(*args: str, cwd: Path) -> tuple[subprocess.Popen, str, list[str]]:
    """`switchboard run ARGS --port 0` started; its base URL (from the start-up log) and the
    stderr lines read up to it."""
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    env.pop("SWITCHBOARD_STORE", None)
    proc = subprocess.Popen([*SWITCHBOARD, "run", "--port", "0", *args], cwd=cwd, env=env,
                            stderr=subprocess.PIPE, text=True)
    assert proc.stderr is not None
    lines: list[str] = []
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        line = proc.stderr.readline()
        if not line:
            break
        lines.append(line)
        if "API on http://" in line:
            base = line.split("API on ", 1)[1].strip().removesuffix("/status")
            return proc, base, lines
    proc.kill()
    raise AssertionError("".join(lines))


def stop(proc: subprocess.Popen) -> str:
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=20)
    assert proc.returncode == 0, err
    return err


def one_line(result: subprocess.CompletedProcess) -> str:
    """The command failed with one line on stderr, no traceback; that line."""
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and "Traceback" not in result.stderr, result.stderr
    assert lines[0].startswith("switchboard: ")
    return lines[0]


def test_global_options_before_the_verb_or_after_it(tmp_path: Path, capture) -> None:
    (tmp_path / "sb.toml").write_text('store = "sqlite:///from-config.db"\n')
    done = sb("--config", "sb.toml", "ingest-capture", str(capture("parking")), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "from-config.db").exists()
    before = sb("--config", "sb.toml", "-v", "events", cwd=tmp_path)
    after = sb("events", "--config", "sb.toml", cwd=tmp_path)
    assert before.returncode == after.returncode == 0
    assert before.stdout == after.stdout and before.stdout.count("\n") > 10
    # given both before and after the verb, the one after wins
    other = sb("--store", "sqlite:///other.db", "events", "--store", "sqlite:///from-config.db",
               cwd=tmp_path)
    assert other.stdout == before.stdout and not (tmp_path / "other.db").exists()
    assert sb("--store", "sqlite:///from-config.db", "replay", "verify",
              cwd=tmp_path).returncode == 0


def test_adduser_without_a_terminal_or_a_password_is_one_line_and_exit_2(tmp_path: Path
                                                                         ) -> None:
    result = sb("adduser", "alice", "--role", "admin", cwd=tmp_path, stdin=subprocess.DEVNULL)
    assert result.returncode == 2
    assert "--password-stdin" in one_line(result)
    assert sb("events", cwd=tmp_path).stdout == ""  # nobody added


def test_an_sqlite_file_that_cannot_be_opened_is_one_line_and_exit_4(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("not a database\n" * 100)
    (tmp_path / "folder.db").mkdir()
    for name, why in (("notes.txt", "file is not a database"),
                      ("folder.db", "unable to open database file")):
        result = sb("events", "--store", f"sqlite:///{name}", cwd=tmp_path)
        assert result.returncode == 4
        assert one_line(result) == f"switchboard: cannot open the store sqlite:///{name}: {why}"


def test_a_postgres_that_cannot_be_opened_is_one_line_and_exit_4(tmp_path: Path) -> None:
    for url, why in (
        ("postgresql://postgres@127.0.0.1:5432/no_such_db", 'database "no_such_db" does not '
                                                           "exist"),
        ("postgresql://nobody_here@127.0.0.1:5432/test", 'role "nobody_here" does not exist'),
        ("postgresql://postgres:pw@127.0.0.1:1/test", "Connection refused"),
    ):
        result = sb("events", "--store", url, cwd=tmp_path)
        assert result.returncode == 4, result.stderr
        line = one_line(result)
        assert why in line and "cannot open the store" in line and ":pw@" not in line


def test_a_schema_that_is_not_an_identifier_is_refused_and_nothing_is_created(
        tmp_path: Path) -> None:
    from tests.conftest import PG_URL

    names = ['a"b', "Bad-Name", "x;drop", "1abc", "sp ace", "x" * 64]
    for name in names:
        result = sb("events", "--store", f"{PG_URL}?schema={name}", cwd=tmp_path)
        assert result.returncode == 2, result.stderr
        assert "is not a PostgreSQL identifier" in one_line(result)
    with psycopg.connect(PG_URL) as conn:
        schemas = {r[0] for r in conn.execute("SELECT nspname FROM pg_namespace")}
    assert not schemas & set(names)


def test_the_store_password_is_never_printed(tmp_path: Path, pg_url: str) -> None:
    """Not in the start-up log, nor in `/status` (PostgreSQL here trusts, so any password
    connects)."""
    url = pg_url.replace("postgres@", "postgres:s3cret-pw@")
    proc, base, lines = served("--store", url, cwd=tmp_path)
    try:
        assert "s3cret" not in "".join(lines)
        assert "store postgresql://postgres@127.0.0.1:5432/test?schema=" in lines[-1]
        status = httpx.get(f"{base}/status", timeout=5).json()
    finally:
        err = stop(proc)
    assert "s3cret" not in err and "s3cret" not in json.dumps(status)
    assert status["store"].startswith("postgresql://postgres@127.0.0.1")


def test_a_capture_line_with_a_wall_that_is_not_a_time_stores_nothing(tmp_path: Path,
                                                                       capture) -> None:
    lines = capture("parking").read_text().splitlines()[:6]
    for wall in (None, 1795361648.3, True, ["2026-11-22T15:34:08+00:00"], "yesterday"):
        bad = [*lines[:4], json.dumps({**json.loads(lines[4]), "wall": wall}), *lines[5:]]
        path = tmp_path / "bad.jsonl"
        path.write_text("\n".join(bad) + "\n")
        result = sb("ingest-capture", str(path), cwd=tmp_path)
        assert result.returncode == 1
        assert one_line(result).startswith(f"switchboard: {path}:5: not a capture line: wall")
        assert sb("events", cwd=tmp_path).stdout == ""  # nothing stored, the log readable


def poisoned_log(tmp_path: Path, store: str, capture) -> tuple[int, str]:
    """A log with a row no envelope comes from (as ingest-capture stored a null wall before
    envelopes were checked) between two captures: (its position, a linked id of the log)."""
    from tests.raw_rows import NULL_WALL, insert_raw_row

    first = sb("ingest-capture", str(capture("originate-answered")), "--store", store,
               cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    position = int(first.stdout.rsplit("position ", 1)[1].replace(",", "")) + 1
    insert_raw_row(store, "ami/capture/by-hand", 0, "FullyBooted", NULL_WALL)
    assert sb("ingest-capture", str(capture("parking")), "--store", store,
              cwd=tmp_path).returncode == 0
    calls = json.loads(sb("export", "calls", "--store", store, cwd=tmp_path).stdout
                       .splitlines()[0])
    return position, calls["linked_id"]


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_every_reader_goes_past_a_row_it_cannot_decode(tmp_path: Path, capture, backend: str,
                                                       request: pytest.FixtureRequest) -> None:
    store = (f"sqlite:///{tmp_path / 'log.db'}" if backend == "sqlite"
             else request.getfixturevalue("pg_url"))
    position, linked_id = poisoned_log(tmp_path, store, capture)

    text = sb("events", "--store", store, cwd=tmp_path)
    assert text.returncode == 0 and text.stderr == ""
    [shown] = [line for line in text.stdout.splitlines() if " Unreadable " in line]
    assert shown.split()[0] == str(position) and "stored_type=FullyBooted" in shown
    rows = [json.loads(line) for line in sb("events", "--format", "jsonl", "--store", store,
                                            cwd=tmp_path).stdout.splitlines()]
    assert [r["position"] for r in rows] == list(range(1, len(rows) + 1))
    assert rows[position - 1]["type"] == "Unreadable"

    for verb in (["export", "channels"], ["export", "calls", "--format", "csv"],
                 ["export", "calls-report"], ["replay", "timeline", linked_id],
                 ["replay", "rebuild", "--into", str(tmp_path / "rebuilt.db")]):
        result = sb(*verb, "--store", store, cwd=tmp_path)
        assert result.returncode == 0, (verb, result.stderr)
        assert "Traceback" not in result.stderr
        assert result.stdout or verb[1] == "channels"  # (no channel is up at the end)

    verified = sb("replay", "verify", "--store", store, cwd=tmp_path)
    assert verified.returncode == 3, verified.stdout + verified.stderr
    assert f"  position {position} (FullyBooted): Expected `str`, got `null`" in verified.stdout
    assert "1 row cannot be read" in verified.stdout.splitlines()[-1]
    report = json.loads(sb("replay", "verify", "--format", "json", "--store", store,
                           cwd=tmp_path).stdout)
    assert [r["position"] for r in report["unreadable"]] == [position]

    proc, base, _ = served("--store", store, cwd=tmp_path)
    try:
        for _ in range(100):
            status = httpx.get(f"{base}/status", timeout=5).json()
            if status["projected_position"] >= position:
                break
            time.sleep(0.1)
    finally:
        stop(proc)
    assert status["unreadable_events"]["count"] == 1
    assert status["unreadable_events"]["rows"][0]["position"] == position
    assert status["projector_error"] is None and status["projection_errors"] == {}
    assert status["streams"]["derive_errors"] == 0  # the streams went past it too


def test_counts_read_as_counts_and_verify_says_what_it_compared(tmp_path: Path, capture
                                                                ) -> None:
    one = tmp_path / "one.jsonl"
    one.write_text(capture("parking").read_text().splitlines()[0] + "\n")  # the banner
    ingested = sb("ingest-capture", str(one), cwd=tmp_path)
    assert ingested.stdout.startswith(f"{one}: 1 message, 1 appended, 0 duplicates;")
    verified = sb("replay", "verify", cwd=tmp_path)
    assert verified.returncode == 0
    out = verified.stdout
    assert "log: 1 event\n" in out and "hash chain: intact (1 link)" in out
    assert "compared with 0 recorded states" in out
    assert out.splitlines()[-1].startswith(
        "verify: OK, but only the hash chain (1 event in 1 link) is intact: no recorded state "
        f"of {len(PROJECTIONS)} projections to compare with")
    empty = sb("replay", "verify", "--store", "sqlite:///empty.db", cwd=tmp_path)
    assert empty.stdout.splitlines()[-1] == ("verify: OK, but the log is empty: nothing was "
                                            "compared")
    one_row = sb("export", "channels", "--output", "x.jsonl", cwd=tmp_path)
    assert one_row.stderr == "0 rows of channels written to x.jsonl\n"


def on_a_terminal(*args: str, cwd: Path) -> tuple[int, str]:
    """Run the command with stderr on a pseudo-terminal, as a user at a terminal would;
    its exit code and what it drew there."""
    import pty

    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    env.pop("SWITCHBOARD_STORE", None)
    leader, follower = pty.openpty()
    proc = subprocess.Popen([*SWITCHBOARD, *args], cwd=cwd, env=env, stdout=subprocess.PIPE,
                            stderr=follower)
    os.close(follower)
    drawn = b""
    while True:
        try:
            chunk = os.read(leader, 4096)
        except OSError:  # the command closed its end
            break
        if not chunk:
            break
        drawn += chunk
    proc.wait(60)
    os.close(leader)
    return proc.returncode, drawn.decode("utf-8", "replace")


def test_verify_and_parquet_export_draw_a_progress_bar_on_a_terminal(tmp_path: Path,
                                                                     capture) -> None:
    for name in ("parking", "queue-basic"):
        sb("ingest-capture", str(capture(name)), cwd=tmp_path)
    code, drawn = on_a_terminal("replay", "verify", cwd=tmp_path)
    assert code == 0
    assert "\rhash chain [" in drawn and "\rrebuild [" in drawn and " events " in drawn
    code, drawn = on_a_terminal("export", "calls", "--format", "parquet", "--output",
                                "calls.parquet", cwd=tmp_path)
    assert code == 0
    assert "\rreading the log [" in drawn and "\rwriting parquet [" in drawn
    # not on a pipe: the same commands draw nothing
    assert sb("replay", "verify", cwd=tmp_path).stderr == ""
