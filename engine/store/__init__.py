"""Open the log named by a store URL: `sqlite:///path.db` (default) or `postgresql://...`."""

from __future__ import annotations

from engine.store.base import Store

DEFAULT_URL = "sqlite:///switchboard.db"


class StoreURLError(ValueError):
    pass


def open_store(url: str = DEFAULT_URL) -> Store:
    if url.startswith("sqlite:///"):
        from engine.store.sqlite import SQLiteStore

        path = url[len("sqlite:///"):]
        if not path:
            raise StoreURLError(f"store URL {url!r} names no file (sqlite:///path/to/file.db)")
        return SQLiteStore(url, path)
    if url.startswith(("postgresql://", "postgres://")):
        from engine.store.postgres import PostgresStore

        return PostgresStore(url)
    raise StoreURLError(
        f"store URL {url!r} is not sqlite:///FILE or postgresql://USER@HOST:PORT/DB"
    )


__all__ = ["DEFAULT_URL", "Store", "StoreURLError", "open_store"]
