"""Console entry point.

`artver --version` is answered here, before the CLI framework is imported, so that the most
common health check costs little more than starting Python.
"""

import sys


def main() -> None:
    if sys.argv[1:] == ["--version"]:
        from artver import __version__

        print(f"artver {__version__}")
        return
    from artver.cli import run

    run()
