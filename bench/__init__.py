"""Benchmarks run by `make bench` (never by `make test`).

Run as a program (`python -m bench...`, including the children that run bots in-process),
a benchmark's process stands for pexbot's own, so it defers dnspython as the `pexbot`
command does (`agent/_lazy_imports.py`) and its memory and start-up figures stay a bot's.
Tests that import a benchmark's helpers get no such side effect.
"""

import sys

from agent._lazy_imports import defer_dnspython

# `python -m` sets argv[0] to "-m" while it imports the module's packages (this one).
if sys.argv[:1] == ["-m"]:
    defer_dnspython()
