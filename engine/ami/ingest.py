"""Live ingestion: every message each Asterisk sends goes into the log, tagged with its server.

One stream per connection session, `ami/<server>/<session>`, version = index of the message in
the session (banner = 0), so a re-delivered message is a duplicate the store rejects. The end of
a session is marked by a `ConnectionLost` event in the same stream, with the reason. On every
login the list actions are sent (whole lists: their ActionIDs say so, `engine/configs.py`; each
PJSIP endpoint listed is then asked alone, `engine/endpoint_details.py`) and the managed
configuration files are read; their answers arrive as ordinary messages and are
logged the same way, so the projections can reconcile against them.

What a message answers is in its envelope: an answer to a command's action carries the command
id as causation and correlation; a configuration read's answer, and a module's `Reload` event,
the file as correlation (`/timeline/queues.conf` follows the file), and the command that made
them, if one did, as causation.
"""

from __future__ import annotations

import asyncio
import itertools
import logging

from engine.ami.asterisk_config import files_of_module
from engine.ami.client import AmiClient, AmiError
from engine.ami.protocol import Message
from engine.commands import command_of
from engine.config import ServerConfig
from engine.configs import (
    MANAGED_FILES,
    PJSIP_LISTS,
    ConfigWatch,
    attach,
    file_of,
    read_files,
    reader_command,
    whole_action_id,
)
from engine.endpoint_details import EndpointDetails
from engine.envelope import CONNECTION_LOST, NewEvent, utc_now
from engine.log import EventLog
from projections.modules import MODULE_TABLE

log = logging.getLogger("switchboard.ingest")

# What Asterisk is asked on every (re)connect: together they describe its whole live state.
LIST_ACTIONS = (
    "CoreStatus",
    "CoreShowChannels",
    "BridgeList",
    "QueueStatus",
    "QueueSummary",
    "ParkedCalls",
    "Parkinglots",
    "DeviceStateList",
    "VoicemailUsersList",
    "Command",  # `module show`: the module table (LIST_PARAMS)
    *PJSIP_LISTS,  # each endpoint listed is then asked alone (engine/endpoint_details.py)
    "Agents",  # app_agent_pool; unknown where it is not loaded (no agents.conf)
    # chan_sip's, gone since Asterisk 21: there each costs one `Invalid/unknown command`
    # answer; an older Asterisk fills `/peers` and `/registries` from them
    "SIPpeers",
    "SIPshowregistry",
)
# What a list action asks besides its name. The module table comes from the CLI; its ActionID
# tells the `modules` projection that this answer lists every module (projections/modules.py).
LIST_PARAMS: dict[str, dict[str, str]] = {"Command": {"Command": "module show"}}
_tables = itertools.count(1)


def list_action(name: str) -> dict[str, str]:
    """The headers of one list action: unfiltered, its ActionID says so (`whole-...`: a whole
    answer, whose missing rows are gone); the module table's says it is the whole table."""
    headers = {"Action": name, **LIST_PARAMS.get(name, {}), "ActionID": whole_action_id()}
    if name == "Command":
        headers["ActionID"] = f"{MODULE_TABLE}{next(_tables)}"
    return headers


class SessionRecorder:
    """Turns one server's messages into envelopes and submits them to the log."""

    def __init__(self, server: str, log: EventLog, watch: ConfigWatch | None = None,
                 details: EndpointDetails | None = None) -> None:
        self.server = server
        self.log = log
        self.watch = watch
        self.details = details
        self.stream = ""
        self.version = 0

    def session_start(self, session: str) -> None:
        self.stream = f"ami/{self.server}/{session}"
        self.version = 0

    def messages(self, session: str, messages: list[Message]) -> None:
        now = utc_now()
        stream, server, version = self.stream, self.server, self.version
        events = [
            NewEvent(stream, version + i, m.type, now, server, m.headers)
            if "ActionID" not in m.headers and m.type != "Reload"
            else self._linked(stream, version + i, m, now)
            for i, m in enumerate(messages)
        ]
        self.version = version + len(events)
        self.log.submit(events)
        if self.watch is not None:
            self.watch.seen(messages)
        if self.details is not None:
            self.details.seen(messages)

    def session_end(self, session: str, reason: str) -> None:
        marker = NewEvent(
            self.stream, self.version, CONNECTION_LOST, utc_now(), self.server,
            {"Reason": reason},
        )
        self.version += 1
        self.log.submit([marker])

    def _linked(self, stream: str, version: int, message: Message, now: str) -> NewEvent:
        """A message answering one of our commands (`ActionID: cmd-<id>`) carries the command
        id as causation and correlation, so the command, its answer and what followed can be
        followed; a configuration read or reload, its file and the command that caused it."""
        headers = message.headers
        command = command_of(headers)
        correlation = command
        if command is None:
            filename = file_of(headers.get("ActionID"))
            if filename is not None:
                command, correlation = reader_command(headers.get("ActionID")), filename
            elif message.type == "Reload":
                module = headers.get("Module")
                files = files_of_module(module) if isinstance(module, str) else []
                correlation = files[0] if len(files) == 1 else None
                command = self.watch.cause(module) if self.watch is not None else None
        return NewEvent(stream, version, message.type, now, self.server, headers, command,
                        correlation)


async def send_list_actions(client: AmiClient) -> None:
    """Ask for the whole live state and the configuration files; failures are logged (the
    answers are in the log anyway)."""
    results = await asyncio.gather(
        *(client.action(list_action(name)) for name in LIST_ACTIONS),
        read_files(client, MANAGED_FILES), return_exceptions=True
    )
    for name, result in zip(LIST_ACTIONS, results, strict=False):
        if isinstance(result, AmiError):
            log.info("%s: %s: %s", client.config.name, name, result)


def make_client(server: ServerConfig, event_log: EventLog) -> AmiClient:
    watch = ConfigWatch(server.name)
    details = EndpointDetails(server.name)
    recorder = SessionRecorder(server.name, event_log, watch, details)
    client = AmiClient(
        server,
        on_messages=recorder.messages,
        on_session_start=recorder.session_start,
        on_session_end=recorder.session_end,
        on_login=send_list_actions,
        backpressure=event_log.wait_for_room,
    )
    attach(client, watch)
    details.client = client
    return client
