"""A local S3 endpoint for tests: moto's server on a free 127.0.0.1 port (a real HTTP S3
API, in a thread of the test process), and a proxy in front of it that answers chosen
requests with S3's own 500 (transient failures on the wire)."""

from __future__ import annotations

import http.client
import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any

from tests.support.redis_server import free_port

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

#: What the recorder is given, through environment variables (moto takes any key).
KEY_ID = "AKIAPEXBOTTESTKEY0001"
SECRET = "pexbot-test-secret-0123456789abcdefXYZ"
KEY_ID_ENV = "PEXBOT_SECRET_S3_KEY_ID"
SECRET_ENV = "PEXBOT_SECRET_S3_KEY"
CREDENTIALS_ENV = {KEY_ID_ENV: KEY_ID, SECRET_ENV: SECRET}


class LocalS3:
    """moto's S3 server; `client()` is a boto3 client for checking what landed."""

    def __init__(self) -> None:
        from moto.server import ThreadedMotoServer

        logging.getLogger("werkzeug").setLevel(logging.WARNING)
        self.port = free_port()
        self._server = ThreadedMotoServer(ip_address="127.0.0.1", port=self.port, verbose=False)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> LocalS3:
        self._server.start()
        return self

    def stop(self) -> None:
        self._server.stop()

    def client(self, url: str | None = None) -> S3Client:
        import boto3

        client: S3Client = boto3.session.Session().client(
            "s3",
            endpoint_url=url or self.url,
            region_name="us-east-1",
            aws_access_key_id=KEY_ID,
            aws_secret_access_key=SECRET,
        )
        return client

    def bucket(self, name: str) -> str:
        self.client().create_bucket(Bucket=name)
        return name

    def keys(self, bucket: str, prefix: str = "") -> dict[str, int]:
        """Every key under `prefix` and its size."""
        out: dict[str, int] = {}
        for page in (
            self.client().get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
        ):
            for item in page.get("Contents", []):
                out[item["Key"]] = int(item["Size"])
        return out

    def get(self, bucket: str, key: str) -> bytes:
        return self.client().get_object(Bucket=bucket, Key=key)["Body"].read()


def storage(s3: LocalS3 | FaultProxy, bucket: str, **extra: Any) -> dict[str, Any]:
    """The recorder's `storage` table for `bucket` at `s3` (credentials by env name)."""
    return {
        "kind": "s3",
        "endpoint_url": s3.url,
        "bucket": bucket,
        "region": "us-east-1",
        "addressing_style": "path",
        "access_key_id_env": KEY_ID_ENV,
        "secret_access_key_env": SECRET_ENV,
        **extra,
    }


#: The answers a fault can be: S3's own error bodies.
ERRORS = {
    500: ("InternalError", "We encountered an internal error. Please try again."),
    403: ("AccessDenied", "Access Denied"),
}


class FaultProxy:
    """Forwards every request to `target`, except that the next `fail(n, method, status)`
    requests of that method get S3's error of that status (500 `InternalError`, 403
    `AccessDenied`); `failed` counts them, `seen` every request as (method, path)."""

    def __init__(self, target: LocalS3) -> None:
        self.target = target
        self.seen: list[tuple[str, str]] = []
        self.failed = 0
        self._to_fail: dict[str, tuple[int, int]] = {}
        self._lock = threading.Lock()
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def _any(self) -> None:
                proxy._forward(self)

            do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = _any

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def fail(self, count: int, method: str = "PUT", status: int = 500) -> None:
        with self._lock:
            self._to_fail[method] = (count, status)

    def _forward(self, handler: BaseHTTPRequestHandler) -> None:
        # One request per connection: no idle keep-alive thread outlives the test.
        handler.close_connection = True
        length = int(handler.headers.get("Content-Length") or 0)
        body = handler.rfile.read(length) if length else b""
        with self._lock:
            self.seen.append((handler.command, handler.path))
            left, status = self._to_fail.get(handler.command, (0, 500))
            if left > 0:
                self._to_fail[handler.command] = (left - 1, status)
                self.failed += 1
        if left > 0:
            code, message = ERRORS[status]
            error = (
                f'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>{code}</Code>'
                f"<Message>{message}</Message></Error>"
            ).encode()
            handler.send_response(status)
            handler.send_header("Connection", "close")
            handler.send_header("Content-Type", "application/xml")
            handler.send_header("Content-Length", str(len(error)))
            handler.end_headers()
            if handler.command != "HEAD":
                handler.wfile.write(error)
            return
        conn = http.client.HTTPConnection("127.0.0.1", self.target.port, timeout=60)
        try:
            headers = {k: v for k, v in handler.headers.items() if k.lower() != "connection"}
            conn.request(handler.command, handler.path, body=body, headers=headers)
            answer = conn.getresponse()
            data = answer.read()
        finally:
            conn.close()
        handler.send_response(answer.status)
        handler.send_header("Connection", "close")
        head = handler.command == "HEAD"  # its Content-Length is the object's: kept
        for key, value in answer.getheaders():
            if key.lower() not in ("transfer-encoding", "connection") and (
                head or key.lower() != "content-length"
            ):
                handler.send_header(key, value)
        if not head:
            handler.send_header("Content-Length", str(len(data)))
        handler.end_headers()
        if handler.command != "HEAD":
            handler.wfile.write(data)

    def start(self) -> FaultProxy:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()


@contextmanager
def local_s3() -> Iterator[LocalS3]:
    s3 = LocalS3().start()
    try:
        yield s3
    finally:
        s3.stop()


@contextmanager
def fault_proxy(s3: LocalS3) -> Iterator[FaultProxy]:
    proxy = FaultProxy(s3).start()
    try:
        yield proxy
    finally:
        proxy.stop()
