"""Export a view (channels, calls, queues, ...) as JSON lines, CSV or Parquet.

Columns and their types come from the view's declared fields (its projection module's
`COLUMNS`, part of the contract in `projections/base.py`), never from the rows: an empty export,
or one whose first row has a null, has the same schema as any other, so files from different
days load into one table. Types: str, int, float, bool, json (objects and lists: native in JSON
lines, JSON text in CSV and Parquet). `export` of rows with no columns given (ad hoc) infers a
schema from all the rows.

    export_view(store, "channels", "parquet", "channels.parquet")   # -> rows written
"""

from __future__ import annotations

import csv
import io
import sys
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

import msgspec

from engine.store import Store
from projections.base import Row, to_float, to_int

FORMATS = ("jsonl", "csv", "parquet")
TYPES = ("str", "int", "float", "bool", "json")
Output = str | Path | IO[bytes] | IO[str] | None

_json = msgspec.json.Encoder()


class ExportError(ValueError):
    pass


# ------------------------------------------------------------------------------ schema

def declared_columns(view: str) -> dict[str, str]:
    """The view's declared columns (its module's `COLUMNS`), in order."""
    from projections import VIEWS

    if view not in VIEWS:
        raise ExportError(f"unknown view {view!r}; views: {', '.join(sorted(VIEWS))}")
    module, _ = VIEWS[view]
    declared = getattr(module, "COLUMNS", {}).get(view)
    if not declared:
        raise ExportError(f"view {view!r} declares no columns ({module.__name__}.COLUMNS)")
    return dict(declared)


def _infer(values: Iterable[Any]) -> str:
    kinds: set[str] = set()
    for v in values:
        if v is None:
            continue
        if isinstance(v, bool):
            kinds.add("bool")
        elif isinstance(v, int):
            kinds.add("int")
        elif isinstance(v, float):
            kinds.add("float")
        elif isinstance(v, (dict, list, tuple)):
            kinds.add("json")
        else:
            kinds.add("str")
    if len(kinds) == 1:
        return kinds.pop()
    if kinds == {"int", "float"}:
        return "float"
    return "json" if "json" in kinds else "str"


def schema_for(rows: list[Row], declared: Mapping[str, str] | None) -> dict[str, str]:
    """The declared columns, exactly; with no declaration, every key of the rows (sorted),
    typed from all their values."""
    if declared:
        return dict(declared)
    names = sorted({k for row in rows for k in row})
    return {name: _infer(row.get(name) for row in rows) for name in names}


# ------------------------------------------------------------------------------ coercion

def _to_bool(v: Any) -> bool | None:
    if v is None or isinstance(v, bool):
        return v
    if isinstance(v, (int, float)):
        return bool(v)
    if isinstance(v, str):
        low = v.strip().lower()
        if low in ("true", "yes", "1", "on"):
            return True
        if low in ("false", "no", "0", "off", ""):
            return False
    return None


def _to_str(v: Any) -> str | None:
    if v is None or isinstance(v, str):
        return v
    if isinstance(v, (dict, list, tuple, bool)):
        return _json.encode(v).decode()
    return str(v)


def _to_json_text(v: Any) -> str | None:
    return None if v is None else _json.encode(v).decode()


# int64 and finite floats only (`projections.base`): what Parquet and every reader can hold.
_COERCE = {"str": _to_str, "int": to_int, "float": to_float, "bool": _to_bool}


def coerce(row: Row, columns: Mapping[str, str]) -> Row:
    """A row with exactly the schema's columns, each of its declared type (json kept native)."""
    out: Row = {}
    for name, kind in columns.items():
        value = row.get(name)
        fn = _COERCE.get(kind)
        out[name] = fn(value) if fn else value
    return out


# ------------------------------------------------------------------------------ writers

@contextmanager
def _sink(output: Output) -> Iterator[IO[bytes]]:
    """A binary stream for a path, '-' / None (stdout), or an open text or binary stream."""
    if output is None or output == "-":
        yield sys.stdout.buffer
        sys.stdout.buffer.flush()
        return
    if isinstance(output, (str, Path)):
        with open(output, "wb") as fh:
            yield fh
        return
    if isinstance(output, io.TextIOBase):
        buffer = getattr(output, "buffer", None)
        if buffer is not None:
            output.flush()
            yield buffer
            buffer.flush()
            return
        data = io.BytesIO()
        yield data
        output.write(data.getvalue().decode("utf-8"))
        return
    yield output  # type: ignore[misc]


