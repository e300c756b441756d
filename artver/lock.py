"""The repository lock: one mutating artver process per repository at a time.

An advisory `flock` on `.artver/lock`; the holder writes its pid and command into the file so
a waiting process can say who holds it. The kernel drops the lock when the holder dies, so a
crash never leaves the repository locked.
"""

from __future__ import annotations

import fcntl
import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from artver.errors import LockedError


def _holder(path: Path) -> str:
    try:
        text = path.read_text(encoding="utf-8").strip()
    except OSError:
        text = ""
    return text or "another artver process"


@contextmanager
def repo_lock(
    path: Path,
    command: str,
    wait: float,
    on_wait: Callable[[str], None] | None = None,
) -> Iterator[int]:
    """Hold the lock; yields its file descriptor. The flock belongs to the open file, so a
    process that inherits the descriptor holds the lock too, until it exits (see
    `stages.run`): the kernel releases it when the last descriptor of it closes."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        deadline = time.monotonic() + wait
        told = False
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                holder = _holder(path)
                if time.monotonic() >= deadline:
                    raise LockedError(
                        f"the repository is locked by {holder}; gave up after {wait:g}s",
                        hint="Wait for it to finish, or raise core.lock_wait.",
                    ) from None
                if on_wait is not None and not told:
                    on_wait(holder)
                    told = True
                time.sleep(0.05)
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"pid {os.getpid()} ({command})\n".encode(), 0)
        try:
            yield fd
        finally:
            os.ftruncate(fd, 0)
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)
