"""Headless Chromium on Pexip's web SDK, for the browser interop tests (tests/interop) and
the benchmarks against a browser (bench/vs_chromium.py): a same-origin web server and a
headless Chromium. Test-only code shared by both, so it lives here and not in `agent`.

`PageServer` serves the pages (`page.html`; `media.html`, the camera/microphone page;
`breakout.html`, a host that runs a breakout room; and any `extra_pages`, e.g. the
benchmark's) and the esbuild bundle of Pexip's web SDK (built into tests/interop/sdk by
`make tests/interop/sdk/dist/sdk.js`), and reverse-proxies `/api/client/v2/...` (the
streaming `events` response included, unbuffered; the other answers kept for schema checks)
to a node, so the page and the API share one origin and no CORS is involved. It also has
test-only routes: `POST /log` (the page's reports, JSON) and `GET /gate/<name>` (the page
waits there until the test opens the gate).

`Chromium` starts Debian's `chromium` headless as an asyncio subprocess in its own process
group (extra flags, e.g. `FAKE_MEDIA_FLAGS`, per browser), and always kills and reaps the
whole group at exit.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import signal
import socket
import tempfile
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any
from urllib.parse import urlencode

import aiohttp
from aiohttp import web

from agent._http_server import HttpServer

REPO = Path(__file__).resolve().parents[1]
SDK_DIR = REPO / "tests" / "interop" / "sdk"
PAGE = SDK_DIR / "page.html"
# The camera/microphone page of the media interop test (test_media_interop.py).
MEDIA_PAGE = SDK_DIR / "media.html"
# The breakout-room host page (test_breakout_interop.py).
BREAKOUT_PAGE = SDK_DIR / "breakout.html"
BUNDLE = SDK_DIR / "dist" / "sdk.js"
REPORT_JS = SDK_DIR / "report.js"

INSTALL_HINT = (
    "run `make test` (it installs Debian chromium/nodejs/npm and builds the bundle), or by "
    "hand: `sudo apt-get install chromium nodejs npm && npm ci --prefix tests/interop/sdk && "
    "npm run --prefix tests/interop/sdk build`"
)

# Flags from the facts notes (client-api-v2-facts.md section 8, media-facts.md): loopback
# candidates only, no mDNS names, nothing talking to the internet.
CHROMIUM_FLAGS = (
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-features=WebRtcHideLocalIpsWithMdns",
    "--allow-loopback-in-peer-connection",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
    "--autoplay-policy=no-user-gesture-required",
)

# For a page that calls getUserMedia: Chromium's fake camera (a moving pattern, here at
# 15 fps) and fake microphone (a short beep twice a second, see test_media_interop.py),
# and no permission prompt.
FAKE_MEDIA_FLAGS = (
    "--use-fake-device-for-media-stream=fps=15",
    "--use-fake-ui-for-media-stream",
)

# Hop-by-hop headers (RFC 9110 section 7.6.1) plus the ones aiohttp recomputes.
_HOP = frozenset(
    h.lower()
    for h in (
        "Connection",
        "Keep-Alive",
        "Proxy-Authenticate",
        "Proxy-Authorization",
        "TE",
        "Trailer",
        "Transfer-Encoding",
        "Upgrade",
        "Host",
        "Content-Length",
    )
)


def find_chromium() -> str | None:
    """The Chromium binary: `$PEXBOT_CHROMIUM`, else `chromium` (Debian) on the PATH."""
    explicit = os.environ.get("PEXBOT_CHROMIUM")
    if explicit:
        return explicit if os.access(explicit, os.X_OK) else None
    for name in ("chromium", "chromium-browser"):
        found = shutil.which(name)
        if found:
            return found
    return None


def missing_prerequisites() -> list[str]:
    """What the interop test needs and this machine lacks, in words."""
    missing: list[str] = []
    if find_chromium() is None:
        where = os.environ.get("PEXBOT_CHROMIUM") or "`chromium` on the PATH"
        missing.append(f"no Chromium ({where}; Debian package `chromium`)")
    if not BUNDLE.is_file():
        missing.append(f"the SDK bundle {BUNDLE.relative_to(REPO)} is not built")
    return missing


def _forward_headers(headers: Iterable[tuple[str, str]]) -> list[tuple[str, str]]:
    return [(k, v) for k, v in headers if k.lower() not in _HOP]


@dataclass
class ProxiedRequest:
    """One request the page made through the proxy, for assertions."""

    method: str
    path: str
    status: int
    request_headers: dict[str, str]
    request_body: bytes
    at: float = field(default_factory=time.monotonic)
    #: The answer (not kept for the event stream), and its content type.
    response_body: bytes = b""
    response_content_type: str = ""

    @property
    def endpoint(self) -> str:
        """The path after `/conferences/<alias>/`, e.g. `request_token`."""
        parts = self.path.split("/", 6)
        return parts[6] if len(parts) > 6 else self.path

    def json_body(self) -> Any:
        try:
            return json.loads(self.request_body) if self.request_body.strip() else None
        except ValueError:
            return None


class PageServer(HttpServer):
    """Same-origin server for the page: static files, API reverse proxy, test routes."""

    kind = "page server"
    shutdown_timeout = 1.0

    def __init__(
        self,
        upstream: str,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        extra_pages: dict[str, Path] | None = None,
    ) -> None:
        super().__init__(host=host, port=port)
        self.upstream = upstream.rstrip("/")
        self.extra_pages = dict(extra_pages or {})  # URL path ("/bench.html") -> file
        self.logs: list[dict[str, Any]] = []
        self.requests: list[ProxiedRequest] = []
        self._changed = asyncio.Condition()
        self._gates: dict[str, asyncio.Event] = {}
        self._http: aiohttp.ClientSession | None = None
        self._streams: set[asyncio.Task[Any]] = set()

    # -- lifecycle -----------------------------------------------------------------------

    def page_url(self, **query: str) -> str:
        return f"{self.base_url}/page.html?{urlencode(query)}"

    def media_page_url(self, **query: str) -> str:
        return f"{self.base_url}/media.html?{urlencode(query)}"

    def url(self, route: str, **query: str) -> str:
        return f"{self.base_url}{route}?{urlencode(query)}"

    def breakout_page_url(self, **query: str) -> str:
        return f"{self.base_url}/breakout.html?{urlencode(query)}"

    async def start(self) -> None:
        # No total/read timeout: the proxied event stream stays open for the whole test.
        self._http = aiohttp.ClientSession(
            timeout=aiohttp.ClientTimeout(total=None, connect=5),
            auto_decompress=False,
            cookie_jar=aiohttp.DummyCookieJar(),
        )
        app = web.Application(client_max_size=4 * 1024 * 1024)
        app.router.add_get("/", self._page)
        app.router.add_get("/page.html", self._page)
        app.router.add_get("/media.html", self._media_page)
        app.router.add_get("/breakout.html", self._breakout_page)
        for route, path in self.extra_pages.items():
            app.router.add_get(route, self._static(path))
        app.router.add_get("/sdk.js", self._bundle)
        app.router.add_get("/report.js", self._report_js)
        app.router.add_post("/log", self._log)
        app.router.add_get("/gate/{name}", self._gate)
        app.router.add_get("/favicon.ico", self._no_content)
        app.router.add_route("*", "/api/client/v2/{tail:.*}", self._proxy)
        await self.listen(app)

    async def stop(self) -> None:
        for gate in self._gates.values():
            gate.set()
        # Proxied event streams would otherwise hold the shutdown until their next event.
        for task in list(self._streams):
            task.cancel()
        if self._http is not None:
            # Closing the client session ends proxied streams still open upstream.
            await self._http.close()
            self._http = None
        await self.unlisten()

    # -- what the test uses --------------------------------------------------------------

    def gate(self, name: str) -> asyncio.Event:
        return self._gates.setdefault(name, asyncio.Event())

    def open_gate(self, name: str) -> None:
        self.gate(name).set()

    def events(self, name: str) -> list[dict[str, Any]]:
        return [entry for entry in self.logs if entry.get("event") == name]

    def first(self, name: str) -> dict[str, Any] | None:
        found = self.events(name)
        return found[0] if found else None

    async def wait_for_log(self, *names: str, timeout: float) -> dict[str, Any]:
        """The first page report named one of `names`; TimeoutError after `timeout` s."""

        def find() -> dict[str, Any] | None:
            return next((e for e in self.logs if e.get("event") in names), None)

        async with asyncio.timeout(timeout), self._changed:
            await self._changed.wait_for(lambda: find() is not None)
        found = find()
        assert found is not None
        return found

    def proxied(self, endpoint: str) -> list[ProxiedRequest]:
        return [r for r in self.requests if r.endpoint == endpoint]

    def transcript(self) -> str:
        """The page's reports and the proxied requests, for assertion messages."""
        lines = [f"page: {json.dumps(e, sort_keys=True)[:400]}" for e in self.logs]
        lines += [f"proxy: {r.method} {r.path} -> {r.status}" for r in self.requests]
        return "\n".join(lines)

    # -- handlers ------------------------------------------------------------------------

    async def _notify(self) -> None:
        async with self._changed:
            self._changed.notify_all()

    async def _page(self, request: web.Request) -> web.StreamResponse:
        return web.FileResponse(PAGE, headers={"Cache-Control": "no-store"})

    async def _media_page(self, request: web.Request) -> web.StreamResponse:
        return web.FileResponse(MEDIA_PAGE, headers={"Cache-Control": "no-store"})

    @staticmethod
    def _static(path: Path) -> Any:
        async def serve(request: web.Request) -> web.StreamResponse:
            return web.FileResponse(path, headers={"Cache-Control": "no-store"})

        return serve

    async def _breakout_page(self, request: web.Request) -> web.StreamResponse:
        return web.FileResponse(BREAKOUT_PAGE, headers={"Cache-Control": "no-store"})

    async def _bundle(self, request: web.Request) -> web.StreamResponse:
        if not BUNDLE.is_file():
            raise web.HTTPNotFound(text=f"SDK bundle not built; {INSTALL_HINT}")
        return web.FileResponse(BUNDLE, headers={"Cache-Control": "no-store"})

    async def _report_js(self, request: web.Request) -> web.StreamResponse:
        return web.FileResponse(REPORT_JS, headers={"Cache-Control": "no-store"})

    async def _no_content(self, request: web.Request) -> web.Response:
        return web.Response(status=204)

    async def _log(self, request: web.Request) -> web.Response:
        try:
            entry = await request.json()
        except ValueError:
            raise web.HTTPBadRequest(text="log entries are JSON") from None
        if not isinstance(entry, dict):
            entry = {"event": "raw", "data": entry}
        entry["received_at"] = time.monotonic()
        self.logs.append(entry)
        await self._notify()
        return web.Response(status=204)

    async def _gate(self, request: web.Request) -> web.Response:
        gate = self.gate(request.match_info["name"])
        try:
            await asyncio.wait_for(gate.wait(), 30)
        except TimeoutError:
            return web.Response(status=504, text="gate not opened")
        return web.Response(status=204)

    async def _proxy(self, request: web.Request) -> web.StreamResponse:
        if self._http is None:
            raise web.HTTPServiceUnavailable()
        body = await request.read()
        url = self.upstream + request.rel_url.raw_path_qs
        headers = _forward_headers(request.headers.items())
        record = ProxiedRequest(
            method=request.method,
            path=request.rel_url.raw_path,
            status=0,
            request_headers={k.lower(): v for k, v in headers},
            request_body=body,
        )
        self.requests.append(record)
        try:
            upstream = await self._http.request(
                request.method,
                url,
                headers=headers,
                data=body or None,
                allow_redirects=False,
                skip_auto_headers=("Content-Type", "Accept-Encoding", "User-Agent"),
            )
        except aiohttp.ClientError as exc:
            record.status = 502
            await self._notify()
            return web.Response(status=502, text=f"proxy: upstream failed: {exc}")
        record.status = upstream.status
        record.response_content_type = upstream.headers.get("Content-Type", "")
        keep = not record.endpoint.startswith("events")
        await self._notify()
        async with upstream:
            response = web.StreamResponse(
                status=upstream.status,
                reason=upstream.reason,
                headers=_forward_headers(upstream.headers.items()),
            )
            length = upstream.headers.get("Content-Length")
            if length is not None:
                response.content_length = int(length)
            await response.prepare(request)
            task = asyncio.current_task()
            assert task is not None
            self._streams.add(task)
            # Pass every chunk on as soon as it arrives: the SSE stream must not buffer.
            try:
                with contextlib.suppress(ConnectionResetError, aiohttp.ClientError):
                    async for chunk in upstream.content.iter_any():
                        if keep and len(record.response_body) < 1 << 20:
                            record.response_body += chunk
                        await response.write(chunk)
                    await response.write_eof()
            finally:
                self._streams.discard(task)
        return response


