"""The seed's V1 read models: `/device_states`, `/peers`, `/registries`, `/agents`.

The seed passed their detail keys in a JSON body on GET; here, as in its V2 resources, the key is
in the path, URL-encoded (`/device_states/PJSIP%2F6001`, `/peers/SIP%2F300`,
`/registries/2345%40sip_proxy%3A5060`, `/agents/1001`).
"""

from __future__ import annotations

from starlette.routing import BaseRoute

from api.context import ApiContext
from api.readmodel import detail_route, list_route

TAG = "devices"


def routes(ctx: ApiContext) -> list[BaseRoute]:
    return [
        list_route(ctx, "/device_states", "device-states", TAG, "Device states"),
        detail_route(ctx, "/device_states/{device:path}", "device-states", "device",
                     ("device",), TAG, "One device's state", "device"),
        list_route(ctx, "/peers", "peers", TAG, "SIP/IAX peers"),
        detail_route(ctx, "/peers/{peer:path}", "peers", "peer", ("peer",), TAG, "One peer",
                     "peer"),
        list_route(ctx, "/registries", "registries", TAG, "Outbound registrations"),
        detail_route(ctx, "/registries/{account:path}", "registries", "account", ("account",),
                     TAG, "One outbound registration", "registry"),
        list_route(ctx, "/agents", "agents", TAG, "Agents (app_agent_pool)"),
        detail_route(ctx, "/agents/{id}", "agents", "id", ("id",), TAG, "One agent", "agent"),
    ]
