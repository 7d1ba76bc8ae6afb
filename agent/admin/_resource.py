"""The list and get endpoints of the read APIs (status, history, configuration).

Each endpoint is a class attribute naming its model and its path under the group's version
prefix, so every list takes the same Tastypie filters, ordering and paging, and every get
quotes its ids the same way:

    class StatusAPI(ResourceGroup):
        prefix = "status/v1/"
        conferences = list_endpoint(ConferenceStatus, "conference/")
        conference = get_endpoint(ConferenceStatus, "conference/{}/")

`api.status.conferences(name="meet", order_by="-start_time", limit=50)` is a `Pager`;
`await api.status.conference("meet")` one object. Paths with `{}` take ids, in order.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, Generic, TypeVar, overload
from urllib.parse import quote

from ._model_base import AdminModel
from ._paging import Pager
from ._port import ClientPort
from ._query import FilterValue

M = TypeVar("M", bound=AdminModel)
Order = str | Sequence[str] | None
Id = str | int


def quote_id(value: Id) -> str:
    """An id as one path segment (a conference name may hold `/` or spaces)."""
    return quote(str(value), safe="")


class ResourceGroup:
    """One version prefix of the management API (`status/v1/`) and its endpoints."""

    prefix: ClassVar[str] = ""

    def __init__(self, client: ClientPort) -> None:
        self._client = client


@dataclass(frozen=True)
class Endpoint(Generic[M]):
    """One resource path (`{}` for each id it takes) bound to a client."""

    client: ClientPort
    model: type[M]
    path: str

    def at(self, *ids: Id) -> str:
        return self.path.format(*(quote_id(i) for i in ids))


class Lister(Endpoint[M]):
    """A list resource: `lister(order_by=..., limit=..., max_pages=..., **filters)`."""

    def __call__(
        self,
        *,
        order_by: Order = None,
        limit: int | None = None,
        max_pages: int | None = None,
        **filters: FilterValue,
    ) -> Pager[M]:
        return self.client.list(
            self.model, self.at(), filters, order_by=order_by, limit=limit, max_pages=max_pages
        )


class NestedLister(Endpoint[M]):
    """A list under one object: `lister(parent_id, order_by=..., **filters)`."""

    def __call__(
        self,
        parent_id: Id,
        /,
        *,
        order_by: Order = None,
        limit: int | None = None,
        max_pages: int | None = None,
        **filters: FilterValue,
    ) -> Pager[M]:
        at = Lister(self.client, self.model, self.at(parent_id))
        return at(order_by=order_by, limit=limit, max_pages=max_pages, **filters)


class Getter(Endpoint[M]):
    """One object by id: `await getter(object_id)`."""

    async def __call__(self, object_id: Id, /) -> M:
        return await self.client.get_object(self.at(object_id), self.model)


E = TypeVar("E", bound=Endpoint[Any])


class Bound(Generic[M, E]):
    """A class attribute that binds its endpoint to the group's client on access."""

    def __init__(
        self, kind: Callable[[ClientPort, type[M], str], E], model: type[M], path: str, doc: str
    ) -> None:
        self.kind = kind
        self.model = model
        self.path = path
        self.__doc__ = doc

    @overload
    def __get__(self, group: None, owner: type[Any]) -> Bound[M, E]: ...
    @overload
    def __get__(self, group: ResourceGroup, owner: type[Any]) -> E: ...
    def __get__(self, group: ResourceGroup | None, owner: type[Any]) -> Bound[M, E] | E:
        if group is None:
            return self
        return self.kind(group._client, self.model, group.prefix + self.path)


def list_endpoint(model: type[M], path: str, doc: str = "") -> Bound[M, Lister[M]]:
    return Bound(Lister, model, path, doc or f"`{model.__name__}` objects of `{path}`.")


def nested_list_endpoint(model: type[M], path: str, doc: str = "") -> Bound[M, NestedLister[M]]:
    return Bound(NestedLister, model, path, doc or f"`{model.__name__}` objects of `{path}`.")


def get_endpoint(model: type[M], path: str, doc: str = "") -> Bound[M, Getter[M]]:
    return Bound(Getter, model, path, doc or f"One `{model.__name__}`: `{path}`.")
