"""The API's socket and its server, shared by `switchboard run` and `switchboard demo`.

The address is bound first, before the engine opens the log: a port in use used to be found by
uvicorn only after the engine had started, its Asterisk sessions and the dialer's start marker
already appended, and it ended in `sys.exit(3)` inside the event loop (three chained
tracebacks, and the exit code `replay verify` uses for a wrong log). `bind` answers in one line
(`CannotListen`, exit code CANNOT_LISTEN) before anything else has happened. `opened_engine`
then opens the engine and asks `api.app.startup` whether it may serve (`Refused`, exit code
USAGE) before anything connects or appends.

HTTPS: with `api.tls_cert` and `api.tls_key` the API is served over TLS by uvicorn (its
`ssl_certfile`/`ssl_keyfile`), the seed's `https://...:8081`. `tls_files` reads and loads both
first, also before anything else: a file that cannot be read, is not PEM, is encrypted, or a
key that is not the certificate's is a ConfigError in one line (exit code USAGE), not a
traceback from inside the server after the engine started.
"""

from __future__ import annotations

import asyncio
import errno
import signal
import socket
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

from engine.config import ConfigError

if TYPE_CHECKING:
    from engine.config import ApiConfig, Config
    from engine.runtime import Engine


class CannotListen(OSError):  # noqa: N818 - the name says what happened
    """The API's address cannot be bound; the message says why, in one line."""


_WHY = {
    errno.EADDRINUSE: "the port is in use (another switchboard, or another server?): choose "
                      "another with --port or api.port",
    errno.EADDRNOTAVAIL: "the address is not one of this machine's",
    errno.EACCES: "binding it needs privileges (ports below 1024): choose a port above 1023",
}


def bind(host: str, port: int) -> socket.socket:
    """A listening TCP socket on `host`:`port` (0: any free port), or CannotListen."""
    where = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM,
                                   flags=socket.AI_PASSIVE)
    except (socket.gaierror, UnicodeError) as exc:
        raise CannotListen(f"cannot serve the API on {where}: unknown host ({exc})") from None
    family, kind, proto, _, address = infos[0]
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn binds
        sock.bind(address)
        sock.listen(2048)
    except OSError as exc:
        sock.close()
        why = _WHY.get(exc.errno or 0, exc.strerror or str(exc))
        raise CannotListen(f"cannot serve the API on {where}: {why}") from None
    sock.set_inheritable(True)
    return sock


class TlsFiles(NamedTuple):
    cert: str
    key: str


def tls_files(api: ApiConfig) -> TlsFiles | None:
    """`api.tls_cert` and `api.tls_key`, read and loaded as uvicorn will load them (None
    without them: plain HTTP); ConfigError, in one line naming the key and the file, when
    they cannot serve."""
    if not api.tls_cert and not api.tls_key:
        return None
    _read_pem("api.tls_cert", api.tls_cert, b"-----BEGIN CERTIFICATE-----",
              "a PEM certificate (-----BEGIN CERTIFICATE-----)")
    key = _read_pem("api.tls_key", api.tls_key, b"PRIVATE KEY-----",
                    "a PEM private key (-----BEGIN ... PRIVATE KEY-----)")
    if b"ENCRYPTED" in key:
        raise ConfigError(f"api.tls_key: {api.tls_key} is encrypted: give the key without a "
                          "passphrase (openssl pkey -in KEY -out PLAIN_KEY)")
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    try:
        context.load_cert_chain(api.tls_cert, api.tls_key, password=_no_passphrase)
    except (ssl.SSLError, ValueError) as exc:
        if getattr(exc, "reason", None) == "KEY_VALUES_MISMATCH":
            raise ConfigError(f"api.tls_key: {api.tls_key} is not the private key of "
                              f"{api.tls_cert}") from None
        raise ConfigError(f"api.tls_cert, api.tls_key: {api.tls_cert} and {api.tls_key} "
                          f"cannot serve TLS: {exc}") from None
    return TlsFiles(api.tls_cert, api.tls_key)


def _read_pem(key: str, path: str, marker: bytes, what: str) -> bytes:
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise ConfigError(f"{key}: cannot read {path}: {exc.strerror or exc}") from None
    if marker not in data:
        raise ConfigError(f"{key}: {path} is not {what}")
    return data


def _no_passphrase() -> bytes:
    raise ValueError("the key asks for a passphrase")


def scheme(tls: TlsFiles | None) -> str:
    return "https" if tls is not None else "http"


class Refused(Exception):  # noqa: N818 - the name says what happened
    """`api.app.startup` will not let the API be served so (the message says why)."""


@asynccontextmanager
async def opened_engine(config: Config, host: str) -> AsyncIterator[Engine]:
    """The engine (with its dialer), open and allowed by `api.app.startup` to serve on
    `host`, stopped on the way out; `Refused` when it is not allowed, with nothing appended
    (`Engine.open` appends nothing; connect it once this has answered)."""
    from api.app import startup
    from engine.runtime import Engine, tune_gc

    engine = Engine(config, dialer=True)
    try:
        tune_gc()
        await engine.open()
        refusal = await startup(engine, host)
        if refusal is not None:
            raise Refused(refusal)
        yield engine
    finally:
        await engine.stop()


def bound_port(sock: socket.socket) -> int:
    return int(sock.getsockname()[1])


async def serve(app: Any, sock: socket.socket, *, closing: Callable[[], None],
                started: Callable[[], Awaitable[None]] | None = None,
                tls: TlsFiles | None = None) -> None:
    """Serve `app` on `sock` until SIGINT or SIGTERM, over TLS with `tls` (`tls_files`).
    `started` runs once the server answers; `closing` runs before the server stops (end the
    event streams, or it waits for them forever)."""
    import uvicorn

    files = {"ssl_certfile": tls.cert, "ssl_keyfile": tls.key} if tls is not None else {}
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="off", **files))
    serving = asyncio.create_task(server.serve(sockets=[sock]))
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        while not server.started and not serving.done():
            await asyncio.sleep(0.01)
        if started is not None and not serving.done():
            await started()
        stopping = asyncio.create_task(stop.wait())
        await asyncio.wait({serving, stopping}, return_when=asyncio.FIRST_COMPLETED)
        stopping.cancel()
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)
        closing()
        server.should_exit = True
        await serving
