"""engine/redact.py on the shapes configuration secrets travel in: a GetConfig answer's lines,
a GetConfigJSON answer, an UpdateConfig action in a command, a file's content before a change."""

from __future__ import annotations

import json

from engine.ami.asterisk_config import AsteriskConfig
from engine.ami.protocol import parse_headers
from engine.configs import (
    Action,
    get_config,
    read_action_id,
    to_content,
    update_configs,
)
from engine.envelope import Event
from engine.redact import REDACTED, redact_event

SECRETS = ("s3cret-6001", "1234,", "4321,", "5555")


def answer(name: str, headers: dict, action_id: str) -> Event:
    asterisk = AsteriskConfig()
    reply = asterisk.answer(name, headers, action_id)
    assert reply is not None
    data = parse_headers(reply.reply.decode().removesuffix("\r\n\r\n")).headers
    return Event(1, "ami/pbx1/s", 1, "Response", "2026-12-07T20:08:35+00:00", "pbx1", data)


def shown(event: Event) -> str:
    return json.dumps(redact_event(event).data)


def test_a_get_config_answer_loses_its_passwords_and_pins() -> None:
    pjsip = answer("getconfig", get_config("pjsip.conf", read_action_id("pjsip.conf")),
                   read_action_id("pjsip.conf"))
    assert "s3cret-6001" in json.dumps(pjsip.data)
    text = shown(pjsip)
    assert "s3cret-6001" not in text and f"password={REDACTED}" in text
    assert "username=6001" in text  # what is not secret stays
    aid = read_action_id("voicemail.conf")
    voicemail = shown(answer("getconfig", get_config("voicemail.conf", aid), aid))
    assert f"100={REDACTED},Alice Agent,alice@example.com,,attach=no" in voicemail
    assert "maxmsg=100" in voicemail and not any(s in voicemail for s in SECRETS)


def test_a_get_config_json_answer_and_a_read_of_unknown_file_too() -> None:
    aid = read_action_id("voicemail.conf")
    text = shown(answer("getconfigjson", {"Filename": "voicemail.conf"}, aid))
    assert not any(s in text for s in SECRETS) and "Alice Agent" in text
    # someone else's read (ActionID not ours): the file is unknown, secret names still are
    foreign = shown(answer("getconfig", {"Filename": "pjsip.conf"}, "getconfig-7"))
    assert "s3cret-6001" not in foreign


def test_a_configuration_command_shows_neither_the_values_sent_nor_the_content_before() -> None:
    before = to_content(AsteriskConfig().files["voicemail.conf"])
    action, *continued = update_configs("voicemail.conf", "app_voicemail", [
        Action("Append", "default", "102", "5555,Carol Agent"),
        *[Action("Update", "6001-auth", "password", f"other{n}") for n in range(40)]])
    assert continued  # 41 actions do not fit the 128 lines of one
    event = Event(1, "command/c1", 0, "CommandRequested", "2026-12-07T20:08:35+00:00",
                  "pbx1", {"id": "c1", "action": action, "continued": continued,
                           "filename": "voicemail.conf",
                           "before": before, "params": {"password": "x"}})
    assert "1234" in json.dumps(event.data)
    text = shown(event)
    assert not any(s in text for s in SECRETS) and "other" not in text
    assert "Carol Agent" in text and "Alice Agent" in text
