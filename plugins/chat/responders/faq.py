"""`faq`: answers from a table of keywords or regular expressions (first match wins)."""

from __future__ import annotations

import re
from typing import Self

from pydantic import BaseModel, ConfigDict, Field, model_validator

from ..message import ChatMessage

__all__ = ["FaqEntry", "FaqOptions", "FaqResponder"]


class FaqEntry(BaseModel):
    model_config = ConfigDict(extra="forbid")

    #: Any of these words (or phrases), whole, in any case.
    keywords: list[str] = Field(default_factory=list)
    #: Or a regular expression searched in the message (case-insensitive).
    regex: str | None = None
    answer: str = Field(min_length=1)

    @model_validator(mode="after")
    def _one_kind(self) -> Self:
        if bool(self.keywords) == (self.regex is not None):
            raise ValueError("give either keywords or regex")
        if any(not k.strip() for k in self.keywords):
            raise ValueError("keywords: an empty keyword matches everything")
        if self.regex is not None:
            try:
                re.compile(self.regex)
            except re.error as exc:
                raise ValueError(f"regex {self.regex!r} is invalid: {exc}") from None
        return self

    def pattern(self) -> re.Pattern[str]:
        if self.regex is not None:
            return re.compile(self.regex, re.IGNORECASE)
        words = "|".join(re.escape(k.strip()) for k in self.keywords)
        return re.compile(rf"(?<!\w)(?:{words})(?!\w)", re.IGNORECASE)


class FaqOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")

    entries: list[FaqEntry] = Field(min_length=1)


class FaqResponder:
    Options = FaqOptions

    def __init__(self, options: FaqOptions) -> None:
        self._table = [(entry.pattern(), entry.answer) for entry in options.entries]

    async def __call__(self, message: ChatMessage) -> str | None:
        for pattern, answer in self._table:
            if pattern.search(message.text):
                return answer
        return None
