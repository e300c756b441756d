"""Shared machinery for the benchmarks: timed commands, floors, tools and throwaway Git repos.

Everything here uses the standard library only; it runs in artver's own virtual environment.

`measure(cmd, cwd)` runs one command through a small wrapper Python process that times it and
reads `RUSAGE_CHILDREN.ru_maxrss`, i.e. the peak RSS of the largest process in the command's
tree (the wrapper's own memory is not counted, nor is its start-up time).

`measure_tree(cmd, cwd)` does the same, and its wrapper also samples /proc every 20 ms for the
whole tree (the command and all its descendants) and sums their RSS: its `peak_mb` is the
largest such sum, i.e. the memory of the whole process tree at its sampled peak.
"""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

DVC_VERSION = "3.67.1"

GIT_IDENTITY = {
    "GIT_AUTHOR_NAME": "bench",
    "GIT_AUTHOR_EMAIL": "bench@example.com",
    "GIT_COMMITTER_NAME": "bench",
    "GIT_COMMITTER_EMAIL": "bench@example.com",
}

# Runs `argv[2:]`, then writes wall time, exit code and peak child RSS (KiB) to `argv[1]`.
_WRAPPER = """
import json, resource, subprocess, sys, time
out, cmd = sys.argv[1], sys.argv[2:]
t0 = time.perf_counter()
rc = subprocess.run(cmd).returncode
wall = time.perf_counter() - t0
peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
with open(out, "w") as f:
    json.dump({"wall": wall, "rc": rc, "peak_kib": peak}, f)
"""

# Like _WRAPPER, and a thread samples the summed RSS of the command's whole process tree every
# `argv[2]` seconds: the tree is walked through /proc/<pid>/task/<tid>/children from the
# command's pid, and each process's resident pages come from /proc/<pid>/statm (the same figure
# as VmRSS in /proc/<pid>/status). Reports the largest sum ("tree_peak_bytes"), how many samples
# were taken, and RUSAGE_CHILDREN.ru_maxrss (the largest single process, caught even if it was
# shorter than one interval). Processes that leave the tree (daemonised, re-parented to init) and
# descendants that live less than one interval are not in the sum.
_TREE_WRAPPER = """
import json, os, resource, subprocess, sys, threading, time
out, interval, cmd = sys.argv[1], float(sys.argv[2]), sys.argv[3:]
page = os.sysconf("SC_PAGE_SIZE")

def tree_rss(root):
    total, seen, todo = 0, set(), [root]
    while todo:
        pid = todo.pop()
        if pid in seen:
            continue
        seen.add(pid)
        try:
            with open(f"/proc/{pid}/statm", "rb") as f:
                total += int(f.read().split()[1]) * page
            for tid in os.listdir(f"/proc/{pid}/task"):
                try:
                    with open(f"/proc/{pid}/task/{tid}/children", "rb") as f:
                        todo.extend(int(c) for c in f.read().split())
                except OSError:
                    pass
        except (OSError, ValueError, IndexError):
            pass  # gone meanwhile
    return total

peak = samples = 0
done = threading.Event()

def sample(pid):
    global peak, samples
    while True:
        peak = max(peak, tree_rss(pid))
        samples += 1
        if done.wait(interval):
            return

t0 = time.perf_counter()
proc = subprocess.Popen(cmd)
sampler = threading.Thread(target=sample, args=(proc.pid,), daemon=True)
sampler.start()
rc = proc.wait()
wall = time.perf_counter() - t0
done.set()
sampler.join()
largest = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
with open(out, "w") as f:
    json.dump({"wall": wall, "rc": rc, "peak_kib": largest, "tree_peak_bytes": peak,
               "samples": samples}, f)
"""

# Floor: read every byte of a file or of every file below a directory, once.
READ_SCRIPT = """
import json, os, sys, time
t0 = time.perf_counter()
buf = bytearray(1 << 20)
files = total = 0
top = sys.argv[1]
paths = [top] if os.path.isfile(top) else (
    os.path.join(root, n) for root, _, names in os.walk(top) for n in names)
for p in paths:
    with open(p, "rb", buffering=0) as f:
        while n := f.readinto(buf):
            total += n
    files += 1
print(json.dumps({"seconds": time.perf_counter() - t0, "files": files, "bytes": total}))
"""

