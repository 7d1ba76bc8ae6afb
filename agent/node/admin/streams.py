"""Where the management API gets media-stream figures: the one lookup to switch if the
media plane's statistics move (today `media_stats.media_stats`, aiortc `getStats()` of the
node's peers)."""

from __future__ import annotations

from typing import Any

from ..media_stats import media_stats
from ..state import CallState, ParticipantState


async def call_streams(call: CallState) -> list[dict[str, Any]]:
    """Per-stream figures of one call (see `media_stats` for the keys); [] without a peer."""
    return await media_stats(call)


async def participant_streams(participant: ParticipantState) -> list[dict[str, Any]]:
    streams: list[dict[str, Any]] = []
    for call in list(participant.calls.values()):
        streams.extend(await call_streams(call))
    return streams
