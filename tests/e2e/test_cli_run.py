"""`pexbot run` and `pexbot fleet` as a user runs them, against an in-process local node."""

from __future__ import annotations

import asyncio
import base64
import signal
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import av
import numpy as np
import pytest

from agent import DecodedFrame, Plugin
from agent.config import parse_config
from agent.media.analysis import frame_to_mono, has_tone
from agent.media.sources import TestPatternSource, ToneSource, audio_frame, read_frame_counter
from agent.node import LocalNode
from agent.runtime.bot import Bot
from tests.support.bots import local_config
from tests.support.inspect_node import names_in, with_control
from tests.support.pexbot_cmd import start


@pytest.fixture
async def node() -> AsyncIterator[LocalNode]:
    async with LocalNode(with_control()) as n:
        yield n


SIGNALLING_ONLY = ["--audio", "none", "--video", "none"]


async def test_wrong_pin_exits_with_its_code_and_one_line_reason(node: LocalNode) -> None:
    proc = await start(
        "run", "--node", node.base_url, "--alias", "secure", "--name", "Bot",
        "--pin-env", "BOT_PIN", *SIGNALLING_ONLY,
        env={"BOT_PIN": "000999"},
    )  # fmt: skip
    _out, err = await asyncio.wait_for(proc.communicate(), 30)
    assert proc.returncode == 11
    last = err.decode().strip().splitlines()[-1]
    assert last == "pexbot: failed (invalid_pin): Invalid PIN"
    assert b"000999" not in err


async def test_config_file_with_flags_winning_and_clean_exit(
    node: LocalNode, tmp_path: Path
) -> None:
    cfg = tmp_path / "bot.toml"
    cfg.write_text(
        f'node = "{node.base_url}"\nalias = "nowhere"\ndisplay_name = "FromFile"\n'
        'pin = "1234"\n[media]\naudio = "none"\nvideo = "none"\n'
        "receive_audio = false\nreceive_video = false\n"
    )
    proc = await start("run", str(cfg), "--alias", "secure", "--duration", "1")
    _out, err = await asyncio.wait_for(proc.communicate(), 30)
    assert proc.returncode == 0, err.decode()
    assert "1234" not in err.decode()


async def test_invalid_config_names_every_problem(tmp_path: Path) -> None:
    cfg = tmp_path / "bot.toml"
    cfg.write_text(
        'node = "nope"\nalias = "x"\n[media]\naudio = "tone:loud"\n[[plugins]]\nname = "no-such"\n'
    )
    proc = await start("run", str(cfg))
    _out, err = await asyncio.wait_for(proc.communicate(), 30)
    assert proc.returncode == 2
    text = err.decode()
    assert f"{cfg}: node:" in text and f"{cfg}: media.audio:" in text


async def test_sigterm_leaves_cleanly_and_releases_the_token(node: LocalNode) -> None:
    proc = await start(
        "run", "--node", node.base_url, "--alias", "meet", "--name", "Stayer", *SIGNALLING_ONLY
    )
    try:
        async with asyncio.timeout(20):
            while "Stayer" not in await names_in(node, "meet"):  # noqa: ASYNC110
                await asyncio.sleep(0.1)
        proc.send_signal(signal.SIGTERM)
        _out, err = await asyncio.wait_for(proc.communicate(), 20)
        assert proc.returncode == 0, err.decode()
        assert "Stayer" not in await names_in(node, "meet")
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()


async def test_fleet_runs_every_bot_and_summarises(node: LocalNode, tmp_path: Path) -> None:
    fleet = tmp_path / "fleet.toml"
    fleet.write_text(
        f'[defaults]\nnode = "{node.base_url}"\nalias = "meet"\n'
        '[defaults.media]\naudio = "none"\nvideo = "none"\nreceive_audio = false\n'
        "receive_video = false\n[defaults.leave]\nduration = 1.5\nalone_seconds = 60\n"
        '[[bots]]\ndisplay_name = "one"\n[[bots]]\ndisplay_name = "two"\n'
        '[[bots]]\ndisplay_name = "bad"\nalias = "secure"\npin = "0000"\n'
    )
    proc = await start("fleet", str(fleet))
    out, err = await asyncio.wait_for(proc.communicate(), 30)
    text = out.decode()
    assert proc.returncode == 1, err.decode()
    assert "2 of 3 bots left cleanly" in text
    assert "invalid_pin" in text


