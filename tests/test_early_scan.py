"""The head start on large trees (`artver.early_scan`): a `status` or `repro` started in a
repository whose large trees were checked before fingerprints them in a process forked before
the CLI is imported. Its answers must be exactly what the ordinary scan would say, and every
change must still be seen."""

from __future__ import annotations

import json
import os
import sqlite3

import pytest

from artver import early_scan
from artver.parallel_scan import finish_print, start_print, tree_print
from artver.workspace import fingerprint, scan_tree, split_point
from tests.test_parallel_scan import backdate, make_tree


def listed_trees(ws) -> list[str]:
    with sqlite3.connect(ws.root / ".artver" / "state.db") as conn:
        row = conn.execute("SELECT value FROM kv WHERE key = 'large-trees'").fetchone()
    return [] if row is None else json.loads(row[0])


@pytest.fixture
def tracked_tree(ws):
    make_tree(ws.root / "data")
    make_tree(ws.root / "small", 10)
    backdate(ws.root / "data")
    ws.artver("add", "data", "small")
    ws.artver("status")  # remembers the tree's fingerprint
    return ws


@pytest.fixture
def in_repo(tracked_tree, monkeypatch):
    monkeypatch.chdir(tracked_tree.root)
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0, 1})  # two cores, whatever runs
    yield tracked_tree
    early_scan.drop()


def test_a_print_started_in_child_processes_is_the_one_process_print(tmp_path, monkeypatch):
    from artver import parallel_scan

    monkeypatch.setattr(parallel_scan, "usable_cores", lambda: 2)
    monkeypatch.setattr(parallel_scan, "can_fork", lambda: True)
    make_tree(tmp_path)
    files = scan_tree(str(tmp_path), "t")
    for workers in (1, 2, 3):
        found = finish_print(start_print(str(tmp_path), workers))
        assert found == tree_print(str(tmp_path), len(files), jobs=2)
        assert found.fingerprint == fingerprint(files, split_point(str(tmp_path)))
    assert start_print(str(tmp_path / "gone"), 2) is None


def test_a_checked_large_tree_is_listed_and_small_ones_are_not(tracked_tree):
    assert listed_trees(tracked_tree) == ["data"]


def test_a_large_tree_is_listed_as_soon_as_its_fingerprint_is_saved(ws):
    """By `add`, or by the `repro` that first hashed a large dep: the next command starts early."""
    make_tree(ws.root / "data")
    backdate(ws.root / "data")
    ws.artver("add", "data")
    assert listed_trees(ws) == ["data"]


def test_status_and_repro_get_an_early_answer_for_a_listed_tree(in_repo):
    early_scan.start(["-q", "status"])
    data = str(in_repo.root / "data")
    found = early_scan.result(data)
    files = scan_tree(data, "data")
    assert found is not None
    assert found.fingerprint == fingerprint(files, split_point(data))
    assert (found.nfiles, found.size) == (len(files), sum(f.size for f in files))
    assert early_scan.result(data) is None  # given once
    early_scan.start(["repro", "-f"])
    assert early_scan.result(data) is not None


@pytest.mark.parametrize("argv", [["add", "data"], ["-C", ".", "status"], ["--version"], []])
def test_other_commands_and_other_directories_get_none(in_repo, argv):
    early_scan.start(argv)
    assert early_scan.result(str(in_repo.root / "data")) is None


def test_answers_are_dropped_when_the_command_waited_for_the_lock(in_repo):
    early_scan.start(["repro"])
    early_scan.drop()
    assert early_scan.result(str(in_repo.root / "data")) is None


def test_a_command_that_waited_for_the_lock_drops_its_answers(in_repo):
    import threading

    from artver.lock import repo_lock
    from artver.repo import Repo

    early_scan.start(["repro"])
    repo = Repo.find(in_repo.root)
    held, release = threading.Event(), threading.Event()

    def other_command() -> None:
        with repo_lock(repo.artver_dir / "lock", "artver checkout", 5):
            held.set()
            release.wait(5)

    other = threading.Thread(target=other_command)
    other.start()
    held.wait(5)
    threading.Timer(0.3, release.set).start()
    with repo.lock("artver repro"):
        pass
    other.join()
    assert early_scan.result(str(in_repo.root / "data")) is None


def test_every_change_is_seen_through_the_real_entry_point(tracked_tree):
    ws = tracked_tree
    assert "Data is up to date." in ws.artver("status").stdout
    victim = ws.root / "data" / "c" / "s2" / "f2.bin"
    stat = victim.stat()
    victim.write_bytes(b"z" * stat.st_size)  # same size, new content, same mtime
    os.utime(victim, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1))
    assert "modified" in ws.artver("status").stdout
    ws.artver("add", "data")
    backdate(ws.root / "data")
    assert "Data is up to date." in ws.artver("status").stdout
    (ws.root / "data" / "a" / "new.txt").write_text("new")
    assert "modified" in ws.artver("status").stdout


def test_answers_no_one_asked_for_are_stopped_when_the_command_ends(in_repo):
    early_scan.start(["status", "small"])
    pids = [pid for started in early_scan._started.values() for pid, _ in started.children]
    assert len(pids) == 2
    early_scan.cancel()
    for pid in pids:
        with pytest.raises(ChildProcessError):  # killed and reaped: no zombie left
            os.waitpid(pid, os.WNOHANG)
    assert early_scan.result(str(in_repo.root / "data")) is None
