"""In-memory conference state: conferences, participants, calls.

Plain dataclasses inside; the wire shapes (participant objects, conference status) are built
through the shared pydantic models at the boundary. The management API (`admin/`) reads and
commands the same objects; ended conferences and participants are kept in `NodeState.history`.
"""

from __future__ import annotations

import asyncio
import secrets
import time
import uuid as uuidlib
from collections import deque
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from agent.infinity.models.participant import (
    MixConfig,
    Participant,
    PersonalMix,
    TransformLayoutState,
)

from . import limits
from .config import ServiceConfig
from .events import EventHub

if TYPE_CHECKING:
    from .media.peer import NodePeer

ParticipantRole = Literal["chair", "guest"]
JoinRole = Literal["HOST", "GUEST"]
#: The video mix every participant sees unless it made a personal one (Pexip's name).
MAIN_MIX = "main"
ServiceTypeName = Literal["connecting", "waiting_room", "conference", "lecture", "test_call"]


def new_uuid() -> str:
    return str(uuidlib.uuid4())


@dataclass
class CallState:
    uuid: str
    call_type: Literal["WEBRTC", "RTMP"]
    peer: NodePeer | None = None
    present: str | None = None
    fecc_supported: bool = False
    acked: bool = False
    candidates: int = 0  # trickled in by the client (counted, not kept)
    statistics: list[dict[str, Any]] = field(default_factory=list)
    started_at: float = field(default_factory=time.time)


@dataclass
class ParticipantState:
    uuid: str
    display_name: str
    role: ParticipantRole
    service_type: ServiceTypeName
    protocol: Literal["api", "webrtc", "sip", "rtmp", "h323", "mssip", ""] = "api"
    call_direction: Literal["in", "out"] = "in"
    call_tag: str | None = None
    uri: str = ""
    start_time: float = field(default_factory=time.time)
    is_muted: bool = False
    is_client_muted: bool = False
    is_video_muted: bool = False
    is_presenting: bool = False
    spotlight: float = 0.0
    buzz_time: float = 0.0
    rx_presentation: bool = True
    overlay_text: str = ""
    supports_direct_chat: bool = False
    # What this participant received as DTMF, in order (participant and call level; the
    # newest `limits.KEEP_DTMF` sequences).
    dtmf: deque[str] = field(default_factory=lambda: deque(maxlen=limits.KEEP_DTMF))
    calls: dict[str, CallState] = field(default_factory=dict)
    # Calls hung up while the participant stayed: their final figures go to its history.
    ended_calls: list[CallState] = field(default_factory=list)
    # Dial-out participants have no token and are not reaped by token expiry.
    dialled: bool = False
    # Video dropped from the mix by silent-video detection (`is_video_silent`).
    is_video_silent: bool = False
    needs_presentation_in_mix: bool = False
    show_live_captions: bool = False
    # `preferred_aspect_ratio` (None: the conference's shape) and the last `notify_not_afk`.
    aspect_ratio: float | None = None
    not_afk_at: float | None = None
    # The personal video mix the participant receives (`video_mixes/create`), else `main`.
    mix_name: str = MAIN_MIX
    mix_layout: str | None = None
    mix_since: float = field(default_factory=time.time)
    # When it entered the waiting room (locked conference, or a guest waiting for the host).
    waiting_since: float | None = None

    @property
    def is_host(self) -> bool:
        return self.role == "chair"

    @property
    def waiting(self) -> bool:
        return self.service_type == "waiting_room"

    @property
    def fecc_supported(self) -> bool:
        return any(c.fecc_supported for c in self.calls.values())

    def to_model(self, local_alias: str) -> Participant:
        has_call = bool(self.calls) or self.dialled
        mix_config = (
            None
            if self.mix_layout is None
            else MixConfig(transform_layout=TransformLayoutState(layout=self.mix_layout))
        )
        return Participant(
            uuid=self.uuid,
            display_name=self.display_name,
            role=self.role,
            protocol=self.protocol,
            call_direction=self.call_direction,
            service_type=self.service_type,
            buzz_time=self.buzz_time,
            spotlight=self.spotlight,
            start_time=int(self.start_time),
            is_muted="YES" if self.is_muted else "NO",
            is_client_muted=self.is_client_muted,
            is_presenting="YES" if self.is_presenting else "NO",
            is_audio_only_call="NO",
            is_video_call="YES",
            is_video_muted=self.is_video_muted,
            is_video_silent=self.is_video_silent,
            is_external=False,
            is_streaming_conference=False,
            has_media=has_call,
            encryption="On",
            disconnect_supported="YES",
            mute_supported="YES",
            transfer_supported="YES",
            fecc_supported="YES" if self.fecc_supported else "NO",
            rx_presentation_policy="ALLOW" if self.rx_presentation else "DENY",
            supports_direct_chat=self.supports_direct_chat,
            can_receive_personal_mix=not self.dialled,
            receive_from_video_mix=PersonalMix(
                mix_name=self.mix_name, timestamp=self.mix_since, mix_config=mix_config
            ),
            needs_presentation_in_mix=self.needs_presentation_in_mix,
            external_node_uuid="",
            local_alias=local_alias,
            overlay_text=self.overlay_text or self.display_name,
            call_tag=self.call_tag,
            uri=self.uri or None,
        )

    def to_dict(self, local_alias: str) -> dict[str, Any]:
        return self.to_model(local_alias).model_dump(mode="json", exclude_none=True)