async def test_sigterm_finalizes_the_recording(node: LocalNode, tmp_path: Path) -> None:
    import json

    from agent.runtime.bot import Bot

    talking_media = {"audio": "tone:440", "video": "pattern", "receive_video": False}
    talker = Bot(local_config(node.base_url, "Talker", talking_media))
    talking = asyncio.create_task(talker.run())
    cfg = tmp_path / "rec.toml"
    cfg.write_text(
        f'node = "{node.base_url}"\nalias = "meet"\ndisplay_name = "Rec"\n'
        '[media]\naudio = "none"\nvideo = "none"\n'
        f'[[plugins]]\nname = "recorder"\nconfig = {{ output_dir = "{tmp_path}" }}\n'
    )
    proc = await start("run", str(cfg))
    try:
        async with asyncio.timeout(20):
            while "Rec" not in await names_in(node, "meet"):  # noqa: ASYNC110
                await asyncio.sleep(0.1)
        await asyncio.sleep(3.0)
        proc.send_signal(signal.SIGTERM)
        _out, err = await asyncio.wait_for(proc.communicate(), 30)
        assert proc.returncode == 0, err.decode()
        assert "Rec" not in await names_in(node, "meet")  # release_token reached the node
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
        talker.request_leave()
        await asyncio.wait_for(talking, 15)
    (folder,) = [p for p in tmp_path.iterdir() if p.is_dir()]
    media = folder / "recording-000.webm"
    probe = await asyncio.create_subprocess_exec(
        "ffprobe", "-v", "error", "-show_entries", "format=duration:stream=codec_name",
        "-of", "json", str(media),
        stdout=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, _ = await probe.communicate()
    info = json.loads(out)
    assert {s["codec_name"] for s in info["streams"]} == {"opus", "vp8"}
    assert float(info["format"]["duration"]) > 2.0
    summary = json.loads((folder / "summary.json").read_text())
    assert summary["talk_time"].get("Talker", 0) > 1.0
    assert (summary["alias"], summary["conference"]) == ("meet", "meet")
    timeline = [json.loads(line) for line in (folder / "timeline.jsonl").read_text().splitlines()]
    (join,) = [line for line in timeline if line["type"] == "state" and line["new"] == "connected"]
    assert join["t"] == 0.0  # the time base
    assert all(line["t"] >= 0 for line in timeline)


async def _everyone_seen(node: LocalNode) -> list[str]:
    """Names of everyone in a conference now or in the node's participant history."""
    headers = {"Authorization": f"Basic {base64.b64encode(b'admin:admin').decode()}"}
    url = f"{node.base_url}/api/admin/history/v1/participant/"
    async with aiohttp.ClientSession() as http, http.get(url, headers=headers) as r:
        assert r.status == 200, await r.text()
        ended = [p["display_name"] for p in (await r.json())["objects"]]
    return ended + await names_in(node, "meet")


async def test_unopenable_media_file_fails_before_joining(node: LocalNode) -> None:
    proc = await start(
        "run", "--node", node.base_url, "--alias", "meet", "--name", "Player",
        "--audio", "file:/nonexistent", "--video", "none",
    )  # fmt: skip
    _out, err = await asyncio.wait_for(proc.communicate(), 30)
    text = err.decode()
    assert proc.returncode == 23, text
    assert text.strip().splitlines()[-1] == (
        "pexbot: failed (media): cannot open /nonexistent: No such file or directory"
    )
    assert "Traceback" not in text
    assert "Player" not in await _everyone_seen(node)


def _write_tone_wav(path: Path, seconds: float, hz: float) -> None:
    tone = ToneSource(hz)
    with av.open(str(path), "w") as out:
        stream = out.add_stream("pcm_s16le", rate=48000, layout="mono")
        for n in range(int(seconds / 0.02)):
            for packet in stream.encode(audio_frame(tone.samples(n), n * 960)):
                out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)


def _write_pattern_mp4(path: Path, seconds: float, fps: int = 15) -> None:
    """The test pattern (a frame counter in every picture), MPEG-4 in MP4."""
    pattern = TestPatternSource(320, 240, fps)
    with av.open(str(path), "w") as out:
        stream = out.add_stream("mpeg4", rate=fps)
        stream.width, stream.height, stream.pix_fmt = 320, 240, "yuv420p"
        stream.bit_rate = 1_000_000
        for n in range(int(seconds * fps)):
            frame = av.VideoFrame.from_ndarray(pattern.picture(n), format="yuv420p")
            frame.pts = n
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)


