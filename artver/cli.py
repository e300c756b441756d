"""The command line: parse arguments, call a use-case, print. No logic lives here.

One guard (`run`) turns ArtverError into a message on stderr and its exit code; tracebacks
are shown only with -v.
"""

from __future__ import annotations

import os
import signal
import sys
from pathlib import Path
from typing import Annotated, Optional

import typer

from artver import __version__
from artver.cli_options import JsonOpt
from artver.errors import ArtverError, Interrupted, Terminated
from artver.ui import human_size, out, plural

app = typer.Typer(
    name="artver",
    help="Version data, models and the pipelines that make them, next to code in Git.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,  # plain "Error: ..." usage messages, like every other error
    context_settings={"help_option_names": ["-h", "--help"]},
)

TargetsArg = Annotated[
    Optional[list[str]],  # noqa: UP045 - typer needs Optional here
    typer.Argument(help="Tracked paths, their .artver files or stage names (default: all)."),
]


def _version(value: bool) -> None:
    if value:
        out.result(f"artver {__version__}")
        raise typer.Exit()


@app.callback()
def main(
    quiet: Annotated[bool, typer.Option("-q", "--quiet", help="Only errors and results.")] = False,
    verbose: Annotated[bool, typer.Option("-v", "--verbose", help="Show tracebacks.")] = False,
    directory: Annotated[
        Optional[Path],  # noqa: UP045
        typer.Option("-C", help="Run as if started in this directory.", show_default=False),
    ] = None,
    version: Annotated[
        bool,
        typer.Option("--version", callback=_version, is_eager=True, help="Print the version."),
    ] = False,
) -> None:
    out.quiet = quiet
    out.verbose = verbose
    if directory is not None:
        try:
            os.chdir(directory)
        except OSError as exc:
            raise ArtverError(f"cannot change to {directory}: {exc.strerror}") from None


def _rev_option(help_text: str):
    return typer.Option("--rev", help=help_text, show_default=False)


def _repo():
    from artver.repo import Repo

    repo = Repo.find(Path.cwd(), out.progress())
    repo.on_lock_wait = lambda holder: out.info(f"Waiting for the repository lock ({holder})...")
    return repo


def _git_add_hint(paths: list[Path]) -> None:
    if paths:
        import shlex

        shown = " ".join(shlex.quote(p) for p in sorted({os.path.relpath(p) for p in paths}))
        out.info(f"\nTo track the changes with git, run:\n\n    git add {shown}\n")


@app.command()
def init(
    no_git: Annotated[bool, typer.Option("--no-git", help="Allow a repo outside Git.")] = False,
    force: Annotated[bool, typer.Option("-f", "--force", help="Re-initialise.")] = False,
) -> None:
    """Make .artver/ in the current Git repository."""
    from artver.repo import Repo

    repo = Repo.init(Path.cwd(), no_git=no_git, force=force)
    out.info(f"Initialised artver in {repo.artver_dir}")
    _git_add_hint([repo.artver_dir / "config.yaml", repo.artver_dir / ".gitignore"])


@app.command()
def add(
    paths: Annotated[list[str], typer.Argument(help="Files, directories or glob patterns.")],
) -> None:
    """Hash, cache and track files or directories; write PATH.artver."""
    from artver.ops.add import add as do_add

    results = do_add(_repo(), paths, Path.cwd())
    to_git: list[Path] = []
    for res in results:
        data = res.pointer.data_path()
        o = res.pointer.out
        what = f"{plural(o.nfiles, 'file')}, " if o.nfiles is not None else ""
        verb = "Added" if res.previous is None else ("Updated" if res.changed else "Unchanged")
        out.info(f"{verb} {os.path.relpath(data)} ({what}{human_size(o.size)})")
        if res.changed or res.gitignore:
            to_git.append(res.pointer.file)
        if res.gitignore:
            to_git.append(res.gitignore)
    _git_add_hint(to_git)


