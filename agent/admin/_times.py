"""Tolerant parsing of the management API's value forms.

Times are UTC, written as naive ISO strings with or without microseconds
(`2015-04-02T09:46:06.106482`, `2015-04-10T09:39:47`); `""` means "not (yet)". Event-sink
times are float Unix seconds. Parsed times are timezone-aware (UTC) so they compare with
`datetime.now(UTC)`.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from pydantic import BeforeValidator, PlainSerializer


def parse_time(value: Any) -> datetime | None:
    """A management API time as an aware UTC datetime; None for `""`/None.

    Raises ValueError (naming the value) for anything else that is not a time.
    """
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if isinstance(value, int | float) and not isinstance(value, bool):
        return datetime.fromtimestamp(float(value), UTC)
    if isinstance(value, str):
        text = value.strip()
        if text.endswith("Z"):
            text = text[:-1] + "+00:00"
        try:
            parsed = datetime.fromisoformat(text)
        except ValueError:
            raise ValueError(f"not a management API time: {value!r}") from None
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    raise ValueError(f"not a management API time: {value!r}")


def format_time(value: datetime) -> str:
    """A datetime as the API writes it: naive UTC ISO (aware values are converted)."""
    if value.tzinfo is not None:
        value = value.astimezone(UTC).replace(tzinfo=None)
    return value.isoformat()


def _blank_as_none(value: Any) -> Any:
    return None if value == "" else value


def _dump_time(value: datetime | None) -> str:
    return "" if value is None else format_time(value)


# A time field: "" and null are None; serialised back in the API's own form.
AdminTime = Annotated[
    datetime | None, BeforeValidator(parse_time), PlainSerializer(_dump_time, return_type=str)
]
# Optional numbers and strings that a manager may send as "".
BlankInt = Annotated[int | None, BeforeValidator(_blank_as_none)]
BlankFloat = Annotated[float | None, BeforeValidator(_blank_as_none)]
