"""voicemail.conf's mailbox lines (engine/voicemail_conf.py): read as app_voicemail reads them,
written back unchanged, changed field by field; the mailboxes of a file and the line Asterisk
runs for one."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from engine import voicemail_conf
from engine.ami.asterisk_config import parse as parse_file
from engine.ami.captured_pbx import VOICEMAIL_CONF
from engine.voicemail_conf import LineError, MailboxLine, changed, line_of, mailboxes, parse

TEXT = st.text(st.characters(blacklist_characters=",|=\r\n", codec="utf-8"), max_size=12)
KEY = TEXT.filter(bool)
OPTION = st.tuples(KEY, st.one_of(st.none(), TEXT))
LINES = st.builds(MailboxLine, TEXT, TEXT, TEXT, TEXT, st.lists(OPTION, max_size=4).map(tuple))


def test_the_recorded_lines_read_as_app_voicemail_reads_them() -> None:
    alice = parse("1234,Alice Agent,alice@example.com,,attach=no")
    assert (alice.password, alice.full_name, alice.email, alice.pager) == (
        "1234", "Alice Agent", "alice@example.com", "")
    assert alice.options == (("attach", "no"),) and alice.option("ATTACH") == "no"
    bob = parse("4321,Bob Agent,bob@example.com")
    assert (bob.password, bob.pager, bob.options) == ("4321", "", ())
    assert bob.render() == "4321,Bob Agent,bob@example.com"
    # the seed's own example: options after the pager, a piece without `=` ignored (kept)
    seed = parse(",Bob Smith,bob@example.com,bob2@example.com,tz=eastern|attach=Yes|"
                 "attachfmt=|saycid=No|x")
    assert seed.password == "" and seed.pager == "bob2@example.com"
    assert seed.option("attachfmt") == "" and seed.option("x") is None
    assert seed.options[-1] == ("x", None)


@given(LINES)
def test_a_line_reads_back_as_written(line: MailboxLine) -> None:
    assert parse(line.render()) == line


@given(LINES, st.dictionaries(st.sampled_from(["password", "full_name", "pager", "timezone",
                                                "attach_message", "volume_gain"]), TEXT))
def test_a_change_sets_what_it_names_and_keeps_the_rest(line: MailboxLine,
                                                        values: dict[str, str]) -> None:
    after = parse(changed(line, values).render())
    for name, value in values.items():
        if name in voicemail_conf.FIELDS:
            assert getattr(after, name) == value
        else:
            assert after.option(voicemail_conf.OPTIONS[name]) == value
    kept = [n for n in voicemail_conf.FIELDS if n not in values]
    assert [getattr(after, n) for n in kept] == [getattr(line, n) for n in kept]
    untouched = {voicemail_conf.OPTIONS[n].lower() for n in values if n in voicemail_conf.OPTIONS}
    assert [o for o in after.options if o[0].strip().lower() not in untouched] == [
        o for o in line.options if o[0].strip().lower() not in untouched]


def test_an_option_is_set_where_it_was_and_once() -> None:
    line = parse("1,A,,,tz=central|attach=no|TZ=eastern")
    assert line.option("tz") == "eastern"  # the last one applies
    assert changed(line, {"timezone": "european"}).render() == "1,A,,,tz=european|attach=no"
    assert changed(parse("1"), {"send_voicemail": "yes"}).render() == "1,,,,sendvoicemail=yes"


@pytest.mark.parametrize(("values", "message"), [
    ({"full_name": "Smith, Bob"}, "full_name: a comma would start the next field"),
    ({"timezone": "a|b"}, "timezone: '|' and ',' separate"),
    ({"nickname": "x"}, "nickname: not a voicemail user field"),
])
def test_values_that_would_shift_the_line_are_refused(values: dict[str, str],
                                                      message: str) -> None:
    with pytest.raises(LineError, match=message.replace("|", r"\|")):
        changed(MailboxLine(), values)


def test_the_mailboxes_of_a_file_and_the_line_asterisk_runs() -> None:
    text = VOICEMAIL_CONF + ("\n[zonemessages]\ncentral = America/Chicago|'vm-received' Q\n"
                             "\n[tmpl](!)\n9 => 9\n\n[other]\n7 => 1,First\n7 => 2,Second\n")
    files = [(c.name, c.template, [(v.name, v.value) for v in c.variables])
             for c in parse_file(text)]
    assert [(c, m) for c, m, _ in mailboxes(files)] == [
        ("default", "100"), ("default", "101"), ("other", "7"), ("other", "7")]
    found = line_of(files, "OTHER", "7")  # names compared without case, the last line runs
    assert found is not None and found.full_name == "Second"
    assert line_of(files, "general", "format") is None
    assert line_of(files, "tmpl", "9") is None
    assert voicemail_conf.is_context("Default") and not voicemail_conf.is_context("ZoneMessages")