@app.command()
def status(targets: TargetsArg = None, json: JsonOpt = False) -> None:
    """Show tracked data that is modified or missing, and stale stages with why."""
    from artver.ops.status import stage_status
    from artver.ops.status import status as do_status

    repo = _repo()
    results = do_status(repo, targets or [], Path.cwd())
    stages = stage_status(repo) if not targets else []
    if json:
        out.json(
            {"artifacts": [r.to_dict() for r in results], "stages": [s.to_dict() for s in stages]}
        )
        return
    for stage in stages:
        out.result(f"{stage.name}: " + "; ".join(stage.reasons))
    changed = [r for r in results if r.state != "ok"]
    if not changed and not stages:
        if repo.pipeline_files():
            out.result("Data and pipelines are up to date.")
        else:
            out.result("Data is up to date." if results else "Nothing is tracked yet.")
        return
    if not changed:
        out.info("\nRun `artver repro` to bring the stages up to date.")
        return
    for res in changed:
        out.result(f"{res.path}: {res.state}")
        for kind, paths in res.changes.items():
            for path in paths:
                out.result(f"    {kind}: {res.path}/{path}")
        if not res.details_known:
            out.result("    (which files changed is unknown: the old manifest is not in the cache)")
    out.info("\nRun `artver add` to record the changes or `artver checkout` to discard them.")


@app.command()
def checkout(
    targets: TargetsArg = None,
    force: Annotated[
        bool, typer.Option("-f", "--force", help="Discard changes that are not in the cache.")
    ] = False,
    relink: Annotated[
        bool, typer.Option("--relink", help="Re-create every file with the current link type.")
    ] = False,
    rev: Annotated[
        Optional[str],  # noqa: UP045
        _rev_option("Restore the data this Git revision records; HEAD and the pointers stay."),
    ] = None,
) -> None:
    """Make the workspace match the pointer files and the stage outputs in artver.lock."""
    from artver.ops.checkout import checkout as do_checkout

    res = do_checkout(_repo(), targets or [], Path.cwd(), force=force, relink=relink, rev=rev)
    c = res.counts
    for shown in res.artifacts_changed:
        out.info(f"Checked out {shown}")
    if res.artifacts_changed:
        out.info(
            f"{c['create']} created, {c['modify']} modified, {c['delete']} deleted"
            + (f", {c['relink']} relinked" if c["relink"] else "")
        )
    if rev is not None:
        _note_checked_out_rev(rev, res.artifacts_changed)
    elif not res.artifacts_changed:
        out.info("Workspace already matches the pointers.")


def _note_checked_out_rev(rev: str, changed: list[str]) -> None:
    if changed:
        out.info(
            f"The workspace now holds the data of {rev}, but the pointer files still record "
            "the current versions:\n`artver status` shows these paths as modified; "
            "`artver checkout` returns to the current versions;\n`artver add` would record "
            "the old data as a new version."
        )
    else:
        out.info(f"The workspace already holds the data of {rev}.")


@app.command()
def commit(targets: TargetsArg = None) -> None:
    """Record the current state of tracked paths and stages into pointers and the lock."""
    from artver.ops.commit import commit as do_commit

    result = do_commit(_repo(), targets or [], Path.cwd())
    changed = [r for r in result.pointers if r.changed]
    for res in changed:
        out.info(f"Committed {os.path.relpath(res.pointer.data_path())}")
    for name in result.stages:
        out.info(f"Committed stage {name}")
    if not changed and not result.stages:
        out.info("Nothing to commit: pointers and the lock already match the workspace.")
    to_git = [r.pointer.file for r in changed] + [
        r.gitignore for r in result.pointers if r.gitignore
    ]
    if result.stages:
        to_git.append(Path("artver.lock"))
    _git_add_hint(to_git)


@app.command("ls")
def list_(
    targets: TargetsArg = None,
    rev: Annotated[
        Optional[str],  # noqa: UP045
        _rev_option("What this Git revision tracks (pointers and stage outputs), read from Git."),
    ] = None,
    json: JsonOpt = False,
) -> None:
    """List tracked artifacts with size, file count and state."""
    from artver.ops.ls import ls, ls_at

    if rev is not None:
        items = ls_at(_repo(), rev, targets or [], Path.cwd())
    else:
        items = ls(_repo(), targets or [], Path.cwd())
    if json:
        out.json({"artifacts": [i.to_dict() for i in items]})
        return
    rows = [[i.path, human_size(i.size), str(i.nfiles), i.state] for i in items]
    out.table(["path", "size", "files", "state"], rows)


