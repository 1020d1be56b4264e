"""PJSIP endpoint details: every endpoint a whole `PJSIPShowEndpoints` names is asked for alone.

An `EndpointList` item says little of an endpoint (transport, AORs, auths, contacts, device
state); the seed's endpoint object holds its whole configuration (context, codecs, DTMF mode,
timers...), which only `PJSIPShowEndpoint` gives: its `EndpointDetail`, then `AuthDetail`,
`TransportDetail`, an `AorDetail` per AOR (with `TotalContacts`, `ContactsRegistered`) and a
`ContactStatusDetail` per contact, permanent ones included (`PJSIPShowContacts` lists only
registered ones). So, as jade does, each endpoint of every whole list (on connect, after a
reload of res_pjsip) is asked for; the answers are logged like every message and the `peers`
projection folds them. At most `IN_FLIGHT` are asked at a time: a PBX of thousands of
endpoints answers them in turn, without thousands of actions waiting at once.
"""

from __future__ import annotations

import asyncio
import logging

from engine.ami.client import AmiClient, AmiError
from engine.ami.protocol import Message
from engine.configs import WHOLE_PREFIX

log = logging.getLogger("switchboard.ingest")

ACTION = "PJSIPShowEndpoint"
IN_FLIGHT = 8


class EndpointDetails:
    """One AMI connection's follower: sees every message ingestion logs (`seen`)."""

    def __init__(self, server: str) -> None:
        self.server = server
        self.client: AmiClient | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._slots: asyncio.Semaphore | None = None

    def seen(self, messages: list[Message]) -> None:
        names = [str(m.headers.get("ObjectName")) for m in messages
                 if m.type == "EndpointList" and m.headers.get("ObjectName")
                 and str(m.headers.get("ActionID", "")).startswith(WHOLE_PREFIX)]
        if not names or self.client is None or not self.client.connected:
            return
        task = asyncio.get_running_loop().create_task(self._ask(self.client, names))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _ask(self, client: AmiClient, names: list[str]) -> None:
        if self._slots is None:
            self._slots = asyncio.Semaphore(IN_FLIGHT)
        await asyncio.gather(*(self._one(client, self._slots, name) for name in names))

    async def _one(self, client: AmiClient, slots: asyncio.Semaphore, name: str) -> None:
        async with slots:
            if not client.connected:
                return
            try:
                await client.action({"Action": ACTION, "Endpoint": name})
            except AmiError as exc:  # gone since it was listed, or the connection dropped
                log.info("%s: %s %s: %s", self.server, ACTION, name, exc)
