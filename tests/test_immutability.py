"""A cache object whose bytes no longer match its id is never linked, restored or pushed.

With cache.type `hardlink` the workspace file *is* the cache object, and with `symlink` it
points at it: `chmod u+w` and an edit in place rewrite the object under its id. For every link
type these tests make that edit through the real CLI and check what a user would rely on:
`status` names the file as modified, `checkout --force` never puts wrong bytes back (it fails
naming the object, or restores the right bytes), `pull` fetches a good copy, and `push` never
uploads bytes that do not hash to their name. The decisions behind it
(`artver.cache.integrity`) are tested on literals, without a filesystem.
"""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from artver.cache import integrity
from artver.cache.integrity import ABSENT, TRUST, VERIFY, ObjStat, verdict
from tests.conftest import Workspace, xxh
from tests.test_bad_input import assert_error

A = b"alpha\n" * 50
B = b"bravo\n" * 40
MODEL = b"weights" * 300
EDITED = b"edited in place, same inode\n"


def reflink_works(where: Path) -> bool:
    from artver.cache.links import reflink

    src, dst = where / "reflink-probe", where / "reflink-probe.clone"
    src.write_bytes(b"probe")
    try:
        reflink(str(src), str(dst))
        return True
    except OSError:
        return False
    finally:
        src.unlink()
        dst.unlink(missing_ok=True)


@pytest.fixture(params=["hardlink", "symlink", "copy", "reflink"])
def link_type(request, tmp_path) -> str:
    if request.param == "reflink" and not reflink_works(tmp_path):
        pytest.skip("this filesystem cannot clone files (FICLONE): no reflink to test")
    return request.param


def shares_objects(link_type: str) -> bool:
    """Whether workspace files of this link type are the cache objects themselves."""
    return link_type in ("hardlink", "symlink")


# -- helpers -------------------------------------------------------------------------------------
def tracked(ws: Workspace, link_type: str, tmp_path: Path, push: bool = False) -> Path:
    """data/ (a file and one in a subdirectory) and model.bin, added with `link_type`, committed;
    a local directory remote `store` (pushed to when `push`). Returns the remote's directory."""
    ws.artver("config", "cache.type", link_type)
    ws.write("data/a.txt", A)
    ws.write("data/sub/b.txt", B)
    ws.write("model.bin", MODEL)
    ws.artver("add", "data", "model.bin")
    ws.commit("data", tag="v1")
    store = tmp_path / "store"
    ws.artver("remote", "add", "-d", "store", str(store))
    if push:
        ws.artver("push")
    return store


def edit_in_place(path: Path, data: bytes) -> None:
    """`chmod u+w` and rewrite the file without replacing it, as an editor may: for a hardlink
    the cache object's inode, for a symlink the object it points to."""
    os.chmod(path, os.stat(path).st_mode | stat.S_IWUSR)  # follows a symlink to its object
    with open(path, "r+b") as fobj:
        fobj.write(data)
        fobj.truncate()


def edit_both(ws: Workspace) -> None:
    edit_in_place(ws.root / "data/a.txt", EDITED)
    edit_in_place(ws.root / "model.bin", EDITED)


def remote_objects(store: Path) -> dict[str, bytes]:
    found = {}
    if not store.is_dir():
        return found
    for shard in sorted(store.iterdir()):
        if shard.is_dir() and len(shard.name) == 2:
            for obj in sorted(shard.iterdir()):
                if not obj.name.endswith(".tmp"):
                    found[shard.name + obj.name] = obj.read_bytes()
    return found


def assert_every_object_matches_its_name(objects: dict[str, bytes]) -> None:
    for name, data in objects.items():
        assert xxh(data) + (".dir" if name.endswith(".dir") else "") == name, name


def objects_table(ws: Workspace) -> dict[str, tuple]:
    import sqlite3

    conn = sqlite3.connect(ws.root / ".artver/state.db")
    try:
        rows = conn.execute("SELECT oid, stat FROM objects")
        return {oid: integrity.unpack(blob) for oid, blob in rows}
    finally:
        conn.close()


