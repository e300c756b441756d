"""Pipeline benchmarks: `artver repro` vs `dvc repro` on the same pipelines, same harness.

Three groups (select them with `--only pipeline,wide,plan`):

- pipeline: three chained stages over the 20,000-file dataset (scaled by --scale): stage 1 reads
  every file of `data/` and writes a summary, stages 2 and 3 turn it into small files. Cold
  repro, no-op repro, status and repro after one data file changed.
- wide: eight independent stages that each `sleep 1` and write a file, and a ninth that joins
  them. artver with `repro -j 4`, DVC with `dvc repro` (it runs stages one at a time).
- plan: 1,000 generated stages (not scaled): `artver repro --dry-run` and `status` before any
  stage ran (against `dvc status`), and again once all of them ran.

Both tools read the very same pipeline file (`artver.yaml` for one, `dvc.yaml` for the other):
the schema is DVC's.
"""

from __future__ import annotations

import shlex
from pathlib import Path

import datasets
from groups import Context, Repo, group, new_repo, timed
from harness import (
    CommandFailed,
    copy_real,
    fresh_dir,
    git_commit_all,
    measure,
    read_floor,
    remove_tree,
    settle,
    stat_floor,
)
from report import Faster, FloorSpec, GroupResult, RowSpec, Samples

# --- targets ------------------------------------------------------------------------------


class Under:
    """artver's median below an absolute number of seconds (no DVC figure needed)."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds

    def describe(self) -> str:
        return f"<{self.seconds:g} s"

    def check(self, artver, dvc, samples) -> tuple[bool, str]:
        return artver.median < self.seconds, f"{artver.median:.2f} s"


def pipeline_file(who: str) -> str:
    return "artver.yaml" if who == "artver" else "dvc.yaml"


def write_text(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


# --- (a) three chained stages over the dataset ----------------------------------------------

SUMMARISE = """\
import json, os, sys, zlib
top, out = sys.argv[1], sys.argv[2]
files = size = 0
crc = 0
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

STATS = """\
import json, sys
summary = json.load(open(sys.argv[1]))
threshold = float(open("params.yaml").read().split("threshold:")[1].split()[0])
mean = summary["bytes"] / summary["files"]
json.dump({**summary, "mean": mean, "above": mean > threshold}, open(sys.argv[2], "w"))
"""

REPORT = """\
import json, sys
s = json.load(open(sys.argv[1]))
with open(sys.argv[2], "w") as f:
    f.write(f"files={s['files']} bytes={s['bytes']} crc={s['crc']} mean={s['mean']:.1f}\\n")
"""


def chain_yaml(python: str) -> str:
    py = shlex.quote(python)
    return f"""\
stages:
  summarise:
    cmd: {py} summarise.py data summary.json
    deps: [summarise.py, data]
    outs: [summary.json]
  stats:
    cmd: {py} stats.py summary.json stats.json
    deps: [stats.py, summary.json]
    params: [stats.threshold]
    outs: [stats.json]
  report:
    cmd: {py} report.py stats.json report.txt
    deps: [report.py, stats.json]
    outs: [report.txt]
"""


def setup_chain(ctx: Context, repo: Repo, src: Path) -> None:
    write_text(repo.path / ".gitignore", "/data\n")  # the dataset is a plain dep, not in Git
    copy_real(src, repo.path / "data")
    write_text(repo.path / "summarise.py", SUMMARISE)
    write_text(repo.path / "stats.py", STATS)
    write_text(repo.path / "report.py", REPORT)
    write_text(repo.path / "params.yaml", "stats:\n  threshold: 4096\n")
    write_text(repo.path / pipeline_file(repo.who), chain_yaml(ctx.tools.python))
    git_commit_all(repo.path, "pipeline")


def read_report(repo: Repo) -> str:
    path = repo.path / "report.txt"
    if not path.is_file():
        raise CommandFailed(repo.cmd("repro"), repo.path, 0, stderr="report.txt was not written")
    return path.read_text()


def out_mtimes(repo: Repo) -> dict[str, int]:
    return {n: (repo.path / n).stat().st_mtime_ns for n in ("summary.json", "report.txt")}


def same_reports(repos: list[Repo], when: str, files: int) -> str:
    texts = {repo.who: read_report(repo) for repo in repos}
    first = next(iter(texts.values()))
    if len(set(texts.values())) != 1 or not first.startswith(f"files={files} "):
        msg = f"report.txt {when} differs or is wrong: {texts} (expected files={files})"
        raise CommandFailed(repos[0].cmd("repro"), repos[0].path, 0, stderr=msg)
    return first


