"""The call-quality probe: a synthetic participant that measures what people would hear and
see, the way Pexip classifies it.

The plugin (`Probe`, entry point `probe`) joins with the bot, then:

- stamps the join (request_token, ICE connected, first audio packet, first video frame);
- sends a 640x480 test pattern carrying a frame counter and, on a test call (which loops
  media back), an audio marker every second, both pre-encoded, and finds both in what
  comes back (decoded in batches in a worker thread, `decode.py`): media round trips per
  marker and the lip-sync offset (`agent.MarkerTracker`);
- samples the call's RTP figures every second, both directions, in explicit units
  (`measure.py`), watches for video freezes and audio gaps (`continuity.py`), and cuts
  20 s windows classed by both Pexip rules, live and completed, with an E-model MOS;
- POSTs its own figures to the call's `statistics` endpoint when the node advertises
  `client_stats_update_interval`, and reads the node's view of it: the management API
  during and after the call, an event sink's windows (`server.py`);
- leaves after `duration` seconds of media and writes `report.json` (schema:
  `agent.ProbeReport`), `quality.png` (`chart.py`) and `metrics.prom` to
  `<output_dir>/<target>-<UTC start>/`, with the SLA's verdict (`agent.evaluate_sla`).

`pexbot probe` runs it against a list of targets, once or on a schedule, and exits
non-zero when a target breaks its SLA.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from agent import (
    AudioMarkerSource,
    BotState,
    EncodedFrame,
    FailureReason,
    JoinTimings,
    MarkerTracker,
    MarkerVideoSource,
    Plugin,
    ProbeReport,
    ProbeSla,
    StateChanged,
    StatisticsPosts,
)

from .continuity import AudioGapDetector, FreezeDetector
from .decode import BATCH_SECONDS, BatchDecoder, Decoded
from .measure import Sampler
from .report import ReportInputs, build_report, write_outputs
from .server import ManagementSettings, ServerWatch, file_size, read_sink_windows, statistics_body

__all__ = ["ManagementSettings", "Probe", "ProbeConfig"]

log = logging.getLogger(__name__)

SAMPLE_SECONDS = 1.0


class ProbeConfig(BaseModel):
    """The `probe` plugin's settings (`[[plugins]] name = "probe"`, `config = {...}`)."""

    model_config = ConfigDict(extra="forbid")

    #: Name in reports and gauges; default `<alias>@<node host>`.
    target: str | None = Field(default=None, min_length=1, pattern=r"^[A-Za-z0-9._@:-]+$")
    output_dir: str = "probe-reports"
    #: Report folder inside `output_dir`; default `<target>-<UTC start>`.
    folder: str | None = None
    #: Seconds of media measured before the probe leaves (3 windows of 20 s by default).
    duration: float = Field(default=60.0, ge=5)
    #: Audio markers: `auto` on test calls only (elsewhere people would hear the beeps).
    markers: Literal["auto", "on", "off"] = "auto"
    marker_period: float = Field(default=1.0, ge=0.5, le=10)
    #: The test card sent: `WxH@FPS`.
    video: str = "640x480@15"
    sla: ProbeSla = Field(default_factory=ProbeSla)
    management: ManagementSettings | None = None
    #: A `pexbot sink --jsonl` file: its `participant_media_stream_window` events about the
    #: probe go into the report's server view.
    event_sink_jsonl: str | None = None
    #: POST the probe's figures to `statistics` when the node asks for them.
    post_statistics: bool = True

    @field_validator("video")
    @classmethod
    def _video(cls, value: str) -> str:
        size, _, fps = value.partition("@")
        width, _, height = size.partition("x")
        if not (width.isdigit() and height.isdigit() and (not fps or _is_number(fps))):
            raise ValueError(f"video must look like 640x480@15, not {value!r}")
        if int(width) < 64 or int(height) < 48 or int(width) % 2 or int(height) % 2:
            raise ValueError(f"video size must be even and at least 64x48, not {size}")
        return value

    def video_size(self) -> tuple[int, int, float]:
        size, _, fps = self.video.partition("@")
        width, _, height = size.partition("x")
        return int(width), int(height), float(fps or 15)


def _is_number(text: str) -> bool:
    try:
        return float(text) > 0
    except ValueError:
        return False


