"""Hangup causes: Q.850 numbers, Asterisk's names and texts, and the seed's result wording.

Asterisk puts the number in `Cause` and its own text in `Cause-txt` (`ast_cause2str`). The read
models show that text as `hangup_cause_desc` (the seed's example: 127 -> "Interworking,
unspecified"); the table below gives it when an event carries only the number. The seed's
`res_hangup` table (section 5.7) words some causes differently; `seed_text` keeps that wording for
the dialer's result file, typos included.
"""

from __future__ import annotations

# cause -> (Asterisk AST_CAUSE_* name without the prefix, ast_cause2str text)
CAUSES: dict[int, tuple[str, str]] = {
    1: ("UNALLOCATED", "Unallocated (unassigned) number"),
    2: ("NO_ROUTE_TRANSIT_NET", "No route to specified transmit network"),
    3: ("NO_ROUTE_DESTINATION", "No route to destination"),
    5: ("MISDIALLED_TRUNK_PREFIX", "Misdialed trunk prefix"),
    6: ("CHANNEL_UNACCEPTABLE", "Channel unacceptable"),
    7: ("CALL_AWARDED_DELIVERED", "Call awarded and being delivered in an established channel"),
    8: ("PRE_EMPTED", "Pre-empted"),
    14: ("NUMBER_PORTED_NOT_HERE", "Number ported elsewhere"),
    16: ("NORMAL_CLEARING", "Normal Clearing"),
    17: ("USER_BUSY", "User busy"),
    18: ("NO_USER_RESPONSE", "No user responding"),
    19: ("NO_ANSWER", "User alerting, no answer"),
    20: ("SUBSCRIBER_ABSENT", "Subscriber absent"),
    21: ("CALL_REJECTED", "Call Rejected"),
    22: ("NUMBER_CHANGED", "Number changed"),
    23: ("REDIRECTED_TO_NEW_DESTINATION", "Redirected to new destination"),
    26: ("ANSWERED_ELSEWHERE", "Answered elsewhere"),
    27: ("DESTINATION_OUT_OF_ORDER", "Destination out of order"),
    28: ("INVALID_NUMBER_FORMAT", "Invalid number format"),
    29: ("FACILITY_REJECTED", "Facility rejected"),
    30: ("RESPONSE_TO_STATUS_ENQUIRY", "Response to STATus ENQuiry"),
    31: ("NORMAL_UNSPECIFIED", "Normal, unspecified"),
    34: ("NORMAL_CIRCUIT_CONGESTION", "Circuit/channel congestion"),
    38: ("NETWORK_OUT_OF_ORDER", "Network out of order"),
    41: ("NORMAL_TEMPORARY_FAILURE", "Temporary failure"),
    42: ("SWITCH_CONGESTION", "Switching equipment congestion"),
    43: ("ACCESS_INFO_DISCARDED", "Access information discarded"),
    44: ("REQUESTED_CHAN_UNAVAIL", "Requested channel not available"),
    50: ("FACILITY_NOT_SUBSCRIBED", "Facility not subscribed"),
    52: ("OUTGOING_CALL_BARRED", "Outgoing call barred"),
    54: ("INCOMING_CALL_BARRED", "Incoming call barred"),
    57: ("BEARERCAPABILITY_NOTAUTH", "Bearer capability not authorized"),
    58: ("BEARERCAPABILITY_NOTAVAIL", "Bearer capability not available"),
    65: ("BEARERCAPABILITY_NOTIMPL", "Bearer capability not implemented"),
    66: ("CHAN_NOT_IMPLEMENTED", "Channel not implemented"),
    69: ("FACILITY_NOT_IMPLEMENTED", "Facility not implemented"),
    81: ("INVALID_CALL_REFERENCE", "Invalid call reference value"),
    88: ("INCOMPATIBLE_DESTINATION", "Incompatible destination"),
    95: ("INVALID_MSG_UNSPECIFIED", "Invalid message unspecified"),
    96: ("MANDATORY_IE_MISSING", "Mandatory information element is missing"),
    97: ("MESSAGE_TYPE_NONEXIST", "Message type nonexist."),
    98: ("WRONG_MESSAGE", "Wrong message"),
    99: ("IE_NONEXIST", "Info. element nonexist or not implemented"),
    100: ("INVALID_IE_CONTENTS", "Invalid information element contents"),
    101: ("WRONG_CALL_STATE", "Message not compatible with call state"),
    102: ("RECOVERY_ON_TIMER_EXPIRE", "Recover on timer expiry"),
    103: ("MANDATORY_IE_LENGTH_ERROR", "Mandatory IE length error"),
    111: ("PROTOCOL_ERROR", "Protocol error, unspecified"),
    127: ("INTERWORKING", "Interworking, unspecified"),
}

# The seed's res_hangup wording (section 5.7), verbatim.
SEED_TEXT: dict[int, str] = {
    0: "No hangup event received yet", 1: "Unallocated", 2: "No route trasit network",
    3: "No route destination", 5: "Mis dialled trunk prefix", 6: "Channel unacceptable",
    7: "Call awarded delivered", 8: "Pre empted", 14: "Number ported not here",
    16: "Normal clearing", 17: "User busy", 18: "No user response", 19: "No answer",
    20: "Subscriber absent", 21: "Call rejected", 22: "Number changed",
    23: "Redirected to new destination", 26: "Answered eleswhere", 27: "Destination out of order",
    28: "Invalid number format", 29: "Facility rejected", 30: "Response to status enquiry",
    31: "Normal unspecified", 34: "Normal circuit congestion", 38: "Network out of order",
    41: "Normal temporary failure", 42: "Switch congestion", 43: "Access info discarded",
    44: "Requested chan unavail", 50: "Facility not subscribed", 52: "Outgoing call barred",
    54: "Incoming call barred", 57: "Bearer capability not auth",
    58: "Bearer capability not available", 65: "Bearer capability not implemented",
    66: "Channel not implemented", 69: "Facility not implemented", 81: "Invalid call reference",
    88: "Incompatible destination", 95: "Invalid message unspecified",
    96: "Madatory item missing", 97: "Message type nonexist", 98: "Wrong message",
    99: "Item nonexist", 100: "Invalid item contents", 101: "Wrong call state",
    102: "Recovery on timer expire", 103: "Mandatory item length error", 111: "Protocol error",
    127: "Internetwroking",
}

UNKNOWN = "Unknown"  # what ast_cause2str answers for a number it has no entry for (0 included)


def cause_desc(cause: int | None) -> str | None:
    """Asterisk's text for a cause, as `Cause-txt` would carry it; None when there is no cause."""
    if cause is None:
        return None
    entry = CAUSES.get(cause)
    return entry[1] if entry else UNKNOWN


def cause_name(cause: int | None) -> str | None:
    """The symbolic name (`NORMAL_CLEARING`), as dialplan's HANGUPCAUSE tables use it."""
    if cause is None:
        return None
    entry = CAUSES.get(cause)
    return entry[0] if entry else None


def seed_text(cause: int | None) -> str | None:
    """The seed's `res_hangup_detail` wording; falls back to Asterisk's text."""
    if cause is None:
        return None
    return SEED_TEXT.get(cause) or cause_desc(cause)

