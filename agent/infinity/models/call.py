"""Call-level request bodies and results (`participants/<uuid>/calls/<call_uuid>/...`)."""

from pydantic import Field

from ._base import ApiModel, RequestBody
from .participant_functions import FeccAction, FeccMovement


class AckBody(RequestBody):
    """`{}` after a client offer; `sdp` answers a server offer (`new_offer`/`update_sdp`)."""

    sdp: str | None = None
    offer_ignored: bool | None = None


class FeccBody(RequestBody):
    action: FeccAction
    movement: list[FeccMovement]
    timeout: float | None = None


class NewCandidateBody(RequestBody):
    """A trickle ICE candidate; `candidate=""` signals end of candidates."""

    candidate: str
    mid: str
    ufrag: str | None = None
    pwd: str | None = Field(default=None, repr=False)


class UpdateBody(RequestBody):
    """A renegotiation offer (ICE restart, media change)."""

    sdp: str | None = None
    fecc_supported: bool | None = None


class UpdateResult(ApiModel):
    call_uuid: str
    sdp: str


class StreamStatistics(RequestBody):
    """Media statistics of one stream; bitrates in kbps, jitter in ms, loss in percent."""

    rx_bitrate: float | None = None
    rx_codec: str | None = None
    rx_fps: float | None = None
    rx_historic_packet_loss: float | None = None
    rx_jitter: float | None = None
    rx_packets_lost: int | None = None
    rx_packets_received: int | None = None
    rx_resolution: str | None = None
    rx_windowed_packet_loss: float | None = None
    tx_bitrate: float | None = None
    tx_codec: str | None = None
    tx_fps: float | None = None
    tx_historic_packet_loss: float | None = None
    tx_packets_sent: int | None = None
    tx_rb_jitter: float | None = None
    tx_rb_packetslost: int | None = None
    tx_resolution: str | None = None
    tx_windowed_packet_loss: float | None = None


class StatisticsBody(RequestBody):
    audio: StreamStatistics | None = None
    video: StreamStatistics | None = None
    presentation: StreamStatistics | None = None
