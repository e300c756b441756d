"""The repository itself: root, cache dir, check-ignore, destroy."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    """No commands yet."""
