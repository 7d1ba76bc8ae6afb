"""The node's per-call jitter buffer measures how long the audio it hands out waited."""

from __future__ import annotations

import numpy as np

from agent.node.media.audio import Fifo

FRAME = 960  # 20 ms at 48 kHz


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def _chunk(value: int, size: int = FRAME) -> np.ndarray:
    return np.full(size, value, dtype=np.int16)


def test_waited_is_the_popped_chunks_age_not_the_level_behind_it() -> None:
    clock = Clock()
    fifo = Fifo(clock)
    fifo.push(_chunk(1), arrival=99.95)
    fifo.push(_chunk(2), arrival=99.97)
    clock.now = 100.013  # the mixer's tick comes 13 ms after the second chunk
    out = fifo.pop()
    assert out is not None and out[0] == 1
    # The level behind it is one chunk (20 ms); the chunk itself waited 63 ms.
    assert abs(fifo.waited - 0.063) < 1e-9
    clock.now = 100.033
    out = fifo.pop()
    assert out is not None and out[0] == 2
    assert abs(fifo.waited - 0.063) < 1e-9


def test_without_an_arrival_the_push_time_counts() -> None:
    clock = Clock()
    fifo = Fifo(clock)
    fifo.push(_chunk(1))
    fifo.push(_chunk(2))
    clock.now += 0.005
    assert fifo.pop() is not None
    assert abs(fifo.waited - 0.005) < 1e-9


def test_a_split_chunk_keeps_its_arrival() -> None:
    clock = Clock()
    fifo = Fifo(clock)
    # 30 ms chunks: the second 20 ms output starts inside the first chunk.
    fifo.push(_chunk(1, 1440), arrival=99.0)
    fifo.push(_chunk(2, 1440), arrival=99.5)
    assert fifo.pop() is not None
    out = fifo.pop()
    assert out is not None and list(out[[0, -1]]) == [1, 2]
    assert abs(fifo.waited - 1.0) < 1e-9  # its first samples came at 99.0


def test_dropped_samples_take_their_stamps_with_them() -> None:
    clock = Clock()
    fifo = Fifo(clock)
    for i in range(Fifo.LIMIT // FRAME + 2):
        fifo.push(_chunk(i), arrival=90.0 + i)
    assert fifo.dropped == 2 * FRAME
    out = fifo.pop()
    assert out is not None and out[0] == 2
    assert abs(fifo.waited - (clock.now - 92.0)) < 1e-9
