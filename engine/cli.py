"""The `switchboard` command: run the engine, feed it captures, look inside the log."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from collections.abc import Sequence
from typing import TextIO

from engine import exitcodes
from engine.capture import CaptureError, capture_events
from engine.config import Config, ConfigError, load
from engine.demo import add_arguments as add_demo_arguments
from engine.envelope import EnvelopeError, Event, to_json
from engine.exitcodes import fail, warn
from engine.listen import CannotListen, Refused
from engine.plural import plural
from engine.redact import redact_url
from engine.store import StoreUnavailable, StoreURLError, open_store
from replay.cli import register as register_replay

log = logging.getLogger("switchboard")


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    try:
        config = load(args.config, args.store)
        return args.handler(args, config)
    except (ConfigError, StoreURLError) as exc:
        return fail(str(exc), exitcodes.USAGE)
    except StoreUnavailable as exc:
        return fail(str(exc), exitcodes.STORE_UNAVAILABLE)
    except CannotListen as exc:
        return fail(str(exc), exitcodes.CANNOT_LISTEN)
    except Refused as exc:
        return fail(str(exc), exitcodes.USAGE)
    except KeyboardInterrupt:
        return exitcodes.INTERRUPTED
    except BrokenPipeError:  # `switchboard events | head`
        return exitcodes.OK
    except Exception as exc:
        if not _lost_database(exc):
            raise
        return fail(f"the store's database went away: {' '.join(str(exc).split())}",
                    exitcodes.STORE_UNAVAILABLE)


def _lost_database(exc: Exception) -> bool:
    """A PostgreSQL connection that failed after the store was opened (the server restarted
    while a replay read): a store problem to report in a line, not a bug to trace."""
    return type(exc).__module__.startswith("psycopg") and type(exc).__name__ in (
        "OperationalError", "ConnectionTimeout")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="switchboard", description=__doc__,
        epilog="exit codes: " + "; ".join(f"{code} {what}" for code, what
                                          in exitcodes.TABLE.items()))
    add_global_options(parser, None)
    # The same options after the verb: given there, they win; absent there, the ones given
    # before the verb stand (SUPPRESS: the verb's parser sets nothing it was not given).
    common = argparse.ArgumentParser(add_help=False)
    add_global_options(common, argparse.SUPPRESS)
    sub = parser.add_subparsers(dest="verb", required=True)

    run = sub.add_parser("run", parents=[common], help="ingest from AMI and serve the API")
    run.add_argument("--host", help="API bind address (default from config: 127.0.0.1)")
    run.add_argument("--port", type=int, help="API port (default from config: 8080)")
    run.set_defaults(handler=cmd_run)

    ingest = sub.add_parser("ingest-capture", parents=[common],
                            help="append a capture file's inbound messages")
    ingest.add_argument("file")
    ingest.add_argument("--server", default="capture", help="server name to record them under")
    ingest.add_argument("--until", type=float, help="only messages with t <= SECONDS")
    ingest.set_defaults(handler=cmd_ingest_capture)

    events = sub.add_parser("events", parents=[common], help="print the log")
    events.add_argument("--from", dest="from_", type=int, default=0, metavar="POSITION",
                        help="first position to print (default: the beginning)")
    events.add_argument("--follow", "-f", action="store_true", help="keep printing new events")
    events.add_argument("--format", choices=["text", "jsonl"], default="text")
    events.set_defaults(handler=cmd_events)

    export = sub.add_parser("export", parents=[common], help="write a view to a file")
    export.add_argument("view", help="channels, calls, queues, queue-members, parked-calls, ...")
    export.add_argument("--format", choices=["jsonl", "csv", "parquet"], default="jsonl")
    export.add_argument("--output", "-o", help="file to write (default: standard output)")

    adduser = sub.add_parser("adduser", parents=[common], help="add an API user (first admin)")
    adduser.add_argument("name")
    adduser.add_argument("--role", choices=["viewer", "operator", "admin"], default="viewer")
    adduser.add_argument("--password-stdin", action="store_true",
                         help="read the password from standard input instead of prompting")
    adduser.set_defaults(handler=cmd_adduser)

    demo = sub.add_parser("demo", parents=[common],
                          help="a simulated PBX, the engine, the dialer and a sample campaign")
    add_demo_arguments(demo)
    demo.set_defaults(handler=cmd_demo)

    register_replay(sub, common)  # the replay verbs; `export --at` and the calls report
    return parser


def add_global_options(parser: argparse.ArgumentParser, default: object) -> None:
    """--store, --config, -v: accepted before the verb (`switchboard --config F run`) and
    after it (`switchboard run --config F`)."""
    parser.add_argument("--store", default=default,
                        help="log URL: sqlite:///FILE (default) or postgresql://...")
    parser.add_argument("--config", default=default,
                        help="TOML config file (default ./switchboard.toml)")
    parser.add_argument("-v", "--verbose", action="store_true",
                        default=False if default is None else default)


# -- run -----------------------------------------------------------------------------------------


def cmd_run(args: argparse.Namespace, config: Config) -> int:
    host = args.host or config.api.host
    port = args.port if args.port is not None else config.api.port
    return asyncio.run(_run(config, host, port))


async def _run(config: Config, host: str, port: int) -> int:
    from api.app import create_app
    from engine.listen import bind, bound_port, opened_engine, scheme, serve, tls_files

    tls = tls_files(config.api)  # before the log is touched: a bad certificate stops here
    with bind(host, port) as sock:  # and so does a port in use
        async with opened_engine(config, host) as engine:
            if not config.servers:
                log.warning("no AMI server configured (add a [[servers]] table to "
                            "switchboard.toml): serving what the log holds (%s)",
                            plural(engine.store.last_position(), "event"))
            for server in config.servers:
                log.info("ingesting from %s at %s:%d", server.name, server.host, server.port)
            await engine.connect()
            app = create_app(engine)
            log.info("store %s; API on %s://%s:%d/status", redact_url(config.store),
                     scheme(tls), host, bound_port(sock))
            await serve(app, sock, closing=app.state.ctx.close, tls=tls)
            log.info("stopped; the log holds %s", plural(engine.store.last_position(), "event"))
    return exitcodes.OK


# -- ingest-capture ------------------------------------------------------------------------------


def cmd_ingest_capture(args: argparse.Namespace, config: Config) -> int:
    try:  # the whole file is read and checked before anything is appended
        events = list(capture_events(args.file, args.server, args.until, warn=warn))
    except CaptureError as exc:
        return fail(str(exc), exitcodes.INPUT)
    store = open_store(config.store)
    try:
        stored = 0
        for i in range(0, len(events), config.ingest.batch_size):
            stored += len(store.append(events[i : i + config.ingest.batch_size]))
        last = store.last_position()
    except EnvelopeError as exc:
        return fail(f"{args.file}: {exc}", exitcodes.INPUT)
    finally:
        store.close()
    print(f"{args.file}: {plural(len(events), 'message')}, {stored:,} appended, "
          f"{plural(len(events) - stored, 'duplicate')}; log at position {last:,}")
    return exitcodes.OK


# -- adduser -------------------------------------------------------------------------------------


def cmd_adduser(args: argparse.Namespace, config: Config) -> int:
    from engine.auth import add_user

    no_password = ("adduser: no terminal to type the password on, and no --password-stdin: "
                   "pipe it in with --password-stdin")
    if not args.password_stdin and not _has_terminal():
        return fail(no_password, exitcodes.USAGE)
    try:
        return add_user(config, args.name, args.role, args.password_stdin)
    except EOFError:  # the terminal's input ended before a password was typed
        return fail(no_password, exitcodes.USAGE)


def _has_terminal() -> bool:
    """Whether getpass has a terminal to prompt on: without one it falls back to reading
    standard input with a warning, and `adduser x < /dev/null` ended in an EOFError."""
    try:
        with open("/dev/tty"):
            return True
    except OSError:
        return sys.stdin.isatty()


# -- demo ----------------------------------------------------------------------------------------


def cmd_demo(args: argparse.Namespace, config: Config) -> int:
    from engine.demo import run as run_demo

    return run_demo(args, config)


# -- events --------------------------------------------------------------------------------------


def cmd_events(args: argparse.Namespace, config: Config) -> int:
    store = open_store(config.store)
    out = sys.stdout
    after = max(args.from_ - 1, 0)
    try:
        while True:
            batch = store.read(after, 1000)
            for event in batch:
                write_event(out, event, args.format)
            if batch:
                after = batch[-1].position
                continue
            if not args.follow:
                return exitcodes.OK
            out.flush()
            store.wait(after, 1.0)
    finally:
        store.close()


def write_event(out: TextIO, event: Event, fmt: str) -> None:
    if fmt == "jsonl":
        out.write(to_json(event).decode() + "\n")
        return
    fields = " ".join(
        f"{k}={v!r}" if isinstance(v, list) else f"{k}={v}"
        for k, v in event.data.items() if k not in ("Event", "Privilege")
    )
    out.write(
        f"{event.position:>8} {event.recorded_at} {event.server} "
        f"{event.stream}#{event.version} {event.type} {fields}\n"
    )



if __name__ == "__main__":
    sys.exit(main())
