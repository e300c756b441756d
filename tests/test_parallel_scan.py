"""Large tracked directories are proved unchanged on several cores, and give the same answers
as the ordinary one-process scan: same fingerprint, and every change still seen."""

from __future__ import annotations

import json
import os
import random
from pathlib import Path

import pytest

from artver import parallel_scan
from artver.parallel_scan import MIN_FILES, deal, slices, tree_print, worker_count
from artver.state import SCHEMA_VERSION
from artver.workspace import fingerprint, scan_tree, split_point

SUBDIRS = ["a", "b", "c", "d", "é e", "new\nline"]


def make_tree(root: Path, nfiles: int = MIN_FILES + 100) -> None:
    """`nfiles` small files over nested subdirectories, some at the top, some executable."""
    rng = random.Random(7)
    for i in range(nfiles):
        top = SUBDIRS[i % len(SUBDIRS)]
        path = root / top / f"s{i % 3}" / f"f{i}.bin" if i % 50 else root / f"top{i}.txt"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(rng.randbytes(i % 40))
        if i % 17 == 0:
            path.chmod(0o755)


@pytest.fixture
def two_cores(monkeypatch):
    """The machine running the tests may have one core: the split must still be exercised."""
    from artver import config

    monkeypatch.setattr(parallel_scan, "usable_cores", lambda: 2)
    monkeypatch.setattr(config, "usable_cores", lambda: 2)  # core.jobs' default
    # A test process may run server threads (the S3 and GCS fixtures of other tests), which
    # rightly stops artver from forking; the scanning children take no lock those could hold.
    monkeypatch.setattr(parallel_scan, "can_fork", lambda: True)


def test_local_work_defaults_to_one_thread_per_usable_core(ws):
    """Hashing, cache writes and checkout are syscalls on files: threads beyond the cores
    only queue for the GIL."""
    doc = json.loads(ws.artver("doctor", "--json").stdout)
    assert doc["jobs"] == min(32, len(os.sched_getaffinity(0)))
    ws.artver("config", "core.jobs", "5")
    assert json.loads(ws.artver("doctor", "--json").stdout)["jobs"] == 5


def test_worker_count_needs_files_pieces_of_work_cores_and_jobs():
    assert worker_count(MIN_FILES - 1, units=50, cores=8, jobs=8) == 1
    assert worker_count(20_000, units=1, cores=8, jobs=8) == 1
    assert worker_count(20_000, units=20, cores=2, jobs=8) == 2
    assert worker_count(20_000, units=20, cores=8, jobs=3) == 3
    assert worker_count(20_000, units=5, cores=8, jobs=8) == 5
    assert worker_count(MIN_FILES, units=20, cores=8, jobs=8) == 2  # ~1,000 files each at least


def test_slices_keep_order_and_cover_everything():
    assert slices(list(range(7)), 3) == [[0, 1], [2, 3], [4, 5, 6]]
    assert slices([], 2) == [[], []]
    assert [x for part in slices(list(range(1001)), 4) for x in part] == list(range(1001))


def test_deal_shares_every_item_once():
    shares = deal(list(range(7)), 3)
    assert shares == [[0, 3, 6], [1, 4], [2, 5]]
    assert sorted(x for share in shares for x in share) == list(range(7))


def test_parallel_fingerprint_is_the_one_process_fingerprint(tmp_path, two_cores):
    make_tree(tmp_path)
    files = scan_tree(str(tmp_path), "t")
    found = tree_print(str(tmp_path), len(files), jobs=4)
    assert found is not None
    assert found.fingerprint == fingerprint(files, split_point(str(tmp_path)))
    assert found.nfiles == len(files) == MIN_FILES + 100
    assert found.size == sum(f.size for f in files)


@pytest.mark.parametrize("layout", ["flat", "flat_and_subdirs"])
def test_files_at_the_top_are_shared_out_too(tmp_path, two_cores, layout):
    """A flat directory (20,000 images side by side) has no subdirectories to share."""
    rng = random.Random(3)
    for i in range(MIN_FILES + 50):
        (tmp_path / f"img{i:05d}.jpg").write_bytes(rng.randbytes(i % 30))
    if layout == "flat_and_subdirs":
        make_tree(tmp_path / "more", 300)
        os.symlink(tmp_path / "img00001.jpg", tmp_path / "link.jpg")  # followed, as a file
    files = scan_tree(str(tmp_path), "t")
    found = tree_print(str(tmp_path), len(files), jobs=2)
    assert found is not None
    assert (found.fingerprint, found.nfiles, found.size) == (
        fingerprint(files, split_point(str(tmp_path))),
        len(files),
        sum(f.size for f in files),
    )
    victim = tmp_path / "img01999.jpg"
    os.utime(victim, ns=(0, victim.stat().st_mtime_ns + 1))
    changed = tree_print(str(tmp_path), len(files), jobs=2)
    assert changed is not None and changed.fingerprint != found.fingerprint