class Probe(Plugin[ProbeConfig]):
    """The call-quality probe (see the module docstring)."""

    name = "probe"
    Config = ProbeConfig
    # Encoded frames only: the probe decodes them itself, in batches (`decode.py`).
    wants_encoded = True
    # ~70 encoded frames a second: room for several seconds of hiccups.
    media_queue_size: ClassVar[int] = 512

    def __init__(self, context: Any = None, config: ProbeConfig | None = None) -> None:
        super().__init__(context, config)
        self._origin = 0.0
        self._started_utc = datetime.now(UTC)
        self.timings = JoinTimings()
        self.sampler = Sampler(0.0)
        self.tracker: MarkerTracker | None = None
        self.decoder = BatchDecoder(None)
        self.freezes = FreezeDetector(0.0)
        self.gaps = AudioGapDetector(0.0)
        self.posts = StatisticsPosts(interval_s=None)
        self.server: ServerWatch | None = None
        self.report: ProbeReport | None = None
        self.folder: Path | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._markers = False
        self._in_call = False
        self._completed = False
        self._failure: str | None = None
        self._leave_detail = ""
        self._resolution: str | None = None
        self._sink_offset = 0
        self._call_uuids: list[str] = []
        self._service_type: str | None = None
        self._video: MarkerVideoSource | None = None
        self._audio: AudioMarkerSource | None = None

    # -- lifecycle -----------------------------------------------------------------------

    @property
    def target(self) -> str:
        if self.config.target:
            return self.config.target
        bot = self.context.bot_config
        host = bot.node.split("://", 1)[-1].split("/", 1)[0]
        return f"{bot.alias}@{host}"

    async def prepare(self) -> None:
        ctx, cfg = self.context, self.config
        self._origin = ctx.clock.monotonic()
        self._started_utc = datetime.now(UTC)
        self.sampler = Sampler(self._origin)
        self.freezes = FreezeDetector(self._origin)
        self.gaps = AudioGapDetector(self._origin)
        media = ctx.bot_config.media
        if media.audio == "none" or media.video == "none":
            ctx.fail(
                FailureReason.CONFIG,
                "probe: the bot must send audio and video (media.audio and media.video "
                'not "none"; the probe replaces them with its markers)',
            )
            return
        if not (media.receive_audio and media.receive_video):
            ctx.fail(FailureReason.CONFIG, "probe: the bot must receive audio and video")
            return
        if cfg.management is not None:
            try:
                cfg.management.resolve_password()
            except ValueError as exc:
                ctx.fail(FailureReason.CONFIG, f"probe: management.password_env: {exc}")
                return
            self.server = ServerWatch(cfg.management, self._origin)
        stamp = self._started_utc.strftime("%Y%m%dT%H%M%SZ")
        folder = Path(cfg.output_dir) / (cfg.folder or f"{self.target}-{stamp}")
        try:
            await asyncio.to_thread(folder.mkdir, parents=True, exist_ok=True)
        except OSError as exc:
            ctx.fail(FailureReason.STORAGE, f"probe: cannot create {folder}: {exc.strerror}")
            return
        self.folder = folder
        if cfg.event_sink_jsonl is not None:
            self._sink_offset = await asyncio.to_thread(file_size, Path(cfg.event_sink_jsonl))
        # Both sources pre-encode their media (~0.3 s of CPU): off the loop, before joining.
        clock = ctx.clock.monotonic
        width, height, fps = cfg.video_size()
        self._video = await asyncio.to_thread(MarkerVideoSource, width, height, fps, clock=clock)
        self._audio = await asyncio.to_thread(
            AudioMarkerSource, period=cfg.marker_period, clock=clock
        )

    async def start(self) -> None:
        self._tasks.append(asyncio.create_task(self._sample(), name="probe:sample"))

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks.clear()
        self._apply(await self.decoder.flush())  # what arrived since the last batch
        self.decoder.close()
        if self.folder is None:
            return  # failed before joining: prepare said why
        try:
            await self._finish()
        finally:
            if self.server is not None:
                await self.server.aclose()

    async def _finish(self) -> None:
        cfg = self.config
        joined = self._in_call and self.timings.first_audio_ms is not None
        failure = self._failure
        if failure is None and not self._completed:
            failure = f"left early: {self._leave_detail or 'stopped'}"
        if self.server is not None and self._call_uuids:
            await self.server.history(self._call_uuids)
            if cfg.event_sink_jsonl is not None:
                try:
                    self.server.view.sink_windows = await asyncio.to_thread(
                        read_sink_windows,
                        Path(cfg.event_sink_jsonl),
                        self._sink_offset,
                        set(self._call_uuids),
                    )
                except OSError as exc:
                    self.server.view.errors.append(str(exc))
        inputs = ReportInputs(
            target=self.target,
            node=self.context.bot_config.node,
            alias=self.context.alias,
            conference=self.context.conference_name,
            service_type=self._service_type,
            started_utc=self._started_utc,
            duration_s=self.context.clock.monotonic() - self._origin,
            joined=joined,
            failure=failure,
            timings=self.timings,
            sampler=self.sampler,
            tracker=self.tracker if self._markers else None,
            freezes=self.freezes,
            gaps=self.gaps,
            server=self.server,
            posts=self.posts,
            sla=cfg.sla,
        )
        self.report = build_report(inputs)
        assert self.folder is not None
        await asyncio.to_thread(write_outputs, self.folder, self.report)
        verdict = self.report.verdict
        (log.info if verdict.ok else log.warning)("probe: %s", verdict.line)

    # -- the bot's lifecycle -------------------------------------------------------------

    async def on_state_changed(self, change: StateChanged) -> None:
        ms = round((change.at - self._origin) * 1000, 1)
        if change.new in (BotState.CONNECTED, BotState.WAITING_ROOM):
            if self.timings.request_token_ms is None:
                self.timings.request_token_ms = ms
        elif change.new == BotState.IN_CALL and not self._in_call:
            self._in_call = True
            self._start_media()
        elif change.new == BotState.LEAVING:
            self._leave_detail = change.detail
        elif change.new == BotState.FAILED:
            self._failure = f"{change.reason}: {change.detail}"

    def _start_media(self) -> None:
        ctx, cfg = self.context, self.config
        self._service_type = ctx.service_type
        for uuid in (ctx.call_uuid, ctx.own_uuid):
            if uuid and uuid not in self._call_uuids:
                self._call_uuids.append(uuid)
        video = self._video
        self._markers = cfg.markers == "on" or (
            cfg.markers == "auto" and self._service_type == "test_call"
        )
        audio = self._audio if self._markers else None
        if video is None:
            return  # prepare() failed: the bot is leaving
        self.tracker = MarkerTracker(audio, video)
        self.decoder = BatchDecoder(self.tracker.detector if audio is not None else None)
        self._tasks.append(asyncio.create_task(self._decode(), name="probe:decode"))
        ctx.set_video_source(video)
        if audio is not None:
            ctx.set_audio_source(audio)
        interval = ctx.client_stats_update_interval
        self.posts = StatisticsPosts(interval_s=interval)
        if interval and cfg.post_statistics:
            self._tasks.append(asyncio.create_task(self._post(interval), name="probe:statistics"))
        if self.server is not None:
            self._tasks.append(asyncio.create_task(self._poll(), name="probe:management"))

    # -- media ---------------------------------------------------------------------------

    async def on_encoded_frame(self, frame: EncodedFrame) -> None:
        ms = round((frame.arrival - self._origin) * 1000, 1)
        if frame.kind == "audio":
            if self.timings.first_audio_ms is None:
                self.timings.first_audio_ms = ms
            if frame.codec == "opus":
                self.gaps.packet(frame.data, frame.timestamp, frame.arrival, frame.clock_rate)
        elif frame.kind == "video" and self.timings.first_video_ms is None:
            self.timings.first_video_ms = ms
        self.decoder.feed(frame)

    def _apply(self, decoded: Decoded) -> None:
        tracker = self.tracker
        if tracker is not None:
            for onset in decoded.onsets:
                tracker.match_audio(onset)
        for arrival, counter in decoded.pictures:
            if tracker is not None and counter is not None:
                tracker.match_video(counter, arrival)
            self.freezes.frame(arrival, counter)
        if decoded.resolution is not None:
            self._resolution = decoded.resolution

    # -- timed work ----------------------------------------------------------------------

    async def _sample(self) -> None:
        clock = self.context.clock
        n = 0
        while True:
            n += 1
            await clock.sleep(max(0.0, self._origin + n * SAMPLE_SECONDS - clock.monotonic()))
            snap = await self.context.media_snapshot()
            if snap is None:
                continue
            if self.timings.ice_connected_ms is None and snap.connected_at is not None:
                self.timings.ice_connected_ms = round((snap.connected_at - self._origin) * 1000, 1)
            self.sampler.add(snap)
            first = self.sampler.first_at
            if (
                not self._completed
                and first is not None
                and snap.at - first >= self.config.duration
            ):
                self._completed = True
                self.context.leave(f"probe: measured {self.config.duration:g} s")

    async def _decode(self) -> None:
        clock = self.context.clock
        while True:
            await clock.sleep(BATCH_SECONDS)
            self._apply(await self.decoder.flush())

    async def _post(self, interval: float) -> None:
        clock = self.context.clock
        while True:
            await clock.sleep(interval)
            body = statistics_body(self.sampler.seconds, interval, self._resolution)
            if not body:
                continue
            try:
                await self.context.report_statistics(
                    audio=body.get("audio"), video=body.get("video")
                )
                self.posts.sent += 1
            except Exception as exc:  # a refused report is a finding, not a failure
                self.posts.failed += 1
                if self.posts.failed == 1:
                    log.warning("probe: statistics not accepted: %s", exc)

    async def _poll(self) -> None:
        assert self.server is not None and self.config.management is not None
        clock = self.context.clock
        every = self.config.management.poll_seconds
        while True:
            await clock.sleep(every)
            uuids = [u for u in (self.context.call_uuid, self.context.own_uuid) if u]
            for uuid in uuids:
                if uuid not in self._call_uuids:
                    self._call_uuids.append(uuid)
            await self.server.poll(self._call_uuids, clock.monotonic())
