"""The endpoint table, the request bodies and the result types against the JSON Schema contract.

The schema (`tests/spec/infinity-client-api.schema.json`, extracted from Pexip's own
client package) is the source of truth: every endpoint (all 108, the 46 breakout-room ones
included) must be described by `ENDPOINTS` exactly as `x-endpoints` says, every body the
client sends must validate against the endpoint's `Body`, and every `200` the schema
allows must parse into the result type.
"""

from __future__ import annotations

import copy
import functools
import json
import re
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis_jsonschema import from_schema
from jsonschema import Draft6Validator
from pydantic import BaseModel

from agent.infinity import breakout_endpoints as bep
from agent.infinity import endpoints as ep
from agent.infinity._http import ApiClient, Endpoint, parse_response
from agent.infinity._transport import HttpResponse
from agent.infinity.client import ConferenceClient
from agent.infinity.models import (
    DialBody,
    FeccMovement,
    LayoutTransforms,
    ReleaseTokenBody,
    RequestTokenBody,
    StreamingLayout,
    StreamStatistics,
)
from tests.unit.test_client import RecordingTransport, Unanswered

SCHEMA_PATH = Path(__file__).resolve().parents[1] / "spec/infinity-client-api.schema.json"
SCHEMA: dict[str, Any] = json.loads(SCHEMA_PATH.read_text())
X_ENDPOINTS: dict[str, dict[str, Any]] = SCHEMA["x-endpoints"]
BREAKOUT_KEYS = {k for k, v in X_ENDPOINTS.items() if v["module"] == "breakout"}
PREFIX = "/api/client/v2/conferences/{conferenceAlias}/"
PLACEHOLDERS = {
    "{participantUuid}": "{participant}",
    "{callUuid}": "{call}",
    "{mixName}": "{mix}",
    "{breakoutUuid}": "{breakout}",
}
TEXT_SCHEMA = {"type": "string"}


def _definition(key: str) -> dict[str, Any]:
    props: dict[str, Any] = SCHEMA["definitions"][key]["properties"]
    return props


def _validator(key: str, part: str) -> Draft6Validator:
    # In draft-06 a `$ref` replaces its siblings, so this validates against the referenced
    # part while every other `$ref` still resolves against the whole document.
    return Draft6Validator({**SCHEMA, "$ref": f"#/definitions/{key}/properties/{part}"})


def test_hypothesis_is_compatible_with_hypothesis_jsonschema() -> None:
    # hypothesis-jsonschema 0.23.1 (the latest) draws objects through `many.more()`, which
    # hypothesis 6.170.10 removed: every object schema then fails with an AttributeError.
    from hypothesis.internal.conjecture import utils as cu

    assert hasattr(cu.many, "more"), "pin hypothesis<6.170.10 for hypothesis-jsonschema 0.23.1"


def test_schema_is_a_valid_draft6_document() -> None:
    Draft6Validator.check_schema(SCHEMA)
    assert len(X_ENDPOINTS) == 108
    assert len(BREAKOUT_KEYS) == 46


# --- the endpoint table --------------------------------------------------------------------


def _constant(key: str) -> str:
    """The module constant of an endpoint key (`guestLeaveBreakout` -> GUEST_LEAVE_BREAKOUT)."""
    return re.sub(r"\W", "_", re.sub(r"(?<=[a-z])(?=[A-Z])", "_", key)).upper()


def test_endpoints_cover_every_key() -> None:
    assert set(ep.ENDPOINTS) == set(X_ENDPOINTS)
    assert set(bep.BREAKOUT_ENDPOINTS) == BREAKOUT_KEYS


