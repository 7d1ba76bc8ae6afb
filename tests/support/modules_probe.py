"""A plugin for tests of what a `pexbot run` process imports: once the bot is in the call
and media has flowed for `settle` seconds, it writes the modules of the process's
`sys.modules` whose code has run (sorted, JSON; not those imported lazily and untouched) to
`out` and leaves. Load it as `./tests/support/modules_probe.py:ModulesProbe`."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

from pydantic import BaseModel

from agent import BotState, Plugin, StateChanged
from agent._lazy_imports import loaded_modules


class ModulesProbeConfig(BaseModel):
    out: str
    settle: float = 2.0


class ModulesProbe(Plugin[ModulesProbeConfig]):
    name = "modules_probe"
    Config = ModulesProbeConfig

    async def on_state_changed(self, change: StateChanged) -> None:
        if change.new != BotState.IN_CALL:
            return
        await asyncio.sleep(self.config.settle)
        Path(self.config.out).write_text(json.dumps(loaded_modules()))
        self.context.leave("modules written")
