"""Running the installed `pexbot` command as a user does: a subprocess, its exit code, its
stdout and stderr."""

from __future__ import annotations

import asyncio
import os
import sys
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
#: The console script pip installed next to this interpreter (`.venv/bin/pexbot`).
PEXBOT = Path(sys.executable).with_name("pexbot")


@dataclass(frozen=True)
class Ran:
    code: int
    out: str
    err: str

    @property
    def last_line(self) -> str:
        """The last line on stderr, after checking that no traceback reached it."""
        assert "Traceback" not in self.err, self.err
        lines = self.err.strip().splitlines()
        return lines[-1] if lines else ""

    @property
    def only_line(self) -> str:
        """stderr, which must be exactly one line (and no traceback)."""
        assert "Traceback" not in self.err, self.err
        lines = self.err.strip().splitlines()
        assert len(lines) == 1, self.err
        return lines[0]


async def start(
    *args: str, env: dict[str, str] | None = None, cwd: Path = REPO
) -> asyncio.subprocess.Process:
    assert PEXBOT.exists(), f"{PEXBOT} missing: run `make .venv/.installed`"
    return await asyncio.create_subprocess_exec(
        str(PEXBOT),
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        cwd=cwd,
        env={**os.environ, **(env or {})},
    )


async def pexbot(
    *args: str, env: dict[str, str] | None = None, cwd: Path = REPO, timeout: float = 60
) -> Ran:
    """Run `pexbot ARGS` to the end."""
    return await finish(await start(*args, env=env, cwd=cwd), timeout)


async def finish(proc: asyncio.subprocess.Process, timeout: float = 30) -> Ran:
    """Wait for a started `pexbot` to end (killing it if it overruns)."""
    try:
        out, err = await asyncio.wait_for(proc.communicate(), timeout)
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    assert proc.returncode is not None
    return Ran(proc.returncode, out.decode(), err.decode())
