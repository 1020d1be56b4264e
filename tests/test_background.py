"""Writes handed to a `Background` run in order, off the caller's thread, and a failing one
does not stop the rest."""

from __future__ import annotations

import threading
import time

import pytest

from engine.background import Background


def test_jobs_run_in_order_on_their_own_thread_and_flush_waits_for_them() -> None:
    background = Background("test")
    done: list[tuple[int, str]] = []

    def job(n: int) -> None:
        time.sleep(0.001)
        done.append((n, threading.current_thread().name))

    for n in range(20):
        background.submit(job, n)
    background.flush()
    assert [n for n, _ in done] == list(range(20))
    assert {name for _, name in done} == {"test"}
    background.close()


def test_a_failing_job_is_logged_and_the_next_ones_run(caplog: pytest.LogCaptureFixture) -> None:
    background = Background("test")
    done: list[int] = []

    def fail() -> None:
        raise OSError("disk full")

    background.submit(fail)
    background.submit(done.append, 1)
    background.close()  # finishes what was submitted
    assert done == [1]
    assert "disk full" in caplog.text
    with pytest.raises(RuntimeError):
        background.submit(done.append, 2)
