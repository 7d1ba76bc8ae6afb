"""The layouts the node offers (`available_layouts`) and their SVG previews (`layout_svgs`).

A Pexip layout name `M:N` shows M large tiles in a row and up to N small ones below
(`1:7`: one speaker and seven thumbnails); `ac` (adaptive composition) and `teams` are
grids. The previews are drawn from that rule: one `<rect>` per tile on a 16:9 canvas.
"""

from __future__ import annotations

import math

__all__ = ["LAYOUTS", "layout_svg", "tiles"]

LAYOUTS = ["1:0", "1:7", "1:21", "2:21", "1:33", "4:0", "5:7", "ac", "teams"]

_W, _H = 160, 90  # the preview canvas (16:9)
_GRIDS = {"ac": 4, "teams": 9}

Tile = tuple[float, float, float, float]  # x, y, width, height


def _grid(count: int) -> list[Tile]:
    cols = math.ceil(math.sqrt(count))
    rows = math.ceil(count / cols)
    w, h = _W / cols, _H / rows
    return [((i % cols) * w, (i // cols) * h, w, h) for i in range(count)]


def tiles(name: str) -> list[Tile]:
    """The tiles of a layout; raises KeyError for one the node does not offer."""
    if name not in LAYOUTS:
        raise KeyError(name)
    if name in _GRIDS:
        return _grid(_GRIDS[name])
    large, small = (int(n) for n in name.split(":"))
    if small == 0:
        return _grid(large)
    # Small tiles in rows of up to 7 (or 11 for many) below the large ones.
    per_row = 7 if small <= 7 else 11
    small_rows = math.ceil(small / per_row)
    small_h = _H / 4 / small_rows * (2 if small_rows > 1 else 1)
    top_h = _H - small_h * small_rows
    big_w = _W / large
    result: list[Tile] = [(i * big_w, 0.0, big_w, top_h) for i in range(large)]
    small_w = _W / per_row
    for i in range(small):
        row, col = divmod(i, per_row)
        result.append((col * small_w, top_h + row * small_h, small_w, small_h))
    return result


def layout_svg(name: str) -> str:
    rects = "".join(
        f'<rect x="{x:g}" y="{y:g}" width="{w:g}" height="{h:g}" '
        'fill="#3b4a5a" stroke="#ffffff" stroke-width="1"/>'
        for x, y, w, h in tiles(name)
    )
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {_W} {_H}" '
        f'width="{_W}" height="{_H}"><title>{name}</title>{rects}</svg>'
    )
