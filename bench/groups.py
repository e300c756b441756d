"""Benchmark groups: each sets up fresh repos per round, times artver and DVC alternately.

A group is a function `(Context) -> GroupResult` registered with `@group(name, help)`;
`run.py --only NAME` selects groups by that name. To add one (pipelines, remotes, ...), write
a function that records `Samples` under ("artver", op), ("dvc", op) and ("floor", key), and
returns `RowSpec`s that pair them up with their targets.
"""

from __future__ import annotations

import os
import shlex
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import datasets
from harness import (
    CommandFailed,
    Measurement,
    Tools,
    base_env,
    copy_real,
    fresh_dir,
    git_commit_all,
    git_init,
    measure,
    read_floor,
    remove_tree,
    run,
    settle,
    stat_floor,
)
from report import Faster, FloorSpec, GroupResult, RowSpec, Samples, WithinFloor


@dataclass
class Context:
    tools: Tools
    work: Path
    scale: float
    rounds: int
    seed: int
    log: Callable[[str], None]
    loads: dict[str, list[float]] = field(default_factory=dict)
    remotes: tuple[str, ...] = ("local", "s3")  # the `remotes` group's kinds of remote

    @property
    def runs(self) -> Path:
        """Scratch repos of this process (two runs sharing one work dir must not collide)."""
        return self.work / "runs" / str(os.getpid())

    def start_round(self, group: str, r: int) -> None:
        """Log the round and note the 1-minute load average (other work on the box = noise)."""
        load = os.getloadavg()[0]
        self.loads.setdefault(group, []).append(load)
        self.log(f"[{group}] round {r + 1}/{self.rounds} (load average {load:.2f})")


@dataclass
class Group:
    name: str
    help: str
    run: Callable[[Context], GroupResult]
    needs_dvc: bool = True  # False: run.py need not install DVC for this group alone


GROUPS: dict[str, Group] = {}


def group(name: str, help: str, needs_dvc: bool = True):
    def register(fn: Callable[[Context], GroupResult]):
        GROUPS[name] = Group(name, help, fn, needs_dvc)
        return fn

    return register


# --- Repos under test ---------------------------------------------------------------------


@dataclass
class Repo:
    """A throwaway Git repo initialised for one tool (`who` is "artver" or "dvc")."""

    who: str
    exe: str
    path: Path
    env: dict[str, str]

    def cmd(self, op: str, *args: str) -> list[str]:
        """`<tool> <op> -q <args>`: the same command line for both tools."""
        return [self.exe, op, "-q", *args]

    def git_then(self, git_args: str, op: str) -> list[str]:
        """A shell line: a git command, then this tool's `op` (e.g. checkout after a switch)."""
        line = f"git -c advice.detachedHead=false {git_args} && {shlex.join(self.cmd(op))}"
        return ["sh", "-c", line]


def new_repo(ctx: Context, who: str, path: Path, config: dict[str, str] | None = None) -> Repo:
    """git init + `<tool> init` (+ config), committed; no data yet."""
    fresh_dir(path)
    git_init(path)
    env = base_env()
    exe = ctx.tools.artver if who == "artver" else ctx.tools.dvc
    if who == "dvc":
        # DVC keeps its state DB outside the repo; give every repo its own, so no run reuses it.
        env["DVC_SITE_CACHE_DIR"] = str(path.with_name(path.name + "-dvc-site-cache"))
        run([exe, "init", "-q"], path, env)
        run([exe, "config", "core.analytics", "false"], path, env)
        run([exe, "config", "core.check_update", "false"], path, env)
    else:
        run([exe, "init"], path, env)
    for key, value in (config or {}).items():
        run([exe, "config", key, value], path, env)
    git_commit_all(path, "init")
    return Repo(who, exe, path, env)


def timed(ctx: Context, samples: Samples, op: str, repos: list[Repo], make_cmd) -> None:
    """Time `make_cmd(repo)` in each repo, in the given order, flushing writes in between."""
    line = []
    for repo in repos:
        settle()
        m = measure(make_cmd(repo), repo.path, repo.env)
        samples.add(repo.who, op, m)
        line.append(f"{repo.who} {m.wall:.3f}s/{m.peak_mb:.0f}MB")
    ctx.log(f"  {op}: " + ", ".join(line))


