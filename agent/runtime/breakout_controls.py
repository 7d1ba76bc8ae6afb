"""Breakout-room host controls for plugins: open rooms, move participants in and out,
close rooms, message every room; and the rooms a host bot sees, each with its roster.

Like every host control, they raise `HostOnlyError` from a guest bot before any request.
Rooms are named by their UUID (`create_breakout` returns it; `breakout_rooms` lists them).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from ..infinity import BreakoutRoom
from ..infinity.models import BreakoutEndAction
from .host import HostControls

__all__ = ["BreakoutControls"]


class BreakoutControls(HostControls):
    """Mixed into `PluginContext`, on top of the other host controls."""

    @property
    def breakout_rooms(self) -> Mapping[str, BreakoutRoom]:
        """The open rooms (UUID -> room: `name`, `roster`), as a host's events show them."""
        return self._bot.rooms.rooms

    async def create_breakout(
        self,
        name: str,
        participants: Sequence[str] = (),
        *,
        description: str | None = None,
        duration: float | None = None,
        end_action: BreakoutEndAction | None = None,
        guests_allowed_to_leave: bool | None = None,
    ) -> str:
        """Open a room, moving `participants` (of the main room) into it; returns its UUID.
        `duration` (s): it closes by itself then; `end_action`: its participants go back
        (`transfer`, the node's default) or are disconnected when it closes."""
        breakouts = self._host("create breakout room").breakouts
        return await breakouts.create(
            name,
            description=description,
            duration=duration,
            end_action=end_action,
            participants={"main": list(participants)} if participants else None,
            guests_allowed_to_leave=guests_allowed_to_leave,
        )

    def join_breakout(self, room: str) -> None:
        """As a host: join the breakout room `room` (e.g. on `on_breakout_refer`): the bot's
        call moves there, its token and events stay the main room's; `on_moved` follows,
        and the bot comes back by itself when the room ends (`main`, as a `breakout_refer`
        back may name, is `return_to_main()`). Raises `ValueError` for a room the bot does
        not see open, or when the bot has no media."""
        self._host("join breakout room")
        self._bot.join_breakout(room)

    def return_to_main(self) -> None:
        """As a host in a breakout room: move the bot's call back to the main room."""
        self._bot.return_to_main()

    async def move_to_breakout(self, room: str, participants: Sequence[str]) -> None:
        """Move participants of the main room into the room `room` (guests follow a `refer`;
        a host is asked to join)."""
        await self._host("move to breakout room").breakouts.move(participants, room)

    async def move_to_main(self, room: str, participants: Sequence[str]) -> None:
        """Move participants of the room `room` back to the main room."""
        await self._host("move to main room").breakouts.room(room).move(participants, None)

    async def close_breakout(self, room: str) -> None:
        await self._host("close breakout room").breakouts.room(room).close()

    async def close_breakouts(self) -> None:
        """Close every room (by their `end_action`: back to the main room, or disconnected)."""
        await self._host("close breakout rooms").breakouts.close_all()

    async def empty_breakouts(self) -> None:
        """Everyone back to the main room; the rooms stay open."""
        await self._host("empty breakout rooms").breakouts.empty()

    async def broadcast_to_breakouts(self, text: str) -> None:
        """A chat message to every breakout room."""
        await self._host("message breakout rooms").breakouts.send_message(text)