def test_a_tree_inside_a_lone_subdirectory_is_split_below_it(tmp_path, two_cores):
    """data/images/{cat,dog,...}: the tree's top has one entry, so the split point is lower."""
    make_tree(tmp_path / "images" / "all")
    assert split_point(str(tmp_path)) == "images/all/"
    files = scan_tree(str(tmp_path), "t")
    found = tree_print(str(tmp_path), len(files), jobs=2)
    assert found is not None
    assert found.fingerprint == fingerprint(files, "images/all/")
    (tmp_path / "images" / "empty").mkdir()  # a sibling: the split point moves up
    assert split_point(str(tmp_path)) == "images/"
    moved = tree_print(str(tmp_path), len(files), jobs=2)
    assert moved is not None and moved.fingerprint == fingerprint(files, "images/")
    assert tree_print(str(tmp_path / "images" / "all"), len(files), jobs=2) is not None


def test_parallel_fingerprint_changes_with_any_file(tmp_path, two_cores):
    make_tree(tmp_path)
    before = tree_print(str(tmp_path), MIN_FILES, jobs=2)
    victim = tmp_path / "b" / "s1" / "f1.bin"
    stat = victim.stat()
    victim.write_bytes(b"x" * stat.st_size)  # same size
    os.utime(victim, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1))
    after = tree_print(str(tmp_path), MIN_FILES, jobs=2)
    assert before is not None and after is not None
    assert after.fingerprint != before.fingerprint
    assert after.fingerprint == fingerprint(
        scan_tree(str(tmp_path), "t"), split_point(str(tmp_path))
    )


def test_small_trees_and_single_subdirectories_are_left_to_the_ordinary_scan(tmp_path, two_cores):
    make_tree(tmp_path)
    assert tree_print(str(tmp_path), MIN_FILES - 1, jobs=2) is None
    assert tree_print(str(tmp_path), MIN_FILES, jobs=1) is None
    (tmp_path / "only").mkdir()
    (tmp_path / "only" / "x").write_text("x")
    assert tree_print(str(tmp_path / "only"), MIN_FILES, jobs=2) is None  # no subdirectory


@pytest.mark.parametrize(
    "trouble", ["loop_to_root", "loop_in_child", "fifo", "fifo_at_top", "missing"]
)
def test_trouble_gives_no_answer_so_the_ordinary_scan_reports_it(tmp_path, two_cores, trouble):
    make_tree(tmp_path)
    if trouble == "loop_to_root":
        os.symlink(tmp_path, tmp_path / "back")
    elif trouble == "loop_in_child":
        os.symlink(tmp_path / "c", tmp_path / "c" / "s2" / "up")
    elif trouble == "fifo":
        os.mkfifo(tmp_path / "d" / "s0" / "pipe")
    elif trouble == "fifo_at_top":
        os.mkfifo(tmp_path / "pipe")
    assert (
        tree_print(str(tmp_path / ("gone" if trouble == "missing" else "")), MIN_FILES, 2) is None
    )


def backdate(root: Path) -> None:
    """Files written a moment ago are 'racy' (they may change again within the clock's
    granularity), so no fingerprint of them is kept: make them an hour old."""
    hour_ago = (os.stat(root).st_mtime_ns - 3600 * 10**9,) * 2
    for path in root.rglob("*"):
        os.utime(path, ns=hour_ago, follow_symlinks=False)


def test_status_of_a_large_unchanged_directory_comes_from_the_parallel_fingerprint(
    ws, monkeypatch, two_cores
):
    from artver.ops.status import status
    from artver.repo import Repo

    make_tree(ws.root / "data")
    backdate(ws.root / "data")
    ws.artver("add", "data")
    ws.artver("status")
    answers = []
    real = parallel_scan.tree_print
    monkeypatch.setattr(
        parallel_scan, "tree_print", lambda *a: answers.append(real(*a)) or answers[-1]
    )
    monkeypatch.chdir(ws.root)
    found = status(Repo.find(ws.root), [], ws.root)
    assert [(a.path, a.state) for a in found] == [("data", "ok")]
    assert len(answers) == 1 and answers[0] is not None
    assert answers[0].nfiles == MIN_FILES + 100


