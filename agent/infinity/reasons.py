"""Pexip reason strings mapped to stable codes (the web SDK's `#pexNNN` codes).

A bot reports *why* it failed or was disconnected as a code that does not change when Pexip
rewords a message; the original string is kept next to it.
"""

from __future__ import annotations

from enum import StrEnum


class ReasonCode(StrEnum):
    """A stable code for a Pexip reason string; unknown strings are `UNKNOWN` (#pex117)."""

    INVALID_ROLE = "pex100"
    INVALID_PIN = "pex101"
    OUT_OF_PROXYING_RESOURCE = "pex109"
    MAINTENANCE_MODE = "pex110"
    BAD_GATEWAY = "pex111"
    SERVICE_UNAVAILABLE = "pex112"
    INVALID_TOKEN = "pex113"
    OUT_OF_RESOURCE = "pex114"
    TRANSFER_FAILED = "pex115"
    UNEXPECTED_RESPONSE_503 = "pex116"
    UNKNOWN = "pex117"
    FAILED_TO_FORWARD = "pex119"
    HOST_ENDED_BY_DTMF = "pex120"
    API_CONFERENCE_TERMINATION = "pex121"
    API_PARTICIPANT_DISCONNECT = "pex122"
    DISCONNECTED_BY_ADMIN = "pex123"
    DISCONNECTED_BY_PARTICIPANT = "pex124"
    TERMINATED_BY_PARTICIPANT = "pex125"
    WAITING_ROOM_TIMEOUT = "pex126"
    DISABLED = "pex127"
    WEBRTC_FAILED = "pex128"
    SIGNALING_NODE_DISCONNECTED = "pex129"
    MEDIA_PROCESS_DISCONNECTED = "pex130"
    MEDIA_NODE_DISCONNECTED = "pex131"
    PROXIED_PARTICIPANT_DISCONNECTED = "pex132"
    NO_PARTICIPANTS_KEEP_ALIVE = "pex140"
    ALL_HOSTS_DEPARTED = "pex141"
    LAST_PARTICIPANT_TIMEOUT = "pex142"
    TEST_CALL_FINISHED = "pex143"
    CALL_REJECTED = "pex150"
    CALL_DISCONNECTED = "pex151"
    GATEWAY_DIAL_OUT_FAILED = "pex152"
    INVALID_GATEWAY_RULE = "pex153"
    CONFERENCE_NOT_FOUND = "pex154"
    NO_EDGE_ROUTE = "pex156"
    NOT_FOUND = "pex157"
    RESOURCE_UNAVAILABLE = "pex191"
    PIN_RETRIES_EXCEEDED = "pex192"
    INVALID_LICENSE = "pex193"
    PARTICIPANT_LIMIT = "pex194"
    INSUFFICIENT_LICENSES = "pex195"
    ICE_FAILURE = "pex196"
    TELEHEALTH_FAILURE = "pex197"
    SSO_FAILED = "pex200"
    SSO_NO_IDP = "pex201"
    SSO_MAINTENANCE = "pex203"
    SSO_DOMAIN = "pex204"
    TRANSFER_MULTIPARTY_FAILED = "pex210"
    TRANSFER_ONE_TO_ONE_FAILED = "pex211"
    # Not an SDK code: the SDK folds this into pex117, a bot wants to tell it apart.
    EXTENSION_NOT_FOUND = "extension_not_found"


