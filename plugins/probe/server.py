"""The server's view of the probe: its own participant in the management API (status during
the call, history afterwards) and in an event sink's `participant_media_stream_window`
events, and the probe's own figures POSTed to the call's `statistics` endpoint.

Identity across planes: the management participant is looked up by `call_uuid` (the media
call's uuid, then the client-API participant uuid, as nodes differ), never by assuming the
ids are equal.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, SecretStr, model_validator

from agent import (
    ManagementClient,
    ManagementError,
    MediaStreamWindowEvent,
    SecondSample,
    ServerSample,
    ServerStream,
    ServerView,
    SinkWindow,
    StreamStatistics,
    parse_event,
)

log = logging.getLogger(__name__)

STREAM_FIELDS = tuple(ServerStream.model_fields)


class ManagementSettings(BaseModel):
    """Where the probe reads the node's view of itself (`[management]`)."""

    model_config = ConfigDict(extra="forbid", hide_input_in_errors=True)

    url: str = Field(pattern=r"^https?://[^/\s]+")
    username: str = "admin"
    password_env: str | None = None
    password: SecretStr | None = None
    verify_tls: bool = True
    #: Seconds between status polls during the call (the manager serialises its DB: go easy).
    poll_seconds: float = Field(default=10.0, ge=1)

    @model_validator(mode="after")
    def _password_readable(self) -> ManagementSettings:
        # Checked with the configuration, so a missing variable stops `pexbot probe` at once.
        self.resolve_password()
        return self

    def resolve_password(self) -> str:
        if self.password is not None:
            return self.password.get_secret_value()
        if self.password_env is not None:
            value = os.environ.get(self.password_env)
            if value is None:
                raise ValueError(f"environment variable {self.password_env} is not set")
            return value
        return ""


def _stream(item: Any) -> ServerStream:
    kind = getattr(item, "stream_type", "") or getattr(item, "type", "") or ""
    values = {name: getattr(item, name, None) for name in STREAM_FIELDS if name != "stream_type"}
    return ServerStream(stream_type=kind, **values)


class ServerWatch:
    """Polls the management API about the probe's participant; reads sink events."""

    def __init__(self, settings: ManagementSettings, origin: float) -> None:
        self.settings = settings
        self.origin = origin
        self.view = ServerView()
        self._client: ManagementClient | None = None

    def _api(self) -> ManagementClient:
        if self._client is None:
            self._client = ManagementClient(
                self.settings.url,
                username=self.settings.username,
                password=self.settings.resolve_password(),
                verify_tls=self.settings.verify_tls,
                timeout=10.0,
            )
        return self._client

    def _error(self, what: str, exc: Exception) -> None:
        line = f"{what}: {exc}"
        if line not in self.view.errors:
            log.warning("probe: management API %s", line)
            self.view.errors.append(line)

    async def find(self, call_uuids: list[str]) -> str | None:
        """The status participant id of the probe (by `call_uuid`), remembered once found."""
        if self.view.participant_id is not None:
            return self.view.participant_id
        api = self._api()
        for call_uuid in call_uuids:
            found = await api.status.participants(call_uuid=call_uuid, limit=5).all()
            if found:
                self.view.participant_id = found[0].id
                return found[0].id
        return None

    async def poll(self, call_uuids: list[str], now: float) -> None:
        """One status sample: the participant's call quality and media streams."""
        try:
            participant_id = await self.find(call_uuids)
            if participant_id is None:
                return
            api = self._api()
            participant = await api.status.participant(participant_id)
            streams = await api.status.media_streams(participant_id).all()
        except (ManagementError, ValueError, OSError) as exc:
            self._error("status", exc)
            return
        self.view.during.append(
            ServerSample(
                t=round(now - self.origin, 3),
                call_quality=participant.call_quality or None,
                streams=[_stream(s) for s in streams],
            )
        )

    async def history(self, call_uuids: list[str], attempts: int = 5) -> None:
        """The ended participant's final figures (the node files them as the call ends)."""
        api = self._api()
        for attempt in range(attempts):
            try:
                for call_uuid in call_uuids:
                    found = await api.history.participants(call_uuid=call_uuid, limit=5).all()
                    if found:
                        record = found[0]
                        self.view.history_call_quality = record.call_quality or None
                        self.view.history = [_stream(s) for s in record.media_streams]
                        return
            except (ManagementError, ValueError, OSError) as exc:
                self._error("history", exc)
                return
            await asyncio.sleep(0.5 * (attempt + 1))
        self._error("history", LookupError("the probe's participant is not in the history"))

    def compare(self, probe_loss: dict[str, float | None]) -> None:
        """Loss over the whole call, probe vs server, per kind and probe direction: the
        probe's `send` is the node's rx, its `receive` the node's tx. Counts win over the
        node's percentages (a tx percentage may be a recent window's)."""
        streams = self.view.history or (self.view.during[-1].streams if self.view.during else [])
        for kind in ("audio", "video"):
            stream = next((s for s in streams if s.stream_type == kind), None)
            for direction, prefix in (("send", "rx"), ("receive", "tx")):
                server: float | None = None
                if stream is not None:
                    lost = getattr(stream, f"{prefix}_packets_lost")
                    if prefix == "rx":
                        total = (stream.rx_packets_received or 0) + (lost or 0)
                    else:
                        total = stream.tx_packets_sent or 0
                    if lost is not None and total:
                        server = round(100.0 * lost / total, 3)
                    elif getattr(stream, f"{prefix}_packet_loss") is not None:
                        server = getattr(stream, f"{prefix}_packet_loss")
                self.view.loss_comparison[f"{kind} {direction}"] = {
                    "probe": probe_loss.get(f"{kind} {direction}"),
                    "server": server,
                }

    async def aclose(self) -> None:
        if self._client is not None:
            await self._client.aclose()


