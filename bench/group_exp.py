"""Benchmark group `exp`: experiments, artver against DVC, on the same repo layout.

Both tools get the same repo: `params.yaml` (`train.lr`, `train.epochs`), `train.py` and one
stage `train` (`python train.py SECONDS`) that reads the params, sleeps, and writes a small
output `model.txt` and a small metrics file `metrics.json` (not cached); the baseline is
reproduced and committed before any experiment.

- run-all: 8 experiments queued with one sweep (`exp run --queue -S train.lr=0.1,...,0.8`,
  untimed), then the queue run 4 at a time, timed: `artver exp run --run-all -j 4` against
  `dvc exp run --run-all -j 4` (DVC 3 still has it: it starts 4 dvc-task/celery workers and
  follows every queued experiment until its result is collected; `dvc queue start -j 4` is the
  same without waiting). The stage sleeps 1 s, so the ideal is 2 s (8 experiments / 4 at a
  time x 1 s); the floor printed is the 8 stage commands alone, run 4 at a time with
  `xargs -P 4`, each in its own directory. In this row the stage also writes its start and
  end times to a second metrics file `timing.json`; `exp show --json` after the run must list
  8 experiments with the right params and metrics, and from those times the most stages
  running at once is reported (artver's row fails unless it is 4); for DVC, the celery
  workers' logs also give the experiment tasks in flight at once. Every round uses a fresh
  repo per tool; who goes first alternates. DVC's workers may stay behind after its command
  returns (idle up to 10 s, some longer): they are stopped (by the pids DVC records) before
  anything else is timed.
- show: `exp show` (the table) and `exp show --json` with 500 finished experiments on HEAD
  (scaled by --scale, at least 20). Running 500 experiments takes minutes with either tool
  (DVC here: ~5 s each, 4 at a time; `dvc exp save` ~1 s each), so for each tool ONE real experiment
  is run (`artver exp run -n tmpl -S train.lr=0.5`, `dvc exp run --temp -n tmpl ...`) and
  copied: its commit (same tree, same message) with params.yaml, metrics.json and the lock file
  rewritten for each lr (hashes and sizes of the outs recomputed: XXH3-128 for artver, md5 for
  DVC), under the ref the tool uses (`refs/artver/exps/<baseline>/<name>`,
  `refs/exps/<ba>/<seline>/<name>`), written with one `git fast-import` (one pack). Before use,
  one generated experiment is compared with a real one the tool ran with the same lr: files
  byte for byte (artver's lock without its `observed` block of run times), message with the
  name swapped (DVC's `commit experiment <hash>` line excepted: it is a stand-in there). The
  generated repo is checked (`exp show --json` lists every experiment with its params and
  metrics) in a throwaway copy, so it holds no cache of an `exp show`: DVC keeps one per
  experiment under .dvc/tmp/exps/cache. Timed, in a fresh `cp -a` copy per tool, read once
  before: `exp show`, then the same again in that copy (DVC's cache now warm); then in another
  fresh copy `exp show --json`, whose output is checked.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shlex
import signal
import subprocess
import time
from pathlib import Path

from group_lineage import scalar
from group_pipelines import Under
from groups import Context, Repo, group, new_repo
from harness import (
    CommandFailed,
    Measurement,
    base_env,
    fresh_dir,
    git_commit_all,
    measure,
    read_floor,
    remove_tree,
    run,
    settle,
)
from report import FloorSpec, GroupResult, RowSpec, Samples, WithinFloor

QUEUED, JOBS, SLEEP = 8, 4, 1
SHOW = 500
LRS = [round(0.1 * (i + 1), 1) for i in range(QUEUED)]

TRAIN = """\
import json, sys, time
t0 = time.time()
text = open("params.yaml").read()
lr = float(text.split("lr:", 1)[1].split()[0])
time.sleep(float(sys.argv[1]))
with open("model.txt", "w") as f:
    f.write(f"model lr={lr}\\n")
with open("metrics.json", "w") as f:
    json.dump({"loss": round(1 / (1 + lr), 6), "lr": lr}, f)
