"""The walk for pointer and pipeline files, and the directory listings it remembers."""

from __future__ import annotations

import json
import os
import shutil
import time
from pathlib import Path

from artver.metadata_walk import settled, walk
from artver.pointer import SUFFIX
from artver.repo import PIPELINE_FILE, SKIP_DIRS, WALK_KEY, WALK_VERSION
from artver.state import StateDB

WANTED = (SUFFIX, PIPELINE_FILE)
TRUST_ALL = 2**62  # "now" so late that every directory counts as changed long ago
TRUST_NONE = 0  # "now" before any directory was changed


def touch(path: Path, text: str = "x") -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def found_under(root: Path, remembered=None, trust=TRUST_ALL):
    found, fresh = walk(str(root), WANTED, SKIP_DIRS, remembered or {}, trust)
    return sorted(Path(p).relative_to(root).as_posix() for p in found), fresh


def test_walk_finds_pointer_and_pipeline_files_and_skips_what_never_holds_them(tmp_path):
    touch(tmp_path / PIPELINE_FILE)
    touch(tmp_path / "pyvenv.cfg")  # only a subdirectory with one is an environment
    touch(tmp_path / "data.artver")
    touch(tmp_path / "data" / "inner.artver")  # inside a tracked directory
    touch(tmp_path / "env" / "pyvenv.cfg")
    touch(tmp_path / "env" / "lib" / "x.artver")
    touch(tmp_path / "node_modules" / "y.artver")
    touch(tmp_path / ".git" / "z.artver")
    touch(tmp_path / "sub" / "deep" / PIPELINE_FILE)
    touch(tmp_path / "sub" / "deep" / "model.pt.artver")
    touch(tmp_path / "dir.artver" / "w.artver")  # a directory named like a pointer file
    os.symlink(tmp_path / "sub", tmp_path / "link")  # symlinked directories are not entered

    found, _ = found_under(tmp_path)

    assert found == [
        PIPELINE_FILE,
        "data.artver",
        "dir.artver/w.artver",
        f"sub/deep/{PIPELINE_FILE}",
        "sub/deep/model.pt.artver",
    ]


def test_an_unchanged_directory_is_answered_from_its_remembered_listing(tmp_path):
    touch(tmp_path / "sub" / "deep" / "a.artver")
    _, fresh = found_under(tmp_path)
    deep = str(tmp_path / "sub" / "deep")
    assert fresh[deep][3] == ("a.artver",)

    # What is remembered is believed while the directory's times are unchanged: the walk does
    # not list it again (shown here by a remembered name that is not on disk)...
    forged = {**fresh, deep: (*fresh[deep][:3], ("b.artver",), ())}
    assert found_under(tmp_path, forged)[0] == ["sub/deep/b.artver"]

    # ...and listed again as soon as an entry is created, renamed or removed.
    time.sleep(0.01)  # past the clock's granularity
    touch(tmp_path / "sub" / "deep" / "c.artver")
    assert found_under(tmp_path, forged)[0] == ["sub/deep/a.artver", "sub/deep/c.artver"]
    os.rename(tmp_path / "sub" / "deep" / "c.artver", tmp_path / "sub" / "deep" / "d.artver")
    assert found_under(tmp_path, forged)[0] == ["sub/deep/a.artver", "sub/deep/d.artver"]


def test_a_directory_replaced_by_another_is_listed_again(tmp_path):
    touch(tmp_path / "sub" / "a.artver")
    _, fresh = found_under(tmp_path)
    shutil.rmtree(tmp_path / "sub")
    touch(tmp_path / "sub" / "b.artver")
    sub = str(tmp_path / "sub")
    os.utime(sub, ns=(fresh[sub][1], fresh[sub][1]))  # the old mtime: the ctime still moved
    assert found_under(tmp_path, fresh)[0] == ["sub/b.artver"]


def test_recently_changed_directories_are_not_remembered(tmp_path):
    touch(tmp_path / "sub" / "a.artver")
    assert found_under(tmp_path, trust=TRUST_NONE)[1] == {}
    assert set(found_under(tmp_path, trust=TRUST_ALL)[1]) == {str(tmp_path), str(tmp_path / "sub")}
    changed = max(os.lstat(tmp_path / "sub").st_mtime_ns, os.lstat(tmp_path).st_mtime_ns)
    assert found_under(tmp_path, trust=changed + 50_000_000)[1] == {}
    assert len(found_under(tmp_path, trust=changed + 150_000_000)[1]) == 2


def test_whole_second_timestamps_are_trusted_only_two_seconds_later():
    # FAT and some network filesystems keep whole (or even two) seconds: a directory changed
    # at 10.0 s may change again until 12.0 s with the same mtime.
    second = 10**9
    assert not settled(10 * second, now_ns=11 * second)
    assert settled(10 * second, now_ns=12 * second + 1)
    assert not settled(10 * second + 123, now_ns=10 * second + 50_000_000)
    assert settled(10 * second + 123, now_ns=10 * second + 100_000_124)


def test_a_remembered_subdirectory_that_is_gone_is_passed_over(tmp_path):
    touch(tmp_path / "a.artver")
    st = os.lstat(tmp_path)
    root_listing = (st.st_ino, st.st_mtime_ns, st.st_ctime_ns, ("a.artver",), ("gone",))
    found, fresh = found_under(tmp_path, {str(tmp_path): root_listing})
    assert found == ["a.artver"]
    assert str(tmp_path / "gone") not in fresh


def status_paths(ws) -> list[str]:
    doc = json.loads(ws.artver("status", "--json").stdout)
    return sorted(item["path"] for item in doc["artifacts"])


def test_status_sees_pointers_added_moved_and_removed_after_listings_were_remembered(ws):
    for d in ("a/b/c", "a/b/d", "e"):
        ws.write(f"{d}/file.txt", d)
    ws.artver("add", "a/b/c/file.txt")
    time.sleep(0.2)  # past the walk's racy window (100 ms): the next walk remembers listings
    assert status_paths(ws) == ["a/b/c/file.txt"]
    assert status_paths(ws) == ["a/b/c/file.txt"]  # answered from remembered listings
    state = StateDB(ws.root / ".artver" / "state.db")
    try:
        remembered = state.parsed(WALK_KEY, WALK_VERSION)
    finally:
        state.close()
    assert str(ws.root / "a" / "b" / "c") in remembered

    ws.artver("add", "a/b/d/file.txt")  # a new pointer deep in a remembered tree
    assert status_paths(ws) == ["a/b/c/file.txt", "a/b/d/file.txt"]

    os.rename(ws.root / "a" / "b", ws.root / "e" / "moved")  # a whole subtree moves
    assert status_paths(ws) == ["e/moved/c/file.txt", "e/moved/d/file.txt"]

    os.unlink(ws.root / "e" / "moved" / "c" / "file.txt.artver")
    assert status_paths(ws) == ["e/moved/d/file.txt"]
