"""Open the log named by a store URL: `sqlite:///path.db` (default) or `postgresql://...`."""

from __future__ import annotations

import os
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from engine.store.base import Store

DEFAULT_URL = "sqlite:///switchboard.db"


class StoreURLError(ValueError):
    pass


def sqlite_path(url: str) -> str | None:
    """The file of an `sqlite:///FILE` URL; None for any other URL."""
    return url[len("sqlite:///"):] if url.startswith("sqlite:///") else None


def derived_path(url: str) -> str | None:
    """The SQLite file beside an `sqlite:///FILE` log that holds what is derived from it: the
    projections' checkpoints, the replay snapshots and the timeline index (`switchboard.db` ->
    `switchboard.derived.db`); None for any other URL (PostgreSQL keeps them in tables beside
    the log). A file of its own, because SQLite has one writer per file: megabytes of
    checkpoints or an index chunk written into the log's file held its write lock (and the
    dialer's next decision) for up to tens of milliseconds, and the log's next commit synced
    them to disk. Everything in it is rebuilt from the log: delete it and it is."""
    path = sqlite_path(url)
    if not path:
        return None
    head, dot, suffix = path.rpartition(".")
    if not dot or "/" in suffix:
        return path + ".derived"
    return f"{head}.derived.{suffix}"


def split_schema(url: str) -> tuple[str, str | None]:
    """A PostgreSQL store URL without its `schema` parameter, and that schema."""
    parts = urlsplit(url)
    query = parse_qsl(parts.query)
    schema = next((v for k, v in query if k == "schema"), None)
    rest = urlencode([(k, v) for k, v in query if k != "schema"])
    return urlunsplit(parts._replace(query=rest)), schema


def open_store(url: str = DEFAULT_URL) -> Store:
    path = sqlite_path(url)
    if path is not None:
        from engine.store.sqlite import SQLiteStore

        if not path:
            raise StoreURLError(f"store URL {url!r} names no file (sqlite:///path/to/file.db)")
        folder = os.path.dirname(path) or "."
        if not os.path.isdir(folder):
            hint = (f"; an absolute path takes four slashes: sqlite:///{'/' + path}"
                    if not path.startswith("/") else "")
            raise StoreURLError(f"store URL {url!r}: folder {folder!r} does not exist{hint}")
        return SQLiteStore(url, path)
    if url.startswith(("postgresql://", "postgres://")):
        from engine.store.postgres import PostgresStore

        return PostgresStore(url)
    raise StoreURLError(
        f"store URL {url!r} is not sqlite:///FILE or postgresql://USER@HOST:PORT/DB"
    )


__all__ = ["DEFAULT_URL", "Store", "StoreURLError", "derived_path", "open_store", "split_schema",
           "sqlite_path"]
