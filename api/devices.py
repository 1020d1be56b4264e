"""The seed's V1 read models: `/device_states`, `/peers`, `/registries`, `/agents`.

A detail is asked as the seed does, the key in a JSON body on a GET (`GET /agents/` with
`{"id": "1001"}`, `GET /device_states/` with `{"device": "PJSIP/6001"}`), or as in its V2
resources, the key in the path, URL-encoded (`/device_states/PJSIP%2F6001`, `/peers/SIP%2F300`,
`/registries/2345%40sip_proxy%3A5060`, `/agents/1001`).
"""

from __future__ import annotations

from typing import Annotated

import msgspec
from starlette.routing import BaseRoute

from api.context import ApiContext
from api.readmodel import body_detail_route, detail_route, list_route

TAG = "devices"

Key = Annotated[str, msgspec.Meta(min_length=1, max_length=1024)]


class DeviceKey(msgspec.Struct, forbid_unknown_fields=True):
    device: Key


class PeerKey(msgspec.Struct, forbid_unknown_fields=True):
    peer: Key


class RegistryKey(msgspec.Struct, forbid_unknown_fields=True):
    account: Key


class AgentKey(msgspec.Struct, forbid_unknown_fields=True):
    id: Key


def routes(ctx: ApiContext) -> list[BaseRoute]:
    # each body form before its path form: `/device_states/{device:path}` takes `/` too
    return [
        list_route(ctx, "/device_states", "device-states", TAG, "Device states"),
        body_detail_route(ctx, "/device_states/", "device-states", DeviceKey, ("device",),
                          TAG, "One device's state", "device"),
        detail_route(ctx, "/device_states/{device:path}", "device-states", "device",
                     ("device",), TAG, "One device's state", "device"),
        list_route(ctx, "/peers", "peers", TAG, "SIP/IAX peers"),
        body_detail_route(ctx, "/peers/", "peers", PeerKey, ("peer",), TAG, "One peer",
                          "peer"),
        detail_route(ctx, "/peers/{peer:path}", "peers", "peer", ("peer",), TAG, "One peer",
                     "peer"),
        list_route(ctx, "/registries", "registries", TAG, "Outbound registrations"),
        body_detail_route(ctx, "/registries/", "registries", RegistryKey, ("account",), TAG,
                          "One outbound registration", "registry"),
        detail_route(ctx, "/registries/{account:path}", "registries", "account", ("account",),
                     TAG, "One outbound registration", "registry"),
        list_route(ctx, "/agents", "agents", TAG, "Agents (app_agent_pool)"),
        body_detail_route(ctx, "/agents/", "agents", AgentKey, ("id",), TAG, "One agent",
                          "agent"),
        detail_route(ctx, "/agents/{id}", "agents", "id", ("id",), TAG, "One agent", "agent"),
    ]
