"""The OpenAPI 3.1 document of `/v1`, generated from the pydantic models (so it cannot
drift from what the API validates and returns)."""

from __future__ import annotations

from functools import cache
from importlib.metadata import PackageNotFoundError, version
from typing import Any

from pydantic.json_schema import models_json_schema

from ._models import JOB_STATES, BotPage, BotRequest, BotView, ErrorBody


def _version() -> str:
    try:
        return version("pexbot")
    except PackageNotFoundError:
        return "0"


def _json(ref: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": ref}}}


@cache
def openapi_document() -> dict[str, Any]:
    refs, defs = models_json_schema(
        [
            (BotRequest, "validation"),
            (BotView, "serialization"),
            (BotPage, "serialization"),
            (ErrorBody, "serialization"),
        ],
        ref_template="#/components/schemas/{model}",
    )
    request = refs[(BotRequest, "validation")]
    view = refs[(BotView, "serialization")]
    page = refs[(BotPage, "serialization")]
    error = refs[(ErrorBody, "serialization")]

    def errors(*codes: int) -> dict[str, Any]:
        why = {
            401: "missing or unknown API key",
            403: "the key may not do this (a read-only key)",
            404: "no such bot",
            409: "conflict (idempotency key reused with another body; bot already ended)",
            422: "invalid request (details name each field)",
            503: "the job store cannot be reached",
        }
        return {str(c): _json(error, why[c]) for c in codes}

    bot_id = {"name": "id", "in": "path", "required": True, "schema": {"type": "string"}}
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "pexbot service",
            "version": _version(),
            "description": "Bots as a service: send a bot (a recorder, ...) to a Pexip meeting.",
        },
        "components": {
            "schemas": defs["$defs"],
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
        "security": [{"bearer": []}],
        "paths": {
            "/v1/bots": {
                "post": {
                    "operationId": "createBot",
                    "summary": "Send a bot to a meeting (now, or at `join_at`)",
                    "parameters": [
                        {
                            "name": "Idempotency-Key",
                            "in": "header",
                            "required": False,
                            "schema": {"type": "string", "maxLength": 200},
                            "description": "the same key and body within 24 h return the "
                            "same bot (200) instead of a new one",
                        }
                    ],
                    "requestBody": {
                        "required": True,
                        "content": {"application/json": {"schema": request}},
                    },
                    "responses": {
                        "201": _json(view, "created"),
                        "200": _json(view, "replayed: the bot this Idempotency-Key made"),
                        **errors(401, 403, 409, 422, 503),
                    },
                },
                "get": {
                    "operationId": "listBots",
                    "summary": "Bots, newest first, one page at a time",
                    "parameters": [
                        {
                            "name": "state",
                            "in": "query",
                            "schema": {"type": "string", "enum": list(JOB_STATES)},
                        },
                        {
                            "name": "limit",
                            "in": "query",
                            "schema": {
                                "type": "integer",
                                "minimum": 1,
                                "maximum": 200,
                                "default": 50,
                            },
                        },
                        {"name": "cursor", "in": "query", "schema": {"type": "string"}},
                    ],
                    "responses": {"200": _json(page, "a page"), **errors(401, 422, 503)},
                },
            },
            "/v1/bots/{id}": {
                "get": {
                    "operationId": "getBot",
                    "parameters": [bot_id],
                    "responses": {"200": _json(view, "the bot"), **errors(401, 404, 503)},
                }
            },
            "/v1/bots/{id}/leave": {
                "post": {
                    "operationId": "leaveBot",
                    "summary": "Make the bot leave (a scheduled or queued one never starts)",
                    "parameters": [bot_id],
                    "responses": {
                        "202": _json(view, "asked to leave (or cancelled)"),
                        **errors(401, 403, 404, 409, 503),
                    },
                }
            },
            "/v1/health": {
                "get": {
                    "operationId": "health",
                    "security": [],
                    "responses": {"200": {"description": "the API and its job store are up"}},
                }
            },
        },
    }