@pytest.mark.parametrize("key", sorted(X_ENDPOINTS))
def test_endpoint_matches_x_endpoints(key: str) -> None:
    spec = X_ENDPOINTS[key]
    endpoint = ep.ENDPOINTS[key]
    assert endpoint.key == key
    assert getattr(bep if key in BREAKOUT_KEYS else ep, _constant(key)) is endpoint
    assert endpoint.method == spec["method"]
    assert spec["path"].startswith(PREFIX)
    path, _, query = spec["path"].removeprefix(PREFIX).partition("?")
    for theirs, ours in PLACEHOLDERS.items():
        path = path.replace(theirs, ours)
    assert endpoint.path == path
    assert set(endpoint.query) == {q.split("=")[0] for q in query.split("&") if q}
    statuses = {int(s) for s in spec["statuses"]}
    if endpoint.raw_content_type is not None:
        # avatar.jpg: the schema models only its JSON error statuses (see endpoints.py).
        statuses.add(200)
    assert endpoint.statuses == statuses
    assert (endpoint.body is not None) == spec["request_body"]
    assert (endpoint.body is not None) == ("Body" in _definition(key))
    assert endpoint.token_request == (key == "request_token")


@pytest.mark.parametrize("key", sorted(X_ENDPOINTS))
def test_text_statuses_are_the_plain_string_statuses(key: str) -> None:
    defs = _definition(key)
    # A 204 has no body at all; it is handled as "no result", not as an error text.
    plain = {int(s) for s, shape in defs.items() if shape == TEXT_SCHEMA and s != "204"}
    assert ep.ENDPOINTS[key].text_statuses == plain
    assert set(defs) - {"Body"} == {str(s) for s in X_ENDPOINTS[key]["statuses"]}


# --- request bodies ------------------------------------------------------------------------

Example = Callable[[ConferenceClient], Awaitable[Any]]


def _token_call(endpoint: Endpoint[Any], body: BaseModel) -> Example:
    async def run(conf: ConferenceClient) -> Any:
        return await conf.api.call(endpoint, conf.alias, body=body)

    return run


_FULL_STATS = StreamStatistics(
    rx_bitrate=512.5,
    rx_codec="VP8",
    rx_fps=29.97,
    rx_historic_packet_loss=0.1,
    rx_jitter=3.2,
    rx_packets_lost=4,
    rx_packets_received=1000,
    rx_resolution="1280x720",
    rx_windowed_packet_loss=0.0,
    tx_bitrate=800,
    tx_codec="opus",
    tx_fps=30,
    tx_historic_packet_loss=0,
    tx_packets_sent=2000,
    tx_rb_jitter=1.5,
    tx_rb_packetslost=2,
    tx_resolution="640x360",
    tx_windowed_packet_loss=0.5,
)

