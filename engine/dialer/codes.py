"""The outbound dialer's numbers, as the seed defines them (seed-reference.md 5.2, 5.6).

Every code a client sees (campaign status, dialing status, dial mode, `res_dial`) is named here
once, so the process manager, the projections and the API say `CAMPAIGN_START` rather than `1`.
Where the seed and jade's source disagree the choice is noted next to the constant.
"""

from __future__ import annotations

# -- campaign status (5.2) ---------------------------------------------------------------------
CAMPAIGN_STOP = 0
CAMPAIGN_START = 1
CAMPAIGN_PAUSE = 2
CAMPAIGN_STOPPING = 10
CAMPAIGN_STARTING = 11
CAMPAIGN_PAUSING = 12
CAMPAIGN_STOPPING_FORCED = 30  # jade left it a todo: here it hangs up the campaign's dialings

CAMPAIGN_STATUSES = {
    CAMPAIGN_STOP: "Stop",
    CAMPAIGN_START: "Start",
    CAMPAIGN_PAUSE: "Pause",
    CAMPAIGN_STOPPING: "Stopping",
    CAMPAIGN_STARTING: "Starting",
    CAMPAIGN_PAUSING: "Pausing",
    CAMPAIGN_STOPPING_FORCED: "Stopping forcedly",
}

# What a client may write in `PUT /ob/campaigns/<uuid> {"status": N}`, and what it becomes: the
# server runs the transitions (5.5). A start is immediate (the seed's tutorial PUT answers 1);
# stop and pause go through Stopping/Pausing while calls in flight finish.
CLIENT_STATUS = {
    CAMPAIGN_STOP: CAMPAIGN_STOPPING,
    CAMPAIGN_START: CAMPAIGN_START,
    CAMPAIGN_PAUSE: CAMPAIGN_PAUSING,
    CAMPAIGN_STOPPING_FORCED: CAMPAIGN_STOPPING_FORCED,
}

# -- dial mode (5.2) ----------------------------------------------------------------------------
DIAL_MODE_NONE = 0  # a campaign whose plan has it is moved to Stopping
DIAL_MODE_PREDICTIVE = 1  # the seed's service-level formula (5.3)
DIAL_MODE_ADAPTIVE = 6  # beyond the seed: the dial ratio follows the abandon rate (pacing.py)
DIAL_MODES = {
    DIAL_MODE_NONE: "None",
    DIAL_MODE_PREDICTIVE: "Predictive",
    2: "Preview",  # jade's source enum; not implemented (as in jade): the campaign stops
    3: "Power",
    4: "Robo",
    5: "Redirect",
    DIAL_MODE_ADAPTIVE: "Adaptive predictive",
}
SUPPORTED_DIAL_MODES = frozenset({DIAL_MODE_PREDICTIVE, DIAL_MODE_ADAPTIVE})

# -- destination type (5.2) ---------------------------------------------------------------------
DEST_EXTENSION = 0  # context / exten / priority
DEST_APPLICATION = 1  # application / data

# -- dial list entry status (5.2) ---------------------------------------------------------------
DL_IDLE = 0
DL_DIALING = 1
DL_RESERVED = 2  # reserved for preview dialing (not dialed by this dialer)