@app.command()
def doctor(json: JsonOpt = False) -> None:
    """Versions, cache location and link type, remotes, platform."""
    from artver.ops.doctor import doctor as do_doctor

    info = do_doctor(Path.cwd())
    if json:
        out.json(info)
        return
    for key, value in info.items():
        if isinstance(value, dict):
            out.result(f"{key}:")
            for sub, val in value.items():
                shown = human_size(val) if sub == "free space" else val
                out.result(f"  {sub}: {'-' if val is None else shown}")
        else:
            out.result(f"{key}: {'-' if value is None else value}")


@app.command()
def config(
    key: Annotated[Optional[str], typer.Argument(help="section.option")] = None,  # noqa: UP045
    value: Annotated[Optional[str], typer.Argument(help="New value.")] = None,  # noqa: UP045
    global_: Annotated[bool, typer.Option("--global", help="The per-user file.")] = False,
    local: Annotated[
        bool, typer.Option("--local", help="config.local.yaml (not committed).")
    ] = False,
    unset: Annotated[bool, typer.Option("--unset", help="Remove the key.")] = False,
    json: JsonOpt = False,
    show_secret: Annotated[
        bool,
        typer.Option("--show-secret", help="Print KEY's value even if it is a secret (one KEY)."),
    ] = False,
) -> None:
    """Read or set configuration (like `git config`); secrets are shown as ****."""
    from artver import config as cfg
    from artver import redact
    from artver.errors import UsageError

    if global_ and local:
        raise UsageError("use only one of --global and --local")
    if show_secret and (key is None or value is not None or unset):
        raise UsageError("--show-secret reads one key: artver config --show-secret KEY")
    level = "global" if global_ else "local" if local else "repo"
    repo = None
    if level != "global" or key is None or value is None:
        try:
            repo = _repo()
        except ArtverError:
            if level != "global":
                raise
    artver_dir = repo.artver_dir if repo is not None else None
    if key is None:
        merged = redact.mask_config(cfg.Config.load(artver_dir).data)
        if json:
            out.json(merged)
        else:
            for line in _flatten(merged):
                out.result(line)
        return
    if unset or value is not None:
        if key.startswith("remote."):  # the checks `artver remote modify` makes
            from artver.ops.remote_config import check_config_key

            root = artver_dir.parent if artver_dir is not None else None
            check_config_key(root, key, None if unset else value, level)
        if repo is not None and key.count(".") == 2 and key.startswith("remote."):
            from artver.cli_remotes import print_notes
            from artver.ops.remote_config import set_option

            _, name, option = key.split(".")
            print_notes(set_option(repo, name, option, None if unset else value, level))
        elif repo is not None:
            repo.set_config(level, key, None if unset else value)
        else:
            cfg.set_value(cfg.level_path(artver_dir, level), key, None if unset else value)
        return
    cfg.check_key(key)
    explicit = global_ or local
    source = cfg.load_level(artver_dir, level) if explicit else cfg.Config.load(artver_dir)
    current = source.get(key)
    if current is None:
        raise ArtverError(f"{key} is not set" + (f" in the {level} config" if explicit else ""))
    if show_secret:
        if isinstance(current, dict):
            raise UsageError(f"--show-secret reads one key, and {key} is a section")
        out.json(current, masked=False) if json else out.secret(_format_value(current))
        return
    shown = redact.mask_key(key, current)
    if json:
        out.json(shown)
        return
    for line in _flatten(shown, f"{key}.") if isinstance(shown, dict) else [_format_value(shown)]:
        out.result(line)
    if shown != current:
        one = f"{key}.OPTION" if isinstance(shown, dict) else key
        out.info(f"note: secrets are shown as {redact.MASK}; artver config --show-secret {one}")


def _format_value(value: object) -> str:
    if isinstance(value, list):
        return ",".join(str(v) for v in value)
    return str(value)


