"""scripts/bench_projections.py prints only what it measured."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_the_checkpointed_catch_up_is_a_measurement_of_the_whole_log() -> None:
    """Its checkpoints moved to the derived file and the benchmark kept dropping the table in
    the log's: every run after the first resumed at the end of the log, applied nothing, and
    "best of" printed 2,679,729,455 events/s."""
    out = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "bench_projections.py"), "--events", "3000",
         "--channels", "100", "--naive", "500", "--repeat", "3"],
        capture_output=True, text=True, timeout=300, check=True).stdout

    def rate(label: str) -> float:
        [line] = [line for line in out.splitlines() if label in line]
        return float(re.findall(r"([\d,]+) events/s", line)[-1].replace(",", ""))

    without = rate("all projections, from SQLite (read+decode+apply)")
    with_checkpoints = rate("same, with checkpoints")
    assert with_checkpoints < 3 * without, out