def _write_jsonl(rows: Iterable[Row], columns: Mapping[str, str], out: IO[bytes]) -> int:
    n = 0
    for row in rows:
        out.write(_json.encode(coerce(row, columns)))
        out.write(b"\n")
        n += 1
    return n


def _csv_cell(value: Any, kind: str) -> str:
    if value is None:
        return ""
    if kind == "bool":
        return "true" if value else "false"
    if kind == "json":
        return _json.encode(value).decode()
    return str(value)


def _write_csv(rows: Iterable[Row], columns: Mapping[str, str], out: IO[bytes]) -> int:
    text = io.TextIOWrapper(out, encoding="utf-8", newline="", write_through=True)
    writer = csv.writer(text, lineterminator="\n")
    writer.writerow(list(columns))
    n = 0
    for row in rows:
        fixed = coerce(row, columns)
        writer.writerow([_csv_cell(fixed[name], kind) for name, kind in columns.items()])
        n += 1
    text.flush()
    text.detach()
    return n


PARQUET_BATCH = 50_000


def _write_parquet(rows: Iterable[Row], columns: Mapping[str, str], out: IO[bytes]) -> int:
    import pyarrow as pa
    import pyarrow.parquet as pq

    types = {"str": pa.string(), "int": pa.int64(), "float": pa.float64(),
             "bool": pa.bool_(), "json": pa.string()}
    schema = pa.schema([pa.field(name, types[kind]) for name, kind in columns.items()])
    n = 0
    with pq.ParquetWriter(out, schema) as writer:
        batch: list[Row] = []

        def flush() -> None:
            arrays = []
            for name, kind in columns.items():
                values = [row[name] for row in batch]
                if kind == "json":
                    values = [_to_json_text(v) for v in values]
                arrays.append(pa.array(values, type=types[kind]))
            writer.write_table(pa.Table.from_arrays(arrays, schema=schema))

        for row in rows:
            batch.append(coerce(row, columns))
            n += 1
            if len(batch) >= PARQUET_BATCH:
                flush()
                batch = []
        if batch or n == 0:
            flush()
    return n


_WRITERS = {"jsonl": _write_jsonl, "csv": _write_csv, "parquet": _write_parquet}


def export(rows: Iterable[Row], fmt: str, output: Output = None,
           columns: Mapping[str, str] | None = None) -> int:
    """Write rows as `fmt` to `output` (a path, '-' or None for stdout, or an open stream).

    With `columns` the schema is exactly those; without, it is inferred from all the rows.
    Returns the number of rows written.
    """
    if fmt not in _WRITERS:
        raise ExportError(f"unknown format {fmt!r}; formats: {', '.join(FORMATS)}")
    for kind in (columns or {}).values():
        if kind not in TYPES:
            raise ExportError(f"unknown column type {kind!r}; types: {', '.join(TYPES)}")
    # With declared columns, rows stream through (a generator is written as it yields: a
    # million-row report never sits in memory); only an inferred schema needs them all first.
    materialized = rows if isinstance(rows, list) or columns else list(rows)
    schema = schema_for(materialized, columns)
    with _sink(output) as out:
        return _WRITERS[fmt](materialized, schema, out)


def export_view(store: Store, view: str, fmt: str = "jsonl", output: Output = None, *,
                now: float | None = None, until: int | None = None,
                progress: bool = False) -> int:
    """Export one view of the log held by `store`; returns the rows written.

    Starts from the projections' checkpoints when they are usable (read only: the engine owns
    them) and applies the rest of the log; `until` exports the view as it was at that position.
    `progress`: a bar on stderr while the log is read and the rows written, if it is a
    terminal (`replay.progress`).
    """
    from projections.runner import Projector
    from replay.progress import Progress

    columns = declared_columns(view)
    if fmt not in _WRITERS:
        raise ExportError(f"unknown format {fmt!r}; formats: {', '.join(FORMATS)}")
    with Projector(store, read_only=True) as projector:
        last = store.last_position() if until is None else until
        with Progress("reading the log", last, enabled=None if progress else False) as bar:
            projector.catch_up(until, progress=bar.update)
        rows = projector.rows(view, now)
    with Progress(f"writing {fmt}", len(rows), enabled=None if progress else False,
                  unit="rows") as bar:
        return export(_counted(rows, bar.update), fmt, output, columns)


def _counted(rows: Iterable[Row], update: Callable[[int], None]) -> Iterator[Row]:
    """`rows`, telling `update` how many have gone by (every PROGRESS_EVERY)."""
    n = 0
    for row in rows:
        yield row
        n += 1
        if n % PROGRESS_EVERY == 0:
            update(n)
    update(n)


PROGRESS_EVERY = 1000  # rows between two progress updates
