"""Breakout rooms on the node's state: open, move participants, close, mirror to the hosts.

A breakout room is a conference of its own (`ConferenceState` with `parent` and `room`
set, registered in `NodeState.conferences` under a name of its own): its own participant
list, event hub, status, layout and media mix (the mixer is per conference), reached through
the main room's alias. What the rooms look like to clients follows Pexip's web SDK:

- A main-room host keeps its token and stream. For every room it gets `breakout_begin`
  (with its own participant UUID in the room, `RoomSettings.shadows`), the room's events
  wrapped in `breakout_event` (`MIRRORED`), and `breakout_end` when the room closes. It
  joins a room by placing a call there (`breakouts/<room>/participants/<its uuid>/calls`);
  moving a host only asks it to, with `breakout_refer` (`breakout_uuid` `main` when its
  participant in a room is moved out, e.g. by `breakouts/empty`: its call goes back).
- Everyone else is moved with `refer` (`target` `breakout` or `main`, a one-time token for
  the main alias): its client re-joins, so its media really moves to the room's mix.
- A room closes when a host closes it or its `duration` ends: its participants go back to
  the main room (`end_action` `transfer`, the default) or are disconnected.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Collection, Iterable
from typing import Any

from agent.infinity.models.breakout import BreakoutsBody
from agent.infinity.models.events.breakouts import MAIN_ROOM

from . import actions
from .context import NodeContext
from .events import Event
from .http import ApiError
from .state import ConferenceState, JoinRole, ParticipantState, RoomSettings, new_uuid

__all__ = [
    "MIRRORED",
    "ROOM_CLOSED",
    "broadcast",
    "close",
    "close_all",
    "create",
    "empty",
    "host_sync",
    "leave",
    "move",
    "set_buzz",
]

log = logging.getLogger(__name__)

#: Room events the main room's hosts get as `breakout_event` (what Pexip's SDK handles).
MIRRORED = frozenset(
    {
        "participant_sync_begin",
        "participant_create",
        "participant_update",
        "participant_delete",
        "participant_sync_end",
        "message_received",
        "conference_update",
        "presentation_start",
        "presentation_stop",
        "live_captions",
    }
)
#: The `disconnect` reason when a room with `end_action = "disconnect"` closes.
ROOM_CLOSED = "Breakout room closed"


def _role(participant: ParticipantState) -> JoinRole:
    return "HOST" if participant.is_host else "GUEST"


def _wrap(room: ConferenceState, name: str, data: Any) -> dict[str, Any]:
    assert room.room is not None
    return {"breakout_uuid": room.room.uuid, "event": name, "data": data}


def _mirror(room: ConferenceState) -> Any:
    """The room hub's observer: its broadcasts, copied to the main room's hosts."""

    def observe(event: Event, to: Collection[str] | None) -> None:
        main = room.main
        if to is None and event.name in MIRRORED and room.room is not None:
            main.events.publish(
                "breakout_event", _wrap(room, event.name, event.data), to=main.hosts()
            )

    return observe


def _room_sync(room: ConferenceState, shadow: ParticipantState) -> list[tuple[str, Any]]:
    """What a host's stream carries about one room: begin, its list, its status."""
    assert room.room is not None
    events: list[tuple[str, Any]] = [
        ("breakout_begin", {"breakout_uuid": room.room.uuid, "participant_uuid": shadow.uuid}),
        ("breakout_event", _wrap(room, "participant_sync_begin", None)),
    ]
    events += [
        ("breakout_event", _wrap(room, "participant_create", p)) for p in room.participant_dicts()
    ]
    events.append(("breakout_event", _wrap(room, "participant_sync_end", None)))
    events.append(("breakout_event", _wrap(room, "conference_update", room.status())))
    return events


def host_sync(
    ctx: NodeContext, conference: ConferenceState, participant: ParticipantState
) -> list[tuple[str, Any]]:
    """The breakout events a main-room host's (re)connected stream starts with."""
    if conference.room is not None or not participant.is_host or participant.waiting:
        return []
    events: list[tuple[str, Any]] = []
    for room in conference.breakouts.values():
        events += _room_sync(room, ctx.shadow(room, participant))
    return events


def _announce(ctx: NodeContext, room: ConferenceState) -> None:
    """Tell every main-room host about a new room (each with its own UUID in it)."""
    main = room.main
    for host_uuid in main.hosts():
        shadow = ctx.shadow(room, main.participants[host_uuid])
        for name, data in _room_sync(room, shadow):
            main.events.publish(name, data, to=(host_uuid,))


async def create(
    ctx: NodeContext, main: ConferenceState, body: BreakoutsBody, requester: str
) -> ConferenceState:
    """Open a room (moving `body.participants` in) and announce it to the hosts."""
    uuid = new_uuid()
    duration = body.duration or None
    settings = RoomSettings(
        uuid=uuid,
        name=body.name,
        description=body.description or "",
        end_action=body.end_action or "transfer",
        guests_allowed_to_leave=bool(body.guests_allowed_to_leave),
        end_time=None if duration is None else time.time() + duration,
    )
    # The room's own service: the main room's settings, open (no lock, no host wait).
    service = main.service.model_copy(
        update={
            "name": f"{main.name}/breakout/{uuid}",
            "locked": False,
            "host_wait": False,
            "participant_limit": None,
        }
    )
    room = ConferenceState.from_service(service)
    room.parent, room.room = main, settings
    room.events.observers.append(_mirror(room))
    ctx.state.conferences[service.name] = room
    main.breakouts[uuid] = room
    _announce(ctx, room)
    if duration is not None:
        settings.timer = ctx.spawn(_expire(ctx, room, duration), f"breakout-timer-{uuid}")
    main.publish_status()
    for source_id, uuids in (body.participants or {}).items():
        await move(ctx, _room(main, source_id), uuids, room, requester)
    log.info("breakout room %r opened in %s", body.name, main.name)
    return room


