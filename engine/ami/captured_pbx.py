"""The configuration files of the PBX that recorded the captures (tests/ami-captures/README.md).

The fake Asterisks (`engine/ami/testserver.py`, `engine/ami/simulator.py`) start with these files
in their `engine/ami/asterisk_config.AsteriskConfig`, so a `GetConfig` answers what the real one
answered. What the captures show is copied exactly: `queues.conf` (config-queues.jsonl),
`res_parking.conf` (config-parking.jsonl), `voicemail.conf` (voicemail.jsonl) and the `tools`
context of `extensions.conf` (config-dialplan.jsonl). The rest of `extensions.conf` is written
from the README's table of the dialplan; `pjsip.conf` and `confbridge.conf` were never read in a
capture (every call there is a Local channel): they hold what such a PBX would, with two auth
sections (a phone's, and a trunk's outbound auth with an `md5_cred`), so that secrets in
configuration have something to be hidden in tests and `/pjsip/auths` something to list.
"""

from __future__ import annotations

QUEUES_CONF = """\
[general]
persistentmembers = no

[sales]
strategy = rrmemory
timeout = 8
retry = 1
wrapuptime = 0
joinempty = yes
leavewhenempty = no
ringinuse = no
announce-frequency = 0
eventwhencalled = yes
eventmemberstatus = yes

[support]
strategy = ringall
timeout = 5
retry = 1
joinempty = yes
ringinuse = no
"""

RES_PARKING_CONF = """\
[general]

[default]
parkext => 700
parkpos => 701-720
context => parkedcalls
parkingtime => 6
comebacktoorigin = no
comebackcontext = parkedcallstimeout
findslot => next
"""

VOICEMAIL_CONF = """\
[general]
format = wav
maxmsg = 100
maxsecs = 10
minsecs = 0
maxsilence = 2
silencethreshold = 128
maxlogins = 3

[default]
100 => 1234,Alice Agent,alice@example.com,,attach=no
101 => 4321,Bob Agent,bob@example.com
"""

EXTENSIONS_CONF = """\
[general]
static = yes
writeprotect = no

[customers]
exten => _1XX,1,Ringing()
 same => n,Wait(1)
 same => n,Answer()
 same => n,Wait(${IF($["${CALLTIME}" = ""]?3:${CALLTIME})})
 same => n,Hangup(16)
exten => _2XX,1,Busy()
exten => _3XX,1,Ringing()
 same => n,Wait(3600)
exten => _4XX,1,Congestion()
exten => _5XX,1,Answer()
 same => n,Wait(60)
 same => n,Hangup(16)
exten => _6XX,1,Answer()
 same => n,Wait(0.5)
 same => n,Hangup(16)
exten => _9XX,1,Hangup(1)

[agents]
exten => _agent.,1,Ringing()
 same => n,Wait(1)
 same => n,Answer()
 same => n,Wait(${IF($["${AGENTTALK}" = ""]?3:${AGENTTALK})})
 same => n,Hangup(16)
exten => _lazy.,1,Ringing()
 same => n,Wait(3600)

[dialer]
exten => queue,1,Queue(sales,,,,8)
exten => support,1,Queue(support,,,,5)
exten => park,1,Park(default)
exten => echo,1,Answer()
 same => n,Wait(2)
 same => n,Hangup()
exten => hold,1,Answer()
 same => n,Wait(30)
 same => n,Hangup()

[parkedcalls]
include => parkedcalls-default

[tools]
exten => agi,1,Answer()
 same => n,AGI(agi:async)
 same => n,Hangup()
exten => vm,1,Answer()
 same => n,VoiceMail(100@default,s)
 same => n,Hangup()
exten => conf,1,Answer()
 same => n,ConfBridge(1)
 same => n,Hangup()
exten => talk,1,Answer()
 same => n,Wait(${IF($["${CALLTIME}" = ""]?20:${CALLTIME})})
 same => n,Hangup(16)
"""

PJSIP_CONF = """\
[transport-udp]
type = transport
protocol = udp
bind = 0.0.0.0

[endpoint-template](!)
type = endpoint
context = customers
disallow = all
allow = ulaw

[6001](endpoint-template)
auth = 6001-auth
aors = 6001-aor

[6001-auth]
type = auth
auth_type = userpass
username = 6001
password = s3cret-6001

[6001-aor]
type = aor
max_contacts = 1

[trunk-auth]
type = auth
auth_type = md5
username = switchboard
realm = sip.example.com
md5_cred = 5f4dcc3b5aa765d61d8327deb882cf99

[trunk]
type = endpoint
context = customers
outbound_auth = trunk-auth
aors = trunk-aor

[trunk-aor]
type = aor
contact = sip:sip.example.com
"""

CONFBRIDGE_CONF = """\
[general]

[default_user]
type = user

[default_bridge]
type = bridge
"""

FILES: dict[str, str] = {
    "queues.conf": QUEUES_CONF,
    "res_parking.conf": RES_PARKING_CONF,
    "voicemail.conf": VOICEMAIL_CONF,
    "extensions.conf": EXTENSIONS_CONF,
    "pjsip.conf": PJSIP_CONF,
    "confbridge.conf": CONFBRIDGE_CONF,
}
