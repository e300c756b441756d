"""XXH3-128 hashing of bytes and files, streamed in chunks so memory stays constant."""

from __future__ import annotations

import os
import re

import xxhash

ALGORITHM = "xxh3-128"
CHUNK = 4 * 1024 * 1024
# Files up to this size are read in one call: one syscall instead of a loop.
SMALL_FILE = 1024 * 1024
OID_RE = re.compile(r"^[0-9a-f]{32}(\.dir)?$")


def hash_bytes(data: bytes) -> str:
    return xxhash.xxh3_128_hexdigest(data)


def new_hasher() -> xxhash.xxh3_128:
    return xxhash.xxh3_128()


def hash_file(path: str | os.PathLike[str], size_hint: int | None = None) -> str:
    """Hash a file's content without holding more than one chunk of it."""
    with open(path, "rb") as fobj:
        if size_hint is not None and size_hint <= SMALL_FILE:
            data = fobj.read()
            # A file that grew since it was stat'ed is still hashed whole.
            if len(data) < SMALL_FILE:
                return hash_bytes(data)
            hasher = new_hasher()
            hasher.update(data)
        else:
            hasher = new_hasher()
        for chunk in iter(lambda: fobj.read(CHUNK), b""):
            hasher.update(chunk)
    return hasher.hexdigest()


def is_valid_oid(oid: str) -> bool:
    return bool(OID_RE.match(oid))