BODY_EXAMPLES: dict[str, list[Example]] = {
    "request_token": [
        _token_call(ep.REQUEST_TOKEN, RequestTokenBody(display_name="bot")),
        _token_call(
            ep.REQUEST_TOKEN,
            RequestTokenBody(
                display_name="bot",
                call_tag="t",
                chosen_idp="none",
                client_id="c",
                sso_token="none",
                sso_redirect_target="https://x/m/?ssoToken=__pexip-sso-token__",
                node="node.example",
                conference_extension="1234",
                token="one-time",
                direct_media=True,
                breakout_rooms=False,
                supports_direct_chat=False,
            ),
        ),
    ],
    "release_token": [
        _token_call(ep.RELEASE_TOKEN, ReleaseTokenBody()),
        _token_call(ep.RELEASE_TOKEN, ReleaseTokenBody(reason="User initiated disconnect")),
    ],
    "dial": [
        lambda c: c.dial(DialBody(destination="sip:alice@example.com")),
        lambda c: c.dial(
            DialBody(
                destination="rtmp://stream/x",
                protocol="rtmp",
                role="HOST",
                presentation_url="rtmp://stream/p",
                streaming="yes",
                dtmf_sequence="1234#",
                source_display_name="Bot",
                source="bot@example.com",
                call_type="video-only",
                keep_conference_alive="keep_conference_alive_never",
                remote_display_name="Stream",
                text="hello",
            )
        ),
    ],
    "set_guests_can_unmute": [lambda c: c.set_guests_can_unmute(False)],
    "message_conference": [
        lambda c: c.send_message("hi all"),
        lambda c: c.send_message('{"a": 1}', content_type="application/json"),
    ],
    "transform_layout": [
        lambda c: c.transform_layout(LayoutTransforms(layout="1:7")),
        lambda c: c.transform_layout(
            LayoutTransforms(
                layout="ac",
                host_layout="1:0",
                guest_layout="4:0",
                enable_extended_ac=True,
                streaming_indicator=False,
                recording_indicator=True,
                enable_active_speaker_indication=True,
                enable_overlay_text=True,
                streaming=StreamingLayout(
                    layout="1:0",
                    waiting_screen_enabled=True,
                    plus_n_pip_enabled=False,
                    indicators_enabled=True,
                ),
                free_form_overlay_text=["a", "b"],
            )
        ),
    ],
    "silent_video_detection": [
        lambda c: c.silent_video_detection(),
        lambda c: c.silent_video_detection(
            enable=True, silent_after=120, require_no_faces=False, reactivate_after=1
        ),
    ],
    "video_mixes_create": [lambda c: c.create_video_mix("mix-1")],
    "video_mixes_configure": [
        lambda c: c.configure_video_mix("mix-1"),
        lambda c: c.configure_video_mix("mix-1", layout="2x2"),
    ],
    "dtmf_participant": [lambda c: c.participant("p").dtmf("123*#ABCD")],
    "calls_webrtc_participant": [
        lambda c: c.participant("p").calls_webrtc("v=0\r\n"),
        lambda c: c.participant("p").calls_webrtc(
            "v=0\r\n", present="send", fecc_supported=True, media_type="audio"
        ),
    ],
    "calls_rtmp_participant": [
        lambda c: c.participant("p").calls_rtmp(),
        lambda c: c.participant("p").calls_rtmp(present="receive", streaming=True, bandwidth=1e3),
    ],
    "overlaytext_participant": [lambda c: c.participant("p").overlay_text("Bot")],
    "pres_in_mix_participant": [lambda c: c.participant("p").pres_in_mix(True)],
    "role_participant": [
        lambda c: c.participant("p").set_role("chair"),
        lambda c: c.participant("p").set_role("guest"),
    ],
    "fecc_participant": [
        lambda c: c.participant("p").fecc(
            "start",
            "target-uuid",
            [FeccMovement(axis="pan", direction="left"), FeccMovement(axis="zoom", direction="in")],
            timeout=1000,
        ),
        lambda c: c.participant("p").fecc("stop", "target-uuid", []),
    ],
    "transfer_participant": [
        lambda c: c.participant("p").transfer("other"),
        lambda c: c.participant("p").transfer("other", role="host", pin="1234"),
    ],
    "message_participant": [lambda c: c.participant("p").send_message("psst")],
    "preferred_aspect_ratio": [
        lambda c: c.participant("p").preferred_aspect_ratio(16 / 9),
        lambda c: c.participant("p").preferred_aspect_ratio(None),
    ],
    "ack": [
        lambda c: c.participant("p").call("c").ack(),
        lambda c: c.participant("p").call("c").ack(sdp="v=0\r\n"),
        lambda c: c.participant("p").call("c").ack(sdp="offer_ignored", offer_ignored=True),
    ],
    "dtmf": [lambda c: c.participant("p").call("c").dtmf("5")],
    "fecc": [
        lambda c: (
            c.participant("p")
            .call("c")
            .fecc("continue", [FeccMovement(axis="tilt", direction="up")], timeout=200)
        ),
    ],
    "new_candidate": [
        lambda c: c.participant("p").call("c").new_candidate("", "0"),
        lambda c: (
            c.participant("p")
            .call("c")
            .new_candidate(
                "candidate:1 1 udp 2130706431 127.0.0.1 5000 typ host", "0", ufrag="uf", pwd="pw"
            )
        ),
    ],
    "update": [
        lambda c: c.participant("p").call("c").update(),
        lambda c: c.participant("p").call("c").update(sdp="v=0\r\n", fecc_supported=False),
    ],
    # -- breakout rooms
    "breakouts": [
        lambda c: c.breakouts.create("Room 1"),
        lambda c: c.breakouts.create(
            "Room 2",
            description="the second",
            duration=300,
            end_action="disconnect",
            participants={"main": ["a", "b"], "room-x": ["c"]},
            guests_allowed_to_leave=True,
        ),
    ],
    "breakouts_message": [lambda c: c.breakouts.send_message("back in 5")],
    "breakout_move_participants_from_main": [
        lambda c: c.breakouts.move(["a"], "b"),
        lambda c: c.breakouts.move(["a", "b"], None),
    ],
    "breakout_move_participants": [lambda c: c.breakouts.room("b").move(["a"], "main")],
    "breakout_transform_layout": [
        lambda c: c.breakouts.room("b").transform_layout(LayoutTransforms(layout="1:7"))
    ],
    "breakout_message_conference": [
        lambda c: c.breakouts.room("b").send_message("{}", content_type="application/json")
    ],
    "breakout_video_mixes_create": [lambda c: c.breakouts.room("b").create_video_mix("mix-1")],
    "breakout_video_mixes_configure": [
        lambda c: c.breakouts.room("b").configure_video_mix("mix-1", layout="1:0")
    ],
    "breakout_calls_webrtc_participant": [
        lambda c: c.breakouts.room("b").participant("p").calls_webrtc("v=0\r\n"),
        lambda c: (
            c.breakouts.room("b")
            .participant("p")
            .calls_webrtc(
                "v=0\r\n", present="receive", fecc_supported=False, media_type="video-only"
            )
        ),
    ],
    "breakout_overlaytext_participant": [
        lambda c: c.breakouts.room("b").participant("p").overlay_text("Bot")
    ],
    "breakout_transfer_participant": [
        lambda c: c.breakouts.room("b").participant("p").transfer("other", pin="1")
    ],
    "breakout_fecc_participant": [
        lambda c: (
            c.breakouts.room("b")
            .participant("p")
            .fecc("start", "t", [FeccMovement(axis="tilt", direction="down")], timeout=500)
        )
    ],
    "breakout_dtmf_participant": [lambda c: c.breakouts.room("b").participant("p").dtmf("9#")],
    "breakout_ack": [
        lambda c: c.breakouts.room("b").participant("p").call("c").ack(),
        lambda c: c.breakouts.room("b").participant("p").call("c").ack(sdp="v=0\r\n"),
    ],
    "breakout_new_candidate": [
        lambda c: c.breakouts.room("b").participant("p").call("c").new_candidate("", "0")
    ],
    "breakout_update": [
        lambda c: c.breakouts.room("b").participant("p").call("c").update(sdp="v=0\r\n")
    ],
    "statistics": [
        lambda c: c.participant("p").call("c").statistics(),
        lambda c: (
            c.participant("p")
            .call("c")
            .statistics(audio=StreamStatistics(rx_codec="opus"), video=_FULL_STATS)
        ),
        lambda c: c.participant("p").call("c").statistics(presentation=StreamStatistics()),
    ],
}