def check_files(repo: Repo, root: Path, expected: dict, when: str) -> None:
    bad = datasets.files_match(root, expected)
    if bad:
        msg = f"{repo.who}: {len(bad)} files have wrong content {when}, e.g. {bad[0]}"
        raise CommandFailed([repo.exe, "checkout"], repo.path, 0, stderr=msg)


# --- Groups -------------------------------------------------------------------------------


@group("small", "20,000 files of 1-16 KiB: add, no-op re-add/status, 1% change, checkout")
def small_files(ctx: Context) -> GroupResult:
    src = datasets.small_dataset(ctx.work, ctx.scale, ctx.seed, ctx.log)
    count = datasets.small_count(ctx.scale)
    samples = Samples()
    root = ctx.runs / "small"
    for r in range(ctx.rounds):
        ctx.start_round("small", r)
        # Rounds keep their repos until the group ends: on these VMs, creating many files soon
        # after deleting many ran up to 10x slower (see docs/benchmarks.md).
        order = ["artver", "dvc"] if r % 2 == 0 else ["dvc", "artver"]
        repos = [new_repo(ctx, who, root / f"r{r}" / who) for who in order]
        for repo in repos:  # the real copy into each repo doubles as the "write 20k files" floor
            settle()
            samples.add("floor", "cp", measure(["cp", "-r", str(src), "data"], repo.path))
        settle()
        samples.add("floor", "read", read_floor(src))
        for repo in repos:
            read_floor(repo.path / "data")  # warm-up, untimed

        timed(ctx, samples, "add-cold", repos, lambda p: p.cmd("add", "data"))
        # The stat floor is taken right before each no-op operation that is held to it.
        samples.add("floor", "stat", stat_floor(src))
        timed(ctx, samples, "re-add", repos, lambda p: p.cmd("add", "data"))
        samples.add("floor", "stat", stat_floor(src))
        timed(ctx, samples, "status", repos, lambda p: p.cmd("status"))
        for repo in repos:
            git_commit_all(repo.path, "v1", tag="v1")

        changes = datasets.changed_files(ctx.scale, ctx.seed, r)
        originals = {rel: (src / rel).read_bytes() for rel in changes}
        for repo in repos:
            datasets.write_files(repo.path / "data", changes)
        timed(ctx, samples, "add-changed", repos, lambda p: p.cmd("add", "data"))
        for repo in repos:
            git_commit_all(repo.path, "v2", tag="v2")

        for tag, expected in (("v1", originals), ("v2", changes)):
            switch = f"checkout -q {tag}"
            timed(
                ctx,
                samples,
                f"checkout-{tag}",
                repos,
                lambda p, s=switch: p.git_then(s, "checkout"),
            )
            for repo in repos:
                check_files(repo, repo.path / "data", expected, f"after checkout of {tag}")
    remove_tree(root)

    # No-op status, repro and push are held to 5x DVC since the start-up machinery (an early
    # scan forked before the CLI was imported, a second parser for push) went (issue 16).
    faster_noop = (Faster(10), WithinFloor("stat", 3))
    status_noop = (Faster(5), WithinFloor("stat", 3))
    return GroupResult(
        name="small",
        title=f"{count:,} small files (1-16 KiB)",
        samples=samples,
        rows=[
            RowSpec("add (cold)", "add-cold", (Faster(5),)),
            RowSpec("add again, no change", "re-add", faster_noop),
            RowSpec("status, no change", "status", status_noop),
            RowSpec(f"add after 1% changed ({len(changes)} files)", "add-changed"),
            RowSpec("git checkout v1 + checkout", "checkout-v1", (Faster(3),)),
            RowSpec("git checkout v2 + checkout", "checkout-v2", (Faster(3),)),
        ],
        floors=[
            FloorSpec("read", "read floor (every byte once)"),
            FloorSpec("stat", "stat floor (process wall)", in_process=True),
            FloorSpec("cp", "cp -r floor (write every file once)"),
        ],
        notes=["checkout rows include the `git checkout` of the pointer files, for both tools"],
    )


