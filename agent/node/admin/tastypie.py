"""Tastypie list semantics: filter, order, paginate a list of resource objects (plain dicts).

- Filters: `field=value` or `field__<op>=value` on the fields a resource declares in its
  `filtering` table (anything else is a 400). The v26 document lists 14 match specifiers
  (`exact iexact contains icontains startswith istartswith endswith iendswith regex iregex
  lt lte gt gte`); Tastypie also takes `in` (comma-separated), `range` (`low,high`,
  inclusive) and `isnull` (`true`/`false`), so they are accepted too. Related fields are
  paths (`media_streams__rx_packet_loss__gte=0.5`): a list on the way matches when any
  element matches. Values are converted to the field's type (bool `true/false/1/0`,
  numbers); `none`/`null` is None.
- Regular expressions (`__regex`, `__iregex`) run on the `regex` engine with a time limit:
  a pattern longer than `MAX_PATTERN` characters, or one that needs more than
  `REGEX_BUDGET` seconds over the whole request (catastrophic backtracking), is a 400.
  Lists with such filters are filtered in a worker thread (`regex` releases the GIL), so
  even that bounded time is not taken from the event loop.
- Ordering: `order_by=field` / `order_by=-field` (repeatable) on declared fields (400 else).
- Pagination: `limit` (default 20; 0 means "as many as allowed", i.e. `max_limit` 1000, as
  Tastypie's paginator does), `offset`; `meta.next`/`meta.previous` are relative URLs that
  keep the other query parameters, null when there is no such page (`previous` is null
  while `offset < limit`, as in Tastypie).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

import regex
from multidict import MultiMapping

from .models import ListMeta, ListResponse

DOC_OPS = (
    "exact",
    "iexact",
    "contains",
    "icontains",
    "startswith",
    "istartswith",
    "endswith",
    "iendswith",
    "regex",
    "iregex",
    "lt",
    "lte",
    "gt",
    "gte",
)
OPS = frozenset((*DOC_OPS, "in", "range", "isnull"))
ALL = OPS  # "1"/"2" in a Tastypie schema's filtering table: every specifier

DEFAULT_LIMIT = 20
MAX_LIMIT = 1000
# Query parameters that are not filters.
RESERVED = frozenset({"limit", "offset", "order_by", "format"})

MAX_PATTERN = 256  # characters of one regular expression
REGEX_BUDGET = 0.25  # seconds of regular-expression matching per request

_NONE = {"none", "null", "nil"}
_TRUE = {"true", "1", "yes"}
_FALSE = {"false", "0", "no"}


class QueryError(Exception):
    """A request Tastypie answers with 400 `{"error": message}`."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass(frozen=True)
class Resource:
    """One list resource: its path, its object fields, what may be filtered and ordered."""

    uri: str  # e.g. "/api/admin/status/v1/participant/"
    fields: frozenset[str]
    filtering: Mapping[str, frozenset[str]] = field(default_factory=dict)
    ordering: frozenset[str] = frozenset()
    # Filters whose value is not the field as serialised (e.g. `conference=<id>` on a field
    # that holds the conference's URI).
    lookups: Mapping[str, Callable[[dict[str, Any]], Any]] = field(default_factory=dict)

    def schema(self, field_types: Mapping[str, str]) -> dict[str, Any]:
        """A `schema/` document in Tastypie's shape."""
        return {
            "allowed_detail_http_methods": ["get"],
            "allowed_list_http_methods": ["get"],
            "default_format": "application/json",
            "default_limit": DEFAULT_LIMIT,
            "fields": {name: {"type": field_types.get(name, "string")} for name in self.fields},
            "filtering": {
                name: 1 if ops == ALL else sorted(ops) for name, ops in self.filtering.items()
            },
            "ordering": sorted(self.ordering),
        }


# -- filtering -----------------------------------------------------------------------------


def _values(obj: Any, path: Sequence[str]) -> list[Any]:
    """Every value at `path` (lists on the way fan out)."""
    current: list[Any] = [obj]
    for part in path:
        found: list[Any] = []
        for item in current:
            if isinstance(item, list):
                found.extend(v.get(part) for v in item if isinstance(v, dict))
            elif isinstance(item, dict):
                found.append(item.get(part))
        current = found
    flat: list[Any] = []
    for item in current:
        if isinstance(item, list):
            flat.extend(item)
        else:
            flat.append(item)
    return flat