class Chromium:
    """Headless Chromium on one URL, in its own process group; killed and reaped at exit."""

    def __init__(
        self,
        url: str,
        *,
        binary: str | None = None,
        log_path: Path | None = None,
        extra_flags: Sequence[str] = (),
    ):
        self.url = url
        self.binary = binary or find_chromium()
        self.extra_flags = tuple(extra_flags)
        self.log_path = log_path
        self.proc: asyncio.subprocess.Process | None = None
        self._profile: str | None = None
        self._log_file: Any = None

    def command(self) -> list[str]:
        assert self.binary is not None and self._profile is not None
        return [
            self.binary,
            *CHROMIUM_FLAGS,
            *self.extra_flags,
            f"--user-data-dir={self._profile}",
            "--enable-logging=stderr",
            "--v=0",
            self.url,
        ]

    async def start(self) -> None:
        if self.binary is None:
            raise RuntimeError(f"chromium not found; {INSTALL_HINT}")
        self._profile = tempfile.mkdtemp(prefix="pexbot-chromium-")
        out: Any = asyncio.subprocess.DEVNULL
        if self.log_path is not None:
            self._log_file = self.log_path.open("wb")
            out = self._log_file
        self.proc = await asyncio.create_subprocess_exec(
            *self.command(),
            stdin=asyncio.subprocess.DEVNULL,
            stdout=out,
            stderr=out,
            # Own process group: the renderer, GPU and zygote children die with it.
            start_new_session=True,
        )

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.returncode is None

    def log_tail(self, lines: int = 40) -> str:
        if self.log_path is None or not self.log_path.exists():
            return ""
        text = self.log_path.read_text(errors="replace").splitlines()
        return "\n".join(text[-lines:])

    async def stop(self) -> None:
        proc, self.proc = self.proc, None
        try:
            if proc is not None:
                await _kill_group(proc)
        finally:
            if self._log_file is not None:
                self._log_file.close()
                self._log_file = None
            if self._profile is not None:
                shutil.rmtree(self._profile, ignore_errors=True)
                self._profile = None

    async def __aenter__(self) -> Chromium:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()


