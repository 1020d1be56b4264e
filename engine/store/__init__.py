"""Open the log named by a store URL: `sqlite:///path.db` (default) or `postgresql://...`."""

from __future__ import annotations

import os
import re
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from engine.redact import redact_url
from engine.store.base import Store

DEFAULT_URL = "sqlite:///switchboard.db"
# What `?schema=` may name: an unquoted PostgreSQL identifier in lower case. The schema's name
# is written into SQL (and the eventsourcing library writes it unquoted into type names), so
# anything else is refused before a connection is opened, and nothing is created from it.
SCHEMA_NAME = re.compile(r"[a-z_][a-z0-9_]{0,62}")


class StoreURLError(ValueError):
    """The store URL itself is wrong (exit code USAGE)."""


class StoreUnavailable(RuntimeError):  # noqa: N818 - the name says what happened
    """The store named by a valid URL cannot be opened: the database server is unreachable,
    refuses the login, or has no such database (exit code STORE_UNAVAILABLE)."""


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
    """A PostgreSQL store URL without its `schema` parameter, and that schema (None: none
    given). A schema that is not a lower-case identifier (`SCHEMA_NAME`) is a StoreURLError:
    every PostgreSQL table of switchboard is named through here or `open_store`."""
    parts = urlsplit(url)
    query = parse_qsl(parts.query, keep_blank_values=True)
    schemas = [v for k, v in query if k == "schema"]
    if len(schemas) > 1:
        raise StoreURLError(
            f"store URL {redact_url(url)!r}: schema is given {len(schemas)} times")
    schema = schemas[0] if schemas else None
    if schema is not None and not SCHEMA_NAME.fullmatch(schema):
        raise StoreURLError(
            f"store URL {redact_url(url)!r}: schema {schema!r} is not a PostgreSQL identifier "
            "(lower-case letters, digits and _, not starting with a digit, at most 63)")
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

        split_schema(url)  # an invalid schema name is refused before anything connects
        return PostgresStore(url)
    raise StoreURLError(
        f"store URL {redact_url(url)!r} is not sqlite:///FILE or postgresql://USER@HOST:PORT/DB"
    )


__all__ = ["DEFAULT_URL", "Store", "StoreURLError", "StoreUnavailable", "derived_path",
           "open_store", "split_schema", "sqlite_path"]
