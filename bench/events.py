"""Event-stream benchmarks: SSE parser + typed events, and roster syncs.

Each benchmark prints its figures with the target next to them and returns whether every
target was met. Timings are the best of several runs (the machine may be shared).
"""

from __future__ import annotations

import json
import random
import time
from collections.abc import Callable

from agent.infinity._sse import SseParser
from agent.infinity.models.events import InfinityEvent, parse_event
from agent.infinity.roster import Roster

EVENTS_TARGET = 50_000  # events/s through parser + models
SYNC_TARGET_MS = 100.0  # applying a 5,000-participant sync
CHUNK = 8192  # bytes per read, about what aiohttp's iter_any() hands over under load
REPEATS = 5


def _participant(i: int, *, muted: bool = False) -> dict[str, object]:
    """A participant object as a node sends it (about 1 KB of JSON)."""
    uuid = f"0f3c7d2e-1b2a-4c5d-8e9f-{i:012d}"
    return {
        "api_url": f"/api/client/v2/conferences/meet/participants/{uuid}",
        "buzz_time": 0,
        "call_direction": "in",
        "call_tag": "",
        "can_receive_personal_mix": True,
        "disconnect_supported": "YES",
        "display_name": f"Participant Example {i:05d}",
        "encryption": "On",
        "external_node_uuid": "",
        "fecc_supported": "NO",
        "has_media": True,
        "is_audio_only_call": "NO",
        "is_client_muted": False,
        "is_conjoined": False,
        "is_external": False,
        "is_idp_authenticated": False,
        "is_main_video_dropped_out": False,
        "is_muted": "YES" if muted else "NO",
        "is_presenting": "NO",
        "is_streaming_conference": False,
        "is_transferring": False,
        "is_video_call": "YES",
        "is_video_muted": False,
        "is_video_silent": False,
        "last_spoken_time": 1_700_000_123.25 + i,
        "local_alias": "meet@example.com",
        "mute_supported": "YES",
        "needs_presentation_in_mix": False,
        "overlay_text": f"Participant {i}",
        "presentation_supported": "YES",
        "protocol": "webrtc",
        "receive_from_video_mix": {"mix_name": "main", "timestamp": 1_700_000_000.5},
        "role": "chair" if i % 10 == 0 else "guest",
        "rx_presentation_policy": "ALLOW",
        "service_type": "conference",
        "spotlight": 0,
        "start_time": 1_700_000_000 + i,
        "supports_direct_chat": True,
        "transfer_supported": "YES",
        "uri": f"sip:participant.{i:05d}@example.com",
        "uuid": uuid,
        "vendor": "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/124.0 Safari/537.36",
    }


def _sse(name: str, data: str) -> bytes:
    return f"event: {name}\ndata: {data}\n\n".encode()


def _realistic_mix(n: int, rng: random.Random) -> list[tuple[str, str]]:
    """(event name, JSON data): participant_update-heavy, like a busy meeting."""
    people = 200
    out: list[tuple[str, str]] = []
    for k in range(n):
        r = rng.random()
        i = rng.randrange(people)
        if r < 0.70:
            out.append(("participant_update", json.dumps(_participant(i, muted=k % 2 == 0))))
        elif r < 0.80:
            stage = [
                {"participant_uuid": f"0f3c7d2e-1b2a-4c5d-8e9f-{j:012d}", "stage_index": s,
                 "vad": 100 if s == 0 else 0}
                for s, j in enumerate(rng.sample(range(people), 6))
            ]  # fmt: skip
            out.append(("stage", json.dumps(stage)))
        elif r < 0.85:
            out.append(("participant_create", json.dumps(_participant(people + k))))
        elif r < 0.88:
            out.append(("participant_delete", json.dumps({"uuid": f"p-{i}"})))
        elif r < 0.93:
            out.append(
                ("conference_update", json.dumps({"locked": False, "guests_muted": k % 3 == 0,
                                                  "started": True, "presentation_allowed": True}))
            )  # fmt: skip
        elif r < 0.98:
            out.append(
                ("message_received", json.dumps({"origin": "Bob", "uuid": f"p-{i}",
                                                 "type": "text/plain", "payload": "hello " * 8}))
            )  # fmt: skip
        else:
            out.append(
                ("layout", json.dumps({"view": "1:7", "participants": [f"p-{i}"] * 7,
                                       "requested_layout": {"primary_screen": {
                                           "chair_layout": "ac", "guest_layout": "1:7"}}}))
            )  # fmt: skip
    return out


def _chunks(body: bytes, size: int = CHUNK) -> list[bytes]:
    return [body[i : i + size] for i in range(0, len(body), size)]


def _best(fn: Callable[[], object], repeats: int = REPEATS) -> float:
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def _mark(ok: bool) -> str:
    return "ok" if ok else "MISSED"