def _room(main: ConferenceState, room_id: str) -> ConferenceState:
    """The main room (`"main"` or `""`) or one of its breakout rooms by UUID."""
    if room_id in (MAIN_ROOM, ""):
        return main
    room = main.breakouts.get(room_id)
    if room is None:
        raise ApiError(403, f"Breakout room not found: {room_id}")
    return room


async def _expire(ctx: NodeContext, room: ConferenceState, duration: float) -> None:
    await asyncio.sleep(duration)
    await close(ctx, room)


async def move(
    ctx: NodeContext,
    source: ConferenceState,
    uuids: Iterable[str],
    destination: ConferenceState | str,
    requester: str,
) -> None:
    """Move participants of `source` to `destination` (a room, the main room, or a room id).

    Raises ApiError(403) naming the first participant that is not in `source` (before
    anyone moves)."""
    main = source.main
    dest = _room(main, destination) if isinstance(destination, str) else destination
    found = []
    for uuid in uuids:
        participant = source.participants.get(uuid)
        if participant is None:
            raise ApiError(403, f"Participant not found: {uuid}")
        found.append(participant)
    for participant in found:
        if source.room is not None and source.room.is_shadow(participant):
            # A host's own participant leaves the room; it is asked to join the next one.
            await ctx.remove_participant(source, participant.uuid, None)
            host = next(h for h, s in source.room.shadows.items() if s is participant)
            _ask_host(main, host, dest, requester)
        elif dest is source:
            continue
        elif participant.is_host and source.room is None:
            # Hosts keep their main token and join rooms themselves (Pexip's SDK).
            _ask_host(main, participant.uuid, dest, requester)
        else:
            target: actions.ReferTarget = "breakout" if dest.room is not None else "main"
            await actions.refer(ctx, source, participant, dest, _role(participant), target=target)


def _ask_host(main: ConferenceState, host_uuid: str, dest: ConferenceState, requester: str) -> None:
    """Ask a host to place its call in `dest`: a room, or (its participant in a room moved
    out, e.g. the rooms emptied) the main room, `breakout_uuid` `main`, where Pexip's SDK
    moves a host's call with the same `breakoutUuid` it joins rooms by."""
    uuid, name = (dest.room.uuid, dest.room.name) if dest.room is not None else (MAIN_ROOM, "")
    main.events.publish(
        "breakout_refer",
        {"breakout_uuid": uuid, "breakout_name": name, "requester_uuid": requester},
        to=(host_uuid,),
    )


async def close(ctx: NodeContext, room: ConferenceState) -> None:
    """Close a room: its participants go back to the main room or are disconnected (its
    `end_action`); the hosts get `breakout_end`."""
    settings, main = room.room, room.main
    if settings is None or main.breakouts.pop(settings.uuid, None) is None:
        return  # closed already
    timer, settings.timer = settings.timer, None
    if timer is not None and timer is not asyncio.current_task():
        timer.cancel()
    for participant in list(room.participants.values()):
        if settings.is_shadow(participant):
            await ctx.remove_participant(room, participant.uuid, None)
        elif settings.end_action == "disconnect":
            await ctx.remove_participant(room, participant.uuid, ROOM_CLOSED)
        else:
            await actions.refer(ctx, room, participant, main, _role(participant), target="main")
    for host_uuid, shadow in settings.shadows.items():
        main.events.publish(
            "breakout_end",
            {"breakout_uuid": settings.uuid, "participant_uuid": shadow.uuid},
            to=(host_uuid,),
        )
    room.events.close_all()
    ctx.state.conferences.pop(room.name, None)
    await ctx.media.forget(room)
    main.publish_status()
    log.info("breakout room %r closed in %s", settings.name, main.name)


async def close_all(ctx: NodeContext, main: ConferenceState) -> None:
    for room in list(main.breakouts.values()):
        await close(ctx, room)


async def empty(ctx: NodeContext, main: ConferenceState, requester: str) -> None:
    """Everyone in a room back to the main room; the rooms stay open."""
    for room in list(main.breakouts.values()):
        await move(ctx, room, list(room.participants), main, requester)


async def leave(ctx: NodeContext, room: ConferenceState, participant: ParticipantState) -> bool:
    """A guest inside a room goes back to the main room, if the room lets guests leave."""
    settings = room.room
    if settings is None or not (settings.guests_allowed_to_leave or participant.is_host):
        return False
    await actions.refer(ctx, room, participant, room.main, _role(participant), target="main")
    return True


def set_buzz(room: ConferenceState, on: bool) -> bool:
    """Someone in the room asks the main room's hosts for help (`breakoutbuzz` in the main
    room's status), or the request is withdrawn. False outside a breakout room."""
    if room.room is None:
        return False
    stamp = time.time() if on else 0.0
    if bool(room.room.buzz_time) != on:
        room.room.buzz_time = stamp
        room.main.publish_status()
    return True


def broadcast(main: ConferenceState, sender: ParticipantState, kind: str, payload: str) -> None:
    """A host's message to every breakout room."""
    for room in main.breakouts.values():
        room.events.publish(
            "message_received",
            {
                "origin": sender.display_name,
                "uuid": sender.uuid,
                "type": kind,
                "payload": payload,
                "direct": False,
            },
        )
