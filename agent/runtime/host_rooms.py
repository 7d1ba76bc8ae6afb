"""A host bot in breakout rooms: its call moves into a room and back, its token stays.

Infinity moves a guest (`refer`, a one-time token: see `joining.py`) but only asks a host to
join a room (`breakout_refer`). A host joins with a call under its own UUID in that room
(from `breakout_begin`), keeping its main token, event stream and roster; when the room
ends (`breakout_end`), or it is asked back (`breakout_refer` to `main`), the call comes
back to the main room. A mixin of `Bot`.

A move is done when the call is up in the new place: plugins get `Moved` then (a call the
new place refuses is no move: it is placed again where it was). The leave rules, and the
plugins' `roster`, are the place the call is in: while in a room, who else is in that room
(its roster from the `breakout_event`s), as for a guest moved there. After a lost token the
bot rejoins in the main room and goes back into the room its call was in, if the new stream
still announces it.

The roster hooks (`on_joined`, `on_left`, `on_changed`) are the changes of that `roster`:
while the call is in a room, the room's arrivals and departures (the main room's stay in
`main_roster`, unreported); when the roster switches place (a move starts, a move fails
back, the token is lost), plugins get the difference at once: `Left` for whoever of the old
place is not in the new one, `Joined` (`initial`: there before the bot) for whoever is new,
`Changed` for anyone in both. That is what a guest moved by `refer` sees (its re-joined
roster's replay reports the difference), so a plugin keeping its own list from the hooks
always has `roster`, whatever the bot's role, without reading `Moved`.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass

from ..clock import Clock
from ..config import BotConfig
from ..infinity.events import StreamItem
from ..infinity.models import ParticipantInfo
from ..infinity.models.events import MAIN_ROOM, BreakoutBegin, BreakoutEnd, BreakoutRefer
from ..infinity.rooms import BreakoutRooms, RoomChange
from ..infinity.roster import Changed, Joined, Left, Roster, RosterChange, changed_fields
from ..infinity.session import InfinitySession
from .call import BotCall
from .host import HostOnlyError
from .leg import Seat
from .moves import Moved, MoveKind
from .plugins import PluginHost
from .rules import LeaveRuleCheck

__all__ = ["HostRooms"]

log = logging.getLogger(__name__)

#: How long after the main room's list a new stream may still announce the room to go
#: back into after a rejoin (the local node sends them together; Infinity: moments).
REENTER_GRACE = 2.0

#: Where a host's call is: a breakout room (its UUID, the bot's UUID in it) or None (main).
_Seat = tuple[str, str] | None


@dataclass(frozen=True)
class _HostMove:
    """A move of a host's call under way: where to (`seat`, the room's `name`), since when,
    and where the call was before (seat and room name), to stay there if it cannot move."""

    seat: _Seat
    name: str | None
    started: float
    back: tuple[_Seat, str | None]


class HostRooms:
    """The breakout-room steps of a host `Bot` (which sets these attributes)."""

    config: BotConfig
    clock: Clock
    plugins: PluginHost
    session: InfinitySession | None
    rooms: BreakoutRooms
    roster: Roster
    alias: str
    room: str | None
    conference_name: str
    moves: int
    call: BotCall | None
    own_uuids: set[str]
    _rules_check: LeaveRuleCheck
    #: The room the bot's call is in (its UUID, and the bot's UUID in it), else None.
    _host_room: tuple[str, str] | None
    #: The move of the call under way (plugins get `Moved` once the call is up there).
    _host_move: _HostMove | None = None
    #: After a lost token: the room the call was in (UUID, name, since when), to go back
    #: into once the new stream announces it, and by when that must have happened.
    _reenter: tuple[str, str, float] | None = None
    _reenter_by: float | None = None

    @property
    def media_enabled(self) -> bool:
        raise NotImplementedError

    def _require_session(self) -> InfinitySession:
        raise NotImplementedError

    def join_breakout(self, room: str) -> None:
        """As a host: move the bot's call into the breakout room `room` (its UUID; `main`:
        back to the main room, as a `breakout_refer` may ask); the
        token and the event stream stay the main room's. Plugins get `Moved("breakout")`
        once the call is up in the room (none if it cannot be placed there: it stays where
        it was); the bot comes back by itself when the room ends."""
        if room == MAIN_ROOM:  # a `breakout_refer` back to the main room
            self.return_to_main()
            return
        session = self._require_session()
        if session.role != "HOST":
            raise HostOnlyError(
                f"join breakout room needs the host role; the bot joined {self.alias} as guest"
            )
        if not self.media_enabled:
            raise ValueError("the bot has no call to move into a breakout room (media is off)")
        seen = self.rooms.get(room)
        if seen is None or not seen.participant_uuid:
            raise ValueError(f"no open breakout room {room!r}")
        if self._host_room is not None and self._host_room[0] == room:
            return
        self._place_in(seen.name, (room, seen.participant_uuid))

    def return_to_main(self) -> None:
        """As a host in a breakout room: move the bot's call back to the main room."""
        if self._host_room is not None:
            self._place_in(None, None)

    def _place_in(self, name: str | None, seat: tuple[str, str] | None) -> None:
        """Send the call to `seat` (None: the main room); plugins get `Moved` once it is
        up there (`_host_call_placed`), not before."""
        pending = self._host_move
        back = pending.back if pending is not None else (self._host_room, self.room)
        before = self._place_roster()
        self._host_room, self.room = seat, name
        self._roster_switched(before)
        self._rules_check.new_place()  # "alone" and "hosts left" are judged there now
        where = f"to breakout room {name}" if name else "back to the main room"
        if back[0] == seat:  # back where it was before the move was done: no move
            self._host_move = None
        else:
            self._host_move = _HostMove(seat, name, self.clock.monotonic(), back)
        log.info("host call moving %s", where)
        if self.call is not None:
            self.call.relocate()  # else the next call is placed there

    def _host_call_placed(self) -> None:
        """The bot's call is up where the seat says: a move under way is done."""
        move, self._host_move = self._host_move, None
        if move is None:
            return
        kind: MoveKind = "breakout" if move.seat is not None else "main"
        where = move.name if move.name is not None else self.conference_name
        self.moves += 1
        log.info("host call %s", f"in breakout room {where}" if move.name else "in the main room")
        now = self.clock.monotonic()
        self.plugins.publish(Moved(kind, self.alias, where, move.name, move.started, now))

    def _host_move_failed(self, why: str) -> bool:
        """The call could not be placed where a move sends it: it stays where it was (True:
        placed there again), unless that was a room that has ended (False: a re-call)."""
        move = self._host_move
        if move is None:
            return False
        target = f"breakout room {move.name}" if move.name else "the main room"
        back_seat, back_name = move.back
        if back_seat is not None and back_seat[0] not in self.rooms:
            log.warning("host call not placed in %s: %s", target, why)
            return False
        self._host_move = None
        before = self._place_roster()
        self._host_room, self.room = back_seat, back_name
        self._roster_switched(before)
        self._rules_check.new_place()
        back = f"breakout room {back_name}" if back_name else "the main room"
        log.warning("host call not moved to %s (%s): it stays in %s", target, why, back)
        return True

    def _seat(self) -> Seat:
        """Where the next call goes: the bot itself, or its participant in the room."""
        session = self._require_session()
        if self._host_room is None:
            return session.me
        room, uuid = self._host_room
        return session.conference.breakouts.room(room).participant(uuid)

    def room_roster(self) -> Mapping[str, ParticipantInfo] | None:
        """While the host's call is in a breakout room (or on its way there): everyone else
        in that room, from its `breakout_event`s; None while it is in the main room."""
        here = self._in_room()
        return None if here is None else {p.uuid: p for p in here[0]}

    def _in_room(self) -> tuple[list[ParticipantInfo], bool] | None:
        """While the call is in a breakout room: everyone else in that room, and whether
        its list is half replayed (it then says nothing); None in the main room."""
        if self._host_room is None:
            return None
        uuid, mine = self._host_room
        seen = self.rooms.get(uuid)
        if seen is None:  # closed: the bot is on its way back to the main room
            return [], True
        roster = seen.roster
        others = [
            p for u, p in roster.participants.items() if u != mine and u not in self.own_uuids
        ]
        return others, roster.syncing

    def _place_roster(self) -> dict[str, ParticipantInfo]:
        """Everyone else where the call is (the plugins' `roster`): its room, or the main room."""
        here = self.room_roster()
        if here is not None:
            return dict(here)
        return {u: p for u, p in self.roster.participants.items() if u not in self.own_uuids}

    def _roster_switched(self, before: Mapping[str, ParticipantInfo]) -> None:
        """The plugins' `roster` is another place's now: tell them the difference, as the
        replay of a guest's re-joined roster does (see the module docstring)."""
        after = self._place_roster()
        changes: list[RosterChange] = [Left(p) for u, p in before.items() if u not in after]
        for uuid, p in after.items():
            old = before.get(uuid)
            if old is None:
                changes.append(Joined(p, initial=True))  # there before the bot came
            elif fields := changed_fields(old, p):
                changes.append(Changed(old, p, fields))
        for change in changes:
            self.plugins.publish(change)

    def _room_roster_change(self, room_change: RoomChange) -> None:
        """A change in the room the call is in: the plugins' roster's (the main room's are
        not theirs meanwhile); a host joining it counts for `leave.when_hosts_leave`."""
        log.debug("breakout room %s: %s", room_change.room, room_change.change)
        change = room_change.change
        if self._host_room is None or room_change.room != self._host_room[0]:
            return
        p = change.after if isinstance(change, Changed) else change.participant
        if p.uuid == self._host_room[1] or p.uuid in self.own_uuids:
            return  # the bot itself never shows
        self.plugins.publish(change)
        if not isinstance(change, Left) and p.role == "chair":
            self._rules_check.seen_host = True

    def _room_event(self, item: StreamItem) -> None:
        """After the plugins got `item`: follow a refer (if configured), come back from a
        room that ended, go back into the room the call was in before a rejoin."""
        if self._reenter is not None:
            self._reenter_room(item)
        if isinstance(item, BreakoutEnd) and self._host_room is not None:
            if item.breakout_uuid == self._host_room[0]:
                self.return_to_main()  # the room is gone: back where the token is
        elif isinstance(item, BreakoutRefer) and self.config.breakouts.follow_refer:
            try:
                self.join_breakout(item.breakout_uuid)
            except (HostOnlyError, ValueError) as exc:
                log.warning("breakout_refer to %s not followed: %s", item.breakout_name, exc)

    def _leave_room(self) -> None:
        """The token is lost: a new session is a new participant, in the main room. A host
        whose call was in a breakout room goes back into it (under the new token) once the
        new stream shows the room open (`breakout_begin`, with its new UUID there)."""
        self._host_move = None
        self._reenter_by = None
        if self._host_room is not None:
            self._reenter = (self._host_room[0], self.room or "", self.clock.monotonic())
            before = self._place_roster()
            self._host_room, self.room = None, None
            self._roster_switched(before)

    def _main_synced(self) -> None:
        """The main room's list is replayed on a new stream: the rooms open now are
        announced right behind it; a room to re-enter not among them has ended."""
        if self._reenter is not None and self._reenter_by is None:
            self._reenter_by = self.clock.monotonic() + REENTER_GRACE

    def _check_reenter(self, now: float) -> None:
        """After a rejoin: the room the call was in was not announced in time: it ended."""
        if self._reenter is not None and self._reenter_by is not None and now >= self._reenter_by:
            self._not_reentered("has ended")

    def _not_reentered(self, why: str) -> None:
        assert self._reenter is not None
        _, name, since = self._reenter
        self._reenter, self._reenter_by = None, None
        log.info("breakout room %s %s while the bot rejoined: it stays in the main room", name, why)
        where = self.conference_name
        self.moves += 1
        self.plugins.publish(Moved("main", self.alias, where, None, since, self.clock.monotonic()))

    def _reenter_room(self, item: StreamItem) -> None:
        """After a rejoin: the room the call was in, announced open again, or closed."""
        assert self._reenter is not None
        room, name, _ = self._reenter
        if isinstance(item, BreakoutEnd) and item.breakout_uuid == room:
            self._not_reentered("ended")
        elif isinstance(item, BreakoutBegin) and item.breakout_uuid == room:
            self._reenter, self._reenter_by = None, None
            try:
                self.join_breakout(room)
            except (HostOnlyError, ValueError) as exc:
                log.warning("breakout room %s not re-entered after the rejoin: %s", name, exc)
                return
            log.info("rejoined: back into breakout room %s", name)
