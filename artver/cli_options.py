"""Options that several CLI modules declare the same way, defined once."""

from __future__ import annotations

from typing import Annotated, Optional

import typer

JsonOpt = Annotated[bool, typer.Option("--json", help="Print one JSON document and nothing else.")]
RemoteOpt = Annotated[
    Optional[str],  # noqa: UP045 - typer needs Optional here
    typer.Option("-r", "--remote", help="Remote name (default: core.remote).", show_default=False),
]
