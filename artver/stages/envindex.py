"""Where `uv` looks for packages when artver recreates an environment: uv's own settings, else
pip's, translated.

uv reads its own configuration (the `UV_*` variables, `uv.toml`) but never pip's. A machine set
up for pip (`PIP_INDEX_URL`, `pip.conf` with `index-url`, `extra-index-url`, `find-links`,
`no-index`) should recreate environments from the same place, so when uv has no index settings
of its own, pip's are handed to uv on its command line. Nothing is ever added beyond what is
configured: with neither configured, uv's default index applies.

`uv_index_args` is the decision, over values; `uv_index_args_here` gathers those values from
this machine's environment variables and configuration files.
"""

from __future__ import annotations

import configparser
import os
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

# The uv variables that say where packages come from: any of them set means uv is configured.
UV_INDEX_VARS = (
    "UV_INDEX_URL",
    "UV_DEFAULT_INDEX",
    "UV_INDEX",
    "UV_EXTRA_INDEX_URL",
    "UV_FIND_LINKS",
    "UV_NO_INDEX",
)
# The same settings inside a uv.toml (top level or its [pip] table).
UV_INDEX_KEYS = ("index-url", "default-index", "index", "extra-index-url", "find-links", "no-index")
PIP_KEYS = ("index-url", "extra-index-url", "find-links", "no-index")
TRUE = ("1", "true", "yes", "on", "y")


def uv_index_args(
    env: Mapping[str, str], pip_files: Sequence[str], uv_configured: bool = False
) -> list[str]:
    """uv command-line options that carry pip's index settings; [] when uv has its own.

    `env` is the process environment, `pip_files` the texts of pip's configuration files in
    pip's order (later ones override earlier ones), `uv_configured` whether a uv.toml sets an
    index. Pure.
    """
    if uv_configured or any(env.get(name) for name in UV_INDEX_VARS):
        return []
    settings: dict[str, str] = {}
    for text in pip_files:
        settings.update(_pip_file_settings(text))
    for key in PIP_KEYS:  # PIP_INDEX_URL etc. override every file, as in pip
        value = env.get("PIP_" + key.upper().replace("-", "_"))
        if value:
            settings[key] = value
    args: list[str] = []
    if settings.get("no-index", "").strip().lower() in TRUE:
        args.append("--no-index")
    if settings.get("index-url"):
        args += ["--index-url", settings["index-url"].strip()]
    for url in settings.get("extra-index-url", "").split():
        args += ["--extra-index-url", url]
    for place in settings.get("find-links", "").split():
        args += ["--find-links", place]
    if "--extra-index-url" in args and not env.get("UV_INDEX_STRATEGY"):
        # pip takes a version from whichever index has it; uv, by default, only from the
        # first index that knows the package, so an exact pin on a later index would fail.
        args += ["--index-strategy", "unsafe-best-match"]
    return args


def _pip_file_settings(text: str) -> dict[str, str]:
    """The index settings of one pip.conf: [global], overridden by [install]. Pure."""
    parser = configparser.RawConfigParser()
    try:
        parser.read_string(text)
    except configparser.Error:
        return {}  # pip would refuse the file too; its settings are not ours to guess
    found: dict[str, str] = {}
    for section in ("global", "install"):
        if parser.has_section(section):
            for key, value in parser.items(section):
                key = key.replace("_", "-")
                if key in PIP_KEYS:
                    found[key] = value
    return found


def pip_config_paths(env: Mapping[str, str]) -> list[Path]:
    """pip's configuration files, in the order pip reads them (site-wide, per user, the
    running interpreter's, then PIP_CONFIG_FILE's); absent files included."""
    if env.get("PIP_CONFIG_FILE") == os.devnull:
        return []  # pip's documented way to load no configuration file at all
    home = Path(env.get("HOME") or Path.home())
    xdg_dirs = env.get("XDG_CONFIG_DIRS") or "/etc/xdg"
    paths = [Path(d) / "pip" / "pip.conf" for d in xdg_dirs.split(os.pathsep) if d]
    paths.append(Path("/etc/pip.conf"))
    paths.append(home / ".pip" / "pip.conf")
    paths.append(Path(env.get("XDG_CONFIG_HOME") or home / ".config") / "pip" / "pip.conf")
    paths.append(Path(sys.prefix) / "pip.conf")
    if env.get("PIP_CONFIG_FILE"):
        paths.append(Path(env["PIP_CONFIG_FILE"]))
    return paths


def uv_config_sets_index(env: Mapping[str, str]) -> bool:
    """Whether a user or system uv.toml sets where packages come from."""
    import tomllib

    if env.get("UV_NO_CONFIG"):
        return False
    home = Path(env.get("HOME") or Path.home())
    candidates = [Path(env["UV_CONFIG_FILE"])] if env.get("UV_CONFIG_FILE") else []
    candidates.append(Path(env.get("XDG_CONFIG_HOME") or home / ".config") / "uv" / "uv.toml")
    xdg_dirs = env.get("XDG_CONFIG_DIRS") or "/etc/xdg"
    candidates += [Path(d) / "uv" / "uv.toml" for d in xdg_dirs.split(os.pathsep) if d]
    candidates.append(Path("/etc/uv/uv.toml"))
    for path in candidates:
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError, UnicodeDecodeError):
            continue
        tables = [data, data.get("pip") if isinstance(data.get("pip"), dict) else {}]
        if any(key in table for table in tables for key in UV_INDEX_KEYS):
            return True
    return False


def uv_index_args_here() -> list[str]:
    """`uv_index_args` for this process: its environment and this machine's config files."""
    env = dict(os.environ)
    texts = []
    for path in pip_config_paths(env):
        try:
            texts.append(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError):
            continue
    return uv_index_args(env, texts, uv_config_sets_index(env))