def run_counting_verifies(ws: Workspace, log: Path, *args: str) -> subprocess.CompletedProcess:
    """Run `artver ARGS` in a fresh interpreter that logs every cache object it hashes again
    (`ObjectStore.verify`, forked children included)."""
    code = (
        "import sys\n"
        "from artver.cache.odb import ObjectStore\n"
        "original = ObjectStore.verify\n"
        "def counting(self, oid, size=None):\n"
        f"    with open({str(log)!r}, 'a') as fobj:\n"
        "        fobj.write(oid + '\\n')\n"
        "    return original(self, oid, size)\n"
        "ObjectStore.verify = counting\n"
        f"sys.argv = ['artver', *{list(args)!r}]\n"
        "from artver.entry import main\n"
        "main()\n"
    )
    return subprocess.run(
        [sys.executable, "-c", code], cwd=ws.root, capture_output=True, text=True, timeout=300
    )


def verified(log: Path) -> list[str]:
    return log.read_text().split() if log.exists() else []


# -- the decisions, on literals --------------------------------------------------------------------
RECORDED = ObjStat(inode=7, size=300, mtime_ns=1_000, ctime_ns=2_000, nlink=2)


def test_an_object_with_the_recorded_stat_is_trusted():
    assert verdict(RECORDED, RECORDED) == TRUST
    assert verdict(tuple(RECORDED), ObjStat(*RECORDED)) == TRUST  # rows come back as tuples


def test_an_object_not_in_the_cache_is_absent_whatever_was_recorded():
    assert verdict(RECORDED, None) == ABSENT
    assert verdict(None, None) == ABSENT


def test_an_object_without_a_record_is_hashed_again():
    assert verdict(None, RECORDED) == VERIFY


@pytest.mark.parametrize(
    "field, value",
    [("inode", 8), ("size", 301), ("mtime_ns", 1_001)],
)
def test_another_inode_size_or_mtime_means_hashing_again(field, value):
    assert verdict(RECORDED, RECORDED._replace(**{field: value})) == VERIFY
    # even when the link count moved too: a write is a write
    changed = RECORDED._replace(**{field: value, "ctime_ns": 3_000, "nlink": 1})
    assert verdict(RECORDED, changed) == VERIFY


def test_a_ctime_that_moved_alone_means_hashing_again():
    """`chmod u+w`, or an edit that put the old mtime back: only the ctime tells."""
    assert verdict(RECORDED, RECORDED._replace(ctime_ns=3_000)) == VERIFY


def test_a_ctime_that_moved_with_the_link_count_is_a_link_made_or_removed():
    """A checkout linking the object elsewhere, `rm` of a workspace hardlink, another
    repository of a shared cache: none of them writes the bytes."""
    assert verdict(RECORDED, RECORDED._replace(ctime_ns=3_000, nlink=1)) == TRUST
    assert verdict(RECORDED, RECORDED._replace(ctime_ns=3_000, nlink=3)) == TRUST


@pytest.mark.parametrize(
    "current",
    [
        RECORDED,
        RECORDED._replace(inode=8),
        RECORDED._replace(size=301),
        RECORDED._replace(mtime_ns=1_001),
        RECORDED._replace(ctime_ns=3_000),
        RECORDED._replace(ctime_ns=3_000, nlink=1),
        RECORDED._replace(nlink=5),
        RECORDED._replace(mtime_ns=5, ctime_ns=3_000, nlink=1),
    ],
)
def test_the_verdict_on_packed_records_is_the_verdict_on_tuples(current):
    packed = integrity.packed_verdict(integrity.pack(RECORDED), integrity.pack(current))
    assert packed == verdict(RECORDED, current)
    assert integrity.unpack(integrity.pack(current)) == current


def test_a_missing_or_damaged_packed_record_means_hashing_again():
    assert integrity.packed_verdict(None, integrity.pack(RECORDED)) == VERIFY
    assert integrity.packed_verdict(b"short", integrity.pack(RECORDED)) == VERIFY
    assert integrity.unpack(b"short") is None and integrity.unpack(None) is None


def test_bytes_artver_wrote_are_worth_recording_whatever_their_timestamps():
    fresh = RECORDED._replace(mtime_ns=10**18)
    assert integrity.worth_recording(fresh, looked_ns=10**18, wrote_bytes=True)


