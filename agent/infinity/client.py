"""Typed async methods for every conference, participant and call function of the API.

`ConferenceClient` is bound to one alias and reads the current token through a callable on
every request, so a token refreshed by the session is used from the next call on. The token
endpoints (request/refresh/release) are not here: the session drives them with
`ApiClient.call` directly.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Literal, TypeVar

from pydantic import BaseModel

from . import endpoints as ep
from ._http import ApiClient, Endpoint
from .breakout_client import BreakoutsClient
from .errors import NotFoundError
from .models.call import (
    AckBody,
    FeccBody,
    NewCandidateBody,
    StatisticsBody,
    StreamStatistics,
    UpdateBody,
)
from .models.conference import (
    CallType,
    ConferenceStatus,
    DialBody,
    LayoutInfo,
    LayoutTransforms,
    MessageBody,
    MessageType,
    MixLayout,
    SetGuestsCanUnmuteBody,
    SilentVideoConfig,
    SilentVideoDetectionBody,
    Theme,
    TransformLayoutBody,
    VideoMixConfigureBody,
    VideoMixCreateBody,
)
from .models.dtmf import validate_dtmf
from .models.participant import Participant
from .models.participant_functions import (
    CallsRtmpBody,
    CallsRtmpResult,
    CallsWebrtcBody,
    CallsWebrtcResult,
    DtmfBody,
    FeccAction,
    FeccMovement,
    FeccParticipantBody,
    OverlayTextBody,
    PreferredAspectRatioBody,
    PresInMixBody,
    RoleBody,
    TransferBody,
)

__all__ = ["CallClient", "ConferenceClient", "ParticipantClient"]

T = TypeVar("T")

_NO_AVATAR = "No image available"


class ConferenceClient:
    """Conference-level functions of one conference, as the participant holding the token."""

    def __init__(self, api: ApiClient, alias: str, token: Callable[[], str]) -> None:
        self.api = api
        self.alias = alias
        self._token = token

    async def _call(
        self,
        endpoint: Endpoint[T],
        body: BaseModel | None = None,
        *,
        participant: str | None = None,
        call: str | None = None,
        mix: str | None = None,
        query: dict[str, str] | None = None,
        breakout: str | None = None,
    ) -> T:
        return await self.api.call(
            endpoint,
            self.alias,
            token=self._token(),
            body=body,
            participant=participant,
            call=call,
            mix=mix,
            query=query,
            breakout=breakout,
        )

    def participant(self, uuid: str) -> ParticipantClient:
        """Functions acting on one participant (self or, as host, anyone)."""
        return ParticipantClient(self, uuid)

    @property
    def breakouts(self) -> BreakoutsClient:
        """Breakout rooms: open, close, move participants (`room(uuid)` for one room)."""
        return BreakoutsClient(self)

    async def dial(self, body: DialBody) -> list[str]:
        """Dial out; returns the UUIDs of the new participants."""
        return await self._call(ep.DIAL, body)

    async def conference_status(self) -> ConferenceStatus:
        return await self._call(ep.CONFERENCE_STATUS)

    async def participants(self) -> list[Participant]:
        return await self._call(ep.PARTICIPANTS)

    async def lock(self) -> bool:
        return await self._call(ep.LOCK)

    async def unlock(self) -> bool:
        return await self._call(ep.UNLOCK)

    async def start_conference(self) -> bool:
        """Start a lecture or a conference waiting for a host."""
        return await self._call(ep.START_CONFERENCE)

    async def mute_guests(self) -> bool:
        return await self._call(ep.MUTEGUESTS)

    async def unmute_guests(self) -> bool:
        return await self._call(ep.UNMUTEGUESTS)

    async def set_guests_can_unmute(self, setting: bool) -> bool:
        return await self._call(ep.SET_GUESTS_CAN_UNMUTE, SetGuestsCanUnmuteBody(setting=setting))

    async def disconnect_all(self) -> bool:
        """Disconnect every participant (the conference-level `disconnect`)."""
        return await self._call(ep.DISCONNECT)

    async def send_message(self, text: str, *, content_type: MessageType = "text/plain") -> bool:
        """Chat to everyone; `application/json` payloads arrive as application messages."""
        return await self._call(ep.MESSAGE_CONFERENCE, MessageBody(type=content_type, payload=text))

    async def transform_layout(self, transforms: LayoutTransforms) -> bool:
        return await self._call(ep.TRANSFORM_LAYOUT, TransformLayoutBody(transforms=transforms))

    async def clear_all_buzz(self) -> bool:
        """Lower every raised hand."""
        return await self._call(ep.CLEAR_ALL_BUZZ)

    async def silent_video_detection(
        self,
        *,
        enable: bool | None = None,
        silent_after: float | None = None,
        require_no_faces: bool | None = None,
        reactivate_after: float | None = None,
    ) -> bool:
        """Configure removal of silent video from the mix; None keeps the node's setting."""
        config = SilentVideoConfig(
            enable=enable,
            silent_after=silent_after,
            require_no_faces=require_no_faces,
            reactivate_after=reactivate_after,
        )
        return await self._call(ep.SILENT_VIDEO_DETECTION, SilentVideoDetectionBody(config=config))

    async def theme(self) -> Theme | None:
        """The direct-media splash screens, or None when the node has no theme (204)."""
        return await self._call(ep.THEME)

    async def available_layouts(self, *, annotate: bool = True) -> list[str | LayoutInfo]:
        return await self._call(
            ep.AVAILABLE_LAYOUTS, query={"annotate": "true" if annotate else "false"}
        )

    async def layout_svgs(self) -> dict[str, str]:
        """Layout name -> SVG preview."""
        return await self._call(ep.LAYOUT_SVGS)

    async def breakout_buzz(self) -> bool:
        """As a guest in a breakout room: ask the main room's hosts for help."""
        return await self._call(ep.GUEST_BREAKOUT_BUZZ)

    async def clear_breakout_buzz(self) -> bool:
        return await self._call(ep.GUEST_CLEAR_BREAKOUT_BUZZ)

    async def create_video_mix(self, mix_name: str) -> bool:
        return await self._call(ep.VIDEO_MIXES_CREATE, VideoMixCreateBody(mix_name=mix_name))

    async def configure_video_mix(self, mix_name: str, *, layout: str | None = None) -> bool:
        body = VideoMixConfigureBody(transform_layout=MixLayout(layout=layout))
        return await self._call(ep.VIDEO_MIXES_CONFIGURE, body, mix=mix_name)

    async def delete_video_mix(self, mix_name: str) -> bool:
        return await self._call(ep.VIDEO_MIXES_DELETE, mix=mix_name)