@dataclass
class SilentVideo:
    """`silent_video_detection`: video that shows nothing new for `silent_after` s leaves
    the mix (`is_video_silent`) until it has moved again for `reactivate_after` s."""

    enable: bool = False
    silent_after: float = 10.0
    reactivate_after: float = 1.0
    require_no_faces: bool = False


@dataclass
class RoomSettings:
    """What makes a conference a breakout room of its `parent` (see `breakouts.py`)."""

    uuid: str
    name: str
    description: str = ""
    end_action: Literal["transfer", "disconnect"] = "transfer"
    guests_allowed_to_leave: bool = False
    end_time: float | None = None  # unix time it closes by itself
    # A main-room host's own participant in the room (by its main uuid): in the room's
    # participant list only while it has a call there.
    shadows: dict[str, ParticipantState] = field(default_factory=dict)
    buzz_time: float = 0.0  # someone in the room asked the main room's hosts for help
    timer: asyncio.Task[None] | None = None  # closes the room after its `duration`

    def is_shadow(self, participant: ParticipantState) -> bool:
        return any(s is participant for s in self.shadows.values())


@dataclass
class ConferenceState:
    service: ServiceConfig
    locked: bool = False
    guests_muted: bool = False
    guests_can_unmute: bool = True
    layout: str = "ac"
    participants: dict[str, ParticipantState] = field(default_factory=dict)
    presenter: str | None = None
    started_at: float = field(default_factory=time.time)
    events: EventHub = field(default_factory=EventHub)
    # The current conference instance (management API): it starts with its first
    # participant and ends when the last one leaves (`NodeState.record_departure`).
    instance_id: str = field(default_factory=new_uuid)
    instance_start: float | None = None
    instance_participants: list[str] = field(default_factory=list)
    silent_video: SilentVideo = field(default_factory=SilentVideo)
    # A host started the conference (services whose guests wait for the host).
    host_started: bool = False
    # Breakout rooms: a room's `parent` and `room` settings; the main room's open rooms.
    parent: ConferenceState | None = None
    room: RoomSettings | None = None
    breakouts: dict[str, ConferenceState] = field(default_factory=dict)
    # The scripted live-caption feed running now (control API; see `captions.py`).
    caption_feed: asyncio.Task[None] | None = None

    def note_joined(self, participant: ParticipantState) -> None:
        if self.instance_start is None:
            self.instance_start = time.time()
        self.instance_participants.append(participant.uuid)

    @classmethod
    def from_service(cls, service: ServiceConfig) -> ConferenceState:
        return cls(
            service=service,
            locked=service.locked,
            guests_muted=service.guests_muted,
            guests_can_unmute=service.guests_can_unmute,
        )

    @property
    def name(self) -> str:
        return self.service.name

    @property
    def alias(self) -> str:
        return self.parent.alias if self.parent is not None else self.service.aliases[0]

    @property
    def main(self) -> ConferenceState:
        """The main room (itself unless this is a breakout room)."""
        return self.parent if self.parent is not None else self

    @property
    def display_name(self) -> str:
        return self.room.name if self.room is not None else self.name

    @property
    def waits_for_host(self) -> bool:
        """Guests joining now wait for a host (`host_wait` services before a host started it)."""
        return self.room is None and self.service.host_wait and not self.host_started

    @property
    def started(self) -> bool:
        if self.room is not None:
            return True
        if self.service.host_wait:
            return self.host_started
        # A PIN-protected room starts when a host is in; an open room when anyone is.
        if self.service.pin_protected:
            return any(p.is_host and not p.waiting for p in self.participants.values())
        return bool(self.participants)

    def hosts(self) -> list[str]:
        """The UUIDs of the hosts in (not waiting), e.g. to send them the breakout events."""
        return [p.uuid for p in self.participants.values() if p.is_host and not p.waiting]

    def status(self) -> dict[str, Any]:
        status: dict[str, Any] = {
            "locked": self.locked,
            "guests_muted": self.guests_muted,
            "started": self.started,
            "guests_can_unmute": self.guests_can_unmute,
            "guests_can_present": self.service.guests_can_present,
            "presentation_allowed": True,
            # The node's captions come from a scripted feed (control API): always offered.
            "live_captions_available": True,
            "direct_media": False,
            "breakout_rooms": True,
        }
        room = self.room
        if room is not None:
            status.update(
                breakout=True,
                breakout_name=room.name,
                breakout_description=room.description,
                end_action=room.end_action,
                breakout_guests_allowed_to_leave=room.guests_allowed_to_leave,
            )
            if room.end_time is not None:
                status["end_time"] = room.end_time
        else:
            buzz = {
                u: r.room.buzz_time
                for u, r in self.breakouts.items()
                if r.room and r.room.buzz_time
            }
            status["breakoutbuzz"] = buzz
        return status

    def participant_dicts(self) -> list[dict[str, Any]]:
        return [p.to_dict(self.alias) for p in self.participants.values()]

    # Event helpers: every state change goes out as the event a real node sends.

    def publish_participant(self, participant: ParticipantState, name: str) -> None:
        self.events.publish(name, participant.to_dict(self.alias))

    def publish_status(self) -> None:
        self.events.publish("conference_update", self.status())


