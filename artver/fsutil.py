"""Small filesystem helpers shared by every layer: atomic writes, temp names, disk-full mapping."""

from __future__ import annotations

import errno
import itertools
import os
from pathlib import Path

from artver.errors import DiskFullError

DISK_FULL_ERRNOS = {errno.ENOSPC, errno.EDQUOT, errno.EFBIG}


class _TempTokens:
    """Temp-name suffixes unique across processes (a random prefix, new in each forked
    child) and within one (a counter): no `getrandom` call per file written."""

    def __init__(self) -> None:
        self.reseed()

    def reseed(self) -> None:
        self.prefix = os.urandom(4).hex()
        self.counter = itertools.count()

    def next(self) -> str:
        return f"{self.prefix}{next(self.counter):x}"


_tokens = _TempTokens()
if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_tokens.reseed)


def temp_name(final: Path | str) -> str:
    """A hidden temp name beside `final` (same directory: publishing it is one rename)."""
    head, sep, tail = os.fspath(final).rpartition(os.sep)
    return f"{head}{sep}.{tail}.{_tokens.next()}.tmp"


def disk_full(exc: OSError, where: str) -> DiskFullError:
    return DiskFullError(
        f"no space left while writing {where}; nothing was recorded",
        hint="Free some space (or point cache.dir at a larger disk) and run the command again.",
    )


def atomic_write_bytes(path: Path | str, data: bytes, mode: int | None = None) -> None:
    """Write `data` to `path` so readers see the old content or the new one, never a part."""
    tmp = temp_name(path)
    try:
        with open(tmp, "wb") as fobj:
            fobj.write(data)
        if mode is not None:
            os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException as exc:
        unlink_quietly(tmp)
        if isinstance(exc, OSError) and exc.errno in DISK_FULL_ERRNOS:
            raise disk_full(exc, str(path)) from None
        raise


def atomic_write_text(path: Path | str, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


def kernel_copy(src: str, dst: str, mode: int = 0o666, size: int | None = None) -> None:
    """Copy `src` into the new file `dst` (it must not exist) with copy_file_range, as `cp`
    does: the bytes never pass through Python. Where the kernel cannot (another filesystem on
    an old kernel), a plain read/write loop. With `size` (what `src` is known to hold, as a
    cache object is), the copy stops there instead of asking once more to find the end."""
    fin = os.open(src, os.O_RDONLY)
    try:
        fd = os.open(dst, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
        try:
            try:
                copied = 0
                while size is None or copied < size:
                    step = os.copy_file_range(fin, fd, 1 << 30)
                    if not step:
                        break
                    copied += step
                return
            except OSError as exc:
                if exc.errno not in (errno.EXDEV, errno.ENOSYS, errno.EINVAL, errno.EOPNOTSUPP):
                    raise
            os.lseek(fd, 0, os.SEEK_SET)
            os.ftruncate(fd, 0)
            os.lseek(fin, 0, os.SEEK_SET)
            while chunk := os.read(fin, 1 << 20):
                view = memoryview(chunk)
                while view:
                    view = view[os.write(fd, view) :]
        finally:
            os.close(fd)
    finally:
        os.close(fin)


def unlink_quietly(path: str) -> None:
    try:
        os.unlink(path)
    except OSError:
        pass
