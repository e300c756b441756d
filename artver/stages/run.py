"""Running stage commands as child processes, several at once, line by line.

Each command runs through the shell in a session (and so a process group) of its own, so
that Ctrl-C reaches artver first, which then stops the children it started (and only those)
and leaves the lock as the finished stages wrote it. A stage's processes never outlive the
`repro` that started them while they run, and the repository lock is held until they are gone:

- artver stopping on an error, Ctrl-C or SIGTERM: `stop_all` sends the running stages' groups
  SIGTERM, SIGKILL after a grace period (and to whatever a shell that exited left in its
  group), and waits until none of their processes is left;
- artver killed (SIGKILL, or anything else that gives it no chance to clean up): the watchdog
  (`stages.watchdog`, started with the first stage) sees its pipe end and kills the groups;
  it holds the repository lock until they are gone. On Linux each shell also gets
  `PR_SET_PDEATHSIG`, so it is killed with artver even if the watchdog is killed too (its own
  children then live on; so do processes that leave their group, as daemons do).

PR_SET_PDEATHSIG fires when the *thread* that started the child ends, not the process: each
stage runs from a thread of its own that lives until its last command has been reaped.
"""

from __future__ import annotations

import collections
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from artver.stages.watchdog import group_alive

TAIL_LINES = 15
PR_SET_PDEATHSIG = 1  # linux/prctl.h
SETTLE_S = 5.0  # how long killed stage processes may take to be gone


@dataclass
class Finished:
    name: str
    returncode: int
    tail: list[str] = field(default_factory=list)


