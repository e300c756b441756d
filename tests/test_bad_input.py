"""Bad input gets one plain `error:` message, exit code 1 (usage errors: 2), and changes nothing.

Every test drives the real CLI in a subprocess on a real Git repository, then checks what a user
would see: the exit code, the words of the message, and that the work tree, the pointer files,
the .gitignore files and the cache are as they were (the cache may gain whole, correct objects,
never a partial or misnamed one).
"""

from __future__ import annotations

import os
import random
import re
import resource
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.conftest import Result, Workspace, git, run_artver, xxh
from tests.helpers_privileges import SmallTmpfs, cannot_read, small_tmpfs, unprivileged_prefix

MiB = 1024 * 1024
OID = "0123456789abcdef0123456789abcdef"


# -- helpers -------------------------------------------------------------------------------------
def assert_error(res: Result, *fragments: str, code: int = 1) -> None:
    """One `error:` message on stderr naming every fragment; nothing on stdout; no traceback."""
    shown = f"exit {res.code}\nstdout:\n{res.stdout}\nstderr:\n{res.stderr}"
    assert res.code == code, shown
    assert res.stderr.startswith("error: "), shown
    assert res.stderr.count("error:") == 1, shown
    assert "Traceback" not in res.stderr, shown
    # The catch-all for unexpected exceptions says this; a user mistake never should.
    assert "run with -v" not in res.stderr, shown
    assert res.stdout == "", shown
    for fragment in fragments:
        assert fragment in res.stderr, f"{fragment!r} not in the message\n{shown}"


def cache_objects(cache: Path) -> dict[str, bytes]:
    """Every object in the cache by its id (the `.dir` suffix included)."""
    found = {}
    if not cache.is_dir():
        return found
    for sub in sorted(cache.iterdir()):
        if not (sub.is_dir() and re.fullmatch(r"[0-9a-f]{2}", sub.name)):
            continue  # tmp/, and whatever else the cache may hold beside its objects
        for obj in sorted(sub.iterdir()):
            found[sub.name + obj.name] = obj.read_bytes()
    return found


def assert_cache_sound(cache: Path) -> None:
    """No temp file left behind, and every object's content hashes to its name."""
    tmp = cache / "tmp"
    leftovers = sorted(p.name for p in tmp.rglob("*")) if tmp.exists() else []
    assert leftovers == [], f"partial objects left in {tmp}: {leftovers}"
    for oid, data in cache_objects(cache).items():
        expected = xxh(data) + (".dir" if oid.endswith(".dir") else "")
        assert oid == expected, f"cache object {oid} holds content that hashes to {expected}"


@dataclass
class Before:
    """The state of a workspace, to prove a failed command changed nothing."""

    ws: Workspace
    cache: Path
    files: dict[str, bytes] = field(init=False)
    objects: set[str] = field(init=False)

    def __post_init__(self) -> None:
        self.files = self.ws.snapshot()
        self.objects = set(cache_objects(self.cache))

    def assert_unchanged(self, cache_may_grow: bool = False) -> None:
        """Same files (so no pointer or .gitignore written); a sound cache.

        With `cache_may_grow`, whole objects stored before the failure are allowed: they are
        correct, and `artver gc` removes them.
        """
        assert self.ws.snapshot() == self.files
        assert_cache_sound(self.cache)
        if not cache_may_grow:
            assert set(cache_objects(self.cache)) == self.objects


def before(ws: Workspace, cache: Path | None = None) -> Before:
    return Before(ws, cache or ws.root / ".artver" / "cache")


