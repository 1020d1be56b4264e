"""Results: the results file is a projection (delete it, running or not, and it is rebuilt from
the log, every finished dialing exactly once), `switchboard export` serves `dialings` and
`results`, and `/ob/results` filters."""

from __future__ import annotations

import io
import json
from pathlib import Path

from engine.ami.simulator import capture_dialplan
from engine.cli import main as cli
from engine.dialer import events as ev
from engine.dialer.resultsfile import ResultsFile
from engine.store import open_store
from projections.dialings import COLUMNS as OB_COLUMNS
from projections.results import COLUMNS
from replay.export import export_view
from tests.test_dialer_harness import run, stack, until


def lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def test_the_results_file_is_rebuilt_from_the_log(tmp_path: Path) -> None:
    path = tmp_path / "outbound_result.json"

    async def main() -> list[dict]:
        async with stack(tmp_path, outcome=capture_dialplan) as s:
            c = await s.campaign(dest={"type": 1, "application": "park"},
                                 numbers=[["101"], ["201"], ["401"]],
                                 plan={"max_retry_cnt_1": 1})
            await until(lambda: len(lines(path)) == 3, 10, "three results")
            first = lines(path)
            path.unlink()  # while the engine runs
            await until(lambda: len(lines(path)) == 3, 5, "rebuilt")
            assert lines(path) == first
            await s.post("dls", {"dlma_uuid": c["dlma"]["uuid"], "number_1": "102"})
            await s.put(f"campaigns/{c['campaign']['uuid']}", {"status": 1})
            await until(lambda: len(lines(path)) == 4, 5, "one more")
            return lines(path)

    written = run(main())
    assert {(r["dial_addr"], r["res_dial"], r["res_hangup"]) for r in written} == {
        ("101", 4, 16), ("201", 5, 17), ("401", 8, 34), ("102", 4, 16)}
    assert list(written[0]) == list(COLUMNS["results"])  # the seed's sections, in order
    store = open_store(f"sqlite:///{tmp_path / 'log.db'}")
    try:
        # Deleted while the engine is down: rebuilt when it starts.
        path.unlink()
        sink = ResultsFile(store, path)
        assert sink.sync() == 4 and lines(path) == written
        # A crash after writing lines the checkpoint does not cover: cut back, written once.
        with path.open("ab") as fh:
            fh.write(b'{"uuid": "half a line')
        again = ResultsFile(store, path)
        assert again.sync() == 0 and lines(path) == written
        # With the snapshots (`dialer.result_info`): a file without its checkpoint is rebuilt.
        Path(f"{path}.pos").unlink()
        full = ResultsFile(store, path, with_info=True)
        assert full.sync() == 4
        assert [r["info_plan"]["uuid"] is not None for r in lines(path)] == [True] * 4
    finally:
        store.close()


def test_export_and_rest_read_the_results(tmp_path: Path) -> None:
    async def main() -> None:
        async with stack(tmp_path, outcome=capture_dialplan) as s:
            c = await s.campaign(dest={"type": 1, "application": "park"},
                                 numbers=[["101"], ["201"], ["202"], ["301"]],
                                 plan={"max_retry_cnt_1": 1})
            await until(lambda: s.camp_status(c["campaign"]["uuid"]) == 0, 10, "done")
            busy = (await s.get("results?res_dial=5"))["list"]
            assert sorted(r["dial_addr"] for r in busy) == ["201", "202"]
            mine = (await s.get(f"results?uuid_camp={c['campaign']['uuid']}"))["list"]
            assert len(mine) == 4
            page = (await s.get("results?count=2&offset=1"))["list"]
            assert [r["uuid"] for r in page] == [r["uuid"] for r in mine[1:3]]
            since = mine[-1]["tm_update"]
            assert [r["uuid"] for r in (await s.get(f"results?since={since}"))["list"]] == [
                mine[-1]["uuid"]]
            await s.get("results?status=seven", expect=400)
            one = await s.get(f"results/{mine[0]['uuid']}")
            assert one == mine[0]

    run(main())
    store = open_store(f"sqlite:///{tmp_path / 'log.db'}")
    try:
        out = io.BytesIO()
        assert export_view(store, "results", "jsonl", out) == 4
        rows = [json.loads(line) for line in out.getvalue().splitlines()]
        assert {r["dial_addr"] for r in rows} == {"101", "201", "202", "301"}
        assert export_view(store, "dialings", "csv", io.BytesIO()) == 0  # none in flight
        assert export_view(store, "dls", "jsonl", io.BytesIO()) == 4
        ended = [e for e in store.iter_all() if e.type == ev.DIALING_ENDED]
        assert len(ended) == 4
    finally:
        store.close()
    target = tmp_path / "results.csv"
    assert cli(["export", "results", "--format", "csv", "--output", str(target),
                "--store", f"sqlite:///{tmp_path / 'log.db'}"]) == 0
    header = target.read_text().splitlines()[0].split(",")
    assert header == list(COLUMNS["results"])
    assert set(OB_COLUMNS) == {"plans", "destinations", "dlmas", "dls", "campaigns", "dncs",
                               "dialings"}
