"""Console entry point.

`artver --version` is answered here, before the CLI framework is imported, so that the most
common health check costs little more than starting Python.

Python's cyclic garbage collector is kept out of the way: a command is short-lived and what it
allocates (a tuple per file of a 20,000-file tree) is not cyclic garbage, yet each collection
walks every object the imports created, and interpreter shut-down walks them all again. Freezing
them moves them out of the collector's sight; objects still die by reference counting.
"""

import gc
import sys


def main() -> None:
    if sys.argv[1:] == ["--version"]:
        from artver import __version__

        print(f"artver {__version__}")
        return
    gc.set_threshold(50_000, 20, 20)
    from artver.cli import run

    try:
        run()
    finally:
        gc.freeze()