def _flatten(data: dict, prefix: str = "") -> list[str]:
    lines = []
    for key, value in data.items():
        if isinstance(value, dict):
            lines.extend(_flatten(value, f"{prefix}{key}."))
        elif value is not None:
            lines.append(f"{prefix}{key}={_format_value(value)}")
    return lines


GLOBAL_FLAGS = {"-q": "quiet", "--quiet": "quiet", "-v": "verbose", "--verbose": "verbose"}


def _hoist_global_flags(argv: list[str]) -> list[str]:
    """Accept -q/-v after the subcommand too (`artver add -q data`), as DVC users type them."""
    if not argv:
        return argv
    kept, hoisted = [], []
    for i, arg in enumerate(argv):
        if arg == "--":
            kept.extend(argv[i:])
            break
        (hoisted if arg in GLOBAL_FLAGS else kept).append(arg)
    return hoisted + kept


def _interrupted(signum: int, frame: object) -> None:
    # Raised as an ArtverError so that it reaches the guard below: typer would otherwise
    # turn Ctrl-C into a silent exit. Core code cleans up in its `finally` blocks.
    raise Interrupted("interrupted; nothing half-written was left behind")


def _terminated(signum: int, frame: object) -> None:
    # As Ctrl-C: a `kill` (or a CI job's timeout) must not leave temp files or stage
    # processes behind either.
    raise Terminated("terminated (SIGTERM); nothing half-written was left behind")


# The other command groups register on the app defined above.
from artver import (  # noqa: E402
    cli_fsck,
    cli_history,
    cli_hooks,
    cli_lineage,
    cli_pipeline,
    cli_remotes,
    cli_verify,
)

cli_pipeline.register(app)
cli_verify.register(app)
cli_remotes.register(app)
cli_history.register(app)
cli_lineage.register(app)
cli_hooks.register(app)
cli_fsck.register(app)


def _command_name(info) -> str:
    """The name typer gives a registered command (its function's name, dashed)."""
    return info.name or info.callback.__name__.lower().replace("_", "-")


def _only_the_command_named(args: list[str]) -> None:
    """Keep only the command the arguments name (if they name one): typer builds a click
    command for every registered function on each start, which costs more than most no-op
    commands do. Help and unknown names still see every command."""
    name, skip = None, False
    for arg in args:
        if skip:
            skip = False
        elif arg == "-C":
            skip = True
        elif not arg.startswith("-"):
            name = arg
            break
    commands = [c for c in app.registered_commands if _command_name(c) == name]
    groups = [g for g in app.registered_groups if g.name == name]
    if commands or groups:
        app.registered_commands, app.registered_groups = commands, groups


def _print_traceback() -> None:
    import traceback

    from artver.redact import mask_text

    print(mask_text(traceback.format_exc()), end="", file=sys.stderr)


def _log_libraries_masked() -> None:
    """With -v, the storage libraries' own warnings go to stderr (for bug reports), with any
    password or configured secret in them masked, as in every other line artver prints."""
    import logging

    from artver.redact import mask_text

    class Masked(logging.Formatter):
        def format(self, record: logging.LogRecord) -> str:
            return mask_text(super().format(record))

    handler = logging.StreamHandler()
    handler.setFormatter(Masked(logging.BASIC_FORMAT))
    logging.basicConfig(level=logging.WARNING, handlers=[handler])


def run() -> None:
    """Run the CLI with the one error guard."""
    signal.signal(signal.SIGINT, _interrupted)
    signal.signal(signal.SIGTERM, _terminated)
    try:
        args = _hoist_global_flags(sys.argv[1:])
        if "-v" in args or "--verbose" in args:
            _log_libraries_masked()
        _only_the_command_named(args)
        app(args=args, prog_name="artver")
    except ArtverError as exc:
        if out.verbose:
            _print_traceback()
        out.error(str(exc))
        sys.exit(exc.exit_code)
    except Exception as exc:  # a bug or an unexpected OS condition: still no traceback
        if out.verbose:
            _print_traceback()
            sys.exit(1)
        out.error(f"{type(exc).__name__}: {exc} (run with -v for the traceback)")
        sys.exit(1)