def read_sink_windows(path: Path, offset: int, participant_uuids: set[str]) -> list[SinkWindow]:
    """`participant_media_stream_window` events about the probe in a `pexbot sink` JSONL
    file, from byte `offset` on (what arrived during the call). Blocking: run in a thread."""
    found: list[SinkWindow] = []
    try:
        with path.open("rb") as fh:
            fh.seek(offset)
            lines = fh.read().decode("utf-8", "replace").splitlines()
    except OSError as exc:
        raise OSError(f"cannot read the event sink file {path}: {exc.strerror}") from None
    for line in lines:
        try:
            raw = json.loads(line)
            event = parse_event(raw)
        except ValueError:
            continue  # a torn line, or an event we cannot read: not ours to judge
        if isinstance(event, MediaStreamWindowEvent) and event.data.uuid in participant_uuids:
            time = raw.get("time")
            found.append(
                SinkWindow(
                    time=float(time) if isinstance(time, int | float) else 0.0,
                    call_quality_was=event.data.call_quality_was,
                    call_quality_now=event.data.call_quality_now,
                )
            )
    return found


def file_size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0


def statistics_body(
    seconds: list[SecondSample], window: float, resolution: str | None
) -> dict[str, StreamStatistics]:
    """The probe's figures in the `statistics` body's names and units (kbps, ms, %):
    `rx` = what the probe receives, `tx` = what it sends; windowed = the last `window`
    seconds, historic = the whole call."""
    out: dict[str, StreamStatistics] = {}
    if not seconds:
        return out
    last_t = seconds[-1].t
    for kind, codec in (("audio", "opus"), ("video", "VP8")):
        rx = [s for s in seconds if s.kind == kind and s.direction == "receive"]
        tx = [s for s in seconds if s.kind == kind and s.direction == "send"]
        if not rx and not tx:
            continue

        def loss(rows: list[SecondSample]) -> float | None:
            known = [r for r in rows if r.lost is not None]
            packets = sum(r.packets for r in known)
            return round(100.0 * sum(r.lost or 0 for r in known) / packets, 2) if packets else None

        recent_rx = [s for s in rx if s.t > last_t - window]
        recent_tx = [s for s in tx if s.t > last_t - window]
        fields: dict[str, Any] = {}
        if rx:
            fields.update(
                rx_bitrate=rx[-1].bitrate_kbps,
                rx_codec=codec,
                rx_fps=rx[-1].fps,
                rx_jitter=rx[-1].jitter_ms,
                rx_packets_received=sum(r.packets - (r.lost or 0) for r in rx),
                rx_packets_lost=sum(r.lost or 0 for r in rx),
                rx_historic_packet_loss=loss(rx),
                rx_windowed_packet_loss=loss(recent_rx),
                rx_resolution=resolution if kind == "video" else None,
            )
        if tx:
            fields.update(
                tx_bitrate=tx[-1].bitrate_kbps,
                tx_codec=codec,
                tx_packets_sent=sum(r.packets for r in tx),
                tx_rb_jitter=tx[-1].jitter_ms,
                tx_rb_packetslost=sum(r.lost or 0 for r in tx),
                tx_historic_packet_loss=loss(tx),
                tx_windowed_packet_loss=loss(recent_tx),
            )
        out[kind] = StreamStatistics(**fields)
    return out
