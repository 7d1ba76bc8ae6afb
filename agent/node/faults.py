"""Fault knobs: settable from the TOML `[faults]` table and at run time via `/_node/faults`.

They make the hard client paths testable: short token lifetimes, refused refreshes, event
streams that drop, and HTTP errors or delays on chosen routes.
"""

from __future__ import annotations

import asyncio
import random
from typing import Any

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field

from .http import ApiError, error_response


class RouteFault(BaseModel):
    """Applied to every request of one route (named by its schema endpoint key, e.g.
    `request_token`, `calls`, `events`)."""

    model_config = ConfigDict(extra="forbid")

    status: int | None = Field(default=None, ge=400, le=599)
    # Probability that `status` is returned instead of the real answer.
    rate: float = Field(default=1.0, ge=0, le=1)
    delay: float = Field(default=0.0, ge=0, le=60)
    # Delay only the requests answered with `status` (a slow failure), not every request.
    delay_failures_only: bool = False
    result: str = "Injected fault"
    # Sent as `Retry-After` (seconds) with the injected status, e.g. a 429 or 503.
    retry_after: float | None = Field(default=None, ge=0)


class FaultConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    token_lifetime: int = Field(default=120, ge=1)
    refuse_refresh: bool = False
    drop_events_after: int | None = Field(default=None, ge=1)
    drop_events_after_seconds: float | None = Field(default=None, gt=0)
    routes: dict[str, RouteFault] = Field(default_factory=dict)


class Faults:
    """The live fault settings of one node."""

    def __init__(self, config: FaultConfig, seed: int | None = None) -> None:
        self.config = config
        self._rng = random.Random(seed)

    def update(self, patch: dict[str, Any]) -> FaultConfig:
        """Merge a partial setting (top-level keys replace, `routes` entries replace)."""
        merged = self.config.model_dump()
        routes = merged.pop("routes")
        for key, value in patch.items():
            if key == "routes":
                if not isinstance(value, dict):
                    raise ApiError(400, "routes must be an object")
                for name, route in value.items():
                    if route is None:
                        routes.pop(name, None)
                    else:
                        routes[name] = route
            else:
                merged[key] = value
        merged["routes"] = routes
        self.config = FaultConfig.model_validate(merged)
        return self.config

    def reset(self, config: FaultConfig) -> None:
        self.config = config

    async def apply(self, route: str) -> web.StreamResponse | None:
        """Delay and/or fail a request; None lets the real handler answer."""
        fault = self.config.routes.get(route)
        if fault is None:
            return None
        status = fault.status
        if status is not None and self._rng.random() >= fault.rate:
            status = None  # this one is answered for real
        if fault.delay and (status is not None or not fault.delay_failures_only):
            await asyncio.sleep(fault.delay)
        if status is not None:
            response = error_response(status, fault.result)
            if fault.retry_after is not None:
                response.headers["Retry-After"] = f"{fault.retry_after:g}"
            return response
        return None
