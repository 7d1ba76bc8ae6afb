"""Live captions from a scripted feed (the node has no speech recognition).

A feed is a list of lines, each `after` seconds after the previous one; each goes out as a
`live_captions` event to the participants of the conference (or breakout room) who asked
for captions with `show_live_captions`. A line may name its speakers' UUIDs (`sources`).
The control API starts a feed (`POST /_node/conferences/<name>/captions`); a new feed
replaces the conference's running one.
"""

from __future__ import annotations

import asyncio
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from . import limits
from .state import ConferenceState

__all__ = ["CaptionFeed", "CaptionLine", "publish_caption", "run_feed"]


class CaptionLine(BaseModel):
    model_config = ConfigDict(extra="forbid")

    text: str = Field(max_length=limits.MESSAGE)
    is_final: bool = True
    after: float = Field(default=0.5, ge=0, le=3600)
    speakers: list[str] = Field(default_factory=list, max_length=16)
    src_lang: str | None = Field(default=None, max_length=limits.SHORT)
    tgt_lang: str | None = Field(default=None, max_length=limits.SHORT)


class CaptionFeed(BaseModel):
    model_config = ConfigDict(extra="forbid")

    lines: list[CaptionLine] = Field(min_length=1, max_length=10_000)


def publish_caption(conference: ConferenceState, line: CaptionLine) -> int:
    """One line to everyone showing captions; returns how many got it."""
    data: dict[str, Any] = {"data": line.text, "is_final": line.is_final}
    if line.src_lang is not None:
        data["src_lang"] = line.src_lang
    if line.tgt_lang is not None:
        data["tgt_lang"] = line.tgt_lang
    if line.speakers:
        data["sources"] = [
            {"participant_uuid": uuid, "indices": [0, len(line.text)]} for uuid in line.speakers
        ]
    viewers = [p.uuid for p in conference.participants.values() if p.show_live_captions]
    if viewers:
        conference.events.publish("live_captions", data, to=viewers)
    return len(viewers)


async def run_feed(conference: ConferenceState, feed: CaptionFeed) -> None:
    for line in feed.lines:
        await asyncio.sleep(line.after)
        publish_caption(conference, line)
