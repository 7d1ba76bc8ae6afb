"""`Http11Transport`'s TLS (a self-signed certificate made here) and its streaming responses
(the event stream), against real servers on 127.0.0.1."""

from __future__ import annotations

import asyncio
import datetime
import ipaddress
import socket
import ssl
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from agent.infinity import Http11Transport, TransportError
from tests.support.raw_http import (
    OK,
    TOKEN,
    Handler,
    RawServer,
    a_transport,
    answers,
    failure,
    get,
    raw,
)


@pytest.fixture
async def transport() -> AsyncIterator[Http11Transport]:
    async for t in a_transport():
        yield t


# --- TLS ----------------------------------------------------------------------------------


def self_signed(tmp: Path) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = tmp / "cert.pem", tmp / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


async def test_tls_verifies_the_server_and_trusts_a_given_ca(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cert, key = self_signed(tmp_path)
    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_ctx.load_cert_chain(cert, key)

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                await reader.readuntil(b"\r\n\r\n")
                writer.write(OK)
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError, ssl.SSLError):
            pass
        finally:
            writer.transport.abort()

    server = await asyncio.start_server(handle, "127.0.0.1", 0, ssl=server_ctx)
    port = server.sockets[0].getsockname()[1]
    url = f"https://127.0.0.1:{port}/a?token={TOKEN}"
    try:
        default = Http11Transport()
        try:
            err = await failure(default, url)
        finally:
            await default.aclose()
        assert str(err).startswith(f"TLS handshake failed: https://127.0.0.1:{port}/a: ")
        assert "self-signed certificate" in str(err)
        assert (err.cause, err.sent, err.transient) == ("tls", False, False)

        trusting = Http11Transport(ssl_context=ssl.create_default_context(cafile=str(cert)))
        try:
            for _ in range(2):
                assert (await trusting.send(get(url), timeout=5)).body == b"{}"
        finally:
            await trusting.aclose()

        # The default context is made on first use, from the CA store the environment names.
        from_env = Http11Transport()
        monkeypatch.setenv("SSL_CERT_FILE", str(cert))
        try:
            assert (await from_env.send(get(url), timeout=5)).status == 200
        finally:
            await from_env.aclose()
    finally:
        server.close()
        await server.wait_closed()


# --- the event stream ---------------------------------------------------------------------


async def test_a_stream_delivers_chunks_as_they_come_and_reports_a_break(
    transport: Http11Transport,
) -> None:
    go_on = asyncio.Event()

    def make(server: RawServer) -> Handler:
        async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            await server.head(reader)
            writer.write(
                b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n"
                b"Transfer-Encoding: chunked\r\n\r\n6\r\nhello\n\r\n"
            )
            await writer.drain()
            await go_on.wait()
            writer.write(b"6\r\nworld\n\r\n3\r\nab")  # then the connection drops mid-chunk
            await writer.drain()

        return handle

    async with await raw(make) as server:
        url = f"{server.url}/a/events?token={TOKEN}"
        async with transport.stream(get(url)) as stream:
            assert stream.status == 200 and stream.content_type == "text/event-stream"
            chunks = stream.chunks()
            assert await anext(chunks) == b"hello\n"  # before the server sent more
            go_on.set()
            got = [await anext(chunks)]
            with pytest.raises(TransportError) as err:
                async for chunk in chunks:
                    got.append(chunk)
        assert b"".join(got).startswith(b"world\n")
    said = str(err.value)
    assert said == f"event stream broken: response cut short: {server.url}/a/events"
    assert err.value.cause == "reset" and TOKEN not in said


async def test_a_refused_stream_reads_its_error_body_and_keeps_the_connection(
    transport: Http11Transport,
) -> None:
    refused = (
        b"HTTP/1.1 403 Forbidden\r\nContent-Type: application/json\r\nContent-Length: 38\r\n\r\n"
        b'{"status":"failed","result":"invalid"}'
    )
    async with await raw(answers(refused, OK)) as server:
        async with transport.stream(get(server.url + "/events")) as stream:
            assert stream.status == 403
            assert await stream.read() == b'{"status":"failed","result":"invalid"}'
        assert (await transport.send(get(server.url), timeout=5)).status == 200
        assert server.connections == 1


async def test_a_stream_that_cannot_connect(transport: Http11Transport) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(TransportError) as err:
        async with transport.stream(get(f"http://127.0.0.1:{port}/events?token={TOKEN}")):
            pass
    assert str(err.value) == f"event stream: connection refused: http://127.0.0.1:{port}/events"
    assert (err.value.cause, err.value.sent) == ("connect", False)


async def test_leaving_a_stream_early_drops_its_connection(transport: Http11Transport) -> None:
    endless = b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n\r\n: keepalive\n"
    closed = asyncio.Event()

    def make(server: RawServer) -> Handler:
        async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            await server.head(reader)
            writer.write(endless)
            await writer.drain()
            await reader.read()  # until the client goes
            closed.set()

        return handle

    async with await raw(make) as server:
        async with transport.stream(get(server.url)) as stream:
            assert await anext(stream.chunks()) == b": keepalive\n"
        await asyncio.wait_for(closed.wait(), 5)


async def test_aclose_closes_idle_connections() -> None:
    transport = Http11Transport()
    closed = asyncio.Event()

    def make(server: RawServer) -> Handler:
        async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            await server.head(reader)
            writer.write(OK)
            await writer.drain()
            assert await reader.read() == b""
            closed.set()

        return handle

    async with await raw(make) as server:
        await transport.send(get(server.url), timeout=5)
        await transport.aclose()
        await asyncio.wait_for(closed.wait(), 5)


# --- after aclose -------------------------------------------------------------------------


async def test_a_closed_transport_refuses_requests_and_streams_without_connecting() -> None:
    """After `aclose()` nothing would close a new connection: requests and event streams are
    refused before any network I/O, with a one-line message that has no token or query."""
    transport = Http11Transport()
    async with await raw(answers(OK)) as server:
        await transport.send(get(server.url + "/status"), timeout=5)
        await transport.aclose()
        with pytest.raises(RuntimeError) as sent:
            await transport.send(get(f"{server.url}/status?token={TOKEN}"), timeout=5)
        with pytest.raises(RuntimeError) as streamed:
            async with transport.stream(get(f"{server.url}/events?token={TOKEN}")):
                pass
        assert server.connections == 1
    assert str(sent.value) == f"GET {server.url}/status: the HTTP transport is closed"
    assert str(streamed.value) == (
        f"event stream: GET {server.url}/events: the HTTP transport is closed"
    )
    for err in (sent.value, streamed.value):
        assert TOKEN not in str(err) and "?" not in str(err) and "\n" not in str(err)


async def test_a_connection_opened_while_closing_is_dropped() -> None:
    """A request whose connection was being made when `aclose()` ran is refused and its
    connection dropped, not kept open by nobody."""
    dropped = asyncio.Event()

    class ClosedMeanwhile(Http11Transport):
        async def _connect(self, target: Any) -> Any:
            conn = await super()._connect(target)
            await self.aclose()
            return conn

    def make(server: RawServer) -> Handler:
        async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            assert await reader.read() == b""  # nothing sent, then the client went
            dropped.set()

        return handle

    transport = ClosedMeanwhile()
    async with await raw(make) as server:
        with pytest.raises(RuntimeError) as err:
            await transport.send(get(server.url + "/x"), timeout=5)
        await asyncio.wait_for(dropped.wait(), 5)
    assert str(err.value) == f"GET {server.url}/x: the HTTP transport is closed"
