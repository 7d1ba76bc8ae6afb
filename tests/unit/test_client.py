"""ConferenceClient/ParticipantClient/CallClient: requests built and responses mapped."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from agent.infinity import endpoints as ep
from agent.infinity._http import ApiClient, Endpoint, parse_response
from agent.infinity._retry import RetryPolicy
from agent.infinity._transport import (
    HttpRequest,
    HttpResponse,
    StreamResponse,
)
from agent.infinity.client import ConferenceClient
from agent.infinity.errors import (
    BadRequestError,
    ExtensionRequiredError,
    ForbiddenError,
    InvalidPinError,
    InvalidTokenError,
    NotFoundError,
    NotPexipError,
    PinRequiredError,
    PinRetriesExceededError,
    ResponseValidationError,
    ServerError,
    UnexpectedStatusError,
)
from agent.infinity.models import (
    ConferenceStatus,
    LayoutInfo,
    RequestTokenBody,
    UpdateResult,
)
from agent.infinity.reasons import ReasonCode

NODE = "https://node.example"
JSON = "application/json"


def envelope(result: Any, status: str = "success") -> bytes:
    return json.dumps({"status": status, "result": result}).encode()


class Unanswered(Exception):
    """The recording transport had no response queued for a request."""


class RecordingTransport:
    """Records every request and answers from a queue (or raises `Unanswered`)."""

    def __init__(self, *responses: HttpResponse) -> None:
        self.requests: list[HttpRequest] = []
        self.responses = list(responses)

    def answer(self, status: int, result: Any, *, content_type: str = JSON) -> None:
        self.responses.append(HttpResponse(status, content_type, envelope(result)))

    async def send(self, request: HttpRequest, *, timeout: float) -> HttpResponse:
        self.requests.append(request)
        if not self.responses:
            raise Unanswered(request.url)
        return self.responses.pop(0)

    @asynccontextmanager
    async def stream(self, request: HttpRequest) -> AsyncIterator[StreamResponse]:
        raise AssertionError("the client functions never open a stream")
        yield  # pragma: no cover

    async def aclose(self) -> None:
        pass

    @property
    def last(self) -> HttpRequest:
        return self.requests[-1]

    def last_json(self) -> Any:
        body = self.last.body
        assert body is not None
        return json.loads(body)


def make_client(
    alias: str = "meet", token: Callable[[], str] = lambda: "tok-1"
) -> tuple[ConferenceClient, RecordingTransport]:
    transport = RecordingTransport()
    # Retries have their own tests (test_retry.py); here every answer maps at once.
    api = ApiClient(NODE, transport=transport, retry=RetryPolicy.off())
    return ConferenceClient(api, alias, token), transport


def path_of(request: HttpRequest) -> str:
    return urlsplit(request.url).path


# --- requests --------------------------------------------------------------------------


async def test_alias_participant_and_call_ids_are_percent_encoded() -> None:
    conf, t = make_client(alias="meet room/1")
    t.answer(200, True)
    await conf.participant("p 1/x").call("c?2#").dtmf("1")
    assert t.last.url == (
        f"{NODE}/api/client/v2/conferences/meet%20room%2F1/participants/p%201%2Fx/calls/c%3F2%23/dtmf"
    )


async def test_mix_name_is_encoded_into_the_path() -> None:
    conf, t = make_client()
    t.answer(200, True)
    await conf.configure_video_mix("main mix/2", layout="1:7")
    assert path_of(t.last).endswith("/video_mixes/main%20mix%2F2/configure")
    assert t.last_json() == {"transform_layout": {"layout": "1:7"}}


async def test_token_is_read_on_every_request_and_no_pin_header_is_sent() -> None:
    tokens = iter(["tok-1", "tok-2"])
    conf, t = make_client(token=lambda: next(tokens))
    t.answer(200, True)
    t.answer(200, True)
    await conf.lock()
    await conf.unlock()
    assert [r.headers["token"] for r in t.requests] == ["tok-1", "tok-2"]
    assert all("pin" not in r.headers for r in t.requests)
    # Body-less functions are POSTed without a body or content type, as the SDK does.
    assert t.last.method == "POST"
    assert t.last.body is None
    assert "Content-Type" not in t.last.headers


async def test_pin_header_only_when_given() -> None:
    t = RecordingTransport()
    api = ApiClient(NODE, transport=t)
    result = {
        "token": "T",
        "expires": "120",
        "participant_uuid": "me",
        "version": {},
        "role": "GUEST",
        "display_name": "bot",
        "current_service_type": "conference",
    }
    t.answer(200, result)
    t.answer(200, result)
    body = RequestTokenBody(display_name="bot")
    await api.call(ep.REQUEST_TOKEN, "meet", body=body)
    assert "pin" not in t.last.headers
    assert "token" not in t.last.headers
    await api.call(ep.REQUEST_TOKEN, "meet", body=body, pin="1234")
    assert t.last.headers["pin"] == "1234"


async def test_bodies_are_json_without_unset_fields() -> None:
    conf, t = make_client()
    t.answer(200, True)
    await conf.participant("p").call("c").ack()
    assert t.last.headers["Content-Type"] == JSON
    assert t.last_json() == {}
    t.answer(200, None)
    await conf.participant("p").call("c").new_candidate("", "0")
    assert t.last_json() == {"candidate": "", "mid": "0"}


async def test_available_layouts_sends_annotate_query() -> None:
    conf, t = make_client()
    t.answer(200, ["1:7", {"name": "ac", "tags": ["x"]}])
    layouts = await conf.available_layouts()
    assert layouts == ["1:7", LayoutInfo(name="ac", tags=["x"])]
    assert parse_qs(urlsplit(t.last.url).query) == {"annotate": ["true"]}
    t.answer(200, [])
    await conf.available_layouts(annotate=False)
    assert parse_qs(urlsplit(t.last.url).query) == {"annotate": ["false"]}


@pytest.mark.parametrize("digits", ["12x", "1 2", "abc", "", "\u0661"])
async def test_dtmf_rejects_non_dtmf_characters_before_sending(digits: str) -> None:
    conf, t = make_client()
    with pytest.raises(ValueError, match="DTMF") as err:
        await conf.participant("p").dtmf(digits)
    with pytest.raises(ValueError, match="DTMF"):
        await conf.participant("p").call("c").dtmf(digits)
    for bad in set(digits) - set("0123456789*#ABCD"):
        assert repr(bad) in str(err.value)
    assert t.requests == []


async def test_dtmf_accepts_every_dtmf_key() -> None:
    conf, t = make_client()
    t.answer(200, True)
    assert await conf.participant("p").dtmf("0123456789*#ABCD") is True
    assert t.last_json() == {"digits": "0123456789*#ABCD"}


def test_secrets_are_not_in_reprs() -> None:
    from agent.infinity.models import CallsWebrtcResult, NewCandidateBody, TransferBody

    assert "s3cret" not in repr(TransferBody(conference_alias="x", pin="s3cret"))
    assert "s3cret" not in repr(NewCandidateBody(candidate="", mid="0", pwd="s3cret"))
    answer = CallsWebrtcResult.model_validate(
        {
            "call_uuid": "c",
            "sdp": "v=0",
            "turn": [{"urls": ["turn:x"], "username": "u", "credential": "s3cret"}],
        }
    )
    assert "s3cret" not in repr(answer)


# --- results -----------------------------------------------------------------------------


async def test_results_are_typed() -> None:
    conf, t = make_client()
    t.answer(200, {"locked": True, "guests_muted": False, "started": True, "newer": 1})
    status = await conf.conference_status()
    assert status == ConferenceStatus(locked=True, guests_muted=False, started=True)
    t.answer(200, ["p1", "p2"])
    from agent.infinity.models import DialBody

    assert await conf.dial(DialBody(destination="sip:x@y", protocol="sip")) == ["p1", "p2"]
    t.answer(200, {"call_uuid": "c", "url": "rtmp://x", "secure_url": "rtmps://x"})
    rtmp = await conf.participant("p").calls_rtmp(streaming=True)
    assert rtmp.secure_url == "rtmps://x"
    assert t.last_json() == {"call_type": "RTMP", "streaming": True}


@pytest.mark.parametrize(
    "result", ["v=0 answer", {"call_uuid": "c", "sdp": "v=0 answer"}], ids=["str", "object"]
)
async def test_update_returns_the_answer_sdp_for_both_shapes(result: Any) -> None:
    conf, t = make_client()
    t.answer(200, result)
    assert await conf.participant("p").call("c").update(sdp="v=0 offer") == "v=0 answer"
    parsed = parse_response(ep.UPDATE, HttpResponse(200, JSON, envelope(result)))
    assert isinstance(parsed, str | UpdateResult)


async def test_theme_204_is_none() -> None:
    conf, t = make_client()
    t.responses.append(HttpResponse(204, "", b""))
    assert await conf.theme() is None


async def test_avatar_bytes_and_missing_image() -> None:
    conf, t = make_client()
    t.responses.append(HttpResponse(200, "image/jpeg", b"\xff\xd8jpeg"))
    assert await conf.participant("p").avatar() == b"\xff\xd8jpeg"
    t.answer(404, "No image available", content_type=JSON)
    assert await conf.participant("p").avatar() is None
    t.answer(404, "Participant not found")
    with pytest.raises(NotFoundError):
        await conf.participant("p").avatar()
    t.answer(200, {"not": "an image"})
    with pytest.raises(ResponseValidationError, match="image/"):
        await conf.participant("p").avatar()


def test_missing_required_field_names_the_field() -> None:
    response = HttpResponse(200, JSON, envelope({"locked": True, "started": True}))
    with pytest.raises(ResponseValidationError) as err:
        parse_response(ep.CONFERENCE_STATUS, response)
    assert "guests_muted" in str(err.value)
    assert err.value.endpoint == "conference_status"


def test_missing_required_field_in_a_list_item_names_index_and_field() -> None:
    response = HttpResponse(200, JSON, envelope([{"call_uuid": "c"}]))
    with pytest.raises(ResponseValidationError, match=r"result\.0\.uuid"):
        parse_response(ep.PARTICIPANTS, response)


def test_wrong_json_type_is_rejected() -> None:
    with pytest.raises(ResponseValidationError, match="result"):
        parse_response(ep.LOCK, HttpResponse(200, JSON, envelope("yes please")))
    # The SDK rejects `true` from call disconnect and `null` from ack.
    with pytest.raises(ResponseValidationError):
        parse_response(ep.DISCONNECT_CALL, HttpResponse(200, JSON, envelope(True)))
    with pytest.raises(ResponseValidationError):
        parse_response(ep.ACK, HttpResponse(200, JSON, envelope(None)))


def test_unknown_fields_are_ignored() -> None:
    result = {"call_uuid": "c", "sdp": "v=0", "brand_new": {"x": 1}}
    parsed = parse_response(ep.CALLS_WEBRTC_PARTICIPANT, HttpResponse(200, JSON, envelope(result)))
    assert parsed.sdp == "v=0"
    assert not hasattr(parsed, "brand_new")


@pytest.mark.parametrize(
    ("content_type", "got"),
    [
        ("text/html", "text/html"),
        ("", "no content type"),
        ("text/plain; charset=utf-8", "text/plain"),
    ],
)
def test_wrong_content_type_is_a_validation_error(content_type: str, got: str) -> None:
    response = HttpResponse(200, content_type, envelope(True))
    with pytest.raises(ResponseValidationError) as err:
        parse_response(ep.LOCK, response, url="http://x/api/client/v2/conferences/m/lock")
    assert str(err.value) == (
        f"not a Pexip client API: got {got} from http://x/api/client/v2/conferences/m/lock"
    )


@pytest.mark.parametrize(
    ("status", "content_type", "body"),
    [
        (404, "text/plain; charset=utf-8", b"404: Not Found"),
        (500, "text/html", b"<html>\n<body>\n<h1>Oops</h1>\n</body>\n</html>"),
        (403, "text/html", b"<html>Forbidden</html>"),
    ],
)
def test_error_status_from_another_web_server_is_not_pexip(
    status: int, content_type: str, body: bytes
) -> None:
    """A Pexip node wraps every error in its JSON envelope; anything else is not a node."""
    response = HttpResponse(status, content_type, body)
    with pytest.raises(NotPexipError) as err:
        parse_response(ep.REQUEST_TOKEN, response, url="http://h:1/p")
    got = content_type.split(";", maxsplit=1)[0]
    assert str(err.value) == f"not a Pexip client API: got {got} from http://h:1/p (HTTP {status})"


def test_body_without_result_is_a_validation_error() -> None:
    with pytest.raises(ResponseValidationError, match="result"):
        parse_response(ep.LOCK, HttpResponse(200, JSON, b'{"status": "success"}'))
    with pytest.raises(ResponseValidationError, match="JSON"):
        parse_response(ep.LOCK, HttpResponse(200, JSON, b"<html>"))


# --- errors ------------------------------------------------------------------------------


def _token_403(result: Any) -> HttpResponse:
    return HttpResponse(403, JSON, envelope(result))


@pytest.mark.parametrize(
    ("pin", "guest_pin"), [("required", "none"), ("required", "required"), ("none", "none")]
)
def test_request_token_pin_403(pin: str, guest_pin: str) -> None:
    response = _token_403({"pin": pin, "guest_pin": guest_pin, "version": {"version_id": "36"}})
    with pytest.raises(PinRequiredError) as err:
        parse_response(ep.REQUEST_TOKEN, response)
    assert err.value.host_pin is (pin == "required")
    assert err.value.guest_pin is (guest_pin == "required")
    assert err.value.status == 403


@pytest.mark.parametrize(
    ("result", "kind"),
    [
        ({"conference_extension": "required", "conference_extension_type": "mssip"}, "mssip"),
        ({"conference_extension": "required", "conference_extension_type": "standard"}, "standard"),
        # The v10 document's shape; current SDKs reject it, a robust bot accepts it.
        ({"conference_extension": "standard"}, "standard"),
    ],
    ids=["current-mssip", "current-standard", "v10"],
)
def test_request_token_virtual_reception_403(result: dict[str, str], kind: str) -> None:
    with pytest.raises(ExtensionRequiredError) as err:
        parse_response(ep.REQUEST_TOKEN, _token_403(result))
    assert err.value.extension_type == kind


@pytest.mark.parametrize(
    ("endpoint", "reason", "error", "code"),
    [
        (ep.REQUEST_TOKEN, "Invalid PIN", InvalidPinError, ReasonCode.INVALID_PIN),
        (
            ep.REQUEST_TOKEN,
            "Participant exceeded PIN entry retries",
            PinRetriesExceededError,
            ReasonCode.PIN_RETRIES_EXCEEDED,
        ),
        (ep.REFRESH_TOKEN, "Invalid token", InvalidTokenError, ReasonCode.INVALID_TOKEN),
        (ep.MUTE_PARTICIPANT, "Invalid token", InvalidTokenError, ReasonCode.INVALID_TOKEN),
        (ep.TAKE_FLOOR, "Presentation rejected", ForbiddenError, ReasonCode.UNKNOWN),
        (ep.ROLE_PARTICIPANT, "Invalid role", ForbiddenError, ReasonCode.INVALID_ROLE),
    ],
)
def test_plain_string_403_maps_to_typed_error(
    endpoint: Endpoint[Any], reason: str, error: type[ForbiddenError], code: ReasonCode
) -> None:
    for status in ("success", "failed"):
        response = HttpResponse(403, JSON, envelope(reason, status))
        with pytest.raises(ForbiddenError) as err:
            parse_response(endpoint, response)
        assert type(err.value) is error
        assert err.value.code == code
        assert err.value.reason == reason
        assert err.value.endpoint == endpoint.key


async def test_404_and_5xx_map_to_typed_errors() -> None:
    conf, t = make_client()
    t.answer(404, "Neither conference nor gateway found", content_type=JSON)
    with pytest.raises(NotFoundError) as nf:
        await conf.conference_status()
    assert nf.value.status == 404
    assert nf.value.code == ReasonCode.CONFERENCE_NOT_FOUND
    for status in (502, 503):
        t.answer(status, "Service Unavailable", content_type=JSON)
        with pytest.raises(ServerError) as se:
            await conf.lock()
        assert se.value.status == status
    for status in (502, 503, 529):
        with pytest.raises(ServerError) as se:
            parse_response(
                ep.REQUEST_TOKEN, HttpResponse(status, JSON, envelope("Out of resource", "failed"))
            )
        assert se.value.status == status


@pytest.mark.parametrize(
    ("endpoint", "status", "error"),
    [
        (ep.CALLS_WEBRTC_PARTICIPANT, 400, BadRequestError),
        (ep.CALLS_WEBRTC_PARTICIPANT, 500, ServerError),
        (ep.CALLS_RTMP_PARTICIPANT, 504, ServerError),
        (ep.UPDATE, 520, ServerError),
        (ep.DISCONNECT_CALL, 502, ServerError),
        (ep.NEW_CANDIDATE, 502, ServerError),
    ],
)
@pytest.mark.parametrize("content_type", ["text/plain", "text/html", JSON])
def test_text_statuses_are_read_as_raw_text(
    endpoint: Endpoint[Any], status: int, error: type[Exception], content_type: str
) -> None:
    response = HttpResponse(status, content_type, b"Could not parse SDP")
    with pytest.raises(error) as err:
        parse_response(endpoint, response)
    assert getattr(err.value, "status", None) == status
    assert getattr(err.value, "reason", None) == "Could not parse SDP"


def test_status_not_in_the_contract_is_unexpected() -> None:
    with pytest.raises(UnexpectedStatusError) as err:
        parse_response(ep.LOCK, HttpResponse(409, JSON, envelope("conflict", "failed")))
    assert err.value.status == 409
