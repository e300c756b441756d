"""XXH3-128 hashing of bytes and files, streamed in chunks so memory stays constant."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from typing import BinaryIO

import xxhash

ALGORITHM = "xxh3-128"
CHUNK = 8 * 1024 * 1024
# Files up to this size are read in one call: one syscall instead of a loop.
SMALL_FILE = 1024 * 1024
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


def iter_chunks(fobj: BinaryIO) -> Iterator[memoryview]:
    """The file's content as views of one reused buffer: constant memory and no allocation
    per chunk, which keeps hashing a large file at the speed of reading it."""
    buf = bytearray(CHUNK)
    view = memoryview(buf)
    while n := fobj.readinto(buf):  # type: ignore[attr-defined]
        yield view[:n]


def hash_file(path: str | os.PathLike[str], size_hint: int | None = None) -> str:
    """Hash a file's content without holding more than one chunk of it."""
    if size_hint is not None and size_hint <= SMALL_FILE:
        return hash_bytes(read_small(path, size_hint))
    hasher = new_hasher()
    with open(path, "rb", buffering=0) as fobj:
        for chunk in iter_chunks(fobj):
            hasher.update(chunk)
    return hasher.hexdigest()


def is_valid_oid(oid: str) -> bool:
    return bool(OID_RE.match(oid))
