"""GET events?token=: the server-sent event stream of one participant."""

from __future__ import annotations

import time
from typing import Any

from aiohttp import web

from .. import breakouts
from ..context import NODE, NodeContext
from ..events import KEEPALIVE, format_sse
from ..state import ConferenceState, ParticipantState
from .paths import PREFIX

#: The theme's screen a guest waiting for the host is shown (`splash_screen`).
WAITING_FOR_HOST = "direct_media_waiting_for_host"


def on_connect(
    ctx: NodeContext, conference: ConferenceState, participant: ParticipantState
) -> list[tuple[str, Any]]:
    """What a (re)connected stream gets after the participant list: a guest waiting for the
    host is on hold with its splash screen; a main-room host gets the breakout rooms."""
    events: list[tuple[str, Any]] = []
    if participant.waiting and conference.waits_for_host:
        events.append(("on_hold", True))
        events.append(("splash_screen", {"screen_key": WAITING_FOR_HOST, "display_duration": 0}))
    return events + breakouts.host_sync(ctx, conference, participant)


async def events(request: web.Request) -> web.StreamResponse:
    ctx = request.app[NODE]
    auth = ctx.authenticate(request)
    conference = auth.conference
    hub = conference.events
    faults = ctx.faults.config
    limit = faults.drop_events_after
    deadline = (
        None
        if faults.drop_events_after_seconds is None
        else time.monotonic() + faults.drop_events_after_seconds
    )
    # Subscribe before taking the snapshot: nothing can slip between sync and live events
    # (there is no await in between).
    sub = hub.subscribe(auth.participant.uuid)
    sync = [hub.make_event("participant_sync_begin", None)]
    sync += [hub.make_event("participant_create", p) for p in conference.participant_dicts()]
    sync.append(hub.make_event("participant_sync_end", None))
    sync += [hub.make_event(n, d) for n, d in on_connect(ctx, conference, auth.participant)]

    response = web.StreamResponse(
        headers={
            "Content-Type": "text/event-stream",
            "Cache-Control": "no-cache",
            "X-Accel-Buffering": "no",
        }
    )
    sent = 0
    try:
        await response.prepare(request)
        for event in sync:
            await response.write(format_sse(event))
            sent += 1
            if limit is not None and sent >= limit:
                return response
        while not ctx.closing:
            timeout = ctx.config.event_keepalive
            if deadline is not None:
                timeout = min(timeout, max(deadline - time.monotonic(), 0.0))
            try:
                live = await sub.get(timeout)
            except TimeoutError:
                if deadline is not None and time.monotonic() >= deadline:
                    break
                await response.write(KEEPALIVE)
                continue
            if live is None:
                break
            await response.write(format_sse(live))
            sent += 1
            if limit is not None and sent >= limit:
                break
    except ConnectionResetError:
        pass  # the client went away: nothing left to tell it
    finally:
        hub.unsubscribe(sub)
    return response


def add_routes(app: web.Application) -> None:
    app.router.add_get(PREFIX + "/events", events, name="events")
