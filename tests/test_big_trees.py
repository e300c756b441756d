"""Big directories stored as trees of objects (issue 19): the CLI against real Git repos.

The thresholds are lowered (`ARTVER_TREE_SPLIT=BIG,SUB`) so that a few hundred files make a
"big" directory; the full sizes run in `make bench --only scale`.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import Workspace, run_artver

SPLIT = "300,8"  # a directory of 300+ files is a tree; subdirectories of 8+ files are objects


@pytest.fixture
def big(ws, monkeypatch) -> Workspace:
    monkeypatch.setenv("ARTVER_TREE_SPLIT", SPLIT)
    make_tree(ws.root / "data", tops=6, subs=5, files=12)  # 360 files in 30 leaves
    return ws


def make_tree(root: Path, tops: int, subs: int, files: int) -> None:
    for t in range(tops):
        for s in range(subs):
            leaf = root / f"d{t}" / f"s{s}"
            leaf.mkdir(parents=True, exist_ok=True)
            for f in range(files):
                (leaf / f"f{f}.txt").write_text(f"{t} {s} {f}\n" * (1 + f % 7))


def age(root: Path) -> None:
    """Move every file's mtime a few seconds back, past the racy window: the state DB then
    remembers them, as it would minutes after they were written."""
    then = time.time() - 10
    for folder, _, names in os.walk(root):
        for name in names:
            os.utime(os.path.join(folder, name), (then, then))


def manifests(ws: Workspace) -> set[Path]:
    return set((ws.root / ".artver" / "cache").glob("*/*.dir"))


def objects(ws: Workspace) -> set[Path]:
    return {p for p in (ws.root / ".artver" / "cache").glob("??/*") if p.is_file()}


def pointer_oid(ws: Workspace, name: str = "data") -> str:
    text = (ws.root / f"{name}.artver").read_text()
    return next(line.split(": ")[1] for line in text.splitlines() if "oid:" in line)


def stats_of(root: Path) -> dict[str, tuple[int, int]]:
    found = {}
    for folder, _, names in os.walk(root):
        for name in names:
            path = os.path.join(folder, name)
            st = os.stat(path)
            found[os.path.relpath(path, root)] = (st.st_ino, st.st_mtime_ns)
    return found


def test_a_big_directory_is_stored_as_a_tree_and_reads_back_whole(big):
    age(big.root / "data")
    added = big.artver("add", "data")
    assert "360 files" in added.output
    root = big.cache_object(pointer_oid(big)).read_bytes()
    assert root.startswith(b'{"version":2,"dirs":[["d0",')
    # the root, 6 top folders and 30 leaves: one object each
    assert len(manifests(big)) == 37
    assert "up to date" in big.artver("status").output
    assert '"nfiles": 360' in big.artver("ls", "--json").stdout
    assert big.artver("fsck").code == 0


def test_one_changed_file_rewrites_only_the_objects_on_its_path(big):
    age(big.root / "data")
    big.artver("add", "data")
    before = objects(big)
    (big.root / "data/d3/s2/f5.txt").write_text("changed\n")
    shown = big.artver("status").output
    assert "modified: data/d3/s2/f5.txt" in shown
    assert shown.count("data/") == 1  # just that one file is named
    big.artver("add", "data")
    new = objects(big) - before
    new_manifests = {p for p in new if p.name.endswith(".dir")}
    # the file, and the leaf, its folder and the root: nothing else is written again
    assert len(new) == 4 and len(new_manifests) == 3
    assert "up to date" in big.artver("status").output


def test_checkout_of_a_small_difference_touches_only_those_files(big):
    age(big.root / "data")
    big.artver("add", "data")
    big.commit("v1")
    changed = ["d0/s0/f1.txt", "d2/s4/f0.txt", "d5/s1/f11.txt"]
    for rel in changed:
        (big.root / "data" / rel).write_text(f"v2 of {rel}\n")
    (big.root / "data/d1/s1/new.txt").write_text("new\n")
    os.unlink(big.root / "data/d4/s3/f2.txt")
    age(big.root / "data")
    big.artver("add", "data")
    big.commit("v2")
    v2 = big.files("data")
    before = stats_of(big.root / "data")

    big.git("checkout", "-q", "HEAD~1", "--", "data.artver")
    done = big.artver("checkout", "data")
    assert "1 created, 3 modified, 1 deleted" in done.output
    after = stats_of(big.root / "data")
    touched = {rel for rel in set(before) | set(after) if before.get(rel) != after.get(rel)}
    assert touched == {*changed, "d1/s1/new.txt", "d4/s3/f2.txt"}
    assert "up to date" in big.artver("status").output

    big.git("checkout", "-q", "HEAD", "--", "data.artver")
    big.artver("checkout", "data")
    assert big.files("data") == v2


def test_push_and_pull_carry_the_whole_tree(big, tmp_path):
    big.artver("add", "data")
    want = big.files("data")
    remote = tmp_path / "remote"
    big.artver("remote", "add", "-d", "store", str(remote))
    big.artver("push")
    big.commit("data")
    on_remote = {p.name for p in remote.rglob("*.dir")}
    assert len(on_remote) == 37

    clone = tmp_path / "clone"
    subprocess.run(["git", "clone", "-q", str(big.root), str(clone)], check=True)
    other = Workspace(clone)
    other.artver("pull")
    assert other.files("data") == want
    assert "up to date" in other.artver("status").output
    assert other.artver("fsck").code == 0


def test_gc_keeps_every_object_of_the_tree(big):
    big.artver("add", "data")
    (big.root / "data/d0/s0/f0.txt").write_text("v2\n")
    big.artver("add", "data")
    big.artver("gc", "-w", "-f")
    assert "all sound" in big.artver("fsck").output
    shutil_rmtree(big.root / "data")
    big.artver("checkout", "data")
    assert (big.root / "data/d0/s0/f0.txt").read_text() == "v2\n"
    assert "up to date" in big.artver("status").output


def shutil_rmtree(path: Path) -> None:
    import shutil

    shutil.rmtree(path)


def test_diff_between_commits_names_the_changed_files(big):
    big.artver("add", "data")
    big.commit("v1")
    (big.root / "data/d2/s2/f2.txt").write_text("other\n")
    big.artver("add", "data")
    big.commit("v2")
    shown = big.artver("diff", "HEAD~1", "HEAD").stdout
    assert "d2/s2/f2.txt" in shown
    assert shown.count("~") == 1


def test_one_folder_of_many_files(ws, monkeypatch):
    """A directory with all its entries in one folder: no subdirectory to split by, so it is
    one object, byte for byte the format of a small directory."""
    monkeypatch.setenv("ARTVER_TREE_SPLIT", SPLIT)
    flat = ws.root / "flat"
    flat.mkdir()
    for i in range(400):
        (flat / f"img{i:04d}.bin").write_bytes(i.to_bytes(2, "big") * 3)
    ws.artver("add", "flat")
    assert ws.cache_object(pointer_oid(ws, "flat")).read_bytes().startswith(b'{"version":1,')
    (flat / "img0007.bin").write_bytes(b"changed")
    assert "modified: flat/img0007.bin" in ws.artver("status").output
    ws.artver("add", "flat")
    ws.artver("checkout", "flat")
    assert "up to date" in ws.artver("status").output


def test_a_name_that_is_not_utf8_is_refused_with_nothing_recorded(big):
    bad = os.fsencode(str(big.root / "data/d1/s1")) + b"/caf\xe9.txt"
    with open(bad, "wb") as fobj:
        fobj.write(b"x")
    result = big.artver("add", "data", expect=1)
    assert "not valid UTF-8" in result.stderr
    assert "Traceback" not in result.stderr
    assert not (big.root / "data.artver").exists()


def test_a_pointer_file_inside_a_big_directory_is_refused(big):
    (big.root / "data/d2/s0/inner.artver").write_text("outs: []\n")
    result = big.artver("add", "data", expect=1)
    assert "contains the pointer file" in result.stderr
    assert not (big.root / "data.artver").exists()


def test_a_file_added_while_the_tree_is_read_is_never_recorded_wrongly(big, monkeypatch):
    """The tree changes between the stat pass and the listing: a clear message, nothing
    recorded; the next add is right."""
    monkeypatch.chdir(big.root)
    code = f"""
