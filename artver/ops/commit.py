"""`artver commit`: record the current content of tracked paths into their pointers."""

from __future__ import annotations

from pathlib import Path

from artver.ops.add import AddResult, cache_path, record
from artver.repo import Repo


def commit(repo: Repo, targets: list[str], cwd: Path) -> list[AddResult]:
    with repo.lock("artver commit"):
        pointers = repo.pointers(targets, cwd)
        outputs = []
        for pointer in pointers:
            path = pointer.data_path()
            outputs.append((path, cache_path(repo, path, repo.display(path, cwd))))
        return [record(repo, path, out) for path, out in outputs]
