"""What the resource APIs (status, history, command, configuration) need of the client: a
narrow interface, so that they do not import the client that owns them (no import cycle)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Protocol, TypeVar

from ._model_base import AdminModel
from ._paging import Pager
from ._query import FilterValue, Params
from ._transport import AdminResponse

M = TypeVar("M", bound=AdminModel)


class ClientPort(Protocol):
    async def request(
        self,
        method: str,
        path: str,
        *,
        params: Params | None = None,
        json_body: Any = None,
    ) -> AdminResponse: ...

    def parse(self, model: type[M], data: Any, where: str) -> M: ...

    async def get_object(self, path: str, model: type[M]) -> M: ...

    def list(
        self,
        model: type[M],
        path: str,
        filters: Mapping[str, FilterValue] | None = None,
        *,
        order_by: str | Sequence[str] | None = None,
        limit: int | None = None,
        max_pages: int | None = None,
    ) -> Pager[M]: ...
