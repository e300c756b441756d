"""Deterministic benchmark data, generated once per (scale, seed) under `<work>/data/`.

All bytes come from `random.Random(seed)`, so every run and every machine gets the same data.

- small: 20,000 files of 1-16 KiB in 20 top directories x 10 subdirectories (x 100 files).
- big: one 2 GiB file written in 64 MiB chunks: a seeded 64 MiB block, rotated by a seeded
  offset and prefixed with a seeded 4 KiB header per chunk, so no two chunks are equal.

`--scale` multiplies the file count and the big file's size.
"""

from __future__ import annotations

import os
import random
from collections.abc import Iterator
from pathlib import Path

from harness import remove_tree

SMALL_FILES = 20_000
TOP_DIRS = 20
SUB_DIRS = 10
MIN_SIZE, MAX_SIZE = 1024, 16 * 1024
BIG_SIZE = 2 << 30
CHUNK = 64 << 20
HEADER = 4096
MIB = 1 << 20


def small_count(scale: float) -> int:
    return max(1, round(SMALL_FILES * scale))


def big_size(scale: float) -> int:
    """The big file's size in bytes, a whole number of MiB, at least 1 MiB."""
    return max(MIB, int(BIG_SIZE * scale) // MIB * MIB)


def small_layout(count: int) -> Iterator[str]:
    """Relative paths of the small files, spread round-robin over 200 leaf directories."""
    leaves = TOP_DIRS * SUB_DIRS
    for i in range(count):
        leaf = i % leaves
        yield f"d{leaf // SUB_DIRS:02d}/s{leaf % SUB_DIRS:02d}/f{i:05d}.bin"


def _dataset_dir(work: Path, kind: str, scale: float, seed: int) -> Path:
    return work / "data" / f"{kind}-scale{scale:g}-seed{seed}"


def publish(tmp: Path, final: Path) -> None:
    """Move a finished dataset into place; if a concurrent run got there first, keep theirs."""
    try:
        tmp.rename(final)
    except OSError:
        if not final.exists():
            raise
        remove_tree(tmp)


def small_dataset(work: Path, scale: float, seed: int, log) -> Path:
    """Directory `.../data` holding the small files (generated if missing)."""
    final = _dataset_dir(work, "small", scale, seed)
    if not final.exists():
        count = small_count(scale)
        log(f"generating {count} small files (seed {seed})")
        tmp = final.with_name(f"{final.name}.tmp{os.getpid()}")
        remove_tree(tmp)
        rng = random.Random(seed)
        for rel in small_layout(count):
            path = tmp / "data" / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(rng.randbytes(rng.randint(MIN_SIZE, MAX_SIZE)))
        publish(tmp, final)
    return final / "data"


def big_dataset(work: Path, scale: float, seed: int, log) -> Path:
    """Path of the big file (generated if missing)."""
    final = _dataset_dir(work, "big", scale, seed)
    if not final.exists():
        size = big_size(scale)
        log(f"generating a {size / MIB:.0f} MiB file (seed {seed})")
        tmp = final.with_name(f"{final.name}.tmp{os.getpid()}")
        remove_tree(tmp)
        tmp.mkdir(parents=True)
        rng = random.Random(seed)
        block = memoryview(rng.randbytes(min(CHUNK, size)))
        with open(tmp / "big.bin", "wb") as f:
            left = size
            while left > 0:
                n = min(CHUNK, left)
                header = rng.randbytes(min(HEADER, n))
                off = rng.randrange(len(block))
                body = n - len(header)
                rotated = block[off:].tobytes() + block[:off].tobytes()
                f.write(header)
                f.write(rotated[:body])
                left -= n
        publish(tmp, final)
    return final / "big.bin"


def changed_files(scale: float, seed: int, round_no: int, fraction: float = 0.01) -> dict:
    """New seeded content for `fraction` of the small files: {relative path: bytes}."""
    rng = random.Random(f"{seed}:change:{round_no}")
    paths = list(small_layout(small_count(scale)))
    picked = rng.sample(paths, max(1, round(len(paths) * fraction)))
    return {rel: rng.randbytes(rng.randint(MIN_SIZE, MAX_SIZE)) for rel in sorted(picked)}


def write_files(root: Path, files: dict) -> None:
    """Replace files (new inode: safe even if the old one is hardlinked into a cache)."""
    for rel, data in files.items():
        path = root / rel
        path.unlink(missing_ok=True)
        path.write_bytes(data)


def files_match(root: Path, files: dict) -> list[str]:
    """Relative paths under `root` whose bytes differ from `files`."""
    bad = []
    for rel, data in files.items():
        path = root / rel
        if not path.is_file() or path.read_bytes() != data:
            bad.append(rel)
    return bad
