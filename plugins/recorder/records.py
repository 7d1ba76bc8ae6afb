"""Bot items -> plain timeline records (cheap: runs on the event loop inside the hook)."""

from __future__ import annotations

from typing import Any

from agent import (
    Changed,
    Disconnect,
    Gap,
    Joined,
    Left,
    MessageReceived,
    Moved,
    PluginEvent,
    PresentationEnded,
    PresentationStart,
    PresentationStop,
    Stage,
    StateChanged,
)

#: Participant fields worth a timeline line when they change (with their new value).
_INTERESTING = (
    "display_name",
    "role",
    "is_muted",
    "is_presenting",
    "is_video_muted",
    "is_client_muted",
    "spotlight",
    "service_type",
)


def record_for(item: object, at: float) -> dict[str, Any] | None:
    """The timeline record of a bot item, stamped `at` (the bot's clock, now) unless the item
    carries its own time; None for items the timeline does not keep."""
    if isinstance(item, Joined | Left):
        p = item.participant
        kind = "joined" if isinstance(item, Joined) else "left"
        return {"type": kind, "at": at, "uuid": p.uuid, "name": p.display_name, "role": p.role}
    if isinstance(item, Changed):
        p = item.after
        fields = sorted(item.fields)
        values = {f: getattr(p, f, None) for f in fields if f in _INTERESTING}
        if not values:
            return None
        return {"type": "changed", "at": at, "uuid": p.uuid, "name": p.display_name, **values}
    if isinstance(item, Stage):
        speaking = [s.participant_uuid for s in item.speakers if s.speaking]
        return {"type": "stage", "at": at, "speaking": speaking}
    if isinstance(item, MessageReceived):
        return {
            "type": "chat",
            "at": at,
            "uuid": item.uuid,
            "from": item.origin,
            "text": item.payload if item.is_text else None,
            "message_type": item.type,
            "direct": bool(item.direct),
        }
    if isinstance(item, PresentationStart):
        if item.revoked:
            return {"type": "presentation_stop", "at": at, "revoked": True}
        return {
            "type": "presentation_start",
            "at": at,
            "uuid": item.presenter_uuid,
            "name": item.presenter_name,
        }
    if isinstance(item, PresentationStop | PresentationEnded):
        return {"type": "presentation_stop", "at": at}
    if isinstance(item, StateChanged):
        return {
            "type": "state",
            "at": item.at,
            "old": str(item.old),
            "new": str(item.new),
            "reason": None if item.reason is None else str(item.reason),
            "detail": item.detail,
        }
    if isinstance(item, Gap):
        return {
            "type": "gap",
            "at": item.start,
            "kind": item.kind,
            "cause": item.cause,
            "start": item.start,
            "end": item.end,
            "seconds": round(item.end - item.start, 3),
        }
    if isinstance(item, PluginEvent):
        # What another plugin did (the chat's commands and their outcomes), as it said it.
        return {
            "type": "plugin_event",
            "at": at,
            "plugin": item.plugin,
            "kind": item.kind,
            "data": dict(item.data),
        }
    if isinstance(item, Disconnect):
        return {"type": "disconnect", "at": at, "reason": item.reason}
    if isinstance(item, Moved):
        # Where the recording goes on from (the writer starts new files there).
        return {
            "type": "moved",
            "at": item.at,
            "to": item.kind,
            "room": item.room,
            "conference": item.conference,
            "alias": item.alias,
            "since": item.started,
        }
    return None
