"""A recorded Python environment, rebuilt: a virtual environment with the recorded Python version
and exactly the recorded package versions, made with `uv` and cached by what it holds.

`python_for(record, cache_dir)` returns the `bin` directory of that environment, to be put first
on a stage's PATH (`artver replay --env recreate`). The environment lives in
`cache_dir/envs/<key>`, where the key hashes the Python version, the packages installed and this
machine's platform: a second call with the same environment stats two paths and returns.

Building is atomic. uv creates the environment in a temporary directory next to its final place
(relocatable, so the entry-point scripts it writes keep working after the move), installs the
packages there, and a rename publishes it; a build that is killed leaves only a temporary
directory, removed by the next build, and never a half environment that counts as ready. Two
builds of the same environment may run at once: the first rename wins, the other build discards
its copy.

What is installed: every recorded distribution at its recorded version, with `--no-deps` (the
record lists the whole environment, so resolving again could only add or move packages), except:
- `pip`: the installer, not a library; uv installs here, and `uv venv` makes no pip. (setuptools
  and wheel *are* installed as recorded: stages import them, e.g. `pkg_resources`.)
- `artver`: the tool replaying the stage, often an editable checkout no index has.
- `pkg-resources==0.0.0`: a phantom distribution Debian's patched pip used to write.
- the names the caller passes in `skip` (e.g. the workspace's own project, installed editable
  from the checkout when the lock was recorded; `project_names` reads them).
Interpreters are never downloaded: uv may use only Pythons installed here (on PATH, or a pyenv
or asdf install of that exact version). Packages come from where uv is configured to take them
(`UV_INDEX_URL`, `UV_FIND_LINKS`, `UV_NO_INDEX`, uv.toml), else from pip's settings
(`PIP_INDEX_URL`, pip.conf's index-url/extra-index-url/find-links/no-index): see
`stages.envindex`.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import re
import sys
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from artver.errors import ArtverError

FORMAT = 1  # bump when the layout of a built environment changes: old ones are not reused
MARKER = "artver-env.json"  # written last inside an environment, before it is published
BIN = "Scripts" if os.name == "nt" else "bin"
ALWAYS_SKIPPED = ("pip", "artver")
PHANTOMS = {("pkg-resources", "0.0.0")}
# A recorded name or version goes onto uv's command line: anything else (an option, a path, a
# URL) in a lock file from someone else's commit must not.
NAME_RE = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9])?")
VERSION_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9.+!_-]*")
PYTHON_RE = re.compile(r"\d+\.\d+(?:\.\d+)?(?:(?:a|b|rc)\d+)?\+?")
CURRENT_HINT = "`--env current` runs the stage with this machine's Python and packages."


class EnvRecreateError(ArtverError):
    """The recorded environment cannot be rebuilt here; `missing` names what cannot be had."""

    def __init__(self, message: str, missing: Iterable[str] = (), *, hint: str | None = None):
        super().__init__(message, hint=hint or CURRENT_HINT)
        self.missing = list(missing)


@dataclass(frozen=True)
class EnvPlan:
    """What to build: a Python version and pinned requirements, and the cache key of both."""

    python: str
    requirements: tuple[str, ...]  # "name==version", by normalized name
    skipped: tuple[str, ...]  # recorded but not installed (see the module docstring)
    key: str  # the directory name under envs/

    def to_dict(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "python": self.python,
            "requirements": list(self.requirements),
            "skipped": list(self.skipped),
        }


def normalize(name: str) -> str:
    """A distribution name as indexes compare them (PEP 503). Pure."""
    return re.sub(r"[-_.]+", "-", name).lower()


def plan(record: dict[str, Any], skip: Iterable[str] = (), machine: str | None = None) -> EnvPlan:
    """What a lock's env record asks to be built; refuses a record without a package list and
    names or versions that are not plain names and versions. Pure (`machine` defaults to this
    machine's architecture, which is part of the key: a cache may be shared between machines)."""
    python = record.get("python") if isinstance(record, dict) else None
    python = python if isinstance(python, dict) else {}
    version, packages = python.get("version"), python.get("packages")
    if not packages or not isinstance(packages, dict) or not isinstance(version, str):
        raise EnvRecreateError(
            "cannot recreate the recorded Python environment: the lock records no Python "
            "package list for it (it predates package recording, or the stage has no "
            "`env: {python: true}`)"
        )
    if not PYTHON_RE.fullmatch(version):
        raise EnvRecreateError(f"cannot recreate Python {version!r}: not a Python version")
    skipped_names = {normalize(n) for n in (*ALWAYS_SKIPPED, *skip)}
    requirements: dict[str, str] = {}
    skipped: list[str] = []
    for name, pinned in sorted(packages.items()):
        if not (
            isinstance(name, str)
            and isinstance(pinned, str)
            and NAME_RE.fullmatch(name)
            and VERSION_RE.fullmatch(pinned)
        ):
            raise EnvRecreateError(
                f"cannot recreate the recorded Python environment: package {name!r} "
                f"version {pinned!r} is not a distribution name and version"
            )
        norm = normalize(name)
        if norm in skipped_names or (norm, pinned) in PHANTOMS:
            skipped.append(f"{norm}=={pinned}")
        else:
            requirements.setdefault(norm, f"{norm}=={pinned}")
    reqs = tuple(requirements[n] for n in sorted(requirements))
    ident = {
        "format": FORMAT,
        "python": version,
        "requirements": reqs,
        "machine": machine or f"{sys.platform}-{platform.machine()}",
    }
    digest = hashlib.sha256(json.dumps(ident, sort_keys=True).encode()).hexdigest()[:20]
    return EnvPlan(version, reqs, tuple(skipped), f"py{version}-{digest}")


def is_ready(env_dir: Path) -> bool:
    """A published environment whose interpreter still resolves (its base Python may have been
    uninstalled since: then it is rebuilt)."""
    return (env_dir / MARKER).is_file() and (env_dir / BIN / "python").exists()


def python_for(record: dict[str, Any], cache_dir: Path, *, skip: Iterable[str] = ()) -> str:
    """The bin directory of a virtual environment matching `record` (a lock's env record):
    found in `cache_dir/envs/`, else built there with uv. Raises EnvRecreateError naming the
    Python version or the `name==version`s that cannot be had; nothing is left behind then."""
    wanted = plan(record, skip)
    final = Path(cache_dir) / "envs" / wanted.key
    if not is_ready(final):
        from artver.stages.envuv import build

        build(wanted, final)
    return str(final / BIN)


def project_names(root: Path) -> set[str]:
    """The distribution names a checkout at `root` declares (pyproject.toml [project] name,
    setup.cfg [metadata] name): a record made where the project was installed editable lists
    it, and no index has that build, so the caller may pass these as `skip`."""
    import configparser
    import tomllib

    names: set[str] = set()
    try:
        data = tomllib.loads((root / "pyproject.toml").read_text(encoding="utf-8"))
        project = data.get("project")
        if isinstance(project, dict) and isinstance(project.get("name"), str):
            names.add(normalize(project["name"]))
    except (OSError, ValueError, UnicodeDecodeError):
        pass
    parser = configparser.RawConfigParser()
    try:
        parser.read_string((root / "setup.cfg").read_text(encoding="utf-8"))
        if parser.has_option("metadata", "name"):
            names.add(normalize(parser.get("metadata", "name")))
    except (OSError, configparser.Error, UnicodeDecodeError):
        pass
    return names
