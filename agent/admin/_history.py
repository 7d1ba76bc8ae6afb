"""`client.history`: ended conference instances, the participants that left (with media
streams, call quality and disconnect reason) and media streams
(`/api/admin/history/v1/...`)."""

from __future__ import annotations

from ._history_models import HistoryConference, HistoryMediaStream, HistoryParticipant
from ._resource import ResourceGroup, get_endpoint, list_endpoint, nested_list_endpoint


class HistoryAPI(ResourceGroup):
    """Call detail records. Filters as in `StatusAPI`; related-field filters work too
    (`media_streams__rx_packet_loss__gte=0.5`)."""

    prefix = "history/v1/"

    conferences = list_endpoint(HistoryConference, "conference/")
    conference = get_endpoint(HistoryConference, "conference/{}/")
    participants = list_endpoint(HistoryParticipant, "participant/")
    participant = get_endpoint(HistoryParticipant, "participant/{}/")
    participant_media_streams = nested_list_endpoint(
        HistoryMediaStream,
        "participant/{}/media_stream/",
        "The v26 nested form `participant/<id>/media_stream/`.",
    )
    media_streams = list_endpoint(
        HistoryMediaStream, "media_stream/", "The flat `media_stream/` list of later releases."
    )
