"""The `[dialer]` config section: defaults, and errors that name the key."""

from __future__ import annotations

import pytest

from engine.config import ConfigError, DialerConfig, parse


def test_defaults() -> None:
    config = parse({})
    assert config.dialer == DialerConfig()
    assert config.dialer.results_path == "outbound_result.json"
    assert config.dialer.abandon_target == 3.0


@pytest.mark.parametrize(("section", "key"), [
    ({"nope": 1}, "dialer.nope: unknown key"),
    ({"abandon_target": 0}, "dialer.abandon_target"),
    ({"unlimited_cap": 0}, "dialer.unlimited_cap"),
    ({"default_timezone": "Mars/Olympus"}, "dialer.default_timezone"),
    ({"server": "pbx9"}, "dialer.server"),
    ({"results_path": 3}, "dialer.results_path"),
])
def test_errors_name_the_key(section: dict, key: str) -> None:
    with pytest.raises(ConfigError, match=key.replace(".", r"\.")):
        parse({"dialer": section, "servers": [{"name": "pbx1"}]})


def test_the_server_must_be_configured() -> None:
    config = parse({"dialer": {"server": "pbx1"}, "servers": [{"name": "pbx1"}]})
    assert config.dialer.server == "pbx1"
