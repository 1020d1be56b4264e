"""The `switchboard` command: run the engine, feed it captures, look inside the log."""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys
from collections.abc import Sequence
from typing import TextIO

from engine.capture import capture_events
from engine.config import Config, ConfigError, load
from engine.demo import add_arguments as add_demo_arguments
from engine.envelope import Event, to_json
from engine.store import StoreURLError, open_store
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
        print(f"switchboard: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # `switchboard events | head`
        return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="switchboard", description=__doc__)
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--store", help="log URL: sqlite:///FILE (default) or postgresql://...")
    common.add_argument("--config", help="TOML config file (default ./switchboard.toml)")
    common.add_argument("-v", "--verbose", action="store_true")
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


# -- run -----------------------------------------------------------------------------------------


def cmd_run(args: argparse.Namespace, config: Config) -> int:
    host = args.host or config.api.host
    port = args.port if args.port is not None else config.api.port
    return asyncio.run(_run(config, host, port))


async def _run(config: Config, host: str, port: int) -> int:
    import uvicorn

    from api.app import create_app
    from engine.runtime import Engine, tune_gc

    engine = Engine(config, dialer=True)
    tune_gc()
    await engine.start()
    if not config.servers:
        log.warning(
            "no AMI server configured (add a [[servers]] table to switchboard.toml): "
            "serving what the log holds (%d events)", engine.store.last_position()
        )
    for server in config.servers:
        log.info("ingesting from %s at %s:%d", server.name, server.host, server.port)
    from api.app import startup

    refusal = await startup(engine, host)
    if refusal is not None:
        print(f"switchboard: {refusal}", file=sys.stderr)
        await engine.stop()
        return 2
    app = create_app(engine)
    server = uvicorn.Server(uvicorn.Config(
        app, host=host, port=port, log_level="warning", lifespan="off"
    ))
    log.info("store %s; API on http://%s:%d/status", config.store, host, port)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    serve = asyncio.create_task(server.serve())
    await asyncio.wait({serve, asyncio.create_task(stop.wait())},
                       return_when=asyncio.FIRST_COMPLETED)
    app.state.ctx.hub.close()  # end the event streams, or the server waits for them forever
    server.should_exit = True
    await serve
    last = engine.store.last_position()
    await engine.stop()
    log.info("stopped; the log holds %d events", last)
    return 0


# -- ingest-capture ------------------------------------------------------------------------------


def cmd_ingest_capture(args: argparse.Namespace, config: Config) -> int:
    store = open_store(config.store)
    try:
        events = list(capture_events(args.file, args.server, args.until))
        stored = 0
        for i in range(0, len(events), config.ingest.batch_size):
            stored += len(store.append(events[i : i + config.ingest.batch_size]))
        print(f"{args.file}: {len(events)} messages, {stored} appended, "
              f"{len(events) - stored} duplicates; log at position {store.last_position()}")
    except (OSError, ValueError) as exc:
        print(f"switchboard: {exc}", file=sys.stderr)
        return 1
    finally:
        store.close()
    return 0


# -- adduser -------------------------------------------------------------------------------------


def cmd_adduser(args: argparse.Namespace, config: Config) -> int:
    from engine.auth import add_user

    return add_user(config, args.name, args.role, args.password_stdin)


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
                return 0
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
