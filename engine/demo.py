"""`switchboard demo`: the outbound dialer end to end on one machine, no Asterisk needed.

It starts a simulated PBX (`engine/ami/simulator.py`: a queue `sales` with five agents, PJSIP
phones `agent-01`... registered to it, calls that answer, are busy, ring out or fail in a
realistic mix) on a local AMI port, the engine ingesting from it into the log (the embedded
SQLite file unless `--store` says otherwise), the dialer, and the API; then creates a sample
campaign (plan, queue destination, a list of customers) and starts it, and prints where to
watch it: live dialings, results, the results file, the log.

`--no-simulator` dials through the `[[servers]]` of the config instead, and `--no-sample`
creates nothing (the crash tests run the engine this way, in a process they kill).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import random
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from engine import exitcodes
from engine.config import Config, ServerConfig
from engine.redact import redact_url

if TYPE_CHECKING:  # the CLI imports this module for its arguments: keep that cheap
    from engine.ami.simulator import PbxSimulator
    from engine.dialer.service import Dialer
    from engine.runtime import Engine

log = logging.getLogger("switchboard.demo")

AGENTS = 5
CUSTOMERS = 200
OUTCOME_MIX = {"answer": 0.7, "busy": 0.1, "noanswer": 0.1, "congestion": 0.05,
               "unallocated": 0.05}
TIMINGS = {"ring": 0.8, "talk": 3.0, "agent_ring": 0.5, "agent_talk": 4.0, "patience": 20.0,
           "noanswer": 5.0}  # seconds (engine.ami.simulator.Timings)


def build_app(engine: Engine, dialer: Dialer) -> Any:
    """The whole API (`api.app.create_app`), its `/ob` routes served by `dialer`."""
    from api import app as api_app

    ctx = api_app.build_context(engine)
    ctx.dialer = dialer
    return api_app.create_app(engine, ctx)


async def sample_campaign(dialer: Dialer, customers: int = CUSTOMERS,
                          seed: int = 5) -> dict[str, Any]:
    """A plan, a queue destination, a dlma with `customers` entries, and a started campaign."""
    rng = random.Random(seed)
    c = dialer.commands
    plan = await c.create("plan", {
        "name": "demo plan", "detail": "predictive, two numbers per customer",
        "tech_name": "SIP", "dial_mode": 1, "service_level": 1, "retry_delay": 10,
        "caller_id": '"Demo" <5550100>', "max_retry_cnt_1": 2, "max_retry_cnt_2": 2,
        "variables": {"OB_DEMO": "1"}})
    dest = await c.create("destination", {"name": "sales queue", "type": 1,
                                          "application": "queue", "data": "sales"})
    dlma = await c.create("dlma", {"name": "demo customers"})
    for i in range(customers):
        await c.create("dl", {
            "dlma_uuid": dlma["uuid"], "name": f"customer {i + 1}",
            "number_1": f"+1555{rng.randrange(10**7):07d}",
            "number_2": f"+1555{rng.randrange(10**7):07d}" if i % 2 else None,
            "ukey": f"crm-{i + 1:05d}"})
    campaign = await c.create("campaign", {"name": "demo campaign", "plan": plan["uuid"],
                                           "dest": dest["uuid"], "dlma": dlma["uuid"]})
    return await c.update("campaign", campaign["uuid"], {"status": 1})


async def serve(config: Config, host: str, port: int, *, simulate: bool = True,
                sample: bool = True, ami_port: int = 0) -> int:
    """What `run` does, in the same order and through the same guard (`api.app.startup`):
    the address is bound before the log is touched, and a refused start (an API without
    access control on a non-loopback address: with `--no-simulator` anyone could hang up a
    real PBX's calls) appends nothing."""
    from engine.ami.simulator import PbxSimulator, Timings
    from engine.listen import bind, bound_port, opened_engine, scheme, tls_files
    from engine.listen import serve as serve_api

    tls = tls_files(config.api)
    with bind(host, port) as sock:
        sim: PbxSimulator | None = None
        if simulate:
            sim = PbxSimulator(
                queues={"sales": [f"PJSIP/agent-{i:02d}" for i in range(1, AGENTS + 1)]},
                outcome=OUTCOME_MIX, timings=Timings(**TIMINGS), seed=1)
            await sim.start("127.0.0.1", ami_port)
            config.servers = [ServerConfig(name="sim", port=sim.port, username="admin",
                                           secret="admin", reconnect_max=2.0)]
            config.dialer.server = "sim"
        try:
            async with opened_engine(config, host) as engine:
                await engine.connect()
                dialer: Dialer = engine.dialer
                app = build_app(engine, dialer)
                base = f"{scheme(tls)}://{host}:{bound_port(sock)}"

                async def started() -> None:
                    print(f"ready {base}", flush=True)
                    if sample:
                        campaign = await sample_campaign(dialer)
                        print(where(config, base, sim, campaign), flush=True)

                await serve_api(app, sock, closing=app.state.ctx.close, started=started,
                                tls=tls)
        finally:
            if sim is not None:
                await sim.close()
    return exitcodes.OK


def where(config: Config, base: str, sim: PbxSimulator | None, campaign: dict[str, Any]
          ) -> str:
    """Where to watch the sample campaign (the store's URL without its password)."""
    store = redact_url(config.store)
    return "\n".join([
        f"simulated PBX (AMI) on 127.0.0.1:{sim.port}" if sim else "dialing via config",
        f"log: {store}",
        f"campaign {campaign['uuid']} started: {base}/ob/campaigns/{campaign['uuid']}",
        f"calls in flight:  {base}/ob/dialings",
        f"results:          {base}/ob/results   (file: {config.dialer.results_path})",
        f"dial list:        {base}/ob/dls?dlma_uuid={campaign['dlma']}",
        f"engine status:    {base}/status",
        "the log, live:    switchboard events --follow --from 1"
        + (f" --store {store}" if config.store else ""),
        "Ctrl-C stops",
    ])


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", default="127.0.0.1", help="API bind address")
    parser.add_argument("--port", type=int, default=8080, help="API port (0: any free one)")
    parser.add_argument("--ami-port", type=int, default=0,
                        help="the simulated PBX's AMI port (0: any free one)")
    parser.add_argument("--no-simulator", dest="simulate", action="store_false",
                        help="dial through the config's [[servers]] instead")
    parser.add_argument("--no-sample", dest="sample", action="store_false",
                        help="create no sample campaign")


def run(args: argparse.Namespace, config: Config) -> int:
    return asyncio.run(serve(config, args.host, args.port, simulate=args.simulate,
                             sample=args.sample, ami_port=args.ami_port))


def main(argv: Sequence[str] | None = None) -> int:
    """`python -m engine.demo ARGS` is `switchboard demo ARGS`: the same options, messages
    and exit codes."""
    from engine.cli import main as switchboard

    return switchboard(["demo", *(sys.argv[1:] if argv is None else argv)])


if __name__ == "__main__":
    sys.exit(main())
