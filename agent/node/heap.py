"""Keep the garbage collector's full passes off the conference's media.

CPython's oldest-generation collection walks every tracked object in the process and
holds the event loop while it does. A mass join allocates enough long-lived objects (ten
peer connections at once) to trigger one right then, and with the startup heap (aiortc, av,
pydantic, aiohttp: ~85,000 objects in `pexbot node`, many more in a host process) it
stalled every call's media for tens of ms (hundreds on a loaded machine).
`settle_heap` collects once and moves what survives startup into the permanent generation
(`gc.freeze`), so later full passes walk only what calls created. It is process-wide, so
the node does it only when it owns the process (`LocalNode(settle_heap=True)`, which
`pexbot node` uses); a program embedding the node can call it after its own startup.
"""

from __future__ import annotations

import gc


def settle_heap() -> int:
    """Collect, then freeze the surviving objects; returns how many are now frozen."""
    gc.collect()
    gc.freeze()
    return gc.get_freeze_count()
