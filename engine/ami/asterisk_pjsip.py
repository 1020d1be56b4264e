"""Asterisk's PJSIP objects (res_pjsip), emulated from pjsip.conf: the list actions over them.

Both fake Asterisks answer res_pjsip's AMI actions from the `pjsip.conf` their configuration
holds (`engine/ami/asterisk_config.py`), as the module last loaded it (`loaded["res_pjsip"]`:
an edit shows after a reload of `res_pjsip`), and from the contacts phones registered
(`register`, `unregister`; the simulated PBX pretends its phones registered before anyone
connected). Written from Asterisk 22's res/res_pjsip (pjsip_configuration.c, location.c,
config_auth.c, config_transport.c, pjsip_options.c, res_pjsip_outbound_registration.c):

- An object is a category with a `type` (`endpoint`, `aor`, `auth`, `transport`,
  `registration`); one name may hold several types (`[agent-01]` endpoint, aor and auth).
  Its AMI form is `ObjectType`, `ObjectName`, then every field res_pjsip registers (its
  `ast_sorcery_objectset`) in CamelCase (`dtmf_mode` -> `DtmfMode`, `100rel` -> `100rel`),
  with Asterisk's defaults and printing (booleans `true`/`false`, codecs `(ulaw|alaw)`,
  doubles `3.000000`). Fields come in registration order; Asterisk's own order is its hash
  table's.
- `PJSIPShowEndpoints`: an `EndpointList` per endpoint (`Transport`, `Aor`, `Auths`,
  `OutboundAuths`, one `Contacts` per AOR listing `aor/uri,` of each contact,
  `DeviceState`, `ActiveChannels`); none: the Error "No endpoints found".
- `PJSIPShowEndpoint` (`Endpoint`): `EndpointDetail`, then an `AuthDetail` per auth,
  `TransportDetail`, an `AorDetail` per AOR (`TotalContacts`, `ContactsRegistered`,
  `EndpointName`) and a `ContactStatusDetail` per contact; `EndpointDetailComplete` counts
  them all.
- `PJSIPShowAors` (`AorList`, its `Contacts` every contact as `aor/uri`), `PJSIPShowAuths`
  (`AuthList`: passwords too, as Asterisk sends them), each an Error "No AORs found" /
  "No Auths found" when empty.
- `PJSIPShowContacts`: registered contacts only (`ContactList`, the contact's sorcery fields,
  `Status`, `RoundtripUsec`): an AOR's `contact=` is permanent and never listed there
  (asterisk/asterisk#807); with none registered, the Error "No Contacts found".
- `PJSIPShowRegistrationsOutbound`: an `OutboundRegistrationDetail` per registration
  (`Status`, `NextReg`), each followed by an `AuthDetail` per outbound auth (not counted);
  `OutboundRegistrationDetailComplete` with `Registered` and `NotRegistered`.

Contacts of an AOR the configuration no longer has are gone (Asterisk deletes them with the
AOR; the `ContactStatus: Removed` it sends then is not emulated). Qualify (`OPTIONS`) is
not: a contact of an AOR with `qualify_frequency` is `Reachable`, else `NonQualified`.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from engine.ami.asterisk_config import AsteriskConfig, Category
from engine.ami.emulated import (
    Fields,
    Part,
    Reply,
    error,
    event,
    list_answer,
    message,
    param,
    response,
)
from engine.envelope import Headers

MODULE = "res_pjsip"

# (sorcery field, kind, default as Asterisk prints it). Kinds: str (as written), bool
# (true/false), yesno (yes/no), uint, double (%f), codec (allow/disallow, `(ulaw|alaw)`).
Spec = tuple[tuple[str, str, str], ...]

ENDPOINT: Spec = (
    ("context", "str", "default"), ("allow", "codec", "(nothing)"),
    ("dtmf_mode", "str", "rfc4733"), ("rtp_ipv6", "bool", "false"),
    ("rtp_symmetric", "bool", "false"), ("ice_support", "bool", "false"),
    ("use_ptime", "bool", "false"), ("force_rport", "bool", "true"),
    ("rewrite_contact", "bool", "false"), ("transport", "str", ""),
    ("outbound_proxy", "str", ""), ("moh_suggest", "str", "default"),
    ("100rel", "str", "yes"), ("timers", "str", "yes"), ("timers_min_se", "uint", "90"),
    ("timers_sess_expires", "uint", "1800"), ("auth", "str", ""),
    ("outbound_auth", "str", ""), ("aors", "str", ""), ("media_address", "str", ""),
    ("bind_rtp_to_media_address", "bool", "false"), ("identify_by", "str", "username,ip"),
    ("direct_media", "bool", "true"), ("direct_media_method", "str", "invite"),
    ("trust_connected_line", "yesno", "yes"), ("send_connected_line", "yesno", "yes"),
    ("connected_line_method", "str", "invite"),
    ("direct_media_glare_mitigation", "str", "none"),
    ("disable_direct_media_on_nat", "bool", "false"), ("callerid", "str", "<unknown>"),
    ("callerid_privacy", "str", "allowed_not_screened"), ("callerid_tag", "str", ""),
    ("trust_id_inbound", "bool", "false"), ("trust_id_outbound", "bool", "false"),
    ("send_pai", "bool", "false"), ("send_rpid", "bool", "false"),
    ("rpid_immediate", "bool", "false"), ("send_diversion", "bool", "true"),
    ("send_history_info", "bool", "false"), ("mailboxes", "str", ""),
    ("voicemail_extension", "str", ""), ("aggregate_mwi", "bool", "true"),
    ("mwi_subscribe_replaces_unsolicited", "yesno", "no"), ("media_encryption", "str", "no"),
    ("use_avpf", "bool", "false"), ("force_avp", "bool", "false"),
    ("media_use_received_transport", "bool", "false"), ("rtp_keepalive", "uint", "0"),
    ("rtp_timeout", "uint", "0"), ("rtp_timeout_hold", "uint", "0"),
    ("rtp_port_start", "uint", "0"), ("rtp_port_end", "uint", "0"),
    ("one_touch_recording", "bool", "false"), ("inband_progress", "bool", "false"),
    ("call_group", "str", ""), ("pickup_group", "str", ""), ("named_call_group", "str", ""),
    ("named_pickup_group", "str", ""), ("device_state_busy_at", "uint", "0"),
    ("t38_udptl", "bool", "false"), ("t38_udptl_ec", "str", "none"),
    ("t38_udptl_maxdatagram", "uint", "0"), ("fax_detect", "bool", "false"),
    ("fax_detect_timeout", "uint", "0"), ("t38_udptl_nat", "bool", "false"),
    ("t38_udptl_ipv6", "bool", "false"), ("t38_bind_udptl_to_media_address", "bool", "false"),
    ("tone_zone", "str", ""), ("language", "str", ""),
    ("record_on_feature", "str", "automixmon"), ("record_off_feature", "str", "automixmon"),
    ("allow_transfer", "bool", "true"), ("user_eq_phone", "bool", "false"),
    ("moh_passthrough", "bool", "false"), ("sdp_owner", "str", "-"),
    ("sdp_session", "str", "Asterisk"), ("tos_audio", "str", "0"), ("tos_video", "str", "0"),
    ("cos_audio", "uint", "0"), ("cos_video", "uint", "0"),
    ("allow_subscribe", "bool", "true"), ("sub_min_expiry", "uint", "0"),
    ("from_user", "str", ""), ("from_domain", "str", ""), ("mwi_from_user", "str", ""),
    ("rtp_engine", "str", "asterisk"), ("dtls_verify", "str", "No"),
    ("dtls_rekey", "uint", "0"), ("dtls_auto_generate_cert", "str", "No"),
    ("dtls_cert_file", "str", ""), ("dtls_private_key", "str", ""),
    ("dtls_cipher", "str", ""), ("dtls_ca_file", "str", ""), ("dtls_ca_path", "str", ""),
    ("dtls_setup", "str", "active"), ("dtls_fingerprint", "str", "SHA-256"),
    ("srtp_tag_32", "bool", "false"), ("media_encryption_optimistic", "bool", "false"),
    ("g726_non_standard", "bool", "false"), ("redirect_method", "str", "user"),
    ("follow_redirect_methods", "str", ""), ("set_var", "str", ""),
    ("message_context", "str", ""), ("accountcode", "str", ""), ("acl", "str", ""),
    ("contact_acl", "str", ""), ("subscribe_context", "str", ""),
    ("contact_user", "str", ""), ("preferred_codec_only", "bool", "false"),
    ("asymmetric_rtp_codec", "bool", "false"), ("rtcp_mux", "bool", "false"),
    ("allow_overlap", "bool", "true"), ("overlap_context", "str", ""),
    ("refer_blind_progress", "bool", "true"), ("notify_early_inuse_ringing", "bool", "false"),
    ("max_audio_streams", "uint", "1"), ("max_video_streams", "uint", "1"),
    ("bundle", "bool", "false"), ("webrtc", "yesno", "no"),
    ("incoming_mwi_mailbox", "str", ""), ("follow_early_media_fork", "bool", "true"),
    ("accept_multiple_sdp_answers", "bool", "false"),
    ("suppress_q850_reason_headers", "bool", "false"),
    ("ignore_183_without_sdp", "bool", "false"), ("incoming_call_offer_pref", "str", "local"),
    ("outgoing_call_offer_pref", "str", "remote_merge"),
    ("codec_prefs_incoming_offer", "str",
     "prefer: pending, operation: intersect, keep: all, transcode: allow"),
    ("codec_prefs_outgoing_offer", "str",
     "prefer: pending, operation: union, keep: all, transcode: allow"),
    ("codec_prefs_incoming_answer", "str", "prefer: pending, operation: intersect, keep: all"),
    ("codec_prefs_outgoing_answer", "str", "prefer: pending, operation: intersect, keep: all"),
    ("stir_shaken", "str", "off"), ("stir_shaken_profile", "str", ""),
    ("allow_unauthenticated_options", "bool", "false"),
    ("geoloc_incoming_call_profile", "str", ""), ("geoloc_outgoing_call_profile", "str", ""),
    ("security_mechanisms", "str", ""), ("security_negotiation", "str", "no"),
    ("send_aoc", "bool", "false"), ("tenantid", "str", ""),
    ("suppress_moh_on_sendonly", "bool", "false"),
)
AOR: Spec = (
    ("minimum_expiration", "uint", "60"), ("maximum_expiration", "uint", "7200"),
    ("default_expiration", "uint", "3600"), ("qualify_frequency", "uint", "0"),
    ("qualify_timeout", "double", "3.000000"), ("qualify_2xx_only", "bool", "false"),
    ("authenticate_qualify", "bool", "false"), ("max_contacts", "uint", "0"),
    ("remove_existing", "bool", "false"), ("remove_unavailable", "bool", "false"),
    ("contact", "str", ""), ("mailboxes", "str", ""), ("voicemail_extension", "str", ""),
    ("outbound_proxy", "str", ""), ("support_path", "bool", "false"),
)
AUTH: Spec = (
    ("username", "str", ""), ("password", "str", ""), ("refresh_token", "str", ""),
    ("oauth_clientid", "str", ""), ("oauth_secret", "str", ""), ("md5_cred", "str", ""),
    ("realm", "str", ""), ("nonce_lifetime", "uint", "32"), ("auth_type", "str", "userpass"),
    ("password_digest", "str", ""), ("supported_algorithms_uac", "str", ""),
    ("supported_algorithms_uas", "str", ""),
)
TRANSPORT: Spec = (
    ("protocol", "str", "udp"), ("bind", "str", ""), ("async_operations", "uint", "1"),
    ("ca_list_file", "str", ""), ("ca_list_path", "str", ""), ("cert_file", "str", ""),
    ("priv_key_file", "str", ""), ("password", "str", ""),
    ("external_signaling_address", "str", ""), ("external_signaling_port", "uint", "0"),
    ("external_signaling_hostname", "str", ""), ("external_media_address", "str", ""),
    ("domain", "str", ""), ("verify_server", "str", "No"), ("verify_client", "str", "No"),
    ("require_client_cert", "str", "No"), ("allow_wildcard_certs", "str", "No"),
    ("method", "str", ""), ("tcp_keepalive_enable", "bool", "false"),
    ("tcp_keepalive_idle_time", "uint", "30"), ("tcp_keepalive_interval_time", "uint", "1"),
    ("tcp_keepalive_probe_count", "uint", "5"), ("cipher", "str", ""),
    ("local_net", "str", ""), ("tos", "str", "0"), ("cos", "uint", "0"),
    ("websocket_write_timeout", "uint", "100"), ("allow_reload", "bool", "false"),
    ("symmetric_transport", "bool", "false"),
)
REGISTRATION: Spec = (
    ("server_uri", "str", ""), ("client_uri", "str", ""), ("contact_user", "str", ""),
    ("contact_header_params", "str", ""), ("transport", "str", ""),
    ("outbound_proxy", "str", ""), ("expiration", "uint", "3600"),
    ("max_random_initial_delay", "uint", "10"), ("retry_interval", "uint", "60"),
    ("forbidden_retry_interval", "uint", "0"), ("fatal_retry_interval", "uint", "0"),
    ("max_retries", "uint", "10"), ("auth_rejection_permanent", "bool", "true"),
    ("outbound_auth", "str", ""), ("support_path", "bool", "false"),
    ("support_outbound", "yesno", "no"), ("security_negotiation", "str", "no"),
    ("security_mechanisms", "str", ""), ("line", "bool", "false"), ("endpoint", "str", ""),
    ("user_agent", "str", ""),
)
SPECS: dict[str, Spec] = {"endpoint": ENDPOINT, "aor": AOR, "auth": AUTH,
                          "transport": TRANSPORT, "registration": REGISTRATION}
# What `allow = all` enables (a part of Asterisk's codec list, enough to print)
ALL_CODECS = ("ulaw", "alaw", "gsm", "g726", "g722", "g729", "ilbc", "speex", "opus", "slin")
_TRUE = ("yes", "true", "y", "t", "1", "on")  # ast_true

DEVICE_UNAVAILABLE, DEVICE_NOT_INUSE, DEVICE_INUSE = "Unavailable", "Not in use", "In use"


def camel(name: str) -> str:
    """ast_to_camel_case: `dtmf_mode` -> `DtmfMode`, `srtp_tag_32` -> `SrtpTag32`."""
    return "".join(part[:1].upper() + part[1:] for part in name.split("_") if part)


def md5(text: str) -> str:
    return hashlib.md5(text.encode("utf-8"), usedforsecurity=False).hexdigest()


# ------------------------------------------------------------------------------ the objects

@dataclass(frozen=True)
class SipObject:
    """One sorcery object of pjsip.conf: its type, name, and variables in file order."""

    type: str
    name: str
    variables: tuple[tuple[str, str], ...]

    def get(self, name: str, default: str = "") -> str:
        """The last value of a variable (a later line overrides), `default` when unset."""
        found = [v for k, v in self.variables if k == name]
        return found[-1] if found else default

    def names(self, variable: str) -> list[str]:
        """A comma list (`aors`, `auth`), every line of it, in order."""
        return [n.strip() for k, v in self.variables if k == variable for n in v.split(",")
                if n.strip()]

    def fields(self) -> Fields:
        """Its sorcery object set as AMI writes it: ObjectType, ObjectName, each field."""
        out: list[tuple[str, str]] = [("ObjectType", self.type), ("ObjectName", self.name)]
        for name, kind, default in SPECS[self.type]:
            out.append((camel(name), self._printed(name, kind, default)))
        return out

    def _printed(self, name: str, kind: str, default: str) -> str:
        if kind == "codec":
            return _codecs(self.variables)
        given = [v for k, v in self.variables if k == name]
        if not given:
            return default
        value = given[-1]
        if kind == "bool":
            return "true" if value.lower() in _TRUE else "false"
        if kind == "yesno":
            return "yes" if value.lower() in _TRUE else "no"
        if kind == "uint":
            return str(int(value)) if value.strip().isdigit() else default
        if kind == "double":
            try:
                return f"{float(value):f}"
            except ValueError:
                return default
        return value


def _codecs(variables: tuple[tuple[str, str], ...]) -> str:
    """`allow`/`disallow` applied in order, printed as ast_format_cap_get_names does."""
    caps: list[str] = []
    for name, value in variables:
        if name not in ("allow", "disallow"):
            continue
        for codec in (c.strip() for c in value.split(",") if c.strip()):
            if name == "disallow":
                caps = [] if codec == "all" else [c for c in caps if c != codec]
            elif codec == "all":
                caps = list(ALL_CODECS)
            elif codec not in caps:
                caps.append(codec)
    return f"({'|'.join(caps)})" if caps else "(nothing)"


def objects_of(categories: list[Category]) -> list[SipObject]:
    """res_pjsip's objects: every category (not a template) with a `type` it knows."""
    out = []
    for cat in categories:
        if cat.template:
            continue
        variables = tuple((v.name.strip().lower(), v.value) for v in cat.variables)
        kinds = [v for k, v in variables if k == "type"]
        if kinds and kinds[-1] in SPECS:
            out.append(SipObject(kinds[-1], cat.name, variables))
    return out


