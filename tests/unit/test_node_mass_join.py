"""A mass join must not freeze the conference's media (`bench node_join` has the figures).

The node keeps the garbage collector's full passes short when it owns its process: what
survived startup is frozen (`agent.node.heap`), so a mass join's full collection does not
walk it while every call's media waits. Embedded (tests, a host program) it leaves the
host's collector alone. And it answers one offer at a time, so ten offers arriving together
take turns with the media instead of running back to back."""

from __future__ import annotations

import asyncio
import gc
from collections.abc import Iterator
from typing import Any, cast

import pytest

import agent.node
from agent import cli
from agent.node import LocalNode, NodePeer, settle_heap
from agent.node.api.call import _answer


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


async def test_offers_arriving_together_are_answered_one_at_a_time() -> None:
    steps: list[str] = []

    class Peer:
        def __init__(self, name: str) -> None:
            self.name = name

        async def answer(self, sdp: str) -> str:
            steps.append(f"{self.name} starts")
            for _ in range(3):  # an answer yields to the loop several times
                await asyncio.sleep(0)
            steps.append(f"{self.name} done")
            return sdp

    async with LocalNode() as node:
        peers = [cast(NodePeer, Peer(name)) for name in ("a", "b", "c")]
        answers = await asyncio.gather(*(_answer(node.ctx, p, "sdp") for p in peers))
    assert answers == ["sdp"] * 3
    assert steps == ["a starts", "a done", "b starts", "b done", "c starts", "c done"]
