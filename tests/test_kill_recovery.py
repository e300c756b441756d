"""Killed commands: a plain rerun completes (no --force), nothing artver left behind is reported,
recorded or kept for good, and no stage process outlives the `repro` that started it.

The real CLI runs in subprocesses and is killed with SIGKILL (or SIGTERM) at several phases of
checkout, pull and push (caught at work by polling for its temp files) and while a stage runs.
"""

from __future__ import annotations

import fcntl
import os
import shlex
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from artver.fsutil import is_stale, is_temp_name, temp_base, temp_name
from artver.parallel_scan import MIN_FILES, tree_print
from artver.stages.watchdog import follow
from artver.workspace import fingerprint, scan_tree, split_point
from tests.conftest import Workspace, git, xxh

PY = shlex.quote(sys.executable)
OLD = {"ARTVER_STALE_TEMP_AGE": "0"}  # every temp file counts as left behind
BIG = 64 * 1024 * 1024  # large enough that copying it takes a while
TOKEN = "1be4564c74f"  # what `temp_name` puts between the final name and `.tmp`


# -- helpers ----------------------------------------------------------------------------------
def temps(*roots: Path) -> list[Path]:
    """Every temp file of artver's below `roots` (.git aside)."""
    found = []
    for root in roots:
        for path in root.rglob("*"):
            if is_temp_name(path.name) and ".git" not in path.relative_to(root).parts[:1]:
                found.append(path)
    return found


def start(cwd: Path, *args: str, env: dict | None = None) -> subprocess.Popen:
    """The real CLI, started in the background (output to a log file beside `cwd`)."""
    with open(cwd.parent / f"log-{time.monotonic_ns()}.txt", "wb") as log:
        return subprocess.Popen(
            [sys.executable, "-m", "artver", *args],
            cwd=cwd,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env={**os.environ, **(env or {})},
        )


def until(predicate, timeout: float, step: float = 0.001) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(step)
    return bool(predicate())


def kill(proc: subprocess.Popen, sig: int = signal.SIGKILL) -> None:
    if proc.poll() is None:
        proc.send_signal(sig)
    proc.wait(timeout=30)


