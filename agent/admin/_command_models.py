"""Command replies: `{status, message, data}` in the v26 document; some releases and
proxies say `result` instead of `data`, and `start_cloudnode` says `{status: "failed",
error}`. All are read by `CommandReply`."""

from __future__ import annotations

from typing import Any

from pydantic import Field, model_validator

from ._model_base import AdminModel


class CommandReply(AdminModel):
    """A command's answer; `data` holds `data` or `result`, whichever was sent."""

    status: str = "success"
    message: str = ""
    data: Any = None

    @model_validator(mode="before")
    @classmethod
    def _result_as_data(cls, value: Any) -> Any:
        if isinstance(value, dict) and "data" not in value and "result" in value:
            value = {**value, "data": value["result"]}
            value.pop("result")
        if isinstance(value, dict) and not value.get("message") and value.get("error"):
            value = {**value, "message": str(value["error"])}
        return value

    @property
    def ok(self) -> bool:
        return self.status.lower() == "success"


class DialResult(AdminModel):
    """What `participant/dial` returns: the new participant's id (and ids)."""

    participant_id: str
    participant_ids: list[str] = Field(default_factory=list)


__all__ = ["CommandReply", "DialResult"]
