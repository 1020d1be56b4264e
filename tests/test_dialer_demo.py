"""`switchboard demo`: one command runs the simulated PBX, the engine, the dialer, the API and a
sample campaign that starts on its own; it says where to look, and stops cleanly on SIGTERM."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]


def test_demo_runs_a_campaign_on_its_own(tmp_path: Path) -> None:
    out = tmp_path / "demo.out"
    proc = subprocess.Popen(
        [sys.executable, "-m", "engine.cli", "demo", "--port", "0",
         "--store", f"sqlite:///{tmp_path / 'demo.db'}"],
        cwd=tmp_path, stdout=out.open("wb"), stderr=subprocess.STDOUT,
        env={**os.environ, "PYTHONPATH": str(ROOT), "PYTHONUNBUFFERED": "1"})
    try:
        deadline = time.monotonic() + 30
        while "Ctrl-C stops" not in out.read_text():
            assert proc.poll() is None and time.monotonic() < deadline, out.read_text()
            time.sleep(0.05)
        text = out.read_text()
        base = next(line.split()[1] for line in text.splitlines() if line.startswith("ready"))
        assert f"{base}/ob/dialings" in text and "outbound_result.json" in text
        (camp,) = httpx.get(f"{base}/ob/campaigns").json()["result"]["list"]
        assert httpx.get(f"{base}/ob/campaigns/{camp['uuid']}").json()["result"]["status"] == 1
        while not httpx.get(f"{base}/ob/results").json()["result"]["list"]:
            assert time.monotonic() < deadline + 15, "no call finished"
            time.sleep(0.1)
        status = httpx.get(f"{base}/status").json()
        assert status["dialer"]["live"] and status["dialer"]["originates"] >= 1
        assert (tmp_path / "outbound_result.json").exists()
    finally:
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(20)
    assert code == 0, out.read_text()