# Floor: list every directory below argv[1] and os.stat every file once.
STAT_SCRIPT = """
import json, os, sys, time
t0 = time.perf_counter()
files, todo = 0, [sys.argv[1]]
while todo:
    with os.scandir(todo.pop()) as it:
        for e in it:
            if e.is_dir(follow_symlinks=False):
                todo.append(e.path)
            else:
                os.stat(e.path)
                files += 1
print(json.dumps({"seconds": time.perf_counter() - t0, "files": files}))
"""


class CommandFailed(Exception):
    """A benchmarked or set-up command exited non-zero (or a result check failed)."""

    def __init__(self, cmd: list[str], cwd: Path, rc: int, stdout: str = "", stderr: str = ""):
        self.cmd, self.cwd, self.rc, self.stdout, self.stderr = cmd, cwd, rc, stdout, stderr
        super().__init__(f"command failed (exit {rc}) in {cwd}: {' '.join(cmd)}")

    def details(self) -> str:
        parts = [str(self)]
        if self.stdout.strip():
            parts.append("--- stdout ---\n" + self.stdout.rstrip()[-4000:])
        if self.stderr.strip():
            parts.append("--- stderr ---\n" + self.stderr.rstrip()[-4000:])
        return "\n".join(parts)


@dataclass
class Measurement:
    """One timed run: wall seconds, peak RSS in MB (10^6 bytes), and captured output."""

    wall: float
    peak_mb: float | None
    stdout: str = ""
    extra: dict = field(default_factory=dict)


def base_env() -> dict[str, str]:
    """Environment for every command: fixed Git identity, no DVC telemetry, bytecode caching.

    PYTHONDONTWRITEBYTECODE is dropped: with it, an editable install (artver here) recompiles
    its modules on every start, while pip-installed packages (DVC) ship compiled bytecode.
    """
    env = dict(os.environ)
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env.update(GIT_IDENTITY)
    env["DVC_NO_ANALYTICS"] = "1"
    env["GIT_CONFIG_NOSYSTEM"] = "1"
    return env


def run(cmd: list[str], cwd: Path, env: dict[str, str] | None = None) -> str:
    """Run an untimed command; return its stdout or raise CommandFailed."""
    proc = subprocess.run(
        cmd, cwd=cwd, env=env or base_env(), capture_output=True, text=True, check=False
    )
    if proc.returncode != 0:
        raise CommandFailed(cmd, cwd, proc.returncode, proc.stdout, proc.stderr)
    return proc.stdout


def _wrapped(
    wrapper: str, args: list[str], cmd: list[str], cwd: Path, env: dict[str, str] | None
) -> tuple[dict, subprocess.CompletedProcess]:
    """Run `cmd` under `wrapper` (which writes its JSON result to the path it gets first)."""
    fd, result_path = tempfile.mkstemp(prefix="bench-", suffix=".json")
    os.close(fd)
    try:
        proc = subprocess.run(
            [sys.executable, "-c", wrapper, result_path, *args, *cmd],
            cwd=cwd,
            env=env or base_env(),
            capture_output=True,
            text=True,
            check=False,
        )
        try:
            result = json.loads(Path(result_path).read_text())
        except (OSError, ValueError):
            raise CommandFailed(cmd, cwd, proc.returncode, proc.stdout, proc.stderr) from None
    finally:
        os.unlink(result_path)
    if result["rc"] != 0:
        raise CommandFailed(cmd, cwd, result["rc"], proc.stdout, proc.stderr)
    return result, proc


def measure(
    cmd: list[str], cwd: Path, env: dict[str, str] | None = None, json_out: bool = False
) -> Measurement:
    """Time `cmd` in `cwd` and record the peak RSS of the largest process in its tree.

    With `json_out`, the command's stdout is parsed as JSON into `Measurement.extra`
    (the floor scripts report their in-process time that way).
    """
    result, proc = _wrapped(_WRAPPER, [], cmd, cwd, env)
    extra = json.loads(proc.stdout) if json_out else {}
    return Measurement(result["wall"], result["peak_kib"] * 1024 / 1e6, proc.stdout, extra)


