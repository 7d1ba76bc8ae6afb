"""Size limits on what clients send the node, so no request can make it hold unbounded data.

Fields beyond them are refused with a 4xx naming the field (`api/bodies.py`); a whole
request body beyond `BODY_BYTES` gets 413. What the node keeps per participant or call
over time (DTMF, trickled candidates, statistics) is capped too.
"""

from __future__ import annotations

BODY_BYTES = 256 * 1024  # a request body; an SDP with many candidates is ~20 KB
NAME = 250  # display names, overlay text, call tags
URI = 512  # dial destinations, aliases, conference extensions
MESSAGE = 16 * 1024  # a chat message payload, in characters
DIGITS = 128  # DTMF digits in one request
PIN = 64
TOKEN = 512  # one-time join tokens
SDP = 128 * 1024
CANDIDATE = 2048
SHORT = 64  # layout names, mids, and the like
KEEP_DTMF = 1000  # DTMF sequences remembered per participant (oldest dropped)