if len(sys.argv) > 2:
    with open(sys.argv[2], "w") as f:
        json.dump({"start": t0, "end": time.time()}, f)
"""


def model_text(lr: float) -> bytes:
    return f"model lr={lr}\n".encode()


def metrics_text(lr: float) -> bytes:
    return json.dumps({"loss": round(1 / (1 + lr), 6), "lr": lr}).encode()


def params_text(lr: float) -> str:
    return f"train:\n  lr: {lr}\n  epochs: 3\n"


def pipeline_text(python: str, seconds: int, timing: bool) -> str:
    cmd = f"{shlex.quote(python)} train.py {seconds}" + (" timing.json" if timing else "")
    metrics = "    - metrics.json:\n        cache: false\n"
    if timing:
        metrics += "    - timing.json:\n        cache: false\n"
    return (
        "stages:\n  train:\n"
        f"    cmd: {cmd}\n    deps: [train.py]\n    params: [train.lr]\n"
        f"    outs: [model.txt]\n    metrics:\n{metrics}"
    )


def exe_cmd(repo: Repo, *args: str) -> list[str]:
    return [repo.exe, *args]


def setup_repo(ctx: Context, who: str, path: Path, seconds: int, timing: bool) -> Repo:
    """The repo both tools get: params, train.py, one stage; the baseline run and committed."""
    repo = new_repo(ctx, who, path)
    if who == "dvc":  # DVC's queue starts its workers as `dvc ...`, found on PATH
        repo.env["PATH"] = os.path.dirname(repo.exe) + os.pathsep + repo.env.get("PATH", "")
    (path / "params.yaml").write_text(params_text(0.01))
    (path / "train.py").write_text(TRAIN)
    name = "artver.yaml" if who == "artver" else "dvc.yaml"
    (path / name).write_text(pipeline_text(ctx.tools.python, seconds, timing))
    run(exe_cmd(repo, "repro"), path, repo.env)
    git_commit_all(path, "baseline")
    return repo


def git(repo: Path, *args: str, data: bytes | None = None) -> str:
    proc = subprocess.run(
        ["git", *args], cwd=repo, env=base_env(), input=data, capture_output=True, check=False
    )
    if proc.returncode != 0:
        raise CommandFailed(["git", *args], repo, proc.returncode, stderr=proc.stderr.decode())
    return proc.stdout.decode()


def fail(repo: Repo, what: str) -> CommandFailed:
    return CommandFailed([repo.exe, "exp"], repo.path, 0, stderr=f"{repo.who}: {what}")


# --- reading `exp show --json` of either tool --------------------------------------------------


def shown(who: str, text: str) -> list[dict]:
    """[{name, params, metrics}] of every experiment (not baselines) in `exp show --json`;
    params and metrics as {file: {flat key: value}}."""
    doc = json.loads(text)
    found = []
    if who == "artver":
        for row in doc:
            if row["kind"] == "experiment":
                status = row["status"]
                found.append({"name": row["name"], "status": status, **_values(row)})
        return found
    for base in doc:
        for exp in base.get("experiments") or []:
            for rev in exp.get("revs") or []:
                data = rev.get("data") or {}
                values = {
                    kind: {f: _flat(v.get("data") or {}) for f, v in (data.get(kind) or {}).items()}
                    for kind in ("params", "metrics")
                }
                found.append({"name": rev.get("name") or exp.get("name"), "status": "-", **values})
    return found


def _values(row: dict) -> dict:
    return {kind: {f: _flat(v) for f, v in row[kind].items()} for kind in ("params", "metrics")}


def _flat(d: dict, prefix: str = "") -> dict:
    out = {}
    for key, value in d.items():
        if isinstance(value, dict):
            out.update(_flat(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out


def check_shown(repo: Repo, text: str, lrs: list[float]) -> list[dict]:
    """The experiments `exp show --json` lists: one per lr, each with its params and metrics."""
    exps = shown(repo.who, text)
    got = sorted(e["params"].get("params.yaml", {}).get("train.lr") for e in exps)
    if got != sorted(lrs):
        raise fail(repo, f"exp show lists {len(exps)} experiments with lr {got[:10]}...")
    for e in exps:
        lr = e["params"]["params.yaml"]["train.lr"]
        m = e["metrics"].get("metrics.json", {})
        if m.get("lr") != lr or m.get("loss") != round(1 / (1 + lr), 6):
            raise fail(repo, f"experiment {e['name']} shows metrics {m} for lr {lr}")
        if e["status"] not in ("-", "success"):
            raise fail(repo, f"experiment {e['name']} is {e['status']}")
    return exps


def concurrency(exps: list[dict]) -> int:
    """The most experiments whose stage ran at the same time (from timing.json)."""
    events = []
    for e in exps:
        t = e["metrics"].get("timing.json", {})
        events += [(t["start"], 1), (t["end"], -1)]
    peak = now = 0
    for _, step in sorted(events, key=lambda ev: (ev[0], ev[1])):
        now += step
        peak = max(peak, now)
    return peak


# --- DVC's queue workers ------------------------------------------------------------------------

_TASK_DONE = re.compile(
    r"^\[(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d),(\d{3}): [^\]]*\] Task "
    r"dvc\.repo\.experiments\.queue\.tasks\.run_exp\[[^\]]*\] succeeded in ([\d.]+)s"
)


def dvc_tasks(repo: Repo) -> tuple[int, int]:
    """(workers that ran an experiment, most experiment tasks in flight at once), from the
    celery workers' logs: each finished `run_exp` task logs its end time and duration."""
    import datetime as dt

    spans, workers = [], 0
    for log in sorted((repo.path / ".dvc" / "tmp" / "exps" / "celery").glob("*.out")):
        found = 0
        for line in log.read_text(errors="replace").splitlines():
            match = _TASK_DONE.match(line)
            if match:
                end = dt.datetime.strptime(match.group(1), "%Y-%m-%d %H:%M:%S").timestamp()
                end += int(match.group(2)) / 1000
                spans.append({"start": end - float(match.group(3)), "end": end})
                found += 1
        workers += found > 0
    return workers, concurrency([{"metrics": {"timing.json": t}} for t in spans])