@dataclass
class Contact:
    """One contact of an AOR: registered by a phone (res_pjsip_registrar, stored until it
    expires) or permanent (the AOR's `contact=`: no registration, `expires` 0)."""

    aor: str
    uri: str
    endpoint: str = ""
    user_agent: str = ""
    via_addr: str = ""
    via_port: int = 0
    call_id: str = ""
    expires: int = 0  # epoch seconds
    qualify_frequency: int = 0
    qualify_timeout: float = 3.0
    permanent: bool = False
    period: int = 0  # a phone that registers again every `period` seconds; 0: it does not

    def live_at(self, now: float) -> bool:
        """Still registered at `now`: unexpired, or renewed by the phone in time."""
        if self.period and self.expires <= now:
            self.expires += self.period * (1 + int(now - self.expires) // self.period)
        return self.permanent or self.expires > now

    @property
    def id(self) -> str:
        """location.c: `<aor>;@<md5 of the URI>` registered, `<aor>@@<md5>` permanent."""
        return f"{self.aor}{'@@' if self.permanent else ';@'}{md5(self.uri)}"

    @property
    def status(self) -> str:
        """Qualified by OPTIONS (always answered here) or not qualified at all."""
        return "Reachable" if self.qualify_frequency else "NonQualified"

    @property
    def rtt(self) -> str:
        return "1250" if self.qualify_frequency else "N/A"

    def fields(self) -> Fields:
        """`ContactList`'s sorcery part (ast_sip_sorcery_object_to_ami of the contact)."""
        return [
            ("ObjectType", "contact"), ("ObjectName", self.id), ("ViaAddr", self.via_addr),
            ("ViaPort", str(self.via_port)), ("QualifyTimeout", f"{self.qualify_timeout:f}"),
            ("CallId", self.call_id), ("RegServer", ""), ("PruneOnBoot", "no"), ("Path", ""),
            ("Endpoint", self.endpoint), ("AuthenticateQualify", "no"), ("Uri", self.uri),
            ("QualifyFrequency", str(self.qualify_frequency)),
            ("UserAgent", self.user_agent), ("ExpirationTime", str(self.expires)),
            ("OutboundProxy", ""), ("Qualify2xxOnly", "false"),
        ]


# ------------------------------------------------------------------------------ the module

@dataclass
class Pjsip(Part):
    """res_pjsip of one fake Asterisk. `channels`: how many channels an endpoint has up
    (`ActiveChannels`, and its device state); `registration_status`: an outbound
    registration's state when not `Registered` (the provider refused, say)."""

    config: AsteriskConfig
    channels: Callable[[str], int] = lambda endpoint: 0
    clock: Callable[[], float] = time.time
    registered: dict[str, list[Contact]] = field(default_factory=dict)  # by AOR
    registration_status: dict[str, str] = field(default_factory=dict)
    started: float = field(default_factory=time.time)

    def objects(self, kind: str) -> list[SipObject]:
        """What res_pjsip runs: pjsip.conf as its last (re)load read it."""
        return [o for o in objects_of(self.config.loaded.get(MODULE, [])) if o.type == kind]

    def find(self, kind: str, name: str) -> SipObject | None:
        return next((o for o in self.objects(kind) if o.name == name), None)

    # -- registrations (what phones did) ----------------------------------------------------

    def register(self, aor: str, uri: str, *, user_agent: str = "", via: tuple[str, int] = ("", 0),
                 call_id: str = "", expires: int | None = None, renew: bool = False
                 ) -> list[bytes]:
        """A phone registered `uri` to `aor` for `expires` seconds (the AOR's
        `default_expiration` unless said; `renew`: and registers again before each expiry):
        the contact is stored; the events Asterisk sends (`ContactStatus`, and for an endpoint
        that had no contact `PeerStatus` Reachable and its `DeviceStateChange`)."""
        found = self.find("aor", aor)
        if found is None:
            raise KeyError(f"no AOR {aor!r}")
        endpoint = self.endpoint_of(aor)
        was_online = endpoint is not None and self._online(endpoint)
        seconds = expires if expires is not None else int(found.get("default_expiration",
                                                                     "3600"))
        contacts = self.registered.setdefault(aor, [])
        contacts[:] = [c for c in contacts if c.uri != uri]
        contact = Contact(aor, uri, endpoint.name if endpoint else "", user_agent,
                          via_addr=via[0], via_port=via[1], call_id=call_id,
                          expires=int(self.clock()) + seconds,
                          qualify_frequency=int(found.get("qualify_frequency", "0") or 0),
                          qualify_timeout=float(found.get("qualify_timeout", "3.0") or 3.0),
                          period=seconds if renew else 0)
        contacts.append(contact)
        events = [self._contact_status(contact, contact.status)]
        if endpoint is not None and not was_online:
            events.extend(self._endpoint_state(endpoint.name, online=True))
        return events

    def unregister(self, aor: str, uri: str) -> list[bytes]:
        """The phone removed its registration (or it expired): `ContactStatus: Removed`, and
        for an endpoint left without a contact `PeerStatus` Unreachable."""
        contacts = self.registered.get(aor, [])
        gone = [c for c in contacts if c.uri == uri]
        if not gone:
            return []
        self.registered[aor] = [c for c in contacts if c.uri != uri]
        events = [self._contact_status(gone[0], "Removed")]
        endpoint = self.endpoint_of(aor)
        if endpoint is not None and not self._online(endpoint):
            events.extend(self._endpoint_state(endpoint.name, online=False))
        return events

    @staticmethod
    def _contact_status(contact: Contact, status: str) -> bytes:
        rtt = contact.rtt if status == "Reachable" else "0"
        return event("ContactStatus", [
            ("URI", contact.uri), ("ContactStatus", status), ("AOR", contact.aor),
            ("EndpointName", contact.endpoint), ("RoundtripUsec", rtt)], "system,all")

    def _endpoint_state(self, endpoint: str, online: bool) -> list[bytes]:
        return [
            event("PeerStatus", [("ChannelType", "PJSIP"), ("Peer", f"PJSIP/{endpoint}"),
                                 ("PeerStatus", "Reachable" if online else "Unreachable")],
                  "system,all"),
            event("DeviceStateChange", [("Device", f"PJSIP/{endpoint}"), (
                "State", "NOT_INUSE" if online else "UNAVAILABLE")]),
        ]

    # -- what the objects say ---------------------------------------------------------------

    def contacts(self, aor: SipObject) -> list[Contact]:
        """An AOR's contacts: its permanent ones, then those registered (unexpired)."""
        now = self.clock()
        qualify = int(aor.get("qualify_frequency", "0") or 0)
        timeout = float(aor.get("qualify_timeout", "3.0") or 3.0)
        permanent = [Contact(aor.name, uri, qualify_frequency=qualify,
                             qualify_timeout=timeout, permanent=True)
                     for uri in aor.names("contact")]
        return permanent + [c for c in self.registered.get(aor.name, []) if c.live_at(now)]

    def _all_registered(self) -> list[Contact]:
        """Every stored registration of an AOR res_pjsip still has (deleting an AOR deletes
        its contacts)."""
        aors = {a.name for a in self.objects("aor")}
        now = self.clock()
        return [c for name, contacts in self.registered.items() if name in aors
                for c in contacts if c.live_at(now)]

    def endpoint_of(self, aor: str) -> SipObject | None:
        return next((e for e in self.objects("endpoint") if aor in e.names("aors")), None)

    def _online(self, endpoint: SipObject) -> bool:
        return any(self.contacts(a) for a in self._aors(endpoint))

    def _aors(self, endpoint: SipObject) -> list[SipObject]:
        found = (self.find("aor", name) for name in endpoint.names("aors"))
        return [a for a in found if a is not None]

    def device_state(self, endpoint: SipObject) -> str:
        if self.channels(endpoint.name) > 0:
            return DEVICE_INUSE
        return DEVICE_NOT_INUSE if self._online(endpoint) else DEVICE_UNAVAILABLE

    # -- actions ----------------------------------------------------------------------------

    def answer(self, name: str, headers: Headers, action_id: str) -> Reply | None:
        handler = {
            "pjsipshowendpoints": self._endpoints,
            "pjsipshowendpoint": self._endpoint,
            "pjsipshowaors": self._aor_list,
            "pjsipshowauths": self._auth_list,
            "pjsipshowcontacts": self._contact_list,
            "pjsipshowregistrationsoutbound": self._registrations,
        }.get(name)
        return Reply(handler(headers, action_id)) if handler is not None else None

    def _endpoints(self, headers: Headers, action_id: str) -> bytes:
        endpoints = self.objects("endpoint")
        if not endpoints:
            return error(action_id, "No endpoints found\n")
        items = []
        for endpoint in endpoints:
            pairs = [("ObjectType", "endpoint"), ("ObjectName", endpoint.name),
                     ("Transport", endpoint.get("transport")), ("Aor", endpoint.get("aors")),
                     ("Auths", ",".join(endpoint.names("auth"))),
                     ("OutboundAuths", ",".join(endpoint.names("outbound_auth")))]
            pairs.extend(("Contacts", "".join(f"{aor.name}/{c.uri}," for c in
                                              self.contacts(aor)))
                         for aor in self._aors(endpoint))
            pairs += [("DeviceState", self.device_state(endpoint)),
                      ("ActiveChannels", str(self.channels(endpoint.name)))]
            items.append(("EndpointList", pairs))
        return list_answer(action_id, "A listing of Endpoints follows, presented as "
                           "EndpointList events", "EndpointListComplete", items)

    def _endpoint(self, headers: Headers, action_id: str) -> bytes:
        name = param(headers, "Endpoint")
        if not name:
            return error(action_id, "PJSIPShowEndpoint requires an endpoint name\n")
        if name.lower().startswith("pjsip/"):
            name = name[6:]
        endpoint = self.find("endpoint", name)
        if endpoint is None:
            return error(action_id, f"Unable to retrieve endpoint {name}\n")
        tail = [("EndpointName", endpoint.name)]
        items: list[tuple[str, Fields]] = [("EndpointDetail", [
            *endpoint.fields(), ("DeviceState", self.device_state(endpoint)),
            ("ActiveChannels", str(self.channels(endpoint.name)))])]
        for auth_name in endpoint.names("auth") + endpoint.names("outbound_auth"):
            auth = self.find("auth", auth_name)
            if auth is not None:
                items.append(("AuthDetail", [*auth.fields(), *tail]))
        transport = self.find("transport", endpoint.get("transport"))
        if transport is not None:
            items.append(("TransportDetail", [*transport.fields(), *tail]))
        aors = self._aors(endpoint)
        for aor in aors:
            contacts = self.contacts(aor)
            permanent = sum(c.permanent for c in contacts)
            items.append(("AorDetail", [
                *self._aor_fields(aor), ("TotalContacts", str(len(contacts))),
                ("ContactsRegistered", str(len(contacts) - permanent)), *tail]))
        items.extend(("ContactStatusDetail", self._contact_detail(c, endpoint.name))
                     for aor in aors for c in self.contacts(aor))
        return list_answer(action_id, "Following are Events for each object associated "
                           "with the Endpoint", "EndpointDetailComplete", items)

    def _aor_fields(self, aor: SipObject) -> Fields:
        """sip_aor_to_ami: the `contact` field is `Contacts`, every contact `aor/uri`."""
        listed = ",".join(f"{aor.name}/{c.uri}" for c in self.contacts(aor))
        return [("Contacts", listed) if k == "Contact" else (k, v) for k, v in aor.fields()]

    @staticmethod
    def _contact_detail(contact: Contact, endpoint: str) -> Fields:
        """ast_sip_format_contact_ami."""
        pairs = [("AOR", contact.aor), ("URI", contact.uri), ("UserAgent", contact.user_agent),
                 ("RegExpire", str(contact.expires))]
        if contact.via_addr:
            port = f":{contact.via_port}" if contact.via_port else ""
            pairs.append(("ViaAddress", contact.via_addr + port))
        if contact.call_id:
            pairs.append(("CallID", contact.call_id))
        return [*pairs, ("Status", contact.status), ("RoundtripUsec", contact.rtt),
                ("EndpointName", endpoint), ("ID", contact.id),
                ("AuthenticateQualify", "0"), ("OutboundProxy", ""), ("Path", ""),
                ("QualifyFrequency", str(contact.qualify_frequency)),
                ("QualifyTimeout", f"{contact.qualify_timeout:.3f}"), ("Qualify2xxOnly", "0")]

    def _aor_list(self, headers: Headers, action_id: str) -> bytes:
        aors = self.objects("aor")
        if not aors:
            return error(action_id, "No AORs found\n")
        return list_answer(action_id, "A listing of AORs follows, presented as AorList events",
                           "AorListComplete", [("AorList", self._aor_fields(a)) for a in aors])

    def _auth_list(self, headers: Headers, action_id: str) -> bytes:
        auths = self.objects("auth")
        if not auths:
            return error(action_id, "No Auths found\n")
        return list_answer(action_id, "A listing of Auths follows, presented as AuthList "
                           "events", "AuthListComplete", [("AuthList", a.fields())
                                                          for a in auths])

    def _contact_list(self, headers: Headers, action_id: str) -> bytes:
        contacts = self._all_registered()
        if not contacts:
            return error(action_id, "No Contacts found\n")
        items = [("ContactList", [*c.fields(), ("Status", c.status), ("RoundtripUsec", c.rtt)])
                 for c in contacts]
        return list_answer(action_id, "A listing of Contacts follows, presented as "
                           "ContactList events", "ContactListComplete", items)

    def _registrations(self, headers: Headers, action_id: str) -> bytes:
        aid = [("ActionID", action_id)] if action_id else []
        out = [response("Success", action_id, ("EventList", "start"), (
            "Message", "Following are Events for each Outbound registration"))]
        registered = 0
        registrations = self.objects("registration")
        for reg in registrations:
            status = self.registration_status.get(reg.name, "Registered")
            registered += status == "Registered"
            out.append(message([("Event", "OutboundRegistrationDetail"), *aid, *reg.fields(),
                                ("Status", status), ("NextReg", str(self._next_reg(reg)))]))
            for auth_name in reg.names("outbound_auth"):
                auth = self.find("auth", auth_name)
                if auth is not None:
                    out.append(message([("Event", "AuthDetail"), *aid, *auth.fields()]))
        out.append(message([("Event", "OutboundRegistrationDetailComplete"), *aid,
                            ("EventList", "Complete"),
                            ("ListItems", str(len(registrations))),
                            ("Registered", str(registered)),
                            ("NotRegistered", str(len(registrations) - registered))]))
        return b"".join(out)

    def _next_reg(self, registration: SipObject) -> int:
        """Seconds to the next REGISTER: the registration is refreshed every `expiration`."""
        period = max(int(registration.get("expiration", "3600") or 3600), 1)
        return period - int(self.clock() - self.started) % period


# ------------------------------------------------------------------------------ the simulated PBX

SIMULATED_BLOCK = "; ---- the simulated PBX's phones and trunk (engine/ami/asterisk_pjsip.py)"
TRUNK_CONF = """\
[provider]
type = registration
transport = transport-udp
outbound_auth = provider-auth
server_uri = sip:sip.provider.example
client_uri = sip:5550100@sip.provider.example
contact_user = 5550100
retry_interval = 60
expiration = 3600

[provider-auth]
type = auth
auth_type = userpass
username = 5550100
password = provider-secret

[provider]
type = aor
contact = sip:sip.provider.example:5060
qualify_frequency = 60

[provider]
type = endpoint
transport = transport-udp
context = customers
disallow = all
allow = ulaw,alaw
outbound_auth = provider-auth
aors = provider
from_user = 5550100
"""


def phone_conf(name: str) -> str:
    """One phone: its endpoint, auth and AOR, all named after it (as the seed's
    `pjagent-01`), registering at most one contact."""
    return (f"[{name}]\ntype = endpoint\ntransport = transport-udp\ncontext = agents\n"
            f"disallow = all\nallow = ulaw\nauth = {name}\naors = {name}\n"
            f'callerid = "{name}" <{name}>\n\n'
            f"[{name}]\ntype = auth\nauth_type = userpass\nusername = {name}\n"
            f"password = {name}-secret\n\n"
            f"[{name}]\ntype = aor\nmax_contacts = 1\nremove_existing = yes\n")


def simulated_conf(phones: list[str]) -> str:
    """The simulated PBX's own block of pjsip.conf, after the captures' PBX's: a phone per
    PJSIP queue member (`PJSIP/agent-01` -> `agent-01`) and a trunk to a provider with an
    outbound registration and a permanent contact."""
    return "\n".join([SIMULATED_BLOCK, "", *(phone_conf(p) for p in phones), TRUNK_CONF])


def register_phones(pjsip: Pjsip) -> None:
    """Every AOR without a permanent contact has its phone registered (before anyone
    connected: no events), from 192.0.2.x (TEST-NET-1), and registering again in time."""
    for n, aor in enumerate(a for a in pjsip.objects("aor") if not a.names("contact")):
        host = f"192.0.2.{10 + n}"
        endpoint = pjsip.endpoint_of(aor.name)
        user = endpoint.name if endpoint is not None else aor.name
        pjsip.register(aor.name, f"sip:{user}@{host}:5060", user_agent="Simulated Phone 1.0",
                       via=(host, 5060), call_id=f"{md5(aor.name)[:16]}@{host}", renew=True)