def _coerce(raw: str, like: Any, name: str) -> Any:
    """`raw` as the type of the field value `like`."""
    if raw.strip().lower() in _NONE:
        return None
    if isinstance(like, bool):
        lowered = raw.strip().lower()
        if lowered in _TRUE:
            return True
        if lowered in _FALSE:
            return False
        raise QueryError(f"Invalid value '{raw}' for the boolean field '{name}'.")
    if isinstance(like, int | float):
        try:
            return int(raw)
        except ValueError:
            pass
        try:
            return float(raw)
        except ValueError:
            raise QueryError(f"Invalid value '{raw}' for the numeric field '{name}'.") from None
    return raw


class RegexBudget:
    """The matching time one request may spend on regular expressions."""

    def __init__(self, seconds: float = REGEX_BUDGET) -> None:
        self.deadline = time.monotonic() + seconds
        self.seconds = seconds
        self._compiled: dict[tuple[str, bool], Any] = {}

    def compile(self, raw: str, insensitive: bool) -> Any:
        key = (raw, insensitive)
        if key not in self._compiled:
            if len(raw) > MAX_PATTERN:
                raise QueryError(
                    f"The regular expression is too long ({len(raw)} characters; "
                    f"at most {MAX_PATTERN})."
                )
            try:
                self._compiled[key] = regex.compile(
                    raw, (regex.IGNORECASE if insensitive else 0) | regex.VERSION0
                )
            except (regex.error, OverflowError, RecursionError) as exc:
                raise QueryError(f"Invalid regular expression '{raw}': {exc}.") from None
        return self._compiled[key]

    def search(self, pattern: Any, text: str) -> bool:
        left = self.deadline - time.monotonic()
        try:
            if left <= 0:
                raise TimeoutError
            return pattern.search(text, timeout=left, concurrent=True) is not None
        except TimeoutError:
            raise QueryError(
                "The regular expression took too long to evaluate "
                f"(more than {self.seconds:g} s); simplify it."
            ) from None


def _compare(value: Any, op: str, raw: str, name: str, budget: RegexBudget) -> bool:
    if op == "isnull":
        wanted = _coerce(raw, True, name)
        return (value is None) is bool(wanted)
    if op == "in":
        return any(value == _coerce(part, value, name) for part in raw.split(","))
    if op == "range":
        bounds = raw.split(",")
        if len(bounds) != 2:
            raise QueryError(f"A range filter on '{name}' needs two comma-separated values.")
        low, high = (_coerce(b, value, name) for b in bounds)
        try:
            return bool(low <= value <= high)
        except TypeError:
            return False
    if op in ("exact", "lt", "lte", "gt", "gte"):
        other = _coerce(raw, value, name)
        if op == "exact":
            return bool(value == other)
        if value is None or other is None:
            return False
        try:
            if op == "lt":
                return bool(value < other)
            if op == "lte":
                return bool(value <= other)
            if op == "gt":
                return bool(value > other)
            return bool(value >= other)
        except TypeError:
            return False
    # Text specifiers.
    if value is None:
        return False
    text = str(value).lower() if isinstance(value, bool) else str(value)
    insensitive = op.startswith("i")  # in/isnull were handled above
    base = op[1:] if insensitive else op
    if base == "regex":
        return budget.search(budget.compile(raw, insensitive), text)
    needle = raw.lower() if insensitive else raw
    hay = text.lower() if insensitive else text
    if base == "exact":
        return hay == needle
    if base == "contains":
        return needle in hay
    if base == "startswith":
        return hay.startswith(needle)
    return hay.endswith(needle)  # endswith


