"""engine/configs.py: the actions a change sends make the wanted file, by Asterisk's own rules
(the fake Asterisk's model, tests/test_asterisk_config.py), in as many UpdateConfig actions as
Asterisk's 128 lines per action need; ActionIDs of reads say their file."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from engine.ami.asterisk_config import MAX_LINES, AsteriskConfig
from engine.configs import (
    Action,
    Content,
    file_of,
    predicted,
    read_action_id,
    reader_command,
    to_content,
    touched,
    update_configs,
    updates,
)


def apply(content: Content, actions: list[Action], filename: str = "x.conf") -> Content:
    """`actions` sent to a fake Asterisk holding `content`, as a change sends them; the file
    as it reads back."""
    text = "".join(f"[{c['name']}]\n" + "".join(f"{k} = {written(v)}\n"
                                                for k, v in c["variables"])
                   for c in content)
    asterisk = AsteriskConfig({filename: text})
    for headers in update_configs(filename, None, actions):
        lines = sum(len(v) if isinstance(v, list) else 1 for v in headers.values()) + 1
        assert lines <= MAX_LINES
        answer = asterisk.answer("updateconfig", headers, "a")
        assert answer is not None and b"Response: Success" in answer.reply, answer.reply
    return to_content(asterisk.files[filename])


def written(value: str) -> str:
    """A value as a file holds it so that it reads back as itself (`k = >x` is `>x`: only
    `=>` makes an object)."""
    return value.replace(";", "\\;")


def cat(name: str, *variables: tuple[str, str]) -> dict:
    return {"name": name, "template": False, "templates": [], "variables": [list(v)
                                                                            for v in variables]}


names = st.sampled_from(["general", "sales", "support", "billing", "vip"])
keys = st.sampled_from(["strategy", "member", "timeout", "exten", "same"])
values = st.text(st.characters(min_codepoint=33, max_codepoint=126), min_size=1, max_size=6)
contents = st.lists(st.tuples(names, st.lists(st.tuples(keys, values), max_size=6)),
                    max_size=5, unique_by=lambda c: c[0]).map(
    lambda cs: [cat(n, *vs) for n, vs in cs])


@settings(max_examples=300, deadline=None)
@given(contents, contents)
def test_the_actions_of_a_change_make_the_wanted_file(before: Content, after: Content) -> None:
    """Whatever the file and whatever is wanted: sent to Asterisk, the actions `updates` gives
    leave the file as wanted (categories kept stay where they were, a new one goes before the
    next one it precedes), and `predicted` foresaw it."""
    actions = updates(before, after)
    got = apply(before, actions)
    assert sorted(map(repr, got)) == sorted(map(repr, after))
    assert predicted(before, update_configs("x.conf", None, actions)) == got
    kept = [c["name"] for c in before if c["name"] in {a["name"] for a in after}]
    assert [c["name"] for c in got if c["name"] in kept] == kept


def test_an_unchanged_category_is_not_touched_and_a_value_is_updated_in_place() -> None:
    before = [cat("sales", ("strategy", "ringall"), ("timeout", "8")),
              cat("support", ("member", "a"), ("member", "b"))]
    after = [cat("sales", ("strategy", "rrmemory"), ("timeout", "8")),
             cat("support", ("member", "a"), ("member", "b"))]
    assert updates(before, after) == [Action("Update", "sales", "strategy", "rrmemory")]
    assert updates(before, before) == []
    reordered = [before[0], cat("support", ("member", "b"), ("member", "a"))]
    assert [a.verb for a in updates(before, reordered)] == ["EmptyCat", "Append", "Append"]


def test_a_long_change_goes_as_several_actions_the_reload_on_the_last() -> None:
    many = [cat("big", *[("member", f"Local/{n}@agents") for n in range(100)])]
    batches = update_configs("queues.conf", "app_queue", updates([], many))
    assert len(batches) == 4
    assert ["Reload" in b for b in batches] == [False, False, False, True]
    assert all(b["Action-000000"] for b in batches)
    assert apply([], updates([], many)) == many
    assert touched(batches) == {"big"}


def test_a_value_with_a_semicolon_reads_back_whole() -> None:
    wanted = [cat("ivr", ("exten", "s,1,Set(A=1;B=2)"))]
    assert apply([], updates([], wanted)) == wanted


def test_inheriting_a_template_that_exists() -> None:
    """pjsip.conf's endpoint-template: a new endpoint inherits it; UpdateConfig cannot write
    into a template, so its variables read back through the inheritance."""
    asterisk = AsteriskConfig()
    before = to_content(asterisk.files["pjsip.conf"])
    template = next(c for c in before if c["name"] == "endpoint-template")
    wanted = {"name": "6002", "template": False, "templates": ["endpoint-template"],
              "variables": [*template["variables"], ["aors", "6002"]]}
    actions = updates(before, [*before, wanted])
    for headers in update_configs("pjsip.conf", None, actions):
        asterisk.answer("updateconfig", headers, "a")
    after = to_content(asterisk.files["pjsip.conf"])
    assert after[-1] == wanted
    assert "type = endpoint" not in asterisk.text("pjsip.conf").split("[6002]")[1]


def test_read_action_ids_say_their_file_and_command() -> None:
    assert file_of(read_action_id("queues.conf")) == "queues.conf"
    assert reader_command(read_action_id("queues.conf", "cmd-abc")) == "abc"
    assert reader_command(read_action_id("queues.conf")) is None
    assert file_of("cmd-abc") is None and file_of(None) is None and file_of("cfg/x") is None
