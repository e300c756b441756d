"""What each piece of a DVC project becomes in artver. Pure: values in, values and decisions
out; the callers do the reading and the writing.

- `adapt_pipeline`: a dvc.yaml document -> the artver.yaml document (artver reads DVC's schema;
  only what it lacks is dropped, and DVC's defaults that differ from artver's made explicit)
- `out_source`: where an output's bytes can be taken from (the workspace or DVC's cache)
- `lock_reasons`: why a stage gets no lock entry (empty: it gets one)
- `map_config`: `.dvc/config` and `.dvc/config.local` -> artver config settings
"""

from __future__ import annotations

import posixpath
from collections.abc import Callable
from typing import Any

from artver.dvcimport.dvcfiles import DvcLockEntry
from artver.stages.params import MISSING, flatten
from artver.stages.schema import OUT_OPTIONS, PLOT_OPTIONS, STAGE_KEYS, TOP_LEVEL_KEYS, Stage

WORKSPACE, DVC_CACHE = "workspace", "dvc-cache"


# -- dvc.yaml -> artver.yaml -----------------------------------------------------------------
def adapt_pipeline(doc: Any) -> list[str]:
    """Make the dvc.yaml document `doc` (as loaded, round-trip or plain) an artver.yaml one,
    in place; returns what was changed, one sentence each (nothing: the text is copied).

    artver accepts DVC's schema; what differs: keys it has no use for (a stage's `meta`, an
    out's `remote`/`push`/`type`/`labels`/`meta`) are dropped, and a stage's metrics and plots
    that do not say `cache:` get `cache: true`, which is DVC's default (artver's is false)."""
    if not isinstance(doc, dict):
        return []
    changes = []
    for key in [k for k in doc if k not in TOP_LEVEL_KEYS]:
        del doc[key]
        changes.append(f"dropped the top-level key {key!r} (artver has no use for it)")
    stages = doc.get("stages")
    if not isinstance(stages, dict):
        return changes
    for name, body in stages.items():
        for template in _templates(body):
            changes += _adapt_stage(str(name), template)
    return changes


def _templates(body: Any) -> list[dict]:
    """The mappings that hold a stage's keys: the stage itself, a foreach's `do`."""
    if not isinstance(body, dict):
        return []
    if "foreach" in body:
        return [body["do"]] if isinstance(body.get("do"), dict) else []
    return [body]


def _adapt_stage(name: str, body: dict) -> list[str]:
    changes = []
    allowed = STAGE_KEYS | {"vars", "matrix"}
    for key in [k for k in body if k not in allowed]:
        del body[key]
        changes.append(f"stage {name}: dropped {key!r} (artver has no use for it)")
    for section in ("outs", "metrics", "plots"):
        items = body.get(section)
        if not isinstance(items, list):
            continue
        allowed_options = OUT_OPTIONS | (PLOT_OPTIONS if section == "plots" else set())
        for i, item in enumerate(items):
            new, notes = _adapt_out(item, allowed_options, section != "outs", type(body))
            if new is not item:
                _move_comment(items, i, new)
                items[i] = new
            changes += [f"stage {name}: {note}" for note in notes]
    return changes


def _move_comment(items: list, index: int, new: Any) -> None:
    """Keep the end-of-line comment of a list entry replaced by a mapping (round-trip
    documents hold it in `ca`; plain ones have none)."""
    comments = getattr(getattr(items, "ca", None), "items", None)
    if not comments or index not in comments or not hasattr(new, "yaml_add_eol_comment"):
        return
    token = comments.pop(index)[0]
    if token is not None and token.value.strip():
        new.yaml_add_eol_comment(token.value.strip(), next(iter(new)))


def _adapt_out(
    item: Any, allowed: set[str], cached_by_default: bool, mapping_type: type = dict
) -> tuple[Any, list[str]]:
    """An out entry (`path`, `{path: options}` or `{path: .., options..}`) for artver;
    `mapping_type` makes a new mapping (the document's own, to keep its comments)."""
    if isinstance(item, str):
        if not cached_by_default:
            return item, []
        new = mapping_type()
        new[item] = mapping_type()
        new[item]["cache"] = True
        return new, [f"{item}: added cache: true (DVC's default)"]
    if not isinstance(item, dict):
        return item, []
    single = "path" not in item
    if single and len(item) != 1:
        return item, []
    path = next(iter(item)) if single else item["path"]
    options = (item[path] if single else item) or mapping_type()
    if not isinstance(options, dict):
        return item, []
    if single:
        item[path] = options
    notes = []
    for key in [k for k in options if k != "path" and k not in allowed]:
        del options[key]
        notes.append(f"{path}: dropped {key!r} (artver has no use for it)")
    if cached_by_default and "cache" not in options:
        options["cache"] = True
        notes.append(f"{path}: added cache: true (DVC's default)")
    if single and not options and isinstance(path, str):
        return path, notes  # `- eval: {}` reads better as `- eval`
    return item, notes


