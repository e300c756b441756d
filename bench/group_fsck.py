"""Benchmark group `fsck`: `artver fsck` of the cache holding the 20,000 small files, against
the floor of reading and hashing every object once.

The floor is a fresh Python process that lists the cache's shard directories and forks one
worker per usable core (what artver uses), each reading its slice of the objects into a reused
buffer and hashing it with XXH3-128, as `xxhsum` would: the least any re-hash of the cache can
do. DVC has no command that re-hashes its cache, so the row has no DVC column.
"""

from __future__ import annotations

import os
import sys

import datasets
from groups import Context, group, new_repo, timed
from harness import copy_real, git_commit_all, measure, read_floor, remove_tree, run, settle
from report import FloorSpec, GroupResult, RowSpec, Samples, WithinFloor

# Floor: read and hash every object of the cache at argv[1] once, with argv[2] processes.
HASH_SCRIPT = """
import json, os, sys, time
t0 = time.perf_counter()
import xxhash
root, workers = sys.argv[1], int(sys.argv[2])
paths = [os.path.join(root, s, n) for s in sorted(os.listdir(root)) if len(s) == 2
         for n in os.listdir(os.path.join(root, s))]
def work(share):
    buf = memoryview(bytearray(1 << 20))
    total = 0
    for p in share:
        fd = os.open(p, os.O_RDONLY)
        h = xxhash.xxh3_128()
        while n := os.readv(fd, [buf]):
            h.update(buf[:n])
            total += n
        os.close(fd)
        h.hexdigest()
    return total
pids, total = [], 0
for i in range(1, workers):
    share = paths[i * len(paths) // workers:(i + 1) * len(paths) // workers]
    pid = os.fork()
    if pid == 0:
        work(share)
        os._exit(0)
    pids.append(pid)
total = work(paths[:len(paths) // workers])
for pid in pids:
    os.waitpid(pid, 0)
print(json.dumps({"seconds": time.perf_counter() - t0, "files": len(paths)}))
"""


def hash_floor(cache: str) -> object:
    """Read and hash every object of `cache` once, on one process per usable core."""
    workers = len(os.sched_getaffinity(0))
    return measure(
        [sys.executable, "-c", HASH_SCRIPT, cache, str(workers)],
        os.path.dirname(cache),
        None,
        json_out=True,
    )


@group("fsck", "artver fsck of the 20,000-file cache vs reading and hashing every object once")
def fsck_group(ctx: Context) -> GroupResult:
    src = datasets.small_dataset(ctx.work, ctx.scale, ctx.seed, ctx.log)
    count = datasets.small_count(ctx.scale)
    samples = Samples()
    root = ctx.runs / "fsck"
    for r in range(ctx.rounds):
        ctx.start_round("fsck", r)
        repo = new_repo(ctx, "artver", root / f"r{r}")
        copy_real(src, repo.path / "data")
        run(repo.cmd("add", "data"), repo.path, repo.env)
        git_commit_all(repo.path, "data")
        cache = str(repo.path / ".artver" / "cache")
        read_floor(repo.path / ".artver" / "cache")  # warm-up, untimed
        # The floor and fsck alternate which goes first, so drift in machine load hits both.
        steps = ["floor", "fsck"] if r % 2 == 0 else ["fsck", "floor"]
        for step in steps:
            if step == "floor":
                settle()
                samples.add("floor", "hash", hash_floor(cache))
            else:
                timed(ctx, samples, "fsck", [repo], lambda p: p.cmd("fsck"))
    remove_tree(root)
    return GroupResult(
        name="fsck",
        title=f"fsck of the cache of {count:,} small files (1-16 KiB)",
        samples=samples,
        rows=[
            RowSpec(f"fsck, {count + 1:,} objects, all sound", "fsck", (WithinFloor("hash", 1.5),))
        ],
        floors=[
            FloorSpec(
                "hash", "read + XXH3-128 of every object once, 1 process per core", in_process=True
            )
        ],
        notes=["DVC has no command that re-hashes its cache: no DVC column"],
    )
