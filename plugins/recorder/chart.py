"""`speakers.png`: who spoke when, for how long, chat and presentations (matplotlib)."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .storage import failed
from .timeline import Timeline

if TYPE_CHECKING:
    from matplotlib.artist import Artist
    from matplotlib.figure import Figure

log = logging.getLogger(__name__)


def clock_text(seconds: float) -> str:
    """`m:ss`, or `h:mm:ss` from an hour on."""
    secs = round(max(seconds, 0.0))
    hours, rest = divmod(secs, 3600)
    return f"{hours}:{rest // 60:02d}:{rest % 60:02d}" if hours else f"{rest // 60}:{rest % 60:02d}"


def _tick_step(span: float) -> float:
    """A round tick step (s) giving about 6 to 12 ticks over `span`."""
    for step in (1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200):
        if span / step <= 12:
            return step
    return 3600 * (span // (3600 * 10) + 1)


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}{'' if n == 1 else 's'}"


def _side_columns(ax: Any, y: float, talk: str, share: str, **style: Any) -> None:
    """The two right-aligned columns right of the chart: talk time and share of all talk."""
    for points, text in ((62, talk), (102, share)):
        ax.annotate(
            text, xy=(1, y), xycoords=ax.get_yaxis_transform(), xytext=(points, 0),
            textcoords="offset points", ha="right", va="center", fontsize=9.5, **style,
        )  # fmt: skip


def draw_speakers(
    path: Path, timeline: Timeline, end: float, *, alias: str = "", conference: str = ""
) -> bool:
    """Write `speakers.png`; False (and a warning) without matplotlib."""
    try:
        fig = speakers_figure(timeline, end, alias=alias, conference=conference)
    except ImportError:
        log.warning("matplotlib is not installed: no %s", path.name)
        return False
    try:
        fig.savefig(path, format="png")
    except OSError as exc:
        raise failed(f"writing {path}", exc) from exc
    return True


def speakers_figure(
    timeline: Timeline, end: float, *, alias: str = "", conference: str = ""
) -> Figure:
    """One row per participant (in join order) with bars where they spoke, their talk time
    and share of all talk on the right, one marker per chat message on its sender's row,
    presentations shaded; titled with the conference, the alias and the UTC start."""
    # Slow imports, only needed at the end. A bare Figure: no pyplot, no global state, safe
    # from the writer thread of every recorder in the process.
    from matplotlib import colormaps  # noqa: PLC0415
    from matplotlib.figure import Figure  # noqa: PLC0415
    from matplotlib.lines import Line2D  # noqa: PLC0415
    from matplotlib.patches import Patch  # noqa: PLC0415
    from matplotlib.ticker import FuncFormatter, MultipleLocator  # noqa: PLC0415

    t = timeline.t
    people = list(timeline.people.values())
    rows = {p.uuid: i for i, p in enumerate(people)}
    # Chat from someone not on the roster (the bot itself, an API client): a row of its own.
    strangers = any(uuid not in rows for _, uuid in timeline.chats)
    labels = [p.name or p.uuid[:8] for p in people] + (["(others)"] if strangers else [])
    n = max(len(labels), 1)
    span = max(t(end), 1.0)
    total_talk = sum(p.talk_time for p in people)

    fig = Figure(figsize=(11, 1.9 + 0.42 * n), dpi=100)
    ax = fig.subplots()
    for a, b in timeline.presentations:
        if a is not None:
            ax.axvspan(t(a), t(b if b is not None else end), color="#e8e8e8", lw=0, zorder=0)
    for gap in timeline.gaps:
        ax.axvspan(t(gap["start"]), t(gap["end"]), fc="none", hatch="///", ec="#d08080", lw=0)
    palette = colormaps["tab10" if len(people) <= 10 else "tab20"]
    for i, p in enumerate(people):
        color = palette(i % palette.N)
        bars = [(t(a), max(t(b) - t(a), span / 2000)) for a, b in p.talk]
        ax.broken_barh(bars, (i - 0.3, 0.6), color=color, zorder=2)
        share = 100 * p.talk_time / total_talk if total_talk else 0.0
        # Short sessions: tenths of seconds say more than `0:01`.
        talk = f"{p.talk_time:.1f} s" if span < 120 else clock_text(p.talk_time)
        _side_columns(ax, i, talk, f"{share:.0f}%")
    chat_x = [t(at) for at, _ in timeline.chats]
    chat_y = [rows.get(uuid, len(people)) - 0.36 for _, uuid in timeline.chats]
    if chat_x:
        ax.scatter(chat_x, chat_y, marker="v", s=44, color="#222222", ec="white", lw=0.6,
                   zorder=3)  # fmt: skip
    _side_columns(ax, -0.85, "talk time", "share", color="#555555")

    ax.set_yticks(range(len(labels)), labels)
    ax.set_ylim(n - 0.5, -0.5)  # first joiner on top
    ax.tick_params(axis="y", length=0)
    ax.set_xlim(0.0, span)
    ax.xaxis.set_major_locator(MultipleLocator(_tick_step(span)))
    ax.xaxis.set_major_formatter(FuncFormatter(lambda x, _: clock_text(x)))
    ax.set_xlabel("time since the bot joined")
    ax.grid(axis="x", color="#dddddd", lw=0.8, zorder=0)
    ax.set_axisbelow(True)
    for side in ("top", "right", "left"):
        ax.spines[side].set_visible(False)

    start = timeline.start_utc.strftime("%d %b %Y, %H:%M UTC").lstrip("0")
    title = conference or alias or "Conference"
    if alias and alias != title:
        title += f" ({alias})"
    ax.set_title(title, loc="left", fontsize=13, weight="bold", pad=22)
    ax.text(
        0, 1.02, f"{start}  ·  {clock_text(span)}  ·  {_count(len(people), 'participant')}"
        f"  ·  {_count(len(timeline.chats), 'chat message')}",
        transform=ax.transAxes, fontsize=9.5, color="#555555", va="bottom",
    )  # fmt: skip
    handles: list[Artist] = [Patch(color="#777777", label="speaking")]
    if chat_x:
        handles.append(Line2D([], [], ls="", marker="v", color="#222222", label="chat message"))
    if timeline.presentations:
        handles.append(Patch(color="#e8e8e8", label="presentation"))
    if timeline.gaps:
        handles.append(Patch(fc="none", ec="#d08080", hatch="///", label="no events"))
    fig.legend(handles=handles, loc="lower right", ncol=len(handles), frameon=False, fontsize=9)
    fig.tight_layout(rect=(0, 0.05, 1, 1))
    return fig