def stop_dvc_workers(repo: Repo, grace: float = 3.0) -> int:
    """Wait `grace` s for DVC's queue workers of this repo to exit, then stop them (the pids
    DVC wrote, checked to still be its workers); returns how many had to be stopped."""
    celery = repo.path / ".dvc" / "tmp" / "exps" / "celery"
    pids = []
    for f in celery.glob("*.pid") if celery.is_dir() else []:
        try:
            pids.append(int(f.read_text().strip()))
        except ValueError:
            continue

    def alive() -> list[int]:
        found = []
        for pid in pids:
            try:
                cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
                stat = Path(f"/proc/{pid}/stat").read_text()
            except OSError:
                continue
            if b"queue-worker" in cmdline and stat.rsplit(")", 1)[1].split()[0] != "Z":
                found.append(pid)
        return found

    def wait(seconds: float) -> list[int]:
        deadline = time.monotonic() + seconds
        while (left := alive()) and time.monotonic() < deadline:
            time.sleep(0.1)
        return left

    left = wait(grace)
    stopped = len(left)
    for sig in (signal.SIGTERM, signal.SIGKILL):
        for pid in left:
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                pass
        left = wait(5.0)
        if not left:
            break
    return stopped


# --- (1) run the queue, 4 at a time -----------------------------------------------------------


def floor_dirs(ctx: Context, root: Path) -> Path:
    """One directory per queued experiment with its params and train.py: for the floor."""
    fresh_dir(root)
    for i, lr in enumerate(LRS):
        d = root / f"x{i}"
        d.mkdir()
        (d / "params.yaml").write_text(params_text(lr))
        (d / "train.py").write_text(TRAIN)
    return root


def ideal_floor(ctx: Context, root: Path) -> Measurement:
    py = shlex.quote(ctx.tools.python)
    names = " ".join(f"x{i}" for i in range(QUEUED))
    inner = f"cd {{}} && exec {py} train.py {SLEEP} timing.json"
    line = f"printf '%s\\n' {names} | xargs -P {JOBS} -I{{}} sh -c {shlex.quote(inner)}"
    return measure(["sh", "-c", line], root)