def test_every_change_to_a_large_directory_is_still_seen(ws):
    make_tree(ws.root / "data")
    backdate(ws.root / "data")
    ws.artver("add", "data")
    assert "Data is up to date." in ws.artver("status").stdout
    assert "Data is up to date." in ws.artver("status").stdout
    victim = ws.root / "data" / "c" / "s2" / "f2.bin"
    victim.write_bytes(b"z" * victim.stat().st_size)  # same size, new content
    (ws.root / "data" / "é e" / "s1" / "added.txt").write_text("new")
    os.unlink(ws.root / "data" / "top0.txt")
    res = ws.artver("status")
    assert "data: modified" in res.stdout
    assert "modified: data/c/s2/f2.bin" in res.stdout
    assert "new: data/é e/s1/added.txt" in res.stdout
    assert "deleted: data/top0.txt" in res.stdout
    ws.artver("add", "data")
    backdate(ws.root / "data")
    ws.artver("status")
    assert "Data is up to date." in ws.artver("status").stdout
    os.symlink(ws.root / "data", ws.root / "data" / "a" / "s0" / "loop")
    res = ws.artver("status", expect=1)
    assert "symlink loop" in res.stderr


def test_a_stage_rerun_records_an_unchanged_large_dependency_as_before(ws):
    make_tree(ws.root / "data")
    backdate(ws.root / "data")
    ws.write("other.txt", "1")
    ws.write(
        "artver.yaml",
        "stages:\n  count:\n    cmd: ls -R data other.txt > count.txt\n"
        "    deps: [data, other.txt]\n    outs: [count.txt]\n",
    )
    ws.artver("repro")
    ws.artver("repro")  # the data's fingerprint is saved now
    data_entry = _dep_entry(ws.read("artver.lock").decode(), "data")
    assert "nfiles: 2100" in data_entry
    ws.write("other.txt", "2")
    assert "Running stage count" in ws.artver("repro").output
    assert _dep_entry(ws.read("artver.lock").decode(), "data") == data_entry


def _dep_entry(lock: str, path: str) -> str:
    """The lines of `lock` that record the dependency `path`."""
    lines = lock.splitlines()
    start = next(i for i, line in enumerate(lines) if line.strip() == f"- path: {path}")
    end = start + 1
    while end < len(lines) and lines[end].startswith(
        " " * (len(lines[start]) - len(lines[start].lstrip()) + 2)
    ):
        end += 1
    return "\n".join(lines[start:end])


def test_a_machine_that_allows_no_more_processes_gets_the_ordinary_scan(
    tmp_path, two_cores, monkeypatch
):
    make_tree(tmp_path)

    def no_fork():
        raise BlockingIOError(11, "Resource temporarily unavailable")

    monkeypatch.setattr(os, "fork", no_fork)
    fds_before = len(os.listdir("/proc/self/fd"))
    assert tree_print(str(tmp_path), MIN_FILES, jobs=2) is None
    assert len(os.listdir("/proc/self/fd")) == fds_before  # no pipe left open


def test_a_state_db_from_before_the_tree_totals_is_upgraded_in_place(ws):
    """Version 5 kept trees without totals, and fingerprints of another definition: the
    table is remade, everything else in the state DB stays."""
    import sqlite3

    ws.write("data/a/x.txt", "x")
    ws.write("data/b/y.txt", "y")
    backdate(ws.root / "data")
    ws.artver("add", "data")
    db = ws.root / ".artver" / "state.db"
    with sqlite3.connect(db) as conn:
        conn.execute("DROP TABLE trees")
        conn.execute("CREATE TABLE trees (path TEXT PRIMARY KEY, fingerprint TEXT, oid TEXT)")
        conn.execute("INSERT INTO trees VALUES ('data', 'old-definition', 'whatever')")
        conn.execute("PRAGMA user_version = 5")
        hashes = conn.execute("SELECT count(*) FROM hashes").fetchone()[0]
    assert hashes == 2
    assert "Data is up to date." in ws.artver("status").stdout
    with sqlite3.connect(db) as conn:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
        columns = [row[1] for row in conn.execute("PRAGMA table_info(trees)")]
        assert columns == ["path", "fingerprint", "oid", "nfiles", "size"]
        assert conn.execute("SELECT count(*) FROM hashes").fetchone()[0] == hashes
