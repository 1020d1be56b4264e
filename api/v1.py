"""The seed's V1 paths of the V2 resources: `/admin/<group>/<resource>[/<detail>]`.

Seed 004 documents its resources twice: V1 under `/v1/admin/core/channels`,
`/v1/admin/queue/members/<detail>`, ... and V2 as `/core/channels`, `/queue/members/<detail>`.
They are the same resources, so a V1 path is not a route of its own: it is the V2 route
(`ApiRoute.alias`), with its handler, role, parameters, body, errors and envelope. Like every
route it is served bare and under `/v1` (`api/app.py`), which gives the seed's spelling
`/v1/admin/core/channels`. `ALIASES` is the whole table: each line gives a V1 collection and
the V2 collection it names, and every method the V2 collection and its `<detail>` route serve
(GET, POST, PUT, DELETE) is served at the V1 path too, so a V2 resource added later gets its V1
form by its line here (or at once, if its line is already here). The OpenAPI document lists
the V1 paths as references to the V2 ones (`api/openapi.py`).

V1 paths that are not another form of a V2 resource are not here: `/admin/park/cfg_parkinglots`
(served by `api/park.py` through `api/settings.cfg_object_routes`) and
`/admin/dialplan/{configurations,sdps}` (configuration objects with rows of their own,
`{name, data}`: routes of `api/dialplan.py`), and the seed's headings without methods
(`/admin/*/configurations`, `/admin/pjsip/registration_outbounds`, `/admin/queue/cfg_queues`).
`/admin/dialplan/adps` and `adpmas` are jade's V2 dialplans and dpmas with the same fields
(seed-reference 8.2), so they are lines here.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from starlette.routing import BaseRoute

from api.routing import ApiRoute

# (V1 collection, V2 collection): the seed's V1 path of each V2 resource.
ALIASES: tuple[tuple[str, str], ...] = (
    ("/admin/core/channels", "/core/channels"),
    ("/admin/core/modules", "/core/modules"),
    ("/admin/core/systems", "/core/systems"),
    ("/admin/dialplan/adps", "/dp/dialplans"),
    ("/admin/dialplan/adpmas", "/dp/dpmas"),
    ("/admin/park/parkedcalls", "/park/parkedcalls"),
    ("/admin/park/parkinglots", "/park/parkinglots"),
    ("/admin/pjsip/aors", "/pjsip/aors"),
    ("/admin/pjsip/auths", "/pjsip/auths"),
    ("/admin/pjsip/auth", "/pjsip/auths"),  # the seed's heading; its calls say `auths`
    ("/admin/pjsip/contacts", "/pjsip/contacts"),
    ("/admin/pjsip/endpoints", "/pjsip/endpoints"),
    ("/admin/queue/entries", "/queue/entries"),
    ("/admin/queue/members", "/queue/members"),
    ("/admin/queue/queues", "/queue/queues"),
)

_DETAIL = re.compile(r"^/\{\w+(:\w+)?\}$")  # `/{unique_id}`, `/{contact:path}`


def routes(served: Iterable[BaseRoute]) -> list[BaseRoute]:
    """The V1 form of every route in `served` that is a V2 collection of `ALIASES` or its
    `<detail>`, in the order of `served`."""
    out: list[BaseRoute] = []
    for route in served:
        if not isinstance(route, ApiRoute):
            continue
        for v1, v2 in ALIASES:
            rest = route.path.removeprefix(v2)
            if route.path.startswith(v2) and (rest == "" or _DETAIL.match(rest)):
                out.append(route.alias(v1 + rest))
    return out
