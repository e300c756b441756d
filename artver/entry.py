"""Console entry point.

`artver --version` is answered here, before the CLI framework is imported: the most common
health check then costs little more than starting Python.

Python's cyclic garbage collector is kept out of the way: a command is short-lived and what it
allocates (a tuple per file of a 20,000-file tree) is not cyclic garbage, yet each collection
walks every object the imports created.

A finished command leaves with `os._exit` once its output is flushed: tearing the interpreter
down (every module's objects, one by one) costs more than some whole no-op commands spend on
their work. Nothing is lost by skipping it: the state DB commits each change as it goes
(SQLite recovers its write-ahead log on the next open), locks are released by the kernel, and
while any non-daemon thread still runs, the ordinary exit is taken so that it can finish.
"""

import gc
import os
import sys


def main() -> None:
    leave(run_command())


def run_command() -> int:
    """Run the command in `sys.argv`; its exit code."""
    if sys.argv[1:] == ["--version"]:
        from artver import __version__

        print(f"artver {__version__}")
        return 0
    gc.set_threshold(50_000, 20, 20)
    from artver.cli import run

    try:
        run()
    except SystemExit as exc:
        if exc.code is not None and not isinstance(exc.code, int):
            raise  # a message for Python to print
        return exc.code or 0
    return 0


def leave(code: int) -> None:
    """Exit with `code` without the interpreter's tear-down, when that is safe."""
    import threading

    main_thread = threading.main_thread()
    if any(t is not main_thread and not t.daemon for t in threading.enumerate()):
        raise SystemExit(code)
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except (OSError, ValueError):  # a closed pipe or stream: let Python report it as usual
        raise SystemExit(code) from None
    os._exit(code)
