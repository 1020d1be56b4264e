"""Open the log named by a store URL: `sqlite:///path.db` (default) or `postgresql://...`."""

from __future__ import annotations

from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from engine.store.base import Store

DEFAULT_URL = "sqlite:///switchboard.db"


class StoreURLError(ValueError):
    pass


def sqlite_path(url: str) -> str | None:
    """The file of an `sqlite:///FILE` URL; None for any other URL."""
    return url[len("sqlite:///"):] if url.startswith("sqlite:///") else None


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
        return SQLiteStore(url, path)
    if url.startswith(("postgresql://", "postgres://")):
        from engine.store.postgres import PostgresStore

        return PostgresStore(url)
    raise StoreURLError(
        f"store URL {url!r} is not sqlite:///FILE or postgresql://USER@HOST:PORT/DB"
    )


__all__ = ["DEFAULT_URL", "Store", "StoreURLError", "open_store", "split_schema", "sqlite_path"]