def alive(pid: int) -> bool:
    """Whether process `pid` runs (a zombie waiting to be reaped does not)."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as fobj:
            data = fobj.read()
    except FileNotFoundError:
        return False
    return data[data.rfind(b")") + 2 :][:1] not in (b"Z", b"X")


def assert_clean(ws: Workspace, expected: dict[str, str]) -> None:
    """The workspace holds exactly the recorded bytes, and status says so."""
    result = ws.artver("status")
    assert "Data is up to date." in result.output, result.output
    assert "new:" not in result.output
    assert {rel: xxh(ws.read(rel)) for rel in expected} == expected


def recorded(ws: Workspace) -> dict[str, str]:
    found = {"big.bin": xxh(ws.read("big.bin"))}
    found.update({f"data/{rel}": xxh(data) for rel, data in ws.files("data").items()})
    return found


def plant(path: Path, data: bytes = b"half-written", mtime_age: float = 0.0) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    if mtime_age:
        then = time.time() - mtime_age
        os.utime(path, (then, then))
    return path


@pytest.fixture
def tracked(ws: Workspace) -> Workspace:
    """A big file and 1,200 small ones (enough to be shared out between processes), copied
    from the cache rather than cloned, so that a checkout takes long enough to be caught."""
    ws.artver("config", "cache.type", "copy")
    for i in range(1200):
        ws.write(f"data/p{i % 6}/f{i:05}.txt", f"{i}\n" * 300)
    block = os.urandom(1 << 20)
    with open(ws.root / "big.bin", "wb") as fobj:
        for i in range(BIG >> 20):
            fobj.write(block[i:] + block[:i])
    ws.artver("add", "data", "big.bin")
    ws.commit("data")
    return ws


# -- what a temp file is --------------------------------------------------------------------
def test_temp_names_are_recognised_and_nothing_else():
    made = os.path.basename(temp_name("/repo/data/p0/f00690.txt"))
    assert is_temp_name(made) and temp_base(made) == "f00690.txt"
    assert temp_base(f".f00690.txt.{TOKEN}.tmp") == "f00690.txt"
    assert temp_base(f"..gitignore.{TOKEN}.tmp") == ".gitignore"
    assert temp_base(f".data.artver.{TOKEN}.tmp") == "data.artver"
    for name in (
        "f.tmp",
        ".f.tmp",
        ".f.12345678.tmp",  # 8 random characters: mkstemp's, never ours
        f".f.{TOKEN.upper()}.tmp",
        ".f.xyz4564c74f.tmp",
        f"..{TOKEN}.tmp",
        f"f.{TOKEN}.tmp",
        f".f.{TOKEN}.tmp.swp",
        f".f.{'a' * 25}.tmp",
    ):
        assert not is_temp_name(name), name


def test_stale_means_untouched_in_content_and_inode():
    def st(mtime: float, ctime: float) -> os.stat_result:
        return os.stat_result((0o100644, 1, 2, 1, 0, 0, 5, mtime, mtime, ctime))

    assert is_stale(st(1000, 1000), now=5000, max_age=3600)
    assert not is_stale(st(4000, 4000), now=5000, max_age=3600)
    # An old mtime with a fresh ctime: a temp just made by link or rename from an old file.
    assert not is_stale(st(1000, 4900), now=5000, max_age=3600)
    assert is_stale(st(4999, 4999), now=5000, max_age=0)


def test_the_watchdog_follows_the_groups_it_is_told_of():
    read_end, write_end = os.pipe()
    os.write(write_end, b"+101\n+102\n-101\n+10")
    os.write(write_end, b"3\n-999\nbad\n")
    os.close(write_end)
    try:
        assert follow(read_end) == {102, 103}
    finally:
        os.close(read_end)


# -- temp files in the workspace -------------------------------------------------------------
def test_a_temp_file_changes_no_fingerprint(tmp_path):
    """Not a single stat of a temp file enters a tree's fingerprint, whichever way it is taken,
    so its coming and going never makes a no-op status look at every file again."""
    for top in ("data", "nested"):
        root = tmp_path / top
        base = root / "images" if top == "nested" else root  # one subdirectory: split below
        for i in range(40):
            plant(base / f"p{i % 2}" / f"f{i}.txt", b"x")
        plant(base / "loose.txt", b"y")
        before = fingerprint(scan_tree(str(root), top), split_point(str(root)))
        plant(root / f".images.{TOKEN}.tmp")
        plant(base / f".loose.txt.{TOKEN}.tmp")
        plant(base / "p0" / f".f0.txt.{TOKEN}.tmp")
        listed = scan_tree(str(root), top)
        assert not [f for f in listed if is_temp_name(f.rel.rsplit("/", 1)[-1])]
        assert fingerprint(listed, split_point(str(root))) == before
        printed = tree_print(str(root), MIN_FILES, 2)  # on several cores, where there are
        assert printed is None or printed.fingerprint == before
        assert len(temps(root)) == 3  # fresh: a writer may be at work


def test_temp_files_are_never_reported_or_recorded_and_go_when_stale(ws, tmp_path):
    ws.write("data/a.txt", "a")
    ws.write("data/p0/b.txt", "b")
    ws.write("model.bin", "model")
    remote = tmp_path / "remote"
    ws.artver("add", "data", "model.bin")
    ws.artver("remote", "add", "-d", "origin", str(remote))
    ws.artver("push")
    ws.commit("data")
    mine = [
        plant(ws.root / f"data/p0/.b.txt.{TOKEN}.tmp"),  # a killed checkout's
        plant(ws.root / f"data/.new.txt.{TOKEN}.tmp"),
        plant(ws.root / f".model.bin.{TOKEN}.tmp"),  # beside a tracked file
        plant(ws.root / f".model.bin.artver.{TOKEN}.tmp"),  # a pointer being written
    ]
    in_cache = [
        plant(ws.root / f".artver/cache/tmp/.obj.{TOKEN}.tmp"),  # a killed pull's
        plant(ws.root / f".artver/cache/ab/.{'c' * 30}.{TOKEN}.tmp"),  # a killed add's
    ]
    on_remote = [plant(remote / "ab" / f".{'d' * 30}.{TOKEN}.tmp")]  # a killed push's
    not_mine = [plant(ws.root / f".notes.txt.{TOKEN}.tmp")]  # nothing of artver's is `notes.txt`
    user_file = plant(ws.root / "data/.a.txt.swp")
    planted = mine + in_cache + on_remote + not_mine
    for path in planted:  # an old mtime, as a hardlinked or renamed temp file has
        then = time.time() - 7200
        os.utime(path, (then, then))

    # A writer could be at work on each of them: nothing goes, nothing is reported.
    status = ws.artver("status", "--json").stdout
    assert "b.txt." not in status and "new.txt" not in status and ".a.txt.swp" in status
    user_file.unlink()
    assert "Data is up to date." in ws.artver("status").output
    ws.artver("add", "data")
    assert "nfiles: 2" in (ws.root / "data.artver").read_text()
    ws.artver("checkout")
    ws.artver("gc", "-w", "--cloud", "-f")
    assert all(path.exists() for path in planted)

    # Untouched for longer than ARTVER_STALE_TEMP_AGE: the next commands that list them delete
    # them (those of the workspace on every status, the cache's and the remote's in gc).
    ws.artver("status", env=OLD)
    assert [path for path in mine if path.exists()] == []
    assert ws.git("status", "--porcelain") == f"?? .notes.txt.{TOKEN}.tmp\n"
    dry = ws.artver("gc", "-w", "--cloud", "--dry-run", env=OLD)
    assert "Would remove 3 temp files" in dry.output
    assert all(path.exists() for path in in_cache + on_remote)
    done = ws.artver("gc", "-w", "--cloud", "-f", env=OLD)
    assert "Removed 3 temp files (36 B) that interrupted commands left." in done.output
    assert [path for path in in_cache + on_remote if path.exists()] == []
    assert all(path.exists() for path in not_mine)


def test_a_locked_command_clears_the_cache_tmp_folder(ws):
    ws.write("a.txt", "a")
    ws.artver("add", "a.txt")
    left = plant(ws.root / f".artver/cache/tmp/.obj.{TOKEN}.tmp", b"x" * 1000)
    ws.artver("add", "a.txt")
    assert left.exists()  # fresh: a pull in another repository sharing the cache, maybe
    ws.artver("add", "a.txt", env=OLD)
    assert not left.exists()


def test_a_bad_stale_age_is_one_error(ws):
    result = ws.artver("status", expect=1, env={"ARTVER_STALE_TEMP_AGE": "soon"})
    assert "error: ARTVER_STALE_TEMP_AGE must be a number of seconds >= 0; got 'soon'" in (
        result.stderr
    )
    assert "Traceback" not in result.stderr


# -- killed checkouts, pulls and pushes ---------------------------------------------------------
def _kill_at(proc: subprocess.Popen, phase, watch) -> None:
    """SIGKILL `proc` when `watch(phase)` sees it at that phase, or after `phase` seconds."""
    if isinstance(phase, float):
        until(lambda: proc.poll() is not None, phase)
    else:
        until(lambda: proc.poll() is not None or watch(phase), 120)
    kill(proc)


def test_a_killed_checkout_is_completed_by_a_plain_rerun(tracked):
    ws = tracked
    expected = recorded(ws)

    def watch(phase: str) -> bool:
        if phase == "big file":
            return any(is_temp_name(n) for n in os.listdir(ws.root))
        return len(list((ws.root / "data").glob("p0/*"))) > 50  # "small files": under way

    left_behind = 0
    for phase in ("big file", "small files", 0.05, 0.3, "big file"):
        shutil.rmtree(ws.root / "data", ignore_errors=True)
        (ws.root / "big.bin").unlink(missing_ok=True)
        _kill_at(start(ws.root, "checkout"), phase, watch)
        left_behind += len(temps(ws.root))
        ws.artver("checkout")  # no --force: a temp file is nobody's data
        assert_clean(ws, expected)
    assert left_behind, "no kill left a temp file: the checkouts were never caught at work"
    ws.artver("status", env=OLD)
    assert temps(ws.root) == []
    assert ws.git("status", "--porcelain") == ""
    assert_clean(ws, expected)


def test_killed_pulls_and_pushes_are_completed_by_plain_reruns(tracked, tmp_path):
    ws = tracked
    expected = recorded(ws)
    remote = tmp_path / "remote"
    ws.artver("remote", "add", "-d", "origin", str(remote))
    ws.commit("remote")

    big = (ws.root / "big.bin.artver").read_text().split("oid: ", 1)[1][:32]

    def in_folder(folder: Path) -> bool:
        try:
            return any(is_temp_name(name) for name in os.listdir(folder))
        except FileNotFoundError:
            return False

    # Push, killed while it uploads the big file: the rerun sends what is missing.
    proc = start(ws.root, "push")
    _kill_at(proc, "upload", lambda _: in_folder(remote / big[:2]))
    uploads_left = temps(remote)
    ws.artver("push")
    assert "Everything is up to date" in ws.artver("push", "--recheck").output

    left_behind = len(uploads_left)
    for n, phase in enumerate(("into the cache", "into the workspace", 0.2, 0.6)):
        clone = tmp_path / f"clone{n}"
        git("clone", "-q", str(ws.root), str(clone), cwd=tmp_path)
        other = Workspace(clone)

        def watch(phase: str, clone: Path = clone) -> bool:
            return in_folder(clone / ".artver/cache/tmp" if phase == "into the cache" else clone)

        _kill_at(start(clone, "pull"), phase, watch)
        left_behind += len(temps(clone))
        other.artver("pull")
        assert_clean(other, expected)
        other.artver("status", env=OLD)  # the workspace's
        other.artver("gc", "-w", "-f", env=OLD)  # the cache's (tmp/ and the shards)
        assert temps(clone) == []
    assert left_behind, "no kill left a temp file: the transfers were never caught at work"
    ws.artver("gc", "-w", "--cloud", "-f", env=OLD)
    assert temps(remote) == []
    assert "Everything is up to date" in ws.artver("push", "--recheck").output


# -- stage processes of a killed repro ---------------------------------------------------------
WRITER = """\
import os, time
open("pids", "w").write(f"{os.getpid()} {os.getppid()}\\n")
os.makedirs("out", exist_ok=True)
deadline = time.monotonic() + 120
i = 0
while True:
    with open(f"out/f{i % 20}.txt", "w") as fobj:
        fobj.write(str(i))
    i += 1
    if os.path.exists("stop") or time.monotonic() > deadline:
        break
    time.sleep(0.005)
