"""The rule engine: pure, driven by the caller's clock and the conference's events.

No I/O and no clock of its own: every method takes `now` (monotonic seconds), so unit
tests replay recorded stage-event sequences and roster changes and read the decisions.
The engine decides; it does not act, and it does not know about cooldowns, rate limits,
dry runs or backends (see `safety.py` and `actions.py`): while a rule's condition holds it
decides again at every evaluation, and the gate turns repeats into one audit line.

Cost: a stage event costs O(participants in it) to diff against the speaking set, then
O(participants speaking or in a burst) to evaluate; idle and clock rules run on `tick`
only. Nobody outside a burst is looked at per event (see `bench/moderator.py`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from typing import Literal

from .config import ModeratorConfig
from .history import VoiceHistory

__all__ = ["Action", "Decision", "Engine", "Person", "matches"]

Action = Literal[
    "mute",
    "disconnect",
    "admit",
    "lock",
    "spotlight",
    "unspotlight",
    "set_guests_can_unmute",
    "announce",
    "spare",
]
Evidence = Mapping[str, float | int | str | bool | None]


@dataclass
class Person:
    """What the engine knows of a participant (from the roster)."""

    uuid: str
    name: str = ""
    host: bool = False
    call_tag: str = ""
    muted: bool = False
    waiting: bool = False
    #: In a lecture (Virtual Auditorium) service.
    lecture: bool = False
    spotlight: bool = False
    #: Set by the engine from the exemption lists.
    exempt: bool = False
    joined_at: float = 0.0


@dataclass(frozen=True)
class Decision:
    rule: str
    action: Action
    #: The participant acted on; None for the conference.
    target: str | None = None
    name: str = ""
    evidence: Evidence = field(default_factory=dict)
    #: Private message to the target once acted (already filled in), or a chat
    #: announcement for `announce`.
    message: str | None = None
    #: Chosen from voice activity (rate-limited), not from a list or a clock.
    voice: bool = False


def matches(value: str, patterns: Iterable[str]) -> bool:
    """Shell-style, case-insensitive match of `value` against any of `patterns`."""
    folded = value.casefold()
    return any(fnmatchcase(folded, p.casefold()) for p in patterns)


class Engine:
    """Voice activity per participant and the moderator's rules over it."""

    def __init__(self, config: ModeratorConfig, own_uuid: str | None = None) -> None:
        self.config = config
        self.own_uuid = own_uuid
        self.people: dict[str, Person] = {}
        self.voices: dict[str, VoiceHistory] = {}
        #: Raw VAD: who the last stage event says is speaking.
        self.speaking: set[str] = set()
        #: Speaking or within a burst's merge gap: the only ones evaluated per event.
        self._active: set[str] = set()
        self.presenter: str | None = None
        self.presenting = False
        self.locked: bool | None = None
        #: Latest speech score per participant from the bot's ears: (score, at).
        self.speech: dict[str, tuple[float, float]] = {}
        self._overlap_since: dict[str, float] = {}
        self._floor: tuple[str, float] | None = None  # sole speaker and since when
        self._lock_armed = True
        self._lock_time: float | None = None
        self._end_time: float | None = None
        self._warned = False
        self._horizon = max(config.noise.window, 1.0)

    # -- the roster -----------------------------------------------------------------------

    def _classify(self, person: Person) -> Person:
        cfg = self.config
        person.exempt = matches(person.name, cfg.exempt_names) or (
            bool(person.call_tag) and matches(person.call_tag, cfg.exempt_call_tags)
        )
        return person

    def _protected(self, person: Person) -> bool:
        """Never a target of a muting or disconnecting rule."""
        return person.host or person.exempt or person.uuid == self.own_uuid

    def join(self, person: Person, now: float, *, initial: bool = False) -> list[Decision]:
        """Someone is in the roster (`initial`: there before the bot)."""
        if person.uuid == self.own_uuid:
            return []
        person.joined_at = now
        self.people[person.uuid] = self._classify(person)
        decisions: list[Decision] = []
        if not initial and not person.waiting:
            decisions += self._entered(person)
        decisions += self._waiting(person)
        decisions += self._count(now)
        decisions += self._after_end(person, now)
        return decisions

    def update(self, person: Person, now: float) -> list[Decision]:
        """A participant's fields changed (admitted, muted, role, ...)."""
        if person.uuid == self.own_uuid:
            return []
        before = self.people.get(person.uuid)
        if before is None:
            return self.join(person, now)
        person.joined_at = before.joined_at
        self.people[person.uuid] = self._classify(person)
        decisions: list[Decision] = []
        if before.waiting and not person.waiting:
            person.joined_at = now  # idle time counts from entering the conference
            decisions += self._entered(person)
        decisions += self._waiting(person)
        decisions += self._count(now)
        return decisions

    def leave(self, uuid: str, now: float) -> list[Decision]:
        self.people.pop(uuid, None)
        self.voices.pop(uuid, None)
        self.speaking.discard(uuid)
        self._active.discard(uuid)
        self.speech.pop(uuid, None)
        self._overlap_since.pop(uuid, None)
        if self.presenter == uuid:
            self.presenter = None
        return self._count(now)

    def _entered(self, person: Person) -> list[Decision]:
        rule = self.config.mute_on_entry
        if not rule.enabled or self._protected(person) or person.muted:
            return []
        return [
            Decision("mute_on_entry", "mute", person.uuid, person.name, {}, rule.message.format())
        ]

    def _waiting(self, person: Person) -> list[Decision]:
        rule = self.config.admit
        if not rule.enabled or not person.waiting:
            return []
        by_name = matches(person.name, rule.names)
        by_tag = bool(person.call_tag) and matches(person.call_tag, rule.call_tags)
        if not (by_name or by_tag):
            return []
        evidence = {"matched": "name" if by_name else "call_tag"}
        return [Decision("admit", "admit", person.uuid, person.name, evidence)]

    def in_conference(self) -> int:
        """Participants in the conference (not waiting), the bot not counted."""
        return sum(1 for p in self.people.values() if not p.waiting)

    def _count(self, now: float) -> list[Decision]:
        rule = self.config.lock_at
        if not rule.enabled or rule.participants is None:
            return []
        count = self.in_conference()
        if count < rule.participants:
            self._lock_armed = True  # re-armed: the next crossing locks again
            return []
        if not self._lock_armed or self.locked:
            return []
        self._lock_armed = False
        return [Decision("lock_at", "lock", evidence={"participants": count})]

    # -- conference state -----------------------------------------------------------------

    def conference(self, *, locked: bool | None = None) -> None:
        if locked is not None:
            self.locked = locked

    def presentation(self, presenter: str | None, now: float) -> None:
        """Someone started presenting (`presenter` may be unknown: ""), or None: stopped."""
        self.presenting = presenter is not None
        self.presenter = presenter or None

    def schedule(self, *, lock_at: float | None = None, end_at: float | None = None) -> None:
        """Clock rules' moments on the monotonic time line (the caller converts wall time)."""
        if lock_at is not None:
            self._lock_time = lock_at
        if end_at is not None:
            self._end_time = end_at
            self._warned = False

    def begin(self, now: float) -> list[Decision]:
        """The bot is in the conference: one-off settings."""
        rule = self.config.mute_on_entry
        if rule.enabled and not rule.guests_can_unmute:
            return [
                Decision(
                    "mute_on_entry",
                    "set_guests_can_unmute",
                    evidence={"guests_can_unmute": False},
                )
            ]
        return []

    # -- voice activity -------------------------------------------------------------------

    def _voice(self, uuid: str) -> VoiceHistory:
        voice = self.voices.get(uuid)
        if voice is None:
            voice = self.voices[uuid] = VoiceHistory(self._horizon, self.config.merge_gap)
        return voice

    def stage(self, speaking: Iterable[str], now: float) -> list[Decision]:
        """A stage event: `speaking` is everyone whose VAD is on (the rest are silent)."""
        current = set(speaking)
        if self.own_uuid is not None:
            current.discard(self.own_uuid)
        for uuid in current - self.speaking:
            self._voice(uuid).start(now)
            self._active.add(uuid)
        for uuid in self.speaking - current:
            self._voice(uuid).stop(now)
        self.speaking = current
        return self._evaluate(now)

    def sole_speaker(self) -> str | None:
        """The one participant with voice activity, if exactly one has it."""
        if len(self.speaking) != 1:
            return None
        return next(iter(self.speaking))

    def note_speech(self, uuid: str, score: float, now: float) -> None:
        """The bot's ears heard `uuid` alone: speech score 0 (noise) .. 1 (speech)."""
        self.speech[uuid] = (score, now)

    def tick(self, now: float) -> list[Decision]:
        """Time passed: bursts grow, windows slide, clocks strike."""
        decisions = self._evaluate(now)
        decisions += self._idle(now)
        decisions += self._clock(now)
        return decisions

    # -- evaluation -----------------------------------------------------------------------

    def _evaluate(self, now: float) -> list[Decision]:
        cfg = self.config
        bursting: list[str] = []
        for uuid in list(self._active):
            if self.voices[uuid].in_burst(now):
                bursting.append(uuid)
            else:
                self._active.discard(uuid)
                self._overlap_since.pop(uuid, None)
        decisions: list[Decision] = []
        hosts_talking = cfg.double_talk.enabled and any(
            (p := self.people.get(u)) is not None and p.host for u in bursting
        )
        for uuid in bursting:
            person = self.people.get(uuid)
            if person is None or person.muted or person.waiting or self._protected(person):
                continue
            # Every rule runs (double_talk keeps its overlap clock); the first one wins.
            found = (
                self._noise(person, now),
                self._double_talk(person, now, hosts_talking),
                self._presenting(person, now),
            )
            decision = next((d for d in found if d is not None), None)
            if decision is not None:
                decisions.append(decision)
        decisions += self._spotlight(bursting, now)
        return decisions

    def _noise(self, person: Person, now: float) -> Decision | None:
        cfg = self.config
        rule = cfg.noise
        voice = self.voices[person.uuid]
        if not rule.enabled or not voice.speaking:
            return None
        ratio = voice.talk_time(now, rule.window) / rule.window
        if ratio < rule.ratio:
            return None
        evidence: dict[str, float | int | str | bool | None] = {
            "talk_ratio": round(ratio, 3),
            "window": rule.window,
        }
        if cfg.confirm_with_audio:
            heard = self.speech.get(person.uuid)
            if heard is None or heard[1] < now - rule.window:
                return None  # no verdict from the ears yet: wait for one
            score = round(heard[0], 3)
            evidence["speech_score"] = score
            if score >= cfg.speech_threshold:
                return Decision("noise", "spare", person.uuid, person.name, evidence, voice=True)
        message = rule.message.format(**evidence)
        return Decision("noise", "mute", person.uuid, person.name, evidence, message, voice=True)

    def _double_talk(self, person: Person, now: float, hosts_talking: bool) -> Decision | None:
        rule = self.config.double_talk
        if not rule.enabled:
            return None
        if not hosts_talking:
            self._overlap_since.pop(person.uuid, None)
            return None
        since = self._overlap_since.setdefault(person.uuid, now)
        overlap = now - since
        if overlap < rule.seconds:
            return None
        evidence = {"overlap": round(overlap, 2), "seconds": rule.seconds}
        message = rule.message.format(**evidence)
        return Decision(
            "double_talk", "mute", person.uuid, person.name, evidence, message, voice=True
        )

    def _presenting(self, person: Person, now: float) -> Decision | None:
        rule = self.config.presenting
        if not rule.enabled or person.uuid == self.presenter:
            return None
        if not (self.presenting or person.lecture):
            return None
        burst = self.voices[person.uuid].burst(now)
        if burst < rule.grace:
            return None
        evidence: dict[str, float | int | str | bool | None] = {
            "burst": round(burst, 2),
            "grace": rule.grace,
            "why": "presentation" if self.presenting else "lecture",
        }
        message = rule.message.format(**evidence)
        return Decision(
            "presenting", "mute", person.uuid, person.name, evidence, message, voice=True
        )

    def _spotlight(self, bursting: list[str], now: float) -> list[Decision]:
        rule = self.config.spotlight_speaker
        if not rule.enabled:
            return []
        if len(bursting) != 1:
            self._floor = None
            return []
        uuid = bursting[0]
        if self._floor is None or self._floor[0] != uuid:
            # The floor is held from when it became the only one talking, not before.
            self._floor = (uuid, now)
        held = now - self._floor[1]
        person = self.people.get(uuid)
        if held < rule.seconds or person is None or person.spotlight:
            return []
        decisions = [
            Decision("spotlight_speaker", "unspotlight", p.uuid, p.name, {"replaced_by": uuid})
            for p in self.people.values()
            if p.spotlight and p.uuid != uuid
        ]
        evidence = {"held": round(held, 2), "seconds": rule.seconds}
        decisions.append(
            Decision("spotlight_speaker", "spotlight", uuid, person.name, evidence, voice=True)
        )
        return decisions

    def _idle(self, now: float) -> list[Decision]:
        rule = self.config.idle_mute
        if not rule.enabled:
            return []
        limit = rule.minutes * 60
        decisions = []
        for person in self.people.values():
            if person.muted or person.waiting or self._protected(person):
                continue
            voice = self.voices.get(person.uuid)
            silent = (
                now - person.joined_at if voice is None else voice.silent_for(now, person.joined_at)
            )
            if silent >= limit:
                evidence = {"silent_minutes": round(silent / 60, 2)}
                decisions.append(
                    Decision(
                        "idle_mute",
                        "mute",
                        person.uuid,
                        person.name,
                        evidence,
                        rule.message.format(**evidence),
                        voice=True,
                    )
                )
        return decisions

    def _clock(self, now: float) -> list[Decision]:
        decisions: list[Decision] = []
        if self._lock_time is not None and now >= self._lock_time:
            self._lock_time = None
            if not self.locked:
                decisions.append(Decision("lock_at", "lock", evidence={"at": "time"}))
        end = self._end_time
        if end is None:
            return decisions
        rule = self.config.end_at
        if not self._warned and rule.warning > 0 and now >= end - rule.warning:
            self._warned = True
            minutes = max(end - now, 0.0) / 60
            decisions.append(
                Decision(
                    "end_at",
                    "announce",
                    evidence={"minutes": round(minutes, 2)},
                    message=rule.message.format(minutes=minutes),
                )
            )
        if now >= end:
            for person in list(self.people.values()):
                decisions += self._after_end(person, now)
        return decisions

    def _after_end(self, person: Person, now: float) -> list[Decision]:
        if self._end_time is None or now < self._end_time or self._protected(person):
            return []
        evidence = {"late": round(now - self._end_time, 2)}
        return [Decision("end_at", "disconnect", person.uuid, person.name, evidence)]