_BY_TEXT: dict[str, ReasonCode] = {
    "invalid role": ReasonCode.INVALID_ROLE,
    "invalid pin": ReasonCode.INVALID_PIN,
    "out of proxying resource": ReasonCode.OUT_OF_PROXYING_RESOURCE,
    "system in maintenance mode": ReasonCode.MAINTENANCE_MODE,
    "502 bad gateway": ReasonCode.BAD_GATEWAY,
    "503 service unavailable": ReasonCode.SERVICE_UNAVAILABLE,
    "invalid token": ReasonCode.INVALID_TOKEN,
    "timer expired awaiting token refresh": ReasonCode.INVALID_TOKEN,
    "out of resource": ReasonCode.OUT_OF_RESOURCE,
    "out of transcoding resource": ReasonCode.OUT_OF_RESOURCE,
    "transfer failed": ReasonCode.TRANSFER_FAILED,
    "unexpected response: 503": ReasonCode.UNEXPECTED_RESPONSE_503,
    "failed to forward request": ReasonCode.FAILED_TO_FORWARD,
    "conference host ended the conference with a dtmf command": ReasonCode.HOST_ENDED_BY_DTMF,
    "api initiated conference termination": ReasonCode.API_CONFERENCE_TERMINATION,
    "api initiated participant disconnect": ReasonCode.API_PARTICIPANT_DISCONNECT,
    "conference terminated by an administrator": ReasonCode.API_PARTICIPANT_DISCONNECT,
    "disconnected by an administrator": ReasonCode.DISCONNECTED_BY_ADMIN,
    "disconnected by another participant": ReasonCode.DISCONNECTED_BY_PARTICIPANT,
    "conference terminated by another participant": ReasonCode.TERMINATED_BY_PARTICIPANT,
    "timeout waiting for conference host to join or permit access to locked conference": (
        ReasonCode.WAITING_ROOM_TIMEOUT
    ),
    "disabled": ReasonCode.DISABLED,
    "signaling node disconnected": ReasonCode.SIGNALING_NODE_DISCONNECTED,
    "media process disconnected": ReasonCode.MEDIA_PROCESS_DISCONNECTED,
    "media node disconnected": ReasonCode.MEDIA_NODE_DISCONNECTED,
    "proxied participant disconnected": ReasonCode.PROXIED_PARTICIPANT_DISCONNECTED,
    "no participants can keep conference alive": ReasonCode.NO_PARTICIPANTS_KEEP_ALIVE,
    "all conference hosts departed hosted conference": ReasonCode.ALL_HOSTS_DEPARTED,
    "last remaining participant removed from conference after timeout": (
        ReasonCode.LAST_PARTICIPANT_TIMEOUT
    ),
    "test call finished": ReasonCode.TEST_CALL_FINISHED,
    "call rejected": ReasonCode.CALL_REJECTED,
    "call disconnected": ReasonCode.CALL_DISCONNECTED,
    "gateway dial out failed": ReasonCode.GATEWAY_DIAL_OUT_FAILED,
    "invalid gateway routing rule transform": ReasonCode.INVALID_GATEWAY_RULE,
    "neither conference nor gateway found": ReasonCode.CONFERENCE_NOT_FOUND,
    "no direct route between edge and transcoding": ReasonCode.NO_EDGE_ROUTE,
    "404 not found": ReasonCode.NOT_FOUND,
    "resource unavailable": ReasonCode.RESOURCE_UNAVAILABLE,
    "participant exceeded pin entry retries": ReasonCode.PIN_RETRIES_EXCEEDED,
    "invalid license": ReasonCode.INVALID_LICENSE,
    "participant limit reached": ReasonCode.PARTICIPANT_LIMIT,
    "insufficient licenses": ReasonCode.INSUFFICIENT_LICENSES,
    "ice failure": ReasonCode.ICE_FAILURE,
    "telehealth call failure": ReasonCode.TELEHEALTH_FAILURE,
    "sso authentication failed": ReasonCode.SSO_FAILED,
    "sso enabled but no identity providers configured": ReasonCode.SSO_NO_IDP,
    "failed to transfer into a multi-party conference": ReasonCode.TRANSFER_MULTIPARTY_FAILED,
    "failed to transfer into a one-to-one conference": ReasonCode.TRANSFER_ONE_TO_ONE_FAILED,
    "conference extension not found": ReasonCode.EXTENSION_NOT_FOUND,
}


def reason_code(text: str) -> ReasonCode:
    """The stable code for a Pexip reason string; `UNKNOWN` (pex117) when not known."""
    key = text.strip().rstrip(".").lower()
    code = _BY_TEXT.get(key)
    if code is not None:
        return code
    if key.startswith("sso") and "maintenance" in key:
        return ReasonCode.SSO_MAINTENANCE
    if key.startswith("sso") and "domain" in key:
        return ReasonCode.SSO_DOMAIN
    return ReasonCode.UNKNOWN
