"""`pexbot admin` and `pexbot sink` as a user runs them: during a demo conference the
participants table lists the bots with their media figures; errors are one line with an
exit code and no traceback."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
from pathlib import Path

import aiohttp

from agent.node import LocalNode, default_config
from tests.support.pexbot_cmd import pexbot, start

REPO = Path(__file__).resolve().parents[2]


async def admin(url: str, *args: str, password: str = "admin") -> tuple[int, str, str]:
    ran = await pexbot("admin", "--url", url, *args, env={"PEXBOT_ADMIN_PASSWORD": password})
    return ran.code, ran.out, ran.err


async def test_participants_of_a_demo_conference_with_media_quality(tmp_path: Path) -> None:
    demo = await start("demo", "--seconds", "12", "--output", str(tmp_path))
    try:
        assert demo.stdout is not None
        line = (await asyncio.wait_for(demo.stdout.readline(), 60)).decode()
        assert line.startswith("local Infinity node at "), line
        url = line.split()[4]
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 30
        while True:  # until the three bots are in with media flowing
            code, out, err = await admin(url, "--json", "participants", "--conference", "meet")
            assert code == 0, err
            people = json.loads(out)
            # Alice and Bob send; the node sends to all three (the recorder only listens).
            talking = {p["display_name"] for p in people if (p["media"]["rx_kbps"] or 0) > 0}
            fed = {p["display_name"] for p in people if (p["media"]["tx_kbps"] or 0) > 0}
            if talking >= {"Alice", "Bob"} and len(fed) == 3:
                break
            assert loop.time() < deadline, people
            await asyncio.sleep(0.5)
        code, out, err = await admin(url, "participants")
        assert code == 0 and err == ""
        header, *rows = out.splitlines()
        assert header.split()[:5] == ["NAME", "CONFERENCE", "ROLE", "PROTOCOL", "QUALITY"]
        assert "LOSS %" in header and "JITTER MS" in header
        by_name = {row.split()[0]: row.split() for row in rows}
        assert set(by_name) == {"Alice", "Bob", "Recorder"}
        for cells in by_name.values():
            assert cells[1] == "meet" and cells[3] == "WebRTC"
            assert cells[4] in {"0_unknown", "1_good", "2_ok", "3_bad", "4_terrible"}
            assert "audio" in cells[5]
            assert float(cells[7]) > 0  # kbps the node sends to the bot
        assert float(by_name["Alice"][6]) > 0 and float(by_name["Bob"][6]) > 0
        code, out, _ = await admin(url, "conferences")
        assert code == 0 and out.splitlines()[1].split()[:5] == ["meet", "conference", "no",
                                                                  "yes", "3"]  # fmt: skip
    finally:
        if demo.returncode is None:
            demo.send_signal(signal.SIGINT)
            try:
                await asyncio.wait_for(demo.wait(), 20)
            except TimeoutError:
                demo.kill()
                await demo.wait()


async def test_history_table_and_json() -> None:
    async with LocalNode(default_config()) as node:
        async with aiohttp.ClientSession() as http:
            url = node.api_url("meet") + "/request_token"
            async with http.post(url, json={"display_name": "Gone"}) as resp:
                token = (await resp.json())["result"]["token"]
            async with http.post(
                node.api_url("meet") + "/release_token", headers={"token": token}
            ) as resp:
                assert resp.status == 200
        code, out, err = await admin(node.base_url, "history", "--minutes", "5")
        assert code == 0, err
        header, row = out.splitlines()
        assert header.split()[:3] == ["NAME", "CONFERENCE", "START"]
        assert row.split()[:2] == ["Gone", "meet"] and row.endswith("Call disconnected")
        code, out, _ = await admin(node.base_url, "--json", "history")
        assert [p["display_name"] for p in json.loads(out)] == ["Gone"]


async def test_errors_are_one_line_with_an_exit_code() -> None:
    async with LocalNode(default_config()) as node:
        code, out, err = await admin(node.base_url, "participants", password="wrong-pass")
        assert (code, out) == (3, "")
        assert err == (
            f"pexbot admin: {node.base_url}: authentication failed (check the user name and "
            "password or token) (HTTP 401)\n"
        )
        assert "wrong-pass" not in err
    code, _, err = await admin("http://127.0.0.1:9", "conferences")
    assert code == 4 and err.startswith("pexbot admin: cannot reach http://127.0.0.1:9: GET ")
    assert len(err.splitlines()) == 1 and "Traceback" not in err
    env_missing = {k: v for k, v in os.environ.items() if k != "PEXBOT_ADMIN_PASSWORD"}
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "agent.cli", "admin", "--url", "manager.example.com", "conferences",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, cwd=REPO, env=env_missing,
    )  # fmt: skip
    _, err_bytes = await proc.communicate()
    assert proc.returncode == 2
    assert err_bytes.decode() == "pexbot admin: set the password in $PEXBOT_ADMIN_PASSWORD\n"
    code, _, err = await admin("manager.example.com", "conferences")
    assert code == 2 and err.startswith("pexbot admin: not a manager URL")


async def test_sink_command_prints_events_and_a_summary(tmp_path: Path) -> None:
    jsonl = tmp_path / "events.jsonl"
    proc = await start("sink", "--jsonl", str(jsonl))
    assert proc.stdout is not None and proc.stderr is not None
    url = (await asyncio.wait_for(proc.stdout.readline(), 30)).decode().strip()
    assert url.startswith("http://127.0.0.1:")
    event = {
        "node": "10.0.0.1",
        "seq": 3,
        "version": 2,
        "time": 1.5,
        "event": "participant_connected",
        "data": {"uuid": "u1", "display_name": "Ann"},
    }
    async with aiohttp.ClientSession() as http:
        for _ in range(2):  # the second is a retry: a duplicate
            async with http.post(url, json=event) as resp:
                assert resp.status == 200
        async with http.post(url, data=b"nonsense") as resp:
            assert resp.status == 400
    line = (await asyncio.wait_for(proc.stdout.readline(), 10)).decode()
    assert line == "10.0.0.1 #3 participant_connected display_name=Ann\n"
    proc.send_signal(signal.SIGINT)
    _, err = await asyncio.wait_for(proc.communicate(), 20)
    assert proc.returncode == 0
    text = err.decode()
    assert "node 10.0.0.1 events 1..2 missing (2, before the first event received)" in text
    assert text.splitlines()[-1] == (
        "pexbot sink: 1 events, 1 duplicates, 1 gaps (2 missing), 1 invalid"
    )
    assert "Traceback" not in text
    assert len(jsonl.read_text().splitlines()) == 1
