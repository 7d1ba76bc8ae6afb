"""The audit log of OpenVidu mutations: one JSON line per attempt and per outcome.

A mutation is recorded *before* it is sent (`requested`) and again with its result (`ok`,
`error`); a refused one is recorded as `refused`. If the `requested` record cannot be
written, the mutation is not attempted: an unaudited change is worse than no change.
Records never hold the secret (restart bodies are redacted by the client).
"""

from __future__ import annotations

import asyncio
import logging
import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal, Protocol

from pydantic import BaseModel, ConfigDict, Field

from ._openvidu_errors import AuditLogError

log = logging.getLogger("agent.admin.openvidu.audit")

AuditOutcome = Literal["requested", "ok", "error", "refused"]


class AuditRecord(BaseModel):
    """One line of the audit log."""

    model_config = ConfigDict(frozen=True)

    time: datetime = Field(default_factory=lambda: datetime.now(UTC))
    #: The OpenVidu server (base URL; never credentials).
    server: str
    operation: str
    #: The media node concerned, if any.
    target: str | None = None
    params: dict[str, Any] = Field(default_factory=dict)
    outcome: AuditOutcome
    #: HTTP status of the answer, for `ok` and HTTP errors.
    status: int | None = None
    detail: str | None = None


class AuditLog(Protocol):
    """Where audit records go. `write` raises `AuditLogError` if the record is lost."""

    async def write(self, record: AuditRecord) -> None: ...


def _log(record: AuditRecord) -> None:
    log.info(
        "%s %s %s: %s%s",
        record.operation,
        record.target or "-",
        record.params or "",
        record.outcome,
        f" ({record.detail})" if record.detail else "",
    )


class LoggingAuditLog:
    """Records as log lines only (logger `agent.admin.openvidu.audit`)."""

    async def write(self, record: AuditRecord) -> None:
        _log(record)


class MemoryAuditLog:
    """Records kept in memory (for a service that ships them elsewhere, and for tests)."""

    def __init__(self) -> None:
        self.records: list[AuditRecord] = []

    async def write(self, record: AuditRecord) -> None:
        _log(record)
        self.records.append(record)


class JsonlAuditLog:
    """Records appended to a JSON Lines file, flushed and fsynced one by one."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        # Appends from concurrent mutations must not interleave.
        self._lock = asyncio.Lock()

    def _append(self, line: str) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self.path.open("a", encoding="utf-8") as f:
            f.write(line + "\n")
            f.flush()
            os.fsync(f.fileno())

    async def write(self, record: AuditRecord) -> None:
        _log(record)
        line = record.model_dump_json()
        async with self._lock:
            try:
                await asyncio.to_thread(self._append, line)
            except OSError as exc:
                raise AuditLogError(
                    f"cannot write the audit log {self.path}: {exc.strerror or exc}"
                ) from None

    def read(self) -> list[AuditRecord]:
        """Every record in the file (blocking; for tools and tests)."""
        if not self.path.exists():
            return []
        lines = self.path.read_text(encoding="utf-8").splitlines()
        return [AuditRecord.model_validate_json(line) for line in lines if line.strip()]