def test_bytes_read_within_the_racy_window_are_not_recorded():
    looked = 10**18
    racy = RECORDED._replace(mtime_ns=looked - integrity.RACY_WINDOW_NS // 2)
    old = RECORDED._replace(mtime_ns=looked - 2 * integrity.RACY_WINDOW_NS)
    assert not integrity.worth_recording(racy, looked, wrote_bytes=False)
    assert integrity.worth_recording(old, looked, wrote_bytes=False)


def test_only_a_plain_file_with_one_link_becomes_a_cache_object_itself():
    assert integrity.may_link_into_cache(is_symlink=False, nlink=1)
    assert not integrity.may_link_into_cache(is_symlink=False, nlink=2)
    assert not integrity.may_link_into_cache(is_symlink=True, nlink=1)


# -- status ----------------------------------------------------------------------------------------
def test_status_names_a_file_edited_in_place_as_modified(ws, tmp_path, link_type):
    tracked(ws, link_type, tmp_path)
    assert ws.artver("status").stdout == "Data is up to date.\n"
    edit_both(ws)
    res = ws.artver("status")  # a report: exit 0
    assert "data: modified" in res.stdout
    assert "    modified: data/a.txt" in res.stdout
    assert "model.bin: modified" in res.stdout
    assert "up to date" not in res.stdout


# -- checkout --force and pull ---------------------------------------------------------------------
def test_checkout_force_never_restores_corrupt_bytes_and_pull_fetches_good_ones(
    ws, tmp_path, link_type
):
    store = tracked(ws, link_type, tmp_path, push=True)
    edit_both(ws)
    res = ws.artver("checkout", "--force", expect=None)
    if shares_objects(link_type):
        # The edit rewrote the cache objects: they are moved aside, and nothing is restored.
        assert_error(
            res,
            "cache objects are corrupt",
            f"data/a.txt: object {xxh(A)}, moved to .artver/quarantine/{xxh(A)}",
            f"model.bin: object {xxh(MODEL)}, moved to .artver/quarantine/{xxh(MODEL)}",
            "nothing was checked out",
            "artver pull",
            "artver fsck --repair",
        )
        quarantine = ws.root / ".artver/quarantine"
        assert (quarantine / xxh(A)).read_bytes() == EDITED
        assert (quarantine / xxh(MODEL)).read_bytes() == EDITED
        # Git never offers the quarantined objects for `git add -A`.
        assert "quarantine" not in ws.git("status", "--porcelain", "--untracked-files=all")
        assert ws.read("data/a.txt") == EDITED  # the user's bytes stay where they were
        assert ws.read("model.bin") == EDITED
        assert not (ws.root / "data/a.txt").is_symlink()  # a link would dangle: now a copy
        assert "data: modified" in ws.artver("status").stdout  # never "up to date"
        # Without a good copy the checkout cannot restore them: it says what is missing.
        res = ws.artver("checkout", "--force", expect=1)
        assert xxh(A) in res.stderr and "artver pull" in res.stderr
    else:
        assert res.code == 0, res.output
        assert ws.read("data/a.txt") == A and ws.read("model.bin") == MODEL
        edit_both(ws)
    ws.artver("pull", "--force")  # the corrupt objects are already aside: a plain fetch
    assert ws.files("data") == {"a.txt": A, "sub/b.txt": B}
    assert ws.read("model.bin") == MODEL
    assert ws.artver("status").stdout == "Data is up to date.\n"
    assert "all sound" in ws.artver("fsck").stdout
    assert_every_object_matches_its_name(remote_objects(store))


def test_pull_replaces_a_corrupt_cache_object_with_a_verified_copy(ws, tmp_path, link_type):
    """The corrupt object is found by the checkout pull makes; pull then fetches it again."""
    tracked(ws, link_type, tmp_path, push=True)
    edit_both(ws)
    pulled = ws.artver("pull", "--force")
    # Only a shared link lets an edit reach the cache: then pull says what it replaced.
    replaced = "with verified copies from the remote" in pulled.stderr
    assert replaced == (link_type in ("hardlink", "symlink")), pulled.stderr
    assert ws.files("data") == {"a.txt": A, "sub/b.txt": B}
    assert ws.read("model.bin") == MODEL
    assert ws.cache_object(xxh(A)).read_bytes() == A
    assert ws.artver("status").stdout == "Data is up to date.\n"


def test_pull_without_a_good_copy_on_the_remote_says_so(ws, tmp_path):
    tracked(ws, "hardlink", tmp_path)  # never pushed
    edit_both(ws)
    res = ws.artver("pull", "--force", expect=1)
    assert_error(res, "cache objects are corrupt", "data/a.txt", "has no good copy")
    assert ws.read("data/a.txt") == EDITED


def test_checkout_of_another_version_refuses_an_object_edited_in_place(ws, tmp_path, link_type):
    tracked(ws, link_type, tmp_path)
    edit_both(ws)
    ws.artver("add", "data", "model.bin")  # the edit, recorded as a new version
    ws.commit("v2")
    assert ws.cache_object(xxh(EDITED)).read_bytes() == EDITED
    ws.git("checkout", "-q", "v1")
    res = ws.artver("checkout", expect=None)
    if shares_objects(link_type):
        assert_error(res, "cache objects are corrupt", "data/a.txt", "model.bin")
        assert ws.read("data/a.txt") == EDITED and ws.read("model.bin") == EDITED
        ws.git("checkout", "-q", "main")
        assert ws.artver("status").stdout == "Data is up to date.\n"  # v2 was never harmed
    else:
        assert res.code == 0, res.output
        assert ws.read("data/a.txt") == A and ws.read("model.bin") == MODEL


# -- push ------------------------------------------------------------------------------------------
def test_push_never_uploads_bytes_that_do_not_match_their_id(ws, tmp_path, link_type):
    store = tracked(ws, link_type, tmp_path)
    edit_both(ws)
    res = ws.artver("push", expect=None)
    if shares_objects(link_type):
        assert_error(
            res,
            "cache objects are corrupt",
            f"data: object {xxh(A)}",
            f"model.bin: object {xxh(MODEL)}",
            "they were not pushed to 'store'",
            "artver fsck --repair",
        )
    else:
        assert res.code == 0, res.output
    objects = remote_objects(store)
    assert_every_object_matches_its_name(objects)
    assert EDITED not in objects.values()
    if shares_objects(link_type):
        # b.txt was sent; the manifest of data/ waits for all its files.
        assert xxh(B) in objects
        assert not any(name.endswith(".dir") for name in objects)
        assert xxh(MODEL) not in objects and xxh(A) not in objects
        # Recorded as a new version, the edit is pushed; the old objects stay behind.
        ws.artver("add", "data", "model.bin")
        ws.artver("push")
        objects = remote_objects(store)
        assert_every_object_matches_its_name(objects)
        assert objects[xxh(EDITED)] == EDITED
    else:
        assert objects[xxh(A)] == A and objects[xxh(MODEL)] == MODEL


# -- add -------------------------------------------------------------------------------------------
@pytest.mark.parametrize("how", ["hardlink", "symlink"])
def test_add_of_a_file_edited_in_place_makes_a_new_object_of_its_own(ws, tmp_path, how):
    """Linking (or moving) the edited file in would make the new object share its inode with
    the old, corrupt one (or put a symlink in the cache): it is copied in instead, and the
    workspace path linked to the copy."""
    tracked(ws, how, tmp_path)
    edit_both(ws)
    ws.artver("add", "data", "model.bin")
    new = ws.cache_object(xxh(EDITED))
    assert not new.is_symlink() and new.read_bytes() == EDITED
    old = {os.stat(ws.cache_object(oid)).st_ino for oid in (xxh(A), xxh(MODEL))}
    assert os.stat(new).st_ino not in old
    for rel in ("data/a.txt", "model.bin"):
        path = ws.root / rel
        if how == "hardlink":
            assert os.stat(path).st_ino == os.stat(new).st_ino
        else:
            assert os.readlink(path) == str(new)
    assert ws.artver("status").stdout == "Data is up to date.\n"


@pytest.mark.parametrize("how", ["hardlink", "symlink"])
def test_linked_workspace_files_are_read_only(ws, tmp_path, how):
    tracked(ws, how, tmp_path)
    for rel in ("data/a.txt", "data/sub/b.txt", "model.bin"):
        assert os.stat(ws.root / rel).st_mode & 0o222 == 0, rel  # the object's mode
    ws.git("rm", "-q", "--cached", "-r", ".")  # leave Git alone; only artver's files matter
    ws.git("reset", "-q")
    os.unlink(ws.root / "model.bin")
    ws.artver("checkout")
    assert os.stat(ws.root / "model.bin").st_mode & 0o222 == 0


def test_a_sound_object_made_writable_is_checked_and_made_read_only_again(ws, tmp_path):
    tracked(ws, "hardlink", tmp_path)
    path = ws.root / "model.bin"
    os.chmod(path, 0o644)  # made writable, not edited
    ws.artver("checkout", "--relink")
    assert ws.read("model.bin") == MODEL
    assert stat.S_IMODE(os.stat(ws.cache_object(xxh(MODEL))).st_mode) == 0o444


# -- the cost: nothing is hashed again while the stat is as recorded -------------------------------
@pytest.mark.parametrize("how", ["hardlink", "symlink", "copy"])
def test_objects_are_hashed_again_only_when_their_stat_moved(ws, tmp_path, how):
    tracked(ws, how, tmp_path)
    log = tmp_path / "verified.log"
    assert objects_table(ws).keys() >= {xxh(A), xxh(B), xxh(MODEL)}

    proc = run_counting_verifies(ws, log, "push")  # objects written by add: known good
    assert proc.returncode == 0, proc.stderr
    assert verified(log) == []
    os.unlink(ws.root / "model.bin")  # (removing a hardlink moves the object's ctime)
    proc = run_counting_verifies(ws, log, "checkout")
    assert proc.returncode == 0, proc.stderr
    assert verified(log) == []
    proc = run_counting_verifies(ws, log, "checkout", "--relink")
    assert proc.returncode == 0, proc.stderr
    assert verified(log) == []

    os.chmod(ws.cache_object(xxh(MODEL)), 0o644)  # the ctime moves alone: hashed again
    proc = run_counting_verifies(ws, log, "checkout", "--relink", "model.bin")
    assert proc.returncode == 0, proc.stderr
    assert verified(log) == [xxh(MODEL)]
    proc = run_counting_verifies(ws, log, "checkout", "--relink", "model.bin")
    assert verified(log) == [xxh(MODEL)]  # sound, and remembered as such


def test_objects_written_by_forked_processes_are_remembered(ws):
    """Above 1,000 files, `add` copies into the cache from several processes: what each
    child wrote travels back with its results and is remembered like the rest."""
    ws.artver("config", "cache.type", "copy")
    for i in range(1200):
        ws.write(f"many/f{i:04d}.txt", f"file number {i}\n")
    ws.artver("add", "many")
    oids = {xxh(f"file number {i}\n".encode()) for i in range(1200)}
    assert oids <= objects_table(ws).keys()


def test_a_forked_child_sends_back_what_it_learnt():
    from artver import forked_map

    learnt: list = []
    seen: list = []
    forked_map.carry("test", lambda: [os.getpid()], learnt.extend)
    try:
        undone = forked_map.forked_map(
            lambda i: i, list(range(600)), 2, lambda i, r: seen.append(r)
        )
    finally:
        del forked_map.CARRIED["test"]
    assert undone == [] and sorted(seen) == list(range(600))
    assert learnt and os.getpid() not in learnt  # from the child, once per batch


def test_a_hermetic_run_never_places_a_corrupt_dep(ws, tmp_path):
    """`repro --hermetic`, `verify` and `replay` place a stage's deps from the cache."""
    from artver.ops.hermetic import Spec, check_deps
    from artver.ops.hermetic_sources import Needed
    from artver.ops.integrity import CorruptCacheError
    from artver.repo import Repo

    tracked(ws, "hardlink", tmp_path)
    data_oid = next(
        line.split(":", 1)[1].strip()
        for line in ws.read("data.artver").decode().splitlines()
        if line.strip().startswith("oid:")
    )
    deps = [Needed("train", "data", data_oid, None), Needed("train", "model.bin", xxh(MODEL), 0)]
    spec = Spec("train", ("true",), "", deps, {}, [], set(), None)
    repo = Repo.find(ws.root)
    try:
        check_deps(repo, spec)  # sound: nothing to say
        edit_in_place(ws.root / "data/sub/b.txt", EDITED)
        with pytest.raises(CorruptCacheError) as caught:
            check_deps(repo, spec)
    finally:
        repo.close()
    assert "data/sub/b.txt: object" in caught.value.message
    assert "the stage was not run" in caught.value.message
    assert (ws.root / ".artver/quarantine" / xxh(B)).read_bytes() == EDITED


def test_push_hashes_an_object_whose_stat_moved_and_sends_it_when_sound(ws, tmp_path):
    store = tracked(ws, "hardlink", tmp_path)
    os.chmod(ws.root / "model.bin", 0o644)  # made writable, not edited: the ctime moved alone
    log = tmp_path / "verified.log"
    proc = run_counting_verifies(ws, log, "push")
    assert proc.returncode == 0, proc.stderr
    assert verified(log) == [xxh(MODEL)]
    objects = remote_objects(store)
    assert objects[xxh(MODEL)] == MODEL
    assert_every_object_matches_its_name(objects)
