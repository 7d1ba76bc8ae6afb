"""The text/event-stream parser against the WHATWG rules, and any chunking of a stream."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from agent.infinity._sse import SseMessage, SseParser


def parse_all(*chunks: bytes) -> list[SseMessage]:
    parser = SseParser()
    out: list[SseMessage] = []
    for chunk in chunks:
        out += parser.feed(chunk)
    out += parser.close()
    return out


def test_single_event_with_type_and_data() -> None:
    assert parse_all(b"event: stage\ndata: []\n\n") == [SseMessage("stage", "[]", None, None)]


def test_default_event_type_is_message() -> None:
    assert parse_all(b"data: x\n\n") == [SseMessage("message", "x")]


def test_multi_line_data_is_joined_with_lf() -> None:
    assert parse_all(b"data: a\ndata:b\ndata:  c\n\n") == [SseMessage("message", "a\nb\n c")]


def test_only_one_space_after_colon_is_stripped() -> None:
    assert parse_all(b"data:  two\n\n")[0].data == " two"
    assert parse_all(b"data:none\n\n")[0].data == "none"


def test_comments_are_ignored() -> None:
    assert parse_all(b": keepalive\n:\ndata: 1\n: inside\n\n") == [SseMessage("message", "1")]


def test_comment_only_blocks_dispatch_nothing() -> None:
    assert parse_all(b": ping\n\n: ping\n\n") == []


def test_empty_data_buffer_does_not_dispatch_and_resets_event_type() -> None:
    msgs = parse_all(b"event: lonely\n\ndata: x\n\n")
    assert msgs == [SseMessage("message", "x")]


def test_data_field_without_value_dispatches_empty_string() -> None:
    assert parse_all(b"data\n\n") == [SseMessage("message", "")]
    assert parse_all(b"data:\ndata:\n\n") == [SseMessage("message", "\n")]


def test_field_without_colon_uses_whole_line_as_name() -> None:
    # "event" alone sets an empty type, which dispatches as "message".
    assert parse_all(b"event: x\nevent\ndata: 1\n\n") == [SseMessage("message", "1")]


def test_unknown_fields_are_ignored() -> None:
    assert parse_all(b"foo: bar\nDATA: no\ndata: yes\n\n") == [SseMessage("message", "yes")]


def test_event_type_resets_after_dispatch() -> None:
    msgs = parse_all(b"event: a\ndata: 1\n\ndata: 2\n\n")
    assert [m.event for m in msgs] == ["a", "message"]


def test_id_persists_until_set_again_and_null_is_ignored() -> None:
    msgs = parse_all(b"id: 7\ndata: a\n\ndata: b\n\nid: 8\x00\ndata: c\n\nid\ndata: d\n\n")
    assert [m.id for m in msgs] == ["7", "7", "7", ""]


def test_retry_accepts_digits_only() -> None:
    parser = SseParser()
    msgs = parser.feed(b"retry: 1500\ndata: a\n\nretry: 12x\ndata: b\n\nretry: -1\n\n")
    assert [m.retry for m in msgs] == [1500, None]
    assert parser.retry == 1500
    assert parser.feed(b"retry: \xd9\xa3\ndata: c\n\n")[0].retry is None  # Arabic-Indic 3
    assert parser.feed(b"retry:42\n\n") == []
    assert parser.retry == 42


def test_line_endings_cr_lf_crlf() -> None:
    expected = [SseMessage("e", "1\n2")]
    assert parse_all(b"event: e\rdata: 1\rdata: 2\r\r") == expected
    assert parse_all(b"event: e\r\ndata: 1\r\ndata: 2\r\n\r\n") == expected
    assert parse_all(b"event: e\ndata: 1\r\ndata: 2\r\n\n") == expected
    assert parse_all(b"event: e\rdata: 1\ndata: 2\r\r\n") == expected


def test_crlf_split_between_chunks_is_one_line_ending() -> None:
    parser = SseParser()
    assert parser.feed(b"data: 1\r") == []
    # The LF completes the CRLF; it is not an empty line, so nothing is dispatched yet.
    assert parser.feed(b"\n") == []
    assert parser.feed(b"\r") == [SseMessage("message", "1")]
    assert parser.feed(b"\ndata: 2\r\n\r\n") == [SseMessage("message", "2")]


def test_cr_then_cr_in_next_chunk_is_an_empty_line() -> None:
    parser = SseParser()
    assert parser.feed(b"data: 1\r") == []
    assert parser.feed(b"\rdata: 2\n\n") == [SseMessage("message", "1"), SseMessage("message", "2")]


def test_dispatch_happens_as_soon_as_the_blank_line_arrives() -> None:
    parser = SseParser()
    assert parser.feed(b"data: 1\n") == []
    assert parser.feed(b"\n") == [SseMessage("message", "1")]
    assert parser.feed(b"data: 2\r\r") == [SseMessage("message", "2")]


def test_utf8_split_across_chunks() -> None:
    body = 'event: message_received\ndata: {"payload": "héllo 😀 €"}\n\n'.encode()
    expected = parse_all(body)
    assert expected[0].data == '{"payload": "héllo 😀 €"}'
    for cut in range(1, len(body)):
        assert parse_all(body[:cut], body[cut:]) == expected, cut
    assert parse_all(*[body[i : i + 1] for i in range(len(body))]) == expected


def test_invalid_utf8_becomes_replacement_character() -> None:
    assert parse_all(b"data: a\xffb\n\n") == [SseMessage("message", "a\ufffdb")]


def test_bom_at_start_is_stripped_only_once() -> None:
    assert parse_all(b"\xef\xbb\xbfdata: 1\n\n") == [SseMessage("message", "1")]
    # Split inside the BOM.
    assert parse_all(b"\xef", b"\xbb", b"\xbfdata: 1\n\n") == [SseMessage("message", "1")]
    # A second BOM is part of the field name: an unknown field, ignored.
    assert parse_all(b"\xef\xbb\xbf\xef\xbb\xbfdata: 1\n\n") == []
    # A BOM later in the stream is not special either.
    assert parse_all(b"data: 1\n\n\xef\xbb\xbfdata: 2\n\n") == [SseMessage("message", "1")]


def test_incomplete_event_at_end_of_stream_is_discarded() -> None:
    parser = SseParser()
    assert parser.feed(b"data: 1\n\ndata: 2\n") == [SseMessage("message", "1")]
    assert parser.close() == []
    # The parser is reset: nothing of the old stream leaks into a new one.
    assert parser.feed(b"\xef\xbb\xbfdata: 3\n") == []
    assert parser.feed(b"\n") == [SseMessage("message", "3")]


def test_long_line_in_many_chunks() -> None:
    payload = "x" * 100_000
    body = f"data: {payload}\n\n".encode()
    chunks = [body[i : i + 7] for i in range(0, len(body), 7)]
    assert parse_all(*chunks) == [SseMessage("message", payload)]


def test_empty_chunks_change_nothing() -> None:
    assert parse_all(b"", b"data: 1\r", b"", b"\n", b"", b"\n") == [SseMessage("message", "1")]


# --- property: chunking and line endings never change the events -------------------------

_text = st.text(
    alphabet=st.characters(codec="utf-8", exclude_characters="\r\n\x00", max_codepoint=0x1F64F),
    max_size=20,
)
_name = st.sampled_from(["participant_update", "stage", "message_received", "x-é😀", ""])


@st.composite
def streams(draw: st.DrawFn) -> tuple[list[bytes], list[SseMessage]]:
    """A valid stream as (bytes split into chunks, the messages it must yield)."""
    lines: list[str] = []
    expected: list[SseMessage] = []
    last_id: str | None = None
    if draw(st.booleans()):
        lines.append(": stream start")
    for _ in range(draw(st.integers(0, 6))):
        event = draw(_name)
        data = draw(st.lists(_text, min_size=1, max_size=3))
        if event:
            lines.append(f"event: {event}")
        if draw(st.booleans()):
            lines.append(": comment")
        if draw(st.booleans()):
            last_id = draw(_text)
            lines.append(f"id: {last_id}")
        for d in data:
            # With or without the optional space (a value starting with a space needs it).
            lines.append(f"data: {d}" if d.startswith(" ") or draw(st.booleans()) else f"data:{d}")
        lines.append("")
        expected.append(SseMessage(event or "message", "\n".join(data), last_id, None))
    body = ""
    previous = ""
    for line in lines:
        endings = ["\n", "\r", "\r\n"]
        if previous == "\r" and not line:
            endings.remove("\n")  # CR + LF would be one line ending, not an empty line
        previous = draw(st.sampled_from(endings))
        body += line + previous
    raw = body.encode()
    if draw(st.booleans()):
        raw = b"\xef\xbb\xbf" + raw
    cuts = sorted(draw(st.lists(st.integers(0, len(raw)), max_size=12)))
    chunks = [raw[a:b] for a, b in zip([0, *cuts], [*cuts, len(raw)], strict=True)]
    return chunks, expected


@settings(max_examples=300, deadline=None)
@given(streams())
def test_any_chunking_and_line_endings_yield_the_same_events(
    case: tuple[list[bytes], list[SseMessage]],
) -> None:
    chunks, expected = case
    assert parse_all(*chunks) == expected
    assert parse_all(b"".join(chunks)) == expected
