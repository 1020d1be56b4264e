"""`/pjsip/*`: PJSIP endpoints, contacts and AORs, as the peers projection holds them.

Read only, as in the seed. A contact id holds `;` and `@` (`pjagent-01;@116e...`): URL-encode it.
"""

from __future__ import annotations

from starlette.routing import BaseRoute

from api.context import ApiContext
from api.readmodel import detail_route, list_route

TAG = "pjsip"


def routes(ctx: ApiContext) -> list[BaseRoute]:
    return [
        list_route(ctx, "/pjsip/endpoints", "endpoints", TAG, "PJSIP endpoints"),
        detail_route(ctx, "/pjsip/endpoints/{name}", "endpoints", "name", ("object_name",),
                     TAG, "One PJSIP endpoint", "endpoint"),
        list_route(ctx, "/pjsip/contacts", "contacts", TAG, "PJSIP contacts"),
        detail_route(ctx, "/pjsip/contacts/{id:path}", "contacts", "id", ("id", "uri"), TAG,
                     "One PJSIP contact", "contact"),
        list_route(ctx, "/pjsip/aors", "aors", TAG, "PJSIP AORs"),
        detail_route(ctx, "/pjsip/aors/{name}", "aors", "name", ("object_name",), TAG,
                     "One PJSIP AOR", "aor"),
    ]
