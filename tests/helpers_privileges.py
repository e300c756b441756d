"""Running a command without the privileges that let root ignore file modes and disk limits.

Tests run as root in CI, and root reads a `chmod 000` file as if nothing happened. Dropping the
capabilities CAP_DAC_OVERRIDE and CAP_DAC_READ_SEARCH (with `setpriv`) makes the kernel apply
the mode bits again, while the process keeps uid 0 and so can still write the files it owns.

The same module finds out whether a small tmpfs can be mounted in a private mount namespace
(`unshare -m`), which gives a real "No space left on device" without touching the machine.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from functools import cache
from pathlib import Path

DAC_CAPS = "-dac_override,-dac_read_search"
SETPRIV = ["setpriv", f"--inh-caps={DAC_CAPS}", f"--bounding-set={DAC_CAPS}", "--"]


@cache
def _setpriv_works() -> bool:
    if shutil.which("setpriv") is None:
        return False
    proc = subprocess.run([*SETPRIV, "true"], capture_output=True)
    return proc.returncode == 0


def unprivileged_prefix() -> list[str] | None:
    """A command prefix under which file modes are enforced; None when that is impossible."""
    if os.geteuid() != 0:
        return []
    return SETPRIV if _setpriv_works() else None


def cannot_read(path: Path, prefix: list[str]) -> bool:
    """True when a process started with `prefix` really cannot read (or list) `path`."""
    code = (
        "import os, sys\n"
        "p = sys.argv[1]\n"
        "os.listdir(p) if os.path.isdir(p) else open(p, 'rb').read()\n"
    )
    proc = subprocess.run([*prefix, sys.executable, "-c", code, str(path)], capture_output=True)
    return proc.returncode != 0 and b"PermissionError" in proc.stderr


class SmallTmpfs:
    """A tmpfs of `size` mounted on `mountpoint` in a private mount namespace.

    The namespace lives as long as a `sleep` process that holds it; commands run inside it with
    `nsenter`, and the test reads its files through `/proc/<pid>/root`. Nothing is mounted in
    the test's own namespace, so a crash leaves nothing behind.
    """

    def __init__(self, mountpoint: Path, size: str) -> None:
        self.mountpoint = mountpoint
        script = f'mount -t tmpfs -o size={size} tmpfs "$1" && echo ready && exec sleep 300'
        self.proc = subprocess.Popen(
            ["unshare", "-m", "--propagation", "private", "sh", "-c", script, "sh", mountpoint],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if line.strip() != "ready":
            self.proc.wait(timeout=10)
            assert self.proc.stderr is not None
            why = self.proc.stderr.read()
            self.close()
            raise OSError(f"cannot mount a tmpfs in a private namespace: {why}")

    def inside(self, cwd: Path) -> list[str]:
        """Prefix that runs a command inside the namespace, in `cwd`."""
        return ["nsenter", "-t", str(self.proc.pid), "-m", f"--wd={cwd}", "--"]

    @property
    def view(self) -> Path:
        """The mount point as seen from the test process."""
        return Path(f"/proc/{self.proc.pid}/root") / self.mountpoint.relative_to("/")

    def resize(self, size: str) -> None:
        cmd = ["mount", "-o", f"remount,size={size}", str(self.mountpoint)]
        subprocess.run([*self.inside(Path("/")), *cmd], check=True, capture_output=True)

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(timeout=10)
        for stream in (self.proc.stdout, self.proc.stderr):
            if stream is not None:
                stream.close()


def small_tmpfs(mountpoint: Path, size: str) -> SmallTmpfs | None:
    """A SmallTmpfs, or None when this machine cannot make one (not root, no unshare...)."""
    if os.geteuid() != 0 or not (shutil.which("unshare") and shutil.which("nsenter")):
        return None
    mountpoint.mkdir(parents=True, exist_ok=True)
    try:
        return SmallTmpfs(mountpoint, size)
    except OSError:
        return None