def test_every_endpoint_with_a_body_has_examples() -> None:
    with_body = {k for k, v in X_ENDPOINTS.items() if v["request_body"]}
    assert set(BODY_EXAMPLES) == with_body


@pytest.mark.parametrize(
    ("key", "index"),
    [(key, i) for key, examples in sorted(BODY_EXAMPLES.items()) for i in range(len(examples))],
)
async def test_client_bodies_validate_against_schema(key: str, index: int) -> None:
    transport = RecordingTransport()
    conf = ConferenceClient(ApiClient("https://node", transport=transport), "meet", lambda: "T")
    with pytest.raises(Unanswered):
        await BODY_EXAMPLES[key][index](conf)
    (request,) = transport.requests
    endpoint = ep.ENDPOINTS[key]
    # The example went to the endpoint it claims to test.
    expected = endpoint.path.format(participant="p", call="c", mix="mix-1", breakout="b")
    assert request.url.split("?")[0] == f"https://node/api/client/v2/conferences/meet/{expected}"
    assert request.method == endpoint.method
    assert request.body is not None
    _validator(key, "Body").validate(json.loads(request.body))


# --- 200 responses -------------------------------------------------------------------------

_DROP = {"definitions", "description", "title", "$comment"}


def _inline(node: Any) -> Any:
    """A copy of `node` with every `$ref` replaced by its target (the schema has no cycles)."""
    if isinstance(node, list):
        return [_inline(n) for n in node]
    if not isinstance(node, dict):
        return node
    if "$ref" in node:
        target: Any = SCHEMA
        for part in node["$ref"].removeprefix("#/").split("/"):
            target = target[part]
        return _inline(target)
    return {k: _inline(v) for k, v in node.items() if k not in _DROP}


