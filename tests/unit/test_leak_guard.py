"""The leak guard of tests/conftest.py fails a test that leaves a task or a thread running."""

from __future__ import annotations

from pathlib import Path

import pytest

CONFTEST = (Path(__file__).resolve().parents[1] / "conftest.py").read_text()

LEAKY = """
import asyncio, threading, time

async def test_leaks_a_task():
    asyncio.get_running_loop().create_task(asyncio.sleep(60), name="leaky")

def test_leaks_a_thread():
    threading.Thread(target=time.sleep, args=(5,), name="leaky-thread", daemon=True).start()

async def test_cancels_what_it_started():
    task = asyncio.get_running_loop().create_task(asyncio.sleep(60))
    task.cancel()

def test_joins_what_it_started():
    thread = threading.Thread(target=time.sleep, args=(0.01,))
    thread.start()
    thread.join()
"""


def test_leaks_fail_and_clean_tests_pass(pytester: pytest.Pytester) -> None:
    pytester.makeconftest(CONFTEST.replace('pytest_plugins = ("pytester",)', ""))
    pytester.makeini(
        "[pytest]\nasyncio_mode = auto\nasyncio_default_fixture_loop_scope = function\n"
    )
    pytester.makepyfile(test_leaky=LEAKY)
    # In a child process: its deliberate leaks must not leak into this test.
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=4, errors=2)
    result.stdout.fnmatch_lines(
        [
            "*asyncio tasks left running:*leaky (sleep)*",
            "*threads left running:*leaky-thread*",
        ]
    )
