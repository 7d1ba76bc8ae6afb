"""The one error of a server that cannot listen (metrics, the probe's endpoint), apart from
the servers themselves so the CLI can catch it without importing them."""

from __future__ import annotations

__all__ = ["ListenError"]


class ListenError(OSError):
    """An endpoint cannot listen on host:port (`errno` says why: EADDRINUSE...)."""

    def __init__(self, host: str, port: int, cause: OSError) -> None:
        super().__init__(cause.errno, cause.strerror or str(cause))
        self.host = host
        self.port = port
