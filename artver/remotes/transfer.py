"""Transfers: the pure decisions (what is missing, how to find out cheaply), then the copying
with a thread pool, retries and a progress callback.

The decisions are functions over plain values so tests can give them literals.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable

from artver.progress import Progress

TYPE_CHECKING = False  # typing.TYPE_CHECKING: importing typing costs each command ~2 ms
if TYPE_CHECKING:
    from typing import TypeVar

    T = TypeVar("T")

# An object store lists up to this many keys per request.
PAGE = 1000
SHARDS = 256
# Below this many objects, asking about each one is never slower than listing.
FEW = 32
# Attempts per object before a transient error (server down, connection reset) stops the run.
ATTEMPTS = 3
BACKOFF = (0.2, 1.0)


def prefixes(oids: Iterable[str]) -> list[str]:
    """The distinct two-hex-digit shards `oids` live in, sorted."""
    return sorted({oid[:2] for oid in oids})


def choose_strategy(n_oids: int, n_prefixes: int, sample_count: int | None) -> str:
    """How to learn which of `n_oids` objects (spread over `n_prefixes` shards) a remote has:

    - "exists": ask per object (one request each);
    - "list": list each needed shard (one request per PAGE keys in it);
    - "list-all": list the whole remote (one request per PAGE keys in it).

    `sample_count` is how many objects one listed shard held (None: not sampled yet), from which
    the remote's size is estimated (objects spread evenly over the 256 shards: they are hashes).
    DVC asks per object whatever the count: its most reported slowness with many files.
    """
    if n_oids <= FEW:
        return "exists"
    if sample_count is None:
        return "list"  # a sample of one shard is needed to know; listing it is that sample
    pages_per_prefix = max(1, -(-sample_count // PAGE))  # ceil
    costs = {
        "exists": n_oids,
        "list": (n_prefixes - 1) * pages_per_prefix,  # the sampled shard is listed already
        "list-all": max(1, -(-sample_count * SHARDS // PAGE)),
    }
    return min(costs, key=lambda k: (costs[k], k != "list"))


def missing(wanted: Iterable[str], present: set[str]) -> list[str]:
    """Objects in `wanted` that are not in `present`, in a stable order."""
    return sorted(set(wanted) - present)


def upload_order(oids: Iterable[str]) -> list[str]:
    """Files first, directory manifests last: a `.dir` on a remote then proves that all its
    files are there too (an interrupted push never leaves a manifest without its files)."""
    return sorted(oids, key=lambda oid: (oid.endswith(".dir"), oid))


# Plain classes, not dataclasses: generating one costs start-up time on every command.
class Outcome:
    """What a batch of transfers did."""

    def __init__(self) -> None:
        self.done: list = []
        self.missing: list = []  # the source lacked these
        self.corrupt: list = []  # failed verification
        self.error: BaseException | None = None  # the error that stopped the batch
        self.skipped = 0  # not attempted because the batch stopped

    @property
    def ok(self) -> bool:
        return self.error is None and not self.missing and not self.corrupt


def run_batch(
    items: list[T],
    func: Callable[[T], int],
    jobs: int,
    progress: Progress,
    classify: Callable[[BaseException], str],
    is_corrupt: Callable[[BaseException], bool],
    sleep: Callable[[float], None] = time.sleep,
) -> Outcome:
    """Run `func(item)` (which returns the bytes it moved) for every item on up to `jobs`
    threads. Transient errors are retried ATTEMPTS times; after that, or at any other error,
    the batch stops early (the rest are counted in `skipped`). Missing sources and corrupt
    objects are collected and the batch goes on."""
    outcome = Outcome()
    lock = threading.Lock()
    stop = threading.Event()
    pending = iter(items)

    def one(item: T) -> None:
        for attempt in range(ATTEMPTS):
            try:
                nbytes = func(item)
            except Exception as exc:
                if is_corrupt(exc):
                    with lock:
                        outcome.corrupt.append(item)
                    return
                kind = classify(exc)
                if kind == "missing":
                    with lock:
                        outcome.missing.append(item)
                    return
                if kind == "transient" and attempt + 1 < ATTEMPTS and not stop.is_set():
                    sleep(BACKOFF[min(attempt, len(BACKOFF) - 1)])
                    continue
                with lock:
                    if outcome.error is None:
                        outcome.error = exc
                stop.set()
                raise _Stopped() from None
            with lock:
                outcome.done.append(item)
            progress.advance(1, nbytes)
            return

    def worker() -> None:
        while not stop.is_set():
            with lock:
                item = next(pending, _END)
            if item is _END:
                return
            try:
                one(item)  # type: ignore[arg-type]
            except _Stopped:
                return

    threads = [
        threading.Thread(target=worker, daemon=True) for _ in range(max(1, min(jobs, len(items))))
    ]
    for thread in threads:
        thread.start()
    try:
        for thread in threads:
            thread.join()
    except BaseException:  # Ctrl-C: let the workers finish their current object, then go
        stop.set()
        for thread in threads:
            thread.join()
        raise
    outcome.skipped = len(items) - len(outcome.done) - len(outcome.missing) - len(outcome.corrupt)
    return outcome


class _Stopped(Exception):
    pass


_END = object()


def parallel_calls(
    func: Callable[[T], object], items: list[T], jobs: int
) -> list[tuple[T, object]]:
    """`[(item, func(item))]` on up to `jobs` threads; the first exception is raised."""
    if len(items) <= 1 or jobs <= 1:
        return [(item, func(item)) for item in items]
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=min(jobs, len(items))) as pool:
        return list(zip(items, pool.map(func, items), strict=True))
