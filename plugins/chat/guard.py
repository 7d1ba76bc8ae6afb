"""What keeps the chat plugin from flooding or looping: rate limits and a loop guard.

Rate limits are token buckets, one per sender and one for the whole bot, on the plugin's
clock: a message is handled only when both have a token, so one sender's flood spends its
own bucket and leaves the global one to everybody else.

The loop guard breaks exchanges with another bot (one that answers everything, as the
bot's own responders may). It watches messages for the responders only: the bot's replies
never start with the command prefix, so they cannot set off another chat bot's commands,
and a person may send commands as fast as the rate limit allows. A message arriving
within `window` s of the bot's last reply to the same sender is a quick exchange; after
`exchanges` of them in a row the sender is not answered for `cooldown` s. A message
repeating one of the bot's own recent replies (another bot echoing it) is never answered.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from typing import Literal

__all__ = ["LoopGuard", "RateLimiter", "TokenBucket", "Verdict"]

Verdict = Literal["ok", "loop", "echo"]

#: Seconds the bot remembers its replies for echo detection, and how many.
ECHO_MEMORY = 60.0
ECHO_REPLIES = 32
#: Idle senders' buckets are forgotten after this many (the oldest first).
MAX_SENDERS = 10_000


@dataclass
class TokenBucket:
    rate: float  # tokens per second
    burst: float  # the bucket's size
    tokens: float = -1.0
    at: float = 0.0

    def take(self, now: float) -> bool:
        if self.tokens < 0:  # a new bucket starts full
            self.tokens, self.at = self.burst, now
        self.tokens = min(self.burst, self.tokens + (now - self.at) * self.rate)
        self.at = now
        if self.tokens >= 1:
            self.tokens -= 1
            return True
        return False

    def would_take(self, now: float) -> bool:
        if self.tokens < 0:
            return True
        return min(self.burst, self.tokens + (now - self.at) * self.rate) >= 1


class RateLimiter:
    def __init__(self, sender_rate: float, sender_burst: int, rate: float, burst: int) -> None:
        self._sender = (sender_rate, float(sender_burst))
        self._global = TokenBucket(rate, float(burst))
        self._senders: dict[str, TokenBucket] = {}

    def allow(self, sender: str, now: float) -> bool:
        """Take a token from the sender's bucket and the global one, or from neither."""
        bucket = self._senders.get(sender)
        if bucket is None:
            if len(self._senders) >= MAX_SENDERS:
                self._senders.pop(next(iter(self._senders)))
            bucket = self._senders[sender] = TokenBucket(*self._sender)
        if not (bucket.would_take(now) and self._global.would_take(now)):
            return False
        return bucket.take(now) and self._global.take(now)


@dataclass
class _Peer:
    last_reply: float | None = None
    streak: int = 0
    quiet_until: float = 0.0


class LoopGuard:
    def __init__(self, window: float, exchanges: int, cooldown: float) -> None:
        self.window = window
        self.exchanges = exchanges
        self.cooldown = cooldown
        self._peers: dict[str, _Peer] = {}
        self._replies: deque[tuple[float, str]] = deque(maxlen=ECHO_REPLIES)

    def check(self, sender: str, text: str, now: float) -> Verdict:
        """Whether a message from `sender` may be answered."""
        folded = _fold(text)
        if folded and any(t >= now - ECHO_MEMORY and r == folded for t, r in self._replies):
            return "echo"
        peer = self._peers.get(sender)
        if peer is None:
            if len(self._peers) >= MAX_SENDERS:
                self._peers.pop(next(iter(self._peers)))
            peer = self._peers[sender] = _Peer()
        if now < peer.quiet_until:
            return "loop"
        quick = peer.last_reply is not None and now - peer.last_reply <= self.window
        peer.streak = peer.streak + 1 if quick else 0
        if peer.streak >= self.exchanges:
            peer.streak, peer.quiet_until = 0, now + self.cooldown
            return "loop"
        return "ok"

    def replied(self, sender: str, parts: list[str], now: float) -> None:
        """The bot answered `sender` now with `parts`."""
        peer = self._peers.setdefault(sender, _Peer())
        peer.last_reply = now
        for part in parts:
            self._replies.append((now, _fold(part)))


def _fold(text: str) -> str:
    return " ".join(text.casefold().split())