@group("pipeline", "3 chained stages over the 20,000 files: cold, no-op, after 1 file changed")
def chain(ctx: Context) -> GroupResult:
    src = datasets.small_dataset(ctx.work, ctx.scale, ctx.seed, ctx.log)
    count = datasets.small_count(ctx.scale)
    samples = Samples()
    root = ctx.runs / "pipeline"
    for r in range(ctx.rounds):
        ctx.start_round("pipeline", r)
        fresh_dir(root)
        order = ["artver", "dvc"] if r % 2 == 0 else ["dvc", "artver"]
        repos = [new_repo(ctx, who, root / who) for who in order]
        for repo in repos:
            setup_chain(ctx, repo, src)
        settle()
        samples.add("floor", "stat", stat_floor(src))
        samples.add("floor", "startup", measure([ctx.tools.artver, "--version"], root))
        py, tmp = shlex.quote(ctx.tools.python), shlex.quote(str(root / "floor"))
        commands = (
            f"mkdir -p {tmp} && {py} summarise.py data {tmp}/s.json"
            f" && {py} stats.py {tmp}/s.json {tmp}/t.json && {py} report.py {tmp}/t.json {tmp}/r"
        )
        for repo in repos:
            read_floor(repo.path / "data")  # warm-up, untimed
        settle()
        samples.add("floor", "cmds", measure(["sh", "-c", commands], repos[0].path))

        timed(ctx, samples, "cold", repos, lambda p: p.cmd("repro"))
        before = same_reports(repos, "after the cold repro", count)
        mtimes = {repo.who: out_mtimes(repo) for repo in repos}
        timed(ctx, samples, "noop", repos, lambda p: p.cmd("repro"))
        timed(ctx, samples, "status", repos, lambda p: p.cmd("status"))
        for repo in repos:
            if out_mtimes(repo) != mtimes[repo.who]:
                msg = "a no-op repro rewrote summary.json or report.txt"
                raise CommandFailed(repo.cmd("repro"), repo.path, 0, stderr=msg)

        change = dict(list(datasets.changed_files(ctx.scale, ctx.seed, r).items())[:1])
        for repo in repos:
            datasets.write_files(repo.path / "data", change)
        timed(ctx, samples, "changed", repos, lambda p: p.cmd("repro"))
        if same_reports(repos, "after one file changed", count) == before:
            msg = "report.txt did not change after a data file changed"
            raise CommandFailed(repos[0].cmd("repro"), repos[0].path, 0, stderr=msg)
    remove_tree(root)

    return GroupResult(
        name="pipeline",
        title=f"3-stage pipeline over {count:,} files (1-16 KiB)",
        samples=samples,
        rows=[
            RowSpec("cold repro (3 stages run)", "cold"),
            RowSpec("no-op repro (all up to date)", "noop", (Faster(5),)),
            RowSpec("status, all up to date", "status"),
            RowSpec("repro after 1 data file changed (3 run)", "changed"),
        ],
        floors=[
            FloorSpec("cmds", "the 3 stage commands alone, in sequence"),
            FloorSpec("stat", "stat floor of data/ (process wall)", in_process=True),
            FloorSpec("startup", "`artver --version` (start-up)"),
        ],
        notes=[
            "stage 1 reads every file of data/ (a plain dep, not `add`ed); stages 2-3 are tiny",
            "both tools read the same pipeline file (artver.yaml / dvc.yaml) and commands",
        ],
    )


# --- (b) eight independent stages and a join -------------------------------------------------

WIDE = 8
JOBS = 4


def wide_yaml() -> str:
    lines = ["stages:"]
    for i in range(1, WIDE + 1):
        lines += [
            f"  w{i}:",
            f"    cmd: sleep 1 && echo {i} > w{i}.txt",
            f"    outs: [w{i}.txt]",
        ]
    files = [f"w{i}.txt" for i in range(1, WIDE + 1)]
    lines += [
        "  join:",
        f"    cmd: cat {' '.join(files)} > joined.txt",
        f"    deps: [{', '.join(files)}]",
        "    outs: [joined.txt]",
    ]
    return "\n".join(lines) + "\n"


@group("wide", "8 independent `sleep 1` stages + a join: artver repro -j 4 vs dvc repro")
def wide(ctx: Context) -> GroupResult:
    samples = Samples()
    root = ctx.runs / "wide"
    expected = "".join(f"{i}\n" for i in range(1, WIDE + 1))
    variants = [("artver", "j4"), ("artver", "j1"), ("dvc", "seq")]
    for r in range(ctx.rounds):
        ctx.start_round("wide", r)
        fresh_dir(root)
        k = r % len(variants)
        for who, op in variants[k:] + variants[:k]:
            repo = new_repo(ctx, who, root / op)
            write_text(repo.path / pipeline_file(who), wide_yaml())
            git_commit_all(repo.path, "pipeline")
            args = {"j4": ["-j", str(JOBS)], "j1": ["-j", "1"], "seq": []}[op]
            timed(ctx, samples, op, [repo], lambda p, a=args: p.cmd("repro", *a))
            got = (repo.path / "joined.txt").read_text()
            if got != expected:
                msg = f"joined.txt is {got!r}, expected {expected!r}"
                raise CommandFailed(repo.cmd("repro"), repo.path, 0, stderr=msg)
        settle()
        samples.add("floor", "sleep", measure(["sh", "-c", "sleep 1 && sleep 1"], root))
    remove_tree(root)

    return GroupResult(
        name="wide",
        title=f"wide pipeline: {WIDE} independent `sleep 1` stages + 1 join",
        samples=samples,
        rows=[
            RowSpec(f"repro, artver -j {JOBS} vs dvc repro", "j4", (Faster(3),), "seq"),
            RowSpec("repro, artver -j 1 vs dvc repro", "j1", (), "seq"),
        ],
        floors=[FloorSpec("sleep", f"2 x sleep 1 (the critical path with -j {JOBS})")],
        notes=["every run starts from a fresh repo: all 9 stages run (no run-cache hits)"],
    )


