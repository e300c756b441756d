"""The watchdog of a `repro`'s stage processes: it kills them when artver dies, however it dies.

Stage commands run in process groups of their own (`stages.run`), out of reach of the
terminal's signals. artver kills those groups itself when it stops on an error, Ctrl-C or
SIGTERM; nothing of artver runs after a SIGKILL, though. So the first stage a `repro` starts
also starts this script, as a separate process in a session of its own, with a pipe from
artver on its stdin and the repository lock's descriptor inherited:

- artver writes `+PGID` when a stage's group starts and `-PGID` when it is done with it;
- when the pipe ends (artver exited: normally, with every stage finished, or killed), the
  watchdog sends SIGKILL to every group still listed, waits (at most `SETTLE_S`) until none of
  their processes is left, and exits;
- the lock is an `flock` on an open file that the watchdog shares, so the repository stays
  locked until the stages of a killed `repro` are gone: a rerun waits for them instead of
  racing them.

It runs with `python -I -S` (no site, nothing of artver imported), so it starts in a few
milliseconds and depends on nothing but the standard library; `group_alive` is also used by
`stages.run`.
"""

from __future__ import annotations

import os
import signal
import time

SETTLE_S = 5.0  # how long to wait for killed processes to be gone


def group_alive(pgid: int) -> bool:
    """Whether a process of the process group `pgid` still runs (zombies do not count: they
    hold no file open; they wait for their parent, or init, to reap them)."""
    try:
        pids = [name for name in os.listdir("/proc") if name.isdigit()]
    except OSError:  # no /proc (not Linux): a zombie counts as alive here
        try:
            os.killpg(pgid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return True
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat", "rb") as fobj:
                data = fobj.read()
        except OSError:
            continue  # it ended meanwhile
        fields = data[data.rfind(b")") + 2 :].split()  # after the name, which may hold spaces
        if len(fields) > 2 and int(fields[2]) == pgid and fields[0] not in (b"Z", b"X"):
            return True
    return False


def kill_groups(pgids: set[int], settle: float = SETTLE_S) -> None:
    """SIGKILL every group of `pgids` and wait, at most `settle` seconds, until they are gone."""
    for pgid in pgids:
        try:
            os.killpg(pgid, signal.SIGKILL)
        except OSError:
            pass  # gone already
    deadline = time.monotonic() + settle
    left = set(pgids)
    while left and time.monotonic() < deadline:
        left = {pgid for pgid in left if group_alive(pgid)}
        if left:
            time.sleep(0.02)


def follow(fd: int) -> set[int]:
    """The groups still listed when the stream `fd` ends (`+PGID` adds one, `-PGID` drops it)."""
    groups: set[int] = set()
    pending = b""
    while True:
        try:
            chunk = os.read(fd, 4096)
        except InterruptedError:
            continue
        if not chunk:
            return groups
        *lines, pending = (pending + chunk).split(b"\n")
        for line in lines:
            if line[:1] == b"+" and line[1:].isdigit():
                groups.add(int(line[1:]))
            elif line[:1] == b"-" and line[1:].isdigit():
                groups.discard(int(line[1:]))


def main() -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # artver's Ctrl-C is artver's to handle
    kill_groups(follow(0))


if __name__ == "__main__":
    main()
