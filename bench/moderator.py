"""Moderator benchmarks: the rule engine's cost per stage event with 500 participants, and
the speech/noise classifier's CPU per second of audio.

Stage events are built as the plugin receives them (typed `Stage` models listing every
participant, as the local node sends them) and go through what the plugin does with one:
pick the speakers, diff them into the engine, evaluate the voice rules, judge the
decisions. The classifier is timed on what the plugin feeds it: decoded 48 kHz frames to
mono, downsampled, and one 3 s verdict per second of audio; its baseline is decoding that
second of Opus, which a listening bot pays anyway.
"""

from __future__ import annotations

import random
import statistics
import time
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import numpy as np
import numpy.typing as npt

from agent import Stage, StageEntry, frame_to_mono
from plugins.moderator import Engine, Gate, ModeratorConfig, Person, classify
from plugins.moderator.classifier import downsample
from plugins.moderator.ears import Ears

PARTICIPANTS = 500
EVENT_TARGET_MS = 1.0  # per stage event, the target
CLASSIFIER_TARGET = 1.0  # CPU per audio second, at most this many times the Opus decode
REPEATS = 5

RATE = 48000
#: The espeak-ng speech the moderator's tests use (a data file; no code from tests/).
SPEECH = Path(__file__).resolve().parents[1] / "tests" / "support" / "moderator" / "speech.ogg"


def speech(seconds: float) -> npt.NDArray[np.float64]:
    """The first `seconds` of the fixture's speech, mono at 48 kHz in [-1, 1)."""
    parts = []
    with av.open(str(SPEECH)) as container:
        resampler = av.AudioResampler(format="s16", layout="mono", rate=RATE)
        for frame in container.decode(audio=0):
            for chunk in resampler.resample(frame):
                parts.append(chunk.to_ndarray().reshape(-1))
    pcm = np.concatenate(parts)[: int(seconds * RATE)]
    return pcm.astype(np.float64) / 32768.0


def _config() -> ModeratorConfig:
    return ModeratorConfig.model_validate(
        {
            "noise": {"window": 30},
            "presenting": {"enabled": True},
            "double_talk": {"enabled": True},
            "spotlight_speaker": {"enabled": True},
            "idle_mute": {"enabled": True},
        }
    )


def _stages(speakers: int, events: int, rng: random.Random) -> list[Stage]:
    """Stage events over 500 participants: `speakers` talking at a time, one of them
    replaced (or flapping) per event."""
    uuids = [f"p{i:04d}" for i in range(PARTICIPANTS)]
    talking = rng.sample(uuids, speakers)
    out = []
    for _ in range(events):
        talking[rng.randrange(speakers)] = rng.choice(uuids)
        order = talking + [u for u in uuids if u not in talking]
        out.append(
            Stage(
                speakers=tuple(
                    StageEntry(participant_uuid=u, stage_index=i, vad=100 if u in talking else 0)
                    for i, u in enumerate(order)
                )
            )
        )
    return out


def _run_events(stages: list[Stage]) -> tuple[float, float, int]:
    """(mean ms per event, p99 ms, decisions) for one pass through a fresh engine."""
    engine = Engine(_config(), own_uuid="bot")
    gate = Gate(cooldown=60, per_minute=10, own_uuid="bot")
    for i in range(PARTICIPANTS):
        engine.join(Person(uuid=f"p{i:04d}", name=f"P {i}", host=i % 50 == 0), 0.0, initial=True)
    engine.presentation("p0000", 0.0)
    costs = []
    decided = 0
    now = 0.0
    for stage in stages:
        now += 0.25
        t0 = time.perf_counter()
        speaking = [s.participant_uuid for s in stage.speakers if s.vad > 0]
        for decision in engine.stage(speaking, now):
            person = engine.people.get(decision.target or "")
            if gate.judge(decision, now, "on", target_is_host=bool(person and person.host)):
                decided += 1
        costs.append(time.perf_counter() - t0)
    costs.sort()
    return statistics.fmean(costs) * 1e3, costs[int(len(costs) * 0.99)] * 1e3, decided


