"""Configuration: defaults < global (per user) < repo (`.artver/config.yaml`) < local.

`config.local.yaml` holds machine-specific settings and secrets and is never committed.
This is the only module that reads `ARTVER_*` environment variables.
Files are rewritten with ruamel.yaml in round-trip mode so users' comments survive.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from pathlib import Path

from artver import redact
from artver.errors import ConfigError

TYPE_CHECKING = False  # typing.TYPE_CHECKING: importing typing costs each command ~2 ms
if TYPE_CHECKING:
    from typing import Any


def usable_cores() -> int:
    """The CPUs this process may run on (fewer than the machine's in a container or under
    taskset)."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


LEVELS = ("global", "repo", "local")
LINK_TYPES = ("reflink", "hardlink", "symlink", "copy")

DEFAULTS: dict[str, Any] = {
    "cache": {"type": ["reflink", "copy"], "dir": None, "shared": None},
    "core": {"jobs": None, "lock_wait": 10.0},
}


def global_config_path() -> Path:
    explicit = os.environ.get("ARTVER_GLOBAL_CONFIG")
    if explicit:
        return Path(explicit)
    base = os.environ.get("XDG_CONFIG_HOME") or os.path.join(os.path.expanduser("~"), ".config")
    return Path(base) / "artver" / "config.yaml"


def level_path(artver_dir: Path | None, level: str) -> Path:
    if level == "global":
        return global_config_path()
    if artver_dir is None:
        raise ConfigError(f"the {level} config needs an artver repository (run `artver init`)")
    return artver_dir / ("config.local.yaml" if level == "local" else "config.yaml")


def _read(path: Path) -> str:
    """A config file's text, within its size limit (FileNotFoundError propagates)."""
    from artver.safetext import CONFIG_MAX, BadText, read_text

    try:
        return read_text(path, CONFIG_MAX, "config")
    except BadText as exc:
        raise ConfigError(f"{path}: {exc}") from None
    except FileNotFoundError:
        raise
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc.strerror or exc}") from None


def _load_yaml(path: Path, parse: Callable[[str, str], Any] | None = None) -> dict[str, Any]:
    """The mapping in a config file; `parse(key, text)` may replace plain YAML parsing (the
    repository's parse cache)."""
    try:
        text = _read(path)
    except FileNotFoundError:
        return {}
    if all(not line.strip() or line.lstrip().startswith("#") for line in text.splitlines()):
        return {}  # comments only: no parser needed
    from artver.safetext import BadText
    from artver.yamlio import YAMLParseError, load_yaml

    try:
        data = parse(f"config:{path}", text) if parse else load_yaml(text)
    except (YAMLParseError, BadText) as exc:
        raise ConfigError(f"{path}: {exc}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping at the top level")
    return data


