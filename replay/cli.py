"""The replay verbs of the `switchboard` command, and `export` at a past moment.

`register(sub, common)` is called once by `engine/cli.py`'s `build_parser`. It adds

    switchboard replay rebuild [--to POSITION | --until TIME] [--projection NAME]... [--into FILE]
    switchboard replay verify [--projection NAME]... [--format text|json]
    switchboard replay timeline ID [--format text|jsonl]
    switchboard replay snapshot [--interval N]

and extends the existing `export` verb with `--at POSITION|TIME` and the `calls-report` view;
`cmd_export` here serves every export (it keeps `replay.export.export_view` for the live case).

Exit codes (engine/exitcodes.py): VERIFY_FAILED (3) when `replay verify` finds the log or a
projection not as it should be, INPUT (1) when `replay timeline` finds no event for the id.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import msgspec

from engine import exitcodes
from engine.config import Config
from engine.envelope import Event
from engine.plural import plural
from engine.store import open_store


def register(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    """Add the `replay` verbs; give `export` its `--at` option and the calls report."""
    replay = sub.add_parser("replay", help="rebuild, verify, timelines: the log replayed",
                            description="Replay the log: rebuild projections elsewhere, verify "
                            "the log and the live projections, show a call's timeline.")
    verbs = replay.add_subparsers(dest="replay_verb", required=True, metavar="VERB")

    rebuild = verbs.add_parser("rebuild", parents=[common],
                               help="rebuild projections into a separate file")
    moment = rebuild.add_mutually_exclusive_group()
    moment.add_argument("--to", type=int, metavar="POSITION",
                        help="the state after this position (default: the end of the log)")
    moment.add_argument("--until", metavar="TIME",
                        help="the state at this time (ISO 8601, or epoch seconds with a "
                             "fraction): every event recorded at or before it")
    rebuild.add_argument("--projection", action="append", metavar="NAME",
                         help="only this projection (repeatable; default: all)")
    rebuild.add_argument("--into", metavar="FILE",
                         help="SQLite file to write (default: beside the log, "
                              "<log>.rebuild.db; never the live checkpoint table)")
    rebuild.add_argument("--workers", type=int, help="processes to use (default: config)")
    rebuild.set_defaults(handler=cmd_rebuild)

    verify = verbs.add_parser("verify", parents=[common],
                              help="check the hash chain and the live projections")
    verify.add_argument("--projection", action="append", metavar="NAME",
                        help="only this projection (repeatable; default: all)")
    verify.add_argument("--format", choices=["text", "json"], default="text")
    verify.add_argument("--workers", type=int, help="processes to use (default: config)")
    verify.set_defaults(handler=cmd_verify)

    timeline = verbs.add_parser("timeline", parents=[common],
                                help="every event of a call, channel, command or dialing")
    timeline.add_argument("id", help="a call's linked_id, a channel's unique_id, a dialing "
                                     "uuid, a command id or an ActionID")
    timeline.add_argument("--format", choices=["text", "jsonl"], default="text")
    timeline.set_defaults(handler=cmd_timeline)

    snapshot = verbs.add_parser("snapshot", parents=[common],
                                help="write the periodic snapshots the log is missing")
    snapshot.add_argument("--interval", type=int,
                          help="events between snapshots (default: replay.snapshot_interval)")
    snapshot.set_defaults(handler=cmd_snapshot)

    export = sub.choices.get("export")
    if export is not None:
        export.add_argument("--at", metavar="POSITION|TIME",
                            help="the view as it was after this position, or at this time "
                                 "(ISO 8601, or epoch seconds with a fraction)")
        export.set_defaults(handler=cmd_export)


# ------------------------------------------------------------------------------ helpers

def _fail(message: str, code: int = exitcodes.USAGE) -> int:
    return exitcodes.fail(message, code)


def _workers(args: argparse.Namespace, config: Config) -> int | None:
    chosen = args.workers if getattr(args, "workers", None) is not None else config.replay.workers
    return chosen or None


def _progress(label: str, total: int) -> Any:
    from replay.progress import Progress

    return Progress(label, total)


# ------------------------------------------------------------------------------ rebuild

def cmd_rebuild(args: argparse.Namespace, config: Config) -> int:
    from engine.store import sqlite_path
    from replay.moment import MomentError, resolve
    from replay.rebuild import default_target, rebuild, write_states

    url = config.store
    open_store(url).close()  # a bad URL fails here, with exit code 2
    target = Path(args.into) if args.into else default_target(url)
    log_path = sqlite_path(url)
    if log_path is not None and target.resolve() == Path(log_path).resolve():
        return _fail(f"--into {target} is the log itself: rebuilds never touch the live "
                     "projections")
    try:
        until = args.to if args.to is not None else (
            resolve(url, args.until) if args.until is not None else None)
        with _progress("rebuild", until or _last(url)) as bar:
            rebuilt = rebuild(url, args.projection, until, workers=_workers(args, config),
                              tune_gc=True, progress=bar.update)
    except (MomentError, ValueError) as exc:
        return _fail(str(exc))
    write_states(target, rebuilt)
    names = ", ".join(rebuilt.states)
    print(f"rebuilt {plural(len(rebuilt.states), 'projection')} ({names}) at position "
          f"{rebuilt.position}: {plural(rebuilt.events, 'event')} in {rebuilt.seconds:.2f} s "
          f"({rebuilt.rate:,.0f} events/s, {plural(len(rebuilt.groups), 'process', 'processes')})")
    print(f"written to {target} (table switchboard_projections); the live projections were "
          "not touched")
    for name, counts in rebuilt.errors.items():
        print(f"  {name}: handler errors {counts}", file=sys.stderr)
    if rebuilt.unreadable:
        exitcodes.warn(f"{plural(len(rebuilt.unreadable), 'row')} of the log cannot be read "
                       f"(positions {_positions(rebuilt.unreadable)}): skipped; `switchboard "
                       "replay verify` says why")
    return exitcodes.OK


def _last(url: str) -> int:
    from replay.reader import open_reader

    with open_reader(url) as reader:
        return reader.last_position()


# ------------------------------------------------------------------------------ verify

def cmd_verify(args: argparse.Namespace, config: Config) -> int:
    from replay.verify import verify

    store = open_store(config.store)
    try:
        last = store.last_position()
        with _progress("hash chain", last) as chain_bar, _progress("rebuild", last) as bar:
            report = verify(store, args.projection, _workers(args, config), tune_gc=True,
                            chain_progress=chain_bar.update, progress=bar.update)
    except ValueError as exc:
        return _fail(str(exc))
    finally:
        store.close()
    if args.format == "json":
        sys.stdout.write(msgspec.json.encode(verify_json(report)).decode() + "\n")
    else:
        write_verify_text(report, sys.stdout)
    return exitcodes.OK if report.ok else exitcodes.VERIFY_FAILED


def verify_json(report: Any) -> dict[str, Any]:
    chain = report.chain
    first = report.first_divergence
    return {
        "ok": report.ok,
        "position": report.position,
        "chain": {"ok": chain.ok, "reason": chain.reason, "missing": chain.missing,
                  "first_position": chain.broken.first_position if chain.broken else None,
                  "last_position": chain.broken.last_position if chain.broken else None},
        "compared": [{"projection": r.name, "position": r.position, "source": r.source,
                      "equal": ok} for r, ok in report.compared],
        "divergences": [{
            "projection": d.projection, "agrees_at": d.agrees_at, "differs_at": d.differs_at,
            "recorded": d.recorded, "first_position": d.first_position,
            "first_event": d.first_event, "why": d.why,
            "differing_parts": d.differing_parts,
            "paths": [{"path": p, "recorded": a, "rebuilt": b} for p, a, b in d.paths],
        } for d in report.divergences],
        "first_divergence": first.first_position if first else None,
        "unreadable": [{"position": p, "type": t, "error": e}
                       for p, (t, e) in report.unreadable.items()],
        "projections": report.projections,
        "links": chain.links,
        "summary": verify_summary(report),
        "notes": report.notes,
        "rebuild": {"events": report.rebuilt.events, "seconds": round(report.rebuilt.seconds, 3),
                    "processes": len(report.rebuilt.groups)},
    }


def write_verify_text(report: Any, out: Any) -> None:
    chain = report.chain
    out.write(f"log: {plural(report.position, 'event')}\n")
    if chain.ok:
        out.write(f"hash chain: intact ({plural(chain.links, 'link')})\n")
    else:
        link = chain.broken
        out.write(f"hash chain: BROKEN at the link of positions {link.first_position}-"
                  f"{link.last_position}: {chain.reason}\n")
    rebuilt = report.rebuilt
    out.write(f"projections: {len(report.projections)} rebuilt from position 0 to "
              f"{rebuilt.position} in {rebuilt.seconds:.2f} s ({rebuilt.rate:,.0f} events/s) "
              f"and compared with {plural(len(report.compared), 'recorded state')}\n")
    by_name: dict[str, list[tuple[Any, bool]]] = {}
    for rec, ok in report.compared:
        by_name.setdefault(rec.name, []).append((rec, ok))
    diverged = {d.projection: d for d in report.divergences}
    for name, pairs in by_name.items():
        if name not in diverged:
            out.write(f"  {name:<10} equal at {plural(len(pairs), 'recorded state')}, last at "
                      f"{pairs[-1][0].position}\n")
    for d in report.divergences:
        out.write(f"  {d.projection:<10} DIFFERS: equal at {d.agrees_at}"
                  f"{' (the start)' if d.agrees_at == 0 else ''}, different at {d.differs_at} "
                  f"({d.recorded}); first divergence at position {d.first_position}"
                  f" ({d.first_event or 'removed'}): {d.why}\n")
        for path, recorded, rebuilt_value in d.paths:
            out.write(f"      {path}: recorded {recorded!r}, rebuilt {rebuilt_value!r}\n")
        if d.differing_parts > len(d.paths):
            more = d.differing_parts - len(d.paths)
            out.write(f"      ... {plural(more, 'more differing part')}\n")
    if report.unreadable:
        out.write(f"unreadable: {plural(len(report.unreadable), 'row')} no event can be read "
                  "from (every reader skips them)\n")
        for position, (stored_type, error) in list(report.unreadable.items())[:SHOWN_ROWS]:
            out.write(f"  position {position} ({stored_type}): {error}\n")
        if len(report.unreadable) > SHOWN_ROWS:
            out.write(f"  ... {plural(len(report.unreadable) - SHOWN_ROWS, 'more row')} "
                      "(--format json lists them all)\n")
    for note in report.notes:
        out.write(f"  note: {note}\n")
    first = report.first_divergence
    if first is not None:
        out.write(f"first divergence: position {first.first_position} ({first.projection})\n")
    out.write(f"verify: {verify_summary(report)}\n")


SHOWN_ROWS = 10  # unreadable rows listed in the text report


def _positions(rows: dict[int, Any]) -> str:
    shown = ", ".join(str(p) for p in list(rows)[:SHOWN_ROWS])
    return shown + (", ..." if len(rows) > SHOWN_ROWS else "")


def verify_summary(report: Any) -> str:
    """The last line: OK or FAILED, and what was compared, so an OK after comparing nothing
    does not read as an OK after comparing everything."""
    chain = report.chain
    if not report.ok:
        wrong = [what for what, bad in (
            ("the hash chain is broken", not chain.ok),
            (f"{plural(len(report.divergences), 'projection')} differ"
             f"{'s' if len(report.divergences) == 1 else ''}", report.divergences),
            (f"{plural(len(report.unreadable), 'row')} cannot be read", report.unreadable),
        ) if bad]
        return "FAILED: " + "; ".join(wrong)
    if report.position == 0:
        return "OK, but the log is empty: nothing was compared"
    checked = (f"the hash chain ({plural(report.position, 'event')} in "
               f"{plural(chain.links, 'link')}) is intact")
    if not report.compared:
        return (f"OK, but only {checked}: no recorded state of "
                f"{plural(len(report.projections), 'projection')} to compare with (the engine "
                "records one at each checkpoint and snapshot)")
    compared = {rec.name for rec, _ in report.compared}
    return (f"OK: {checked}, and {plural(len(compared), 'projection')} rebuilt to position "
            f"{report.rebuilt.position} equal {plural(len(report.compared), 'recorded state')}")


# ------------------------------------------------------------------------------ timeline

def cmd_timeline(args: argparse.Namespace, config: Config) -> int:
    from replay.index import open_index
    from replay.reader import open_reader
    from replay.timeline import build, write_jsonl, write_text

    url = config.store
    open_store(url).close()
    index = open_index(url)
    try:
        with open_reader(url) as reader:
            last = reader.last_position()
            behind = last - index.state()[0]
            with _progress("indexing", behind) as bar:
                start = index.state()[0]
                index.catch_up(last, progress=lambda p: bar.update(p - start))
            timeline = build(args.id, index, reader)
    finally:
        index.close()
    if not timeline.entries:
        return _fail(f"no event names {args.id!r}", exitcodes.INPUT)
    if args.format == "jsonl":
        write_jsonl(timeline, sys.stdout)
    else:
        write_text(timeline, sys.stdout)
    return exitcodes.OK


# ------------------------------------------------------------------------------ snapshot

def cmd_snapshot(args: argparse.Namespace, config: Config) -> int:
    from replay.rebuild import rebuild, select, version_of
    from replay.snapshots import due, open_snapshots

    url = config.store
    open_store(url).close()
    interval = args.interval if args.interval is not None else config.replay.snapshot_interval
    if interval <= 0:
        return _fail("snapshots are disabled (replay.snapshot_interval = 0)")
    last = _last(url)
    snapshots = open_snapshots(url)
    try:
        have: dict[str, set[int]] = {}
        for info in snapshots.list():
            have.setdefault(f"{info.name}/{info.version}", set()).add(info.position)
    finally:
        snapshots.close()
    modules = select(None)
    missing = [p for p in due(interval, last)
               if any(p not in have.get(f"{m.NAME}/{version_of(m)}", ()) for m in modules)]
    if not missing:
        print(f"every snapshot is there (every {plural(interval, 'event')} up to {last:,})")
        return exitcodes.OK
    with _progress("snapshots", missing[-1]) as bar:
        result = rebuild(url, None, missing[-1], snapshot_at=missing,
                         workers=_workers(args, config), tune_gc=True, progress=bar.update)
    print(f"wrote snapshots at {plural(len(missing), 'position')} ({missing[0]:,} to "
          f"{missing[-1]:,}) in {result.seconds:.2f} s")
    return exitcodes.OK


# ------------------------------------------------------------------------------ export

def cmd_export(args: argparse.Namespace, config: Config) -> int:
    """`switchboard export VIEW [--at POSITION|TIME]`, the calls report included."""
    from replay.export import ExportError, declared_columns, export, export_view
    from replay.moment import MomentError, view_at

    output = None if args.output in (None, "-") else args.output
    if output is None and args.format == "parquet":
        return _fail("parquet needs --output FILE")
    url = config.store
    store = open_store(url)
    try:
        if args.view == "calls-report":
            count = export_calls_report(url, args.format, output, args.at)
        elif args.at is None:
            count = export_view(store, args.view, args.format, output,
                                progress=output is not None)
        else:
            columns = declared_columns(args.view)
            found = view_at(url, args.view, args.at,
                            interval=config.replay.snapshot_interval)
            count = export(found.rows, args.format, output, columns)
            print(f"{args.view} at position {found.position} (replayed "
                  f"{plural(found.applied, 'event')} from {found.started_from})",
                  file=sys.stderr)
    except (ExportError, MomentError) as exc:
        return _fail(str(exc))
    finally:
        store.close()
    if output is not None:
        print(f"{plural(count, 'row')} of {args.view} written to {output}", file=sys.stderr)
    return exitcodes.OK


def export_calls_report(url: str, fmt: str, output: str | None, at: str | None) -> int:
    """Stream the calls report of the log (up to `at`) into `output`."""
    from replay.calls_report import COLUMNS, EVENT_TYPES, report_rows
    from replay.export import export
    from replay.moment import moment_time, resolve
    from replay.reader import open_reader

    with open_reader(url) as reader:
        last = reader.last_position()
        until = last if at is None else resolve(url, at, last)
        now = moment_time(reader, until)
        with _progress("calls-report", until) as bar:
            def chunks() -> Iterator[list[Event]]:
                for chunk in reader.chunks(0, until, EVENT_TYPES):
                    bar.update(chunk[-1].position)
                    yield chunk

            return export(report_rows(chunks(), now), fmt, output, COLUMNS)