class ParticipantClient:
    """Functions on `participants/<uuid>/...`; most need the host role for other participants."""

    def __init__(self, conference: ConferenceClient, uuid: str) -> None:
        self.conference = conference
        self.uuid = uuid

    async def _call(self, endpoint: Endpoint[T], body: BaseModel | None = None) -> T:
        return await self.conference._call(endpoint, body, participant=self.uuid)

    def call(self, call_uuid: str) -> CallClient:
        """Functions on one of this participant's media calls."""
        return CallClient(self, call_uuid)

    async def disconnect(self) -> bool | None:
        """Disconnect the participant; nodes answer `null` or a boolean."""
        return await self._call(ep.DISCONNECT_PARTICIPANT)

    async def mute(self) -> bool:
        return await self._call(ep.MUTE_PARTICIPANT)

    async def unmute(self) -> bool:
        return await self._call(ep.UNMUTE_PARTICIPANT)

    async def client_mute(self) -> bool:
        """Mark the participant as muted on its own side (shown to others)."""
        return await self._call(ep.CLIENT_MUTE_PARTICIPANT)

    async def client_unmute(self) -> bool:
        return await self._call(ep.CLIENT_UNMUTE_PARTICIPANT)

    async def video_mute(self) -> bool:
        return await self._call(ep.VIDEO_MUTE_PARTICIPANT)

    async def video_unmute(self) -> bool:
        return await self._call(ep.VIDEO_UNMUTE_PARTICIPANT)

    async def allow_rx_presentation(self) -> bool:
        return await self._call(ep.ALLOWRXPRESENTATION_PARTICIPANT)

    async def deny_rx_presentation(self) -> bool:
        return await self._call(ep.DENYRXPRESENTATION_PARTICIPANT)

    async def spotlight_on(self) -> bool:
        return await self._call(ep.SPOTLIGHTON_PARTICIPANT)

    async def spotlight_off(self) -> bool:
        return await self._call(ep.SPOTLIGHTOFF_PARTICIPANT)

    async def unlock(self) -> bool:
        """Admit the participant from the waiting room of a locked conference."""
        return await self._call(ep.UNLOCK_PARTICIPANT)

    async def dtmf(self, digits: str) -> bool:
        """Send DTMF (RFC 2833) to this participant; raises ValueError on a non-DTMF char."""
        return await self._call(ep.DTMF_PARTICIPANT, DtmfBody(digits=validate_dtmf(digits)))

    async def calls_webrtc(
        self,
        sdp: str,
        *,
        present: Literal["send", "receive"] | None = None,
        fecc_supported: bool | None = None,
        media_type: CallType | None = None,
    ) -> CallsWebrtcResult:
        """Offer a WebRTC call; the result holds the answer SDP and the call UUID."""
        body = CallsWebrtcBody(
            sdp=sdp, present=present, fecc_supported=fecc_supported, media_type=media_type
        )
        return await self._call(ep.CALLS_WEBRTC_PARTICIPANT, body)

    async def calls_rtmp(
        self,
        *,
        present: Literal["send", "receive"] | None = None,
        streaming: bool | None = None,
        bandwidth: float | None = None,
    ) -> CallsRtmpResult:
        """Start an RTMP call; the result holds the URLs to stream to or from."""
        body = CallsRtmpBody(present=present, streaming=streaming, bandwidth=bandwidth)
        return await self._call(ep.CALLS_RTMP_PARTICIPANT, body)

    async def overlay_text(self, text: str) -> bool:
        """Set the name shown for the participant in the video mix."""
        return await self._call(ep.OVERLAYTEXT_PARTICIPANT, OverlayTextBody(text=text))

    async def pres_in_mix(self, state: bool) -> bool:
        """Show the presentation in this participant's main video mix."""
        return await self._call(ep.PRES_IN_MIX_PARTICIPANT, PresInMixBody(state=state))

    async def set_role(self, role: Literal["chair", "guest"]) -> bool:
        """Make the participant a host (`chair`) or a guest."""
        return await self._call(ep.ROLE_PARTICIPANT, RoleBody(role=role))

    async def fecc(
        self,
        action: FeccAction,
        target: str,
        movement: Sequence[FeccMovement],
        *,
        timeout: float | None = None,
    ) -> bool:
        """Far-end camera control of `target` (timeout in ms)."""
        body = FeccParticipantBody(
            action=action, target=target, movement=list(movement), timeout=timeout
        )
        return await self._call(ep.FECC_PARTICIPANT, body)

    async def buzz(self) -> bool:
        """Raise the participant's hand."""
        return await self._call(ep.BUZZ_PARTICIPANT)

    async def clear_buzz(self) -> bool:
        """Lower the participant's hand."""
        return await self._call(ep.CLEARBUZZ_PARTICIPANT)

    async def transfer(
        self,
        conference_alias: str,
        *,
        role: Literal["host", "guest"] = "guest",
        pin: str | None = None,
    ) -> bool:
        """Move the participant to another conference."""
        body = TransferBody(conference_alias=conference_alias, role=role, pin=pin)
        return await self._call(ep.TRANSFER_PARTICIPANT, body)

    async def send_message(self, text: str, *, content_type: MessageType = "text/plain") -> bool:
        """Private chat to this participant."""
        body = MessageBody(type=content_type, payload=text)
        return await self._call(ep.MESSAGE_PARTICIPANT, body)

    async def avatar(self) -> bytes | None:
        """The participant's avatar image, or None when the node has none for it."""
        try:
            return await self._call(ep.AVATAR_JPG_PARTICIPANT)
        except NotFoundError as exc:
            # Any other 404 (unknown participant or conference) stays an error.
            if exc.reason == _NO_AVATAR:
                return None
            raise

    async def take_floor(self) -> None:
        """Start presenting (a 403 means the presentation was rejected)."""
        await self._call(ep.TAKE_FLOOR)

    async def release_floor(self) -> None:
        await self._call(ep.RELEASE_FLOOR)

    async def show_live_captions(self) -> None:
        await self._call(ep.SHOW_LIVE_CAPTIONS)

    async def hide_live_captions(self) -> None:
        await self._call(ep.HIDE_LIVE_CAPTIONS)

    async def preferred_aspect_ratio(self, aspect_ratio: float | None) -> bool:
        """Ask for a layout shape, e.g. 16/9 or 9/16."""
        body = PreferredAspectRatioBody(aspect_ratio=aspect_ratio)
        return await self._call(ep.PREFERRED_ASPECT_RATIO, body)

    async def notify_not_afk(self) -> bool:
        """Tell the node the participant is present (resets the away-from-keyboard timer)."""
        return await self._call(ep.NOTIFY_NOT_A_F_K)


