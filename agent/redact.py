"""Secrets out of everything the `pexbot` command prints, in one place.

Secrets are kept out of log calls, errors and reports by design; this is the line of defence
for what a node or a library echoes back (a PIN in a 403 reason, a token in a URL). The
command holds one `Redactor` with every secret it knows: PINs, the passwords it was given,
plugin settings typed `SecretStr`, and every token its bots' sessions receive. `pexbot`
replaces its stdout and stderr with `RedactingStream`s for the whole command
(`redacted_output`), so the log, the final `pexbot: ...` line and the fleet summary all pass
through the same `Redactor.scrub`.
"""

from __future__ import annotations

import contextlib
import io
import json
import re
import sys
from collections import OrderedDict
from collections.abc import Iterable, Iterator
from typing import Any, TextIO

from pydantic import BaseModel, SecretBytes, SecretStr

__all__ = ["MASK", "RedactingStream", "Redactor", "redacted_output"]

MASK = "***"
#: Shorter values are not scrubbed: masking every "12" would garble the log, and a one- or
#: two-character secret protects nothing anyway.
MIN_LENGTH = 3
#: A token in a URL's query (`/events?token=...`) is masked even before its session has said
#: it is one.
_URL_TOKEN = re.compile(r"(?<=[?&]token=)[^&\s\"'<>]+")


class Redactor:
    """The secrets one process knows. Fixed ones (PINs, passwords) stay for its life; tokens
    rotate (each refresh brings a new one), so only the newest `max_tokens` are kept."""

    def __init__(self, secrets: Iterable[str | None] = (), *, max_tokens: int = 512) -> None:
        self._fixed: set[str] = set()
        self._tokens: OrderedDict[str, None] = OrderedDict()
        self._max_tokens = max_tokens
        self._pattern: re.Pattern[str] | None = None
        self.add(*secrets)

    def add(self, *secrets: str | None) -> None:
        """Secrets to scrub for as long as the process runs (None and short ones ignored)."""
        for secret in secrets:
            if secret is not None and len(secret) >= MIN_LENGTH and secret not in self._fixed:
                self._fixed.add(secret)
                self._pattern = None

    def add_token(self, token: str) -> None:
        """A session token (called on join and on every refresh)."""
        if len(token) < MIN_LENGTH:
            return
        if token in self._tokens:
            self._tokens.move_to_end(token)
            return
        self._tokens[token] = None
        if len(self._tokens) > self._max_tokens:
            self._tokens.popitem(last=False)
        self._pattern = None

    def add_secrets_of(self, value: Any) -> None:
        """Every `SecretStr`/`SecretBytes` inside a settings model (nested models, lists and
        dicts included): e.g. a plugin's management password."""
        if isinstance(value, SecretStr):
            self.add(value.get_secret_value())
        elif isinstance(value, SecretBytes):
            self.add(value.get_secret_value().decode(errors="replace"))
        elif isinstance(value, BaseModel):
            for name in type(value).model_fields:
                self.add_secrets_of(getattr(value, name))
        elif isinstance(value, dict):
            for item in value.values():
                self.add_secrets_of(item)
        elif isinstance(value, list | tuple | set | frozenset):
            for item in value:
                self.add_secrets_of(item)

    @property
    def known(self) -> int:
        """How many secrets are known now."""
        return len(self._fixed) + len(self._tokens)

    def _compiled(self) -> re.Pattern[str] | None:
        if self._pattern is None and self.known:
            forms: set[str] = set()
            for secret in (*self._fixed, *self._tokens):
                forms.add(secret)
                # As a JSON log line writes it (quotes, backslashes, non-ASCII escaped).
                forms.add(json.dumps(secret)[1:-1])
            # Longest first: a secret inside another is not left half-masked.
            ordered = sorted(forms, key=len, reverse=True)
            self._pattern = re.compile("|".join(re.escape(s) for s in ordered))
        return self._pattern

    def scrub(self, text: str) -> str:
        """`text` with every known secret (and any URL `token=` value) replaced by `***`."""
        pattern = self._compiled()
        if pattern is not None:
            text = pattern.sub(MASK, text)
        if "token=" in text:
            text = _URL_TOKEN.sub(MASK, text)
        return text


class RedactingStream(io.TextIOBase):
    """A text stream that scrubs what goes through it, line by line (a secret split across
    two `write` calls of one line is still found); `flush()` passes a partial line on (a
    progress line redrawn in place)."""

    def __init__(self, target: TextIO, redactor: Redactor) -> None:
        super().__init__()
        self.target = target
        self.redactor = redactor
        self._pending = ""

    def write(self, text: str) -> int:
        self._pending += text
        end = self._pending.rfind("\n") + 1
        if end:
            done, self._pending = self._pending[:end], self._pending[end:]
            self.target.write(self.redactor.scrub(done))
        return len(text)

    def flush(self) -> None:
        if self._pending:
            pending, self._pending = self._pending, ""
            self.target.write(self.redactor.scrub(pending))
        self.target.flush()

    def writable(self) -> bool:
        return True

    def isatty(self) -> bool:
        return self.target.isatty()

    def fileno(self) -> int:
        return self.target.fileno()

    @property
    def encoding(self) -> str:  # type: ignore[override]
        return getattr(self.target, "encoding", "utf-8")


@contextlib.contextmanager
def redacted_output(redactor: Redactor | None = None) -> Iterator[Redactor]:
    """stdout and stderr scrubbed by one `Redactor` (yielded) until the block ends."""
    redactor = redactor or Redactor()
    saved = sys.stdout, sys.stderr
    sys.stdout = RedactingStream(saved[0], redactor)
    sys.stderr = RedactingStream(saved[1], redactor)
    try:
        yield redactor
    finally:
        for stream in (sys.stdout, sys.stderr):
            with contextlib.suppress(Exception):
                stream.flush()
        sys.stdout, sys.stderr = saved
