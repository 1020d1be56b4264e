"""The API's address, bound before anything is appended: a start that cannot serve says so in
one line, with its own exit code, and leaves the log as it found it."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from engine import exitcodes
from engine.listen import CannotListen, bind
from tests.test_cli import one_line, sb


@pytest.mark.parametrize("verb", [["run"], ["demo", "--no-sample"]])
def test_a_port_in_use_is_one_line_and_appends_nothing(tmp_path: Path, verb: list[str]) -> None:
    """`run` used to start the engine first (the dialer's start marker, the configured admin
    appended), and `demo` its simulated PBX's session too, before uvicorn found the port
    taken: 54 lines, three chained tracebacks, and exit code 3."""
    (tmp_path / "switchboard.toml").write_text(
        '[auth]\ninitial_admin = "root"\ninitial_password = "correct horse battery"\n')
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = sb(*verb, "--port", str(port), cwd=tmp_path)
    assert result.returncode == exitcodes.CANNOT_LISTEN == 5
    assert one_line(result) == (f"switchboard: cannot serve the API on 127.0.0.1:{port}: the "
                                "port is in use (another switchboard, or another server?): "
                                "choose another with --port or api.port")
    assert sb("events", cwd=tmp_path).stdout == ""


def test_an_address_that_is_not_this_machines_is_said_so() -> None:
    with pytest.raises(CannotListen, match=r"on 192\.0\.2\.1:0: the address is not one of "):
        bind("192.0.2.1", 0)
    with pytest.raises(CannotListen, match="unknown host"):
        bind("no-such-host.invalid", 0)
    with bind("127.0.0.1", 0) as sock:
        assert sock.getsockname()[1] > 0
