"""Tastypie lists: one page at a time, or every object through `meta.next` with a cap.

`meta.next` is a relative URL (null on the last page); it is followed as given, so the
manager's own paging (limit, offset, filters) is kept exactly.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Generic, TypeVar

from ._errors import ManagementResponseError, PageLimitError
from ._model_base import AdminModel
from ._query import Params
from ._times import BlankInt

T = TypeVar("T", bound=AdminModel)


class ListMeta(AdminModel):
    """The `meta` object of a list answer."""

    limit: BlankInt = None
    offset: BlankInt = None
    total_count: BlankInt = None
    next: str | None = None
    previous: str | None = None


@dataclass(frozen=True)
class Page(Generic[T]):
    """One page of a list: its objects and the manager's `meta`."""

    objects: list[T]
    meta: ListMeta


# (path or relative URL, params or None when the URL already carries them) -> Page
PageFetcher = Callable[[str, Params | None], Awaitable[Page[T]]]


class Pager(Generic[T]):
    """A list resource: `async for obj in pager`, `await pager.all()`, or
    `await pager.first_page()`.

    Following `meta.next` stops at `max_pages` pages: if more remain, `PageLimitError` is
    raised after the objects already read were delivered, so nothing is silently dropped.
    """

    def __init__(self, fetch: PageFetcher[T], path: str, params: Params, max_pages: int) -> None:
        if max_pages < 1:
            raise ValueError("max_pages must be >= 1")
        self._fetch = fetch
        self.path = path
        self.params = params
        self.max_pages = max_pages

    async def first_page(self) -> Page[T]:
        """Only the first page (its `meta.total_count` says how many there are)."""
        return await self._fetch(self.path, self.params)

    async def pages(self) -> AsyncIterator[Page[T]]:
        """Every page in turn, following `meta.next`."""
        page = await self._fetch(self.path, self.params)
        seen = {self.path}
        fetched = len(page.objects)
        count = 1
        yield page
        while page.meta.next:
            following = page.meta.next
            if following in seen:
                raise ManagementResponseError(f"{self.path}: meta.next repeats {following}")
            if count >= self.max_pages:
                raise PageLimitError(self.path, count, fetched, page.meta.total_count)
            seen.add(following)
            page = await self._fetch(following, None)
            fetched += len(page.objects)
            count += 1
            yield page

    async def __aiter__(self) -> AsyncIterator[T]:
        async for page in self.pages():
            for obj in page.objects:
                yield obj

    async def all(self) -> list[T]:
        """Every object of every page (bounded by `max_pages`)."""
        return [obj async for obj in self]
