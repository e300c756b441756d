"""Running stage commands as child processes, several at once, line by line.

Each child runs in its own session so that Ctrl-C reaches artver first, which then stops the
children it started (and only those) and leaves the lock as the finished stages wrote it.
"""

from __future__ import annotations

import collections
import os
import queue
import signal
import subprocess
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

TAIL_LINES = 15


@dataclass
class Finished:
    name: str
    returncode: int
    tail: list[str] = field(default_factory=list)


class Runner:
    """Starts commands and reports each output line and each completion."""

    def __init__(self, on_line: Callable[[str, str], None]) -> None:
        self.on_line = on_line
        self._done: queue.Queue[Finished] = queue.Queue()
        self._children: dict[str, subprocess.Popen] = {}
        self._lock = threading.Lock()
        self.running = 0

    def start(self, name: str, cmds: tuple[str, ...], cwd: Path, env: dict[str, str]) -> None:
        self.running += 1
        thread = threading.Thread(
            target=self._run, args=(name, cmds, cwd, env), name=f"stage-{name}", daemon=True
        )
        thread.start()

    def _run(self, name: str, cmds: tuple[str, ...], cwd: Path, env: dict[str, str]) -> None:
        tail: collections.deque[str] = collections.deque(maxlen=TAIL_LINES)
        code = 0
        for cmd in cmds:
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
                )
            except OSError as exc:
                tail.append(f"cannot start {cmd!r}: {exc.strerror}")
                code = 127
                break
            with self._lock:
                self._children[name] = proc
            assert proc.stdout is not None
            for raw in proc.stdout:
                line = raw.decode("utf-8", "replace").rstrip("\r\n")
                tail.append(line)
                self.on_line(name, line)
            code = proc.wait()
            with self._lock:
                self._children.pop(name, None)
            if code != 0:
                break
        self._done.put(Finished(name, code, list(tail)))

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
        """Terminate every running child (its whole process group), then kill stragglers."""
        with self._lock:
            children = list(self._children.values())
        for proc in children:
            try:
                os.killpg(proc.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
        for proc in children:
            try:
                proc.wait(timeout=grace)
            except subprocess.TimeoutExpired:
                try:
                    os.killpg(proc.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
