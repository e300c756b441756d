"""`artver remote add/list/remove/modify/default`: remotes in the config files.

A remote is `remote.<name>.url` plus options; the default remote is `core.remote`. Secrets
(keys, tokens, credential paths) go only to `config.local.yaml` or the per-user config, never
to the committed `config.yaml`, and are masked when listed.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from artver import config as cfg
from artver.errors import ConfigError
from artver.remotes import options as opts
from artver.remotes.errors import UnknownRemoteError
from artver.repo import Repo


@dataclass
class RemoteInfo:
    name: str
    url: str
    default: bool
    options: dict[str, Any]  # masked

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "url": self.url, "default": self.default, **self.options}


def _protocol(url: str, base: Path) -> str:
    from artver.remotes.registry import check_protocol_known, parse_url

    protocol = parse_url(url, base).protocol
    check_protocol_known(protocol)
    return protocol


def _remotes(config: cfg.Config) -> dict[str, Any]:
    found = config.get("remote") or {}
    return found if isinstance(found, dict) else {}


def add(repo: Repo, name: str, url: str, default: bool, level: str, force: bool) -> None:
    opts.check_name(name)
    _protocol(url, repo.root)
    if name in _remotes(repo.config) and not force:
        raise ConfigError(
            f"remote {name!r} already exists",
            hint=f"Use `artver remote add -f {name} URL` to replace its URL, or "
            f"`artver remote modify {name} url URL`.",
        )
    path = cfg.level_path(repo.artver_dir, level)
    cfg.set_value(path, f"remote.{name}.url", url)
    if default:
        cfg.set_value(path, "core.remote", name)


def list_remotes(repo: Repo) -> list[RemoteInfo]:
    default = repo.config.get("core.remote")
    found = []
    for name, conf in sorted(_remotes(repo.config).items()):
        conf = conf if isinstance(conf, dict) else {}
        shown = {k: opts.mask(k, v) for k, v in conf.items() if k != "url"}
        url = str(opts.mask("url", conf.get("url", "")))
        found.append(RemoteInfo(str(name), url, name == default, shown))
    return found


def _require(repo: Repo, name: str) -> dict[str, Any]:
    conf = _remotes(repo.config).get(name)
    if not isinstance(conf, dict):
        known = ", ".join(sorted(_remotes(repo.config))) or "none"
        raise UnknownRemoteError(f"unknown remote {name!r} (configured: {known})", remote=name)
    return conf


def remove(repo: Repo, name: str) -> list[str]:
    """Remove the remote from every level of this repository that has it; returns the files
    changed. The default is unset where it named this remote."""
    _require(repo, name)
    changed = []
    for level in ("repo", "local"):
        path = cfg.level_path(repo.artver_dir, level)
        here = cfg.load_level(repo.artver_dir, level)
        touched = False
        if isinstance(here.get(f"remote.{name}"), dict):
            cfg.set_value(path, f"remote.{name}", None)
            touched = True
        if here.get("core.remote") == name:
            cfg.set_value(path, "core.remote", None)
            touched = True
        if touched:
            changed.append(str(path))
    if not changed:
        raise ConfigError(
            f"remote {name!r} is configured in the per-user config; remove it with "
            f"`artver config --global --unset remote.{name}.url`"
        )
    return changed


def check_option(name: str, option: str, value: str | None, level: str, url: str, base: Path):
    """Validate `remote.<name>.<option>` before it is written at `level`."""
    opts.check_name(name)
    if option == "url":
        if value is not None:
            _protocol(value, base)
        return
    protocol = _protocol(url, base) if url else "file"
    opts.check_option(protocol, option)
    if value is not None:
        opts.check_secret_level(name, option, level)
        if option == "jobs":
            opts.check_jobs(cfg._coerce(value))


def modify(repo: Repo, name: str, option: str, value: str | None, level: str) -> None:
    conf = _require(repo, name)
    check_option(name, option, value, level, str(conf.get("url", "")), repo.root)
    cfg.set_value(cfg.level_path(repo.artver_dir, level), f"remote.{name}.{option}", value)


def set_default(repo: Repo, name: str | None, level: str) -> None:
    path = cfg.level_path(repo.artver_dir, level)
    if name is None:
        cfg.set_value(path, "core.remote", None)
        return
    _require(repo, name)
    cfg.set_value(path, "core.remote", name)


def check_config_key(repo_root: Path | None, key: str, value: str | None, level: str) -> None:
    """For `artver config remote.NAME.OPTION VALUE`: the same checks as `remote modify`."""
    parts = key.split(".")
    if parts[0] != "remote":
        return
    if len(parts) == 2 and value is None:
        return  # unsetting a whole remote
    if len(parts) != 3:
        raise ConfigError(f"remote keys look like remote.NAME.OPTION; got {key!r}")
    _, name, option = parts
    url = ""
    if repo_root is not None and option != "url":
        url = str(cfg.Config.load(repo_root / ".artver").get(f"remote.{name}.url") or "")
    check_option(name, option, value, level, url, repo_root or Path.cwd())