def run_all_round(ctx, samples, r, root, failures, peaks, lingered, tasks) -> None:
    order = ["artver", "dvc"] if r % 2 == 0 else ["dvc", "artver"]
    repos = [setup_repo(ctx, who, root / who, SLEEP, True) for who in order]
    sweep = "train.lr=" + ",".join(str(lr) for lr in LRS)
    for repo in repos:
        run(exe_cmd(repo, "exp", "run", "--queue", "-S", sweep), repo.path, repo.env)
    floor = floor_dirs(ctx, root / "floor")
    steps = [*repos, None] if r % 2 == 0 else [None, *repos]
    line = []
    for repo in steps:
        settle()
        if repo is None:
            m = ideal_floor(ctx, floor)
            samples.add("floor", "ideal", m)
            line.append(f"floor {m.wall:.3f}s")
            continue
        cmd = exe_cmd(repo, "exp", "run", "--run-all", "-j", str(JOBS))
        try:
            m = measure(cmd, repo.path, repo.env)
        except CommandFailed as exc:
            if repo.who == "dvc":
                stop_dvc_workers(repo, 0)
                raise
            failures["run-all"] = (exc.stderr or exc.stdout).strip()[-300:]
            line.append("artver FAILED")
            continue
        finally:
            if repo.who == "dvc":
                lingered.append(stop_dvc_workers(repo))
                tasks.append(dvc_tasks(repo))
        samples.add(repo.who, "run-all", m)
        line.append(f"{repo.who} {m.wall:.3f}s/{m.peak_mb:.0f}MB")
        try:
            text = run(exe_cmd(repo, "exp", "show", "--json"), repo.path, repo.env)
            peaks.setdefault(repo.who, []).append(concurrency(check_shown(repo, text, LRS)))
        except CommandFailed as exc:
            if repo.who == "dvc":
                raise
            failures["run-all"] = f"wrong result: {exc.stderr}"[:300]
        if repo.who == "artver" and peaks.get("artver", [JOBS])[-1] != JOBS:
            failures["run-all"] = f"ran {peaks['artver'][-1]} at a time, not {JOBS}"
    ctx.log("  run-all: " + ", ".join(line))


# --- (2) exp show over many generated experiments ------------------------------------------------


def exp_refs(repo: Repo) -> dict[str, str]:
    """{name: ref} of the tool's finished experiments."""
    prefix = "refs/artver/exps/" if repo.who == "artver" else "refs/exps/"
    out = git(repo.path, "for-each-ref", "--format=%(refname)", prefix)
    return {ref.rsplit("/", 1)[1]: ref for ref in out.split() if "/exec/" not in ref}


def real_experiment(repo: Repo, name: str, lr: float) -> str:
    """Run one experiment with the tool; return its ref."""
    args = ["exp", "run", "-n", name, "-S", f"train.lr={lr}"]
    if repo.who == "dvc":
        args.insert(2, "--temp")  # in a temporary directory, as a queued one would run
    run(exe_cmd(repo, *args), repo.path, repo.env)
    ref = exp_refs(repo).get(name)
    if ref is None:
        raise fail(repo, f"experiment {name} was run but has no ref")
    return ref


def lock_name(who: str) -> str:
    return "artver.lock" if who == "artver" else "dvc.lock"


def set_out(lock: str, path: str, key: str, value: str, size: int) -> str:
    """`lock` with the out `path` of its stage given hash `value` (under `key`) and `size`."""
    lines = lock.split("\n")
    for i, text in enumerate(lines):
        if text.strip() == f"- path: {path}":
            indent = len(text) - len(text.lstrip()) + 2
            j = i + 1
            while j < len(lines) and len(lines[j]) - len(lines[j].lstrip()) >= indent:
                stripped = lines[j].strip()
                pad = " " * indent
                if stripped.startswith(f"{key}: "):
                    lines[j] = f"{pad}{key}: {value}"
                elif stripped.startswith("size: "):
                    lines[j] = f"{pad}size: {size}"
                j += 1
            return "\n".join(lines)
    raise ValueError(f"no out {path} in the lock")


