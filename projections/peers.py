"""SIP peers, PJSIP endpoints, contacts and AORs, outbound registrations: the signalling side.

From Asterisk's AMI events and the list actions the engine sends on every connect and after a
reload of res_pjsip (engine/ami/ingest.py; their answers as Asterisk 22 writes them,
engine/ami/asterisk_pjsip.py):
- `PeerStatus` (`ChannelType`, `Peer`, `PeerStatus`, `Cause`, `Address`, `Port`, `Time`):
  Registered / Unregistered / Rejected set the peer's `status`; Reachable / Lagged /
  Unreachable / Unknown are qualify results and set `monitor_status` ("OK (22 ms)", as
  `sip show peers` prints it). `PeerEntry` items (`SIPpeers`, `IAXpeers`) fill the rest. A
  PJSIP endpoint's peer (`PJSIP/<name>`) goes with the endpoint.
- `ContactStatus` (`URI`, `ContactStatus`, `AOR`, `EndpointName`, `RoundtripUsec`):
  `Removed` deletes the contact; `ContactList` items (`PJSIPShowContacts`: registered
  contacts only, their sorcery fields `Uri`, `Endpoint`, `ExpirationTime`, `ViaAddr`...) and
  `ContactStatusDetail` (`PJSIPShowEndpoint`: every contact, `AOR`, `URI`, `RegExpire`,
  `ViaAddress`...) fill it. A contact is `<aor>/<uri>`, as AORs and endpoints list them.
- `EndpointList` (`PJSIPShowEndpoints`) and `EndpointDetail` (`PJSIPShowEndpoint`, which the
  engine asks for each endpoint listed): endpoint objects; AMI spells sorcery fields in
  CamelCase (`DtmfMode`), rows use the seed's snake_case.
- `AorList` (`PJSIPShowAors`) / `AorDetail`: AORs. `Registry`, `RegistryEntry`
  (`SIPshowregistry`), `OutboundRegistrationDetail` (`PJSIPShowRegistrationsOutbound`):
  outbound registrations (`registries`).
Full lists reconcile: objects known before the list and absent from it were deleted from the
configuration (or unregistered). Each list speaks only for what it lists: `SIPpeers` for SIP
peers, `PJSIPShowContacts` for registered contacts, while `PJSIPShowAors` names every contact
of every AOR (`Contacts`), permanent ones too. res_pjsip answers an empty list with an Error
("No endpoints found"): that too empties the table. Secrets (`AuthDetail`) are not kept.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from engine.envelope import RESPONSE, Event
from projections import lists
from projections.base import Handler, Row, columns, dispatch, event_time, iso, to_int

NAME = "peers"
VERSION = 3

PEER_COLUMNS = columns(
    "server peer status address monitor_status channel_type chan_object_type dynamic "
    "auto_comedia auto_force_port acl comedia description force_port realtime_device "
    "text_support video_support cause tm_update"
)
ENDPOINT_COLUMNS = columns(
    "server object_name object_type account_code acl active_channels aggregate_mwi allow "
    "allow_overlap allow_subscribe allow_transfer aors asymmetric_rtp_codec auth "
    "bind_rtp_to_media_address bundle call_group caller_id caller_id_privacy caller_id_tag "
    "connected_line_method contact_acl contacts context cos_audio:int cos_video:int "
    "device_state device_state_busy_at:int direct_media direct_media_glare_mitigation "
    "direct_media_method disable_direct_media_on_nat disallow dtls_ca_file dtls_ca_path "
    "dtls_cert_file dtls_cipher dtls_fingerprint dtls_private_key dtls_rekey:int dtls_setup "
    "dtls_verify dtmf_mode fax_detect fax_detect_time:int force_avp force_rport from_domain "
    "from_user g_726_non_standard ice_support identify_by inband_progress "
    "incoming_mwi_mailbox language mailboxes max_audio_streams:int max_video_streams:int "
    "media_address media_encryption media_encryption_optimistic media_use_received_transport "
    "message_context moh_passthrough moh_suggest mwi_from_user "
    "mwi_subscribe_replaces_unsolicited named_call_group named_pickup_group "
    "notify_early_inuse_ringing one_touch_recording outbound_auth outbound_proxy "
    "pickup_group preferred_codec_only record_off_feature record_on_feature redirect_method "
    "refer_blind_progress rel_100 rewrite_contact rpid_immediate rtcp_mux rtp_engine rtp_ipv6 "
    "rtp_keepalive:int rtp_symmetric rtp_timeout:int rtp_timeout_hold:int sdp_owner "
    "sdp_session send_diversion send_pai send_rpid set_var srtp_tag32 sub_min_expiry "
    "subscribe_context t38_udptl t38_udptl_ec t38_udptl_ipv6 t38_udptl_maxdatagram:int "
    "t38_udptl_nat timers timers_min_se timers_sess_expires:int tone_zone tos_audio:int "
    "tos_video:int transport trust_id_inbound trust_id_outbound use_avpf use_ptime "
    "user_eq_phone voicemail_extension webrtc tm_update"
)
CONTACT_COLUMNS = columns(
    "server id uri aor endpoint_name status call_id qualify_frequency:int qualify_timout:int "
    "authentication_qualify:int outbound_proxy path reg_expire:int round_trip_usec "
    "user_agent via_address tm_update"
)
AOR_COLUMNS = columns(
    "server object_name object_type endpoint_name contacts contacts_registered:int "
    "total_contacts:int authenticate_qualify default_expiration:int mailboxes "
    "max_contacts:int maximum_expiration:int minimum_expiration:int outbound_proxy "
    "qualify_frequency:int qualify_timeout:int remove_existing support_path "
    "voicemail_extension tm_update"
)
REGISTRY_COLUMNS = columns(
    "server account state username domain domain_port:int host port:int refresh:int "
    "registration_time:int channel_type cause tm_update"
)
COLUMNS: dict[str, dict[str, str]] = {
    "peers": PEER_COLUMNS, "endpoints": ENDPOINT_COLUMNS, "contacts": CONTACT_COLUMNS,
    "aors": AOR_COLUMNS, "registries": REGISTRY_COLUMNS,
}
TABLES = ("peers", "endpoints", "contacts", "aors", "registries")
PJSIP = "PJSIP"  # the `ChannelType` of PJSIP's `Registry` and `PeerStatus` events

# AMI CamelCase field -> the seed's snake_case name, where the plain conversion differs.
ALIASES = {
    "callerid": "caller_id", "callerid_privacy": "caller_id_privacy",
    "callerid_tag": "caller_id_tag", "accountcode": "account_code", "100rel": "rel_100",
    "g726_non_standard": "g_726_non_standard", "aor": "aors", "auths": "auth",
    "outbound_auths": "outbound_auth", "allowoverlap": "allow_overlap",
    "fax_detect_timeout": "fax_detect_time",
}
SKIP = frozenset({"Event", "ActionID", "Privilege", "Timestamp", "EventList"})
_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")
Keep = Callable[[dict], bool] | None  # rows a list answer cannot speak for


def snake(name: str) -> str:
    """`DtmfMode` -> `dtmf_mode`, `RtpIpv6` -> `rtp_ipv6`, `Callerid` -> `caller_id`."""
    plain = _CAMEL.sub("_", name).lower()
    return ALIASES.get(plain, plain)


def initial() -> dict:
    return {**{table: {} for table in TABLES}, "lists": {}}


def _row(state: dict, table: str, event: Event, ident: str, **fixed: Any) -> dict[str, Any]:
    rows = state[table]
    key = f"{event.server}/{ident}"
    row = rows.get(key)
    t = event_time(event)
    if row is None:
        row = rows[key] = {"server": event.server, "pos": event.position, **fixed}
    row["tm_update"] = t
    return row


def _text(data: dict, header: str) -> str | None:
    value = data.get(header)
    return value if isinstance(value, str) else None


# ------------------------------------------------------------------------------ SIP/IAX peers

MONITOR = {"Reachable": "OK", "Lagged": "LAGGED", "Unreachable": "UNREACHABLE",
           "Unknown": "UNKNOWN"}


def _peer_status(state: dict, event: Event) -> None:
    data = event.data
    peer = _text(data, "Peer")
    if not peer:
        return
    kind = _text(data, "ChannelType") or peer.partition("/")[0]
    row = _row(state, "peers", event, peer, peer=peer, channel_type=kind)
    status = _text(data, "PeerStatus") or ""
    if status in MONITOR:
        ms = _text(data, "Time")
        row["monitor_status"] = f"{MONITOR[status]} ({ms} ms)" if ms and ms != "-1" \
            else MONITOR[status]
    elif status:
        row["status"] = status
    address = _text(data, "Address")
    if address:
        port = _text(data, "Port")
        row["address"] = f"{address}:{port}" if port and ":" not in address else address
    cause = _text(data, "Cause")
    if cause is not None:
        row["cause"] = cause


PEER_ENTRY = (
    ("ChanObjectType", "chan_object_type"), ("Dynamic", "dynamic"),
    ("AutoComedia", "auto_comedia"), ("AutoForcerport", "auto_force_port"), ("ACL", "acl"),
    ("Comedia", "comedia"), ("Description", "description"), ("Forcerport", "force_port"),
    ("RealtimeDevice", "realtime_device"), ("TextSupport", "text_support"),
    ("VideoSupport", "video_support"), ("Status", "monitor_status"),
)


def _peer_entry(state: dict, event: Event) -> None:
    data = event.data
    name = _text(data, "ObjectName")
    kind = _text(data, "Channeltype") or _text(data, "ChannelType") or "SIP"
    if not name:
        return
    peer = f"{kind}/{name}"
    if "ActionID" in data:
        lists.item(state["lists"], event, peer)
    row = _row(state, "peers", event, peer, peer=peer, channel_type=kind)
    for header, field in PEER_ENTRY:
        value = _text(data, header)
        if value is not None:
            row[field] = value
    ip, port = _text(data, "IPaddress"), _text(data, "IPport")
    if ip is not None:
        row["address"] = "" if ip in ("-none-", "(null)") else f"{ip}:{port}" if port else ip


# ------------------------------------------------------------------------------ PJSIP objects

def _copy_all(row: dict, data: dict) -> None:
    for header, value in data.items():
        if header == "Contacts":
            row["contacts"] = _contact_names(value)
        elif header not in SKIP and isinstance(value, str):
            row[snake(header)] = value


def _contact_names(value: object) -> str:
    """The contacts an endpoint or AOR lists, `aor/uri` comma-separated: `EndpointList`
    writes one `Contacts` per AOR, each ending with a comma; `AorList` one, without."""
    values = value if isinstance(value, list) else [value]
    return ",".join(name for v in values if isinstance(v, str) for name in v.split(",") if name)


def _sorcery(table: str, object_type: str, list_item: str) -> Handler:
    """A PJSIP object's event (`EndpointDetail`, `AorList`, ...): every field it carries;
    `list_item` is the type that is an item of the full list (`PJSIPShowEndpoints`, ...)."""

    def handler(state: dict, event: Event) -> None:
        data = event.data
        name = _text(data, "ObjectName")
        if not name:
            return
        if event.type == list_item:
            lists.item(state["lists"], event, name)
        row = _row(state, table, event, name, object_name=name, object_type=object_type)
        _copy_all(row, data)

    return handler


CONTACT_FIELDS = (
    ("URI", "uri"), ("Uri", "uri"), ("AOR", "aor"), ("EndpointName", "endpoint_name"),
    ("Endpoint", "endpoint_name"), ("ContactStatus", "status"), ("Status", "status"),
    ("RoundtripUsec", "round_trip_usec"), ("UserAgent", "user_agent"),
    ("ViaAddress", "via_address"), ("CallID", "call_id"), ("CallId", "call_id"),
    ("ID", "id"), ("ObjectName", "id"), ("OutboundProxy", "outbound_proxy"), ("Path", "path"),
)
CONTACT_INTS = (
    ("RegExpire", "reg_expire"), ("ExpirationTime", "reg_expire"),
    ("QualifyFrequency", "qualify_frequency"), ("QualifyTimeout", "qualify_timout"),
    ("AuthenticateQualify", "authentication_qualify"),
)


def _contact(state: dict, event: Event) -> None:
    data = event.data
    uri = _text(data, "URI") or _text(data, "Uri")
    aor = _text(data, "AOR")
    sorcery_id = _text(data, "ID") or _text(data, "ObjectName")
    if not aor and sorcery_id:
        aor = sorcery_id.partition(";@")[0]
    if not uri or not aor:
        return
    ident = f"{aor}/{uri}"
    if event.type == "ContactList":
        lists.item(state["lists"], event, ident)
    if data.get("ContactStatus") == "Removed":
        state["contacts"].pop(f"{event.server}/{ident}", None)
        return
    row = _row(state, "contacts", event, ident, aor=aor, uri=uri)
    for header, field in CONTACT_FIELDS:
        value = _text(data, header)
        if value is not None:
            row[field] = value
    for header, field in CONTACT_INTS:
        if header in data:
            row[field] = _number(data[header])
    if "ViaAddr" in data:
        port = _text(data, "ViaPort")
        row["via_address"] = f"{data['ViaAddr']}:{port}" if port else data["ViaAddr"]


def _number(value: object) -> int | None:
    """An integer field that AMI may print as `3.000000` or as a boolean (`true`/`no`)."""
    if value in ("true", "yes", "false", "no"):
        return int(value in ("true", "yes"))
    return to_int(value)


# ------------------------------------------------------------------------------ registrations

def _registry(state: dict, event: Event) -> None:
    """`Registry`: an outbound registration changed state (chan_sip, IAX2 or PJSIP, whose
    `Username` and `Domain` are the registration's client and server URIs)."""
    data = event.data
    user, domain = _text(data, "Username") or "", _text(data, "Domain") or ""
    if not user and not domain:
        return
    kind = (_text(data, "ChannelType") or "").upper()
    if kind == PJSIP:
        row = _pjsip_registration(state, event, user, domain)
    else:
        row = _row(state, "registries", event, f"{user}@{domain}", account=f"{user}@{domain}",
                   username=user, domain=domain, host=domain)
        row["channel_type"] = kind or row.get("channel_type")
    status = _text(data, "Status")
    if status is not None:
        row["state"] = status
    row["cause"] = _text(data, "Cause")


def _registry_entry(state: dict, event: Event) -> None:
    """`RegistryEntry` (SIPshowregistry): the seed's registry object, `account` user@host:port."""
    data = event.data
    user, host = _text(data, "Username") or "", _text(data, "Host") or ""
    if not host:
        return
    ident = f"{user}@{host}"
    lists.item(state["lists"], event, ident)
    port = _text(data, "Port")
    row = _row(state, "registries", event, ident, username=user, host=host, channel_type="SIP")
    row["account"] = f"{ident}:{port}" if port else ident
    row["domain"] = _text(data, "Domain") or host
    for header, field in (("Port", "port"), ("DomainPort", "domain_port"),
                          ("Refresh", "refresh"), ("RegistrationTime", "registration_time")):
        if header in data:
            row[field] = to_int(data[header])
    state_text = _text(data, "State")
    if state_text is not None:
        row["state"] = state_text


def _outbound_registration(state: dict, event: Event) -> None:
    """`OutboundRegistrationDetail` (PJSIPShowRegistrationsOutbound): the registration's
    `ClientUri`, `ServerUri`, `Expiration` (its refresh) and `Status`."""
    data = event.data
    client, server_uri = _text(data, "ClientUri"), _text(data, "ServerUri")
    if not client or not server_uri:
        return
    row = _pjsip_registration(state, event, client, server_uri)
    lists.item(state["lists"], event, row["account"])
    status = _text(data, "Status")
    if status is not None:
        row["state"] = status
    refresh = data.get("Expiration")
    if refresh is not None:
        row["refresh"] = to_int(refresh)


def _pjsip_registration(state: dict, event: Event, client: str, server_uri: str) -> dict:
    """A PJSIP registration's row, named from the client and server URIs both its events
    carry as the seed names a registry, `user@host:port`: the client URI's user at the
    server's host and port (`5550100@sip.provider.example`). The client URI's host is the
    `domain`."""
    user, domain, domain_port = _sip_uri(client)
    _, host, port = _sip_uri(server_uri)
    ident = f"{user}@{host}" + (f":{port}" if port is not None else "")
    return _row(state, "registries", event, ident, account=ident, username=user,
                domain=domain, domain_port=domain_port, host=host, port=port,
                channel_type=PJSIP)


def _sip_uri(uri: str) -> tuple[str, str, int | None]:
    """`sip:5550100@sip.example.com:5061;transport=tcp` -> user, host, port."""
    rest = uri.strip().strip("<>")
    scheme, sep, after = rest.partition(":")
    if sep and scheme.lower() in ("sip", "sips"):
        rest = after
    rest = rest.split(";", 1)[0]
    user, at, hostport = rest.rpartition("@")
    if hostport.startswith("["):  # [IPv6]:port
        host, _, tail = hostport[1:].partition("]")
        return user if at else "", host, to_int(tail.removeprefix(":"))
    host, _, port = hostport.partition(":")
    return user if at else "", host, to_int(port)


# ------------------------------------------------------------------------------ reconciliation

def _reconcile(table: str, keep: Keep = None) -> Callable[[dict, Event], None]:
    """A `...Complete` handler: rows of `table` the answer shows are gone (`lists`) are
    deleted, except those `keep` says the list does not cover."""

    def handler(state: dict, event: Event) -> None:
        answer = lists.end(state["lists"], event)
        if answer is not None:
            _drop_stale(state[table], event.server, answer, keep)

    return handler


def _drop_stale(rows: dict, server: str, answer: lists.Answer, keep: Keep) -> None:
    for key in lists.stale_keys(rows, server, answer):
        if keep is None or not keep(rows[key]):
            del rows[key]


def _endpoint_list_complete(state: dict, event: Event) -> None:
    """`EndpointListComplete`: endpoints not listed are gone, and so are their peers (a PJSIP
    endpoint is a peer `PJSIP/<name>` once a `PeerStatus` names it; no list of peers names
    one, `SIPpeers` being chan_sip's)."""
    answer = lists.end(state["lists"], event)
    if answer is not None:
        _drop_stale(state["endpoints"], event.server, answer, None)
        _drop_pjsip_peers(state, event.server, answer)


def _drop_pjsip_peers(state: dict, server: str, endpoints: lists.Answer) -> None:
    peers = lists.Answer(endpoints.start, frozenset(f"{PJSIP}/{n}" for n in endpoints.listed))
    _drop_stale(state["peers"], server, peers, lambda row: row.get("channel_type") != PJSIP)


def _is_registered(row: dict) -> bool:
    """A contact a phone registered (id `<aor>;@<hash>`), the kind `PJSIPShowContacts`
    lists; an AOR's permanent `contact=` (`<aor>@@<hash>`) it never lists."""
    return ";@" in (row.get("id") or "")


def _not_registered(row: dict) -> bool:
    """What a contact list cannot speak for: permanent contacts, and those known only from
    `ContactStatus` (no id yet); the AOR list does (`_aor_list_complete`)."""
    return not _is_registered(row)


def _contact_list_complete(state: dict, event: Event) -> None:
    """`ContactListComplete`: registered contacts it did not list are gone."""
    answer = lists.end(state["lists"], event)
    if answer is not None:
        _drop_stale(state["contacts"], event.server, answer, _not_registered)


def _aor_list_complete(state: dict, event: Event) -> None:
    """`AorListComplete`: AORs not listed are gone, and so is every contact no listed AOR
    names in its `Contacts` (each `aor/uri`, permanent and registered alike)."""
    answer = lists.end(state["lists"], event)
    if answer is None:
        return
    aors = state["aors"]
    _drop_stale(aors, event.server, answer, None)
    names = {name for aor in answer.listed
             for name in (aors.get(f"{event.server}/{aor}", {}).get("contacts") or "").split(",")
             if name}
    _drop_stale(state["contacts"], event.server, lists.Answer(answer.start, frozenset(names)),
                None)


# res_pjsip answers an empty list with an Error instead (`PJSIPShowEndpoints`: "No endpoints
# found\n"): as an empty whole list, it says the rows (of each table, but those `keep` says it
# cannot speak for) known before it are gone. No AOR: no contact either.
EMPTY_LISTS: dict[str, tuple[tuple[str, Keep], ...]] = {
    "No endpoints found": (("endpoints", None),),
    "No AORs found": (("aors", None), ("contacts", None)),
    "No Contacts found": (("contacts", _not_registered),),
}


def _response(state: dict, event: Event) -> None:
    emptied = EMPTY_LISTS.get(event.header("Message").strip())
    if emptied is None or event.header("Response") != "Error":
        lists.HANDLERS[RESPONSE](state, event)
        return
    nothing = lists.Answer(event.position, frozenset())
    for table, keep in emptied:
        _drop_stale(state[table], event.server, nothing, keep)
        if table == "endpoints":
            _drop_pjsip_peers(state, event.server, nothing)


def _peer_list_complete(state: dict, event: Event) -> None:
    """SIPpeers lists SIP peers only, IAXpeers IAX2 ones: reconcile the types it listed."""
    answer = lists.end(state["lists"], event)
    if answer is not None:
        kinds = {peer.partition("/")[0] for peer in answer.listed}
        _drop_stale(state["peers"], event.server, answer,
                    lambda row: row.get("channel_type") not in kinds)


HANDLERS: dict[str, Handler] = {
    "PeerStatus": _peer_status,
    "PeerEntry": _peer_entry,
    "PeerlistComplete": _peer_list_complete,
    "EndpointList": _sorcery("endpoints", "endpoint", "EndpointList"),
    "EndpointDetail": _sorcery("endpoints", "endpoint", "EndpointList"),
    "EndpointListComplete": _endpoint_list_complete,
    "AorDetail": _sorcery("aors", "aor", "AorList"),
    "AorList": _sorcery("aors", "aor", "AorList"),
    "AorListComplete": _aor_list_complete,
    "ContactStatus": _contact,
    "ContactStatusDetail": _contact,
    "ContactList": _contact,
    "ContactListComplete": _contact_list_complete,
    "Registry": _registry,
    "RegistryEntry": _registry_entry,
    "RegistrationsComplete": _reconcile(
        "registries", keep=lambda row: row.get("channel_type") != "SIP"),
    "OutboundRegistrationDetail": _outbound_registration,
    "OutboundRegistrationDetailComplete": _reconcile(
        "registries", keep=lambda row: row.get("channel_type") != PJSIP),
    **lists.HANDLERS,
    RESPONSE: _response,
}
EVENT_TYPES = frozenset(HANDLERS)  # apply ignores every other type: the runner may skip it
apply = dispatch(HANDLERS)


# ------------------------------------------------------------------------------ views

def _view(table: str, columns: dict[str, str], order: str) -> Callable[[dict, float], list[Row]]:
    ints = [name for name, kind in columns.items() if kind == "int"]

    def rows(state: dict, now: float) -> list[Row]:
        out: list[Row] = []
        for row in state[table].values():
            item = {name: row.get(name) for name in columns}
            for name in ints:
                if isinstance(item[name], str):
                    item[name] = _number(item[name])
            item["tm_update"] = iso(row["tm_update"])
            out.append(item)
        out.sort(key=lambda r: (r["server"], str(r[order])))
        return out

    return rows


VIEWS = {
    "peers": _view("peers", PEER_COLUMNS, "peer"),
    "endpoints": _view("endpoints", ENDPOINT_COLUMNS, "object_name"),
    "contacts": _view("contacts", CONTACT_COLUMNS, "uri"),
    "aors": _view("aors", AOR_COLUMNS, "object_name"),
    "registries": _view("registries", REGISTRY_COLUMNS, "account"),
}