import os, sys
os.environ["ARTVER_TREE_SPLIT"] = "{SPLIT}"
from artver.ops import tree_snapshot
real = tree_snapshot._list_node
def racing(repo, path, shown, rel, children, ignore):
    if rel == "d1/s1":
        open(os.path.join(path, rel, "late.txt"), "w").write("late")
    return real(repo, path, shown, rel, children, ignore)
tree_snapshot._list_node = racing
from artver.entry import main
sys.argv = ["artver", "add", "data"]
main()
"""
    proc = subprocess.run(
        [sys.executable, "-c", code], cwd=big.root, capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "changed while artver was reading it" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert not (big.root / "data.artver").exists()
    big.artver("add", "data")
    assert "up to date" in big.artver("status").output
    pointer = (big.root / "data.artver").read_text()
    assert "nfiles: 361" in pointer


def test_an_add_killed_midway_leaves_the_next_one_right(ws, monkeypatch):
    monkeypatch.setenv("ARTVER_TREE_SPLIT", "1000,8")
    make_tree(ws.root / "data", tops=10, subs=10, files=30)  # 3,000 files
    proc = subprocess.Popen(
        [sys.executable, "-m", "artver", "add", "data"],
        cwd=ws.root,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    time.sleep(1.0)
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    run_artver("add", "data", cwd=ws.root)
    assert "up to date" in ws.artver("status").output
    assert "all sound" in ws.artver("fsck").output
    shutil_rmtree(ws.root / "data")
    ws.artver("checkout", "data")
    assert len(ws.files("data")) == 3000


def test_fsck_names_a_file_missing_below_a_subdirectory_object(big):
    big.artver("add", "data")
    root = json.loads(big.cache_object(pointer_oid(big)).read_bytes())
    top = json.loads(big.cache_object(root["dirs"][0][1]).read_bytes())
    leaf = json.loads(big.cache_object(top["dirs"][0][1]).read_bytes())
    lost = big.cache_object(leaf["files"][0][1])
    lost.chmod(0o644)
    lost.unlink()
    result = big.artver("fsck", expect=1)
    assert "used by data/d0/s0/f0.txt" in result.output
    assert "1 missing" in result.output
    big.cache_object(top["dirs"][1][1]).unlink()  # a whole subdirectory object
    assert "2 missing" in big.artver("fsck", expect=1).output


@pytest.mark.parametrize("size", ["big", "small"])
def test_status_names_a_file_whose_name_is_not_utf8(ws, monkeypatch, size):
    if size == "big":
        monkeypatch.setenv("ARTVER_TREE_SPLIT", SPLIT)
    make_tree(ws.root / "data", tops=6, subs=5, files=12)
    ws.artver("add", "data")
    with open(os.fsencode(str(ws.root / "data/d1/s1")) + b"/caf\xe9.txt", "wb") as fobj:
        fobj.write(b"x")
    result = ws.artver("status", expect=1)
    assert "caf\\xe9.txt': the file name is not valid UTF-8" in result.stderr
    assert "Traceback" not in result.stderr and result.stderr.count("error:") == 1


def test_a_big_directory_with_ignore_rules_inside_is_listed_whole(big):
    (big.root / "data/d0/.artverignore").write_text("*.log\n")
    (big.root / "data/d0/s1/run.log").write_text("noise\n")
    big.artver("add", "data")
    assert "nfiles: 361" in (big.root / "data.artver").read_text()  # 360 + the rules file
    assert "up to date" in big.artver("status").output
    (big.root / "data/d5/s0/f0.txt").write_text("changed\n")
    (big.root / "data/d0/s2/other.log").write_text("more noise\n")
    shown = big.artver("status").output
    assert "modified: data/d5/s0/f0.txt" in shown and "other.log" not in shown