class Template:
    """One real experiment of a tool, to copy with other lrs."""

    def __init__(self, repo: Repo, ref: str) -> None:
        self.repo = repo
        self.ref = ref
        self.sha = git(repo.path, "rev-parse", ref).strip()
        raw = git(repo.path, "cat-file", "commit", self.sha)
        head, _, self.message = raw.partition("\n\n")
        fields = dict(line.split(" ", 1) for line in head.splitlines())
        self.parent = fields["parent"]
        ident = fields["committer"].rsplit(" ", 2)
        self.committer, self.when = ident[0], int(ident[1])
        self.entries = []  # (mode, sha, path) of every blob
        for item in git(repo.path, "ls-tree", "-r", "-z", self.sha).split("\0"):
            if item:
                meta, path = item.split("\t", 1)
                mode, _, blob = meta.split()
                self.entries.append((mode, blob, path))
        self.lock = git(repo.path, "show", f"{self.sha}:{lock_name(repo.who)}")
        self.name = ref.rsplit("/", 1)[1]
        self.lr = json.loads(git(repo.path, "show", f"{self.sha}:metrics.json"))["lr"]

    def files(self, lr: float) -> dict[str, bytes]:
        """params.yaml, metrics.json and the lock of the experiment with this lr."""
        who = self.repo.who
        lock = re.sub(r"(?m)^(\s+train\.lr: ).*$", lambda m: m.group(1) + str(lr), self.lock)
        for path, data in (("metrics.json", metrics_text(lr)), ("model.txt", model_text(lr))):
            if who == "artver":
                value = scalar(hashlib_xxh3(data))
                lock = set_out(lock, path, "oid", value, len(data))
            else:
                digest = hashlib.md5(data).hexdigest()
                value = f"'{digest}'" if re.fullmatch(r"[0-9eE.+-]+", digest) else digest
                lock = set_out(lock, path, "md5", value, len(data))
        return {
            "params.yaml": params_text(lr).encode(),
            "metrics.json": metrics_text(lr),
            lock_name(who): lock.encode(),
        }

    def message_for(self, name: str, lr: float, files: dict[str, bytes]) -> str:
        if self.repo.who == "dvc":  # DVC's hash of the stage's lock entry: a stand-in here
            digest = hashlib.sha256(files["dvc.lock"]).hexdigest()
            return f"dvc: commit experiment {digest}"
        msg = self.message.replace(f"artver exp {self.name}\n", f"artver exp {name}\n", 1)
        msg = msg.replace(f"Artver-Exp-Name: {self.name}\n", f"Artver-Exp-Name: {name}\n")
        return msg.replace(
            f"Artver-Exp-Set: train.lr={self.lr}\n", f"Artver-Exp-Set: train.lr={lr}\n"
        )

    def generate(self, items: list[tuple[str, float]]) -> None:
        """One commit per (name, lr), under the tool's experiment ref, by one fast-import."""
        base = self.ref.rsplit("/", 1)[0]
        stream = []
        for k, (name, lr) in enumerate(items):
            files = self.files(lr)
            msg = self.message_for(name, lr, files).encode()
            parts = [
                f"commit {base}/{name}\n".encode(),
                f"committer {self.committer} {self.when + k + 1} +0000\n".encode(),
                b"data %d\n%s\n" % (len(msg), msg),
                f"from {self.parent}\n".encode(),
            ]
            for mode, blob, path in self.entries:
                if path not in files:
                    parts.append(f"M {mode} {blob} {path}\n".encode())
            for path, data in files.items():
                parts.append(
                    b"M 100644 inline %s\ndata %d\n%s\n" % (path.encode(), len(data), data)
                )
            stream.append(b"".join(parts))
        git(self.repo.path, "fast-import", "--quiet", data=b"".join(stream))


def hashlib_xxh3(data: bytes) -> str:
    import xxhash  # artver's dependency: the bench runs in artver's venv

    return xxhash.xxh3_128_hexdigest(data)


