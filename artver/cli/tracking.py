"""Changing what is tracked: remove, move, unprotect, freeze, unfreeze."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    """No commands yet."""
