"""Running a function over many items in forked processes, for work the GIL would serialise.

Copying 20,000 small files into the cache is mostly syscalls, yet the Python around each one
(open, hash, name, write, rename) holds the GIL, so two threads on two cores barely beat one.
Forked processes share nothing and need nothing sent to them: each child inherits the items and
the function, works through its slice, and streams its results back through a pipe in batches
(which also drives the parent's progress bar). The parent works through its own slice meanwhile.

Results must be values `marshal` can send (strings, numbers, tuples). A child that fails in any
way (an unreadable file, a full disk) just stops; its unfinished items are left to the caller,
which does them the ordinary way, so errors are raised, worded and cleaned up in one place. The
same goes for the parent's own slice.
"""

from __future__ import annotations

import marshal
import os
import select
import struct
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from artver.errors import Interrupted

T = TypeVar("T")

# Below this many items, forking costs more than it saves.
MIN_ITEMS = 1_000
# Results travel in batches of this many: small enough for a live progress bar.
BATCH = 64
_FRAME = struct.Struct("<I")
# What a child learns besides its results, sent back with each batch: name -> (take, give).
# `take()` runs in the child and returns what it learnt since it was last called (a value
# marshal can send); `give(value)` runs here. The cache's record of the objects it wrote
# (`artver.cache.odb`) travels this way, so that the parent can remember them.
CARRIED: dict[str, tuple[Callable[[], Any], Callable[[Any], None]]] = {}


def carry(name: str, take: Callable[[], Any], give: Callable[[Any], None]) -> None:
    """Have forked children send `take()` back with every batch, handed here to `give`."""
    CARRIED[name] = (take, give)


def can_fork() -> bool:
    """Forking is only safe while this process runs a single thread (a lock held by another
    thread would stay locked forever in the child)."""
    import threading

    return hasattr(os, "fork") and threading.active_count() == 1


def share_out(
    func: Callable[[T], Any],
    items: Sequence[T],
    jobs: int,
    on_done: Callable[[T, Any], None],
    started: Callable[[], None],
) -> Sequence[T]:
    """`forked_map` over one process per usable core (at most `jobs`) when that is worth it
    and safe; returns the items left for the caller (all of them when it is not). `started`
    runs once either way."""
    from artver.config import usable_cores

    workers = min(jobs, usable_cores(), len(items) // (MIN_ITEMS // 2))
    if len(items) < MIN_ITEMS or workers < 2 or not can_fork():
        started()
        return items
    return forked_map(func, items, workers, on_done, started)


def forked_map(
    func: Callable[[T], Any],
    items: Sequence[T],
    workers: int,
    on_done: Callable[[T, Any], None],
    started: Callable[[], None] | None = None,
) -> list[T]:
    """Call `on_done(item, func(item))` for every item it can, with `func` run by `workers`
    processes (this one included); returns the items left undone, for the caller to do its
    own way. `started` runs once the children are forked (start a progress bar there: its
    thread must not exist at fork time).

    Here as in the children, the first item `func` fails on (an `Exception`) stops that share:
    it and the rest of the share are left undone, for the caller to redo and report its way.
    An interrupt (KeyboardInterrupt, or artver's Interrupted) is raised once the children
    have stopped; they got the same Ctrl-C.
    """
    shares = [
        list(items[i * len(items) // workers : (i + 1) * len(items) // workers])
        for i in range(workers)
    ]
    children: list[_Child] = []
    try:
        for share in shares[1:]:
            children.append(_Child.fork(func, share))
    except OSError:
        pass  # no more processes allowed: the caller does what no child took
    if started is not None:
        started()
    undone: list[T] = [item for share in shares[1 + len(children) :] for item in share]
    mine = shares[0]
    try:
        for n, item in enumerate(mine):
            try:
                result = func(item)
            except Interrupted:
                raise  # Ctrl-C (raised by the CLI's handler in this process) is no failed item
            except Exception:
                undone += mine[n:]
                break
            on_done(item, result)
            if n % BATCH == 0:
                for child in children:
                    child.poll(on_done, block=False)
    finally:
        for child in children:
            undone += child.finish(on_done)
    return undone


class _Child:
    def __init__(self, pid: int, fd: int, share: list) -> None:
        self.pid = pid
        self.fd = fd
        self.share = share
        self.done = 0  # items of `share` reported so far
        self.buffer = b""

    @classmethod
    def fork(cls, func: Callable[[Any], Any], share: list) -> _Child:
        def produce(write: Callable[[bytes], None]) -> None:
            for start in range(0, len(share), BATCH):
                results = [func(item) for item in share[start : start + BATCH]]
                learnt = {name: take() for name, (take, _) in CARRIED.items()}
                batch = marshal.dumps((results, learnt))
                write(_FRAME.pack(len(batch)) + batch)

        pid, read_end = fork_child(produce)
        os.set_blocking(read_end, False)
        return cls(pid, read_end, share)

    def poll(self, on_done: Callable[[Any, Any], None], block: bool) -> bool:
        """Report every whole batch the child has sent; False once it has closed its end."""
        if block:
            select.select([self.fd], [], [])
        is_open = True
        while True:
            try:
                chunk = os.read(self.fd, 1 << 16)
            except BlockingIOError:
                break
            if not chunk:
                is_open = False
                break
            self.buffer += chunk
        while len(self.buffer) >= _FRAME.size:
            end = _FRAME.size + _FRAME.unpack_from(self.buffer)[0]
            if len(self.buffer) < end:
                break
            results, learnt = marshal.loads(self.buffer[_FRAME.size : end])
            self.buffer = self.buffer[end:]
            for name, value in learnt.items():
                if name in CARRIED:
                    CARRIED[name][1](value)
            for item, result in zip(self.share[self.done :], results, strict=False):
                on_done(item, result)
            self.done += len(results)
        return is_open

    def finish(self, on_done: Callable[[Any, Any], None]) -> list:
        """Wait for the child; the items of its share it did not report."""
        try:
            while self.poll(on_done, block=True):
                pass
        finally:
            os.close(self.fd)
            os.waitpid(self.pid, 0)
        return self.share[self.done :]


def fork_child(produce: Callable[[Callable[[bytes], None]], None]) -> tuple[int, int]:
    """Fork a child that runs `produce(write)`, where `write` sends bytes to this process
    through a pipe, and then exits: status 0, or 1 if `produce` raised (the child never
    returns into the caller's code). Returns the child's pid and the pipe's read end."""
    read_end, write_end = os.pipe()
    try:
        pid = os.fork()
    except OSError:
        os.close(read_end)
        os.close(write_end)
        raise
    if pid == 0:
        status = 1
        try:
            os.close(read_end)
            produce(lambda data: _write_all(write_end, data))
            status = 0
        finally:
            os._exit(status)
    os.close(write_end)
    return pid, read_end


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]
