"""Benchmark group `api`: `artver.api.read` of one file inside the 20,000-file tracked directory
at an older revision, from a fresh clone, against `dvc.api.read` of the same file.

Per tool and round: a repo with the small files added as `data` (tag v1), one file changed and
added again (v2, HEAD), both versions pushed to a local-directory remote; then a `git clone` of
it, whose cache is empty. Timed: a fresh Python (each tool's own interpreter) that imports the
tool's API and reads one file inside `data` at v1, which both must find through v1's directory
manifest fetched from the remote, and stream from the remote. The bytes read are checked.
Target: under 0.5 s.
"""

from __future__ import annotations

import os
from pathlib import Path

import datasets
from group_pipelines import Under
from groups import Context, group, new_repo, timed
from harness import copy_real, git_commit_all, remove_tree, run
from report import GroupResult, RowSpec, Samples

READ = """\
import sys
import {module} as api
data = api.read(sys.argv[1], rev="v1", mode="rb")
sys.stdout.write(str(len(data)))
"""


@group("api", "artver.api.read of one file in a 20,000-file directory at v1 vs dvc.api.read")
def api_group(ctx: Context) -> GroupResult:
    src = datasets.small_dataset(ctx.work, ctx.scale, ctx.seed, ctx.log)
    count = datasets.small_count(ctx.scale)
    samples = Samples()
    root = ctx.runs / "api"
    target = sorted(p for p in src.rglob("*") if p.is_file())[count // 2]
    rel = "data/" + target.relative_to(src).as_posix()
    expected = str(target.stat().st_size)
    for r in range(ctx.rounds):
        ctx.start_round("api", r)
        clones = []
        for who in ("artver", "dvc") if r % 2 == 0 else ("dvc", "artver"):
            repo = new_repo(ctx, who, root / f"{who}-r{r}")
            store = root / f"{who}-r{r}-store"
            run([repo.exe, "remote", "add", "-d", "store", str(store)], repo.path, repo.env)
            copy_real(src, repo.path / "data")
            run([repo.exe, "add", "data"], repo.path, repo.env)
            git_commit_all(repo.path, "v1", tag="v1")
            run([repo.exe, "push"], repo.path, repo.env)  # v1's objects: push sends HEAD's
            changed = repo.path / rel
            os.chmod(changed, 0o644)
            if changed.is_symlink() or os.stat(changed).st_nlink > 1:
                data = changed.read_bytes()
                changed.unlink()
                changed.write_bytes(data)
            with open(changed, "ab") as fobj:
                fobj.write(b"v2\n")
            run([repo.exe, "add", "data"], repo.path, repo.env)
            git_commit_all(repo.path, "v2")
            run([repo.exe, "push"], repo.path, repo.env)
            clone = root / f"{who}-r{r}-clone"
            run(["git", "clone", "-q", str(repo.path), str(clone)], root, repo.env)
            clones.append((repo, clone))
        for repo, clone in clones:
            python = str(Path(repo.exe).parent / "python")
            module = "artver.api" if repo.who == "artver" else "dvc.api"
            reader = type(repo)(repo.who, repo.exe, clone, repo.env)
            timed(
                ctx,
                samples,
                "read",
                [reader],
                lambda _p, m=module, py=python: [py, "-c", READ.format(module=m), rel],
            )
            got = samples[(repo.who, "read")][-1].stdout.strip()
            if got != expected:
                raise RuntimeError(f"{repo.who} read {got} bytes of {rel}, expected {expected}")
    remove_tree(root)
    return GroupResult(
        name="api",
        title=f"read one file of a {count:,}-file directory at an older revision, fresh clone",
        samples=samples,
        rows=[RowSpec("api read, file inside the directory at v1", "read", (Under(0.5),))],
        floors=[],
        notes=["both read from a local-directory remote: the clone's cache is empty"],
    )
