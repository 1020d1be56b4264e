"""Waiting in async tests: poll a condition on the event loop until it holds."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


async def until(condition: Callable[[], T], timeout: float = 15.0,
                what: str = "condition") -> T:
    """Call `condition` every 10 ms until it returns something true, and return that; fail
    the test if it has not within `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} not met within {timeout}s")
        await asyncio.sleep(0.01)
