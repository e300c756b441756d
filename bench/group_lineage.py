"""Benchmark group `lineage`: `artver log` and `artver lineage` over a long generated history.

One repo: an `init` commit, then 1,000 commits. Every commit records a new version of the
pointer-tracked file `data.bin` (the `log` target: 1,000 versions). The repo also holds a
200-stage chain (`s000` reads the pointer-tracked `raw.txt`, each next stage reads the previous
stage's output, `o199.txt` is the last) whose `artver.lock` changes as a team's would: every
10th commit changes one stage's param and re-runs it and everything after it, every 100th
commit brings new raw data and re-runs the whole chain. Timed: `artver log data.bin --json`
(1,000 commits, 1,000 versions) and `artver lineage o199.txt --rev HEAD~500 --json` (200 stages,
each with the commit that last changed its lock entry), each again in the same copy.

DVC has neither command. Its nearest equivalent is reading the files' versions out of Git, one
`git show` per version (`git log --format=%H -- PATH` + `git show REV:PATH`), which needs no
DVC at all: those loops are the floors printed beside artver's rows.

The history is generated (one `git fast-import`), its lock text and pointer files written in
artver's format. Before first use the writer is checked byte for byte against a real
`artver add` + `artver repro` of a 3-stage chain, and the generated repo is checked as a user
would see it (`artver status` clean at HEAD: every stage up to date).
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from pathlib import Path

from group_history import (
    ArtverFormat,
    artver_clean,
    check_commit_count,
    check_unchanged,
    fail,
    fast_import,
    snapshot,
    working_copy,
    write_object,
)
from group_pipelines import Under
from groups import Context, Repo, group, new_repo
from harness import CommandFailed, Measurement, fresh_dir, measure, remove_tree, run, settle
from report import FloorSpec, GroupResult, RowSpec, Samples

COMMITS, STAGES, DEPTH = 1000, 200, 500
GENERATOR_VERSION = 1
STEP = """\
import hashlib, sys
i = int(sys.argv[1])
src = "raw.txt" if i == 0 else f"o{i - 1:03d}.txt"
p = [line.split(":", 1)[1].strip() for line in open("params.yaml") if line.startswith(f"p{i:03d}:")]
data = open(src, "rb").read()
open(f"o{i:03d}.txt", "w").write(hashlib.sha256(data).hexdigest() + " " + p[0] + "\\n")
"""


@dataclass(frozen=True)
class Shape:
    commits: int
    stages: int
    depth: int

    @classmethod
    def of(cls, scale: float) -> Shape:
        commits = max(20, round(COMMITS * scale))
        return cls(commits, max(3, round(STAGES * scale)), commits // 2)

    def key(self, seed: int) -> str:
        return f"lineage-c{self.commits}-s{self.stages}-seed{seed}-g{GENERATOR_VERSION}"


def stage(i: int) -> str:
    return f"s{i:03d}"


def out(i: int) -> str:
    return f"o{i:03d}.txt"


def pipeline_text(stages: int) -> str:
    lines = ["stages:"]
    for i in range(stages):
        dep = "raw.txt" if i == 0 else out(i - 1)
        lines += [
            f"  {stage(i)}:",
            f"    cmd: python3 step.py {i}",
            f"    deps: [{dep}, step.py]",
            f"    params: [p{i:03d}]",
            f"    outs: [{out(i)}]",
        ]
    return "\n".join(lines) + "\n"


def scalar(text: str) -> str:
    """As artver's YAML writer writes a string: an id that would read as a number is quoted
    (rare, so the real writer is asked)."""
    if not re.fullmatch(r"[0-9eE.+-]+", text):
        return text
    from artver.yamlio import dump_fast  # the bench runs in artver's venv

    return dump_fast(text).splitlines()[0]


def record(path: str, data: bytes) -> str:
    oid = ArtverFormat().oid(data)
    return (
        f"    - path: {path}\n      hash: xxh3-128\n      oid: {scalar(oid)}\n"
        f"      size: {len(data)}\n"
    )


# What a run observed (stages/hardware.py); generated entries carry a fixed one, and the
# format check compares everything else (a real run's figures are this machine's).
OBSERVED = (
    "    observed:\n      started: '2024-01-01T00:00:00Z'\n      duration: 0.05\n"
    "      cpu:\n        count: 8\n        model: Bench CPU\n      memory: 17179869184\n"
    "      os: Bench OS\n      kernel: Linux 6.0\n"
)


def without_observed(text: str) -> str:
    return re.sub(r"(?m)^    observed:\n(?:     .*\n)*", "", text)


def step_output(data: bytes, param: int) -> bytes:
    return (hashlib.sha256(data).hexdigest() + f" {param}\n").encode()


class Chain:
    """The chain's state at one commit: raw data, params, each stage's output and entry."""

    def __init__(self, stages: int, raw: bytes) -> None:
        self.stages = stages
        self.raw = raw
        self.step = STEP.encode()
        self.params = [1] * stages
        self.outs: list[bytes] = [b""] * stages
        self.entries: list[str] = [""] * stages
        self.run_from(0)

    def run_from(self, first: int) -> None:
        """Re-run stage `first` and every stage after it, as `artver repro` would."""
        for i in range(first, self.stages):
            dep_path, dep = ("raw.txt", self.raw) if i == 0 else (out(i - 1), self.outs[i - 1])
            self.outs[i] = step_output(dep, self.params[i])
            self.entries[i] = (
                f"  {stage(i)}:\n    cmd: python3 step.py {i}\n    deps:\n"
                + record(dep_path, dep)
                + record("step.py", self.step)
                + f"    params:\n      params.yaml:\n        p{i:03d}: {self.params[i]}\n"
                + "    outs:\n"
                + record(out(i), self.outs[i])
                + OBSERVED
            )

    def lock(self) -> bytes:
        return ("schema: 1\nstages:\n" + "".join(self.entries)).encode()

    def params_text(self) -> bytes:
        return "".join(f"p{i:03d}: {p}\n" for i, p in enumerate(self.params)).encode()


def event(k: int, stages: int) -> tuple[str, int] | None:
    """What commit k (from 2) does to the chain besides the new data.bin."""
    if k % 100 == 1:
        return ("raw", 0)
    if k % 10 == 5:
        return ("param", (k * 37) % stages)
    return None


def raw_at(k: int, seed: int) -> bytes:
    return f"raw rows, version {k}, seed {seed}\n".encode() * 20


def data_at(k: int, seed: int) -> bytes:
    return f"data.bin version {k}, seed {seed}\n".encode() * 8


def pointer(path: str, data: bytes) -> bytes:
    fmt = ArtverFormat()
    return fmt.pointer(path, scalar(fmt.oid(data)), len(data), None).encode()


@dataclass
class Expected:
    data_oids: list[str]  # data.bin's oid at commit k (index k - 1)
    changed: dict[str, int]  # at commit `commits - depth`: stage -> commit that last ran it
    raw_changed: int  # ... and the commit of raw.txt's pointer


def commits_of(shape: Shape, seed: int, made: list[Chain]):
    """(message, files) for commits 1..N; `made` receives the chain at HEAD."""
    chain = Chain(shape.stages, raw_at(1, seed))
    ignore = "".join(f"/{p}\n" for p in ["raw.txt", "data.bin", *map(out, range(shape.stages))])
    first = {
        "step.py": chain.step,
        "artver.yaml": pipeline_text(shape.stages).encode(),
        ".gitignore": ignore.encode(),
    }
    for k in range(1, shape.commits + 1):
        files = dict(first) if k == 1 else {}
        change = event(k, shape.stages) if k > 1 else ("raw", 0)
        if change is not None:
            kind, i = change
            if kind == "raw":
                chain.raw = raw_at(k, seed)
                files["raw.txt.artver"] = pointer("raw.txt", chain.raw)
            else:
                chain.params[i] += 1
            chain.run_from(i)
            files["params.yaml"] = chain.params_text()
            files["artver.lock"] = chain.lock()
        files["data.bin.artver"] = pointer("data.bin", data_at(k, seed))
        yield f"commit {k}", files
    made.append(chain)


def expected(shape: Shape, seed: int) -> Expected:
    target = shape.commits - shape.depth
    changed = dict.fromkeys(map(stage, range(shape.stages)), 1)
    raw_changed = 1
    for k in range(2, target + 1):
        change = event(k, shape.stages)
        if change is None:
            continue
        if change[0] == "raw":
            raw_changed = k
        for i in range(change[1], shape.stages):
            changed[stage(i)] = k
    oids = [ArtverFormat().oid(data_at(k, seed)) for k in range(1, shape.commits + 1)]
    return Expected(oids, changed, raw_changed)


def write_workspace(repo: Path, chain: Chain, shape: Shape, seed: int) -> None:
    """HEAD's data, raw input and outputs on disk and in the cache, as after `repro`."""
    fmt, made = ArtverFormat(), set()
    files = {"raw.txt": chain.raw, "data.bin": data_at(shape.commits, seed)}
    files.update({out(i): chain.outs[i] for i in range(shape.stages)})
    for name, data in files.items():
        (repo / name).write_bytes(data)
        write_object(repo, fmt, fmt.oid(data), data, made)


