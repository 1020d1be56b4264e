"""Schemathesis against `/openapi.json` on a running engine: no request it can make (random
parameters, bodies, paths) gets a 5xx, and every answer matches the document.

The engine (with its outbound dialer, so `/ob` is served) is connected to a fake Asterisk that
replayed `control-actions` (channels, systems, device states in the read models), so commands
are really sent and answered. Access control is
off (`auth.enabled = false`, so the users it creates do not turn it on). The voicemail spool is
set (to an empty folder): without one, a message download is a 501 by design (tested in
tests/test_voicemail.py). The streams (`/events`, `/ws`) never end: they have their own tests.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_schema_conformance,
    status_code_conformance,
)

from tests.conftest import CAPTURES
from tests.live import Live

EXAMPLES = 12  # per operation: about 60 operations, under 30 s in all


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    folder: Path = tmp_path_factory.mktemp("openapi")
    config = {"api": {"command_timeout": 2.0}, "auth": {"enabled": False},
              "dialer": {"results_path": str(folder / "results.jsonl")},
              "voicemail": {"spool": str(folder)}}
    with Live(f"sqlite:///{folder / 'log.db'}", [CAPTURES / "control-actions.jsonl"],
              config=config, dialer=True) as running:
        running.connected()
        running.settled()
        yield running


def run_all(live: Live, mode: GenerationMode, checks: list[Any]) -> tuple[int, list[str]]:
    """Every operation (streams aside) with EXAMPLES cases of `mode`: (operations run, their
    failures). An operation with nothing to vary in `mode` (no parameter, no body, made
    negative) is not counted."""
    schema = schemathesis.openapi.from_url(f"{live.url}/openapi.json").exclude(
        path=["/events", "/ws"])
    failures: list[str] = []
    ran = 0
    for result in schema.get_all_operations():
        operation = result.ok()

        @given(case=operation.as_strategy(generation_mode=mode))
        @settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None,
                  suppress_health_check=list(HealthCheck))
        def run(case: schemathesis.Case) -> None:
            case.call_and_validate(base_url=live.url, checks=checks)

        try:
            run()
        except Unsatisfiable:
            continue
        except Exception as exc:  # noqa: BLE001 - collect every operation's failure
            failures.append(f"{operation.label}: {exc}"[:2000])
        ran += 1
    return ran, failures


@pytest.mark.slow
def test_no_server_errors_and_answers_match_the_document(live: Live) -> None:
    ran, failures = run_all(live, GenerationMode.POSITIVE, [
        not_a_server_error, status_code_conformance, content_type_conformance,
        response_schema_conformance])
    assert ran > 50
    assert not failures, "\n\n".join(failures)


@pytest.mark.slow
def test_hostile_requests_get_a_4xx_never_a_5xx(live: Live) -> None:
    """Schemathesis's negative generation: every parameter and body made to violate the
    document (wrong types, out of range, unknown fields, missing ones): each answer is a 4xx
    (`negative_data_rejection`), never a 5xx, and the server is still alive after."""
    ran, failures = run_all(live, GenerationMode.NEGATIVE,
                            [not_a_server_error, negative_data_rejection])
    assert ran > 50
    assert not failures, "\n\n".join(failures)
    assert httpx.get(f"{live.url}/health", timeout=5).json() == {"ok": True}
