"""Issue 13's "done when": every seed 004 endpoint-method outside the people/chat model (167,
V1 and V2 forms) called against a running engine on the simulated PBX: none answers 404 or
405, each answers 200 with the documented fields, each write shows in the following read and
is in the log (`tests/conformance.py` says how each is called). `docs/conformance.md` is the
table this run's results make."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conformance import ENDPOINTS, TABLE, running, table, walk


@pytest.mark.slow
def test_every_seed_004_endpoint_method_conforms(tmp_path: Path) -> None:
    with running(f"sqlite:///{tmp_path / 'log.db'}", tmp_path / "results.jsonl") as live:
        results = walk(live)
    assert len(results) == len(ENDPOINTS) == 167
    failures = [f"{r.method} {r.path} -> {r.url}: {r.status} {r.problem} "
                f"{'missing ' + ', '.join(r.missing) if r.missing else ''}"
                for r in results if not r.ok]
    assert not failures, "\n".join(failures)
    assert TABLE.read_text() == table(results), (
        "docs/conformance.md is not the table this run makes: python -m tests.conformance "
        "--write")
