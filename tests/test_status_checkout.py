"""`artver status`, `checkout` and `commit` against real Git history."""

from __future__ import annotations

import json
import os
import stat

from tests.conftest import xxh


def test_status_names_modified_new_and_deleted_files(ws):
    ws.write("data/keep.txt", "k")
    ws.write("data/change.txt", "1")
    ws.write("data/gone.txt", "g")
    ws.write("model.bin", "m")
    ws.artver("add", "data", "model.bin")
    ws.write("data/change.txt", "2")
    ws.write("data/new.txt", "n")
    os.unlink(ws.root / "data/gone.txt")
    os.unlink(ws.root / "model.bin")
    res = ws.artver("status")
    assert "data: modified" in res.stdout
    assert "modified: data/change.txt" in res.stdout
    assert "new: data/new.txt" in res.stdout
    assert "deleted: data/gone.txt" in res.stdout
    assert "model.bin: missing" in res.stdout
    doc = json.loads(ws.artver("status", "--json").stdout)
    by_path = {a["path"]: a for a in doc["artifacts"]}
    assert by_path["data"]["changes"] == {
        "modified": ["change.txt"],
        "new": ["new.txt"],
        "deleted": ["gone.txt"],
    }
    assert by_path["model.bin"]["state"] == "missing"


def test_status_sees_a_change_that_keeps_size_and_mtime_but_not_inode(ws):
    ws.write("data/a.txt", "aaaa")
    ws.artver("add", "data")
    st = os.stat(ws.root / "data/a.txt")
    ws.write("new.tmp", "bbbb")  # created while the old file exists: a different inode
    os.utime(ws.root / "new.tmp", ns=(st.st_atime_ns, st.st_mtime_ns))
    os.replace(ws.root / "new.tmp", ws.root / "data/a.txt")
    assert "modified: data/a.txt" in ws.artver("status").stdout


def test_status_trusts_the_state_db_for_unchanged_stat(ws):
    """A file whose inode, size and mtime are unchanged is not read again (the state DB).
    Rewriting it in place with the old mtime is invisible by design, as in Git and DVC."""
    ws.write("data/a.txt", "aaaa")
    old = os.stat(ws.root / "data/a.txt")
    os.utime(ws.root / "data/a.txt", ns=(old.st_atime_ns, old.st_mtime_ns - 10**10))
    ws.artver("add", "data")
    ws.artver("status")
    st = os.stat(ws.root / "data/a.txt")
    with open(ws.root / "data/a.txt", "r+b") as fobj:
        fobj.write(b"bbbb")
    os.utime(ws.root / "data/a.txt", ns=(st.st_atime_ns, st.st_mtime_ns))
    assert "up to date" in ws.artver("status").stdout


def test_git_checkout_then_artver_checkout_restores_old_bytes(ws):
    ws.write("data/a.txt", "version 1")
    ws.write("data/only-in-v1.txt", "old")
    ws.write("model.bin", "model 1")
    ws.artver("add", "data", "model.bin")
    ws.commit("v1")
    ws.git("tag", "v1")
    ws.write("data/a.txt", "version 2")
    os.unlink(ws.root / "data/only-in-v1.txt")
    ws.write("data/new/b.txt", "new in v2")
    ws.write("model.bin", "model 2")
    ws.artver("add", "data", "model.bin")
    ws.commit("v2")

    ws.git("checkout", "-q", "v1")
    assert "data: modified" in ws.artver("status").stdout
    ws.artver("checkout")
    assert ws.files("data") == {"a.txt": b"version 1", "only-in-v1.txt": b"old"}
    assert not (ws.root / "data/new").exists(), "directories emptied by checkout are removed"
    assert ws.read("model.bin") == b"model 1"
    assert "up to date" in ws.artver("status").stdout

    ws.git("checkout", "-q", "main")
    ws.artver("checkout")
    assert ws.files("data") == {"a.txt": b"version 2", "new/b.txt": b"new in v2"}
    assert ws.read("model.bin") == b"model 2"


def test_checkout_restores_missing_data_and_executable_bit(ws):
    ws.write("bin/tool.sh", "#!/bin/sh\necho hi\n")
    os.chmod(ws.root / "bin/tool.sh", 0o755)
    ws.artver("add", "bin")
    import shutil

    shutil.rmtree(ws.root / "bin")
    res = ws.artver("checkout")
    assert "1 created" in res.stderr
    assert ws.read("bin/tool.sh") == b"#!/bin/sh\necho hi\n"
    assert os.access(ws.root / "bin/tool.sh", os.X_OK)


def test_checkout_of_a_large_directory_places_every_file_and_records_it(ws):
    # 1,200 files to place are shared out between processes (artver.forked_map).
    v1 = {f"d{i % 12}/f{i}.bin": os.urandom(i % 64) for i in range(1_200)}
    for rel, data in v1.items():
        ws.write(f"data/{rel}", data)
    os.chmod(ws.root / "data/d0/f0.bin", 0o755)
    ws.artver("add", "data")
    ws.commit("v1")
    ws.git("tag", "v1")
    for rel in list(v1)[::2]:
        ws.write(f"data/{rel}", b"changed " + rel.encode())
    ws.artver("add", "data")
    ws.commit("v2")

    ws.git("checkout", "-q", "v1")
    res = ws.artver("checkout")
    assert "600 modified" in res.stderr, res.stderr
    assert ws.files("data") == v1
    assert os.access(ws.root / "data/d0/f0.bin", os.X_OK)
    # what checkout placed is remembered: status hashes nothing and finds nothing to say
    assert "Data is up to date." in ws.artver("status").stdout


