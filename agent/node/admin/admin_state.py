"""What the management side of one node keeps besides the conference state: alarms,
OAuth2 tokens and the event-sink emitters. Stored in the app under `ADMIN`."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from .alarms import Alarms
from .oauth import OAuthTokens


@dataclass
class AdminState:
    oauth: OAuthTokens
    alarms: Alarms = field(default_factory=Alarms)
    sinks: list[Any] = field(default_factory=list)  # sink.SinkEmitter (imports this module)


ADMIN = web.AppKey("admin", AdminState)