class _Watcher(Plugin[Any]):
    """Keeps decoded audio and the frame counters read from decoded video."""

    wants_audio_frames = True
    wants_video_frames = True

    def __init__(self) -> None:
        super().__init__()
        self.audio: list[np.ndarray[Any, Any]] = []
        self.counters: list[int] = []

    async def on_audio_frame(self, item: DecodedFrame) -> None:
        self.audio.append(frame_to_mono(item.frame))

    async def on_video_frame(self, item: DecodedFrame) -> None:
        counter = read_frame_counter(item.frame)
        if counter is not None:
            self.counters.append(counter)


async def test_audio_and_video_from_two_files(node: LocalNode, tmp_path: Path) -> None:
    wav, mp4 = tmp_path / "a.wav", tmp_path / "b.mp4"
    _write_tone_wav(wav, 2.0, 440.0)
    _write_pattern_mp4(mp4, 2.0)
    watcher = _Watcher()
    bot = Bot(
        parse_config(
            {
                "node": node.base_url,
                "alias": "meet",
                "display_name": "Watcher",
                "media": {"audio": "none", "video": "none", "ice_host_addresses": ["127.0.0.1"]},
                "leave": {"alone_seconds": None},
            }
        ),
        [watcher],
    )
    watching = asyncio.create_task(bot.run())
    try:
        proc = await start(
            "run", "--node", node.base_url, "--alias", "meet", "--name", "Player",
            "--audio", f"file:{wav}", "--video", f"file:{mp4}", "--duration", "6",
        )  # fmt: skip
        _out, err = await asyncio.wait_for(proc.communicate(), 30)
        assert proc.returncode == 0, err.decode()
    finally:
        bot.request_leave()
        await asyncio.wait_for(watching, 15)
    # The picture is b.mp4's (its counters, looping) and the sound a.wav's tone.
    assert len(watcher.counters) > 10, watcher.counters
    assert set(watcher.counters) <= set(range(30))
    assert watcher.audio and has_tone(np.concatenate(watcher.audio), 440.0)


def _recorder_toml(path: Path, node: LocalNode, alias: str, output_dir: Path) -> Path:
    path.write_text(
        f'node = "{node.base_url}"\nalias = "{alias}"\ndisplay_name = "Rec"\npin = "0000"\n'
        '[media]\naudio = "none"\nvideo = "none"\n'
        f'[[plugins]]\nname = "recorder"\nconfig = {{ output_dir = "{output_dir}" }}\n'
    )
    return path


async def test_unwritable_recording_folder_fails_before_joining(
    node: LocalNode, tmp_path: Path
) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    output = blocker / "recordings"
    proc = await start("run", str(_recorder_toml(tmp_path / "rec.toml", node, "meet", output)))
    _out, err = await asyncio.wait_for(proc.communicate(), 30)
    text = err.decode()
    assert proc.returncode == 22, text
    assert text.strip().splitlines()[-1] == (
        f"pexbot: failed (storage): recording folder {output} is not writable: "
        f"{blocker} is not a folder"
    )
    assert "Traceback" not in text
    assert "Rec" not in await _everyone_seen(node)


async def test_a_recorder_that_never_joined_leaves_no_folder(
    node: LocalNode, tmp_path: Path
) -> None:
    output = tmp_path / "recordings"
    output.mkdir()
    proc = await start("run", str(_recorder_toml(tmp_path / "rec.toml", node, "secure", output)))
    _out, err = await asyncio.wait_for(proc.communicate(), 30)
    assert proc.returncode == 11, err.decode()  # the wrong PIN
    assert list(output.iterdir()) == []


async def test_a_misspelt_hook_fails_to_load_with_one_clear_line(tmp_path: Path) -> None:
    (tmp_path / "greeter.py").write_text(
        "from agent import Joined, Plugin\n\n\n"
        "class Greeter(Plugin):\n"
        "    async def on_joind(self, change: Joined) -> None:\n"
        "        await self.context.send_message('welcome')\n"
    )
    # Fails before joining: the node address is never contacted.
    proc = await start(
        "run", "--node", "http://127.0.0.1:9", "--alias", "meet",
        "--plugin", "greeter:Greeter", *SIGNALLING_ONLY,
        env={"PYTHONPATH": str(tmp_path)},
    )  # fmt: skip
    out, err = await asyncio.wait_for(proc.communicate(), 30)
    assert proc.returncode == 2
    assert err.decode().splitlines() == [
        "pexbot: invalid configuration: command line: plugin greeter.Greeter: on_joind is not "
        "a hook; did you mean on_joined? (on_* names are reserved for hooks)"
    ]
    assert b"Traceback" not in err and out == b""