class Runner:
    """Starts commands and reports each output line and each completion.

    `lock_fd`, the repository lock's descriptor, is handed to the watchdog, so that the lock
    outlives a killed artver for as long as its stages do."""

    def __init__(self, on_line: Callable[[str, str], None], lock_fd: int | None = None) -> None:
        self.on_line = on_line
        self._done: queue.Queue[Finished] = queue.Queue()
        self._children: dict[str, subprocess.Popen] = {}
        self._lock = threading.Lock()
        self._stopping = False
        self._lock_fd = lock_fd
        self._watchdog: subprocess.Popen | None = None
        self._die_with_us: Callable[[], None] | None = None
        self.running = 0

    def start(self, name: str, cmds: tuple[str, ...], cwd: Path, env: dict[str, str]) -> None:
        if self._watchdog is None:
            self._watchdog = _start_watchdog(self._lock_fd)
            self._die_with_us = _pdeathsig()
        self.running += 1
        thread = threading.Thread(
            target=self._run, args=(name, cmds, cwd, env), name=f"stage-{name}", daemon=True
        )
        thread.start()

    def _run(self, name: str, cmds: tuple[str, ...], cwd: Path, env: dict[str, str]) -> None:
        """One stage's commands, from this thread, which ends only once they are reaped."""
        tail: collections.deque[str] = collections.deque(maxlen=TAIL_LINES)
        code = 0
        try:
            for cmd in cmds:
                if self._stopping:
                    code = -signal.SIGTERM
                    break
                code = self._run_one(name, cmd, cwd, env, tail)
                if code != 0:
                    break
        except Exception as exc:  # a reader that failed: the stage failed, and it is stopped
            tail.append(f"artver stopped reading the command's output: {exc}")
            code = 1
        finally:
            self._done.put(Finished(name, code, list(tail)))

    def _run_one(
        self, name: str, cmd: str, cwd: Path, env: dict[str, str], tail: collections.deque
    ) -> int:
        try:
            proc = subprocess.Popen(
                cmd,
                shell=True,
                cwd=cwd,
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
                preexec_fn=self._die_with_us,
            )
        except (OSError, subprocess.SubprocessError) as exc:
            tail.append(f"cannot start {cmd!r}: {getattr(exc, 'strerror', None) or exc}")
            return 127
        with self._lock:
            self._children[name] = proc
        self._tell_watchdog(f"+{proc.pid}")
        try:
            assert proc.stdout is not None
            for raw in proc.stdout:
                line = raw.decode("utf-8", "replace").rstrip("\r\n")
                tail.append(line)
                self.on_line(name, line)
        except BaseException:  # a failed reader: the command stops too
            _signal_group(proc.pid, signal.SIGKILL)
            raise
        finally:
            code = proc.wait()
            proc.stdout.close()
            with self._lock:
                self._children.pop(name, None)
                stopping = self._stopping
            if stopping:  # what the shell left in its group goes with it
                _signal_group(proc.pid, signal.SIGKILL)
            self._tell_watchdog(f"-{proc.pid}")
        return code

    def _tell_watchdog(self, line: str) -> None:
        watchdog = self._watchdog
        if watchdog is None or watchdog.stdin is None:
            return
        try:
            with self._lock:  # one line at a time: each write is whole (under PIPE_BUF)
                os.write(watchdog.stdin.fileno(), (line + "\n").encode())
        except (OSError, ValueError):
            pass  # the watchdog is gone: PR_SET_PDEATHSIG and stop_all remain

    def wait(self) -> Finished:
        # Short timeouts keep the main thread responsive to Ctrl-C.
        while True:
            try:
                finished = self._done.get(timeout=0.1)
            except queue.Empty:
                continue
            self.running -= 1
            return finished

    def stop_all(self, grace: float = 5.0) -> None:
        """Terminate every running child (its whole process group), kill stragglers and what
        the shells left behind, and return once none of their processes is left (at most
        `grace` + `SETTLE_S` seconds)."""
        with self._lock:
            self._stopping = True
            children = list(self._children.values())
        for proc in children:
            _signal_group(proc.pid, signal.SIGTERM)
        deadline = time.monotonic() + grace
        for proc in children:
            try:
                proc.wait(timeout=max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                pass
        for proc in children:
            _signal_group(proc.pid, signal.SIGKILL)
        deadline = time.monotonic() + SETTLE_S
        left = {proc.pid for proc in children}
        while left and time.monotonic() < deadline:
            left = {pgid for pgid in left if group_alive(pgid)}
            if left:
                time.sleep(0.02)

    def close(self) -> None:
        """End the watchdog (every stage is finished or stopped by now)."""
        watchdog, self._watchdog = self._watchdog, None
        if watchdog is None:
            return
        if watchdog.stdin is not None:
            watchdog.stdin.close()
        try:
            watchdog.wait(timeout=1.0)
        except subprocess.TimeoutExpired:
            pass  # it ends on its own; it holds nothing once our lock is released


def _signal_group(pgid: int, sig: int) -> None:
    try:
        os.killpg(pgid, sig)
    except OSError:
        pass  # gone already


def _start_watchdog(lock_fd: int | None) -> subprocess.Popen | None:
    """Start `stages.watchdog`; None where it cannot run (then stop_all and PDEATHSIG do)."""
    from artver.stages import watchdog

    try:
        return subprocess.Popen(
            [sys.executable, "-I", "-S", watchdog.__file__],
            stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,  # out of reach of signals sent to artver's group
            pass_fds=(lock_fd,) if lock_fd is not None else (),
        )
    except (OSError, subprocess.SubprocessError):
        return None


def _pdeathsig() -> Callable[[], None] | None:
    """A `preexec_fn` that has the kernel SIGKILL the child when the thread that started it
    ends (Linux); None elsewhere. Everything it calls is looked up now, before any fork: the
    child of a threaded process must not import or take locks."""
    if not sys.platform.startswith("linux"):
        return None
    import ctypes

    try:
        prctl = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None
    prctl.argtypes = [ctypes.c_int, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong]
    prctl.restype = ctypes.c_int
    parent = os.getpid()
    kill, getppid, getpid, sigkill = os.kill, os.getppid, os.getpid, signal.SIGKILL

    def die_with_parent() -> None:
        prctl(PR_SET_PDEATHSIG, sigkill, 0, 0, 0)
        if getppid() != parent:  # artver died before the call: do not outlive it
            kill(getpid(), sigkill)

    return die_with_parent