# -- dialing status (5.2). The seed's error codes (10-13), not jade's source (100-104). ---------
DIALING_NONE = 0
DIALING_ORIGINATE_SENT = 1
DIALING_QUEUED = 2
DIALING_DIAL_BEGIN = 3
DIALING_CHANNEL_CREATED = 4
DIALING_DIAL_END = 5
DIALING_ORIGINATE_RESPONDED = 6
DIALING_HANGUP = 7
DIALING_ERROR = 10  # also: closed by reconciliation or a timeout (the reason says which)
DIALING_REQUEST_FAILED = 11  # the Originate could not be sent
DIALING_QUEUED_FAILED = 12  # Asterisk refused the Originate (Response: Error)
DIALING_RESPONSE_FAILED = 13  # OriginateResponse: Failure (busy, no answer, congestion, ...)
DIALING_STATUSES = {
    DIALING_NONE: "None",
    DIALING_ORIGINATE_SENT: "Originate request sent",
    DIALING_QUEUED: "Originate queued",
    DIALING_DIAL_BEGIN: "Dial begin",
    DIALING_CHANNEL_CREATED: "Channel created",
    DIALING_DIAL_END: "Dial end",
    DIALING_ORIGINATE_RESPONDED: "Originate responsed",
    DIALING_HANGUP: "Hangup",
    DIALING_ERROR: "Error occurred",
    DIALING_REQUEST_FAILED: "Originate request failed",
    DIALING_QUEUED_FAILED: "Originate queued failed",
    DIALING_RESPONSE_FAILED: "Originate response failed",
}

# -- dial result `res_dial` (5.6): Asterisk's AST_CONTROL_* as OriginateResponse's Reason --------
RES_DIAL_NONE = 0
RES_DIAL_RINGING = 3
RES_DIAL_ANSWERED = 4
RES_DIAL_BUSY = 5
RES_DIAL_CONGESTION = 8
RES_DIAL = {
    0: "No dial result event received yet",
    1: "Other end has hungup",
    2: "Local ring",
    3: "Remote end is ringing",
    4: "Remote end has answered",
    5: "Remote end is busy",
    6: "Make it go off hook",
    7: "Line is off hook",
    8: "Congestion (circuits busy)",
    9: "Flash hook",
    10: "Wink",
    11: "Set a low-level option",
    12: "Key Radio",
    13: "Un-Key Radio",
    14: "Indicate PROGRESS",
    15: "Indicate CALL PROCEEDING",
    16: "Indicate call is placed on hold",
    17: "Indicate call is left from hold",
    18: "Indicate video frame update",
    19: "T38 state change request/notification (deprecated; use AST_CONTROL_T38_PARAMETERS)",
    20: "Indicate source of media has changed",
    21: "Indicate status of a transfer request",
    22: "Indicate connected line has changed",
    23: "Indicate redirecting id has changed",
    24: "T38 state change request/notification with parameters",
    25: "Indication that Call completion service is possible",
    26: "Media source has changed and requires a new RTP SSRC",
    27: "Tell ast_read to take a specific action",
    28: "Advice of Charge with encoded generic AOC payload",
    29: "Indicate that this position was the end of the channel queue for a softhangup",
    30: "Indication that the extension dialed is incomplete",
    31: "Indicate that the caller is being malicious",
    32: "Interrupt the bridge and have it update the peer",
    33: "Contains an update to the protocol-specific cause-code stored for branching dials",
    34: "A masquerade is about to begin/end (never sent as a frame)",
    1000: "Playback: stop the stream",
    1001: "Playback: suspend the stream",
    1002: "Playback: restart the stream",
    1003: "Playback: rewind",
    1004: "Playback: fast forward",
    1100: "Record: stop and discard the file",
    1101: "Record: stop recording",
    1102: "Record: suspend/unsuspend recording",
    1103: "Record: mute/unmute (write silence)",
}

# DialEnd's DialStatus, for a dialing whose OriginateResponse never reached us (it was sent on a
# connection that died): the same AST_CONTROL_* Asterisk would have put in Reason.
DIAL_STATUS_TO_RES_DIAL = {
    "ANSWER": RES_DIAL_ANSWERED,
    "BUSY": RES_DIAL_BUSY,
    "NOANSWER": RES_DIAL_RINGING,
    "CONGESTION": RES_DIAL_CONGESTION,
    "CHANUNAVAIL": RES_DIAL_CONGESTION,
}


def res_dial_detail(code: int) -> str:
    return RES_DIAL.get(code, f"Unknown dial result {code}")
