"""`quality.png`: one look says whether the call was good.

A verdict banner (PASS/FAIL, class, MOS, join, round trip), then four panels over the
call's time: packet loss per second with Pexip's class bands (and each 20 s window's
class as a coloured strip), jitter with the v26 40 ms step, round trips (RTCP and the
markers' media round trips) and MOS per window with the SLA's floor.
"""

from __future__ import annotations

import itertools
import textwrap
from pathlib import Path
from typing import TYPE_CHECKING, Any

from agent import JITTER_STEP_MS, LOSS_BANDS, ProbeReport, Quality, QualityRule

if TYPE_CHECKING:
    from matplotlib.figure import Figure

CLASS_COLOURS = {
    Quality.UNKNOWN: "#bbbbbb",
    Quality.GOOD: "#2e9d4b",
    Quality.OK: "#e0b400",
    Quality.BAD: "#e07000",
    Quality.TERRIBLE: "#c62828",
}
SERIES = {
    ("audio", "receive"): ("#1f77b4", "-", "audio received"),
    ("audio", "send"): ("#1f77b4", "--", "audio sent"),
    ("video", "receive"): ("#9467bd", "-", "video received"),
    ("video", "send"): ("#9467bd", "--", "video sent"),
}


Series = dict[tuple[str, str], tuple[list[float], list[float]]]


def _series(report: ProbeReport, field: str) -> Series:
    out: Series = {}
    for s in report.seconds:
        value = getattr(s, field)
        if value is None:
            continue
        xs, ys = out.setdefault((s.kind, s.direction), ([], []))
        xs.append(s.t)
        ys.append(float(value))
    return out


def _lines(ax: Any, data: Series) -> None:
    for key, (xs, ys) in sorted(data.items()):
        colour, style, label = SERIES.get(key, ("#555555", "-", " ".join(key)))
        ax.plot(xs, ys, color=colour, ls=style, lw=1.3, label=label)


def _banner(fig: Figure, report: ProbeReport, top: float) -> None:
    verdict = report.verdict
    colour = CLASS_COLOURS[Quality.GOOD if verdict.ok else Quality.TERRIBLE]
    box = {"facecolor": colour, "edgecolor": colour, "pad": 6}
    fig.text(0.01, top, "PASS" if verdict.ok else "FAIL", fontsize=20, weight="bold",
             color="white", va="top", bbox=box)  # fmt: skip
    fig.text(0.1, top, f"{report.target}  ·  {report.alias} on {report.node}", fontsize=12,
             weight="bold", va="top")  # fmt: skip
    detail = verdict.line.split(": ", 1)[-1] if report.seconds else "no call to measure"
    lines = textwrap.wrap(f"{report.started_utc}  ·  {detail}", 120)[:3]
    below = 0.3 / fig.get_figheight()  # 0.3 inch under the title, whatever the figure size
    fig.text(0.1, top - below, "\n".join(lines), fontsize=9.5, color="#444444", va="top")


def _no_media_figure(report: ProbeReport) -> Figure:
    from matplotlib.figure import Figure  # noqa: PLC0415

    fig = Figure(figsize=(11, 2.6), dpi=100)
    _banner(fig, report, 0.93)
    why = report.failure or "no media was measured"
    fig.text(0.1, 0.4, "\n".join(textwrap.wrap(f"Did not join: {why}", 100)),
             fontsize=12, color=CLASS_COLOURS[Quality.TERRIBLE], va="center")  # fmt: skip
    return fig


