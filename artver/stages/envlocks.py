"""The pins of an environment lock file (`env.lock`): package name -> version.

The file's hash is what makes a stage stale; its pins, recorded beside the hash, only let
`status` say *which* pins moved (`env lock requirements.txt: numpy 1.26.4 -> 2.0.0`). So every
parser here is strict and pure: input it does not fully understand gives `None` (no pins), and
the reason falls back to `env lock file PATH changed`. Formats:

- pip requirements (`requirements*.txt`, `pip freeze`, pip-compile output with hashes, extras,
  markers and `\\` continuations): `name==1.0` -> `1.0`; other specifiers are kept as written;
- `uv.lock`, `poetry.lock`, `pylock.toml` (TOML `[[package]]` / `[[packages]]` tables);
- `Pipfile.lock` (JSON `default` and `develop` sections);
- conda `environment.yml` (`dependencies`: `name=ver[=build]`, and a `pip:` sublist) and
  `conda-lock.yml` (`package`: mappings with `name` and `version`);
- conda explicit lists (`@EXPLICIT`, then URLs ending `name-version-build.conda|.tar.bz2`).
"""

from __future__ import annotations

import json
import posixpath
import re
from typing import Any

PINS_MAX = 16 << 20  # a bigger file is not parsed: no pins, the hash still decides
SHOWN_MOVES = 5  # a status line, not an inventory

Pins = dict[str, str]

_NAME = r"[A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9])?"
_REQUIREMENT = re.compile(
    rf"(?P<name>{_NAME})\s*(?:\[(?P<extras>[^\]]*)\])?\s*"
    r"(?:(?P<url>@\s*\S+)|(?P<spec>(?:===|==|~=|!=|<=|>=|<|>)[^;]*?))?\s*"
    r"(?:;(?P<marker>.*))?$"
)
_COMMENT = re.compile(r"(^|\s)#.*$")
_CONDA_ARCHIVE = re.compile(r"(?P<name>.+)-(?P<version>[^-]+)-(?P<build>[^-]+)\.(?:conda|tar\.bz2)")


def normalise(name: str) -> str:
    """PyPI's name normalisation (PEP 503): `Foo_Bar.baz` and `foo-bar-baz` are one package."""
    return re.sub(r"[-_.]+", "-", name).lower()


def parse_pins(path: str, data: bytes) -> Pins | None:
    """The pins of the lock file at `path` (its name picks the format) with content `data`;
    None when the format is not recognised or the content is malformed."""
    if len(data) > PINS_MAX:
        return None
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return None
    name = posixpath.basename(path).lower()
    try:
        if name == "pipfile.lock" or name.endswith(".json"):
            return pipfile_lock(text)
        if any(line.strip() == "@EXPLICIT" for line in text.splitlines()):
            return conda_explicit(text)
        if name.endswith((".yml", ".yaml")):
            return conda_yaml(text)
        if name.endswith((".toml", ".lock")):
            found = toml_packages(text)
            if found is not None or name in ("uv.lock", "poetry.lock", "cargo.lock"):
                return found
        return requirements(text)
    except RecursionError:  # deeply nested input: malformed as far as pins go
        return None


# -- pip requirements ----------------------------------------------------------------------------
def requirements(text: str) -> Pins | None:
    """`name==version` lines. Options (`-r`, `-c`, `-e`, `--hash`, `--index-url`...), local
    paths and URLs without a name carry no pin and are skipped; any other line that is not a
    requirement makes the whole file unrecognised. A name listed twice (once per marker) is
    keyed `name; marker`."""
    found: list[tuple[str, str, str]] = []
    for line in _logical_lines(text):
        line = _COMMENT.sub("", line).strip()
        if not line or line.startswith("-") or line.startswith((".", "/", "~")):
            continue
        if "://" in line.split("@")[0] or line.startswith("git+"):
            continue  # a bare URL: no name to key it by
        line = re.sub(r"\s--?[a-z][\w-]*(?:[= ]\S+)?", "", " " + line).strip()  # --hash=...
        pin = _requirement(line)
        if pin is None:
            return None
        found.append(pin)
    return _keyed(found)


def _logical_lines(text: str) -> list[str]:
    """Lines with `\\`-continuations joined, as pip reads them."""
    lines: list[str] = []
    current = ""
    for raw in text.splitlines():
        if raw.endswith("\\"):
            current += raw[:-1] + " "
            continue
        lines.append(current + raw)
        current = ""
    if current:
        lines.append(current)
    return lines


