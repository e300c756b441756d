"""Putting cache objects into the workspace: reflink, hardlink, symlink or copy.

The user lists the link types they accept in order of preference; the first one that works on
this pair of filesystems is remembered for the rest of the process. Copies are the safe
fallback everywhere. Every placement goes through a temp name and a rename.
"""

from __future__ import annotations

import errno
import fcntl
import os

from artver.errors import ArtverError
from artver.fsutil import kernel_copy, temp_name, unlink_quietly

FICLONE = 0x40049409  # linux/fs.h: _IOW(0x94, 9, int)
# errnos that mean "this link type is not possible here", not "something is broken".
UNSUPPORTED = {
    errno.EXDEV,
    errno.EPERM,
    errno.EOPNOTSUPP,
    errno.ENOTSUP,
    errno.EMLINK,
    errno.EINVAL,
    errno.ENOSYS,
    errno.ENOTTY,
    errno.EACCES,
}


def reflink(src: str, dst: str, mode: int = 0o666) -> None:
    """Clone `src` into the new file `dst`, created with `mode` (less the umask)."""
    fin = os.open(src, os.O_RDONLY)
    try:
        fd = os.open(dst, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
        try:
            fcntl.ioctl(fd, FICLONE, fin)
        except OSError:
            os.close(fd)
            unlink_quietly(dst)
            raise
        os.close(fd)
    finally:
        os.close(fin)


def _make(how: str, src: str, dst: str, executable: bool, size: int | None) -> None:
    # Clones and copies are new files with the mode any new file gets (0666, or 0777 when
    # executable, less the umask), as Git checks files out: not the cache's read-only mode.
    mode = 0o777 if executable else 0o666
    if how == "reflink":
        reflink(src, dst, mode)
    elif how == "hardlink":
        os.link(src, dst)
    elif how == "symlink":
        os.symlink(src, dst)
    else:
        kernel_copy(src, dst, mode, size)  # not shutil.copyfile: 8 more syscalls per file


class NoLinkTypeError(ArtverError):
    def __init__(self, preference: list[str], reasons: dict[str, str]) -> None:
        tried = "; ".join(f"{how}: {why}" for how, why in reasons.items())
        super().__init__(
            f"none of the link types in cache.type ({', '.join(preference)}) works between "
            f"the cache and the workspace ({tried})",
            hint="Add copy as the last choice: `artver config cache.type "
            + ",".join([*preference, "copy"])
            + "`.",
        )


class Linker:
    def __init__(self, preference: list[str]) -> None:
        self.preference = list(preference)
        self._broken: dict[str, str] = {}  # link type -> why it failed here

    def candidates(self, only: str | None = None) -> list[str]:
        """The link types still worth trying, best first; an error when none is left."""
        if only is not None:
            return [only]
        working = [t for t in self.preference if t not in self._broken]
        if not working:
            raise self.exhausted()
        return working

    def exhausted(self) -> NoLinkTypeError:
        return NoLinkTypeError(self.preference, self._broken)

    def mark_broken(self, how: str, exc: OSError) -> None:
        self._broken[how] = exc.strerror or str(exc)

    @property
    def current(self) -> str:
        return self.candidates()[0]

    def try_reflink(self, src: str, dst: str) -> bool:
        """Clone `src` to `dst` if reflink is the preferred type and works; False to copy."""
        if self.current != "reflink":
            return False
        try:
            reflink(src, dst)
            return True
        except OSError as exc:
            if exc.errno not in UNSUPPORTED:
                raise
            self.mark_broken("reflink", exc)
            return False

    def place(
        self,
        src: str,
        dest: str,
        executable: bool,
        only: str | None = None,
        size: int | None = None,
    ) -> str:
        """Put `src` (of `size` bytes, if known) at `dest` with the first link type that
        works; returns the one used."""
        tmp = temp_name(dest)
        for how in self.candidates(only):
            try:
                _make(how, src, tmp, executable, size)
            except OSError as exc:
                unlink_quietly(tmp)
                if exc.errno not in UNSUPPORTED or how == "copy":
                    raise
                self.mark_broken(how, exc)
                continue
            try:
                os.replace(tmp, dest)
            except BaseException:
                unlink_quietly(tmp)
                raise
            return how
        raise self.exhausted()