def quality_figure(report: ProbeReport, rule: QualityRule) -> Figure:
    from matplotlib.figure import Figure  # noqa: PLC0415
    from matplotlib.patches import Patch  # noqa: PLC0415

    if not report.seconds:
        return _no_media_figure(report)
    fig = Figure(figsize=(11, 10), dpi=100)
    axes = fig.subplots(4, 1, sharex=True, gridspec_kw={"height_ratios": [3, 2, 2, 2]})
    loss_ax, jitter_ax, rtt_ax, mos_ax = axes
    end = max([report.duration_s, *(s.t for s in report.seconds)], default=1.0)

    # -- loss with the class bands
    loss = _series(report, "loss_percent")
    top = max([12.0, *(max(ys) * 1.15 for _, ys in loss.values() if ys)])
    bands = [0.0, *LOSS_BANDS, top]
    for level, (lo, hi) in enumerate(itertools.pairwise(bands), start=1):
        loss_ax.axhspan(lo, hi, color=CLASS_COLOURS[Quality(level)], alpha=0.13, lw=0)
        loss_ax.text(end, (lo + min(hi, top)) / 2, f" {Quality(level).text}", va="center",
                     fontsize=8.5, color=CLASS_COLOURS[Quality(level)], clip_on=False)  # fmt: skip
    _lines(loss_ax, loss)
    loss_ax.set_ylim(0, top)
    loss_ax.set_ylabel("packet loss (%)")
    # Each window's class as a strip: the SLA's rule on top, the other rule under it.
    other = next(r for r in QualityRule if r is not rule)
    for row, (strip_rule, high) in enumerate(((rule, 1.0), (other, 0.93))):
        for window in report.windows:
            level = Quality.parse(window.classes[strip_rule]["call"])
            alpha = 1.0 if row == 0 else 0.75
            loss_ax.axvspan(window.start, window.end, ymin=high - 0.065, ymax=high,
                            color=CLASS_COLOURS[level], lw=0, alpha=alpha)  # fmt: skip
            loss_ax.text((window.start + window.end) / 2, top * (high - 0.0325), level.text,
                         ha="center", va="center", fontsize=7.5, color="white",
                         weight="bold")  # fmt: skip
        if report.windows:
            loss_ax.text(report.windows[0].start, top * (high - 0.0325), f"{strip_rule} ",
                         ha="right", va="center", fontsize=7, color="#444444")  # fmt: skip
    # The window's own figure, which the class is made of: its worst stream's loss.
    xs: list[float] = []
    ys: list[float] = []
    for window in report.windows:
        worst = max((w.loss_percent or 0.0 for w in window.streams), default=0.0)
        xs += [window.start, window.end]
        ys += [worst, worst]
    if xs:
        loss_ax.plot(xs, ys, color="#222222", lw=2.2, label="20 s window (worst stream)")
    if loss:  # one legend for the three per-second panels, under the banner
        handles, labels = loss_ax.get_legend_handles_labels()
        fig.legend(handles, labels, loc="upper right", bbox_to_anchor=(0.97, 0.935), ncol=5,
                   fontsize=8.5, frameon=False)  # fmt: skip

    # -- jitter
    _lines(jitter_ax, _series(report, "jitter_ms"))
    jitter_ax.axhline(JITTER_STEP_MS, color=CLASS_COLOURS[Quality.BAD], lw=1, ls=":")
    jitter_ax.text(0, JITTER_STEP_MS, " 40 ms (v26 step)", va="bottom", fontsize=8,
                   color=CLASS_COLOURS[Quality.BAD])  # fmt: skip
    jitter_ax.set_ylabel("jitter (ms)")
    jitter_ax.set_ylim(bottom=0)

    # -- round trips
    rtt = _series(report, "rtt_ms")
    for (kind, _), (xs, ys) in sorted(rtt.items()):
        rtt_ax.plot(xs, ys, lw=1.2, color=SERIES[(kind, "send")][0], label=f"RTCP RTT ({kind})")
    markers = report.latency.audio
    if markers:
        rtt_ax.scatter([m.t for m in markers], [m.round_trip_ms for m in markers], s=14,
                       color="#d62728", zorder=3, label="audio round trip (markers)")  # fmt: skip
    rtt_ax.set_ylabel("round trip (ms)")
    highest = max([1.0, *(max(ys) for _, ys in rtt.values()), *(m.round_trip_ms for m in markers)])
    rtt_ax.set_ylim(0, highest * 1.3)  # room for the legend above the points
    if rtt or markers:
        rtt_ax.legend(loc="upper left", fontsize=8, frameon=False, ncol=3)

    # -- MOS per window
    for window in report.windows:
        if window.mos is not None:
            mos_ax.hlines(window.mos, window.start, window.end, color="#333333", lw=2.5)
            mos_ax.text((window.start + window.end) / 2, window.mos + 0.08, f"{window.mos:.2f}",
                        ha="center", fontsize=8)  # fmt: skip
    for lo, hi, colour in ((1, 3.1, Quality.TERRIBLE), (3.1, 3.6, Quality.BAD),
                           (3.6, 4.0, Quality.OK), (4.0, 4.5, Quality.GOOD)):  # fmt: skip
        mos_ax.axhspan(lo, hi, color=CLASS_COLOURS[colour], alpha=0.12, lw=0)
    if report.sla.min_mos is not None:
        mos_ax.axhline(report.sla.min_mos, color="#333333", ls="--", lw=1)
        mos_ax.text(0, report.sla.min_mos, f" SLA {report.sla.min_mos:g}", va="bottom", fontsize=8)
    mos_ax.set_ylim(1, 4.6)
    mos_ax.set_ylabel("MOS (E-model)")
    mos_ax.set_xlabel("seconds since the probe started")
    mos_ax.set_xlim(0, end)
    for ax in axes:
        ax.grid(axis="x", color="#dddddd", lw=0.6)
        for side in ("top", "right"):
            ax.spines[side].set_visible(False)

    _banner(fig, report, 0.985)
    handles = [Patch(color=CLASS_COLOURS[q], alpha=0.6, label=q.text) for q in list(Quality)[1:]]
    fig.legend(handles=handles, loc="lower right", ncol=4, frameon=False, fontsize=8.5,
               title=f"call quality ({rule})", title_fontsize=8.5)  # fmt: skip
    fig.tight_layout(rect=(0, 0.03, 0.97, 0.915))
    return fig


def draw_quality(path: Path, report: ProbeReport, rule: QualityRule) -> None:
    """Write `quality.png` (blocking: run it in a thread)."""
    quality_figure(report, rule).savefig(path, format="png")
