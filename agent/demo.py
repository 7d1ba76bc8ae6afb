"""`pexbot demo`: a local node, two talking bots and a recording bot, in one process.

No argument and no network: everything runs on 127.0.0.1. Alice sends a 440 Hz tone and
the moving test pattern, Bob an 880 Hz tone and chats, a recorder bot records the
conference. It narrates what happens and ends by saying where the recording went.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from pathlib import Path
from typing import Any, TextIO

from .config import BotConfig, parse_config
from .infinity.models.events import MessageReceived, Stage
from .infinity.roster import Joined, Left
from .node import LocalNode, default_config
from .runtime.bot import Bot, BotResult
from .runtime.launch import build_plugins
from .runtime.plugins import Plugin
from .runtime.states import StateChanged


class Narrator(Plugin[Any]):
    """Prints what the recorder bot sees, with the time since the demo started."""

    name = "narrator"

    def __init__(self, out: TextIO, start: float) -> None:
        super().__init__()
        self._out = out
        self._start = start
        self._speakers: tuple[str, ...] = ()

    def _say(self, text: str) -> None:
        print(f"  {time.monotonic() - self._start:5.1f} s  {text}", file=self._out, flush=True)

    async def on_state_changed(self, change: StateChanged) -> None:
        self._say(f"recorder bot: {change.new}")

    async def on_joined(self, change: Joined) -> None:
        self._say(f"{change.participant.display_name} joined")

    async def on_left(self, change: Left) -> None:
        self._say(f"{change.participant.display_name} left")

    async def on_message_received(self, message: MessageReceived) -> None:
        self._say(f"chat from {message.origin}: {message.payload}")

    async def on_stage(self, stage: Stage) -> None:
        roster = self.context.roster
        speaking = tuple(
            roster[s.participant_uuid].display_name
            for s in stage.speakers
            if s.vad and s.participant_uuid in roster
        )
        if speaking != self._speakers:
            self._speakers = speaking
            self._say(f"speaking: {', '.join(speaking) or 'nobody'}")


class Chatter(Plugin[Any]):
    """Says hello once in the call, then a line every few seconds."""

    name = "chatter"
    _task: asyncio.Task[None] | None = None

    async def on_state_changed(self, change: StateChanged) -> None:
        if change.new == "in_call" and self._task is None:
            self._task = asyncio.create_task(self._talk(), name="demo:chatter")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    async def _talk(self) -> None:
        for line in ("Hello from Bob!", "Bob here, still talking at 880 Hz.", "Bye for now."):
            try:
                await self.context.send_message(line)
            except Exception:  # the bot may be leaving; chatting is best effort
                return
            await asyncio.sleep(6)


def _bot(
    node: LocalNode, name: str, media: dict[str, Any], seconds: float, **extra: Any
) -> BotConfig:
    return parse_config(
        {
            "node": node.base_url,
            "alias": "meet",
            "display_name": name,
            "media": {"ice_host_addresses": ["127.0.0.1"], **media},
            "leave": {"duration": seconds, "alone_seconds": None},
            **extra,
        },
        f"demo:{name}",
    )


async def run_demo(
    seconds: float = 20.0, output_dir: str = "recordings", out: TextIO = sys.stdout
) -> int:
    start = time.monotonic()
    async with LocalNode(default_config()) as node:
        print(f"local Infinity node at {node.base_url} (conference 'meet')", file=out, flush=True)
        recorder_cfg = _bot(
            node,
            "Recorder",
            {"audio": "none", "video": "none", "receive_audio": True, "receive_video": True},
            seconds + 2,
            plugins=[{"name": "recorder", "config": {"output_dir": output_dir}}],
        )
        recorder_plugins = build_plugins(recorder_cfg)
        recorder_bot = Bot(recorder_cfg, [*recorder_plugins, Narrator(out, start)])
        alice = Bot(
            _bot(
                node,
                "Alice",
                {"audio": "tone:440", "video": "pattern", "receive_video": False},
                seconds,
            )
        )
        bob = Bot(
            _bot(
                node,
                "Bob",
                {"audio": "tone:880", "video": "black", "receive_video": False},
                seconds * 0.7,
            ),
            [Chatter()],
        )
        recording = asyncio.create_task(recorder_bot.run())
        await asyncio.sleep(1.0)
        talkers = [asyncio.create_task(alice.run()), asyncio.create_task(bob.run())]
        results: list[BotResult] = await asyncio.gather(*talkers, recording)
    failed = [r for r in results if r.reason is not None]
    for who, result in zip(("Alice", "Bob", "Recorder"), results, strict=True):
        how = f"failed ({result.reason}: {result.detail})" if result.reason else "left cleanly"
        print(f"{who}: {how}", file=out)
    recorder = recorder_plugins[0]
    folder = getattr(recorder, "folder", None)
    if folder is not None:
        folder = Path(folder)
        print(f"\nrecording: {folder.resolve()}/", file=out)
        for path in sorted(folder.iterdir()):
            print(f"  {path.name:<24} {path.stat().st_size:>10,} bytes", file=out)
        summary = folder / "summary.json"
        if summary.exists():
            data = json.loads(summary.read_text())
            talk = data.get("talk_time") or data.get("talk_seconds") or {}
            print(f"  duration {data.get('duration', 0):.1f} s; talk time: {talk}", file=out)
        print("timeline: timeline.jsonl (one JSON object per line)", file=out)
    return 1 if failed else 0
