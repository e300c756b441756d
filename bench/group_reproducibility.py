"""Benchmark group `verify`: what proving a stage deterministic costs, next to running it.

One stage, `summarise`, reads every file of the 20,000-file dataset (tracked with `artver
add`, so it is in the cache) and writes a small summary. Timed, alternating their order from
round to round:

- `artver repro -f summarise`: the plain run, in the workspace;
- `artver verify summarise`: a hermetic run from the cache plus the comparison with the lock;
  at most 1.2x the plain run plus placing its deps (the floor: `cp -al` of the dataset for
  hardlinks, `cp -r` for copies);
- a second `artver replay summarise --rev v1 --env current` (the first one, untimed, brought
  into the cache what the revision needs): at most 1.5x the plain run. `--env current`: the
  stage records no Python packages, so there is no environment to recreate.

Deps are hardlinked into the scratch directory (read-only) unless artver runs as root, where
it hardlinks them only when `cache.type` lists hardlink: so each round runs a repo with
`cache.type: reflink,hardlink,copy` (`linked`) and, as root, one with the default (`copied`).
DVC has no `verify` or `replay`: no DVC column.
"""

from __future__ import annotations

import os
import shlex
from pathlib import Path

import datasets
from groups import Context, group, new_repo, timed
from harness import copy_real, fresh_dir, git_commit_all, measure, remove_tree, run, settle
from report import FloorSpec, GroupResult, RowSpec, Samples

SUMMARISE = """\
import json, os, sys, zlib
top, out = sys.argv[1], sys.argv[2]
files = size = crc = 0
for folder, dirs, names in os.walk(top):
    dirs.sort()
    for name in sorted(names):
        with open(os.path.join(folder, name), "rb") as f:
            data = f.read()
        files += 1
        size += len(data)
        crc = zlib.crc32(data, crc)
with open(out, "w") as f:
    json.dump({"files": files, "bytes": size, "crc": crc}, f)
"""


class WithinSum:
    """artver at most `factor` times the sum of the medians of other samples."""

    def __init__(self, factor: float, *keys: tuple[str, str]) -> None:
        self.factor = factor
        self.keys = keys

    def describe(self) -> str:
        parts = " + ".join(op if who == "artver" else f"{op} floor" for who, op in self.keys)
        return f"<={self.factor:g}x ({parts})"

    def check(self, artver, dvc, samples) -> tuple[bool, str]:
        base = sum(samples.summary(who, op).median for who, op in self.keys)
        ratio = artver.median / base
        return ratio <= self.factor, f"{ratio:.2f}x"


def variants() -> list[tuple[str, dict[str, str]]]:
    """(name, repo config): deps hardlinked, and where artver runs as root with the default
    `cache.type` (reflink, copy), copied."""
    linked = ("linked", {"cache.type": "reflink,hardlink,copy"})
    return [linked, ("copied", {})] if os.geteuid() == 0 else [linked]


FLOORS = {"linked": ["cp", "-al"], "copied": ["cp", "-r"]}


def setup(ctx: Context, path: Path, config: dict[str, str], src: Path):
    repo = new_repo(ctx, "artver", path, config)
    copy_real(src, repo.path / "data")
    run(repo.cmd("add", "data"), repo.path, repo.env)
    (repo.path / "summarise.py").write_text(SUMMARISE)
    py = shlex.quote(ctx.tools.python)
    (repo.path / "artver.yaml").write_text(
        "stages:\n  summarise:\n"
        f"    cmd: {py} summarise.py data summary.json\n"
        "    deps: [summarise.py, data]\n    outs: [summary.json]\n"
    )
    run(repo.cmd("repro"), repo.path, repo.env)
    git_commit_all(repo.path, "pipeline", tag="v1")
    return repo


def replay_cmd(out: Path):
    return lambda p: p.cmd("replay", "summarise", "--rev", "v1", "--env", "current", "-o", str(out))


@group("verify", "verify and a second replay of one stage over 20,000 files vs repro -f", False)
def verify_group(ctx: Context) -> GroupResult:
    src = datasets.small_dataset(ctx.work, ctx.scale, ctx.seed, ctx.log)
    count = datasets.small_count(ctx.scale)
    samples = Samples()
    root = ctx.runs / "verify"
    for r in range(ctx.rounds):
        ctx.start_round("verify", r)
        for name, config in variants():
            repo = setup(ctx, root / f"r{r}-{name}", config, src)
            replays = fresh_dir(root / f"r{r}-{name}-replays")
            # Untimed: the first replay brings into the cache what the revision needs.
            run(replay_cmd(replays / "warm")(repo), repo.path, repo.env)
            steps = ["repro", "verify", "replay", "place"]
            for step in steps if r % 2 == 0 else reversed(steps):
                if step == "repro":
                    timed(
                        ctx,
                        samples,
                        f"repro-f-{name}",
                        [repo],
                        lambda p: p.cmd("repro", "-f", "summarise"),
                    )
                elif step == "verify":
                    timed(
                        ctx,
                        samples,
                        f"verify-{name}",
                        [repo],
                        lambda p: p.cmd("verify", "summarise"),
                    )
                elif step == "replay":
                    timed(ctx, samples, f"replay-{name}", [repo], replay_cmd(replays / "timed"))
                else:
                    dest = root / f"r{r}-{name}-placed"
                    settle()
                    cmd = [*FLOORS[name], str(repo.path / "data"), str(dest)]
                    samples.add("floor", name, measure(cmd, root))
                    remove_tree(dest)
            remove_tree(replays)
    remove_tree(root)
    rows = []
    for name, _ in variants():
        how = "deps hardlinked" if name == "linked" else "deps copied: root, default cache.type"
        rows += [
            RowSpec(f"repro -f of the stage ({how})", f"repro-f-{name}"),
            RowSpec(
                f"verify of the stage ({how})",
                f"verify-{name}",
                (WithinSum(1.2, ("artver", f"repro-f-{name}"), ("floor", name)),),
            ),
            RowSpec(
                f"second replay --env current ({how})",
                f"replay-{name}",
                (WithinSum(1.5, ("artver", f"repro-f-{name}")),) if name == "linked" else (),
            ),
        ]
    floors = [FloorSpec("linked", "placing the deps by hardlinks: cp -al of the dataset")]
    notes = [
        "DVC has no verify or replay: no DVC column",
        "replay with --env current: the stage records no Python packages to recreate",
    ]
    if os.geteuid() == 0:
        floors.append(FloorSpec("copied", "placing the deps by copies: cp -r of the dataset"))
        notes.append(
            "as root artver hardlinks deps only when cache.type lists hardlink (root could write "
            "through a hardlink into the cache): the `copied` rows pay a copy of every dep"
        )
    return GroupResult(
        name="verify",
        title=f"verify and replay of one stage reading {count:,} small files",
        samples=samples,
        rows=rows,
        floors=floors,
        notes=notes,
    )