"""


@pytest.fixture
def writing_stage(ws: Workspace) -> Workspace:
    """A stage whose writer runs below the shell (a grandchild of artver's), until `stop`."""
    ws.write("writer.py", WRITER)
    ws.write(
        "artver.yaml",
        f"stages:\n  write:\n    cmd: {PY} writer.py; echo done\n"
        "    deps: [writer.py]\n    outs: [out]\n",
    )
    ws.commit("pipeline")
    return ws


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGTERM], ids=["SIGKILL", "SIGTERM"])
def test_no_stage_process_outlives_a_killed_repro(writing_stage, sig):
    ws = writing_stage
    proc = start(ws.root, "repro")
    assert until(lambda: (ws.root / "pids").exists() and (ws.root / "pids").read_text(), 60)
    writer, shell = map(int, (ws.root / "pids").read_text().split())
    assert alive(writer) and alive(shell)
    lock_fd = os.open(ws.root / ".artver/lock", os.O_RDWR)
    try:
        kill(proc, sig)

        def lock_is_free() -> bool:
            try:
                fcntl.flock(lock_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                return False
            return True

        # The repository stays locked for as long as the stage's processes live.
        assert until(lock_is_free, 10, step=0.0005)
        assert not alive(writer) and not alive(shell)
        fcntl.flock(lock_fd, fcntl.LOCK_UN)
    finally:
        os.close(lock_fd)
    assert proc.returncode == (-signal.SIGKILL if sig == signal.SIGKILL else 143)
    ws.write("stop", "")
    ws.artver("repro")  # no orphan writes into out/ while it is removed and recorded
    assert "Data and pipelines are up to date." in ws.artver("status").output


def test_parallel_stages_are_not_killed_when_another_stage_s_thread_ends(ws):
    """PR_SET_PDEATHSIG follows the thread that started a child: the quick stage's thread ends
    long before the slow stage's second command runs."""
    ws.write(
        "artver.yaml",
        "stages:\n"
        "  quick:\n    cmd: echo q > q.txt\n    outs: [q.txt]\n"
        "  slow:\n"
        f"    cmd: [\"{PY} -c 'import time; time.sleep(1.5)'\", echo s > s.txt]\n"
        "    outs: [s.txt]\n",
    )
    ws.artver("repro", "-j", "2")
    assert ws.read("q.txt") == b"q\n" and ws.read("s.txt") == b"s\n"