# -- outputs and lock entries ----------------------------------------------------------------
def out_source(
    recorded: str | None, workspace: str | None, cache_missing: list[str] | None, cached: bool
) -> tuple[str | None, str | None]:
    """(where to take an output from, what to tell the user), for an output DVC recorded as
    `recorded`, which hashes to `workspace` now (None: not there), and of whose files DVC's
    cache lacks `cache_missing` (None: even the directory's manifest). A source of None
    means it cannot be converted, and the note says why."""
    if recorded is None:
        return None, "DVC never recorded its hash (no md5): run `dvc commit` first"
    if workspace == recorded:
        return WORKSPACE, None
    where = "is not in the workspace" if workspace is None else "was modified in the workspace"
    if cached and cache_missing == []:
        if workspace is None:
            return DVC_CACHE, f"{where}: taken from DVC's cache (`artver checkout` puts it back)"
        return DVC_CACHE, (
            f"{where}: DVC's recorded version was taken from DVC's cache; `artver status` shows "
            "the workspace copy as modified"
        )
    if not cached:
        return None, f"{where} and is not cached (cache: false)"
    if cache_missing is None or cache_missing == [""]:
        lacks = "DVC's cache does not hold it either"
    else:
        lacks = f"DVC's cache lacks {len(cache_missing)} of its files (e.g. {cache_missing[0]})"
    return None, f"{where} and {lacks}: run `dvc pull` (or `dvc checkout`), then convert again"


def lock_reasons(
    stage: Stage,
    entry: DvcLockEntry | None,
    dep_md5: Callable[[str, bool], str | None],
    param: Callable[[str, str], Any],
    out_problems: dict[str, str],
) -> list[str]:
    """Why `stage` gets no artver.lock entry from its dvc.lock `entry`; empty when it gets one.
    `dep_md5(path, legacy)` is a dep's md5 now (None: missing); `param(file, key)` a param's
    value now (MISSING when there is none); `out_problems` says why an out cannot be taken."""
    if entry is None:
        return ["it has no entry in dvc.lock (it never ran with DVC)"]
    reasons = []
    if list(stage.cmd) != entry.cmd:
        reasons.append("its cmd changed since dvc.lock")
    for dep in stage.deps:
        recorded = entry.deps.get(dep)
        if recorded is None:
            reasons.append(f"dep {dep} is not in dvc.lock")
            continue
        now = dep_md5(dep, recorded.legacy)
        if now is None:
            reasons.append(f"dep {dep} is missing")
        elif now != recorded.md5:
            reasons.append(f"dep {dep} changed since dvc.lock")
    gone = sorted(set(entry.deps) - set(stage.deps))
    reasons += [f"dep {d} is no longer in dvc.yaml" for d in gone]
    for file, values in sorted(entry.params.items()):
        for key, old in sorted(flatten(values, "").items()):
            new = param(file, key)
            if new is MISSING:
                reasons.append(f"param {key} is no longer in {file}")
            elif new != old:
                reasons.append(f"param {key} changed since dvc.lock ({old!r} -> {new!r})")
    outs = [o.path for o in stage.outs]
    for path in outs:
        if path not in entry.outs:
            reasons.append(f"out {path} is not in dvc.lock")
        elif path in out_problems:
            reasons.append(f"out {path} {out_problems[path]}")
    reasons += [f"out {o} is no longer in dvc.yaml" for o in sorted(set(entry.outs) - set(outs))]
    return reasons


# -- .dvc/config -> .artver/config.yaml and config.local.yaml --------------------------------
# Options that are about this machine rather than secrets: kept out of the committed file too.
MACHINE_LOCAL = {
    "credentialpath",
    "configpath",
    "keyfile",
    "key_filename",
    "gdrive_user_credentials_file",
}
# DVC options that say the same in artver.
CACHE_KEYS = {"type": "cache.type", "shared": "cache.shared"}


