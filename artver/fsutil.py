"""Small filesystem helpers shared by every layer: atomic writes, temp names, disk-full mapping."""

from __future__ import annotations

import errno
import itertools
import os
import stat as stat_mod
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


# Temp files not touched (content or metadata) for this long belong to no live writer: a
# killed command left them, and the next command that lists them may delete them.
STALE_TEMP_AGE = 3600.0
_HEX = "0123456789abcdef"


def temp_base(name: str) -> str | None:
    """The final name a temp file called `name` was to become (`temp_name`'s
    `.{final}.{token}.tmp`, the token 9-24 lowercase hex), or None when `name` is no such temp
    file. Pure; the one place that knows what artver's temp files look like."""
    if not (name.startswith(".") and name.endswith(".tmp")):
        return None
    base, _, token = name[1:-4].rpartition(".")
    if not base or not 9 <= len(token) <= 24 or token.strip(_HEX):
        return None
    return base


def is_temp_name(name: str) -> bool:
    """Whether the file name `name` is one `temp_name` makes. Pure."""
    return temp_base(name) is not None


def is_stale(st: os.stat_result, now: float, max_age: float) -> bool:
    """Whether a temp file whose `lstat` is `st` was left behind: neither its content nor its
    inode changed for `max_age` seconds. The ctime counts too: a temp made by `link` or
    `rename` (a hardlinked checkout, `add` with cache.type hardlink or symlink) keeps the old
    mtime of its source, and only its ctime says it is being written now. Pure."""
    return now - max(st.st_mtime, st.st_ctime) >= max_age


def remove_if_stale(path: str, now: float, max_age: float) -> int | None:
    """Delete the temp file at `path` if it is stale (`is_stale`): the bytes freed, or None
    when it was kept (fresh, gone already, or not a file or symlink)."""
    try:
        st = os.lstat(path)
    except OSError:
        return None
    kind = stat_mod.S_IFMT(st.st_mode)
    if kind not in (stat_mod.S_IFREG, stat_mod.S_IFLNK) or not is_stale(st, now, max_age):
        return None
    try:
        os.unlink(path)
    except OSError:
        return None
    return st.st_size if kind == stat_mod.S_IFREG else 0


def sweep_temps(
    directory: str, now: float, max_age: float, of: str | None = None
) -> tuple[int, int]:
    """Delete the stale temp files directly in `directory` (only those that were to become
    `of`, if given): (how many, bytes)."""
    try:
        with os.scandir(directory) as entries:
            if of is None:
                names = [e.name for e in entries if is_temp_name(e.name)]
            else:
                names = [e.name for e in entries if temp_base(e.name) == of]
    except OSError:
        return 0, 0
    return sweep_paths([os.path.join(directory, name) for name in names], now, max_age)


def sweep_paths(paths: list[str], now: float, max_age: float) -> tuple[int, int]:
    """Delete those of the temp files at `paths` that are stale: (how many, bytes)."""
    count = freed = 0
    for path in paths:
        gone = remove_if_stale(path, now, max_age)
        if gone is not None:
            count += 1
            freed += gone
    return count, freed


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


def met_temp(path: str) -> None:
    """A temp file of artver's met while listing a directory for other reasons (a workspace
    walk): deleted if stale, else left to its writer. Such a walk never reports it."""
    import time

    from artver.config import stale_temp_age

    remove_if_stale(path, time.time(), stale_temp_age())