def _envelope(schema: dict[str, Any]) -> dict[str, Any]:
    """The `{status, result}` object schema of an inlined status schema (`oneOf: [env]`)."""
    while "properties" not in schema:
        (schema,) = schema["oneOf"]
    return schema


# Where our models are deliberately stricter than the schema, generate only what they accept:
# a token's `expires` must be a finite number of seconds and UUIDs non-empty (the SDK
# asserts a non-empty participant_uuid too).
_TIGHTEN: dict[str, Callable[[dict[str, Any]], None]] = {
    "request_token": lambda result: result["properties"].update(
        expires={"type": "string", "pattern": r"^[1-9][0-9]{0,5}$"},
        participant_uuid={"type": "string", "minLength": 1},
    ),
    "refresh_token": lambda result: result["properties"].update(
        expires={"type": "string", "pattern": r"^[0-9]{1,6}$"},
    ),
    "participants": lambda result: result["items"]["properties"].update(
        uuid={"type": "string", "minLength": 1}
    ),
    # A room id must not be empty (the SDK asserts it too).
    "breakouts": lambda result: result["properties"].update(
        breakout_uuid={"type": "string", "minLength": 1}
    ),
}


@functools.cache
def _response_strategies(key: str) -> tuple[st.SearchStrategy[Any], ...]:
    """One strategy per alternative `result` shape of the endpoint's 200."""
    env = _envelope(_inline(_definition(key)["200"]))
    result = env["properties"]["result"]
    strategies = []
    for alternative in result.get("oneOf", [result]):
        shape = copy.deepcopy(alternative)
        if key in _TIGHTEN:
            _TIGHTEN[key](shape)
        one = {**env, "properties": {**env["properties"], "result": shape}}
        strategies.append(from_schema(one))
    return tuple(strategies)


def _without_nulls(value: Any) -> Any:
    # Optional fields the node left out come back as None; compare what was sent.
    if isinstance(value, dict):
        return {k: _without_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_without_nulls(v) for v in value]
    return value


RESPONSE_CASES = [
    (key, i)
    for key in sorted(X_ENDPOINTS)
    if "200" in _definition(key)
    for i in range(len(_response_strategies(key)))
]


def test_response_cases_cover_every_200() -> None:
    with_200 = {k for k in X_ENDPOINTS if "200" in _definition(k)}
    assert {k for k, _ in RESPONSE_CASES} == with_200
    assert len(with_200) == 107  # all but avatar.jpg
    # Endpoints whose result has several shapes are exercised once per shape.
    for key in ("update", "disconnect_participant", "breakout_update"):
        assert sum(1 for k, _ in RESPONSE_CASES if k == key) == 2, key
    assert sum(1 for k, _ in RESPONSE_CASES if k == "breakout_disconnect_participant") == 2


@pytest.mark.parametrize(("key", "shape"), RESPONSE_CASES)
@settings(
    max_examples=15,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(data=st.data())
def test_schema_200_parses_into_result_type(key: str, shape: int, data: st.DataObject) -> None:
    generated = data.draw(_response_strategies(key)[shape], label="response")
    _validator(key, "200").validate(generated)
    endpoint = ep.ENDPOINTS[key]
    body = json.dumps(generated).encode()
    parsed = parse_response(endpoint, HttpResponse(200, "application/json", body))
    # Nothing the node sent was lost or changed on the way into the typed result.
    dumped = endpoint.result.dump_python(parsed, mode="json", by_alias=True)
    assert _without_nulls(dumped) == _without_nulls(generated["result"])
