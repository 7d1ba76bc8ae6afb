"""The node's media plane: aiortc peers that answer the clients' offers (`peer`), the
conference mixer (`mixer`: `audio`, `stage`, `video`, `slides` over `calls`), per-stream
statistics for the management API (`stats`), ICE kept on chosen host addresses (`ice`) and
media impairment on purpose (`impair`: loss, jitter, delay, bandwidth on the real RTP)."""

from .ice import LOOPBACK, check_seam, restrict_host_addresses
from .impair import Impairments, check_impair_seam
from .mixer import ConferenceMixer, NodeMedia
from .peer import DiscardMedia, MediaHandler, NodePeer, PeerError
from .stats import media_stats

__all__ = [
    "LOOPBACK",
    "ConferenceMixer",
    "DiscardMedia",
    "Impairments",
    "MediaHandler",
    "NodeMedia",
    "NodePeer",
    "PeerError",
    "check_impair_seam",
    "check_seam",
    "media_stats",
    "restrict_host_addresses",
]
