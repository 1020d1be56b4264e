"""Config: every key documented and checked; a bad one is named in the error."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.config import ConfigError, load


def write(tmp_path: Path, text: str) -> str:
    path = tmp_path / "switchboard.toml"
    path.write_text(text)
    return str(path)


def test_full_config_loads(tmp_path: Path) -> None:
    config = load(write(tmp_path, """
store = "sqlite:///x.db"
[ingest]
batch_size = 500
[api]
port = 9000
[[servers]]
name = "pbx1"
host = "10.0.0.1"
secret = "s"
ping_interval = 2.5
"""))
    assert config.store == "sqlite:///x.db" and config.api.port == 9000
    assert config.servers[0].host == "10.0.0.1" and config.servers[0].port == 5038
    assert config.ingest.batch_size == 500


@pytest.mark.parametrize("text, key", [
    ('[[servers]]\nname = "a"\nport = "x"', "servers[0].port"),
    ('[[servers]]\nname = "a"\nsecrett = "x"', "servers[0].secrett: unknown key"),
    ('[[servers]]\nhost = "a"', "name"),
    ('[[servers]]\nname = "a"\nport = 70000', "servers[0].port"),
    ('[[servers]]\nname = "a"\n[[servers]]\nname = "a"', "servers[1].name"),
    ('storee = "x"', "storee: unknown key"),
    ('[api]\nport = -1', "api.port"),
    ('[ingest]\nbatch_size = 0', "ingest.batch_size"),
])
def test_bad_config_names_the_key(tmp_path: Path, text: str, key: str) -> None:
    with pytest.raises(ConfigError, match=key.replace("[", r"\[").replace("]", r"\]")):
        load(write(tmp_path, text))


def test_store_precedence_flag_over_env_over_file(tmp_path: Path, monkeypatch) -> None:
    path = write(tmp_path, 'store = "sqlite:///file.db"')
    assert load(path).store == "sqlite:///file.db"
    monkeypatch.setenv("SWITCHBOARD_STORE", "sqlite:///env.db")
    assert load(path).store == "sqlite:///env.db"
    assert load(path, "sqlite:///flag.db").store == "sqlite:///flag.db"


def test_invalid_toml_and_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not valid TOML"):
        load(write(tmp_path, "store = "))
    with pytest.raises(ConfigError, match="does not exist"):
        load(str(tmp_path / "nope.toml"))