def _merge(base: dict[str, Any], over: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in over.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        else:
            out[key] = value
    return out


# A plain class, not a dataclass: generating one costs start-up time on every command.
class Config:
    """The merged view of every level; `get("cache.type")` reads a dotted key."""

    __slots__ = ("data",)

    def __init__(self, data: dict[str, Any] | None = None) -> None:
        self.data = {} if data is None else data

    @classmethod
    def load(
        cls, artver_dir: Path | None, parse: Callable[[str, str], Any] | None = None
    ) -> Config:
        """Every level merged; `parse(key, text)` may replace plain YAML parsing."""
        merged = _merge({}, DEFAULTS)
        merged = _merge(merged, _load_yaml(global_config_path(), parse))
        if artver_dir is not None:
            merged = _merge(merged, _load_yaml(artver_dir / "config.yaml", parse))
            merged = _merge(merged, _load_yaml(artver_dir / "config.local.yaml", parse))
        redact.watch(merged)  # its secrets are masked in every message from now on
        return cls(merged)

    def get(self, key: str, default: Any = None) -> Any:
        node: Any = self.data
        for part in key.split("."):
            if not isinstance(node, Mapping) or part not in node:
                return default
            node = node[part]
        return node

    @property
    def link_types(self) -> list[str]:
        raw = self.get("cache.type", DEFAULTS["cache"]["type"])
        types = [t.strip() for t in raw.split(",")] if isinstance(raw, str) else list(raw or [])
        bad = [t for t in types if t not in LINK_TYPES]
        if bad or not types:
            raise ConfigError(
                f"cache.type must list link types from {', '.join(LINK_TYPES)}; got {raw!r}"
            )
        return types

    @property
    def jobs(self) -> int:
        """Threads (and processes) for local work: hashing, cache writes, checkout, scans.
        Not more than the cores: that work is syscalls on files, and extra threads only queue
        for the GIL (a cold add of 20,000 files on 2 cores: 1.2-1.7 s with 2 threads, 1.7-2.4 s
        with 8)."""
        raw = self.get("core.jobs")
        if raw is None:
            return min(32, usable_cores())
        try:
            jobs = int(raw)
        except (TypeError, ValueError):
            raise ConfigError(f"core.jobs must be a whole number; got {raw!r}") from None
        if jobs < 1:
            raise ConfigError(f"core.jobs must be at least 1; got {jobs}")
        return jobs

    @property
    def hermetic(self) -> bool:
        """`core.hermetic`: repro runs every stage with only its declared deps visible."""
        raw = self.get("core.hermetic", False)
        if not isinstance(raw, bool):
            raise ConfigError(f"core.hermetic must be true or false; got {raw!r}")
        return raw

    @property
    def shared(self) -> str | None:
        raw = self.get("cache.shared")
        if raw not in (None, "group"):
            raise ConfigError(f"cache.shared must be 'group' or unset; got {raw!r}")
        return raw

    @property
    def lock_wait(self) -> float:
        raw = os.environ.get("ARTVER_LOCK_WAIT", self.get("core.lock_wait", 10.0))
        try:
            return float(raw)
        except (TypeError, ValueError):
            raise ConfigError(f"core.lock_wait must be a number of seconds; got {raw!r}") from None


# Every key a user may set, with the check its value must pass (raising ConfigError).
# `remote.<name>.<option>` keys belong to the remotes and are checked there.
KNOWN_KEYS = (
    "cache.type",
    "cache.dir",
    "cache.shared",
    "core.hermetic",
    "core.jobs",
    "core.lock_wait",
    "core.remote",  # the default remote's name (`artver remote default NAME`)
)
CHECKS = {
    "cache.type": lambda c: c.link_types,
    "core.hermetic": lambda c: c.hermetic,
    "core.jobs": lambda c: c.jobs,
    "core.lock_wait": lambda c: c.lock_wait,
    "cache.shared": lambda c: c.shared,
}


def check_key(key: str) -> None:
    if key in KNOWN_KEYS or key == "core.no_git" or key.startswith("remote."):
        return
    raise ConfigError(
        f"unknown config key {key!r}",
        hint="Known keys: " + ", ".join(KNOWN_KEYS) + " (see docs/concepts.md).",
    )


def _coerce(value: str) -> Any:
    lowered = value.lower()
    if lowered in ("true", "false"):
        return lowered == "true"
    for kind in (int, float):
        try:
            return kind(value)
        except ValueError:
            pass
    return value


def set_value(path: Path, key: str, value: str | None) -> None:
    """Set (or with `value=None` remove) a dotted key in one config file, keeping comments."""
    from artver.yamlio import dump_roundtrip, load_roundtrip

    parts = key.split(".")
    if len(parts) < 2 or not all(parts):
        raise ConfigError(f"config keys look like section.option; got {key!r}")
    check_key(key)
    if value is not None and key in CHECKS:
        CHECKS[key](Config({parts[0]: {parts[1]: _coerce(value)}}))
    doc = None
    if path.exists():
        from artver.safetext import BadText
        from artver.yamlio import YAMLParseError

        try:
            doc = load_roundtrip(_read(path))
        except (YAMLParseError, BadText) as exc:
            raise ConfigError(f"{path}: {exc}") from None
    if doc is None:
        doc = {}
    if not isinstance(doc, dict):
        raise ConfigError(f"{path}: expected a mapping at the top level")
    node = doc
    for part in parts[:-1]:
        child = node.get(part)
        if child is None:
            if value is None:
                raise ConfigError(f"{key} is not set in {path}")
            child = node[part] = {}
        if not isinstance(child, dict):
            raise ConfigError(f"{'.'.join(parts[:-1])} in {path} is not a section")
        node = child
    if value is None:
        if parts[-1] not in node:
            raise ConfigError(f"{key} is not set in {path}")
        del node[parts[-1]]
        _drop_empty_sections(doc, parts[:-1])
    else:
        node[parts[-1]] = _coerce(value)
    path.parent.mkdir(parents=True, exist_ok=True)
    from artver.fsutil import atomic_write_text

    text = dump_roundtrip(doc) if doc else ""
    atomic_write_text(path, "" if text.strip() == "{}" else text)


def _drop_empty_sections(doc: dict, parts: list[str]) -> None:
    """After an unset, remove sections left empty, innermost first."""
    for depth in range(len(parts), 0, -1):
        parent = doc
        for part in parts[: depth - 1]:
            parent = parent[part]
        if parent[parts[depth - 1]]:
            return
        del parent[parts[depth - 1]]


def load_level(artver_dir: Path | None, level: str) -> Config:
    """One config file alone, for `artver config --global KEY` and friends."""
    data = _load_yaml(level_path(artver_dir, level))
    redact.watch(data)
    return Config(data)


def gpu_override() -> str | None:
    """ARTVER_GPUS: the GPUs artver may hand to stages (a count or a comma list of ids)."""
    return os.environ.get("ARTVER_GPUS")


def stale_temp_age() -> float:
    """ARTVER_STALE_TEMP_AGE: how many seconds a temp file of artver's must have gone untouched
    before a later command deletes it as left behind (default an hour, `fsutil.STALE_TEMP_AGE`)."""
    from artver.fsutil import STALE_TEMP_AGE

    raw = os.environ.get("ARTVER_STALE_TEMP_AGE")
    if raw is None:
        return STALE_TEMP_AGE
    try:
        value = float(raw)
    except ValueError:
        value = -1.0
    if not value >= 0:  # also refuses nan
        raise ConfigError(f"ARTVER_STALE_TEMP_AGE must be a number of seconds >= 0; got {raw!r}")
    return value
