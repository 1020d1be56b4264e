"""Results: the results file is a projection (delete it, running or not, and it is rebuilt from
the log, every finished dialing exactly once), `switchboard export` serves `dialings` and
`results`, and `/ob/results` filters."""

from __future__ import annotations

import io
import json
import re
from pathlib import Path

from engine.ami.simulator import Timings, capture_dialplan
from engine.cli import main as cli
from engine.commands import REQUESTED
from engine.dialer import events as ev
from engine.dialer.process import HANGUP_FORCED_STOP, HANGUP_REQUESTED
from engine.dialer.resultsfile import ResultsFile
from engine.store import open_store
from projections.dialings import COLUMNS as OB_COLUMNS
from projections.results import COLUMNS
from projections.runner import Projector
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


def test_calls_the_dialer_hung_up_say_so_in_their_result(tmp_path: Path) -> None:
    """Issue 12 item 20: a call the dialer hung up itself (`DELETE /ob/dialings/<uuid>`, or a
    campaign stopped forcedly, status 30) was recorded exactly like a customer hanging up.
    Its hangup is a command in the log, durable before the Hangup leaves, and its result
    (`/ob/results`, the results file, `DialingEnded`) carries the `end_reason`; a call that
    ended by itself carries none."""
    path = tmp_path / "outbound_result.json"

    async def main() -> None:
        async with stack(tmp_path, outcome=capture_dialplan,
                         timings=Timings(ring=0.02, talk=30.0)) as s:
            c = await s.campaign(dest={"type": 0, "context": "dialer", "exten": "hold"},
                                 numbers=[["101"], ["102"], ["103"], ["104"], ["201"]],
                                 plan={"max_retry_cnt_1": 1})
            uuid = c["campaign"]["uuid"]
            await until(lambda: len([d for d in s.state()["dialings"].values()
                                     if d["status"] == 6]) == 4, 10, "four calls answered")
            first, second = [d for d in s.state()["dialings"].values() if d["status"] == 6][:2]
            await s.delete(f"dialings/{first['uuid']}")
            await s.call("DELETE", f"/core/channels/{second['uuid']}")  # an operator's
            await until(lambda: not {first["uuid"], second["uuid"]} & set(s.state()["dialings"]),
                        5, "hung up")
            await s.put(f"campaigns/{uuid}", {"status": 30})
            await until(lambda: s.camp_status(uuid) == 0, 10, "stopped")
            await until(lambda: len(lines(path)) == 5, 5, "five results")

            results = {r["dial_addr"]: r for r in (await s.get("results"))["list"]}
            assert results[first["dial_addr"]]["end_reason"] == HANGUP_REQUESTED
            assert re.fullmatch(r"hung up by anonymous@127\.0\.0\.1 \(command [0-9a-f]{32}\)",
                                results[second["dial_addr"]]["end_reason"])
            for number in {"101", "102", "103", "104"} - {first["dial_addr"],
                                                          second["dial_addr"]}:
                assert results[number]["end_reason"] == HANGUP_FORCED_STOP, number
            assert results["201"]["end_reason"] is None  # busy: the call ended by itself
            for number in ("101", "102", "103", "104"):  # ended by a Hangup: cause 16
                assert results[number]["status"] == 7 and results[number]["res_hangup"] == 16
            assert {r["dial_addr"]: r["end_reason"] for r in lines(path)} == {
                n: r["end_reason"] for n, r in results.items()}

            events = s.events()
            asked = [e for e in events if e.type == REQUESTED and e.data["params"].get("dialing")]
            assert len(asked) == 3 and {e.data["who"] for e in asked} == {"dialer"}
            for request in asked:
                cid = request.data["id"]
                [hangup] = [a for a in s.sim.actions_received if a.get("ActionID") == f"cmd-{cid}"]
                assert hangup["Action"] == "Hangup"
                [answer] = [e for e in events if e.type == "Response" and e.causation_id == cid]
                assert request.position < answer.position  # logged before it was sent

    run(main())
    store = open_store(f"sqlite:///{tmp_path / 'log.db'}")
    try:
        rebuilt = Projector(store, persist=False)
        rebuilt.rebuild()
        with Projector(store, read_only=True) as live:  # the states saved at the stop
            for name in ("dialings", "results", "commands"):
                assert live.serialize(name) == rebuilt.serialize(name), name
    finally:
        store.close()
