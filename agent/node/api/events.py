"""GET events?token=: the server-sent event stream of one participant."""

from __future__ import annotations

import time

from aiohttp import web

from ..context import NODE
from ..events import KEEPALIVE, format_sse
from .paths import PREFIX


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