def _signal_group(pgid: int, sig: signal.Signals) -> bool:
    """Send `sig` to the group; False when no process of it is left."""
    try:
        os.killpg(pgid, sig)
    except ProcessLookupError:
        return False
    return True


async def _kill_group(proc: asyncio.subprocess.Process, grace: float = 3.0) -> None:
    """SIGTERM the whole process group, SIGKILL what is left after `grace` s, reap the
    leader, and wait (bounded) until no member of the group exists any more."""
    pgid = proc.pid  # start_new_session: the leader's pid is the group id
    if _signal_group(pgid, signal.SIGTERM):
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(proc.wait(), grace)
    _signal_group(pgid, signal.SIGKILL)
    await proc.wait()
    # Orphaned children (renderers, zygote) are reparented and reaped by init; give them
    # up to 5 s to disappear.
    for _ in range(100):
        if not _signal_group(pgid, signal.SIGKILL):
            break
        await asyncio.sleep(0.05)


def group_alive(pgid: int) -> bool:
    """True while any process of the group exists (zombies included)."""
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def is_local_address(address: str) -> bool:
    """True if `address` belongs to this machine (a socket can bind it); `.local` mDNS
    names and remote addresses are False."""
    try:
        infos = socket.getaddrinfo(address, None, flags=socket.AI_NUMERICHOST)
    except socket.gaierror:
        return False
    family = infos[0][0]
    with socket.socket(family, socket.SOCK_DGRAM) as sock:
        try:
            sock.bind((address, 0))
        except OSError:
            return False
    return True