def _parse_filter(resource: Resource, key: str) -> tuple[str, str]:
    parts = key.split("__")
    if len(parts) > 1 and parts[-1] in OPS:
        name, op = "__".join(parts[:-1]), parts[-1]
    else:
        name, op = key, "exact"
    allowed = resource.filtering.get(name)
    if allowed is None:
        root, _, rest = name.partition("__")
        if root not in resource.fields:
            raise QueryError(f"The '{root}' field is not a field of this resource.")
        if rest and root in resource.filtering:
            raise QueryError(f"'{rest}' is not a filter specifier of the '{root}' field.")
        raise QueryError(f"The '{name}' field does not allow filtering.")
    if op not in allowed:
        raise QueryError(f"'{op}' is not an allowed filter on the '{name}' field.")
    return name, op


@dataclass(frozen=True)
class _Filter:
    name: str
    op: str
    raw: str
    lookup: Callable[[dict[str, Any]], Any] | None
    budget: RegexBudget

    def matches(self, obj: dict[str, Any]) -> bool:
        values = [self.lookup(obj)] if self.lookup else _values(obj, self.name.split("__"))
        return any(_compare(v, self.op, self.raw, self.name, self.budget) for v in values)


def has_regex(query: MultiMapping[str]) -> bool:
    """Whether a query carries a regular-expression filter (filter it off the loop)."""
    return any(key.endswith(("__regex", "__iregex")) for key in query)


def apply_filters(
    resource: Resource, objects: list[dict[str, Any]], query: MultiMapping[str]
) -> list[dict[str, Any]]:
    filters: list[_Filter] = []
    budget = RegexBudget()
    for key, raw in query.items():
        if key in RESERVED:
            continue
        name, op = _parse_filter(resource, key)
        filters.append(_Filter(name, op, raw, resource.lookups.get(name), budget))
    return [obj for obj in objects if all(f.matches(obj) for f in filters)]


# -- ordering ------------------------------------------------------------------------------


def apply_ordering(
    resource: Resource, objects: list[dict[str, Any]], query: MultiMapping[str]
) -> list[dict[str, Any]]:
    keys = [k for k in query.getall("order_by", []) if k]
    for key in keys:
        if key.lstrip("-") not in resource.ordering:
            raise QueryError(f"No matching '{key.lstrip('-')}' field for ordering on.")
    ordered = list(objects)
    # Stable sorts from the last key to the first give a multi-key order.
    for key in reversed(keys):
        ordered.sort(key=_sort_key(key.lstrip("-")), reverse=key.startswith("-"))
    return ordered


def _sort_key(name: str) -> Callable[[dict[str, Any]], tuple[bool, Any]]:
    def key(obj: dict[str, Any]) -> tuple[bool, Any]:
        value = obj.get(name)
        return (value is None, 0 if value is None else value)  # None last (ascending)

    return key


# -- pagination ----------------------------------------------------------------------------


def _int_param(query: MultiMapping[str], name: str, default: int) -> int:
    raw = query.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise QueryError(
            f"Invalid {name} '{raw}' provided. Please provide a positive integer."
        ) from None
    if value < 0:
        raise QueryError(
            f"Invalid {name} '{raw}' provided. Please provide a positive integer >= 0."
        )
    return value


def _page_uri(path: str, query: MultiMapping[str], limit: int, offset: int) -> str:
    params = [(k, v) for k, v in query.items() if k not in ("limit", "offset")]
    params += [("limit", str(limit)), ("offset", str(offset))]
    return f"{path}?{urlencode(params)}"


def paginate(objects: list[dict[str, Any]], query: MultiMapping[str], path: str) -> ListResponse:
    limit = _int_param(query, "limit", DEFAULT_LIMIT)
    if limit == 0 or limit > MAX_LIMIT:
        limit = MAX_LIMIT
    offset = _int_param(query, "offset", 0)
    total = len(objects)
    page = objects[offset : offset + limit]
    return ListResponse(
        meta=ListMeta(
            limit=limit,
            offset=offset,
            total_count=total,
            next=None if offset + limit >= total else _page_uri(path, query, limit, offset + limit),
            previous=None if offset - limit < 0 else _page_uri(path, query, limit, offset - limit),
        ),
        objects=page,
    )


def list_response(
    resource: Resource, objects: list[dict[str, Any]], query: MultiMapping[str], path: str
) -> ListResponse:
    """Filter, order and paginate, in that order."""
    selected = apply_filters(resource, objects, query)
    return paginate(apply_ordering(resource, selected, query), query, path)
