"""Host controls for plugins: what a moderator does, typed, refused locally for a guest.

Actions on other participants or on the whole conference need the host (chair) role; from
a bot that joined as a guest they raise `HostOnlyError` before any request is sent (the
node would refuse them anyway, and a clear local error beats a 403). What Infinity lets a
guest do to itself (mute, raise a hand, leave) stays allowed on the bot's own UUID. A
participant in a breakout room is acted on through that room's participant API.
"""

from __future__ import annotations

from typing import Literal

from ..infinity import ConferenceClient
from ..infinity.breakout_client import BreakoutParticipantClient
from ..infinity.client import ParticipantClient
from ..infinity.models import DialBody, LayoutTransforms
from ..infinity.models.conference import CallType
from .port import BotPort

__all__ = ["DialProtocol", "HostControls", "HostOnlyError"]

DialProtocol = Literal["sip", "h323", "rtmp", "mssip", "auto"]


class HostOnlyError(PermissionError):
    """The action needs the host (chair) role and the bot is a guest."""


class HostControls:
    """Mixed into `PluginContext`: every host control, each a single REST request."""

    _bot: BotPort

    def _conference(self) -> ConferenceClient:
        session = self._bot.session
        if session is None:
            raise RuntimeError("the bot is not in a conference (wait for the connected state)")
        return session.conference

    def _host(self, action: str, participant_uuid: str | None = None) -> ConferenceClient:
        """The conference client, if the bot may do `action` (to `participant_uuid`)."""
        acting_on_self = participant_uuid is not None and participant_uuid in self._bot.own_uuids
        if not self._bot.is_host and not acting_on_self:
            alias = self._bot.alias
            raise HostOnlyError(f"{action} needs the host role; the bot joined {alias} as guest")
        return self._conference()

    def _participant(
        self, action: str, participant_uuid: str, *, self_allowed: bool = False
    ) -> ParticipantClient | BreakoutParticipantClient:
        """The participant's client, if the bot may do `action` to it: through the breakout
        room it is in when it is in one (as Pexip's SDK acts on a room's participants), so
        a plugin acts on whom its `roster` and roster hooks show, wherever the call is."""
        conference = self._host(action, participant_uuid if self_allowed else None)
        if participant_uuid in self._bot.roster:
            return conference.participant(participant_uuid)
        for uuid, room in self._bot.rooms.rooms.items():
            if participant_uuid in room.roster:
                return conference.breakouts.room(uuid).participant(participant_uuid)
        return conference.participant(participant_uuid)

    # -- participants ------------------------------------------------------------------

    async def mute(self, participant_uuid: str) -> None:
        """Mute a participant's audio (a guest bot may mute itself)."""
        await self._participant("mute", participant_uuid, self_allowed=True).mute()

    async def unmute(self, participant_uuid: str) -> None:
        await self._participant("unmute", participant_uuid, self_allowed=True).unmute()

    async def admit(self, participant_uuid: str) -> None:
        """Let a participant in from the waiting room of a locked conference."""
        await self._participant("admit", participant_uuid).unlock()

    async def spotlight(self, participant_uuid: str, on: bool = True) -> None:
        p = self._participant("spotlight", participant_uuid)
        await (p.spotlight_on() if on else p.spotlight_off())

    async def set_role(self, participant_uuid: str, role: Literal["chair", "guest"]) -> None:
        """Make a participant a host (`chair`) or a guest."""
        await self._host("role change").participant(participant_uuid).set_role(role)

    async def disconnect(self, participant_uuid: str) -> None:
        """Remove a participant from the conference (the bot itself: use `leave()`)."""
        await self._participant("disconnect", participant_uuid).disconnect()

    async def transfer(
        self,
        participant_uuid: str,
        conference_alias: str,
        *,
        role: Literal["host", "guest"] = "guest",
        pin: str | None = None,
    ) -> None:
        """Move a participant to another conference."""
        p = self._participant("transfer", participant_uuid)
        await p.transfer(conference_alias, role=role, pin=pin)

    async def buzz(self, participant_uuid: str) -> None:
        """Raise a participant's hand (a guest bot may raise its own)."""
        await self._participant("buzz", participant_uuid, self_allowed=True).buzz()

    async def clear_buzz(self, participant_uuid: str) -> None:
        """Lower a participant's hand (a guest bot may lower its own)."""
        await self._participant("clear buzz", participant_uuid, self_allowed=True).clear_buzz()

    # -- the conference ----------------------------------------------------------------

    async def mute_guests(self) -> None:
        await self._host("mute guests").mute_guests()

    async def unmute_guests(self) -> None:
        await self._host("unmute guests").unmute_guests()

    async def set_guests_can_unmute(self, allowed: bool) -> None:
        """Whether muted guests may unmute themselves."""
        await self._host("guests can unmute").set_guests_can_unmute(allowed)

    async def lock(self) -> None:
        """New participants wait in the waiting room until admitted."""
        await self._host("lock").lock()

    async def unlock(self) -> None:
        await self._host("unlock").unlock()

    async def clear_all_buzz(self) -> None:
        """Lower every raised hand."""
        await self._host("clear all buzz").clear_all_buzz()

    async def transform_layout(
        self,
        transforms: LayoutTransforms | None = None,
        *,
        layout: str | None = None,
        host_layout: str | None = None,
        guest_layout: str | None = None,
    ) -> None:
        """Change the layout: the common fields as keywords, anything else in `transforms`."""
        base = transforms or LayoutTransforms()
        changes = {"layout": layout, "host_layout": host_layout, "guest_layout": guest_layout}
        merged = base.model_copy(update={k: v for k, v in changes.items() if v is not None})
        await self._host("layout change").transform_layout(merged)

    async def dial(
        self,
        destination: str,
        *,
        protocol: DialProtocol = "auto",
        role: Literal["host", "guest"] = "guest",
        call_type: CallType | None = None,
        source_display_name: str | None = None,
        dtmf_sequence: str | None = None,
    ) -> list[str]:
        """Dial out from the conference; returns the new participants' UUIDs."""
        body = DialBody(
            destination=destination,
            protocol=protocol,
            role="HOST" if role == "host" else "GUEST",
            call_type=call_type,
            source_display_name=source_display_name,
            dtmf_sequence=dtmf_sequence,
        )
        return await self._host("dial out").dial(body)