def bench_event_pipeline(n: int = 20_000) -> bool:
    """Events/s through SseParser + parse_event, against json.loads of the same payloads."""
    mix = _realistic_mix(n, random.Random(42))
    body = b"".join(_sse(name, data) for name, data in mix)
    chunks = _chunks(body)
    payloads = [data for _, data in mix]

    def collect() -> list[InfinityEvent]:
        parser = SseParser()
        return [parse_event(msg) for chunk in chunks for msg in parser.feed(chunk)]

    # Timed runs consume each event and let it go, as a bot does: retaining all 20,000 would
    # mostly measure the cyclic GC walking them (about half the rate).
    def pipeline() -> int:
        parser = SseParser()
        count = 0
        for chunk in chunks:
            for msg in parser.feed(chunk):
                parse_event(msg)
                count += 1
        return count

    def parser_only() -> int:
        parser = SseParser()
        count = 0
        for chunk in chunks:
            count += len(parser.feed(chunk))
        return count

    def baseline() -> int:
        count = 0
        for p in payloads:
            json.loads(p)
            count += 1
        return count

    events = collect()
    assert len(events) == n, len(events)
    bad = [e for e in events if e.name != type(e).name]  # RawEvent/MalformedEvent
    assert not bad, bad[:3]

    t_pipe = _best(pipeline)
    t_parser = _best(parser_only)
    t_base = _best(baseline)
    t_kept = _best(collect, 3)
    rate = n / t_pipe
    ok = rate >= EVENTS_TARGET
    avg = sum(map(len, payloads)) / n
    share = sum(1 for name, _ in mix if name == "participant_update") / n
    print(
        f"  mix: {n:,} events, {len(body) / 1e6:.1f} MB in {CHUNK} B chunks, "
        f"avg payload {avg:.0f} B, {share:.0%} participant_update"
    )
    print(
        f"  SSE parser + parse_event  {rate:>11,.0f} events/s  ({len(body) / t_pipe / 1e6:.0f} "
        f"MB/s)   target >= {EVENTS_TARGET:,} events/s: {_mark(ok)}"
    )
    print(f"  same, all events retained {n / t_kept:>11,.0f} events/s  (info: GC-bound)")
    print(f"  SSE parser alone          {n / t_parser:>11,.0f} events/s")
    print(f"  baseline json.loads alone {n / t_base:>11,.0f} events/s")
    print(
        f"  ratio: the pipeline costs {t_pipe / t_base:.2f}x json.loads of the same payloads "
        f"(reaches {t_base / t_pipe:.0%} of the baseline's rate)"
    )
    return ok


def bench_roster_sync(n: int = 5_000, changed_share: float = 0.01) -> bool:
    """Applying a full participant sync to a Roster: initial, and a resync with 1% changed."""
    rng = random.Random(7)
    changed = set(rng.sample(range(n), int(n * changed_share)))

    def sync_body(muted: set[int]) -> bytes:
        body = _sse("participant_sync_begin", "null")
        for i in range(n):
            body += _sse("participant_create", json.dumps(_participant(i, muted=i in muted)))
        return body + _sse("participant_sync_end", "null")

    def parse(body: bytes) -> list[InfinityEvent]:
        parser = SseParser()
        return [parse_event(m) for c in _chunks(body) for m in parser.feed(c)]

    first_body = sync_body(set())
    again_body = sync_body(changed)
    first = parse(first_body)
    again = parse(again_body)
    assert len(first) == len(again) == n + 2

    def initial() -> None:
        roster = Roster()
        for e in first:
            roster.apply(e)
        assert len(roster) == n

    t_initial = _best(initial)

    t_resync = float("inf")
    t_resync_parse = float("inf")
    for _ in range(REPEATS):
        roster = Roster()
        for e in first:
            roster.apply(e)
        changes = []
        t0 = time.perf_counter()
        for e in again:
            changes += roster.apply(e)
        t_resync = min(t_resync, time.perf_counter() - t0)
        assert len(changes) == len(changed), len(changes)

        roster = Roster()
        for e in first:
            roster.apply(e)
        t0 = time.perf_counter()
        for e in parse(again_body):
            roster.apply(e)
        t_resync_parse = min(t_resync_parse, time.perf_counter() - t0)

    ms_initial = t_initial * 1e3
    ms_resync = t_resync * 1e3
    ok = ms_initial <= SYNC_TARGET_MS and ms_resync <= SYNC_TARGET_MS
    print(f"  {n:,} participants, {len(first_body) / 1e6:.1f} MB of sync events")
    print(
        f"  initial sync apply            {ms_initial:7.1f} ms   "
        f"target <= {SYNC_TARGET_MS:.0f} ms: {_mark(ms_initial <= SYNC_TARGET_MS)}"
    )
    print(
        f"  resync apply, {len(changed)} changed ({changed_share:.0%}) {ms_resync:7.1f} ms   "
        f"target <= {SYNC_TARGET_MS:.0f} ms: {_mark(ms_resync <= SYNC_TARGET_MS)}"
    )
    print(f"  resync parse + apply (info)   {t_resync_parse * 1e3:7.1f} ms")
    return ok