def _requirement(text: str) -> tuple[str, str, str] | None:
    """(normalised name, version or specifier, marker) of one requirement, or None."""
    match = _REQUIREMENT.match(text.strip())
    if match is None:
        return None
    spec = (match.group("spec") or "").strip().replace(" ", "")
    url = match.group("url")
    if url:
        value = url.replace(" ", "")
    elif spec.startswith("==") and "," not in spec:
        value = spec.lstrip("=")
    else:
        value = spec or "*"
    marker = " ".join((match.group("marker") or "").split())
    return normalise(match.group("name")), value, marker


def _keyed(found: list[tuple[str, str, str]]) -> Pins:
    counts: dict[str, int] = {}
    for name, _, _ in found:
        counts[name] = counts.get(name, 0) + 1
    pins: Pins = {}
    for name, value, marker in found:
        key = name if counts[name] == 1 or not marker else f"{name}; {marker}"
        pins[key] = value if key not in pins else f"{pins[key]}, {value}"
    return dict(sorted(pins.items()))


# -- TOML lock files -----------------------------------------------------------------------------
def toml_packages(text: str) -> Pins | None:
    """`[[package]]` (uv.lock, poetry.lock, Cargo.lock) or `[[packages]]` (pylock.toml)
    tables with `name` and `version`. A name locked at several versions (uv forks) keeps all,
    joined with `, `; a package without a version (a uv workspace member) is `*`."""
    import tomllib

    try:
        doc = tomllib.loads(text)
    except (tomllib.TOMLDecodeError, ValueError):
        return None
    tables = doc.get("package", doc.get("packages"))
    if not isinstance(tables, list):
        return None
    versions: dict[str, list[str]] = {}
    for table in tables:
        if not isinstance(table, dict) or not isinstance(table.get("name"), str):
            return None
        version = table.get("version", "*")
        if not isinstance(version, str):
            return None
        versions.setdefault(normalise(table["name"]), []).append(version)
    return {name: ", ".join(sorted(set(v))) for name, v in sorted(versions.items())}


# -- Pipfile.lock --------------------------------------------------------------------------------
def pipfile_lock(text: str) -> Pins | None:
    """`{"default": {"name": {"version": "==1.0"}}, "develop": {...}}`; a package from Git or
    a path has no version and is keyed by its `ref` (or `*`)."""
    try:
        doc = json.loads(text)
    except ValueError:
        return None
    if not isinstance(doc, dict) or not ("default" in doc or "develop" in doc):
        return None
    pins: Pins = {}
    for section in ("default", "develop"):
        packages = doc.get(section, {})
        if not isinstance(packages, dict):
            return None
        for name, info in packages.items():
            if not isinstance(info, dict):
                return None
            value = info.get("version") or info.get("ref") or "*"
            if not isinstance(value, str):
                return None
            pins.setdefault(normalise(name), value.removeprefix("=="))
    return dict(sorted(pins.items()))


# -- conda -----------------------------------------------------------------------------------------
def conda_yaml(text: str) -> Pins | None:
    """An `environment.yml` (`dependencies`) or a `conda-lock.yml` (`package`)."""
    from artver.yamlio import YAMLParseError, load_yaml

    try:
        doc = load_yaml(text)
    except (YAMLParseError, ValueError):
        return None
    if not isinstance(doc, dict):
        return None
    if isinstance(doc.get("package"), list):
        return _conda_lock(doc["package"])
    deps = doc.get("dependencies")
    if not isinstance(deps, list):
        return None
    conda: list[tuple[str, str, str]] = []
    pip: list[tuple[str, str, str]] = []
    for dep in deps:
        if isinstance(dep, dict) and set(dep) == {"pip"} and isinstance(dep["pip"], list):
            for line in dep["pip"]:
                if not isinstance(line, str):
                    return None
                if line.strip().startswith("-"):
                    continue  # -r, -e, --index-url
                pin = _requirement(_COMMENT.sub("", line))
                if pin is None:
                    return None
                pip.append(pin)
        elif isinstance(dep, str):
            pin = _conda_spec(dep)
            if pin is None:
                return None
            conda.append(pin)
        else:
            return None
    pins = _keyed(conda)
    for key, value in _keyed(pip).items():
        pins["pip:" + key if key in pins else key] = value  # a name in both sections
    return dict(sorted(pins.items()))


