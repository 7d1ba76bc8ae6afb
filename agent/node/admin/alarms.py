"""The node's alarms (`status/v1/alarm/`): raised by what really goes wrong on the node
(today: an event sink that cannot be reached), cleared when it recovers."""

from __future__ import annotations

import time
from dataclasses import dataclass, field


@dataclass
class AlarmRecord:
    id: int
    name: str
    level: str
    details: str
    instance: str
    identifier: int
    time_raised: float = field(default_factory=time.time)
    acknowledged: bool = False


class Alarms:
    """Raised alarms, one per (name, instance); raising again refreshes `time_raised`."""

    def __init__(self) -> None:
        self.raised: list[AlarmRecord] = []
        self._next_id = 1

    def raise_alarm(
        self, name: str, instance: str, details: str, *, level: str = "error", identifier: int = 0
    ) -> AlarmRecord:
        for alarm in self.raised:
            if (alarm.name, alarm.instance) == (name, instance):
                alarm.details = details
                alarm.time_raised = time.time()
                return alarm
        alarm = AlarmRecord(self._next_id, name, level, details, instance, identifier)
        self._next_id += 1
        self.raised.append(alarm)
        return alarm

    def clear(self, name: str, instance: str) -> None:
        self.raised = [a for a in self.raised if (a.name, a.instance) != (name, instance)]