# --- (c) parse and plan 1,000 stages -------------------------------------------------------

STAGES = 1000


def write_many(repo: Repo) -> None:
    """Stage i reads inputs/iNNNN.txt and the output of stage (i-1)//2 (a binary tree), uses one
    param, and writes outs/oNNNN.txt. Nothing has run yet: every stage is stale."""
    inputs = repo.path / "inputs"
    inputs.mkdir()
    (repo.path / "outs").mkdir()
    write_text(repo.path / "params.yaml", "group:\n" + "".join(f"  k{i}: {i}\n" for i in range(10)))
    lines = ["stages:"]
    for i in range(STAGES):
        (inputs / f"i{i:04d}.txt").write_text(f"input {i}\n")
        deps = [f"inputs/i{i:04d}.txt"] + ([f"outs/o{(i - 1) // 2:04d}.txt"] if i else [])
        lines += [
            f"  s{i:04d}:",
            f"    cmd: echo {i} > outs/o{i:04d}.txt",
            f"    deps: [{', '.join(deps)}]",
            f"    params: [group.k{i % 10}]",
            f"    outs: [outs/o{i:04d}.txt]",
        ]
    write_text(repo.path / pipeline_file(repo.who), "\n".join(lines) + "\n")
    git_commit_all(repo.path, "pipeline")


def check_plan(repo: Repo, samples: Samples, op: str, ending: str) -> None:
    lines = samples[("artver", op)][-1].stdout.splitlines()
    if len(lines) != STAGES or not all(line.endswith(ending) for line in lines):
        msg = f"repro --dry-run printed {len(lines)} lines, expected {STAGES} ending {ending!r}"
        raise CommandFailed(repo.cmd("repro", "--dry-run"), repo.path, 0, stderr=msg)


def status_cmd(repo: Repo) -> list[str]:
    # `dvc status -q` exits 1 when something is stale; without -q it exits 0 and prints.
    return repo.cmd("status") if repo.who == "artver" else [repo.exe, "status"]


@group("plan", "1,000 generated stages: artver repro --dry-run and status (vs dvc status)")
def plan(ctx: Context) -> GroupResult:
    samples = Samples()
    root = ctx.runs / "plan"
    for r in range(ctx.rounds):
        ctx.start_round("plan", r)
        fresh_dir(root)
        order = ["artver", "dvc"] if r % 2 == 0 else ["dvc", "artver"]
        repos = [new_repo(ctx, who, root / who) for who in order]
        for repo in repos:
            write_many(repo)
            measure(status_cmd(repo), repo.path, repo.env)  # untimed: hashes the 1,000 inputs
        artver = [p for p in repos if p.who == "artver"]
        timed(ctx, samples, "dry-run", artver, lambda p: p.cmd("repro", "--dry-run"))
        timed(ctx, samples, "status", repos, status_cmd)
        check_plan(artver[0], samples, "dry-run", "(never run)")

        # Then every stage run once (untimed, artver only: DVC would take minutes), and the
        # same plan with everything up to date.
        run_all = artver[0].cmd("repro", "-j", "2")
        measure(run_all, artver[0].path, artver[0].env)
        measure(artver[0].cmd("status"), artver[0].path, artver[0].env)  # untimed warm-up
        timed(ctx, samples, "dry-run-done", artver, lambda p: p.cmd("repro", "--dry-run"))
        timed(ctx, samples, "status-done", artver, lambda p: p.cmd("status"))
        check_plan(artver[0], samples, "dry-run-done", ": up to date")
        samples.add("floor", "startup", measure([ctx.tools.artver, "--version"], root))
    remove_tree(root)

    return GroupResult(
        name="plan",
        title=f"{STAGES:,} generated stages: parse, DAG and staleness of every stage",
        samples=samples,
        rows=[
            RowSpec("repro --dry-run, none run yet", "dry-run", (Under(1.0),)),
            RowSpec("status, none run yet", "status"),
            RowSpec("repro --dry-run, all up to date", "dry-run-done", (Under(1.0),)),
            RowSpec("status, all up to date", "status-done"),
        ],
        floors=[FloorSpec("startup", "`artver --version` (start-up)")],
        notes=[
            f"{STAGES} stages regardless of --scale; each has 1-2 deps, 1 param, 1 out",
            "an untimed `status` first hashes the 1,000 inputs (state DB / DVC's state)",
            "DVC has no dry-run that works here (`dvc repro --dry` fails on missing deps)",
            "'all up to date' rows: after an untimed `artver repro -j 2` of all 1,000 stages"
            " (artver only)",
        ],
    )