@dataclass
class EndedParticipant:
    """A participant that left, for the management history API."""

    participant: ParticipantState  # as it was when it left
    conference_id: str
    conference_name: str
    end_time: float
    disconnect_reason: str
    # The figures of its calls' media streams just before they closed.
    media_streams: list[dict[str, Any]]


@dataclass
class EndedConference:
    """A conference instance that ended (its last participant left)."""

    id: str
    name: str
    service_kind: str
    start_time: float
    end_time: float
    participant_ids: list[str]


class History:
    """Ended conferences and participants, newest last (bounded like a real node's)."""

    def __init__(self, max_conferences: int = 10000, max_participants: int = 50000) -> None:
        self.conferences: deque[EndedConference] = deque(maxlen=max_conferences)
        self.participants: deque[EndedParticipant] = deque(maxlen=max_participants)


class NodeState:
    """All conferences of one node, keyed by service name, with an alias index."""

    def __init__(self, services: list[ServiceConfig]) -> None:
        self.started_at = time.time()
        self.history = History()
        self.conferences: dict[str, ConferenceState] = {
            s.name: ConferenceState.from_service(s) for s in services
        }
        self._by_alias: dict[str, str] = {
            alias.lower(): s.name for s in services for alias in s.aliases
        }
        # One-time join tokens (`refer` events, a breakout room's `request_guest_token`):
        # token -> (conference or room name, its main conference's name, role).
        self.refers: dict[str, tuple[str, str, JoinRole]] = {}

    def add_refer(self, destination: ConferenceState, role: JoinRole) -> str:
        token = secrets.token_urlsafe(24)
        self.refers[token] = (destination.name, destination.main.name, role)
        return token

    def take_refer(
        self, conference: ConferenceState, token: str | None
    ) -> tuple[ConferenceState, JoinRole] | None:
        """Where a one-time token joins, used on `conference`'s alias: that conference or
        one of its breakout rooms (a room closed meanwhile: its main room). None if the
        token is unknown or for another conference."""
        entry = self.refers.get(token or "")
        if entry is None or entry[1] != conference.name:
            return None
        del self.refers[token or ""]
        target = self.conferences.get(entry[0], conference)
        return target, entry[2]

    def by_alias(self, alias: str) -> ConferenceState | None:
        name = self._by_alias.get(alias.lower())
        return None if name is None else self.conferences[name]

    def find_participant(self, participant_uuid: str) -> ConferenceState | None:
        for conference in self.conferences.values():
            if participant_uuid in conference.participants:
                return conference
        return None

    def record_departure(
        self,
        conference: ConferenceState,
        participant: ParticipantState,
        reason: str | None,
        media_streams: list[dict[str, Any]],
    ) -> None:
        """History of a participant that left; the conference instance ends with its last."""
        now = time.time()
        conference_id = conference.instance_id
        if participant.uuid not in conference.instance_participants:
            # Its instance already ended (another participant's departure finished first).
            for ended in reversed(self.history.conferences):
                if ended.name == conference.name and participant.uuid in ended.participant_ids:
                    conference_id = ended.id
                    break
        self.history.participants.append(
            EndedParticipant(
                participant=participant,
                conference_id=conference_id,
                conference_name=conference.name,
                end_time=now,
                disconnect_reason=reason or "Call disconnected",
                media_streams=media_streams,
            )
        )
        if conference.participants or conference.instance_start is None:
            return
        self.history.conferences.append(
            EndedConference(
                id=conference.instance_id,
                name=conference.name,
                service_kind=conference.service.kind,
                start_time=conference.instance_start,
                end_time=now,
                participant_ids=list(conference.instance_participants),
            )
        )
        conference.instance_id = new_uuid()
        conference.instance_start = None
        conference.instance_participants = []
