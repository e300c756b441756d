"""Benchmark group `scale`: one tracked directory of many small files (issue 19), artver and DVC.

The tree is `data/` with N files (default 1,000,000 x `--scale`) in 100 folders x 100
subfolders x N/10,000 files (below 10,000 files: one file per leaf, 100 folders and fewer
subfolders); each file holds 1-7 lines of seeded text. It is generated once per (N, seed) into
`<work>/data/scale-n<N>-seed<seed>/data` and kept between rounds and runs.

Rows, in one Git repo per tool: cold `add data` (after `<tool> init`, on a real copy of the
tree), no-op `status` right after, `status` and `add data` after one file deep in the tree got
one more line, and `checkout data` of a 10-file difference (10 files in different leaves edited,
added and committed; `git checkout HEAD~1 -- <pointer>`, then checkout; and back).

Each timed command runs under `harness.measure_tree`: its peak memory is the summed RSS of the
command's whole process tree (workers included), sampled every 20 ms.

Above 200,000 files DVC runs on a second tree of 100,000 files generated the same way (DVC's add
of a million files takes too long to repeat); below 500,000 files every round gets fresh repos
(so a fresh cold add), from 500,000 on one repo per tool is reused by all rounds (the cold add is
then measured once, in round 1), as copying the tree per round costs more than the rows.
"""

from __future__ import annotations

import os
import random
import sys
import time
from pathlib import Path

import datasets
from groups import Context, Repo, group, new_repo
from harness import (
    CommandFailed,
    Measurement,
    git,
    git_commit_all,
    measure,
    measure_tree,
    read_floor,
    remove_tree,
    run,
    settle,
    stat_floor,
)
from report import FloorSpec, GroupResult, RowSpec, Samples

FILES = 1_000_000  # at --scale 1
TOP, SUB = 100, 100  # folders x subfolders: 10,000 leaves
DVC_MAX = 200_000  # above this many files, DVC runs on DVC_FILES files
DVC_FILES = 100_000
REUSE_FROM = 500_000  # from this many files on, one repo per tool serves all rounds
TARGET_FILES = 1_000_000  # the targets hold at exactly this many files; else reported only
CHECKOUT_FILES = 10
LINES = (1, 7)
_WORD_TEXT = """\
alpha bravo charlie delta echo foxtrot golf hotel india juliet kilo lima mike november oscar
papa quebec romeo sierra tango uniform victor whiskey xray yankee zulu data model metric param
stage cache remote commit branch merge tensor vector matrix sample batch epoch loss score train
test valid label feature weight bias layer node edge graph
"""
WORDS = tuple(_WORD_TEXT.split())


# --- The tree -----------------------------------------------------------------------------


def file_count(scale: float) -> int:
    return max(1, round(FILES * scale))


def shape(n: int) -> tuple[int, int]:
    """(folders, subfolders per folder) for `n` files: 100 x 100 leaves, fewer below 10,000."""
    leaves = min(TOP * SUB, n)
    top = min(TOP, leaves)
    return top, leaves // top


