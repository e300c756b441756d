"""Before `repro` runs: url imports (`artver import-url`) that the selected stages depend on
are checked against their sources, and updated when the source moved on, as `dvc repro` does
for import stages. The stage then runs because its dependency changed.

It runs under repro's repository lock (`update_url` sees that this process holds it). A frozen
stage's deps are left alone. With --dry-run nothing is updated: the imports behind
their sources are only named. A source that cannot be read (offline, no credentials) is named
too, and the run goes on with the version in the workspace.
"""

from __future__ import annotations

import os
import posixpath
from collections.abc import Callable
from pathlib import Path

from artver.ops.pipeline import Loaded
from artver.pointer import SUFFIX
from artver.repo import Repo


def import_deps(
    names: list[str],
    deps: dict[str, list[str]],
    frozen: set[str],
    import_of: Callable[[str], str | None],
) -> list[tuple[str, str]]:
    """[(tracked path of a url import, the first stage that needs it)] for the deps of the
    stages `names` that are not frozen; `import_of(dep)` is the path of the url import that
    holds `dep` (the dep itself, or a directory above it), or None. Pure."""
    found: dict[str, str] = {}
    for name in names:
        if name in frozen:
            continue
        for dep in deps.get(name, []):
            tracked = import_of(dep)
            if tracked is not None and tracked not in found:
                found[tracked] = name
    return list(found.items())


def update_url_deps(repo: Repo, loaded: Loaded, names: list[str], events, dry_run: bool) -> int:
    """Update the url imports the stages `names` need whose sources changed (events:
    "import updated", or with `dry_run` "import behind"; "import unchecked" for a source that
    cannot be read); how many were (or, with `dry_run`, would be) updated."""
    stages = loaded.pipeline.stages
    unproduced = loaded.pipeline.unproduced_deps()
    deps = {n: unproduced.get(n, []) for n in names}
    if not any(deps.values()):
        return 0
    frozen = {n for n in names if stages[n].frozen}

    seen: dict[str, str | None] = {}  # path -> the url import holding it (many deps share one)

    root = str(repo.root)

    def import_of(dep: str) -> str | None:
        if dep not in seen:
            pointer_file = f"{root}/{dep}{SUFFIX}"  # a plain string: one stat per dep
            if os.path.isfile(pointer_file):
                seen[dep] = dep if _is_url_import(repo, Path(pointer_file)) else None
            else:
                parent = posixpath.dirname(dep)
                seen[dep] = import_of(parent) if parent else None
        return seen[dep]

    wanted = import_deps(names, deps, frozen, import_of)
    if not wanted:
        return 0
    from artver.ops.import_url import check_url, update_url

    count = 0
    for tracked, stage in wanted:
        pointer_file = repo.root / (tracked + SUFFIX)
        changed, reason = check_url(repo, pointer_file)
        if changed is None:
            events(stage, "import unchecked", [tracked, reason])
        elif changed and dry_run:
            events(stage, "import behind", [tracked])
            count += 1
        elif changed and update_url(repo, pointer_file):
            events(stage, "import updated", [tracked])
            count += 1
    return count


def _is_url_import(repo: Repo, pointer_file: Path) -> bool:
    from artver.errors import PointerError

    try:
        source = repo.load_pointer(pointer_file).extra.get("source")
    except PointerError:
        return False
    return isinstance(source, dict) and "url" in source and "repo" not in source