def without_observed(lock: str) -> str:
    """artver's lock without the `observed` blocks (when and where a stage ran)."""
    out, skip = [], None
    for line in lock.split("\n"):
        indent = len(line) - len(line.lstrip())
        if skip is not None and (indent > skip or not line.strip()):
            continue
        skip = None
        if line.strip() == "observed:":
            skip = indent
            continue
        out.append(line)
    return "\n".join(out)


def show_lrs(n: int) -> list[float]:
    return [round((i + 1) / 1000, 3) for i in range(n)]


def show_template(ctx: Context, who: str, path: Path, n: int) -> Path:
    """A repo with `n` experiments on HEAD, copied from one real one and checked against
    another."""
    repo = setup_repo(ctx, who, path, 0, False)
    tmpl = Template(repo, real_experiment(repo, "tmpl", 0.5))
    lrs = show_lrs(n)
    names = [f"e{i:04d}" for i in range(n)]
    # One generated experiment against a real one with the same lr.
    check_lr = lrs[-1]
    real = Template(repo, real_experiment(repo, "check", check_lr))
    tmpl.generate([("probe", check_lr)])
    probe = Template(repo, exp_refs(repo)["probe"])
    if [p for _, _, p in real.entries] != [p for _, _, p in probe.entries]:
        raise fail(repo, "a generated experiment has other files than a real one")
    for (_, a, rel), (_, b, _) in zip(real.entries, probe.entries, strict=True):
        if a == b:
            continue
        want, got = (git(repo.path, "cat-file", "blob", x) for x in (a, b))
        if rel == "artver.lock" and without_observed(want) == without_observed(got):
            continue
        raise fail(repo, f"generated {rel} differs from a real run's:\n{got}\n---\n{want}")

    def unordered(message: str) -> str:  # when each was queued differs, and may
        return re.sub(r"(?m)^Artver-Exp-Queued: [0-9]+\n", "", message)

    if who == "artver" and unordered(probe.message.replace("probe", "check")) != unordered(
        real.message
    ):
        raise fail(repo, f"generated message differs:\n{probe.message}\n---\n{real.message}")
    if who == "dvc" and not real.message.startswith("dvc: commit experiment "):
        raise fail(repo, f"unexpected DVC message {real.message!r}")
    for name in ("tmpl", "check", "probe"):
        git(repo.path, "update-ref", "-d", exp_refs(repo)[name])
    tmpl.generate(list(zip(names, lrs, strict=True)))
    git(repo.path, "worktree", "prune")
    # Checked in a copy: the template keeps no cache of an `exp show` (DVC keeps one per
    # experiment under .dvc/tmp/exps/cache).
    copy = copy_of(ctx, path, path.with_name(f"{who}-check"), who)
    check_shown(copy, run(exe_cmd(copy, "exp", "show", "--json"), copy.path, copy.env), lrs)
    remove_tree(copy.path)
    return path


def copy_of(ctx: Context, src: Path, dest: Path, who: str) -> Repo:
    from group_history import copy_repo

    repo = copy_repo(ctx, src, dest, who)
    if who == "dvc":
        repo.env["PATH"] = os.path.dirname(repo.exe) + os.pathsep + repo.env.get("PATH", "")
    return repo


