"""`summary.json` and `speakers.png` (matplotlib, Agg), written when a session closes."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

from .storage import StorageError
from .timeline import Timeline

log = logging.getLogger(__name__)


def summary(timeline: Timeline, end: float, extra: dict[str, Any]) -> dict[str, Any]:
    t = timeline.t
    people = [
        {
            "uuid": p.uuid,
            "name": p.name,
            "role": p.role,
            "joined": None if p.joined is None else t(p.joined),
            "left": None if p.left is None else t(p.left),
            "talk_time": round(p.talk_time, 3),
            "talk": [[t(a), t(b)] for a, b in p.talk],
        }
        for p in timeline.people.values()
    ]
    return {
        **extra,
        "participants": people,
        "talk_time": {p["name"] or p["uuid"]: p["talk_time"] for p in people},
        "chat_messages": len(timeline.chats),
        "presentations": [
            [t(a) if a is not None else None, t(b) if b is not None else None]
            for a, b in timeline.presentations
        ],
        "event_gaps": [
            {"kind": g["kind"], "start": t(g["start"]), "end": t(g["end"])} for g in timeline.gaps
        ],
        "timeline_lines": timeline.lines,
    }


def write_json(path: Path, doc: dict[str, Any]) -> None:
    try:
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(doc, indent=2, default=str) + "\n", encoding="utf-8")
        tmp.replace(path)
    except OSError as exc:
        raise StorageError(f"writing {path} failed: {exc}") from exc


def draw_speakers(path: Path, timeline: Timeline, end: float) -> bool:
    """One row per participant, bars where they spoke; chat (v) and presentation marks."""
    try:
        import matplotlib  # noqa: PLC0415 (slow import, only needed at the end)

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt  # noqa: PLC0415
    except ImportError:
        log.warning("matplotlib is not installed: no %s", path.name)
        return False
    t = timeline.t
    people = list(timeline.people.values())
    span = max(t(end), 1.0)
    fig, ax = plt.subplots(figsize=(10, 1.2 + 0.45 * max(len(people), 1)), dpi=100)
    try:
        rows = {p.uuid: i for i, p in enumerate(people)}
        for i, p in enumerate(people):
            bars = [(t(a), t(b) - t(a)) for a, b in p.talk]
            ax.broken_barh(bars, (i - 0.35, 0.7), color=f"C{i % 10}")
        for a, b in timeline.presentations:
            if a is not None:
                ax.axvspan(t(a), t(b if b is not None else end), color="0.85", zorder=0)
        chat_x = [t(at) for at, _ in timeline.chats]
        chat_y = [rows.get(uuid, -0.6) for _, uuid in timeline.chats]
        if chat_x:
            ax.scatter(chat_x, chat_y, marker="v", color="black", zorder=3, label="chat")
        ax.set_yticks(range(len(people)), [p.name or p.uuid[:8] for p in people])
        ax.set_ylim(-1, max(len(people), 1))
        ax.set_xlim(min(0.0, *(x for x in chat_x)) if chat_x else 0.0, span)
        ax.set_xlabel("recording time (s)")
        ax.set_title("who spoke when (grey: presentation, v: chat)")
        ax.grid(axis="x", alpha=0.3)
        fig.tight_layout()
        fig.savefig(path, format="png")
    except OSError as exc:
        raise StorageError(f"writing {path} failed: {exc}") from exc
    finally:
        plt.close(fig)
    return True
