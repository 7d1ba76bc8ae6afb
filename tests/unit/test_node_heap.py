"""The node keeps the garbage collector's full passes short when it owns its process: what
survived startup is frozen (`agent.node.heap`), so a mass join's full collection does not
walk it while every call's media waits. Embedded (tests, a host program) it leaves the
host's collector alone."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from typing import Any

import pytest

import agent.node
from agent import cli
from agent.node import LocalNode, settle_heap


@pytest.fixture(autouse=True)
def _unfrozen() -> Iterator[None]:
    gc.unfreeze()
    yield
    gc.unfreeze()


class _Startup:
    """An object made before the node starts: it survives startup."""


def _tracked(obj: object) -> bool:
    """Whether a full collection walks `obj` (frozen objects are not in any generation)."""
    return any(o is obj for o in gc.get_objects())


def test_settle_heap_takes_startup_objects_out_of_full_collections() -> None:
    before = _Startup()
    assert _tracked(before)
    frozen = settle_heap()
    assert frozen == gc.get_freeze_count() > 0
    assert not _tracked(before)
    assert _tracked(_Startup())  # what calls create later is still collected


async def test_a_node_that_owns_its_process_settles_its_heap_once_started() -> None:
    before = _Startup()
    async with LocalNode(settle_heap=True):
        assert gc.get_freeze_count() > 0
        assert not _tracked(before)


async def test_an_embedded_node_leaves_the_host_s_collector_alone() -> None:
    async with LocalNode():
        assert gc.get_freeze_count() == 0


def test_pexbot_node_runs_the_node_as_owner_of_its_process(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    seen: dict[str, Any] = {}

    class Recording:
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            seen.update(kwargs)

        async def __aenter__(self) -> None:
            raise OSError(98, "Address already in use")

        async def __aexit__(self, *exc: object) -> None:
            return None

    monkeypatch.setattr(agent.node, "LocalNode", Recording)
    assert cli.main(["node", "--port", "0"]) == 2
    assert seen["settle_heap"] is True
    assert "Traceback" not in capsys.readouterr().err
