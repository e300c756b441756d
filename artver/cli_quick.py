"""Commands answered before the CLI framework is imported.

Starting Python and importing typer costs about 50 ms here, several times the work of a `push`
with nothing new (what scripts and habits run after every commit). So the plainest forms of
that push are answered here: `artver [-q] push [-q] [-r NAME]`, when the state DB remembers
everything the workspace references on the remote (no request is sent). Every other form,
and every case with something to send or something wrong, is left to the CLI, which decides
it again with the same functions and says what happened.
"""

from __future__ import annotations

import sys

QUIET = ("-q", "--quiet")


def answer(args: list[str]) -> int | None:
    """The exit code of the command `args`, if answered here; None to leave it to the CLI."""
    quiet = False
    while args[:1] and args[0] in QUIET:
        quiet, args = True, args[1:]
    if args[:1] != ["push"]:
        return None
    parsed = _push_options(args[1:])
    if parsed is None:
        return None
    remote, quiet_again = parsed
    return _noop_push(remote, quiet or quiet_again)


def _push_options(args: list[str]) -> tuple[str | None, bool] | None:
    """(remote name, quiet) of `push`'s options, or None if there is any other argument.
    Pure."""
    remote, quiet = None, False
    i = 0
    while i < len(args):
        arg = args[i]
        if arg in QUIET:
            quiet = True
        elif arg in ("-r", "--remote") and i + 1 < len(args) and not args[i + 1].startswith("-"):
            remote, i = args[i + 1], i + 1
        elif arg.startswith("--remote=") and len(arg) > len("--remote="):
            remote = arg.removeprefix("--remote=")
        else:
            return None
        i += 1
    return remote, quiet


def _noop_push(remote: str | None, quiet: bool) -> int | None:
    from pathlib import Path

    from artver.ops.transfer import Selection, nothing_to_push
    from artver.repo import Repo

    try:
        cwd = Path.cwd()
        result = nothing_to_push(Repo.find(cwd), Selection(), cwd, remote)
    except KeyboardInterrupt:  # the CLI's handler for Ctrl-C is not installed yet
        print("error: interrupted; nothing was changed", file=sys.stderr)
        return 130
    except Exception:  # the CLI meets it again and reports it properly
        return None
    if result is None:
        return None
    if not quiet:
        from artver.redact import mask_text
        from artver.ui import transfer_summary

        print(mask_text(transfer_summary("Pushed", result)), file=sys.stderr)
    return 0
