"""One table of exit codes, each code one kind of failure, and the command says which."""

from __future__ import annotations

from pathlib import Path

from engine import exitcodes
from tests.test_cli import sb


def test_every_kind_of_failure_has_its_own_code() -> None:
    codes = [exitcodes.OK, exitcodes.INPUT, exitcodes.USAGE, exitcodes.VERIFY_FAILED,
             exitcodes.STORE_UNAVAILABLE, exitcodes.CANNOT_LISTEN, exitcodes.INTERRUPTED]
    assert len(set(codes)) == len(codes) == len(exitcodes.TABLE)
    assert exitcodes.VERIFY_FAILED == 3  # scripts already rely on it


def test_the_help_lists_them(tmp_path: Path) -> None:
    shown = " ".join(sb("--help", cwd=tmp_path).stdout.split())
    for code, what in exitcodes.TABLE.items():
        assert f"{code} {what}" in shown