class Setting:
    """One config value to write: `level` is "repo" (.artver/config.yaml) or "local".
    `exposed`: a secret DVC's committed config held (Git's history still has it)."""

    __slots__ = ("exposed", "key", "level", "secret", "value")

    def __init__(
        self, level: str, key: str, value: str, secret: bool = False, exposed: bool = False
    ) -> None:
        self.level = level
        self.key = key
        self.value = value
        self.secret = secret
        self.exposed = exposed

    def to_dict(self) -> dict[str, Any]:
        file = ".artver/config.local.yaml" if self.level == "local" else ".artver/config.yaml"
        return {
            "file": file,
            "key": self.key,
            "value": "****" if self.secret else self.value,
            "exposed": self.exposed,
        }


def local_url(url: str) -> str:
    """A DVC remote URL as artver reads it: DVC takes a relative local path from the directory
    of its config file (`.dvc/`), artver from the repository root."""
    if "://" in url or posixpath.isabs(url) or url.startswith("~"):
        return url
    return posixpath.relpath(posixpath.normpath(posixpath.join(".dvc", url)), ".")


def _protocol(url: str) -> str:
    from pathlib import Path

    from artver.remotes.registry import parse_url

    return parse_url(url, Path("/")).protocol


def map_config(
    repo_cfg: dict[str, dict[str, str]], local_cfg: dict[str, dict[str, str]]
) -> tuple[list[Setting], list[str]]:
    """(the settings to write, what is not carried and why) for DVC's two config files."""
    from artver.errors import ArtverError
    from artver.remotes import options as opts

    settings: list[Setting] = []
    skipped: list[str] = []
    urls: dict[str, str] = {}
    for cfg in (repo_cfg, local_cfg):
        for section, values in cfg.items():
            name = _remote_name(section)
            if name is not None and "url" in values:
                urls[name] = local_url(values["url"])
    for level, cfg in (("repo", repo_cfg), ("local", local_cfg)):
        for section, values in cfg.items():
            name = _remote_name(section)
            if name is not None:
                try:
                    opts.check_name(name)
                except ArtverError as exc:
                    skipped.append(f"remote {name}: {exc.message}")
                    continue
                for option, value in values.items():
                    found = _remote_setting(level, name, option, value, urls.get(name, ""))
                    if isinstance(found, str):
                        skipped.append(found)
                    else:
                        settings += found
            elif section == "core":
                for option, value in values.items():
                    if option == "remote":
                        settings.append(Setting(level, "core.remote", value))
                    elif option not in ("no_scm", "analytics", "check_update"):
                        skipped.append(f"core.{option}: a DVC setting artver does not have")
            elif section == "cache":
                for option, value in values.items():
                    if option in CACHE_KEYS:
                        settings.append(Setting(level, CACHE_KEYS[option], value))
                    else:
                        why = (
                            "artver keeps its own cache in .artver/cache"
                            if option == "dir"
                            else "a DVC setting artver does not have"
                        )
                        skipped.append(f"cache.{option}: {why}")
            else:
                skipped.append(f"[{section}]: a DVC section artver does not have")
    return settings, skipped


def _remote_name(section: str) -> str | None:
    if section.startswith('remote "') and section.endswith('"'):
        return section[len('remote "') : -1]
    return None


def _remote_setting(
    level: str, name: str, option: str, value: str, url: str
) -> list[Setting] | str:
    """The settings for option `option` of remote `name` found at `level`, or why not."""
    from artver import redact
    from artver.errors import ArtverError
    from artver.remotes import options as opts

    key = f"remote.{name}.{option}"
    if option == "url":
        value = local_url(value)
        try:
            opts.check_option(_protocol(value), "url")
        except ArtverError as exc:
            return f"{key}: {exc.message}"
        if level == "local":
            return [Setting("local", key, value, redact.url_secret(value) is not None)]
        writes, _ = opts.placement(name, option, value, "repo")
        return [Setting(lv, key, v, lv == "local", lv == "local") for lv, v in writes]
    try:
        protocol = _protocol(url) if url else "file"
        opts.check_option(protocol, option)
    except ArtverError as exc:
        return f"{key}: {exc.message}"
    secret = opts.is_secret(option)
    local = level == "local" or secret or option in MACHINE_LOCAL
    return [Setting("local" if local else "repo", key, value, secret, level == "repo" and secret)]
