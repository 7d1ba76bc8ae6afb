"""Tastypie query strings: filters, ordering, paging parameters.

Filters are `field=value` or `field__<op>=value` (related fields are paths:
`media_streams__rx_packet_loss__gte=0.5`). Values are written the way Tastypie reads them:
booleans `true`/`false`, times naive UTC ISO, `__in` comma-separated, `__range` `low,high`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import TypeAlias

from ._times import format_time

# The v26 document's match specifiers, then the ones Tastypie also takes.
FILTER_OPERATORS: tuple[str, ...] = (
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
    "in",
    "range",
    "isnull",
)
RESERVED = frozenset({"limit", "offset", "order_by", "format"})
_NAME = re.compile(r"^-?[A-Za-z0-9_]+$")

Scalar: TypeAlias = str | int | float | bool | datetime
FilterValue: TypeAlias = Scalar | Sequence[Scalar] | None
Params: TypeAlias = list[tuple[str, str]]


def _scalar(key: str, value: Scalar) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime):
        return format_time(value)
    if isinstance(value, int | float):
        return repr(value) if isinstance(value, float) else str(value)
    if isinstance(value, str):
        return value
    raise TypeError(f"filter {key}: unsupported value type {type(value).__name__}")


def filter_value(key: str, value: FilterValue) -> str:
    """One filter's value as the query string carries it; ValueError/TypeError name the
    filter when the value does not fit its operator."""
    op = key.rsplit("__", 1)[-1] if "__" in key else "exact"
    if value is None:
        raise ValueError(f"filter {key}: None is not a value; use {key}__isnull=True")
    if op in ("in", "range"):
        if isinstance(value, str | bytes) or not isinstance(value, Sequence):
            raise ValueError(f"filter {key}: needs a list or tuple of values")
        items = [_scalar(key, v) for v in value]
        if op == "range" and len(items) != 2:
            raise ValueError(f"filter {key}: a range needs exactly two values (low, high)")
        if op == "in" and not items:
            raise ValueError(f"filter {key}: needs at least one value")
        return ",".join(items)
    if isinstance(value, Sequence) and not isinstance(value, str):
        raise ValueError(f"filter {key}: a list of values needs the __in operator")
    if op == "isnull" and not isinstance(value, bool):
        raise ValueError(f"filter {key}: takes True or False")
    return _scalar(key, value)


def query_params(
    filters: Mapping[str, FilterValue] | None = None,
    *,
    order_by: str | Sequence[str] | None = None,
    limit: int | None = None,
    offset: int | None = None,
) -> Params:
    """The query parameters of one list request, in a stable order."""
    params: Params = []
    for key, value in (filters or {}).items():
        if key in RESERVED:
            raise ValueError(f"'{key}' is a paging parameter, not a filter")
        if not _NAME.match(key) or key.startswith("-") or "____" in key:
            raise ValueError(f"filter {key!r} is not a field name or field__operator")
        params.append((key, filter_value(key, value)))
    orders = [order_by] if isinstance(order_by, str) else list(order_by or [])
    for order in orders:
        if not order or not _NAME.match(order):
            raise ValueError(f"order_by {order!r} is not a field name (or -field)")
        params.append(("order_by", order))
    if limit is not None:
        if limit < 0:
            raise ValueError("limit must be >= 0")
        params.append(("limit", str(limit)))
    if offset is not None:
        if offset < 0:
            raise ValueError("offset must be >= 0")
        params.append(("offset", str(offset)))
    return params
