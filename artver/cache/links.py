"""Putting cache objects into the workspace: reflink, hardlink, symlink or copy.

The user lists the link types they accept in order of preference; the first one that works on
this pair of filesystems is remembered for the rest of the process. Copies are the safe
fallback everywhere. Every placement goes through a temp name and a rename.
"""

from __future__ import annotations

import errno
import fcntl
import os
import shutil

from artver.fsutil import temp_name, unlink_quietly

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


def reflink(src: str, dst: str) -> None:
    with open(src, "rb") as fin, open(dst, "wb") as fout:
        try:
            fcntl.ioctl(fout.fileno(), FICLONE, fin.fileno())
        except OSError:
            fout.close()
            unlink_quietly(dst)
            raise


def _copy(src: str, dst: str) -> None:
    shutil.copyfile(src, dst)


def _make(how: str, src: str, dst: str) -> None:
    if how == "reflink":
        reflink(src, dst)
    elif how == "hardlink":
        os.link(src, dst)
    elif how == "symlink":
        os.symlink(src, dst)
    else:
        _copy(src, dst)


class Linker:
    def __init__(self, preference: list[str]) -> None:
        self.preference = list(preference)
        self._broken: set[str] = set()

    def candidates(self, only: str | None = None) -> list[str]:
        if only is not None:
            return [only]
        return [t for t in self.preference if t not in self._broken] or ["copy"]

    def mark_broken(self, how: str) -> None:
        self._broken.add(how)

    @property
    def current(self) -> str:
        return self.candidates()[0]

    def try_reflink(self, src: str, dst: str) -> bool:
        """Clone `src` to `dst` if reflink is preferred and works; False to copy instead."""
        if "reflink" not in self.candidates() or self.candidates()[0] != "reflink":
            return False
        try:
            reflink(src, dst)
            return True
        except OSError as exc:
            if exc.errno not in UNSUPPORTED:
                raise
            self._broken.add("reflink")
            return False

    def place(self, src: str, dest: str, executable: bool, only: str | None = None) -> str:
        tmp = temp_name(dest)
        last: OSError | None = None
        for how in self.candidates(only):
            try:
                _make(how, src, tmp)
            except OSError as exc:
                unlink_quietly(tmp)
                if exc.errno not in UNSUPPORTED or how == "copy":
                    raise
                self._broken.add(how)
                last = exc
                continue
            try:
                if how in ("copy", "reflink"):
                    os.chmod(tmp, 0o755 if executable else 0o644)
                os.replace(tmp, dest)
            except BaseException:
                unlink_quietly(tmp)
                raise
            return how
        assert last is not None
        raise last
