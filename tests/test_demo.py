"""`switchboard demo` goes through the same guard as `run` (`api.app.startup`)."""

from __future__ import annotations

import os
import signal
import subprocess
from pathlib import Path

import httpx
import pytest

from tests.test_cli import SWITCHBOARD, one_line, sb


@pytest.mark.parametrize("extra", [[], ["--no-simulator"]])
def test_demo_refuses_an_open_api_on_a_non_loopback_address(tmp_path: Path,
                                                            extra: list[str]) -> None:
    """Served on 0.0.0.0 with no user, the demo let anyone on the network hang up calls (with
    --no-simulator, a real PBX's): refused in one line, exit 2, nothing appended."""
    result = sb("demo", "--host", "0.0.0.0", "--port", "0", *extra, cwd=tmp_path)
    assert result.returncode == 2
    assert one_line(result).startswith("switchboard: refusing to serve the API on 0.0.0.0: "
                                       "access control is off")
    assert sb("events", cwd=tmp_path).stdout == ""


def test_demo_creates_the_configured_admin_and_then_serves_with_access_control(
        tmp_path: Path) -> None:
    (tmp_path / "switchboard.toml").write_text(
        '[auth]\ninitial_admin = "root"\ninitial_password = "correct horse battery"\n')
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    proc = subprocess.Popen([*SWITCHBOARD, "demo", "--host", "0.0.0.0", "--port", "0",
                             "--no-sample"], cwd=tmp_path, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL, text=True)
    try:
        assert proc.stdout is not None
        ready = proc.stdout.readline()
        assert ready.startswith("ready http://0.0.0.0:"), ready
        base = ready.split()[1].replace("0.0.0.0", "127.0.0.1")
        assert httpx.get(f"{base}/ob/campaigns", timeout=5).status_code == 401
        login = httpx.post(f"{base}/admin/login", auth=("root", "correct horse battery"),
                           timeout=5)
        assert login.status_code == 200, login.text
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(30)
    assert proc.returncode == 0


def test_the_demo_says_where_to_look_without_the_store_password() -> None:
    from engine.config import parse
    from engine.demo import where

    config = parse({"store": "postgresql://sb:s3cret@db.example:5432/sb?schema=demo"})
    text = where(config, "http://127.0.0.1:8080", None, {"uuid": "c-1", "dlma": "d-1"})
    assert "s3cret" not in text
    assert "log: postgresql://sb@db.example:5432/sb?schema=demo" in text
    assert "--store postgresql://sb@db.example:5432/sb?schema=demo" in text


def test_a_refused_start_does_not_create_the_configured_admin_either(tmp_path: Path) -> None:
    """Access control switched off with an initial admin configured: refused on 0.0.0.0
    before the admin is created, so the refused start leaves the log empty."""
    (tmp_path / "switchboard.toml").write_text(
        '[auth]\nenabled = false\ninitial_admin = "root"\n'
        'initial_password = "correct horse battery"\n')
    result = sb("demo", "--host", "0.0.0.0", "--port", "0", "--no-sample", cwd=tmp_path)
    assert result.returncode == 2 and "refusing to serve" in one_line(result)
    assert sb("events", cwd=tmp_path).stdout == ""
