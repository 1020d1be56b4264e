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


class ApiConfig(msgspec.Struct, forbid_unknown_fields=True):
    host: str = "127.0.0.1"
    port: int = 8080


class Config(msgspec.Struct, forbid_unknown_fields=True):
    store: str = DEFAULT_URL
    servers: list[ServerConfig] = msgspec.field(default_factory=list)
    ingest: IngestConfig = msgspec.field(default_factory=IngestConfig)
    api: ApiConfig = msgspec.field(default_factory=ApiConfig)


_NAME = re.compile(r"^[A-Za-z0-9_.-]+$")


def _validate(config: Config) -> None:
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