def check_format(ctx: Context) -> None:
    """A real `artver add raw.txt` + `artver repro` of a 3-stage chain against the writer."""
    root = fresh_dir(ctx.runs / "lineage-format")
    repo = new_repo(ctx, "artver", root / "artver")
    chain = Chain(3, raw_at(1, ctx.seed))
    (repo.path / "step.py").write_bytes(chain.step)
    (repo.path / "params.yaml").write_bytes(chain.params_text())
    (repo.path / "raw.txt").write_bytes(chain.raw)
    (repo.path / "artver.yaml").write_text(pipeline_text(3))
    run(repo.cmd("add", "raw.txt"), repo.path, repo.env)
    run(repo.cmd("repro"), repo.path, repo.env)
    problems = []
    for name, text in (
        ("artver.lock", chain.lock()),
        ("raw.txt.artver", pointer("raw.txt", chain.raw)),
    ):
        got = without_observed((repo.path / name).read_text())
        want = without_observed(text.decode())
        if got != want:
            problems.append(f"{name}:\n--- real\n{got}--- generated\n{want}")
    if problems:
        raise fail(repo.path, "lineage format check", "\n".join(problems))
    remove_tree(root)


def history(ctx: Context, shape: Shape) -> Path:
    """The generated repo for this scale and seed: made and validated once, then reused."""
    base = ctx.work / "data" / shape.key(ctx.seed)
    path = base / "artver"
    if (base / "done.json").exists():
        return path
    check_format(ctx)
    ctx.log(f"[lineage] generating {shape.commits:,} commits, {shape.stages}-stage chain")
    fresh_dir(base)
    new_repo(ctx, "artver", path)
    made: list[Chain] = []
    fast_import(path, commits_of(shape, ctx.seed, made))
    write_workspace(path, made[0], shape, ctx.seed)
    check_commit_count(path, shape.commits + 1)
    scratch = fresh_dir(ctx.runs / "lineage-validate")
    artver_clean(working_copy(ctx, path, scratch / "artver", "artver"))
    remove_tree(scratch)
    (base / "done.json").write_text(json.dumps(vars(shape)) + "\n")
    ctx.log(f"[lineage] generated and validated {base}")
    return path


