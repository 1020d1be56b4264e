"""A configuration file's text: the seed's `/dialplan/setting?format=text` and the `data` of its
V1 `/admin/dialplan/configurations`.

Switchboard knows a file as Asterisk's `GetConfig` tells it (`engine/configs.Content`), not as
bytes on a disk: comments and blank lines never reach AMI, so the text is written from the
content (`to_text`), the way Asterisk saves a file it changed: `[name]`, `[name](!)` for a
template, `[name](tmpl)` for a category that inherits, then its own variables (those its
templates give are not repeated), `name = value`, or `name => value` for the names the file
writes so (`exten`, `same`, `include` in extensions.conf), a `;` in a value written `\\;`.

`from_text` reads such a text back, strictly: a line that is neither a comment, a category nor
`name = value` / `name => value` is refused with its number (`TextError`), so is `#include` or
`#exec` (UpdateConfig cannot write them), `[name](+)` (adding to a category), a variable before
the first category, a category given twice and a template inherited before it is defined. The
result is the content `GetConfig` would answer for that file: a category that inherits holds
its templates' variables first, then its own, so `from_text(to_text(content)) == content`.
"""

from __future__ import annotations

import re
from collections.abc import Collection
from typing import Any

from engine.configs import Content, to_categories

_CATEGORY = re.compile(r"^\[([^\]]*)\](?:\((.*)\))?$")


class TextError(ValueError):
    """A line the text form does not allow; the message names the line."""


def to_text(content: Content, objects: Collection[str] = ()) -> str:
    """The file's text; `objects`: the variable names written `name => value`."""
    lines: list[str] = []
    for category in to_categories(content):
        options = (["!"] if category.template else []) + list(category.templates)
        lines.append(f"[{category.name}]" + (f"({','.join(options)})" if options else ""))
        for variable in category.variables:
            if variable.inherited:
                continue
            arrow = "=>" if variable.name.lower() in objects else "="
            lines.append(f"{variable.name} {arrow} {variable.value.replace(';', chr(92) + ';')}")
        lines.append("")
    return "\n".join(lines)


def _uncommented(line: str) -> str:
    """The line up to its first `;` that is not written `\\;` (which is a `;`)."""
    out: list[str] = []
    i = 0
    while i < len(line):
        if line.startswith("\\;", i):
            out.append(";")
            i += 2
            continue
        if line[i] == ";":
            break
        out.append(line[i])
        i += 1
    return "".join(out)


def from_text(text: str) -> Content:
    """The content a text makes (see the module docstring); TextError for a line it refuses."""
    content: Content = []
    by_name: dict[str, dict[str, Any]] = {}
    current: dict[str, Any] | None = None
    for number, raw in enumerate(text.splitlines(), 1):
        line = _uncommented(raw).strip()
        if not line:
            continue
        if line.startswith("#"):
            raise TextError(f"line {number}: {line.split()[0]} cannot be written through AMI")
        if line.startswith("["):
            current = _category(number, line, by_name)
            content.append(current)
            by_name[current["name"].lower()] = current
            continue
        name, sep, value = line.partition("=")
        if not sep or not name.strip():
            raise TextError(f"line {number}: neither [category] nor name = value: "
                            f"{line[:64]!r}")
        if current is None:
            raise TextError(f"line {number}: {name.strip()!r} comes before any [category]")
        current["variables"].append([name.strip(), value.removeprefix(">").strip()])
    return content


def _category(number: int, line: str, known: dict[str, dict[str, Any]]) -> dict[str, Any]:
    found = _CATEGORY.match(line)
    if found is None or not found[1].strip():
        raise TextError(f"line {number}: not a category header: {line[:64]!r}")
    name = found[1].strip()
    if name.lower() in known:
        raise TextError(f"line {number}: [{name}] given twice")
    template, templates, inherited = False, [], []
    for option in (o.strip() for o in (found[2] or "").split(",")):
        if option == "!":
            template = True
        elif option == "+":
            raise TextError(f"line {number}: [{name}](+) adds to a category: write it whole")
        elif option:
            base = known.get(option.lower())
            if base is None or not base["template"]:
                raise TextError(f"line {number}: [{name}] inherits {option!r}, which is not a "
                                "template defined before it")
            templates.append(base["name"])
            inherited.extend([k, v] for k, v in base["variables"])
    return {"name": name, "template": template, "templates": templates,
            "variables": inherited}