def test_checked_out_copies_get_the_mode_of_new_files_under_the_umask(ws):
    ws.write("bin/tool.sh", "#!/bin/sh\n")
    ws.write("bin/notes.txt", "n")
    os.chmod(ws.root / "bin/tool.sh", 0o755)
    ws.artver("add", "bin")
    for name in ("tool.sh", "notes.txt"):
        os.unlink(ws.root / "bin" / name)
    old = os.umask(0o027)  # inherited by the artver process
    try:
        ws.artver("checkout")
    finally:
        os.umask(old)
    assert stat.S_IMODE(os.stat(ws.root / "bin/tool.sh").st_mode) == 0o750
    assert stat.S_IMODE(os.stat(ws.root / "bin/notes.txt").st_mode) == 0o640


def test_checkout_of_a_target_leaves_other_artifacts_alone(ws):
    ws.write("a/x.txt", "x")
    ws.write("b/y.txt", "y")
    ws.artver("add", "a", "b")
    os.unlink(ws.root / "a/x.txt")
    os.unlink(ws.root / "b/y.txt")
    ws.artver("checkout", "a.artver")
    assert ws.read("a/x.txt") == b"x"
    assert not (ws.root / "b/y.txt").exists()
    ws.artver("checkout", "b")
    assert ws.read("b/y.txt") == b"y"


def test_checkout_refuses_to_lose_uncached_changes_until_forced(ws):
    ws.write("data/a.txt", "committed")
    ws.artver("add", "data")
    ws.write("data/a.txt", "precious edit")
    ws.write("data/extra.txt", "precious new file")
    res = ws.artver("checkout", expect=1)
    assert "data/a.txt" in res.stderr and "data/extra.txt" in res.stderr
    assert "--force" in res.stderr
    assert ws.read("data/a.txt") == b"precious edit"
    assert ws.read("data/extra.txt") == b"precious new file"
    ws.artver("checkout", "--force")
    assert ws.files("data") == {"a.txt": b"committed"}


def test_checkout_overwrites_without_asking_when_content_is_cached(ws):
    ws.write("data/a.txt", "v1")
    ws.artver("add", "data")
    ws.commit("v1")
    ws.write("data/a.txt", "v2")
    ws.artver("add", "data")  # v2 is now in the cache
    ws.git("checkout", "-q", "--", "data.artver")
    ws.artver("checkout")
    assert ws.read("data/a.txt") == b"v1"


def test_relink_switches_existing_files_to_the_new_link_type(ws):
    ws.write("data/a.txt", "relink me")
    ws.artver("add", "data")
    ws.artver("config", "cache.type", "hardlink")
    ws.artver("checkout", "--relink")
    obj = ws.cache_object(xxh(b"relink me"))
    assert os.stat(ws.root / "data/a.txt").st_ino == obj.stat().st_ino


def test_commit_records_current_content(ws):
    ws.write("data/a.txt", "one")
    ws.artver("add", "data")
    before = ws.read("data.artver")
    ws.write("data/a.txt", "two")
    res = ws.artver("commit")
    assert "Committed data" in res.stderr
    assert ws.read("data.artver") != before
    assert "up to date" in ws.artver("status").stdout
    assert "Nothing to commit" in ws.artver("commit").stderr


def test_ls_lists_artifacts_with_size_files_and_state(ws):
    ws.write("data/a.txt", "12345")
    ws.write("data/b.txt", "678")
    ws.write("m.bin", "m")
    ws.artver("add", "data", "m.bin")
    os.unlink(ws.root / "m.bin")
    doc = json.loads(ws.artver("ls", "--json").stdout)
    rows = {a["path"]: a for a in doc["artifacts"]}
    assert rows["data"]["size"] == 8 and rows["data"]["nfiles"] == 2
    assert rows["data"]["state"] == "ok" and rows["m.bin"]["state"] == "missing"
    text = ws.artver("ls").stdout
    assert "data" in text and "missing" in text


def test_checkout_after_cloning_restores_from_a_shared_cache(ws, tmp_path):
    """A second clone pointed at the same external cache gets the data with `checkout`."""
    shared = tmp_path / "shared-cache"
    ws.artver("config", "cache.dir", str(shared))
    ws.write("data/a.txt", "shared bytes")
    ws.artver("add", "data")
    ws.commit("data")
    assert (shared / xxh(b"shared bytes")[:2]).is_dir()
    clone = tmp_path / "clone"
    ws.git("clone", "-q", str(ws.root), str(clone))
    from tests.conftest import Workspace

    other = Workspace(clone)
    other.artver("checkout")
    assert other.read("data/a.txt") == b"shared bytes"


def test_add_again_restores_an_object_deleted_from_the_cache(ws, tmp_path):
    ws.write("d/a.txt", "one")
    ws.write("d/b.txt", "two")
    ws.artver("add", "d")
    ws.artver("remote", "add", "-d", "origin", str(tmp_path / "store"))
    ws.cache_object(xxh(b"one")).unlink()  # damage behind artver's back; the workspace is fine
    res = ws.artver("push", expect=1)
    assert "`artver add` the data again" in res.stderr
    ws.artver("add", "d")  # what the error suggests: the workspace still has the bytes
    assert ws.cache_object(xxh(b"one")).read_bytes() == b"one"
    ws.artver("push")