def big_floor(kind: str, path: Path) -> Measurement:
    """`cp` of the file to a new file next to it, or one plain read of it."""
    settle()
    if kind == "read":
        return read_floor(path)
    return measure(["cp", path.name, path.name + ".cp-floor"], path.parent)


@group("big", "one 2 GiB file: add with artver's default and hardlink cache vs DVC")
def big_file(ctx: Context) -> GroupResult:
    src = datasets.big_dataset(ctx.work, ctx.scale, ctx.seed, ctx.log)
    size = src.stat().st_size
    samples = Samples()
    root = ctx.runs / "big"
    # Each artver variant runs right after the floor it is held to, so drift in machine load
    # hits both alike; the three blocks rotate from round to round.
    blocks = [
        ("cp", "artver", "add-default", {}),
        ("read", "artver", "add-hardlink", {"cache.type": "hardlink"}),
        (None, "dvc", "add", {}),
    ]
    for r in range(ctx.rounds):
        ctx.start_round("big", r)
        # Nothing is deleted between timed steps of a round: on these VMs, memory freed by a
        # deletion is fast to reuse for a few seconds and slow afterwards (free page reporting
        # hands it back to the host), which would favour whichever step came right after it.
        fresh_dir(root)
        k = r % len(blocks)
        for floor, who, op, config in blocks[k:] + blocks[:k]:
            repo = new_repo(ctx, who, root / op, config)
            copy_real(src, repo.path / src.name)
            settle()
            read_floor(repo.path / src.name)  # warm-up, untimed
            if floor:  # on the very file (warm, just read) that artver then adds
                samples.add("floor", floor, big_floor(floor, repo.path / src.name))
            timed(ctx, samples, op, [repo], lambda p: p.cmd("add", src.name))
            linked = (repo.path / src.name).stat().st_nlink > 1
            if config.get("cache.type") == "hardlink" and not linked:
                msg = "cache.type hardlink is set, but the added file is not hardlinked"
                raise CommandFailed(repo.cmd("add", src.name), repo.path, 0, stderr=msg)
    remove_tree(root)

    gib = size / (1 << 30)
    label = f"{gib:g} GiB" if gib >= 1 else f"{size >> 20} MiB"
    return GroupResult(
        name="big",
        title=f"one {label} file",
        samples=samples,
        rows=[
            RowSpec(
                f"add {label}, artver default", "add-default", (WithinFloor("cp", 1.5),), "add"
            ),
            RowSpec(
                f"add {label}, artver hardlink", "add-hardlink", (WithinFloor("read", 1.5),), "add"
            ),
        ],
        floors=[
            FloorSpec("cp", "cp floor (read+write, same fs)"),
            FloorSpec("read", "read floor"),
        ],
        notes=["the DVC column is `dvc add` with DVC's default config in both rows"],
    )


VERSION_REPS = 5


@group("version", "start-up: artver --version vs python -c pass vs dvc --version")
def version(ctx: Context) -> GroupResult:
    samples = Samples()
    cmds = [
        ("floor", "python", [ctx.tools.python, "-c", "pass"]),
        ("artver", "version", [ctx.tools.artver, "--version"]),
        ("dvc", "version", [ctx.tools.dvc, "--version"]),
    ]
    for r in range(ctx.rounds):
        ctx.start_round("version", r)
        for i in range(VERSION_REPS):
            k = (r * VERSION_REPS + i) % len(cmds)
            for who, op, cmd in cmds[k:] + cmds[:k]:
                samples.add(who, op, measure(cmd, ctx.work))
    return GroupResult(
        name="version",
        title="start-up",
        samples=samples,
        rows=[RowSpec("--version", "version", (WithinFloor("python", 3),))],
        floors=[FloorSpec("python", "`python -c pass` (artver's venv)")],
        notes=[f"{VERSION_REPS} runs per round"],
    )
