"""Seed 004's endpoint-methods and their documented fields, into tests/seed/endpoints-004.json.

The conformance test (tests/test_seed_conformance.py) walks that file; it must not need
`../shared` (a clone has nothing beside it), so this script reads the checklist and the seed
from there once and writes what the test needs into the repository:

    python scripts/extract_seed_endpoints.py [--shared ../shared]

Each entry: `method`, `path` (the seed's, `<detail>` where a key goes), `line` (in the seed),
`section` (the checklist's heading), `body` (the GET-body key of a V1 detail call, if any) and
`fields`: every key the seed's "Returns" block for that method names (the envelope's own keys
left out), in the order it names them.
"""

from __future__ import annotations

import argparse
import json
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "tests" / "seed" / "endpoints-004.json"
SEED = "seeds/004_91b44c3498f8cd14.txt"

# `| `GET /core/channels` — seed l.17075 | yes | ...`, `| `GET /agents/` (body `{"id"}`) — ...`
ROW = re.compile(r"^\| `(GET|POST|PUT|DELETE) ([^`]+)`"
                 r"(?: \((?:body `\{\"(\w+)\"\}`|[^)]*)\))? — seed l\.(\d+)")
HEADING = re.compile(r"^#### (.+?) —")
KEY = re.compile(r'"([A-Za-z_][\w-]*)"\s*:')
ENVELOPE = {"api_ver", "statuscode", "timestamp", "result", "reuslt", "list"}
PATH_LINE = re.compile(r"^/\S+$")
# Issue 14's: the people and chats model.
LATER = ("manager", "me / user")
LATER_PATHS = ("/admin/info", "/admin/user/")


def checklist_rows(text: str) -> list[dict]:
    rows, section = [], ""
    for line in text.splitlines():
        if line.startswith("## 2."):
            break
        heading = HEADING.match(line)
        if heading:
            section = heading.group(1)
            continue
        row = ROW.match(line)
        if row:
            method, path, body, number = row.groups()
            path = path.split("?")[0].strip()
            rows.append({"method": method, "path": path, "body": body,
                         "line": int(number), "section": section})
    return rows


def documented_fields(seed: list[str], line: int, method: str) -> list[str]:
    """The keys of the Returns block of `method` in the path's part of the seed."""
    start = line - 1
    end = len(seed)
    for i in range(start + 1, len(seed)):
        if PATH_LINE.match(seed[i].strip()) and seed[i].strip() != seed[start].strip() \
                and seed[i - 1].strip() == "" and i + 2 < len(seed) \
                and "Methods" in "".join(seed[i + 1:i + 5]):
            end = i
            break
    part = seed[start:end]
    heading = next((i for i, text in enumerate(part) if text.strip() == f"Method: {method}"),
                   None)
    if heading is None:
        return []
    returns = next((i for i in range(heading, len(part)) if part[i].strip() == "Returns"), None)
    if returns is None:
        return []
    block = []
    for text in part[returns + 1:]:
        if text.strip() in ("Example", "Return parameters") or text.strip().startswith("Method:"):
            break
        block.append(text)
    fields: list[str] = []
    for key in KEY.findall("\n".join(block)):
        if key not in ENVELOPE and key not in fields:
            fields.append(key)
    return fields


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shared", type=Path, default=ROOT.parent / "shared")
    args = parser.parse_args()
    checklist = (args.shared / "seed-checklist.md").read_text()
    seed = (args.shared / SEED).read_text().splitlines()
    entries = []
    for row in checklist_rows(checklist):
        if row["section"].startswith(LATER) or row["path"].startswith(LATER_PATHS):
            continue
        row["fields"] = documented_fields(seed, row["line"], row["method"])
        entries.append(row)
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(entries, indent=1) + "\n")
    print(f"{len(entries)} endpoint-methods -> {OUT.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