def show_round(ctx, samples, r, templates, root, lrs, failures) -> None:
    """In a fresh copy per tool: `exp show`, then the same again (a tool's own caches warm),
    then, in another fresh copy, `exp show --json` (its output checked)."""
    order = ["artver", "dvc"] if r % 2 == 0 else ["dvc", "artver"]
    steps = [
        ("show", ["exp", "show"], True),
        ("show-again", ["exp", "show"], False),
        ("show-json", ["exp", "show", "--json"], True),
    ]
    copies: dict[str, Repo] = {}
    for op, args, fresh in steps:
        line = []
        for who in order:
            if fresh:
                copies[who] = copy_of(ctx, templates[who], root / f"{op}-{who}", who)
                read_floor(copies[who].path / ".git")  # warm-up, untimed
            repo = copies[who]
            settle()
            try:
                m = measure(exe_cmd(repo, *args), repo.path, repo.env)
            except CommandFailed as exc:
                if who == "dvc":
                    raise
                failures[op] = (exc.stderr or exc.stdout).strip()[-300:]
                line.append("artver FAILED")
                continue
            samples.add(who, op, m)
            line.append(f"{who} {m.wall:.3f}s/{m.peak_mb:.0f}MB")
            if op == "show-json":
                try:
                    check_shown(repo, m.stdout, lrs)
                except CommandFailed as exc:
                    if who == "dvc":
                        raise
                    failures[op] = f"wrong result: {exc.stderr}"[:300]
        ctx.log(f"  {op}: " + ", ".join(line))


@group("exp", "8 queued 1 s experiments run 4 at a time; exp show of 500 experiments")
def exp_group(ctx: Context) -> GroupResult:
    samples, failures = Samples(), {}
    peaks: dict[str, list[int]] = {}
    lingered: list[int] = []
    tasks: list[tuple[int, int]] = []  # DVC: (workers that ran experiments, tasks at once)
    n = max(20, round(SHOW * ctx.scale))
    lrs = show_lrs(n)
    root = ctx.runs / "exp"
    fresh_dir(root)
    ctx.log(f"[exp] generating {n} experiments per tool for exp show")
    templates = {who: show_template(ctx, who, root / "tmpl" / who, n) for who in ("artver", "dvc")}
    for r in range(ctx.rounds):
        ctx.start_round("exp", r)
        fresh_dir(root / "round")
        run_all_round(ctx, samples, r, root / "round" / "run-all", failures, peaks, lingered, tasks)
        show_round(ctx, samples, r, templates, root / "round", lrs, failures)
    remove_tree(root)

    def at_once(who: str) -> str:
        return ", ".join(map(str, peaks.get(who, []))) or "-"

    notes = [
        f"run-all: stage `python train.py {SLEEP}` (sleeps {SLEEP} s); queueing untimed; fresh "
        "repo per tool per round. Most stages running at once (their own start/end times), "
        f"per round: artver {at_once('artver')}; DVC {at_once('dvc')}",
        f"DVC: `dvc exp run --run-all -j {JOBS}` starts {JOBS} celery workers; per round, "
        "workers that ran an experiment / most experiment tasks in flight at once (the "
        "workers' logs): " + (", ".join(f"{w}/{t}" for w, t in tasks) or "-") + "; workers "
        "still alive 3 s after the command returned (then stopped, before the next step): "
        + (", ".join(map(str, lingered)) or "-"),
        f"show: {n:,} experiments on HEAD, generated from one real experiment per tool (one "
        "generated one checked against a real run; in one pack); `exp show` and `exp show "
        "--json` each first in a fresh copy (read once before) that no `exp show` ran in, "
        "i.e. no DVC exp cache; 'again': the second run in that copy. --scale scales the show "
        "rows only",
    ]
    notes += [f"artver {op} FAILED: {msg}" for op, msg in failures.items()]
    return GroupResult(
        name="exp",
        title=f"experiments: {QUEUED} queued x {SLEEP} s run {JOBS} at a time; exp show of {n:,}",
        samples=samples,
        rows=[
            RowSpec(
                f"exp run --run-all -j {JOBS} ({QUEUED} queued, {SLEEP} s each)",
                "run-all",
                (WithinFloor("ideal", 1.3),),
            ),
            RowSpec(f"exp show ({n:,} experiments, table)", "show", (Under(1.0),)),
            RowSpec("  the same exp show again in the same repo", "show-again", (Under(1.0),)),
            RowSpec(f"exp show --json ({n:,} experiments)", "show-json", (Under(1.0),)),
        ],
        floors=[
            FloorSpec(
                "ideal",
                f"the {QUEUED} stage commands alone, {JOBS} at a time (xargs -P {JOBS}); "
                f"ideal {QUEUED // JOBS * SLEEP} s",
            )
        ],
        notes=notes,
        failures=failures,
    )