def _tick_cost() -> float:
    """ms per `tick` with 500 participants (idle scan included)."""
    engine = Engine(_config(), own_uuid="bot")
    for i in range(PARTICIPANTS):
        engine.join(Person(uuid=f"p{i:04d}", name=f"P {i}"), 0.0, initial=True)
    engine.stage([f"p{i:04d}" for i in range(5)], 0.0)
    t0 = time.perf_counter()
    n = 400
    for k in range(n):
        engine.tick(1.0 + k * 0.25)
    return (time.perf_counter() - t0) / n * 1e3


def bench_moderator_engine() -> bool:
    rng = random.Random(14)
    ok = True
    for speakers in (3, 50):
        stages = _stages(speakers, 2000, rng)
        runs = [_run_events(stages) for _ in range(REPEATS)]
        mean, p99, decided = min(runs)
        met = mean < EVENT_TARGET_MS
        ok &= met
        print(
            f"  stage event, {PARTICIPANTS} participants, {speakers} talking: "
            f"{mean:.3f} ms mean, {p99:.3f} ms p99 (target < {EVENT_TARGET_MS} ms mean) "
            f"[{'ok' if met else 'MISSED'}] ({decided} verdicts to audit)"
        )
    tick = min(_tick_cost() for _ in range(REPEATS))
    print(f"  tick (idle scan of {PARTICIPANTS}): {tick:.3f} ms, every 0.25 s by default")
    return ok


def _opus_packets(samples: np.ndarray) -> list[Any]:
    encoder = av.CodecContext.create("libopus", "w")
    encoder.sample_rate = RATE
    encoder.layout = "stereo"
    encoder.format = "s16"
    encoder.time_base = Fraction(1, RATE)
    pcm = (np.clip(samples, -1, 1) * 32767).astype(np.int16)
    packets = []
    for n, start in enumerate(range(0, pcm.size - 960 + 1, 960)):
        chunk = np.repeat(pcm[start : start + 960], 2).reshape(1, -1)
        frame = av.AudioFrame.from_ndarray(chunk, format="s16", layout="stereo")
        frame.sample_rate = RATE
        frame.pts = n * 960
        packets += encoder.encode(frame)
    return packets


def bench_moderator_classifier() -> bool:
    seconds = 10
    packets = _opus_packets(speech(float(seconds)))
    decoded: list[av.AudioFrame] = []

    def decode() -> float:
        decoder = av.CodecContext.create("opus", "r")
        decoder.sample_rate = RATE
        decoder.layout = "stereo"
        t0 = time.perf_counter()
        out = []
        for packet in packets:
            out += decoder.decode(packet)
        elapsed = time.perf_counter() - t0
        decoded[:] = out
        return elapsed

    def listen() -> float:
        """What the plugin does with a second of frames: mono, 16 kHz, ears, verdicts."""
        ears = Ears(3.0)
        t0 = time.perf_counter()
        for frame in decoded:
            heard = ears.hear(downsample(frame_to_mono(frame), RATE), "speaker")
            if heard is not None:
                classify(heard[1])
        return time.perf_counter() - t0

    decode_s = min(decode() for _ in range(REPEATS)) / seconds
    listen_s = min(listen() for _ in range(REPEATS)) / seconds
    verdict = classify(downsample(frame_to_mono_all(decoded), RATE)[: 3 * 16000])
    ratio = listen_s / decode_s
    met = ratio <= CLASSIFIER_TARGET
    print(
        f"  classifier: {listen_s * 1e3:.2f} ms CPU per second of audio "
        f"({listen_s * 100:.2f} % of a core), {ratio:.2f}x the Opus decode of that second "
        f"({decode_s * 1e3:.2f} ms; target <= {CLASSIFIER_TARGET}x) [{'ok' if met else 'MISSED'}]"
    )
    print(f"  (the espeak fixture after Opus scores {verdict.score:.2f} as speech)")
    return met


def frame_to_mono_all(frames: list[av.AudioFrame]) -> np.ndarray:
    return np.concatenate([frame_to_mono(f) for f in frames])
