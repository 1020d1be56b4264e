"""engine/spool.py: Asterisk's voicemail spool read from disk, and nothing outside it."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from engine import spool
from engine.ami.asterisk_voicemail import Voicemail, demo_mailboxes


@pytest.fixture
def root(tmp_path: Path) -> Path:
    Voicemail(demo_mailboxes(), tmp_path / "vm")  # writes the spool as Asterisk lays it out
    return spool.open_spool(str(tmp_path / "vm"))


def test_messages_are_found_by_id_or_by_name_in_a_folder(root: Path) -> None:
    listed = spool.messages(root, "default", "100")
    assert [(m.folder, m.msgname, m.info["msg_id"]) for m in listed] == [
        ("INBOX", "msg0000", "1796660000-00000000"), ("INBOX", "msg0001", "1796660600-00000001"),
        ("Old", "msg0000", "1796665000-00000000")]
    found = spool.find(root, "default", "100", "1796665000-00000000")
    assert found is not None and found.folder == "Old" and found.audio() is not None
    assert spool.find(root, "default", "100", "msg0001", "INBOX") == listed[1]
    assert spool.find(root, "default", "100", "msg0001") is None  # a name needs its folder
    fields = spool.row_fields(listed[0])
    assert fields["msgname"] == "msg0000" and fields["callerid"] == '"Customer 0" <5550100>'
    assert set(fields) == set(spool.FIELDS)


def test_an_unusable_spool_says_why(tmp_path: Path) -> None:
    with pytest.raises(spool.SpoolError, match="voicemail.spool is not set"):
        spool.open_spool("")
    with pytest.raises(spool.SpoolError, match="is not a directory"):
        spool.open_spool(str(tmp_path / "missing"))
    (tmp_path / "file").write_text("x")
    with pytest.raises(spool.SpoolError, match="is not a directory"):
        spool.open_spool(str(tmp_path / "file"))
    locked = tmp_path / "locked"
    locked.mkdir(mode=0)
    try:
        if os.access(locked, os.R_OK):  # root reads everything
            pytest.skip("running as root: every directory is readable")
        with pytest.raises(spool.SpoolError, match="not readable"):
            spool.open_spool(str(locked))
    finally:
        locked.chmod(0o700)


NAMES = st.text(st.characters(blacklist_categories=("Cs",)), max_size=12)


@given(NAMES, NAMES, NAMES, st.one_of(st.none(), NAMES))
def test_no_name_reaches_outside_the_spool(context: str, mailbox: str, key: str,
                                           folder: str | None) -> None:
    """Whatever a request names (`..`, slashes, NUL, an unknown folder), only message files
    of the spool can be found."""
    root = Path(__file__).resolve().parent / "ami-captures"  # a tree with other files in it
    assert spool.find(root, context, mailbox, key, folder) is None


def test_a_path_name_is_not_a_component() -> None:
    for bad in ("", ".", "..", "a/b", "a\\b", "a\x00b"):
        assert not spool.component(bad)
    assert spool.component("default") and spool.component("100")


def test_a_symlink_out_of_the_spool_is_not_followed(root: Path, tmp_path: Path) -> None:
    outside = tmp_path / "outside" / "INBOX"
    outside.mkdir(parents=True)
    (outside / "msg0000.txt").write_text("[message]\nmsg_id=stolen\n")
    (root / "default" / "evil").symlink_to(tmp_path / "outside")
    assert spool.find(root, "default", "evil", "stolen") is None
