"""A head start on proving large directories unchanged, taken while Python is still importing.

A no-op `status` or `repro` over a 20,000-file directory spends its time on two things of
about the same size that do not depend on each other: starting up (the interpreter, typer and
artver's modules: ~45 ms, on one core) and one `stat` per file (~55 ms on one core, see
`artver.parallel_scan`). So the entry point forks, before importing the CLI, two processes
per large tree that the previous commands checked (their repo-relative paths are kept under
`large-trees` in the state DB's `kv` table), and the command picks their answer up when it
reaches the tree (`result`) instead of scanning it then.

An answer is only a stat fingerprint taken a few milliseconds early: it is compared with the
state DB's, like a fresh scan's, and anything else (a tree not listed, an odd file, a child that
failed) leaves the tree to the ordinary scan. A command that had to wait for the repository
lock drops the answers (`drop`): the command it waited for may have changed the trees since.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from artver.parallel_scan import Started, TreePrint
    from artver.state import StateDB

COMMANDS = frozenset({"status", "repro"})  # those that check every tracked tree first
KEY = "large-trees"  # in the state DB's kv table: a JSON list of repo-relative paths
MAX_TREES = 4

_started: dict[str, Started] = {}  # absolute tree path -> its print under way


def start(argv: list[str]) -> None:
    """Fork the scanning processes, if `argv` is a command that checks trees and the
    repository lists some. Call it while the process is single-threaded (first thing)."""
    command = next((arg for arg in argv if not arg.startswith("-")), None)
    if command not in COMMANDS or "-C" in argv or not hasattr(os, "fork"):
        return
    from artver.config import usable_cores

    if usable_cores() < 2:
        return  # one core: the scan would only take turns with the imports
    root = _repo_root(os.getcwd())
    if root is None:
        return
    trees = _listed(os.path.join(root, ".artver", "state.db"))
    if not trees:
        return
    from artver.parallel_scan import start_print

    # Two processes a tree: they share the two cores with this one's imports, and end well
    # before it would have scanned the tree itself.
    for rel in trees:
        path = os.path.join(root, rel)
        started = start_print(path, 2)
        if started is not None:
            _started[path] = started


def result(path: str) -> TreePrint | None:
    """The early `TreePrint` of the tree at absolute `path`, if one was started; each answer
    is given once."""
    from artver.parallel_scan import finish_print

    started = _started.pop(path, None)
    return finish_print(started) if started is not None else None


def drop() -> None:
    """Forget every early answer (the trees may have changed since they were taken)."""
    cancel()


def cancel() -> None:
    """Stop the processes whose answer no one asked for (the command is over): a command about
    one small target must not leave a large tree being scanned behind it."""
    import signal

    for started in _started.values():
        for pid, read_end in started.children:
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass  # already gone
            os.close(read_end)
            os.waitpid(pid, 0)
    _started.clear()


def note(state: StateDB, rel: str) -> None:
    """Have the next commands scan the tree at `rel` early (it is large and was checked):
    remembered in `state`, the repository's `StateDB`."""
    trees = state.get_value(KEY) or []
    if rel not in trees:
        state.set_value(KEY, [rel, *trees][:MAX_TREES])


def _listed(db_path: str) -> list[str]:
    """The trees the state DB at `db_path` lists, read without creating anything."""
    if not os.path.exists(db_path):
        return []
    import json
    import sqlite3
    from urllib.parse import quote

    try:
        # Read-only: closing a read-write connection, the last one, would checkpoint the WAL.
        conn = sqlite3.connect(f"file:{quote(db_path)}?mode=ro", uri=True)
        try:
            row = conn.execute("SELECT value FROM kv WHERE key = ?", (KEY,)).fetchone()
        finally:
            conn.close()
        trees = json.loads(row[0]) if row else []
    except (sqlite3.Error, ValueError):
        return []
    return [t for t in trees if isinstance(t, str) and t][:MAX_TREES]


def _repo_root(cwd: str) -> str | None:
    path = cwd
    while True:
        if os.path.isdir(os.path.join(path, ".artver")):
            return path
        parent = os.path.dirname(path)
        if parent == path:
            return None
        path = parent
