"""Benchmark group `get`: `artver get` of the 20,000-small-file directory from a registry
repository (a local Git repository whose default remote is a local directory) against
`dvc get` of the same data from a DVC registry made with `dvc add` and `dvc push`.

Each registry's own cache is deleted after the push, so both tools read every object from
the remote, as a user does who gets data from a registry on a shared drive. Both run in a
plain directory outside any repository (artver then fetches through a scratch cache beside
the output). The floor is `cp -r` of the remote directory: writing every file once.
"""

from __future__ import annotations

import subprocess

import datasets
from groups import Context, group, new_repo
from harness import (
    CommandFailed,
    copy_real,
    fresh_dir,
    git_commit_all,
    measure,
    read_floor,
    remove_tree,
    run,
    settle,
)
from report import Faster, FloorSpec, GroupResult, RowSpec, Samples, WithinFloor


def _registry(ctx: Context, who: str, path, store, src):
    """A registry repository for `who` holding `src` as `data`, pushed to `store`, its cache
    gone."""
    repo = new_repo(ctx, who, path)
    copy_real(src, repo.path / "data")
    run(repo.cmd("add", "data"), repo.path, repo.env)
    run([repo.exe, "remote", "add", "-d", "store", str(store)], repo.path, repo.env)
    run(repo.cmd("push"), repo.path, repo.env)
    git_commit_all(repo.path, "data")
    remove_tree(repo.path / (".artver" if who == "artver" else ".dvc") / "cache")
    return repo


def _same(src, out) -> str | None:
    proc = subprocess.run(["diff", "-rq", str(src), str(out)], capture_output=True, text=True)
    return None if proc.returncode == 0 else (proc.stdout or proc.stderr).splitlines()[0]


@group("get", "get of the 20,000-file directory from a registry with a directory remote vs DVC")
def get_group(ctx: Context) -> GroupResult:
    src = datasets.small_dataset(ctx.work, ctx.scale, ctx.seed, ctx.log)
    count = datasets.small_count(ctx.scale)
    samples = Samples()
    root = ctx.runs / "get"
    failures: dict[str, str] = {}
    for r in range(ctx.rounds):
        ctx.start_round("get", r)
        base = fresh_dir(root / f"r{r}")
        regs = {
            who: _registry(ctx, who, base / f"reg-{who}", base / f"store-{who}", src)
            for who in ("artver", "dvc")
        }
        plain = fresh_dir(base / "plain")
        settle()
        samples.add("floor", "cp", measure(["cp", "-r", str(base / "store-artver"), "cp"], plain))
        order = ["artver", "dvc"] if r % 2 == 0 else ["dvc", "artver"]
        for who in order:
            repo = regs[who]
            read_floor(base / f"store-{who}")  # warm-up, untimed
            settle()
            cmd = [repo.exe, "get", "-q", str(repo.path), "data", "-o", f"out-{who}"]
            m = measure(cmd, plain, repo.env)
            samples.add(who, "get", m)
            ctx.log(f"  get: {who} {m.wall:.3f}s/{m.peak_mb:.0f}MB")
            bad = _same(src, plain / f"out-{who}")
            if bad is not None:
                if who == "artver":
                    failures["get"] = bad
                else:
                    raise CommandFailed(cmd, plain, 0, stderr=f"dvc get differs: {bad}")
        remove_tree(base)
    remove_tree(root)
    return GroupResult(
        name="get",
        title=f"get of {count:,} small files (1-16 KiB) from a registry repository",
        samples=samples,
        rows=[
            RowSpec(
                f"get {count:,} files, directory remote", "get", (Faster(3), WithinFloor("cp", 3))
            )
        ],
        floors=[FloorSpec("cp", "cp -r of the remote directory (write every file once)")],
        notes=[
            "both registries' caches are deleted after the push: every object comes from the "
            "remote; both tools run outside any repository",
        ],
        failures=failures,
    )