def leaf_start(leaf: int, n: int, leaves: int) -> int:
    """Index of the first file in `leaf`: file i lives in leaf i * leaves // n."""
    return -(-leaf * n // leaves)


def rel_path(i: int, n: int) -> str:
    top, sub = shape(n)
    leaf = i * (top * sub) // n
    return f"d{leaf // sub:02d}/s{leaf % sub:02d}/f{i:07d}.txt"


def _text(rng: random.Random) -> bytes:
    lines = []
    for _ in range(rng.randint(*LINES)):
        words = rng.choices(WORDS, k=rng.randint(2, 10))
        lines.append(f"{' '.join(words)} {rng.getrandbits(32)}\n")
    return "".join(lines).encode()


def _write_new(dir_fd: int | None, name: str, data: bytes) -> None:
    fd = os.open(name, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o644, dir_fd=dir_fd)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
    finally:
        os.close(fd)


def _generate(top_dir: Path, n: int, seed: int, log) -> None:
    """Write the `n` files below `top_dir` (all folders first), leaf by leaf, one process."""
    rng = random.Random(seed)
    top, sub = shape(n)
    leaves = top * sub
    top_dir.mkdir(parents=True)
    for t in range(top):
        os.mkdir(top_dir / f"d{t:02d}")
        for s in range(sub):
            os.mkdir(top_dir / f"d{t:02d}" / f"s{s:02d}")
    t0 = time.perf_counter()
    step = max(100_000, n // 10)
    i, next_log = 0, step
    for leaf in range(leaves):
        end = leaf_start(leaf + 1, n, leaves)
        dir_fd = os.open(top_dir / f"d{leaf // sub:02d}" / f"s{leaf % sub:02d}", os.O_RDONLY)
        try:
            while i < end:
                _write_new(dir_fd, f"f{i:07d}.txt", _text(rng))
                i += 1
        finally:
            os.close(dir_fd)
        if i >= next_log and i < n:
            log(f"  {i:,} of {n:,} files ({time.perf_counter() - t0:.0f} s)")
            next_log += step
    log(f"  {n:,} files in {time.perf_counter() - t0:.1f} s")


def scale_dataset(work: Path, n: int, seed: int, log) -> Path:
    """Directory `.../data` holding the `n`-file tree (generated if missing)."""
    final = work / "data" / f"scale-n{n}-seed{seed}"
    if not final.exists():
        top, sub = shape(n)
        log(f"generating {n:,} files in {top} x {sub} folders (seed {seed})")
        tmp = final.with_name(f"{final.name}.tmp{os.getpid()}")
        remove_tree(tmp)
        _generate(tmp / "data", n, seed, log)
        datasets.publish(tmp, final)
    return final / "data"


def pick_files(n: int, k: int, rng: random.Random) -> list[str]:
    """`k` files (at most one per leaf), in different leaves picked by `rng`."""
    top, sub = shape(n)
    leaves = top * sub
    picked = []
    for leaf in sorted(rng.sample(range(leaves), min(k, leaves))):
        picked.append(
            rel_path(rng.randrange(leaf_start(leaf, n, leaves), leaf_start(leaf + 1, n, leaves)), n)
        )
    return picked


def append_lines(root: Path, rels: list[str], line: str) -> dict[str, tuple[bytes, bytes]]:
    """Append `line` to each file (as a new inode, safe if the old one is linked into a cache);
    returns {rel: (old bytes, new bytes)}."""
    out = {}
    for rel in rels:
        path = root / rel
        old = path.read_bytes()
        new = old + line.encode()
        path.unlink()
        _write_new(None, str(path), new)
        out[rel] = (old, new)
    return out


# --- Targets ------------------------------------------------------------------------------


class AtMost:
    """artver's median at most `seconds` and (if given) its peak tree memory at most `mb` MB."""

    def __init__(self, seconds: float, mb: float | None = None) -> None:
        self.seconds, self.mb = seconds, mb

    def describe(self) -> str:
        return f"<={self.seconds:g} s" + (f", <={self.mb:g} MB" if self.mb else "")

    def check(self, artver, dvc, samples) -> tuple[bool, str]:
        peak = artver.peak_mb or 0.0
        ok = artver.median <= self.seconds and (self.mb is None or peak <= self.mb)
        return ok, f"{artver.median:.2f} s, {peak:.0f} MB"


class ScaleResult(GroupResult):
    """At other sizes than TARGET_FILES the targets are shown but reported only: no PASS/FAIL
    (a wrong result still FAILs)."""

    reported_only: bool = False

    def evaluate(self) -> list[dict]:
        rows = super().evaluate()
        if self.reported_only:
            for spec, row in zip(self.rows, rows, strict=True):
                if spec.targets:
                    row["target"] += f" at {TARGET_FILES:,} files: reported only"
                    if spec.op not in self.failures:
                        row["passed"] = None
        return rows


# --- The group ----------------------------------------------------------------------------


def pointer(repo: Repo) -> str:
    return "data.artver" if repo.who == "artver" else "data.dvc"


def timed(ctx: Context, samples: Samples, op: str, repos: list[Repo], make_cmd) -> dict:
    """Time `make_cmd(repo)` in each repo (tree memory), `sync` before each; {who: Measurement}."""
    out: dict[str, Measurement] = {}
    for repo in repos:
        settle()
        m = measure_tree(make_cmd(repo), repo.path, repo.env)
        samples.add(repo.who, op, m)
        out[repo.who] = m
    ctx.log(f"  {op}: " + ", ".join(f"{w} {m.wall:.3f}s/{m.peak_mb:.0f}MB" for w, m in out.items()))
    return out


def check_checkout(repo: Repo, edits: dict, which: int, when: str, failures: dict, op: str):
    bad = [
        rel for rel, pair in edits.items() if (repo.path / "data" / rel).read_bytes() != pair[which]
    ]
    if not bad:
        return
    msg = f"{repo.who}: {len(bad)} of {len(edits)} files have wrong content {when}, e.g. {bad[0]}"
    if repo.who != "artver":
        raise CommandFailed([repo.exe, "checkout"], repo.path, 0, stderr=msg)
    failures.setdefault(op, msg)


def new_repos(
    ctx: Context, samples: Samples, base: Path, order: list[str], srcs: dict
) -> list[Repo]:
    """Fresh repos with a real copy of each tool's tree (timed as the cp floor), read once."""
    repos = [new_repo(ctx, who, base / who) for who in order]
    for repo in repos:
        settle()
        t0 = time.perf_counter()
        m = measure(["cp", "-r", str(srcs[repo.who]), "data"], repo.path)
        if repo.who == "artver":
            samples.add("floor", "cp", m)
        settle()
        m = read_floor(repo.path / "data")  # warm-up, untimed for the rows
        if repo.who == "artver":
            samples.add("floor", "read", m)
        took = time.perf_counter() - t0
        ctx.log(f"  {repo.who}: copied {srcs[repo.who].parent.name} and read it in {took:.1f} s")
    return repos


# The least any status can do: os.stat every file once, the top folders shared out between one
# forked process per usable core (what artver does), nothing hashed or kept.
STAT_CORES_SCRIPT = """
import os, sys
root = sys.argv[1]
tops = sorted(os.listdir(root))
workers = len(os.sched_getaffinity(0))
def work(share):
    for top in share:
        for folder, dirs, names in os.walk(os.path.join(root, top)):
            fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
            for name in names:
                os.stat(name, dir_fd=fd)
            os.close(fd)
pids = []
for i in range(1, workers):
    pid = os.fork()
    if pid == 0:
        work(tops[i::workers])
        os._exit(0)
    pids.append(pid)
work(tops[0::workers])
for pid in pids:
    os.waitpid(pid, 0)
"""


def _stat_floor_on_cores(path: Path):
    return measure([sys.executable, "-c", STAT_CORES_SCRIPT, str(path.resolve())], path.parent)


@group("scale", "one directory of 1,000,000 small files: add, status, checkout (artver, DVC)")
def scale_group(ctx: Context) -> GroupResult:
    n = file_count(ctx.scale)
    n_dvc = DVC_FILES if n > DVC_MAX else n
    counts = {"artver": n, "dvc": n_dvc}
    srcs = {who: scale_dataset(ctx.work, c, ctx.seed, ctx.log) for who, c in counts.items()}
    reuse = n >= REUSE_FROM
    samples = Samples()
    failures: dict[str, str] = {}
    root = ctx.runs / "scale"
    repos: list[Repo] = []
    for r in range(ctx.rounds):
        ctx.start_round("scale", r)
        order = ["artver", "dvc"] if r % 2 == 0 else ["dvc", "artver"]
        if not reuse or r == 0:
            # Rounds keep their repos until the group ends (see docs/benchmarks.md: creating
            # many files soon after deleting many ran slower on these VMs).
            repos = new_repos(ctx, samples, root / f"r{r}", order, srcs)
            timed(ctx, samples, "add-cold", repos, lambda p: p.cmd("add", "data"))
        else:  # the reused repos, clean since the last round's checkout back
            repos = sorted(repos, key=lambda p: order.index(p.who))
        settle()
        samples.add("floor", "stat", stat_floor(srcs["artver"]))
        samples.add("floor", "stat-cores", _stat_floor_on_cores(srcs["artver"]))
        got = timed(ctx, samples, "status-noop", repos, lambda p: p.cmd("status"))
        if "modified" in got["artver"].stdout.lower():
            failures.setdefault("status-noop", "artver status reports changes with none made")
        for repo in repos:
            git_commit_all(repo.path, f"data r{r}")

        # One more line in one file deep in the tree: status, then add (the new baseline).
        one = {}
        for repo in repos:
            rng = random.Random(f"{ctx.seed}:scale:{r}:one")
            rel = pick_files(counts[repo.who], 1, rng)[0]
            one[repo.who] = rel
            append_lines(repo.path / "data", [rel], f"changed in round {r + 1}\n")
        # Plain `status` (no -q): `dvc status -q` exits 1 when something changed.
        got = timed(ctx, samples, "status-one", repos, lambda p: [p.exe, "status"])
        out = got["artver"].stdout
        if one["artver"] not in out and "modified" not in out.lower():
            failures.setdefault("status-one", f"artver status does not report {one['artver']}")
        timed(ctx, samples, "add-one", repos, lambda p: p.cmd("add", "data"))
        for repo in repos:
            git_commit_all(repo.path, f"one file r{r}")

        # A 10-file difference: edit, add and commit (untimed), then check out both ways.
        edits = {}
        for repo in repos:
            rng = random.Random(f"{ctx.seed}:scale:{r}:ten")
            rels = pick_files(counts[repo.who], CHECKOUT_FILES, rng)
            edits[repo.who] = append_lines(repo.path / "data", rels, f"edited in round {r + 1}\n")
            run(repo.cmd("add", "data"), repo.path, repo.env)
            git_commit_all(repo.path, f"ten files r{r}")
        for op, rev, which, when in (
            ("checkout-old", "HEAD~1", 0, "after checkout of the older pointer"),
            ("checkout-new", "HEAD", 1, "after checkout back to the newer pointer"),
        ):
            for repo in repos:
                git(repo.path, "checkout", rev, "--", pointer(repo))
            timed(ctx, samples, op, repos, lambda p: p.cmd("checkout", "data"))
            for repo in repos:
                check_checkout(repo, edits[repo.who], which, when, failures, op)
    remove_tree(root)

    at_target = n == TARGET_FILES
    k = CHECKOUT_FILES
    cold = "add data (cold)" + (" [1 round]" if reuse else "")
    title = f"one directory of {n:,} small files (1-7 lines)"
    notes = [
        "peak MB here = the summed RSS of the command's whole process tree (every 20 ms), "
        "not the largest process",
        "status rows: `<tool> status -q` with no change, plain `<tool> status` after the change "
        "(`dvc status -q` exits 1 when something changed)",
        "checkout rows: `git checkout HEAD~1 -- <pointer>` (or back to HEAD) is untimed, "
        f"then `<tool> checkout -q data`; the {k} files are checked byte for byte",
    ]
    if n_dvc != n:
        title += f"; DVC at {n_dvc:,} files"
        notes.insert(
            0,
            f"DVC at {n_dvc:,} files (a second tree, generated the same way): the DVC columns "
            f"and the artver/DVC ratios compare {n:,} files with {n_dvc:,}",
        )
    if reuse:
        notes.append(
            f"at {REUSE_FROM:,} files and more, one repo per tool serves all rounds: the cold add "
            "is measured once (round 1); the other rows of each round build on the last (from "
            "round 2 on, the no-op status follows the last round's checkout back)"
        )
    if not at_target:
        notes.append(f"targets hold at {TARGET_FILES:,} files; at {n:,} they are reported only")
    result = ScaleResult(
        name="scale",
        title=title,
        samples=samples,
        rows=[
            RowSpec(cold, "add-cold", (AtMost(60, 300),)),
            RowSpec("status, no change", "status-noop", (AtMost(2),)),
            RowSpec("status after 1 file changed", "status-one", (AtMost(2, 200),)),
            RowSpec("add after 1 file changed", "add-one", (AtMost(2, 200),)),
            RowSpec(f"checkout of a {k}-file difference (older)", "checkout-old", (AtMost(2),)),
            RowSpec(f"checkout of a {k}-file difference (back)", "checkout-new", (AtMost(2),)),
        ],
        floors=[
            FloorSpec("cp", f"cp -r of the {n:,}-file tree (write every file once)"),
            FloorSpec("read", "read floor (every byte once)"),
            FloorSpec("stat", "stat floor (process wall)", in_process=True),
            FloorSpec("stat-cores", "stat floor, one process per core (process wall)"),
        ],
        notes=notes,
        failures=failures,
    )
    result.reported_only = not at_target
    return result