# --- checks of the timed commands' output ----------------------------------------------------


def check_log(out_text: str, shas: list[str], exp: Expected) -> str | None:
    try:
        found = [(v["commit"], v["oid"]) for v in json.loads(out_text)["versions"]]
    except (ValueError, KeyError, TypeError) as exc:
        return f"unexpected log --json output ({exc!r}): {out_text[:300]!r}"
    want = list(zip(reversed(shas[1:]), reversed(exp.data_oids), strict=True))
    if found != want:
        return f"log listed {len(found)} versions, expected {len(want)}; first {found[:2]}"
    return None


def check_lineage(out_text: str, shas: list[str], exp: Expected) -> str | None:
    try:
        doc = json.loads(out_text)
        changed = {s["name"]: s["changed_in"]["commit"] for s in doc["stages"]}
        raw = doc["data"][0]["changed_in"]["commit"]
    except (ValueError, KeyError, TypeError, IndexError) as exc:
        return f"unexpected lineage --json output ({exc!r}): {out_text[:300]!r}"
    want = {name: shas[k] for name, k in exp.changed.items()}
    if changed != want:
        bad = sorted(n for n in want if changed.get(n) != want[n])
        return f"{len(bad)} stages with the wrong commit, e.g. {bad[:3]}"
    if raw != shas[exp.raw_changed]:
        return f"raw.txt last changed in {raw}, expected {shas[exp.raw_changed]}"
    return None


