"""State changes shared by the client API handlers and the management API commands.

Each function changes the in-memory conference state and publishes the events a real node
sends for it, so a host's `mute` over the client API and an administrator's
`command/v1/participant/mute/` are one code path.
"""

from __future__ import annotations

from typing import Literal

from .context import NodeContext
from .state import ConferenceState, JoinRole, ParticipantRole, ParticipantState, new_uuid

__all__ = ["JoinRole"]
ReferTarget = Literal["main", "breakout", "conference"]


def set_muted(conference: ConferenceState, participant: ParticipantState, muted: bool) -> None:
    if participant.is_muted != muted:
        participant.is_muted = muted
        conference.publish_participant(participant, "participant_update")


def set_role(
    conference: ConferenceState, participant: ParticipantState, role: ParticipantRole
) -> None:
    if participant.role != role:
        participant.role = role
        conference.publish_participant(participant, "participant_update")


def lock(conference: ConferenceState) -> None:
    if not conference.locked:
        conference.locked = True
        conference.publish_status()


def unlock(ctx: NodeContext, conference: ConferenceState) -> None:
    """Unlock; everyone in the waiting room is let in."""
    if conference.locked:
        conference.locked = False
        conference.publish_status()
    for participant in list(conference.participants.values()):
        ctx.admit(conference, participant)


def set_guests_muted(conference: ConferenceState, muted: bool) -> None:
    conference.guests_muted = muted
    for participant in conference.participants.values():
        if not participant.is_host and participant.is_muted != muted:
            participant.is_muted = muted
            conference.publish_participant(participant, "participant_update")
    conference.publish_status()


def transform_layout(
    conference: ConferenceState,
    layout: str | None,
    host_layout: str | None = None,
    guest_layout: str | None = None,
) -> None:
    chosen = layout or host_layout or conference.layout
    conference.layout = chosen
    conference.events.publish(
        "layout",
        {
            "view": chosen,
            "participants": list(conference.participants),
            "requested_layout": {
                "primary_screen": {
                    "chair_layout": host_layout or chosen,
                    "guest_layout": guest_layout or chosen,
                }
            },
        },
    )


async def disconnect_all(ctx: NodeContext, conference: ConferenceState, reason: str) -> None:
    for participant_uuid in list(conference.participants):
        await ctx.remove_participant(conference, participant_uuid, reason)


async def transfer(
    ctx: NodeContext,
    conference: ConferenceState,
    participant: ParticipantState,
    alias: str,
    role: JoinRole,
) -> bool:
    """Move a participant to the conference of `alias` (PIN bypassed). False if there is no
    such conference."""
    destination = ctx.state.by_alias(alias)
    if destination is None or destination.service.kind == "reception":
        return False
    await refer(ctx, conference, participant, destination, role, target="conference")
    return True


async def refer(
    ctx: NodeContext,
    source: ConferenceState,
    participant: ParticipantState,
    destination: ConferenceState,
    role: JoinRole,
    *,
    target: ReferTarget,
) -> None:
    """Move a participant from `source` to `destination` (a conference or a breakout room).

    A client-API participant gets a `refer` with a one-time join token, like on a real node,
    and re-joins with it (on the main room's alias for a breakout room); a dialled
    participant (no client of its own) is moved by the node.
    """
    if participant.dialled:
        await ctx.remove_participant(source, participant.uuid, None)
        moved = ParticipantState(
            uuid=new_uuid(),
            display_name=participant.display_name,
            role="chair" if role == "HOST" else "guest",
            service_type="lecture" if destination.service.kind == "lecture" else "conference",
            protocol=participant.protocol,
            call_direction=participant.call_direction,
            uri=participant.uri,
            dialled=True,
        )
        ctx.add_participant(destination, moved)
        return
    data: dict[str, str] = {
        "alias": destination.alias,
        "token": ctx.state.add_refer(destination, role),
        "target": target,
    }
    if destination.room is not None:
        data["breakout_name"] = destination.room.name
    source.events.publish("refer", data, to=(participant.uuid,))
    await ctx.remove_participant(source, participant.uuid, None)
