"""Seed 004, walked end to end: every endpoint-method outside the people/chat model, V1 and V2.

`tests/seed/endpoints-004.json` lists them (`scripts/extract_seed_endpoints.py` took them from
the seed and its checklist), each with the fields the seed's "Returns" block names. `walk`
calls every one against a running engine (the API on a real port, the simulated PBX over real
TCP), as a client of the seed would: a list, then a detail of a row the list gave, a create, a
change, a delete of an object made for it. Each call must answer 200 in the seed's envelope with
the documented fields; each write must show in the read that follows it, and be in the log (a
command, or an event of the object's own stream). `tests/test_seed_conformance.py` runs it and
checks `docs/conformance.md` is the table its results make; `python -m tests.conformance`
writes that table.
"""

from __future__ import annotations

import contextlib
import json
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx

from api.v1 import ALIASES
from engine.ami.simulator import PbxSimulator, Timings
from tests.live import Live

ROOT = Path(__file__).resolve().parents[1]
ENDPOINTS: list[dict[str, Any]] = json.loads(
    (ROOT / "tests" / "seed" / "endpoints-004.json").read_text())
TABLE = ROOT / "docs" / "conformance.md"
ADMIN, PASSWORD = "admin", "conformance-admin"
LONG = 3600.0  # calls that stay up while the walk goes on


class Pbx(PbxSimulator):
    """The simulated PBX with calls that last (parking, talk and queue patience an hour), one
    queue `sales` with one member, mailboxes written to `SPOOL` (the engine reads it too)."""

    SPOOL = Path(tempfile.gettempdir()) / "switchboard-conformance-spool"

    def __init__(self, **kwargs: Any) -> None:
        spool = self.SPOOL
        spool.mkdir(exist_ok=True)
        timings = Timings(ring=0.01, talk=LONG, agent_ring=0.01, agent_talk=LONG,
                          patience=LONG, park_timeout=LONG, noanswer=1.0, jitter=0.0)
        super().__init__(timings=timings, queues={"sales": ["PJSIP/agent-01"]},
                         voicemail_spool=spool, **kwargs)


@dataclass
class Result:
    method: str
    path: str  # the seed's
    line: int
    section: str
    url: str = ""
    status: int = 0
    missing: list[str] = field(default_factory=list)  # documented fields not answered
    problem: str = ""  # what is wrong, "" when nothing

    @property
    def ok(self) -> bool:
        return self.status == 200 and not self.missing and not self.problem


def v2_of(path: str) -> tuple[str, str]:
    """(V2 path, form): a V1 alias named by its V2 resource."""
    for v1, v2 in ALIASES:
        if path == v1 or path.startswith(v1 + "/"):
            return v2 + path[len(v1):], "V1"
    return path, "V2" if not path.startswith("/admin/") else "V1"


def keys_of(value: Any) -> set[str]:
    """Every key anywhere in a JSON value (the documented fields may be nested: a queue
    status's members)."""
    out: set[str] = set()
    if isinstance(value, dict):
        for k, v in value.items():
            out.add(k)
            out |= keys_of(v)
    elif isinstance(value, list):
        for item in value:
            out |= keys_of(item)
    return out