def run_prefixed(
    prefix: list[str], *args: str, cwd: Path, preexec_fn: Callable[[], None] | None = None
) -> Result:
    """Run the CLI under a command prefix (setpriv, nsenter) or with a preexec hook."""
    proc = subprocess.run(
        [*prefix, sys.executable, "-m", "artver", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
        preexec_fn=preexec_fn,
    )
    return Result(proc.returncode, proc.stdout, proc.stderr)


def random_bytes(n: int, seed: int) -> bytes:
    return random.Random(seed).randbytes(n)


# -- 1-4: paths that cannot be tracked -----------------------------------------------------------
@pytest.mark.parametrize("how", ["relative", "absolute"])
def test_add_path_outside_repo_is_refused(ws, tmp_path, how):
    outside = tmp_path / "outside.txt"
    outside.write_text("not in the repo\n")
    target = "../outside.txt" if how == "relative" else str(outside)
    state = before(ws)
    res = ws.artver("add", target, expect=None)
    assert_error(res, target, "outside the repository")
    state.assert_unchanged()
    assert not (tmp_path / "outside.txt.artver").exists()
    assert not (tmp_path / ".gitignore").exists()


@pytest.mark.parametrize("target", [".git", ".git/config", ".artver", ".artver/config.yaml"])
def test_add_inside_git_or_artver_dir_is_refused(ws, target):
    state = before(ws)
    git_config = ws.read(".git/config")
    res = ws.artver("add", target, expect=None)
    top = target.split("/")[0]
    assert_error(res, target, f"inside {top}")
    state.assert_unchanged()
    assert not (ws.root / (target + ".artver")).exists()
    assert ws.read(".git/config") == git_config
    assert not (ws.root / ".git" / ".gitignore").exists()


def test_add_missing_path_is_refused(ws):
    state = before(ws)
    res = ws.artver("add", "nothing/here.csv", expect=None)
    assert_error(res, "nothing/here.csv", "no such file or directory")
    state.assert_unchanged()


def test_add_glob_matching_nothing_is_refused(ws):
    ws.write("data/a.txt", "a\n")
    state = before(ws)
    res = ws.artver("add", "data/*.csv", expect=None)
    assert_error(res, "data/*.csv", "no paths match")
    state.assert_unchanged()


def test_add_path_inside_tracked_dir_names_the_parent_pointer(ws):
    ws.write("data/sub/x.txt", "x\n")
    ws.artver("add", "data")
    ws.write("data/sub/x.txt", "changed\n")
    state = before(ws)
    res = ws.artver("add", "data/sub/x.txt", expect=None)
    assert_error(res, "data/sub/x.txt", "already tracked by data.artver")
    state.assert_unchanged()
    assert not (ws.root / "data/sub/x.txt.artver").exists()
    assert not (ws.root / "data/sub/.gitignore").exists()


def test_add_inside_tracked_dir_from_a_subdirectory_names_the_pointer_file(ws):
    ws.write("data/sub/x.txt", "x\n")
    ws.artver("add", "data")
    state = before(ws)
    res = ws.artver("add", "x.txt", cwd=ws.root / "data/sub", expect=None)
    assert_error(res, "x.txt", "data.artver")
    assert "...artver" not in res.stderr
    state.assert_unchanged()


def test_add_dir_holding_a_fifo_is_refused(ws):
    ws.write("data/a.txt", "a\n")
    os.mkfifo(ws.root / "data/pipe")
    state = before(ws)
    res = ws.artver("add", "data", expect=None)
    assert_error(res, "data/pipe", "not a regular file")
    state.assert_unchanged(cache_may_grow=True)
    assert not (ws.root / "data.artver").exists()


# -- 5: unreadable files ---------------------------------------------------------------------------
@pytest.fixture
def no_dac_prefix() -> list[str]:
    prefix = unprivileged_prefix()
    if prefix is None:
        pytest.skip("running as root and `setpriv` cannot drop CAP_DAC_OVERRIDE here")
    return prefix


class Locker:
    """Makes paths unreadable (mode 000) for a process started with the unprivileged prefix."""

    def __init__(self, prefix: list[str]) -> None:
        self.prefix = prefix
        self.modes: dict[Path, int] = {}

    def lock(self, path: Path) -> None:
        self.modes[path] = path.stat().st_mode & 0o7777
        path.chmod(0)
        if not cannot_read(path, self.prefix):
            pytest.skip(f"{path.name} stays readable even without the DAC capabilities")

    def restore(self) -> None:
        """Give the modes back, so that the checks (and pytest's cleanup) can read the files."""
        for path, mode in self.modes.items():
            path.chmod(mode)
        self.modes.clear()


@pytest.fixture
def locker(no_dac_prefix) -> Iterator[Locker]:
    locker = Locker(no_dac_prefix)
    yield locker
    locker.restore()


@pytest.mark.parametrize("what", ["file", "subdir"])
def test_add_dir_with_unreadable_entry_is_refused(ws, locker, what):
    ws.write("data/a.txt", "readable\n")
    ws.write("data/secret/s.txt", "secret\n")
    ws.write("data/z.txt", "readable too\n")
    shown = "data/secret/s.txt" if what == "file" else "data/secret"
    state = before(ws)
    locker.lock(ws.root / shown)
    res = run_prefixed(locker.prefix, "add", "data", cwd=ws.root)
    locker.restore()
    assert_error(res, shown, "permission denied")
    state.assert_unchanged(cache_may_grow=True)
    assert not (ws.root / "data.artver").exists()


def test_add_unreadable_file_is_refused(ws, locker):
    ws.write("secret.bin", b"\x00secret" * 1000)
    state = before(ws)
    locker.lock(ws.root / "secret.bin")
    res = run_prefixed(locker.prefix, "add", "secret.bin", cwd=ws.root)
    locker.restore()
    assert_error(res, "secret.bin", "permission denied")
    state.assert_unchanged()
    assert not (ws.root / "secret.bin.artver").exists()


# Large directories are read by several processes (artver.forked_map): whichever of them meets
# the unreadable file, the error is the same.
@pytest.mark.parametrize("where", ["d00", "d11"])
def test_add_large_dir_with_an_unreadable_file_is_refused(ws, locker, where):
    for i in range(1_200):
        ws.write(f"data/d{i % 12:02d}/f{i}.txt", f"file {i}\n")
    secret = next((ws.root / "data" / where).iterdir())
    state = before(ws)
    locker.lock(secret)
    res = run_prefixed(locker.prefix, "add", "data", cwd=ws.root)
    locker.restore()
    assert_error(res, f"data/{where}/{secret.name}", "permission denied")
    state.assert_unchanged(cache_may_grow=True)
    assert not (ws.root / "data.artver").exists()


# -- 6: symlink loops ------------------------------------------------------------------------------
def test_add_dir_with_self_symlink_is_refused(ws):
    ws.write("data/a.txt", "a\n")
    os.symlink("self", ws.root / "data/self")
    state = before(ws)
    res = ws.artver("add", "data", expect=None)
    assert_error(res, "data/self", "symlink loop")
    state.assert_unchanged(cache_may_grow=True)
    assert not (ws.root / "data.artver").exists()


def test_add_dir_with_symlink_to_its_parent_is_refused(ws):
    ws.write("data/sub/a.txt", "a\n")
    os.symlink("..", ws.root / "data/sub/up")
    state = before(ws)
    res = ws.artver("add", "data", expect=None)
    assert_error(res, "data/sub/up", "symlink loop")
    state.assert_unchanged(cache_may_grow=True)
    assert not (ws.root / "data.artver").exists()


@pytest.mark.parametrize("loop", ["self", "pair"])
def test_add_looping_symlink_itself_is_refused(ws, loop):
    if loop == "self":
        os.symlink("loop", ws.root / "loop")
    else:
        os.symlink("other", ws.root / "loop")
        os.symlink("loop", ws.root / "other")
    state = before(ws)
    res = ws.artver("add", "loop", expect=None)
    assert_error(res, "loop", "symlink loop")
    state.assert_unchanged()
    assert not (ws.root / "loop.artver").exists()


# -- 7: corrupt or hand-edited pointer files -------------------------------------------------------
GOOD_POINTER = f"outs:\n- path: data\n  hash: xxh3-128\n  oid: {OID}.dir\n  size: 2\n  nfiles: 1\n"
BAD_POINTERS = {
    # A tab, which YAML does not allow for indentation, opens line 3.
    "bad-yaml": (
        f"outs:\n- path: data\n\toid: {OID}.dir\n  size: 2\n",
        ["line 3, column 1"],
    ),
    "missing-oid": ("outs:\n- path: data\n  hash: xxh3-128\n  size: 2\n", ["'oid'"]),
    "short-oid": (GOOD_POINTER.replace(OID, OID[:31]), ["'oid'", "32", OID[:31]]),
    "unknown-hash": (GOOD_POINTER.replace("xxh3-128", "md5"), ["hash", "md5"]),
    "outs-not-a-list": (
        f"outs:\n  path: data\n  oid: {OID}.dir\n",
        ["'outs'", "list"],
    ),
}


@pytest.mark.parametrize("case", list(BAD_POINTERS))
def test_corrupt_pointer_is_reported_by_status_checkout_and_ls(ws, case):
    text, fragments = BAD_POINTERS[case]
    ws.write("data/a.txt", "a\n")
    ws.write("data.artver", text)
    state = before(ws)
    for command in ("status", "checkout", "ls"):
        res = ws.artver(command, expect=None)
        assert_error(res, "data.artver", *fragments)
        state.assert_unchanged()


# -- 8: objects missing from the cache ------------------------------------------------------------
def test_checkout_of_file_missing_from_cache_says_pull(ws):
    ws.write("model.bin", b"weights" * 100)
    ws.artver("add", "model.bin")
    ws.cache_object(xxh(b"weights" * 100)).unlink()
    (ws.root / "model.bin").unlink()
    state = before(ws)
    res = ws.artver("checkout", expect=None)
    assert_error(res, "model.bin", "artver pull")
    state.assert_unchanged()
    assert not (ws.root / "model.bin").exists()


def test_checkout_of_dir_whose_manifest_is_missing_says_pull(ws):
    ws.write("data/a.txt", "a\n")
    ws.write("data/b/c.txt", "c\n")
    ws.artver("add", "data")
    manifests = [p for p in (ws.root / ".artver/cache").rglob("*.dir")]
    assert len(manifests) == 1
    manifests[0].unlink()
    for rel in ("data/a.txt", "data/b/c.txt"):
        (ws.root / rel).unlink()
    (ws.root / "data/b").rmdir()
    (ws.root / "data").rmdir()
    state = before(ws)
    res = ws.artver("checkout", expect=None)
    assert_error(res, "data", "artver pull")
    state.assert_unchanged()
    assert not (ws.root / "data").exists()


def test_checkout_of_dir_with_a_file_missing_from_cache_says_pull(ws):
    ws.write("data/a.txt", "a\n")
    ws.write("data/b.txt", "b\n")
    ws.artver("add", "data")
    ws.cache_object(xxh(b"b\n")).unlink()
    for rel in ("data/a.txt", "data/b.txt"):
        (ws.root / rel).unlink()
    (ws.root / "data").rmdir()
    state = before(ws)
    res = ws.artver("checkout", expect=None)
    assert_error(res, "data/b.txt", "artver pull")
    state.assert_unchanged()
    assert not (ws.root / "data").exists()


# -- 9: no Git repository, no artver repository -------------------------------------------------
@pytest.mark.parametrize("args", [["init"], ["add", "x.csv"], ["status"]])
def test_outside_git_repo_says_git(tmp_path, args):
    plain = tmp_path / "plain"
    plain.mkdir()
    (plain / "x.csv").write_text("a,b\n")
    probe = subprocess.run(["git", "rev-parse"], cwd=plain, capture_output=True)
    if probe.returncode == 0:
        pytest.skip(f"the tmp dir {plain} is itself inside a Git repository")
    res = run_artver(*args, cwd=plain, expect=None)
    assert_error(res, "Git repository", "git init")
    assert sorted(p.name for p in plain.iterdir()) == ["x.csv"]


@pytest.mark.parametrize("args", [["add", "x.csv"], ["status"], ["checkout"]])
def test_git_repo_without_artver_init_says_init(gitrepo, args):
    gitrepo.write("x.csv", "a,b\n")
    res = gitrepo.artver(*args, expect=None)
    assert_error(res, "artver init")
    assert sorted(p.name for p in gitrepo.root.iterdir()) == [".git", "x.csv"]


# -- 10: disk full while writing the cache ---------------------------------------------------------
class Limit:
    """Runs artver with too little space for the cache, until `lift()`."""

    cache: Path  # where the test can read the cache

    def run(self, ws: Workspace, *args: str) -> Result:
        raise NotImplementedError

    def lift(self) -> None:
        raise NotImplementedError


class TmpfsLimit(Limit):
    """A real ENOSPC: the cache lives on a 1 MiB tmpfs in a private mount namespace."""

    def __init__(self, ws: Workspace, fs: SmallTmpfs) -> None:
        self.fs = fs
        self.cache = fs.view
        ws.artver("config", "cache.dir", str(fs.mountpoint))

    def run(self, ws: Workspace, *args: str) -> Result:
        return run_prefixed(self.fs.inside(ws.root), *args, cwd=ws.root)

    def lift(self) -> None:
        self.fs.resize("64m")


class FsizeLimit(Limit):
    """RLIMIT_FSIZE of 1 MiB: a larger write fails with EFBIG (Python ignores SIGXFSZ)."""

    def __init__(self, ws: Workspace) -> None:
        self.cache = ws.root / ".artver" / "cache"
        self.limited = True

    def run(self, ws: Workspace, *args: str) -> Result:
        def limit() -> None:
            resource.setrlimit(resource.RLIMIT_FSIZE, (MiB, MiB))

        return run_prefixed([], *args, cwd=ws.root, preexec_fn=limit if self.limited else None)

    def lift(self) -> None:
        self.limited = False


@pytest.fixture(params=["tmpfs", "fsize"])
def limit(request, ws, tmp_path) -> Iterator[Limit]:
    if request.param == "fsize":
        yield FsizeLimit(ws)
        return
    fs = small_tmpfs(tmp_path / "smallcache", "1m")
    if fs is None:
        pytest.skip("cannot mount a tmpfs in a private namespace (needs root, unshare, nsenter)")
    try:
        yield TmpfsLimit(ws, fs)
    finally:
        fs.close()


def assert_disk_full_then_resume(ws: Workspace, limit: Limit, target: str) -> None:
    state = before(ws, limit.cache)
    res = limit.run(ws, "add", target)
    assert_error(res, "no space left")
    state.assert_unchanged(cache_may_grow=True)
    assert not (ws.root / f"{target}.artver").exists()
    assert not (ws.root / ".gitignore").exists()

    limit.lift()
    res = limit.run(ws, "add", target)
    assert res.code == 0, res.stderr
    assert (ws.root / f"{target}.artver").is_file()
    assert_cache_sound(limit.cache)
    objects = cache_objects(limit.cache)
    path = ws.root / target
    for f in [path] if path.is_file() else [p for p in path.rglob("*") if p.is_file()]:
        assert objects.get(xxh(f.read_bytes())) == f.read_bytes(), f
    assert "up to date" in limit.run(ws, "status").stdout


def test_disk_full_adding_a_big_file_leaves_nothing_then_resumes(ws, limit):
    ws.write("big.bin", random_bytes(4 * MiB, seed=1))
    assert_disk_full_then_resume(ws, limit, "big.bin")


def test_disk_full_midway_through_a_directory_leaves_nothing_then_resumes(ws, limit):
    for i in range(4):
        ws.write(f"data/small{i}.bin", random_bytes(256 * 1024, seed=10 + i))
    ws.write("data/big.bin", random_bytes(2 * MiB, seed=20))
    assert_disk_full_then_resume(ws, limit, "data")


def test_disk_full_midway_through_a_large_directory_leaves_nothing_then_resumes(ws, tmp_path):
    fs = small_tmpfs(tmp_path / "smallcache", "1m")
    if fs is None:
        pytest.skip("cannot mount a tmpfs in a private namespace (needs root, unshare, nsenter)")
    try:
        for i in range(1_200):  # 2.4 MB in files shared out between processes
            ws.write(f"data/d{i % 12:02d}/f{i}.bin", random_bytes(2048, seed=i))
        assert_disk_full_then_resume(ws, TmpfsLimit(ws, fs), "data")
    finally:
        fs.close()


# -- 11: checkout never discards content that exists nowhere else --------------------------------
def test_checkout_refuses_to_discard_unsaved_changes_until_forced(ws):
    ws.write("data/a.txt", "original\n")
    ws.write("data/b.txt", "b\n")
    ws.artver("add", "data")
    ws.write("data/a.txt", "edited by hand\n")
    ws.write("data/new.txt", "a new file\n")
    state = before(ws)
    res = ws.artver("checkout", expect=None)
    assert_error(res, "data/a.txt", "data/new.txt", "--force")
    assert "data/b.txt" not in res.stderr
    state.assert_unchanged()

    ws.artver("checkout", "--force")
    assert ws.files("data") == {"a.txt": b"original\n", "b.txt": b"b\n"}


def test_checkout_of_older_pointer_refuses_to_overwrite_unsaved_file(ws):
    ws.write("model.bin", "v1\n")
    ws.artver("add", "model.bin")
    ws.git("add", "-A")
    ws.git("commit", "-qm", "v1")
    ws.write("model.bin", "v2\n")
    ws.artver("add", "model.bin")
    ws.git("commit", "-qam", "v2")
    ws.write("model.bin", "v3, never added\n")
    git("checkout", "HEAD~1", "--", "model.bin.artver", cwd=ws.root)
    state = before(ws)
    res = ws.artver("checkout", expect=None)
    assert_error(res, "model.bin", "--force")
    state.assert_unchanged()

    ws.artver("checkout", "--force")
    assert ws.read("model.bin") == b"v1\n"


# -- 12: usage errors ----------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["add"], "Missing argument"),
        (["status", "--bogus"], "--bogus"),
        (["frobnicate"], "frobnicate"),
        (["checkout", "-f", "--relink", "--nope"], "--nope"),
    ],
)
def test_usage_errors_exit_2(ws, args, fragment):
    state = before(ws)
    res = ws.artver(*args, expect=None)
    assert res.code == 2, res.output
    assert fragment in res.stderr
    assert "Traceback" not in res.stderr
    state.assert_unchanged()


def test_conflicting_options_are_a_usage_error(ws):
    res = ws.artver("config", "--global", "--local", "core.jobs", "2", expect=None)
    assert_error(res, "--global", "--local", code=2)
