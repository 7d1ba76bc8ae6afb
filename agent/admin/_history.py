"""`client.history`: ended conference instances, the participants that left (with media
streams, call quality and disconnect reason) and media streams
(`/api/admin/history/v1/...`)."""

from __future__ import annotations

from collections.abc import Sequence
from urllib.parse import quote

from ._history_models import HistoryConference, HistoryMediaStream, HistoryParticipant
from ._paging import Pager
from ._port import ClientPort
from ._query import FilterValue

HISTORY = "history/v1/"
Order = str | Sequence[str] | None


def _id(value: str | int) -> str:
    return quote(str(value), safe="")


class HistoryAPI:
    """Call detail records. Filters as in `StatusAPI`; related-field filters work too
    (`media_streams__rx_packet_loss__gte=0.5`)."""

    def __init__(self, client: ClientPort) -> None:
        self._client = client

    def conferences(
        self,
        *,
        order_by: Order = None,
        limit: int | None = None,
        max_pages: int | None = None,
        **filters: FilterValue,
    ) -> Pager[HistoryConference]:
        return self._client.list(
            HistoryConference,
            HISTORY + "conference/",
            filters,
            order_by=order_by,
            limit=limit,
            max_pages=max_pages,
        )

    async def conference(self, conference_id: str) -> HistoryConference:
        return await self._client.get_object(
            f"{HISTORY}conference/{_id(conference_id)}/", HistoryConference
        )

    def participants(
        self,
        *,
        order_by: Order = None,
        limit: int | None = None,
        max_pages: int | None = None,
        **filters: FilterValue,
    ) -> Pager[HistoryParticipant]:
        return self._client.list(
            HistoryParticipant,
            HISTORY + "participant/",
            filters,
            order_by=order_by,
            limit=limit,
            max_pages=max_pages,
        )

    async def participant(self, participant_id: str) -> HistoryParticipant:
        return await self._client.get_object(
            f"{HISTORY}participant/{_id(participant_id)}/", HistoryParticipant
        )

    def participant_media_streams(
        self,
        participant_id: str,
        *,
        order_by: Order = None,
        limit: int | None = None,
        max_pages: int | None = None,
        **filters: FilterValue,
    ) -> Pager[HistoryMediaStream]:
        """The v26 nested form `participant/<id>/media_stream/`."""
        return self._client.list(
            HistoryMediaStream,
            f"{HISTORY}participant/{_id(participant_id)}/media_stream/",
            filters,
            order_by=order_by,
            limit=limit,
            max_pages=max_pages,
        )

    def media_streams(
        self,
        *,
        order_by: Order = None,
        limit: int | None = None,
        max_pages: int | None = None,
        **filters: FilterValue,
    ) -> Pager[HistoryMediaStream]:
        """The flat `media_stream/` list of later releases."""
        return self._client.list(
            HistoryMediaStream,
            HISTORY + "media_stream/",
            filters,
            order_by=order_by,
            limit=limit,
            max_pages=max_pages,
        )
