"""The worker's job runner: one job, one `agent.runtime.Bot` (the same bot `pexbot run`
runs, with the same states, reason codes, exit codes and webhook plugin).

What the service adds: the bot talks to the node through a `FencedTransport`, its state
changes are reported to the job store, a stop request makes it leave, and a resumed job
leaves by the meeting's clock (`leave.duration` counts from the job's first join).
"""

from __future__ import annotations

import asyncio
import logging
import time
from pathlib import Path
from typing import Any

from ..config import ConfigError
from ..infinity import Http11Transport
from ..runtime.plugins import Plugin, PluginLoadError
from ..runtime.states import EXIT_CODES, BotState, FailureReason, StateChanged
from ._fence import FencedTransport
from ._handle import JobHandle, JobOutcome
from ._models import BotRequest
from ._spec import JobSettings, bot_config

log = logging.getLogger(__name__)

_FINAL = (BotState.LEFT, BotState.FAILED)
_IN = (BotState.CONNECTED, BotState.IN_CALL, BotState.WAITING_ROOM)


def artifacts(plugins: list[Plugin[Any]]) -> list[dict[str, Any]]:
    """Folders plugins write to (a plugin with a `folder` path, like the recorder) and where
    they upload them (a `location` URL)."""
    out = []
    for plugin in plugins:
        folder = getattr(plugin, "folder", None)
        if isinstance(folder, Path):
            out.append({"plugin": plugin.name, "kind": "folder", "path": str(folder)})
        location = getattr(plugin, "location", None)
        if isinstance(location, str):
            out.append({"plugin": plugin.name, "kind": "object_storage", "path": location})
    return out


class BotRunner:
    """Runs a job as a `Bot` (see the module doc)."""

    def __init__(self, settings: JobSettings | None = None) -> None:
        self.settings = settings or JobSettings()

    async def __call__(self, handle: JobHandle) -> JobOutcome:
        # Imported here: the bot pulls in aiortc, which a worker only needs once it runs one.
        from ..runtime.bot import Bot  # noqa: PLC0415
        from ..runtime.launch import build_plugins  # noqa: PLC0415

        job = handle.job
        try:
            request = BotRequest.model_validate_json(job.request)
            elapsed = time.time() - job.joined_at if job.joined_at is not None else 0.0
            config = bot_config(
                job.id, request, self.settings, resumed=handle.resumed, elapsed=elapsed
            )
            plugins = build_plugins(config)
        except (ConfigError, PluginLoadError, ValueError) as exc:
            return JobOutcome(
                "failed", FailureReason.CONFIG, str(exc), EXIT_CODES[FailureReason.CONFIG]
            )
        transport = FencedTransport(Http11Transport(), handle.lease_valid)
        bot = Bot(config, plugins, transport=transport, bot_id=job.id)
        joined = job.joined_at is not None

        def on_state(change: StateChanged) -> None:
            nonlocal joined
            if change.new in _FINAL:
                return  # the worker stores the end with the lease's release
            changes: dict[str, Any] = {
                "state": change.new.value,
                "reason": change.reason.value if change.reason else None,
                "detail": change.detail,
            }
            if change.new in _IN and bot.session is not None:
                changes["token_seconds"] = bot.session.joined.expires_seconds
                changes["artifacts"] = artifacts(plugins)
                if not joined:
                    joined = True
                    changes["joined_at"] = time.time()
            handle.report(**changes)

        bot.state.listen(on_state)

        async def stop_when_asked() -> None:
            await handle.stop.wait()
            bot.request_leave(handle.stop_reason)

        stopper = asyncio.create_task(stop_when_asked(), name=f"stop:{job.id}")
        try:
            result = await bot.run()
        finally:
            stopper.cancel()
            await asyncio.gather(stopper, return_exceptions=True)
            await transport.aclose()
        return JobOutcome(
            state=result.state.value,
            reason=result.reason.value if result.reason else None,
            detail=result.detail,
            exit_code=result.exit_code,
            artifacts=artifacts(plugins),
        )
