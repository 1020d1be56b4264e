"""The one config loader: a TOML file, then the environment, then command-line flags.

Every key is a field below (README "Configuration" lists them). Unknown keys and wrong types are
errors that name the key, e.g. `servers[0].port: Expected int, got str`.
"""

from __future__ import annotations

import os
import re
import tomllib
from pathlib import Path

import msgspec

from engine.store import DEFAULT_URL

DEFAULT_CONFIG_FILE = "switchboard.toml"


class ConfigError(ValueError):
    pass


class ServerConfig(msgspec.Struct, forbid_unknown_fields=True):
    """One Asterisk manager interface (manager.conf user)."""

    name: str
    host: str = "127.0.0.1"
    port: int = 5038
    username: str = "switchboard"
    secret: str = ""
    ping_interval: float = 10.0  # seconds between Ping actions; dead after two unanswered
    reconnect_max: float = 30.0  # cap of the exponential reconnect backoff, seconds
    connect_timeout: float = 5.0


class IngestConfig(msgspec.Struct, forbid_unknown_fields=True):
    batch_size: int = 2000  # most events per log transaction
    queue_size: int = 20_000  # events buffered before readers of the socket wait for the log


class ProjectionsConfig(msgspec.Struct, forbid_unknown_fields=True):
    """When the live read models save their checkpoints (README "Projections")."""

    checkpoint_seconds: float = 30.0  # at most this long between two saves while events arrive
    checkpoint_events: int = 100_000  # or after this many events, whichever comes first


class ApiConfig(msgspec.Struct, forbid_unknown_fields=True):
    host: str = "127.0.0.1"
    port: int = 8080
    send_timeout: float = 10.0  # seconds a stream client may take to accept one write
    client_lag: int = 10_000  # change messages a stream client may fall behind before it is dropped
    stream_buffer: int = 100_000  # recent change messages kept in memory for resuming clients
    keepalive: float = 15.0  # seconds between keep-alive comments/pings on idle streams
    command_timeout: float = 10.0  # seconds to wait for Asterisk's answer to a command
    max_body: int = 1 << 20  # bytes a request body may have; larger is answered 413 unread
    tls_cert: str = ""  # PEM certificate (chain) file: serve HTTPS, with tls_key
    tls_key: str = ""  # PEM private key file of tls_cert (not encrypted)


class AuthConfig(msgspec.Struct, forbid_unknown_fields=True):
    """Access control. `enabled` unset: on as soon as the log holds a user."""

    enabled: bool | None = None
    initial_admin: str = ""  # created at start (role admin) if no user of that name exists
    initial_password: str = ""
    token_ttl: float = 86_400.0  # seconds a login token stays valid
    denial_window: float = 10.0  # seconds refused requests are counted before they are logged
    login_failures: int = 5  # failed logins (per user name, per address) before each waits
    login_max_delay: float = 300.0  # longest wait a run of failed logins imposes, seconds


class DialerConfig(msgspec.Struct, forbid_unknown_fields=True):
    """The outbound dialer (engine/dialer/). README "Outbound dialer" explains each key."""

    results_path: str = "outbound_result.json"  # JSON lines, one per finished dialing
    result_info: bool = False  # also write the info_* snapshots into the results file
    server: str = ""  # the [[servers]] name campaigns dial through ("" = the first one)
    unlimited_cap: int = 10  # live dialings per campaign when the destination sets no limit
    abandon_target: float = 3.0  # percent, adaptive predictive mode (plan dial_mode 6)
    abandon_after: float = 2.0  # seconds an answered customer may wait for an agent
    max_dial_ratio: float = 3.0  # most calls per free agent in adaptive predictive mode
    default_timezone: str = "UTC"  # for call windows of dl entries without a timezone
    dialing_timeout: float = 30.0  # seconds past dial_timeout without an OriginateResponse
    originate_timeout: float = 10.0  # seconds to wait for Asterisk's answer to an Originate


class ReplayConfig(msgspec.Struct, forbid_unknown_fields=True):
    """Replays, point-in-time views, verification (replay/). README "Replay and audit"."""

    snapshot_interval: int = 50_000  # events between periodic projection snapshots; 0: none
    workers: int = 0  # processes a full rebuild may use; 0: one per core, at most 4


class VoicemailConfig(msgspec.Struct, forbid_unknown_fields=True):
    """Voicemail (`/voicemail/*`). Asterisk's spool holds each message's audio and details,
    which AMI does not carry: "" serves messages without them (downloads answer 501)."""

    spool: str = ""  # Asterisk's voicemail spool, e.g. /var/spool/asterisk/voicemail


class Config(msgspec.Struct, forbid_unknown_fields=True):
    store: str = DEFAULT_URL
    servers: list[ServerConfig] = msgspec.field(default_factory=list)
    ingest: IngestConfig = msgspec.field(default_factory=IngestConfig)
    projections: ProjectionsConfig = msgspec.field(default_factory=ProjectionsConfig)
    api: ApiConfig = msgspec.field(default_factory=ApiConfig)
    auth: AuthConfig = msgspec.field(default_factory=AuthConfig)
    dialer: DialerConfig = msgspec.field(default_factory=DialerConfig)
    replay: ReplayConfig = msgspec.field(default_factory=ReplayConfig)
    voicemail: VoicemailConfig = msgspec.field(default_factory=VoicemailConfig)


_NAME = re.compile(r"^[A-Za-z0-9_.-]+$")


