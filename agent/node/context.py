"""Everything one running node owns: config, state, tokens, faults, tasks, peers.

Route modules get it from `request.app[NODE]`; there is no module-level state, so several
nodes can run in one process (tests do).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from .admin.streams import call_streams, participant_streams
from .config import NodeConfig
from .faults import Faults
from .http import ApiError
from .media import MediaHandler, NodeMedia, NodePeer
from .pins import PinGuard
from .state import CallState, ConferenceState, NodeState, ParticipantState, new_uuid
from .tokens import TokenRecord, TokenStore

log = logging.getLogger(__name__)

INVALID_TOKEN = "Invalid token"
NOT_FOUND = "Neither conference nor gateway found"
PERMISSION_DENIED = "Permission denied: host only"
BREAKOUT_NOT_FOUND = "Breakout room not found"
WAITING_TIMEOUT = (
    "Timeout waiting for conference host to join or permit access to locked conference"
)


@dataclass
class Auth:
    conference: ConferenceState
    participant: ParticipantState
    token: TokenRecord

    @property
    def is_host(self) -> bool:
        return self.participant.is_host


class NodeContext:
    def __init__(
        self,
        config: NodeConfig,
        *,
        media_factory: Callable[[], MediaHandler] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.config = config
        self.state = NodeState(config.services)
        self.tokens = TokenStore(clock)
        self.pins = PinGuard(
            retries=config.pin_retries,
            per_address=config.pin_failures_per_address,
            window=config.pin_failure_window,
            clock=clock,
        )
        self.faults = Faults(config.faults)
        # None: every call's media goes through the conference mixer (`media/mixer.py`); a factory
        # (e.g. `DiscardMedia`) gives each call its own handler instead.
        self.media_factory = media_factory
        self.media = NodeMedia(config.media)
        # One offer is answered at a time: a mass join's answers (SDP parsing, transceivers,
        # ICE gathering, a few ms of loop time each) then take turns with the media instead
        # of running back to back in one loop iteration while every call's audio waits.
        self.answering = asyncio.Lock()
        self.tasks: set[asyncio.Task[Any]] = set()
        self.closing = False
        # None: the control API (`/_node/...`) is off.
        self.control_token: str | None = None
        if config.control.enabled:
            self.control_token = config.control.token or secrets.token_urlsafe(24)

    # -- tasks ---------------------------------------------------------------------------

    def spawn(self, coro: Coroutine[Any, Any, Any], name: str) -> asyncio.Task[Any]:
        task = asyncio.create_task(coro, name=name)
        self.tasks.add(task)
        task.add_done_callback(self._task_done)
        return task

    def _task_done(self, task: asyncio.Task[Any]) -> None:
        self.tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("node task %s failed", task.get_name(), exc_info=task.exception())

    async def close(self) -> None:
        self.closing = True
        for conference in self.state.conferences.values():
            conference.events.close_all()
        tasks = list(self.tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        for conference in self.state.conferences.values():
            for participant in conference.participants.values():
                await self._close_calls(participant)
        await self.media.close()

    # -- lookup and auth -----------------------------------------------------------------

    def conference(self, alias: str) -> ConferenceState:
        conference = self.state.by_alias(alias)
        if conference is None:
            raise ApiError(404, NOT_FOUND)
        return conference

    def authenticate(self, request: web.Request, *, allow_ended: bool = False) -> Auth:
        """Token from the `token` header (or `?token=`, as EventSource and sendBeacon send it).

        On a `breakouts/<room>/...` route the result is scoped to that room: a main-room
        host acting through its own participant in the room (`RoomSettings.shadows`)."""
        auth = self._authenticate(request, allow_ended=allow_ended)
        room_uuid = request.match_info.get("breakout")
        return auth if room_uuid is None else self.in_room(auth, room_uuid)

    def in_room(self, auth: Auth, room_uuid: str) -> Auth:
        """`auth` (a main-room host) as its participant in the breakout room `room_uuid`."""
        room = auth.conference.breakouts.get(room_uuid)
        if room is None or room.room is None:
            raise ApiError(404, BREAKOUT_NOT_FOUND)
        if not auth.is_host:
            raise ApiError(403, PERMISSION_DENIED)
        return Auth(room, self.shadow(room, auth.participant), auth.token)

    @staticmethod
    def shadow(room: ConferenceState, host: ParticipantState) -> ParticipantState:
        """The main-room host's own participant in `room` (made on first use)."""
        assert room.room is not None
        shadow = room.room.shadows.get(host.uuid)
        if shadow is None:
            shadow = room.room.shadows[host.uuid] = ParticipantState(
                uuid=new_uuid(),
                display_name=host.display_name,
                role="chair",
                service_type=room.main.participants.get(host.uuid, host).service_type,
                call_tag=host.call_tag,
            )
        return shadow

    def _authenticate(self, request: web.Request, *, allow_ended: bool) -> Auth:
        alias_conf = self.conference(request.match_info["alias"])
        raw = request.headers.get("token") or request.query.get("token")
        record = self.tokens.find(raw) if allow_ended else self.tokens.valid(raw)
        if record is None:
            raise ApiError(403, INVALID_TOKEN)
        conference = self.state.conferences.get(record.service)
        # A token belongs to one conference; a Virtual Reception alias may carry tokens of
        # the conferences it forwarded to (clients keep using the alias they dialled), and
        # a conference's alias those of its breakout rooms.
        if conference is None or (
            alias_conf is not conference
            and alias_conf.service.kind != "reception"
            and conference.parent is not alias_conf
        ):
            raise ApiError(403, INVALID_TOKEN)
        participant = conference.participants.get(record.participant_uuid)
        if participant is None:
            if not allow_ended:
                raise ApiError(403, INVALID_TOKEN)
            # Gone already: a stand-in so release_token can still answer.
            participant = ParticipantState(
                uuid=record.participant_uuid,
                display_name="",
                role="guest",
                service_type="conference",
            )
        return Auth(conference, participant, record)

    @staticmethod
    def require_host(auth: Auth) -> None:
        if not auth.is_host:
            raise ApiError(403, PERMISSION_DENIED)

    @staticmethod
    def target(auth: Auth, participant_uuid: str) -> ParticipantState:
        participant = auth.conference.participants.get(participant_uuid)
        if participant is None and participant_uuid == auth.participant.uuid:
            # A host's participant in a breakout room it has no call in yet.
            participant = auth.participant
        if participant is None:
            raise ApiError(403, "Participant not found")
        return participant

    # -- participants --------------------------------------------------------------------

    def add_participant(self, conference: ConferenceState, participant: ParticipantState) -> None:
        if conference.guests_muted and not participant.is_host:
            participant.is_muted = True
        if participant.waiting and participant.waiting_since is None:
            participant.waiting_since = time.time()
        was_started = conference.started
        conference.participants[participant.uuid] = participant
        conference.note_joined(participant)
        conference.publish_participant(participant, "participant_create")
        if (
            participant.is_host
            and not participant.waiting
            and conference.waits_for_host
            and conference.service.kind != "lecture"
        ):
            # The first host in starts a conference whose guests wait for one (a lecture
            # waits for `start_conference`).
            self.start_conference(conference)
        if conference.started != was_started:
            conference.publish_status()

    def start_conference(self, conference: ConferenceState) -> None:
        """A host started the conference: guests waiting for the host come in (those held by
        a lock stay until admitted)."""
        if conference.host_started or not conference.service.host_wait:
            return
        conference.host_started = True
        if not conference.locked:
            for participant in list(conference.participants.values()):
                self.admit(conference, participant)
        conference.publish_status()

    def admit(
        self, conference: ConferenceState, participant: ParticipantState, *, force: bool = False
    ) -> None:
        """Let a waiting participant in (unless the conference still waits for its host;
        `force`: a host admitted this one by name)."""
        if not participant.waiting or (conference.waits_for_host and not force):
            return
        participant.service_type = (
            "lecture" if conference.service.kind == "lecture" else "conference"
        )
        participant.waiting_since = None
        conference.publish_participant(participant, "participant_update")
        # Off hold, and no more "waiting for the host" splash screen.
        conference.events.publish("on_hold", False, to=(participant.uuid,))
        conference.events.publish("splash_screen", None, to=(participant.uuid,))

    async def remove_participant(
        self, conference: ConferenceState, participant_uuid: str, reason: str | None
    ) -> None:
        """Take a participant out: `disconnect` to it (if `reason`), `participant_delete` to
        the others, its calls closed, its tokens good only for release_token."""
        participant = conference.participants.pop(participant_uuid, None)
        if participant is None:
            return
        had_media = bool(participant.calls)
        was_started = conference.started
        if reason is not None:
            for call in participant.calls.values():
                conference.events.publish(
                    "call_disconnected",
                    {"call_uuid": call.uuid, "reason": reason},
                    to=(participant_uuid,),
                )
            conference.events.publish("disconnect", {"reason": reason}, to=(participant_uuid,))
        conference.events.close_participant(participant_uuid)
        conference.events.publish("participant_delete", {"uuid": participant_uuid})
        if conference.presenter == participant_uuid:
            conference.presenter = None
            conference.events.publish("presentation_stop", None)
        self.tokens.end_participant(participant_uuid)
        self.tokens.forget_participant(participant_uuid)
        # For history, before calls close (and those hung up earlier).
        streams = await participant_streams(participant, ended=True)
        await self._close_calls(participant)
        self.state.record_departure(conference, participant, reason, streams)
        if not conference.participants:
            conference.host_started = False  # the next instance waits for its host again
        if participant.is_host:
            # A host's own participants in the breakout rooms go with it.
            for room in list(conference.breakouts.values()):
                assert room.room is not None
                shadow = room.room.shadows.pop(participant_uuid, None)
                if shadow is not None:
                    await self.remove_participant(room, shadow.uuid, None)
        if had_media:
            self.media_left(conference)
        if conference.started != was_started:
            conference.publish_status()

    def media_left(self, conference: ConferenceState) -> None:
        """Someone's media ended: if one participant with media is left of two, it gets
        `peer_disconnect` (its peer went, as in a direct-media call)."""
        with_media = [p for p in conference.participants.values() if p.calls]
        if len(with_media) == 1:
            conference.events.publish("peer_disconnect", None, to=(with_media[0].uuid,))

    async def _close_calls(self, participant: ParticipantState) -> None:
        calls = list(participant.calls.values())
        participant.calls.clear()
        for call in calls:
            await close_call(call)

    async def reap_expired(self) -> None:
        """Participants whose token lapsed are gone, like on a real node."""
        for participant_uuid in self.tokens.expired_participants():
            conference = self.state.find_participant(participant_uuid)
            if conference is None:
                self.tokens.forget_participant(participant_uuid)
                continue
            await self.remove_participant(
                conference, participant_uuid, "Timer expired awaiting token refresh"
            )
        await self.reap_waiting(time.time())
        self.tokens.prune()

    async def reap_waiting(self, now: float) -> None:
        """Participants that waited longer than their service's `waiting_room_timeout`."""
        for conference in list(self.state.conferences.values()):
            timeout = conference.service.waiting_room_timeout
            if timeout is None:
                continue
            for participant in list(conference.participants.values()):
                since = participant.waiting_since
                if participant.waiting and since is not None and now - since >= timeout:
                    await self.remove_participant(conference, participant.uuid, WAITING_TIMEOUT)

    async def reaper(self, interval: float = 0.5) -> None:
        while True:
            await asyncio.sleep(interval)
            await self.reap_expired()

    # -- dial-out ------------------------------------------------------------------------

    def dial(
        self, conference: ConferenceState, destination: str, role: str, protocol: str, name: str
    ) -> ParticipantState:
        participant = ParticipantState(
            uuid=new_uuid(),
            display_name=name,
            role="chair" if role == "HOST" else "guest",
            service_type="connecting",
            protocol=protocol if protocol in ("sip", "h323", "rtmp", "mssip") else "sip",  # type: ignore[arg-type]
            call_direction="out",
            uri=destination,
            dialled=True,
        )
        self.add_participant(conference, participant)
        self.spawn(self._answer_dial(conference, participant), f"dial-{participant.uuid}")
        return participant

    async def _answer_dial(
        self, conference: ConferenceState, participant: ParticipantState
    ) -> None:
        await asyncio.sleep(self.config.dial.delay)
        if participant.uuid not in conference.participants:
            return
        lowered = participant.uri.lower()
        if any(word.lower() in lowered for word in self.config.dial.reject_if_contains):
            await self.remove_participant(conference, participant.uuid, None)
            return
        participant.service_type = "conference"
        conference.publish_participant(participant, "participant_update")

    # -- calls ---------------------------------------------------------------------------

    def new_peer(
        self,
        conference: ConferenceState,
        participant_uuid: str,
        call_uuid: str,
        present: str | None = None,
    ) -> NodePeer:
        media = self.media.mixer(conference) if self.media_factory is None else self.media_factory()
        return NodePeer(
            participant_uuid,
            call_uuid,
            media,
            host_addresses=self.config.media.ice_host_addresses,
            present=present,
        )

    # -- presentation --------------------------------------------------------------------

    def start_presentation(
        self, conference: ConferenceState, participant: ParticipantState
    ) -> None:
        """`participant` presents (take_floor, or a `present: "send"` call without one)."""
        if conference.presenter == participant.uuid:
            return
        previous = conference.participants.get(conference.presenter or "")
        if previous is not None:
            previous.is_presenting = False
            conference.publish_participant(previous, "participant_update")
            # Its presentation was ended by someone else taking the floor.
            conference.events.publish("presentation_ended", None, to=(previous.uuid,))
        conference.presenter = participant.uuid
        participant.is_presenting = True
        conference.publish_participant(participant, "participant_update")
        conference.events.publish(
            "presentation_start",
            {
                "presenter_name": participant.display_name,
                "presenter_uri": participant.uri,
                "presenter_uuid": participant.uuid,
            },
            exclude=(participant.uuid,),
        )

    def stop_presentation(self, conference: ConferenceState, participant: ParticipantState) -> None:
        """`participant` stopped presenting (release_floor, or its send call went)."""
        if conference.presenter != participant.uuid:
            return
        conference.presenter = None
        participant.is_presenting = False
        conference.publish_participant(participant, "participant_update")
        conference.events.publish("presentation_stop", None, exclude=(participant.uuid,))


async def close_call(call: CallState) -> None:
    if call.peer is not None:
        with contextlib.suppress(Exception):
            await call_streams(call)  # the final figures, kept with the peer for history
        with contextlib.suppress(Exception):
            await call.peer.close()


NODE = web.AppKey("node", NodeContext)