def _conda_spec(spec: str) -> tuple[str, str, str] | None:
    """`[channel::]name[ op version[=build]]`: `numpy=1.26.4=py311h0` -> numpy,
    `1.26.4=py311h0`; `python>=3.10` keeps `>=3.10`; `numpy 1.26.4 build` reads as
    `1.26.4=build`."""
    spec = spec.strip().split("::")[-1]
    match = re.fullmatch(r"([A-Za-z0-9_][A-Za-z0-9._-]*)\s*(.*)", spec)
    if match is None:
        return None
    name, rest = match.group(1), match.group(2).strip()
    if "[" in rest:  # a bracketed match spec: keep it whole
        value = rest
    elif rest.startswith("=") and not rest.startswith("=="):
        value = rest[1:]
    elif rest.startswith("=="):
        value = rest[2:]
    else:
        value = "=".join(rest.split()) or "*"
    return name.lower(), value, ""


def _conda_lock(packages: list) -> Pins | None:
    """conda-lock's `package` list: one entry per platform; differing versions stay apart
    as `name (platform)`."""
    by_name: dict[str, dict[str, str]] = {}
    for item in packages:
        if not isinstance(item, dict):
            return None
        name, version = item.get("name"), item.get("version")
        if not isinstance(name, str) or not isinstance(version, str):
            return None
        manager = item.get("manager", "conda")
        key = name.lower() if manager != "pip" else normalise(name)
        by_name.setdefault(key, {})[str(item.get("platform", ""))] = version
    pins: Pins = {}
    for name, per_platform in by_name.items():
        if len(set(per_platform.values())) == 1:
            pins[name] = next(iter(per_platform.values()))
        else:
            for platform, version in per_platform.items():
                pins[f"{name} ({platform})"] = version
    return dict(sorted(pins.items()))


def conda_explicit(text: str) -> Pins | None:
    """`conda list --explicit` output: `@EXPLICIT`, then one archive URL a line (with an
    optional `#md5` or `#sha256:` suffix) -> name: `version=build`."""
    pins: list[tuple[str, str, str]] = []
    seen_marker = False
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line == "@EXPLICIT":
            seen_marker = True
            continue
        if not seen_marker:
            return None
        archive = line.split("#", 1)[0].rstrip("/").rsplit("/", 1)[-1]
        match = _CONDA_ARCHIVE.fullmatch(archive)
        if match is None:
            return None
        pins.append((match["name"].lower(), f"{match['version']}={match['build']}", ""))
    return _keyed(pins) if seen_marker else None


# -- what moved ------------------------------------------------------------------------------------
def _shown(old: str | None, new: str | None) -> tuple[str, str]:
    """Versions as shown: a conda `version=build` pair is cut to its versions when those
    differ (`1.26.4 -> 2.0.0`, not the builds)."""
    if old and new and "=" in old and "=" in new:
        old_v, new_v = old.split("=", 1)[0], new.split("=", 1)[0]
        if old_v and new_v and old_v != new_v:
            return old_v, new_v
    return old or "(none)", new or "(none)"


def pin_moves(old: Pins, new: Pins) -> list[str]:
    """`name OLD -> NEW` for every pin that moved, was added (`(none) -> NEW`) or removed;
    at most SHOWN_MOVES of them, then `and N more`. Pure."""
    moved = []
    for name in sorted(set(old) | set(new)):
        if old.get(name) != new.get(name):
            before, after = _shown(old.get(name), new.get(name))
            moved.append(f"{name} {before} -> {after}")
    if len(moved) > SHOWN_MOVES:
        moved = [*moved[:SHOWN_MOVES], f"and {len(moved) - SHOWN_MOVES} more"]
    return moved


def lock_file_change(path: str, old_pins: Any, new_pins: Any, missing: bool = False) -> str:
    """The one reason a changed env lock file gives: the pins that moved when both records
    have them, else `env lock file PATH changed` (or `missing`)."""
    if missing:
        return f"env lock file {path} missing"
    if isinstance(old_pins, dict) and isinstance(new_pins, dict):
        moves = pin_moves(old_pins, new_pins)
        if moves:
            return f"env lock {path}: " + ", ".join(moves)
    return f"env lock file {path} changed"