def _validate(config: Config) -> None:
    if config.replay.snapshot_interval < 0 or config.replay.workers < 0:
        raise ConfigError("replay.snapshot_interval, replay.workers: must be >= 0")
    if config.api.max_body <= 0:
        raise ConfigError("api.max_body: must be > 0 (bytes)")
    if config.auth.denial_window <= 0 or config.auth.login_max_delay <= 0:
        raise ConfigError("auth.denial_window, auth.login_max_delay: must be > 0 (seconds)")
    if config.auth.login_failures < 0:
        raise ConfigError("auth.login_failures: must be >= 0")
    if config.projections.checkpoint_seconds <= 0 or config.projections.checkpoint_events <= 0:
        raise ConfigError("projections.checkpoint_seconds, projections.checkpoint_events: "
                          "must be > 0")
    names: set[str] = set()
    for i, server in enumerate(config.servers):
        key = f"servers[{i}]"
        if not _NAME.match(server.name):
            raise ConfigError(f"{key}.name: {server.name!r} must be letters, digits, _ . -")
        if server.name in names:
            raise ConfigError(f"{key}.name: {server.name!r} is used by another server")
        names.add(server.name)
        if not 0 < server.port < 65536:
            raise ConfigError(f"{key}.port: {server.port} is not a TCP port (1-65535)")
        if server.ping_interval <= 0:
            raise ConfigError(f"{key}.ping_interval: must be > 0 seconds")
        if server.reconnect_max < 1:
            raise ConfigError(f"{key}.reconnect_max: must be >= 1 second")
    if config.ingest.batch_size < 1:
        raise ConfigError("ingest.batch_size: must be >= 1")
    if not 0 < config.api.port < 65536:
        raise ConfigError(f"api.port: {config.api.port} is not a TCP port (1-65535)")
    if config.api.stream_buffer <= config.api.client_lag:
        raise ConfigError("api.stream_buffer: must be larger than api.client_lag")
    if bool(config.api.tls_cert) != bool(config.api.tls_key):
        raise ConfigError("api.tls_cert, api.tls_key: set both (a PEM certificate and its "
                          "private key) to serve HTTPS, or neither")
    if config.api.send_timeout <= 0 or config.api.keepalive <= 0:
        raise ConfigError("api.send_timeout, api.keepalive: must be > 0 seconds")
    if bool(config.auth.initial_admin) != bool(config.auth.initial_password):
        raise ConfigError("auth.initial_password: set both initial_admin and initial_password")
    if config.auth.token_ttl <= 0:
        raise ConfigError("auth.token_ttl: must be > 0 seconds")
    _validate_dialer(config)


def _validate_dialer(config: Config) -> None:
    dialer = config.dialer
    if dialer.server and dialer.server not in {s.name for s in config.servers}:
        raise ConfigError(f"dialer.server: {dialer.server!r} is not a [[servers]] name")
    if dialer.unlimited_cap < 1:
        raise ConfigError("dialer.unlimited_cap: must be >= 1")
    if not 0 < dialer.abandon_target < 100:
        raise ConfigError("dialer.abandon_target: a percentage between 0 and 100")
    if dialer.abandon_after < 0 or dialer.dialing_timeout <= 0 or dialer.originate_timeout <= 0:
        raise ConfigError("dialer.abandon_after, dialing_timeout, originate_timeout: seconds > 0")
    if dialer.max_dial_ratio < 1:
        raise ConfigError("dialer.max_dial_ratio: must be >= 1")
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    try:
        ZoneInfo(dialer.default_timezone)
    except (ZoneInfoNotFoundError, ValueError):
        raise ConfigError(f"dialer.default_timezone: {dialer.default_timezone!r} is not an "
                          "IANA time zone") from None


def parse(data: dict, source: str = "config") -> Config:
    try:
        config = msgspec.convert(data, Config)
    except msgspec.ValidationError as exc:
        raise ConfigError(f"{source}: {_name_key(str(exc))}") from None
    try:
        _validate(config)
    except ConfigError as exc:
        raise ConfigError(f"{source}: {exc}") from None
    return config


def _name_key(message: str) -> str:
    """msgspec says '... - at `$.servers[0].port`'; lead with the key instead."""
    match = re.match(r"^(.*) - at `\$\.?(.*)`$", message)
    if match:
        text, key = match.groups()
        unknown = re.match(r"Object contains unknown field `(.*)`", text)
        if unknown:
            field = f"{key}.{unknown.group(1)}" if key else unknown.group(1)
            return f"{field}: unknown key"
        return f"{key}: {text}"
    unknown = re.match(r"Object contains unknown field `(.*)`", message)
    if unknown:
        return f"{unknown.group(1)}: unknown key"
    return message


def load(path: str | None = None, store: str | None = None) -> Config:
    """Config from `path` (or $SWITCHBOARD_CONFIG, or ./switchboard.toml if present).

    The store URL is, by precedence: the `store` argument (--store), $SWITCHBOARD_STORE, the
    file's `store` key, the embedded default.
    """
    path = path or os.environ.get("SWITCHBOARD_CONFIG")
    if path is None and Path(DEFAULT_CONFIG_FILE).exists():
        path = DEFAULT_CONFIG_FILE
    data: dict = {}
    if path is not None:
        try:
            data = tomllib.loads(Path(path).read_text())
        except FileNotFoundError:
            raise ConfigError(f"config file {path} does not exist") from None
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{path}: not valid TOML: {exc}") from None
    config = parse(data, path or "config")
    override = store or os.environ.get("SWITCHBOARD_STORE")
    if override:
        config.store = override
    return config
