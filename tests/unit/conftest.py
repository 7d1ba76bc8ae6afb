"""Fixtures shared by the unit tests of the service's job store and worker."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest

from agent.service import JobStore
from tests.support.job_stores import KINDS, open_store
from tests.support.redis_server import RedisServer


@pytest.fixture(scope="module")
def redis_url() -> Iterator[str]:
    with RedisServer() as server:
        yield server.url


@pytest.fixture(params=KINDS)
async def store(request: pytest.FixtureRequest, redis_url: str) -> AsyncIterator[JobStore]:
    """Each test that takes `store` runs on both stores: they must behave the same."""
    async with open_store(request.param, redis_url) as opened:
        yield opened
