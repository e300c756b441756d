"""Streamed hashing gives the one-shot hash of the bytes, whatever the sizes of the reads."""

from __future__ import annotations

import io
import random

import pytest
import xxhash

from artver.cache.hashing import STREAM_CHUNK, hash_stream


class ShortReads(io.RawIOBase):
    """A stream that hands out at most `step` bytes per read, as a pipe or a network
    filesystem may: a short read is not the end of the data."""

    def __init__(self, data: bytes, step: int) -> None:
        self.data, self.pos, self.step = data, 0, step

    def readable(self) -> bool:
        return True

    def readinto(self, buf) -> int:
        n = min(len(buf), self.step, len(self.data) - self.pos)
        buf[:n] = self.data[self.pos : self.pos + n]
        self.pos += n
        return n


@pytest.mark.parametrize(
    "size", [0, 1, 4096, STREAM_CHUNK - 1, STREAM_CHUNK, STREAM_CHUNK + 1, 5 * STREAM_CHUNK + 7]
)
@pytest.mark.parametrize("step", [STREAM_CHUNK, 999_983])
def test_hash_stream_equals_the_one_shot_hash(size, step):
    data = random.Random(size).randbytes(size)
    assert hash_stream(ShortReads(data, step)) == (xxhash.xxh3_128_hexdigest(data), size)