class CallClient:
    """Functions on `participants/<uuid>/calls/<call_uuid>/...`."""

    def __init__(self, participant: ParticipantClient, uuid: str) -> None:
        self.participant = participant
        self.uuid = uuid

    async def _call(self, endpoint: Endpoint[T], body: BaseModel | None = None) -> T:
        conference = self.participant.conference
        return await conference._call(
            endpoint, body, participant=self.participant.uuid, call=self.uuid
        )

    async def ack(self, *, sdp: str | None = None, offer_ignored: bool | None = None) -> bool:
        """Start media: `{}` after a client offer, `sdp` to answer a server offer."""
        return await self._call(ep.ACK, AckBody(sdp=sdp, offer_ignored=offer_ignored))

    async def disconnect(self) -> None:
        await self._call(ep.DISCONNECT_CALL)

    async def dtmf(self, digits: str) -> bool:
        """Send DTMF on this call (gateway calls); raises ValueError on a non-DTMF char."""
        return await self._call(ep.DTMF, DtmfBody(digits=validate_dtmf(digits)))

    async def fecc(
        self,
        action: FeccAction,
        movement: Sequence[FeccMovement],
        *,
        timeout: float | None = None,
    ) -> bool:
        body = FeccBody(action=action, movement=list(movement), timeout=timeout)
        return await self._call(ep.FECC, body)

    async def new_candidate(
        self,
        candidate: str,
        mid: str,
        *,
        ufrag: str | None = None,
        pwd: str | None = None,
    ) -> None:
        """Trickle one local ICE candidate; `candidate=""` ends the candidates."""
        body = NewCandidateBody(candidate=candidate, mid=mid, ufrag=ufrag, pwd=pwd)
        await self._call(ep.NEW_CANDIDATE, body)

    async def update(self, *, sdp: str | None = None, fecc_supported: bool | None = None) -> str:
        """Renegotiate with a new offer; returns the answer SDP.

        Nodes answer either the SDP string or `{call_uuid, sdp}`; both come back as the SDP.
        """
        result = await self._call(ep.UPDATE, UpdateBody(sdp=sdp, fecc_supported=fecc_supported))
        return result if isinstance(result, str) else result.sdp

    async def statistics(
        self,
        *,
        audio: StreamStatistics | None = None,
        video: StreamStatistics | None = None,
        presentation: StreamStatistics | None = None,
    ) -> None:
        """Report media statistics (the SDK does so every `client_stats_update_interval`)."""
        body = StatisticsBody(audio=audio, video=video, presentation=presentation)
        await self._call(ep.STATISTICS, body)
