"""Records `stage_sequence.jsonl`: the stage events a bot saw on the local node while four
guests sent white noise, the espeak speech, a steady tone and noise whose level swings
across the node's VAD thresholds (so its voice activity flaps), starting a few seconds
apart. Each line: `{"t": seconds since the first event, "speaking": [names]}`.

Run from the repository root: `.venv/bin/python -m tests.support.moderator.record_stage`
(about 25 s). The unit tests replay the committed file through the rule engine.
"""

from __future__ import annotations

import asyncio
import json
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from agent import Plugin, Stage, parse_config
from agent.node import LocalNode, NodeConfig, default_config
from agent.runtime.bot import Bot
from agent.runtime.states import BotState

from . import HERE, RATE, SPEECH, tone, white, write_wav

OUT = HERE / "stage_sequence.jsonl"
SECONDS = 20.0


def flapping_noise(seconds: float) -> Any:
    """White noise whose level swings between -36 and -56 dBFS at 1.3 Hz."""
    t = np.arange(int(seconds * RATE)) / RATE
    level_db = -46 + 10 * np.sin(2 * np.pi * 1.3 * t)
    return white(seconds, 1.0, seed=7) * 10 ** (level_db / 20) * np.sqrt(2)


class StageLog(Plugin[Any]):
    name = "stage-log"

    def __init__(self) -> None:
        super().__init__()
        self.events: list[tuple[float, list[str]]] = []

    async def on_stage(self, event: Stage) -> None:
        loop = asyncio.get_running_loop()
        self.events.append((loop.time(), [s.participant_uuid for s in event.speakers if s.vad]))


def config(node: LocalNode, name: str, audio: str) -> Any:
    return parse_config(
        {
            "node": node.base_url,
            "alias": "meet",
            "display_name": name,
            "media": {
                "audio": audio,
                "video": "none",
                "receive_video": False,
                "ice_host_addresses": ["127.0.0.1"],
            },
        }
    )


async def main() -> None:
    async with LocalNode(NodeConfig(services=default_config().services)) as node:
        with tempfile.TemporaryDirectory() as tmp:
            files = {
                "noise": write_wav(Path(tmp) / "noise.wav", white(10.0, 0.1)),
                "tone": write_wav(Path(tmp) / "tone.wav", tone(10.0)),
                "flap": write_wav(Path(tmp) / "flap.wav", flapping_noise(10.0)),
            }
            log = StageLog()
            observer = Bot(config(node, "observer", "silence"), [log])
            guests = [
                ("noise", f"file:{files['noise']}"),
                ("speech", f"file:{SPEECH}"),
                ("tone", f"file:{files['tone']}"),
                ("flap", f"file:{files['flap']}"),
            ]
            bots = [observer] + [Bot(config(node, n, a)) for n, a in guests]
            tasks = [asyncio.create_task(observer.run())]
            while observer.state.state != BotState.IN_CALL:  # noqa: ASYNC110
                await asyncio.sleep(0.05)
            for bot in bots[1:]:
                tasks.append(asyncio.create_task(bot.run()))
                await asyncio.sleep(3.0)
            await asyncio.sleep(SECONDS - 3.0 * len(guests))
            names = {next(iter(b.own_uuids)): b.config.display_name for b in bots}
            for bot in bots:
                bot.request_leave()
            await asyncio.gather(*tasks)
    t0 = log.events[0][0]
    lines = [
        json.dumps({"t": round(t - t0, 3), "speaking": sorted(names.get(u, u) for u in s)})
        for t, s in log.events
    ]
    OUT.write_text("\n".join(lines) + "\n")
    print(f"{OUT}: {len(lines)} stage events")


if __name__ == "__main__":
    asyncio.run(main())