class Walker:
    def __init__(self, live: Live, client: httpx.Client) -> None:
        self.live = live
        self.http = client
        self.made: dict[str, Any] = {}  # what one step made for the next (uuids, names)

    # -- helpers ------------------------------------------------------------------------------

    def call(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        return self.http.request(method, url, **kwargs)

    def result_of(self, response: httpx.Response) -> Any:
        try:
            body = response.json()
        except ValueError:
            return None
        return body.get("result") if isinstance(body, dict) else None

    def rows(self, url: str) -> list[dict[str, Any]]:
        result = self.result_of(self.http.get(url))
        return result.get("list", []) if isinstance(result, dict) else []

    def first(self, url: str, key: str, where: Callable[[dict], bool] = lambda r: True) -> str:
        for row in self.rows(url):
            if where(row) and row.get(key) not in (None, ""):
                return str(row[key])
        raise LookupError(f"{url} lists no row to use")

    def log_size(self) -> int:
        self.live.settled()
        return self.live.engine.store.last_position()  # type: ignore[union-attr]

    def wait(self, check: Callable[[], bool], what: str, timeout: float = 10.0) -> None:
        deadline = time.monotonic() + timeout
        while not check():
            if time.monotonic() > deadline:
                raise LookupError(f"timed out waiting for {what}")
            time.sleep(0.05)

    def originate(self, **body: Any) -> str:
        uid = f"conf-{len(self.made)}-{time.monotonic_ns() % 10**9}"
        answer = self.http.post("/core/channels", json={
            "channel": "Local/101@customers", "channel_id": uid, **body})
        if answer.status_code != 200:
            raise LookupError(f"originate: {answer.status_code} {answer.text}")
        self.made[uid] = True
        return uid


# -- what each resource needs ---------------------------------------------------------------
#
# A recipe per V2 collection: the row field a `<detail>` names (`key`), a query the collection
# needs (`query`), how to make sure a row exists to read (`seed`), a body to create one
# (`create`), a change (`change`: the body; the read after it must show it), and how to make a
# row that may be deleted (`throwaway`: its key).


@dataclass
class Recipe:
    key: str = "name"
    query: str = ""
    seed: Callable[[Walker], Any] | None = None
    create: Callable[[Walker], dict[str, Any]] | None = None
    change: Callable[[Walker], dict[str, Any]] | None = None
    throwaway: Callable[[Walker], str] | None = None
    soft_delete: bool = False  # a deleted row stays, `in_use` 0 (the outbound objects)
    list_query: str | None = None  # the collection's own query, when not `query`
    put_key: Callable[[Walker], str] | None = None  # the row a PUT changes, if not a throwaway
    key_of: Callable[[dict[str, Any]], str] | None = None  # a new row's key, from its body
    shows: dict[str, Any] | None = None  # what the read after `change` shows, if not the body


def _unique(prefix: str) -> str:
    return f"{prefix}{time.monotonic_ns() % 10**7}"


def _made(w: Walker, url: str, body: dict[str, Any], key: str) -> str:
    """POST `body` to `url`: the new row's `key` (from the answer, else from the body)."""
    answer = w.http.post(url, json=body)
    if answer.status_code != 200:
        raise LookupError(f"POST {url}: {answer.status_code} {answer.text[:120]}")
    got = w.result_of(answer)
    value = got.get(key) if isinstance(got, dict) else None
    return str(value if value is not None else body[key])


def _call_in(w: Walker, collection: str, key: str, **originate: Any) -> str:
    uid = w.originate(**originate)
    w.wait(lambda: any(r.get(key) == uid for r in w.rows(collection)), f"a row of {collection}")
    return uid


def _agi_call(w: Walker) -> str:
    return _call_in(w, "/core/agis", "unique_id", application="AGI", data="agi:async")


def _agi_with_a_command(w: Walker) -> str:
    """A call in AGI that has run a command (the seed's agi object shows its `cmd`)."""
    uid = _agi_call(w)
    w.http.post(f"/core/agis/{uid}/commands", json={"command": "GET VARIABLE CHANNEL"})
    return uid


def _talking_call(w: Walker) -> str:
    return _call_in(w, "/core/channels", "unique_id", application="Wait", data="3600")


def _parked_call(w: Walker) -> str:
    return _call_in(w, "/park/parkedcalls", "parkee_unique_id", application="Park",
                    data="default")


def _some(collection: str, make: Callable[[Walker], Any]) -> Callable[[Walker], Any]:
    """A seed: make a row only when the collection lists none."""
    def seed(w: Walker) -> Any:
        return None if w.rows(collection) else make(w)
    return seed


def _queued_call(w: Walker) -> None:
    """A caller waiting in `sales`: its one member paused, so nobody takes the call."""
    w.http.put("/queue/members/PJSIP%2Fagent-01?queue_name=sales",
               json={"paused": True, "reason": "conformance"})
    w.originate(application="Queue", data="sales")
    w.wait(lambda: bool(w.rows("/queue/entries")), "a caller waiting in a queue")


def _module(w: Walker, loaded: bool) -> str:
    """app_dictate, loaded or not as asked (through the API itself)."""
    row = next((r for r in w.rows("/core/modules") if r.get("name") == "app_dictate"), None)
    running = row is not None and row.get("load") == "Running"
    if running != loaded:
        w.call("POST" if loaded else "DELETE", "/core/modules/app_dictate")
    return "app_dictate"


def _campaign(w: Walker, start: bool = False) -> dict[str, str]:
    """A plan, a destination (parking), a dlma with one customer, a campaign on them."""
    plan = _made(w, "/ob/plans", {"name": "conformance", "dial_mode": 1}, "uuid")
    dest = _made(w, "/ob/destinations", {"name": "park", "type": 1, "application": "park"},
                 "uuid")
    dlma = _made(w, "/ob/dlmas", {"name": "conformance"}, "uuid")
    dl = _made(w, "/ob/dls", {"dlma_uuid": dlma, "name": "customer", "number_1": "101"}, "uuid")
    camp = _made(w, "/ob/campaigns", {"name": "conformance", "plan": plan, "dest": dest,
                                      "dlma": dlma}, "uuid")
    if start:
        w.http.put(f"/ob/campaigns/{camp}", json={"status": 1})
    return {"plan": plan, "dest": dest, "dlma": dlma, "dl": dl, "campaign": camp}


def _dialing(w: Walker) -> str:
    _campaign(w, start=True)
    w.wait(lambda: bool(w.rows("/ob/dialings")), "a dialing in flight")
    return w.first("/ob/dialings", "uuid")


def _dpma(w: Walker) -> str:
    return _made(w, "/dp/dpmas", {"name": _unique("conformance")}, "uuid")


def _dialplan(w: Walker) -> str:
    return _made(w, "/dp/dialplans", {"dpma_uuid": _dpma(w), "name": _unique("dp"),
                                      "sequence": 1}, "uuid")


def _sdp(w: Walker) -> str:
    """A static dialplan context of its own (PUT makes it)."""
    name = _unique("static")
    answer = w.http.put(f"/admin/dialplan/sdps/{name}",
                        json={"data": [{"exten": "> s,1,NoOp(conformance)"}]})
    if answer.status_code != 200:
        raise LookupError(f"PUT /admin/dialplan/sdps/{name}: {answer.status_code}")
    return name


def _configuration_version(w: Walker) -> str:
    """A version of extensions.conf that is not the current one (the V1 configurations)."""
    names = [r["name"] for r in w.rows("/admin/dialplan/configurations")]
    if len(names) < 2:
        w.http.put("/dialplan/setting", json=_dialplan_text(w, _unique("version")))
        names = [r["name"] for r in w.rows("/admin/dialplan/configurations")]
    if len(names) < 2:
        raise LookupError("/admin/dialplan/configurations lists no earlier version")
    return str(names[-1])


def _mailbox(w: Walker) -> dict[str, Any]:
    return {"context": "default", "mailbox": str(500 + time.monotonic_ns() % 400),
            "password": "4321", "full_name": "Conformance Caller"}


def _made_mailbox(w: Walker) -> str:
    body = _mailbox(w)
    _made(w, "/voicemail/users", body, "mailbox")
    key = f"{body['mailbox']}@default"
    w.wait(lambda: any(r.get("id") == key for r in w.rows("/voicemail/users")), "the mailbox")
    return key


def _cfg_lot(w: Walker) -> dict[str, Any]:
    lot = _lot(w)
    return {"name": lot.pop("name"), "data": lot}


def _phone_registers_again(w: Walker) -> None:
    """A phone of the simulated PBX unregisters and registers again: Asterisk says so in
    `PeerStatus` events, the only source of PJSIP peers (`SIPpeers` is chan_sip's)."""
    pbx = w.live.asterisks[0]
    aor = "agent-01"
    [contact] = pbx.pjsip.registered[aor]
    events = pbx.pjsip.unregister(aor, contact.uri) + pbx.pjsip.register(
        aor, contact.uri, user_agent=contact.user_agent,
        via=(contact.via_addr, contact.via_port), call_id=contact.call_id, renew=True)
    for event in events:
        w.live.call(pbx.broadcast(event))
    w.wait(lambda: bool(w.rows("/peers")), "a peer")


def _lot(w: Walker) -> dict[str, Any]:
    n = int(time.monotonic_ns() % 50) * 10 + 1000
    return {"name": _unique("lot"), "parkext": str(n), "parkpos": f"{n + 1}-{n + 9}",
            "context": _unique("parkedcalls")}


def _setting_with(category: str, variables: dict[str, str]
                  ) -> Callable[[Walker, str], dict[str, Any]]:
    """A setting's change: the file as it is, and one category more."""
    def body(w: Walker, url: str) -> dict[str, Any]:
        now = w.result_of(w.http.get(url))
        return {**(now if isinstance(now, dict) else {}), category: variables}
    return body


def _dialplan_text(w: Walker, context: str) -> str:
    """extensions.conf as text (the seed's form of the dialplan setting), one context more."""
    now = w.result_of(w.http.get("/dialplan/setting"))
    return f"{now if isinstance(now, str) else ''}\n[{context}]\nexten => 100,1,NoOp({context})\n"


SETTING_CHANGES: dict[str, Callable[[Walker, str], Any]] = {
    "/queue/setting": _setting_with("conformance", {"strategy": "ringall"}),
    "/park/setting": _setting_with("conformance", {
        "parkext": "890", "parkpos": "891-899", "context": "parkedcalls_conformance"}),
    "/voicemail/setting": _setting_with("conformance", {"900": "1234,Conformance"}),
    "/dialplan/setting": lambda w, url: _dialplan_text(w, "conformance"),
}


def _old_version(w: Walker, collection: str) -> str:
    """A version of a setting file that is not its current one (made by a change if need be)."""
    rows = w.rows(collection)
    if len(rows) < 2:
        setting = collection.removesuffix("s")
        w.http.put(setting, json=SETTING_CHANGES[setting](w, setting))
        rows = w.rows(collection)
    if len(rows) < 2:
        raise LookupError(f"{collection} lists no earlier version")
    return str(rows[-1]["filename"])


def _ob(collection: str, create: dict[str, Any]) -> Recipe:
    return Recipe("uuid", create=lambda w: dict(create), change=lambda w: {"detail": "changed"},
                  throwaway=lambda w: _made(w, collection, dict(create), "uuid"),
                  soft_delete=True)


RECIPES: dict[str, Recipe] = {
    "/core/agis": Recipe("unique_id", seed=_some("/core/agis", _agi_with_a_command),
                         throwaway=_agi_call),
    "/core/channels": Recipe("unique_id", seed=_some("/core/channels", _talking_call),
                             throwaway=_talking_call),
    "/core/modules": Recipe("name"),
    "/core/systems": Recipe("id"),
    "/park/parkedcalls": Recipe("parkee_unique_id", seed=_some("/park/parkedcalls",
                                                               _parked_call),
                                throwaway=_parked_call),
    "/park/parkinglots": Recipe("name", create=_lot, change=lambda w: {"parkingtime": "90"},
                                shows={"timeout": 90},
                                throwaway=lambda w: _made(w, "/park/parkinglots", _lot(w),
                                                          "name")),
    "/park/settings": Recipe("filename"),
    "/queue/settings": Recipe("filename"),
    "/voicemail/settings": Recipe("filename"),
    "/pjsip/aors": Recipe("object_name"),
    "/pjsip/auths": Recipe("object_name"),
    "/pjsip/contacts": Recipe("id"),
    "/pjsip/endpoints": Recipe("object_name"),
    "/queue/entries": Recipe("unique_id", seed=_some("/queue/entries", _queued_call)),
    "/queue/members": Recipe("location", query="?queue_name=sales", list_query=""),
    "/queue/queues": Recipe(
        "name", create=lambda w: {"name": _unique("queue"), "strategy": "ringall"},
        change=lambda w: {"strategy": "leastrecent"},
        throwaway=lambda w: _made(w, "/queue/queues", {"name": _unique("gone"),
                                                       "strategy": "ringall"}, "name")),
    "/queue/statuses": Recipe("name"),
    "/voicemail/users": Recipe(
        "id", create=_mailbox, change=lambda w: {"full_name": "Changed Caller"},
        throwaway=_made_mailbox, key_of=lambda body: f"{body['mailbox']}@{body['context']}"),
    "/admin/park/cfg_parkinglots": Recipe(
        "name", create=_cfg_lot,
        change=lambda w: {"data": _cfg_lot(w)["data"] | {"parkingtime": "90"}},
        shows={}, throwaway=lambda w: _made(w, "/admin/park/cfg_parkinglots", _cfg_lot(w),
                                            "name")),
    "/voicemail/vms": Recipe("msg_id", query="?context=default&mailbox=100"),
    "/admin/dialplan/sdps": Recipe(
        "name", change=lambda w: {"data": [{"exten": "> s,1,NoOp(changed)"}]},
        shows={}, throwaway=_sdp),
    "/admin/dialplan/configurations": Recipe(
        "name", change=lambda w: {"data": _dialplan_text(w, "configured")}, shows={},
        throwaway=_configuration_version, put_key=lambda w: "extensions.conf"),
    "/dp/dpmas": Recipe("uuid", create=lambda w: {"name": _unique("conformance")},
                        change=lambda w: {"name": "changed"}, throwaway=_dpma),
    "/dp/dialplans": Recipe("uuid", create=lambda w: {"dpma_uuid": _dpma(w),
                                                      "name": _unique("dp"), "sequence": 1},
                            change=lambda w: {"command": "Playback(hello-world)"},
                            throwaway=_dialplan),
    "/ob/plans": _ob("/ob/plans", {"name": "p"}),
    "/ob/destinations": _ob("/ob/destinations", {"name": "d", "type": 1, "application": "park"}),
    "/ob/dlmas": _ob("/ob/dlmas", {"name": "l"}),
    "/ob/dls": Recipe("uuid", seed=_some("/ob/dls", _campaign),
                      create=lambda w: {"dlma_uuid": w.first("/ob/dlmas", "uuid"), "name": "c",
                                        "number_1": "102"},
                      change=lambda w: {"detail": "changed"},
                      throwaway=lambda w: _made(w, "/ob/dls", {
                          "dlma_uuid": w.first("/ob/dlmas", "uuid"), "name": "gone"}, "uuid"),
                      soft_delete=True),
    "/ob/campaigns": Recipe("uuid", seed=_some("/ob/campaigns", _campaign),
                            create=lambda w: {"name": "c"},
                            change=lambda w: {"detail": "changed"},
                            throwaway=lambda w: _campaign(w)["campaign"], soft_delete=True),
    "/ob/dialings": Recipe("uuid", seed=_some("/ob/dialings", _dialing), throwaway=_dialing),
    "/agents": Recipe("id"),
    "/device_states": Recipe("device"),
    "/peers": Recipe("peer", seed=_some("/peers", _phone_registers_again)),
    "/registries": Recipe("account"),
}

CALLS = ("/core/channels", "/core/agis", "/park/parkedcalls", "/ob/dialings")


# -- the steps ------------------------------------------------------------------------------


def _answer(w: Walker, result: Result, method: str, url: str, **kwargs: Any) -> Any:
    result.url = url
    response = w.call(method, url, **kwargs)
    result.status = response.status_code
    got = w.result_of(response)
    w.made["_keys"] = keys_of(got)
    if response.status_code != 200:
        try:
            result.problem = str(response.json()["error"]["message"])[:120]
        except (ValueError, KeyError, TypeError):
            result.problem = response.text[:120]
    return got


def _written(w: Walker, result: Result, before: int, command: bool) -> None:
    """A write is in the log: a command (an outbound object: an event of its own stream)."""
    if result.status != 200:
        return
    w.live.settled()
    events = list(w.live.engine.store.iter_all(after=before))  # type: ignore[union-attr]
    if command and not any(e.type == "CommandRequested" for e in events):
        result.problem = "no command in the log"
    elif not events:
        result.problem = "nothing in the log"


def _url(base: str, key: str, query: str) -> str:
    return f"{base}/{quote(key, safe='')}{query}"


def _login(w: Walker, result: Result, method: str) -> None:
    if method == "POST":
        _answer(w, result, "POST", "/admin/login", auth=(ADMIN, PASSWORD))
        return
    token = w.http.post("/admin/login", auth=(ADMIN, PASSWORD)).json()["result"]["authtoken"]
    own = {"Authorization": f"Bearer {token}"}
    _answer(w, result, "DELETE", "/admin/login", headers=own)
    if result.status == 200 and w.http.get("/core/systems", headers=own).status_code != 401:
        result.problem = "the token still works after DELETE /admin/login"


def _setting(w: Walker, result: Result, method: str, path: str, v2: str) -> None:
    if method == "GET":
        _answer(w, result, "GET", path)
        return
    before = w.log_size()
    _answer(w, result, "PUT", path, json=SETTING_CHANGES[v2](w, path))
    _written(w, result, before, command=True)
    after = w.result_of(w.http.get(path))
    if result.ok and "conformance" not in json.dumps(after):
        result.problem = "the change is not in the following read"


def _create(w: Walker, result: Result, path: str, collection: str, recipe: Recipe,
            command: bool) -> None:
    if recipe.create is None:
        raise LookupError(f"no recipe to create a row of {collection}")
    body = recipe.create(w)
    before = w.log_size()
    made = _answer(w, result, "POST", path, json=body)
    _written(w, result, before, command)
    if result.status != 200:
        return
    if recipe.key_of is not None:  # the answer is a command row, whose `id` is the command's
        key = recipe.key_of(body)
    else:
        key = made.get(recipe.key) if isinstance(made, dict) else None
        key = key if key is not None else body.get(recipe.key)
    if key is None or w.http.get(_url(collection, str(key), recipe.query)).status_code != 200:
        result.problem = "the new row is not in the following read"


def _detail_key(w: Walker, method: str, collection: str, recipe: Recipe) -> str:
    if collection == "/core/modules":
        return _module(w, loaded=method != "POST")
    if collection.endswith("/settings"):
        return _old_version(w, collection)
    if method == "DELETE" and recipe.throwaway is not None:
        return recipe.throwaway(w)
    if method == "PUT" and recipe.put_key is not None:
        return recipe.put_key(w)
    if method == "PUT" and recipe.throwaway is not None and collection not in CALLS:
        return recipe.throwaway(w)  # an object of its own to change
    if recipe.seed is not None:
        recipe.seed(w)
    listed = collection + (recipe.query if recipe.list_query is None else recipe.list_query)
    return w.first(listed, recipe.key)


def _gone(w: Walker, collection: str, key: str, recipe: Recipe) -> bool:
    w.live.settled()
    if collection == "/core/modules":
        row = w.result_of(w.http.get(_url(collection, key, "")))
        return not isinstance(row, dict) or row.get("load") != "Running"
    if collection.endswith("/settings"):
        return all(r.get("filename") != key for r in w.rows(collection))

    def missing() -> bool:
        reread = w.http.get(_url(collection, key, recipe.query))
        row = w.result_of(reread)
        return reread.status_code == 404 or (recipe.soft_delete and isinstance(row, dict)
                                             and row.get("in_use") == 0)

    if missing():
        return True
    if collection in CALLS:  # a hangup ends when Asterisk says so
        with contextlib.suppress(LookupError):
            w.wait(missing, "the call to end")
            return True
    return False


def _detail(w: Walker, result: Result, method: str, base: str, collection: str,
            recipe: Recipe, command: bool) -> None:
    key = _detail_key(w, method, collection, recipe)
    url = _url(base, key, recipe.query)
    shown = f"{base}/<{recipe.key}>{recipe.query}"  # the table shows what was named, not a key
    if method == "GET":
        _answer(w, result, "GET", url)
        result.url = shown
        return
    before = w.log_size()
    change = recipe.change(w) if method == "PUT" and recipe.change is not None else None
    _answer(w, result, method, url, **({"json": change} if change is not None else {}))
    result.url = shown
    _written(w, result, before, command)
    if result.status != 200:
        return
    if method == "PUT" and change:
        w.live.settled()
        shown = w.result_of(w.http.get(_url(collection, key, recipe.query)))
        expected = recipe.shows if recipe.shows is not None else change
        if not isinstance(shown, dict) or any(str(shown.get(k)) != str(v)
                                              for k, v in expected.items()):
            result.problem = "the change is not in the following read"
    elif method == "DELETE" and not _gone(w, collection, key, recipe):
        result.problem = "still there after DELETE"
    elif method == "POST" and collection == "/core/modules":
        row = w.result_of(w.http.get(_url(collection, key, "")))
        if not isinstance(row, dict) or row.get("load") != "Running":
            result.problem = "not running after POST"


def step(w: Walker, entry: dict[str, Any], result: Result) -> None:
    method, path = entry["method"], entry["path"]
    v2, _ = v2_of(path)
    base = path.split("/<")[0]
    collection = v2.split("/<")[0].rstrip("/")
    recipe = RECIPES.get(collection, Recipe())
    # A write sent to Asterisk is a command in the log; one that stays in Switchboard (an
    # outbound object, a version of a setting hidden) is an event of its own stream.
    command = not (collection.startswith("/ob/") or collection.endswith("/settings")
                   or (collection == "/admin/dialplan/configurations" and method == "DELETE"))
    if path == "/admin/login":
        _login(w, result, method)
    elif entry.get("body"):  # V1: the key of a detail in a GET body
        key = w.first(collection, recipe.key)
        _answer(w, result, "GET", path, json={entry["body"]: key})
        result.url = f"{path} {{\"{entry['body']}\": <{recipe.key}>}}"
    elif path.endswith("/setting"):
        _setting(w, result, method, path, v2)
    elif "/<" not in path and method == "GET":
        if recipe.seed is not None:
            recipe.seed(w)
        _answer(w, result, "GET", path + (recipe.query if recipe.list_query is None
                                          else recipe.list_query))
    elif "/<" not in path:
        _create(w, result, path, collection, recipe, command)
    else:
        _detail(w, result, method, base, collection, recipe, command)


def _walk_one(walker: Walker, entry: dict[str, Any]) -> Result:
    result = Result(entry["method"], entry["path"], entry["line"], entry["section"])
    walker.made["_keys"] = set()
    try:
        step(walker, entry, result)
    except LookupError as exc:
        result.problem = str(exc)[:120]
    if result.status == 200 and entry["fields"] and entry["method"] == "GET":
        result.missing = [f for f in entry["fields"] if f not in walker.made["_keys"]]
    return result

def walk(live: Live) -> list[Result]:
    with httpx.Client(base_url=live.url, timeout=20) as client:
        token = client.post("/admin/login", auth=(ADMIN, PASSWORD)).json()["result"]["authtoken"]
        client.headers["Authorization"] = f"Bearer {token}"
        walker = Walker(live, client)
        return [_walk_one(walker, entry) for entry in ENDPOINTS]


@contextlib.contextmanager
def running(store_url: str, results_path: Path) -> Iterator[Live]:
    config = {"auth": {"initial_admin": ADMIN, "initial_password": PASSWORD},
              "dialer": {"results_path": str(results_path)},
              "voicemail": {"spool": str(Pbx.SPOOL)}}
    with Live(store_url, [None], config=config, asterisk=Pbx, dialer=True) as live:
        from api.app import startup
        live.call(startup(live.engine, "127.0.0.1"))  # type: ignore[arg-type]
        live.connected()
        live.settled()
        yield live


def table(results: list[Result]) -> str:
    lines = ["# Seed 004 conformance", "",
             "Every endpoint-method seed 004 defines outside the people and chat model (next "
             "issue), V1 and V2 forms, called against a running engine on the simulated PBX by "
             "`tests/test_seed_conformance.py`, which checks this table is what its results "
             "make (`python -m tests.conformance` writes it).", "",
             "| method | path (seed) | seed line | called | status | documented fields | "
             "verdict |", "|---|---|---:|---|---:|---|---|"]
    for r in results:
        fields = "all" if not r.missing else "missing: " + ", ".join(r.missing)
        verdict = "yes" if r.ok else f"no: {r.problem}" if r.problem else "no"
        lines.append(f"| {r.method} | `{r.path}` | {r.line} | `{r.url}` | {r.status} | "
                     f"{fields} | {verdict} |")
    good = sum(r.ok for r in results)
    lines += ["", f"{good} of {len(results)} endpoint-methods conform."]
    return "\n".join(lines) + "\n"


def main() -> None:
    with tempfile.TemporaryDirectory() as folder, \
            running(f"sqlite:///{folder}/log.db", Path(folder) / "results.jsonl") as live:
        results = walk(live)
    text = table(results)
    if "--write" in sys.argv:
        TABLE.write_text(text)
    print(text)


if __name__ == "__main__":
    main()
