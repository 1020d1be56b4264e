"""The text form of a configuration file (`engine/configtext.py`): what it writes reads back as
the same content, Asterisk's own parser reads it alike, and junk is refused with its line."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.ami.asterisk_config import parse
from engine.configs import Content, to_content
from engine.configtext import TextError, from_text, to_text

NAME = st.text("abcxyz_-0123456789", min_size=1, max_size=8)
# values as GetConfig gives them: stripped, one line, any `;` or `=` or `>` inside
VALUE = st.text("ab =>;,()_.$[]{}\\#1", max_size=12).map(str.strip).filter(
    lambda v: not v.startswith(">") and not v.endswith("\\"))


@st.composite
def contents(draw: st.DrawFn) -> Content:
    """Categories as GetConfig answers them: unique names, templates first, a category that
    inherits holding its template's variables first, then its own."""
    names = draw(st.lists(NAME, min_size=1, max_size=5, unique_by=str.lower))
    out: Content = []
    templates: list[dict] = []
    for name in names:
        template = draw(st.booleans())
        own = draw(st.lists(st.tuples(NAME, VALUE).map(list), max_size=4))
        bases = [] if template or not templates else draw(
            st.lists(st.sampled_from(templates), max_size=1))
        inherited = [list(v) for base in bases for v in base["variables"]]
        own = [v for v in own if v not in inherited]
        cat = {"name": name, "template": template, "templates": [b["name"] for b in bases],
               "variables": inherited + own}
        out.append(cat)
        if template:
            templates.append(cat)
    return out


@settings(max_examples=300)
@given(contents(), st.sets(NAME, max_size=2))
def test_the_text_reads_back_as_the_same_content(content: Content, objects: set[str]) -> None:
    text = to_text(content, objects)
    assert from_text(text) == content
    assert to_content(parse(text)) == content  # and Asterisk's parser (the fakes') agrees


def test_extensions_conf_is_written_with_arrows() -> None:
    content = from_text("; a comment\n[general]\nstatic = yes\n\n[ivr]\n"
                        "exten => s,1,Answer() ; answer\n same => n,NoOp(a\\;b)\n")
    assert content == [
        {"name": "general", "template": False, "templates": [],
         "variables": [["static", "yes"]]},
        {"name": "ivr", "template": False, "templates": [],
         "variables": [["exten", "s,1,Answer()"], ["same", "n,NoOp(a;b)"]]}]
    assert to_text(content, {"exten", "same"}) == (
        "[general]\nstatic = yes\n\n[ivr]\nexten => s,1,Answer()\nsame => n,NoOp(a\\;b)\n")


@pytest.mark.parametrize(("text", "message"), [
    ("Test update", "line 1: neither [category] nor name = value: 'Test update'"),
    ("a = 1", "line 1: 'a' comes before any [category]"),
    ("[a]\n#include other.conf", "line 2: #include cannot be written through AMI"),
    ("[a]\n[a]", "line 2: [a] given twice"),
    ("[a](+)", "line 1: [a](+) adds to a category: write it whole"),
    ("[b](t)", "line 1: [b] inherits 't', which is not a template defined before it"),
    ("[t]\n[b](t)", "line 2: [b] inherits 't', which is not a template defined before it"),
    ("[]", "line 1: not a category header: '[]'"),
    ("[a]\n= 1", "line 2: neither [category] nor name = value: '= 1'"),
])
def test_junk_is_refused_with_its_line(text: str, message: str) -> None:
    with pytest.raises(TextError) as refused:
        from_text(text)
    assert str(refused.value) == message
