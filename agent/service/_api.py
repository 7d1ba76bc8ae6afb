"""The HTTP API (`pexbot serve`): aiohttp routes over a `JobStore`.

Every error is an `ErrorBody` (`{"error": {"code", "message", "details"}}`), also for
unknown routes and wrong methods. Validation details name the field, never its value
(it may be a secret). Bearer API keys guard everything but the OpenAPI document and the
health check.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

from aiohttp import web
from pydantic import ValidationError
from redis.exceptions import RedisError

from ._auth import ApiKey, ApiKeys
from ._models import (
    JOB_STATES,
    Artifact,
    BotPage,
    BotRequest,
    BotView,
    ErrorBody,
    ErrorDetail,
    ErrorInfo,
    Timings,
)
from ._openapi import openapi_document
from ._spec import SecretPolicy, check_request, request_hash
from ._store import JobRecord, JobStore, LeaveOutcome, new_job_id

log = logging.getLogger(__name__)

IDEMPOTENCY_TTL = 24 * 3600.0
MAX_BODY = 256 * 1024
_KEY: web.RequestKey[ApiKey] = web.RequestKey("key", ApiKey)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class ApiError(Exception):
    def __init__(
        self, status: int, code: str, message: str, details: list[ErrorDetail] | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.details = details or []


def error_response(
    status: int, code: str, message: str, details: list[ErrorDetail] | None = None
) -> web.Response:
    body = ErrorBody(error=ErrorInfo(code=code, message=message, details=details or []))
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    return web.json_response(body.model_dump(mode="json"), status=status, headers=headers)


def _time(value: float | None) -> datetime | None:
    return None if value is None else datetime.fromtimestamp(value, UTC)


def view(job: JobRecord) -> BotView:
    """A stored job as the API shows it."""
    request = BotRequest.model_validate_json(job.request)
    return BotView(
        id=job.id,
        state=job.state,
        reason=job.reason,
        detail=job.detail,
        exit_code=job.exit_code,
        worker=job.worker or None,
        attempts=job.attempts,
        resumes=max(job.attempts - 1, 0),
        leave_requested=job.leave_requested,
        timings=Timings(
            created_at=datetime.fromtimestamp(job.created_at, UTC),
            join_at=_time(job.join_at),
            claimed_at=_time(job.claimed_at),
            joined_at=_time(job.joined_at),
            ended_at=_time(job.ended_at),
            stop_received_at=_time(job.stop_received_at),
        ),
        artifacts=[Artifact.model_validate(a) for a in job.artifacts],
        metadata=request.metadata,
        request=request,
    )


def _json(model: BotView | BotPage, status: int = 200, **headers: str) -> web.Response:
    return web.json_response(model.model_dump(mode="json"), status=status, headers=headers)


class ServiceApi:
    """The `/v1` routes over a job store, guarded by API keys."""

    def __init__(self, store: JobStore, keys: ApiKeys, secrets: SecretPolicy | None = None) -> None:
        self.store = store
        self.keys = keys
        self.secrets = secrets or SecretPolicy()

    def app(self) -> web.Application:
        app = web.Application(middlewares=[self._errors, self._auth], client_max_size=MAX_BODY)
        r = app.router
        r.add_get("/v1/openapi.json", self.openapi)
        r.add_get("/v1/health", self.health)
        r.add_post("/v1/bots", self.create)
        r.add_get("/v1/bots", self.list_bots)
        r.add_get("/v1/bots/{id}", self.get)
        r.add_post("/v1/bots/{id}/leave", self.leave)
        return app

    # -- middlewares -------------------------------------------------------------------

    @web.middleware
    async def _errors(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        try:
            return await handler(request)
        except ApiError as exc:
            return error_response(exc.status, exc.code, exc.message, exc.details)
        except web.HTTPException as exc:  # aiohttp's own: unknown route, wrong method
            if exc.status < 400:
                raise
            code = {404: "not_found", 405: "method_not_allowed", 413: "too_large"}.get(
                exc.status, "http_error"
            )
            return error_response(exc.status, code, exc.reason)
        except Exception as exc:
            if isinstance(exc, RedisError | OSError):
                log.warning("job store unavailable: %s", exc)
                return error_response(503, "unavailable", "the job store cannot be reached")
            log.exception("API error on %s %s", request.method, request.path)
            return error_response(500, "internal", "internal error")

    @web.middleware
    async def _auth(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.path in ("/v1/openapi.json", "/v1/health"):
            return await handler(request)
        key = self.keys.check(request.headers.get("Authorization"))
        if key is None:
            raise ApiError(401, "unauthorized", "missing or unknown API key (Bearer)")
        if request.method not in ("GET", "HEAD") and key.scope != "write":
            raise ApiError(403, "forbidden", "this API key may only read")
        request[_KEY] = key
        return await handler(request)

    # -- routes --------------------------------------------------------------------------

    async def openapi(self, request: web.Request) -> web.Response:
        return web.json_response(openapi_document())

    async def health(self, request: web.Request) -> web.Response:
        await self.store.get("health-check")
        return web.json_response({"status": "ok"})

    async def create(self, request: web.Request) -> web.Response:
        key: ApiKey = request[_KEY]
        idem = request.headers.get("Idempotency-Key")
        if idem is not None and not 1 <= len(idem) <= 200:
            raise ApiError(422, "invalid_request", "Idempotency-Key: 1 to 200 characters")
        try:
            data: Any = await request.json()
        except ValueError:
            raise ApiError(422, "invalid_request", "the body is not JSON") from None
        try:
            bot = BotRequest.model_validate(data)
        except ValidationError as exc:
            raise ApiError(422, "invalid_request", "invalid bot request", _details(exc)) from None
        problems = check_request(bot, self.secrets)
        if problems:
            raise ApiError(422, "invalid_request", "invalid bot request", problems)
        now = time.time()
        job = JobRecord(
            id=new_job_id(),
            request=bot.model_dump_json(),
            request_hash=request_hash(bot),
            state="queued",
            created_at=now,
            join_at=bot.join_at.timestamp() if bot.join_at is not None else None,
            owner=key.id,
        )
        scoped = f"{key.id}:{idem}" if idem is not None else None
        stored, created = await self.store.create(job, scoped, IDEMPOTENCY_TTL)
        if not created and stored.request_hash != job.request_hash:
            raise ApiError(
                409,
                "idempotency_conflict",
                "this Idempotency-Key was used with a different request",
            )
        if created:
            log.info("bot %s created for %s", stored.id, bot.meeting.alias)
            return _json(view(stored), 201, Location=f"/v1/bots/{stored.id}")
        return _json(view(stored), 200, **{"Idempotent-Replayed": "true"})

    async def get(self, request: web.Request) -> web.Response:
        job = await self.store.get(request.match_info["id"])
        if job is None:
            raise ApiError(404, "not_found", "no such bot")
        return _json(view(job))

    async def list_bots(self, request: web.Request) -> web.Response:
        query = request.query
        state = query.get("state")
        problems = []
        if state is not None and state not in JOB_STATES:
            problems.append(ErrorDetail(loc="state", message=f"one of {', '.join(JOB_STATES)}"))
        limit = _int(query.get("limit", "50"))
        if limit is None or not 1 <= limit <= 200:
            problems.append(ErrorDetail(loc="limit", message="an integer from 1 to 200"))
        cursor = _int(query["cursor"]) if "cursor" in query else None
        if "cursor" in query and cursor is None:
            problems.append(ErrorDetail(loc="cursor", message="not a cursor from this API"))
        if problems:
            raise ApiError(422, "invalid_request", "invalid query", problems)
        assert limit is not None
        jobs, next_cursor = await self.store.page(state, cursor, limit)
        page = BotPage(
            items=[view(j) for j in jobs],
            next_cursor=None if next_cursor is None else str(next_cursor),
        )
        return _json(page)

    async def leave(self, request: web.Request) -> web.Response:
        job_id = request.match_info["id"]
        outcome = await self.store.request_leave(job_id, time.time())
        if outcome == LeaveOutcome.NOT_FOUND:
            raise ApiError(404, "not_found", "no such bot")
        if outcome == LeaveOutcome.FINISHED:
            raise ApiError(409, "already_ended", "the bot has already left or failed")
        job = await self.store.get(job_id)
        if job is None:
            raise ApiError(404, "not_found", "no such bot")
        return _json(view(job), 202)


def _int(text: str) -> int | None:
    try:
        return int(text)
    except ValueError:
        return None


def _details(exc: ValidationError) -> list[ErrorDetail]:
    """One detail per problem, without the input (it may be a secret)."""
    return [
        ErrorDetail(loc=".".join(str(p) for p in err["loc"]) or "(body)", message=err["msg"])
        for err in exc.errors()
    ]