def loop(repo: Path, rev_range: str, path: str) -> Measurement:
    """Floor: every version of `path` read out of Git, one `git show` per commit."""
    script = (
        f'for c in $(git log --format=%H {rev_range} -- {path}); do git show "$c:{path}"; done'
        " > /dev/null"
    )
    return measure(["sh", "-c", script], repo)


@group("lineage", "log of a pointer over 1,000 commits; lineage of a 200-stage chain at HEAD~500")
def lineage_group(ctx: Context) -> GroupResult:
    shape = Shape.of(ctx.scale)
    path = history(ctx, shape)
    exp = expected(shape, ctx.seed)
    shas = run(["git", "rev-list", "--reverse", "HEAD"], path).split()  # index k = commit k
    rev = f"HEAD~{shape.depth}"
    last = out(shape.stages - 1)
    ops = {
        "log": (["log", "data.bin", "--json"], lambda o: check_log(o, shas, exp)),
        "lineage": (
            ["lineage", last, "--rev", rev, "--json"],
            lambda o: check_lineage(o, shas, exp),
        ),
    }
    samples, failures, wrote = Samples(), {}, set()
    root = ctx.runs / "lineage"
    for r in range(ctx.rounds):
        ctx.start_round("lineage", r)
        fresh_dir(root)
        for key, (args, check) in ops.items():
            repo = working_copy(ctx, path, root / key, "artver")
            settle()
            floor = ("HEAD", "data.bin.artver") if key == "log" else (rev, "artver.lock")
            samples.add("floor", key, loop(repo.path, *floor))
            for op in (key, f"{key}-again"):
                timed_op(ctx, samples, repo, op, args, check, failures, wrote)
    remove_tree(root)
    n = f"{shape.commits:,}"
    rows = [
        RowSpec(f"log data.bin ({n} commits, {n} versions)", "log", (Under(1.0),)),
        RowSpec("  the same log again in the same repo", "log-again", (Under(1.0),)),
        RowSpec(f"lineage {last} --rev {rev} ({shape.stages} stages)", "lineage", (Under(1.0),)),
        RowSpec("  the same lineage again in the same repo", "lineage-again", (Under(1.0),)),
    ]
    floors = [
        FloorSpec("log", f"git log --format=%H -- data.bin.artver + git show per commit ({n})"),
        FloorSpec("lineage", f"git log --format=%H {rev} -- artver.lock + git show per commit"),
    ]
    notes = [
        f"generated history: an init commit + {n} commits, each a new data.bin; a "
        f"{shape.stages}-stage chain whose lock changes every 10th commit (one param, re-run "
        "from that stage) and every 100th (new raw data, whole chain re-run)",
        "DVC has no log or lineage command; its nearest equivalent needs no DVC: reading each "
        "version out of Git with `git log` + one `git show` per commit (the floors; DVC is not "
        "run in this group)",
        "each command runs in a fresh `cp -a` copy after an untimed `artver status`; outputs "
        "are checked against the generator (commits from `git rev-list`), and Git, the cache "
        "and the workspace are checked unchanged",
    ]
    if wrote:
        notes.append(f"artver wrote scratch files: {', '.join(sorted(wrote)[:6])}")
    notes += [f"artver {key} FAILED: {msg}" for key, msg in failures.items()]
    return GroupResult(
        "lineage", f"lineage and log: {n} commits", samples, rows, floors, notes, failures
    )


def timed_op(ctx, samples, repo: Repo, op, args, check, failures, wrote) -> None:
    before = snapshot(repo.path)
    settle()
    try:
        m = measure([repo.exe, *args], repo.path, repo.env)
    except CommandFailed as exc:
        failures[op] = (exc.stderr or exc.stdout).strip()[-200:]
        ctx.log(f"  {op}: artver FAILED ({failures[op]})")
        return
    problem = check(m.stdout)
    try:
        wrote.update(check_unchanged(repo, before, " ".join(args)))
    except CommandFailed as exc:
        problem = exc.stderr
    if problem:
        failures[op] = f"wrong result: {problem}"[:300]
    samples.add("artver", op, m)
    ctx.log(f"  {op}: artver {m.wall:.3f}s/{m.peak_mb:.0f}MB" + (" WRONG" if problem else ""))
