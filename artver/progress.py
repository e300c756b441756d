"""The progress callback core code reports to; the CLI adapts it to a rich progress bar.

Core modules never touch the terminal: they call these methods, which do nothing by default.
Implementations must be thread-safe (`advance` is called from worker threads).
"""

from __future__ import annotations


class Progress:
    def start(self, description: str, files: int, nbytes: int) -> None:
        """A phase begins with this many files and bytes to go."""

    def advance(self, files: int, nbytes: int) -> None:
        """That much work is done."""

    def finish(self) -> None:
        """The phase is over; remove the bar."""


NO_PROGRESS = Progress()
