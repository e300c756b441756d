"""`artver remote add/list/remove/modify/default`: remotes in the config files.

A remote is `remote.<name>.url` plus options; the default remote is `core.remote`. Secrets
(keys, tokens, passwords, a URL's password) go only to `config.local.yaml` or the per-user
config, never to the committed `config.yaml` (asked for there, they are written to
`config.local.yaml` instead, and the user is told), and are masked when listed.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from artver import config as cfg
from artver import redact
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


def add(repo: Repo, name: str, url: str, default: bool, level: str, force: bool) -> list[str]:
    """Add remote `name`; returns notes for the user (where a password in the URL went)."""
    opts.check_name(name)
    _protocol(url, repo.root)
    if name in _remotes(repo.config) and not force:
        raise ConfigError(
            f"remote {name!r} already exists",
            hint=f"Use `artver remote add -f {name} URL` to replace its URL, or "
            f"`artver remote modify {name} url URL`.",
        )
    notes = set_option(repo, name, "url", url, level)
    if default:
        repo.set_config(level, "core.remote", name)
    return notes


def list_remotes(repo: Repo) -> list[RemoteInfo]:
    default = repo.config.get("core.remote")
    found = []
    for name, conf in sorted(_remotes(repo.config).items()):
        conf = conf if isinstance(conf, dict) else {}
        shown = {k: redact.mask_value(k, v) for k, v in conf.items() if k != "url"}
        url = redact.mask_text(str(conf.get("url", "")))
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
    if value is not None and option == "jobs":
        opts.check_jobs(cfg._coerce(value))


def modify(repo: Repo, name: str, option: str, value: str | None, level: str) -> list[str]:
    """Set (or unset) an option of remote `name`; returns notes for the user."""
    conf = _require(repo, name)
    check_option(name, option, value, level, str(conf.get("url", "")), repo.root)
    return set_option(repo, name, option, value, level)


def _at(repo: Repo, level: str, key: str) -> Any:
    return cfg.load_level(repo.artver_dir, level).get(key)


def set_option(repo: Repo, name: str, option: str, value: str | None, level: str) -> list[str]:
    """Write (or, with None, remove) `remote.NAME.OPTION` asked for at `level`, keeping secrets
    out of the committed file (`options.placement`); returns notes for the user."""
    key = f"remote.{name}.{option}"
    if level != "repo":
        repo.set_config(level, key, value)
        return []
    local = _at(repo, "local", key)
    # The whole URL an earlier `remote add` kept in config.local.yaml beside the committed one.
    twin = (
        option == "url"
        and isinstance(local, str)
        and redact.url_secret(local) is not None
        and redact.public_url(local) == _at(repo, "repo", key)
    )
    if value is None:
        levels = ["repo"]
        if redact.is_secret_key(option) or twin:  # it was written to config.local.yaml
            levels = [where for where in ("repo", "local") if _at(repo, where, key) is not None]
        for where in levels or ["repo"]:  # neither file sets it: "not set in config.yaml"
            repo.set_config(where, key, None)
        return []
    writes, note = opts.placement(name, option, value, level)
    notes = [note] if note else []
    for where, val in writes:
        repo.set_config(where, key, val)
    wrote = {where for where, _ in writes}
    if "repo" not in wrote and _at(repo, "repo", key) is not None:
        repo.set_config("repo", key, None)
        notes.append(
            f"removed the old {option} from {opts.REPO_FILE}; if it was committed, Git's "
            "history still holds it: replace (rotate) that secret"
        )
    if "local" not in wrote and local is not None:
        if twin:
            repo.set_config("local", key, None)
            notes.append(f"removed the old URL with its password from {opts.LOCAL_FILE}")
        else:
            notes.append(f"{opts.LOCAL_FILE} sets {key} too, and wins over {opts.REPO_FILE}")
    return notes


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
