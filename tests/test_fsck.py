"""`artver fsck`: every object re-hashed, every manifest checked, every referenced object found,
and `--repair` quarantines bad bytes (never deletes them) and fetches verified copies.

The CLI tests drive the real command in subprocesses on real Git repositories and break the
cache by hand as a disk or a careless edit would; the rules (`artver.ops.fsck_check`) are also
tested on literals, without a filesystem.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from artver.ops import fsck_check as rules
from artver.ops.fsck_check import Problem
from tests.conftest import Workspace, xxh
from tests.test_bad_input import Locker, assert_error, run_prefixed

A = b"alpha\n" * 50
B = b"bravo\n" * 40
MODEL = b"weights" * 300
SOLO = b"a lone file\n"


# -- helpers ---------------------------------------------------------------------------------------
def tracked(ws: Workspace, tag: str | None = "v1") -> Workspace:
    """data/ (two files, one in a subdirectory), model.bin and solo.txt, added and committed."""
    ws.write("data/a.txt", A)
    ws.write("data/sub/b.txt", B)
    ws.write("model.bin", MODEL)
    ws.write("solo.txt", SOLO)
    ws.artver("add", "data", "model.bin", "solo.txt")
    ws.commit("data", tag=tag)
    return ws


def overwrite(path: Path, data: bytes) -> None:
    """Change a read-only cache object in place, as a bad disk or a careless root would."""
    path.chmod(0o644)
    path.write_bytes(data)
    path.chmod(0o444)


def flip_byte(path: Path) -> bytes:
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    overwrite(path, bytes(data))
    return bytes(data)


def dir_oid(ws: Workspace, pointer: str = "data.artver") -> str:
    for line in ws.read(pointer).decode().splitlines():
        if line.strip().startswith("oid:"):
            return line.split(":", 1)[1].strip()
    raise AssertionError(f"no oid in {pointer}")


def fsck_json(ws: Workspace, *args: str, expect: int = 1) -> dict:
    res = ws.artver("fsck", "--json", *args, expect=expect)
    return json.loads(res.stdout)


def problems_by_oid(doc: dict) -> dict[str, dict]:
    return {p["oid"]: p for p in doc["problems"]}


def cache_bytes(ws: Workspace) -> dict[str, bytes]:
    cache = ws.root / ".artver" / "cache"
    return {p.parent.name + p.name: p.read_bytes() for p in cache.glob("??/*")}


def local_remote(ws: Workspace, tmp_path: Path, name: str = "origin") -> Path:
    store = tmp_path / f"{name}-store"
    ws.artver("remote", "add", "-d", name, str(store))
    ws.artver("push")
    return store


# -- a sound store ---------------------------------------------------------------------------------
def test_a_sound_cache_passes(ws):
    tracked(ws)
    res = ws.artver("fsck")
    # 4 file objects and 1 manifest
    assert "Checked 5 objects" in res.stdout and "1 manifest" in res.stdout
    assert "all sound" in res.stdout
    assert "error" not in res.stderr


def test_an_empty_repository_is_sound(ws):
    assert "all sound" in ws.artver("fsck").stdout


# -- what goes wrong in a cache --------------------------------------------------------------------
def test_flipped_truncated_and_missing_objects_are_named_with_their_users(ws):
    tracked(ws)
    cache_a = ws.cache_object(xxh(A))
    flip_byte(cache_a)
    overwrite(ws.cache_object(xxh(MODEL)), MODEL[:100])
    ws.cache_object(xxh(B)).unlink()  # referenced by data's manifest
    ws.cache_object(xxh(SOLO)).unlink()  # referenced by a pointer
    before = cache_bytes(ws)

    res = ws.artver("fsck", expect=1)
    out = res.stdout
    assert f"corrupt: {xxh(A)}" in out
    assert f"truncated: {xxh(MODEL)}" in out and "100 bytes where 2100 are recorded" in out
    assert f"missing: {xxh(B)}" in out and f"missing: {xxh(SOLO)}" in out
    assert "used by data/a.txt (data.artver)" in out
    assert "used by data/sub/b.txt (data.artver)" in out
    assert "used by model.bin (model.bin.artver)" in out
    assert "used by solo.txt (solo.txt.artver)" in out
    assert "at main, v1" in out  # the branch and the tag whose data uses them
    assert "4 problems (1 corrupt, 1 truncated, 2 missing)" in out
    assert res.stderr.startswith("error: fsck found 4 problems")
    assert "artver fsck --repair" in res.stderr
    assert cache_bytes(ws) == before  # a check changes nothing
    assert not (ws.root / ".artver" / "quarantine").exists()


def test_a_missing_manifest_is_reported_with_its_directory(ws):
    tracked(ws)
    oid = dir_oid(ws)
    ws.cache_object(oid).unlink()
    doc = fsck_json(ws)
    problem = problems_by_oid(doc)[oid]
    assert problem["kind"] == "missing"
    assert problem["artifacts"] == [{"path": "data", "source": "data.artver"}]


def _store_by_hand(ws: Workspace, data: bytes) -> str:
    """Put `data` into the cache as a manifest, under the id its bytes hash to."""
    oid = xxh(data) + ".dir"
    path = ws.cache_object(oid)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    path.chmod(0o444)
    return oid


def test_bad_manifests_are_reported_even_when_their_id_matches(ws):
    tracked(ws)
    not_json = _store_by_hand(ws, b'{"version":1,"files":[["a.txt"')
    escaping = _store_by_hand(
        ws, f'{{"version":1,"files":[["../x","{xxh(A)}",{len(A)},0]]}}'.encode()
    )
    # The workspace points at the unsafe one: it is named with its user.
    text = ws.read("data.artver").decode().replace(dir_oid(ws), escaping)
    ws.write("data.artver", text)

    doc = fsck_json(ws)
    found = problems_by_oid(doc)
    assert found[not_json]["kind"] == "bad-manifest"
    assert "not a directory manifest" in found[not_json]["detail"]
    assert found[not_json]["artifacts"] == []
    assert found[escaping]["kind"] == "bad-manifest"
    assert "unsafe entry '../x'" in found[escaping]["detail"]
    assert found[escaping]["artifacts"] == [{"path": "data", "source": "data.artver"}]
    res = ws.artver("fsck", "--repair", expect=1)
    assert "every copy anywhere is the same" in res.stdout
    assert ws.cache_object(escaping).exists()  # not quarantined: no copy could be better


@pytest.fixture
def locker(request) -> Locker:
    from tests.helpers_privileges import unprivileged_prefix

    prefix = unprivileged_prefix()
    if prefix is None:
        pytest.skip("running as root and `setpriv` cannot drop CAP_DAC_OVERRIDE here")
    locker = Locker(prefix)
    request.addfinalizer(locker.restore)
    return locker


def test_an_unreadable_object_is_reported_and_left_alone(ws, locker):
    tracked(ws)
    obj = ws.cache_object(xxh(MODEL))
    locker.lock(obj)
    res = run_prefixed(locker.prefix, "fsck", "--repair", cwd=ws.root)
    assert res.code == 1, res.stderr
    assert f"unreadable: {xxh(MODEL)}" in res.stdout
    assert "Permission denied" in res.stdout and "used by model.bin" in res.stdout
    assert "fix its permissions" in res.stdout
    assert "Traceback" not in res.stderr
    locker.restore()
    assert obj.read_bytes() == MODEL  # still there, untouched


def test_many_objects_are_checked_by_several_processes_and_none_is_missed(ws):
    """Above 1,000 objects the reads are shared out between forked processes."""
    for i in range(1200):
        ws.write(f"many/f{i:04d}.txt", f"file number {i}\n")
    ws.artver("add", "many")
    bad = [f"f{i:04d}.txt" for i in (3, 600, 1199)]
    for name in bad:
        flip_byte(ws.cache_object(xxh(ws.read(f"many/{name}"))))
    doc = fsck_json(ws)
    assert doc["cache"]["objects"] == 1201
    users = sorted(p["artifacts"][0]["path"] for p in doc["problems"])
    assert users == [f"many/{name}" for name in bad]


# -- the hardlink hazard ---------------------------------------------------------------------------
def _edit_in_place(path: Path, data: bytes) -> None:
    path.chmod(0o644)
    with open(path, "r+b") as fobj:  # the same inode: what `chmod +w` and an editor may do
        fobj.write(data)
        fobj.truncate()


def test_a_hardlinked_workspace_file_edited_in_place_is_found_and_repaired(ws, tmp_path):
    ws.artver("config", "cache.type", "hardlink")
    tracked(ws)
    store = local_remote(ws, tmp_path)
    edited = b"my edits, made in place\n"
    _edit_in_place(ws.root / "data/a.txt", edited)

    doc = fsck_json(ws)
    problem = problems_by_oid(doc)[xxh(A)]
    assert problem["kind"] == "hardlink-hazard"
    assert problem["workspace_paths"] == ["data/a.txt"]
    res = ws.artver("fsck", expect=1)
    assert "data/a.txt (hard-linked to it) was changed in place" in res.stdout

    res = ws.artver("fsck", "--repair")  # every problem repaired: exit 0
    assert "repaired: a verified copy was fetched from remote 'origin'" in res.stdout
    assert "data/a.txt keeps your edited bytes" in res.stdout
    assert ws.cache_object(xxh(A)).read_bytes() == A
    assert (ws.root / ".artver/quarantine" / xxh(A)).read_bytes() == edited
    assert ws.read("data/a.txt") == edited  # the user's bytes are never destroyed
    assert "modified: data/a.txt" in ws.artver("status").stdout
    assert "all sound" in ws.artver("fsck").stdout
    assert store.is_dir()


def test_an_object_edited_through_a_workspace_symlink_is_found_and_the_edit_kept(ws, tmp_path):
    ws.artver("config", "cache.type", "symlink")
    tracked(ws)
    local_remote(ws, tmp_path)
    link = ws.root / "model.bin"
    assert link.is_symlink()
    edited = b"edited through the link\n"
    _edit_in_place(link.resolve(), edited)

    doc = fsck_json(ws)
    problem = problems_by_oid(doc)[xxh(MODEL)]
    assert problem["kind"] == "symlink-hazard"
    assert problem["workspace_paths"] == ["model.bin"]
    ws.artver("fsck", "--repair")
    assert not link.is_symlink() and link.read_bytes() == edited  # now a file of its own
    assert ws.cache_object(xxh(MODEL)).read_bytes() == MODEL
    assert (ws.root / ".artver/quarantine" / xxh(MODEL)).read_bytes() == edited


# -- --json ----------------------------------------------------------------------------------------
def test_json_output_has_one_document_with_every_problem(ws):
    tracked(ws)
    flip_byte(ws.cache_object(xxh(A)))
    res = ws.artver("fsck", "--json", expect=1)
    doc = json.loads(res.stdout)  # nothing else on stdout
    assert set(doc) == {
        "sound",
        "cache",
        "remote",
        "referenced",
        "problems",
        "counts",
        "repaired",
        "notes",
    }
    assert doc["sound"] is False and doc["remote"] is None
    assert doc["cache"]["objects"] == 5 and doc["cache"]["manifests"] == 1
    assert doc["counts"] == {"corrupt": 1}
    (problem,) = doc["problems"]
    assert problem["kind"] == "corrupt" and problem["oid"] == xxh(A)
    assert problem["where"] == "cache" and problem["size"] == len(A)
    assert problem["expected_size"] == len(A)
    assert problem["commits"] == ["main", "v1"]
    assert problem["repair"] is None
    assert res.stderr.startswith("error: fsck found 1 problem")


# -- --repair --------------------------------------------------------------------------------------
def test_repair_quarantines_the_bad_bytes_and_fetches_good_copies(ws, tmp_path):
    tracked(ws)
    local_remote(ws, tmp_path)
    bad = flip_byte(ws.cache_object(xxh(A)))
    ws.cache_object(xxh(B)).unlink()

    res = ws.artver("fsck", "--repair")
    assert "2 problems (1 corrupt, 1 missing), 2 repaired" in res.stdout
    assert f"bad bytes moved to .artver/quarantine/{xxh(A)}" in res.stdout
    assert ws.cache_object(xxh(A)).read_bytes() == A
    assert ws.cache_object(xxh(B)).read_bytes() == B
    assert (ws.root / ".artver/quarantine" / xxh(A)).read_bytes() == bad
    assert "all sound" in ws.artver("fsck").stdout

    # A second quarantine of the same object keeps the first one's bytes too.
    again = flip_byte(ws.cache_object(xxh(A)))
    ws.artver("fsck", "--repair")
    assert (ws.root / ".artver/quarantine" / f"{xxh(A)}.1").read_bytes() == again
    assert (ws.root / ".artver/quarantine" / xxh(A)).read_bytes() == bad


def test_repair_without_a_remote_quarantines_and_says_what_is_left(ws):
    tracked(ws)
    bad = flip_byte(ws.cache_object(xxh(A)))
    res = ws.artver("fsck", "--repair", expect=1)
    assert "not repaired: no remote named and no default remote is set" in res.stdout
    assert res.stderr.startswith("error: fsck found 1 problem, 1 not repaired")
    assert (ws.root / ".artver/quarantine" / xxh(A)).read_bytes() == bad
    assert not ws.cache_object(xxh(A)).exists()
    # The workspace still holds the right bytes: adding them again restores the object.
    ws.artver("add", "data")
    assert "all sound" in ws.artver("fsck").stdout


def test_repair_reports_a_remote_that_lacks_the_object(ws, tmp_path):
    tracked(ws)
    store = local_remote(ws, tmp_path)
    (store / xxh(A)[:2] / xxh(A)[2:]).unlink()
    flip_byte(ws.cache_object(xxh(A)))
    res = ws.artver("fsck", "--repair", expect=1)
    assert "not repaired: remote 'origin'" in res.stdout and "does not have it" in res.stdout


# -- --remote NAME ---------------------------------------------------------------------------------
def test_remote_directory_objects_are_checked_and_repaired_from_the_cache(ws, tmp_path):
    tracked(ws)
    store = local_remote(ws, tmp_path)
    remote_a = store / xxh(A)[:2] / xxh(A)[2:]
    overwrite(remote_a, b"rotten")
    (store / xxh(B)[:2] / xxh(B)[2:]).unlink()  # its manifest is still there

    res = ws.artver("fsck", "-r", "origin", expect=1)
    out = res.stdout
    assert f"truncated: {xxh(A)} on remote 'origin'" in out
    assert f"missing: {xxh(B)} on remote 'origin'" in out
    assert "though a manifest on the remote lists it" in out
    assert "Checked 5 objects" in out and "in the cache and 4 objects" in out

    res = ws.artver("fsck", "--remote", "origin", "--repair")
    assert "the cache's sound copy was uploaded in its place" in res.stdout
    assert remote_a.read_bytes() == A
    assert (store / xxh(B)[:2] / xxh(B)[2:]).read_bytes() == B
    assert "all sound" in ws.artver("fsck", "-r", "origin").stdout


def test_a_bad_local_object_is_not_fetched_from_a_remote_whose_copy_is_bad_too(ws, tmp_path):
    tracked(ws)
    store = local_remote(ws, tmp_path)
    overwrite(store / xxh(A)[:2] / xxh(A)[2:], b"rotten there")
    flip_byte(ws.cache_object(xxh(A)))
    res = ws.artver("fsck", "-r", "origin", "--repair", expect=1)
    assert "has no sound copy either" in res.stdout


def test_s3_remote_objects_are_rehashed(ws, s3_backend):
    tracked(ws)
    s3_backend.add_to(ws)
    ws.artver("push")
    s3_backend.put(f"{xxh(MODEL)[:2]}/{xxh(MODEL)[2:]}", b"tampered")
    s3_backend.delete(f"{xxh(B)[:2]}/{xxh(B)[2:]}")
    doc = fsck_json(ws, "-r", "origin")
    assert doc["remote"]["objects"] == 4
    found = {(p["kind"], p["oid"]) for p in doc["problems"]}
    assert found == {("truncated", xxh(MODEL)), ("missing", xxh(B))}
    assert all(p["where"].startswith("remote 'origin'") for p in doc["problems"])
    model = problems_by_oid(doc)[xxh(MODEL)]
    assert model["artifacts"] == [{"path": "model.bin", "source": "model.bin.artver"}]


def test_an_unknown_remote_is_refused_before_anything_is_read(ws):
    tracked(ws)
    assert_error(ws.artver("fsck", "-r", "nowhere", expect=None), "unknown remote 'nowhere'")


def test_fsck_outside_a_repository_is_one_error(tmp_path):
    from tests.conftest import run_artver

    assert_error(run_artver("fsck", cwd=tmp_path, expect=None), "not inside a Git repository")


# -- the rules, on literals ------------------------------------------------------------------------
OID = "0123456789abcdef0123456789abcdef"
OTHER = "fedcba9876543210fedcba9876543210"


def test_judge_tells_corrupt_from_truncated_by_the_recorded_size():
    assert rules.judge(OID, 12, 12, "cache") is None
    corrupt = rules.judge(OID, ("corrupt", OTHER, 12), 12, "cache")
    assert corrupt.kind == "corrupt" and OTHER in corrupt.detail
    truncated = rules.judge(OID, ("corrupt", OTHER, 5), 12, "cache")
    assert truncated.kind == "truncated" and "5 bytes where 12" in truncated.detail
    unknown_size = rules.judge(OID, ("corrupt", OTHER, 5), None, "cache")
    assert unknown_size.kind == "corrupt"
    manifest = rules.judge(OID + ".dir", ("corrupt", OTHER, 5), None, "cache")
    assert OTHER + ".dir" in manifest.detail
    assert rules.judge(OID, ("unreadable", "Permission denied"), 1, "cache").kind == "unreadable"
    assert rules.judge(OID, ("vanished",), 1, "cache") is None


def test_diagnose_finds_what_is_required_but_absent_or_vanished():
    results = {OID: 4, OTHER: ("vanished",), "ab" * 16: ("bad-manifest", "unsafe entry", 9)}
    required = {OID: 4, OTHER: 7, "cd" * 16: None}
    found = {(p.kind, p.oid) for p in rules.diagnose(results, required)}
    assert found == {("missing", OTHER), ("missing", "cd" * 16), ("bad-manifest", "ab" * 16)}
    assert rules.diagnose({OID: 4}, {}) == []


def test_hazards_name_the_workspace_files_sharing_the_inode():
    hard = Problem("corrupt", OID, "cache", "its content hashes to x")
    soft = Problem("truncated", OTHER, "cache", "5 bytes")
    alone = Problem("corrupt", "ab" * 16, "cache", "x")
    inodes = {OID: (1, 10), OTHER: (1, 11), "ab" * 16: (1, 12)}
    workspace = {(1, 10): [("data/a.txt", False)], (1, 11): [("data/l.txt", True)]}
    rules.mark_hazards([hard, soft, alone], inodes, workspace)
    assert hard.kind == "hardlink-hazard" and hard.workspace_paths == ["data/a.txt"]
    assert soft.kind == "symlink-hazard" and "a symlink to it" in soft.detail
    assert alone.kind == "corrupt" and alone.workspace_paths == []


def test_commits_using_looks_inside_directories_whose_manifest_is_known():
    tracked_items = [
        ("main", "data", "d1.dir"),
        ("v1", "data", "d2.dir"),
        ("v2", "model", OID),
        ("old", "data", "d3.dir"),
    ]
    manifests = {"d1.dir": [OID, OTHER], "d2.dir": [OTHER], "d3.dir": None}
    using = rules.commits_using({OID, OTHER}, tracked_items, manifests)
    assert using == {OID: ["main", "v2"], OTHER: ["main", "v1"]}


def test_repair_actions():
    def problem(kind: str) -> Problem:
        return Problem(kind, OID, "cache", "")

    assert rules.repair_actions(problem("corrupt"), None, "origin") == (True, True)
    assert rules.repair_actions(problem("missing"), True, "origin") == (False, True)
    no_source = problem("truncated")
    assert rules.repair_actions(no_source, None, None) == (True, False)
    assert "no remote" in no_source.repair_note
    bad_there = problem("hardlink-hazard")
    assert rules.repair_actions(bad_there, False, "origin") == (True, False)
    assert "no sound copy either" in bad_there.repair_note
    for kind in ("unreadable", "bad-manifest"):
        assert rules.repair_actions(problem(kind), True, "origin") == (False, False)
    remote_bad = Problem("corrupt", OID, "remote 'origin'", "")
    assert rules.remote_repairable(remote_bad, sound_in_cache=True)
    assert not rules.remote_repairable(remote_bad, sound_in_cache=False)
    assert not rules.remote_repairable(Problem("bad-manifest", OID, "r", ""), True)


def test_promised_lists_every_file_of_the_manifests():
    assert rules.promised([[(OID, 3)], [(OTHER, 4), (OID, 3)]]) == {OID: 3, OTHER: 4}
