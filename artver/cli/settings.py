"""Settings and diagnostics: config, doctor."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from artver.cli.common import JsonOpt, open_repo, print_notes
from artver.errors import ArtverError
from artver.ui import human_size, out


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
            repo = open_repo()
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


def register(app: typer.Typer) -> None:
    app.command()(doctor)
    app.command()(config)
