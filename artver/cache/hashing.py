"""XXH3-128 hashing of bytes and files, streamed in chunks so memory stays constant."""

from __future__ import annotations

import os
import re

import xxhash

TYPE_CHECKING = False  # typing.TYPE_CHECKING: importing typing costs each command ~2 ms
if TYPE_CHECKING:
    from typing import BinaryIO

ALGORITHM = "xxh3-128"
CHUNK = 8 * 1024 * 1024
# Files up to this size are read in one call: one syscall instead of a loop.
SMALL_FILE = 1024 * 1024
STREAM_CHUNK = 4 * 1024 * 1024  # hash_stream's reads: 3 in memory at once
OID_RE = re.compile(r"^[0-9a-f]{32}(\.dir)?$")


def hash_bytes(data: bytes) -> str:
    return xxhash.xxh3_128_hexdigest(data)


def new_hasher() -> xxhash.xxh3_128:
    return xxhash.xxh3_128()


def read_small(path: str | os.PathLike[str], size_hint: int) -> bytes:
    """The whole content of a small file in as few syscalls as possible (open, read, close):
    with 20,000 files, buffered `open()`'s extra fstat/ioctl/lseek calls add up."""
    fd = os.open(path, os.O_RDONLY)
    try:
        data = os.read(fd, size_hint + 1)
        if len(data) <= size_hint:
            return data
        parts = [data]  # it grew since it was stat'ed: read on to the end
        while chunk := os.read(fd, CHUNK):
            parts.append(chunk)
        return b"".join(parts)
    finally:
        os.close(fd)


def hash_stream(fobj: BinaryIO) -> tuple[str, int]:
    """(oid, size) of what `fobj` holds from its position on, in constant memory (three
    buffers of STREAM_CHUNK).

    From the second chunk on, one thread reads while another hashes: the read and xxhash both
    release the GIL, so a large file hashes at the speed of reading it rather than at the sum
    of the two (2 GiB from the page cache: ~0.13 s instead of ~0.2 s)."""
    hasher = new_hasher()
    buffers = [bytearray(STREAM_CHUNK) for _ in range(3)]
    first = fobj.readinto(buffers[0])  # type: ignore[attr-defined]
    n = fobj.readinto(buffers[1]) if first else 0  # type: ignore[attr-defined]
    if not n:  # all of it in one read: no thread for it
        hasher.update(memoryview(buffers[0])[:first])
        return hasher.hexdigest(), first
    import queue
    import threading

    filled: queue.SimpleQueue[tuple[bytearray, int] | None] = queue.SimpleQueue()
    free: queue.SimpleQueue[bytearray] = queue.SimpleQueue()
    free.put(buffers[2])

    def hash_filled() -> None:
        while (item := filled.get()) is not None:
            hasher.update(memoryview(item[0])[: item[1]])
            free.put(item[0])

    worker = threading.Thread(target=hash_filled, daemon=True)
    worker.start()
    filled.put((buffers[0], first))
    size, buf = first, buffers[1]
    try:
        while n:  # a short read is not the end: only an empty one is
            size += n
            filled.put((buf, n))
            buf = free.get()
            n = fobj.readinto(buf)  # type: ignore[attr-defined]
    finally:
        filled.put(None)
        worker.join()
    return hasher.hexdigest(), size


def hash_file(path: str | os.PathLike[str], size_hint: int | None = None) -> str:
    """Hash a file's content without holding more than a few chunks of it."""
    if size_hint is not None and size_hint <= SMALL_FILE:
        return hash_bytes(read_small(path, size_hint))
    with open(path, "rb", buffering=0) as fobj:
        return hash_stream(fobj)[0]


def is_valid_oid(oid: str) -> bool:
    return bool(OID_RE.match(oid))
