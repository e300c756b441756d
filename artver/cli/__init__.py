"""The command line: parse arguments, call a use-case, print. No logic lives here.

`main` builds the typer app and holds the one error guard (`run`); each other module is one
group of commands with a `register(app)`, and `common` what they share.
"""

from artver.cli.main import app, run

__all__ = ["app", "run"]
