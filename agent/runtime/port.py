"""The narrow view of a bot that plugin contexts work through.

`PluginContext` needs a handful of things from the bot; naming them here keeps the context
independent of `Bot` (no import cycle, and a context can be tested against anything that
offers them). `Bot` satisfies this protocol structurally.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence, Set
from typing import Protocol

from aiortc import MediaStreamTrack

from ..clock import Clock
from ..config import BotConfig
from ..infinity import BreakoutRooms, InfinitySession, Roster
from ..infinity.models import ParticipantInfo
from .call import BotCall
from .items import PluginItem
from .presentation import PresentationCall
from .states import FailureReason, StateMachine

__all__ = ["BotPort", "PluginBus"]


class PluginBus(Protocol):
    """The bot's plugins, as one plugin's context sees them (the plugin host)."""

    @property
    def plugins(self) -> Sequence[object]: ...

    def publish(self, item: PluginItem, *, source: object = None) -> None: ...


class BotPort(Protocol):
    @property
    def config(self) -> BotConfig: ...

    @property
    def state(self) -> StateMachine: ...

    @property
    def clock(self) -> Clock: ...

    @property
    def is_host(self) -> bool: ...

    @property
    def alias(self) -> str: ...

    @property
    def room(self) -> str | None: ...

    @property
    def rooms(self) -> BreakoutRooms: ...

    @property
    def roster(self) -> Roster: ...

    @property
    def own_uuids(self) -> Set[str]: ...

    @property
    def session(self) -> InfinitySession | None: ...

    @property
    def call(self) -> BotCall | None: ...

    @property
    def presentation(self) -> PresentationCall | None: ...

    @property
    def plugins(self) -> PluginBus: ...

    def request_leave(self, reason: str = ..., failure: FailureReason | None = None) -> None: ...

    async def present(self, source: MediaStreamTrack) -> None: ...

    async def stop_presentation(self) -> None: ...

    def join_breakout(self, room: str) -> None: ...

    def room_roster(self) -> Mapping[str, ParticipantInfo] | None: ...

    def return_to_main(self) -> None: ...