def measure_tree(
    cmd: list[str], cwd: Path, env: dict[str, str] | None = None, interval: float = 0.02
) -> Measurement:
    """Time `cmd` in `cwd`; `peak_mb` is the peak of the summed RSS of its whole process tree.

    The tree is sampled every `interval` seconds; the figure is never below the largest single
    process's peak RSS (`getrusage`), which is kept in `extra["largest_mb"]`, with the number of
    samples in `extra["samples"]`. Pages shared between processes (forked workers, libraries)
    count once per process, as in a sum of VmRSS.
    """
    result, proc = _wrapped(_TREE_WRAPPER, [str(interval)], cmd, cwd, env)
    largest = result["peak_kib"] * 1024 / 1e6
    peak = max(result["tree_peak_bytes"] / 1e6, largest)
    extra = {"largest_mb": largest, "samples": result["samples"]}
    return Measurement(result["wall"], peak, proc.stdout, extra)


def settle() -> None:
    """Flush dirty pages so write-back of earlier steps does not land inside the next timing."""
    os.sync()


def read_floor(path: Path) -> Measurement:
    """Read every byte under `path` in a fresh Python process (a floor, or an untimed warm-up)."""
    return measure([sys.executable, "-c", READ_SCRIPT, str(path)], path.parent, json_out=True)


def stat_floor(path: Path) -> Measurement:
    """List every directory and os.stat every file under `path` in a fresh Python process."""
    return measure([sys.executable, "-c", STAT_SCRIPT, str(path)], path.parent, json_out=True)


def copy_real(src: Path, dst: Path) -> None:
    """A real (non-hardlink) copy of a file or directory tree."""
    run(["cp", "-r", str(src), str(dst)], dst.parent)


def remove_tree(path: Path) -> None:
    """rm -rf that also copes with read-only directories (caches may chmod them)."""

    def onerror(func, p, _exc):
        os.chmod(os.path.dirname(p), stat.S_IRWXU)
        if os.path.isdir(p) and not os.path.islink(p):
            os.chmod(p, stat.S_IRWXU)
        func(p)

    if path.exists():
        shutil.rmtree(path, onerror=onerror)


def fresh_dir(path: Path) -> Path:
    remove_tree(path)
    path.mkdir(parents=True)
    return path


# --- Git ----------------------------------------------------------------------------------


def git(repo: Path, *args: str) -> str:
    return run(["git", "-c", "advice.detachedHead=false", *args], repo)


def git_init(repo: Path) -> None:
    git(repo, "init", "-q", "-b", "main")


def git_commit_all(repo: Path, message: str, tag: str | None = None) -> None:
    git(repo, "add", "-A")
    git(
        repo,
        "-c",
        "user.name=bench",
        "-c",
        "user.email=bench@example.com",
        "commit",
        "-q",
        "--allow-empty",
        "-m",
        message,
    )
    if tag:
        git(repo, "tag", tag)


# --- Tools --------------------------------------------------------------------------------


@dataclass
class Tools:
    """Paths of the programs under test."""

    python: str
    artver: str
    dvc: str


def find_artver() -> str:
    """artver is a console script next to the interpreter that runs this harness."""
    exe = Path(sys.executable).parent / "artver"
    if not exe.exists():
        sys.exit(f"artver not found at {exe}; run `make .venv/.installed` first")
    return str(exe)


def ensure_dvc(work: Path, log) -> str:
    """Create `<work>/dvc-venv` with DVC installed (pinned, else latest) unless it works already."""
    venv = work / "dvc-venv"
    dvc = venv / "bin" / "dvc"
    if dvc.exists():
        try:
            run([str(dvc), "--version"], work)
            return str(dvc)
        except CommandFailed:
            log("existing DVC venv is broken; reinstalling")
            remove_tree(venv)
    log(f"creating {venv} and installing dvc=={DVC_VERSION} (one-time)")
    work.mkdir(parents=True, exist_ok=True)
    run([sys.executable, "-m", "venv", str(venv)], work)
    pip = [str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet"]
    try:
        run([*pip, f"dvc=={DVC_VERSION}"], work)
    except CommandFailed as exc:
        log(f"dvc=={DVC_VERSION} not installable ({exc}); installing the latest dvc")
        run([*pip, "dvc"], work)
    run([str(dvc), "--version"], work)
    return str(dvc)
