"""Fixtures shared by the suite: a real log on each backend, real captures."""

from __future__ import annotations

import os
import secrets
from collections.abc import Callable, Iterator
from pathlib import Path

import psycopg
import pytest

from engine.store import Store, open_store
from tests.captures import CAPTURE_FILES, CAPTURES  # noqa: F401  (re-exported for tests)

PG_URL = os.environ.get("SWITCHBOARD_TEST_PG", "postgresql://postgres@127.0.0.1:5432/test")


def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'log.db'}"


@pytest.fixture
def pg_url() -> Iterator[str]:
    """A fresh schema per test, dropped afterwards: tests never see each other's events."""
    schema = "t_" + secrets.token_hex(6)
    yield f"{PG_URL}?schema={schema}"
    with psycopg.connect(PG_URL, autocommit=True) as conn:
        conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return sqlite_url(tmp_path)
    return request.getfixturevalue("pg_url")


@pytest.fixture
def store(store_url: str) -> Iterator[Store]:
    s = open_store(store_url)
    yield s
    s.close()


@pytest.fixture
def capture() -> Callable[[str], Path]:
    """A shared capture by name: capture("parking") -> .../parking.jsonl."""

    def path(name: str) -> Path:
        found = CAPTURES / f"{name}.jsonl"
        assert found.exists(), found
        return found

    return path
