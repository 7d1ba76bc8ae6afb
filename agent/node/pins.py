"""Wrong-PIN accounting: per display name and per source address and conference.

Per display name, `retries` wrong PINs in a row end that attempt ("Participant exceeded
PIN entry retries", as on a real node; the client may start a new one). That alone lets
a client guess for ever by renaming itself, so every source address also gets at most
`per_address` wrong PINs per conference in any `window` seconds, whatever names it uses;
beyond that its PIN attempts on that conference are refused, right or wrong, until the
window has passed. A right PIN clears its name's count, never the address's window (a
known guest PIN must not buy more guesses at the host PIN).

Memory stays bounded: an address keeps at most `per_address` failure times and as many
names; idle addresses are dropped.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

# Look for idle addresses to drop once this many are tracked.
PRUNE_ABOVE = 1024


@dataclass
class _Address:
    failures: deque[float] = field(default_factory=deque)  # times of wrong PINs
    names: dict[str, tuple[int, float]] = field(default_factory=dict)  # in a row, last

    def expire(self, horizon: float) -> None:
        while self.failures and self.failures[0] <= horizon:
            self.failures.popleft()
        for name in [n for n, (_, last) in self.names.items() if last <= horizon]:
            del self.names[name]


class PinGuard:
    def __init__(
        self,
        *,
        retries: int,
        per_address: int,
        window: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._retries = retries
        self._per_address = per_address
        self._window = window
        self._clock = clock
        self._addresses: dict[tuple[str, str], _Address] = {}

    def _current(self, conference: str, address: str) -> _Address | None:
        key = (conference, address)
        record = self._addresses.get(key)
        if record is not None:
            record.expire(self._clock() - self._window)
            if not record.failures:
                del self._addresses[key]
                return None
        return record

    def locked_out(self, conference: str, address: str) -> bool:
        """True while `address` has used up its wrong PINs on `conference`."""
        record = self._current(conference, address)
        return record is not None and len(record.failures) >= self._per_address

    def failed(self, conference: str, address: str, name: str) -> bool:
        """Count a wrong PIN; True when it ends the attempt (its name's retries are used up,
        or its address is now locked out)."""
        now = self._clock()
        if len(self._addresses) > PRUNE_ABOVE:
            for conf, addr in list(self._addresses):
                self._current(conf, addr)
        record = self._current(conference, address)
        if record is None:
            record = self._addresses[(conference, address)] = _Address()
        record.failures.append(now)
        while len(record.failures) > self._per_address:
            record.failures.popleft()
        in_a_row = record.names.get(name, (0, now))[0] + 1
        if in_a_row >= self._retries:
            # The attempt ends here; a new attempt under this name starts counting afresh.
            record.names.pop(name, None)
            return True
        record.names.pop(name, None)  # re-inserted last: the dict is oldest first
        record.names[name] = (in_a_row, now)
        while len(record.names) > self._per_address:
            del record.names[next(iter(record.names))]
        return len(record.failures) >= self._per_address

    def succeeded(self, conference: str, address: str, name: str) -> None:
        record = self._current(conference, address)
        if record is not None:
            record.names.pop(name, None)
