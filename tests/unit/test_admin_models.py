"""Management API models and query strings: tolerant parsing of the value forms the v26
document shows, unknown fields kept, filters written the way Tastypie reads them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from agent.admin import (
    FILTER_OPERATORS,
    CommandReply,
    HistoryParticipant,
    MediaStreamStatus,
    ParticipantStatus,
    format_time,
    parse_time,
    quality_label,
    quality_level,
    query_params,
)

# From the v26 document's status example (Alice), trimmed, plus a field of a newer release.
ALICE = {
    "bandwidth": 576,
    "call_direction": "in",
    "call_quality": "1_good",
    "call_uuid": "1c26be9c-6511-4e5c-9588-8351f8c3decd",
    "conference": "VMR_1",
    "connect_time": "2015-04-02T09:46:11.116767",
    "display_name": "Alice",
    "id": "00000000-0000-0000-0000-000000000002",
    "is_muted": False,
    "parent_id": "",
    "protocol": "WebRTC",
    "remote_port": 54686,
    "role": "chair",
    "is_transcribing": True,
}


def test_naive_utc_times_with_and_without_microseconds_and_blank() -> None:
    assert parse_time("2015-04-02T09:46:06.106482") == datetime(
        2015, 4, 2, 9, 46, 6, 106482, tzinfo=UTC
    )
    assert parse_time("2015-04-10T09:39:47") == datetime(2015, 4, 10, 9, 39, 47, tzinfo=UTC)
    assert parse_time("") is None and parse_time(None) is None
    assert parse_time("2015-04-10T09:39:47Z") == datetime(2015, 4, 10, 9, 39, 47, tzinfo=UTC)
    assert parse_time(1559897886.5) == datetime.fromtimestamp(1559897886.5, UTC)
    with pytest.raises(ValueError, match="not a management API time: 'yesterday'"):
        parse_time("yesterday")
    cet = timezone(timedelta(hours=1))
    assert format_time(datetime(2019, 4, 8, 1, 0, tzinfo=cet)) == "2019-04-08T00:00:00"


def test_participant_keeps_unknown_fields_and_reads_quality() -> None:
    p = ParticipantStatus.model_validate(ALICE)
    assert p.connect_time == datetime(2015, 4, 2, 9, 46, 11, 116767, tzinfo=UTC)
    assert p.quality == 1 and p.remote_port == 54686
    assert p.unknown_fields == {"is_transcribing": True}
    assert p.model_dump()["is_transcribing"] is True
    assert p.historic_call_quality is None  # lists omit it


def test_blank_strings_as_null_in_streams() -> None:
    stream = MediaStreamStatus.model_validate(
        {"id": "0", "end_time": "", "rx_bitrate": "", "rx_jitter": 0.56, "type": "audio"}
    )
    assert stream.end_time is None and stream.rx_bitrate is None and stream.rx_jitter == 0.56
    dumped = stream.model_dump(mode="json")
    assert dumped["end_time"] == ""  # written back in the API's own form


def test_history_participant_with_streams() -> None:
    p = HistoryParticipant.model_validate(
        {
            "id": "x",
            "conference": "/api/admin/history/v1/conference/abc/",
            "call_quality": "3_bad",
            "disconnect_reason": "Call disconnected",
            "media_streams": [{"id": 36, "stream_type": "audio", "rx_packet_loss": 0.0}],
            "end_time": "2015-04-02T09:55:33.141261",
        }
    )
    assert p.conference_id == "abc" and p.quality == 3
    assert p.media_streams[0].stream_type == "audio"


def test_quality_labels() -> None:
    assert [quality_level(label) for label in ("0_unknown", "4_terrible", "", None, "x")] == [
        0,
        4,
        None,
        None,
        None,
    ]
    assert quality_label(2) == "2_ok" and quality_label(None) == "0_unknown"


def test_command_reply_reads_data_result_and_error() -> None:
    assert CommandReply.model_validate({"status": "success", "data": {"a": 1}}).data == {"a": 1}
    assert CommandReply.model_validate({"status": "success", "result": [1]}).data == [1]
    failed = CommandReply.model_validate({"status": "failed", "error": "not STOPPED"})
    assert not failed.ok and failed.message == "not STOPPED"


def test_query_params_for_every_operator() -> None:
    assert len(FILTER_OPERATORS) == 17
    when = datetime(2019, 4, 8, tzinfo=UTC)
    params = query_params(
        {
            "display_name__icontains": "bot",
            "is_muted": True,
            "end_time__gte": when,
            "role__in": ["chair", "guest"],
            "duration__range": (10, 20),
            "call_tag__isnull": False,
            "media_streams__rx_packet_loss__gte": 0.5,
        },
        order_by=["-start_time", "display_name"],
        limit=50,
    )
    assert params == [
        ("display_name__icontains", "bot"),
        ("is_muted", "true"),
        ("end_time__gte", "2019-04-08T00:00:00"),
        ("role__in", "chair,guest"),
        ("duration__range", "10,20"),
        ("call_tag__isnull", "false"),
        ("media_streams__rx_packet_loss__gte", "0.5"),
        ("order_by", "-start_time"),
        ("order_by", "display_name"),
        ("limit", "50"),
    ]


@pytest.mark.parametrize(
    ("filters", "message"),
    [
        ({"role": None}, "use role__isnull=True"),
        ({"role__in": "chair"}, "needs a list or tuple"),
        ({"duration__range": [1]}, "exactly two values"),
        ({"role": ["a", "b"]}, "needs the __in operator"),
        ({"limit": 5}, "paging parameter"),
        ({"bad name": 1}, "not a field name"),
        ({"x__isnull": "yes"}, "takes True or False"),
    ],
)
def test_bad_filters_say_which(filters: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        query_params(filters)  # type: ignore[arg-type]
