"""`artver add`: pointers, cache objects, .gitignore, versions."""

from __future__ import annotations

import json
import os
import stat

from artver.yamlio import load_yaml
from tests.conftest import xxh


def pointer(ws, rel: str) -> dict:
    return load_yaml((ws.root / rel).read_text())["outs"][0]


def manifest(ws, oid: str) -> dict[str, list]:
    doc = json.loads(ws.cache_object(oid).read_bytes())
    return {row[0]: row[1:] for row in doc["files"]}


def test_add_file_writes_pointer_cache_object_and_gitignore(ws):
    ws.write("model.bin", b"weights" * 1000)
    res = ws.artver("add", "model.bin")
    out = pointer(ws, "model.bin.artver")
    assert out == {
        "path": "model.bin",
        "hash": "xxh3-128",
        "oid": xxh(b"weights" * 1000),
        "size": 7000,
    }
    obj = ws.cache_object(out["oid"])
    assert obj.read_bytes() == b"weights" * 1000
    assert stat.S_IMODE(obj.stat().st_mode) & 0o222 == 0, "cache objects are read-only"
    assert "/model.bin" in (ws.root / ".gitignore").read_text().splitlines()
    assert "git add .gitignore model.bin.artver" in res.stderr
    # the workspace copy stays an ordinary writable file
    assert os.access(ws.root / "model.bin", os.W_OK)


def test_add_directory_records_manifest_of_every_file(ws):
    ws.write("data/a.txt", "alpha")
    ws.write("data/sub/b.txt", "beta")
    ws.write("data/sub/deeper/c.txt", "")
    os.chmod(ws.root / "data/sub/b.txt", 0o755)
    ws.artver("add", "data")
    out = pointer(ws, "data.artver")
    assert out["oid"].endswith(".dir") and out["nfiles"] == 3 and out["size"] == 9
    files = manifest(ws, out["oid"])
    assert files == {
        "a.txt": [xxh(b"alpha"), 5, 0],
        "sub/b.txt": [xxh(b"beta"), 4, 1],
        "sub/deeper/c.txt": [xxh(b""), 0, 0],
    }
    for oid, *_ in files.values():
        assert ws.cache_object(oid).is_file()
    # the manifest object is named after its own hash
    assert xxh(ws.cache_object(out["oid"]).read_bytes()) + ".dir" == out["oid"]


def test_add_several_paths_and_globs(ws):
    for name in ("a.csv", "b.csv", "c.txt"):
        ws.write(f"raw/{name}", name)
    ws.artver("add", "raw/*.csv", "raw/c.txt")
    for name in ("a.csv", "b.csv", "c.txt"):
        assert pointer(ws, f"raw/{name}.artver")["oid"] == xxh(name.encode())
    ignored = (ws.root / "raw/.gitignore").read_text().splitlines()
    assert ignored == ["/a.csv", "/b.csv", "/c.txt"]


def test_readd_of_changed_path_makes_a_new_version_and_keeps_the_old(ws):
    ws.write("data/a.txt", "v1")
    ws.artver("add", "data")
    v1 = pointer(ws, "data.artver")["oid"]
    ws.write("data/a.txt", "v2")
    res = ws.artver("add", "data")
    v2 = pointer(ws, "data.artver")["oid"]
    assert v1 != v2
    assert "Updated data" in res.stderr
    assert ws.cache_object(v1).is_file() and ws.cache_object(v2).is_file()
    assert ws.cache_object(xxh(b"v1")).read_bytes() == b"v1"


def test_readd_without_change_keeps_pointer_bytes(ws):
    ws.write("data/a.txt", "same")
    ws.artver("add", "data")
    before = ws.read("data.artver")
    stat_before = os.stat(ws.root / "data.artver")
    res = ws.artver("add", "data")
    assert ws.read("data.artver") == before
    stat_after = os.stat(ws.root / "data.artver")  # not even rewritten
    assert (stat_after.st_ino, stat_after.st_mtime_ns) == (
        stat_before.st_ino,
        stat_before.st_mtime_ns,
    )
    assert "Unchanged data" in res.stderr
    assert "git add" not in res.stderr


def test_add_from_a_subdirectory_uses_paths_relative_to_it(ws):
    ws.write("sub/data/x.txt", "x")
    res = ws.artver("add", "data", cwd=ws.root / "sub")
    assert (ws.root / "sub/data.artver").is_file()
    assert "git add .gitignore data.artver" in res.stderr


def test_gitignore_entry_is_escaped_and_not_duplicated(ws):
    ws.write("we!rd [name].txt", "x")
    ws.artver("add", "we!rd [name].txt")
    ws.artver("add", "we!rd [name].txt")
    lines = (ws.root / ".gitignore").read_text().splitlines()
    assert lines == ["/we\\!rd \\[name\\].txt"]
    # git itself agrees the file is ignored and the pointer is not
    assert ws.git("check-ignore", "we!rd [name].txt").strip() == "we!rd [name].txt"


def test_pointer_and_gitignore_can_be_committed_to_git(ws):
    ws.write("data/a.txt", "a")
    ws.artver("add", "data")
    ws.git("add", "-A")
    tracked = ws.git("ls-files").split()
    assert "data.artver" in tracked and ".gitignore" in tracked
    assert not any(path.startswith("data/") for path in tracked)
    assert not any(path.startswith(".artver/cache") for path in tracked)


def test_hardlink_cache_type_links_workspace_files_to_objects(ws):
    ws.artver("config", "cache.type", "hardlink,copy")
    ws.write("data/a.txt", "linked")
    ws.artver("add", "data")
    obj = ws.cache_object(xxh(b"linked"))
    assert os.stat(ws.root / "data/a.txt").st_ino == obj.stat().st_ino
    assert "up to date" in ws.artver("status").stdout


def test_symlink_cache_type(ws):
    ws.artver("config", "cache.type", "symlink")
    ws.write("data/a.txt", "sym")
    ws.artver("add", "data")
    link = ws.root / "data/a.txt"
    assert link.is_symlink() and link.read_bytes() == b"sym"
    assert os.path.realpath(link) == str(ws.cache_object(xxh(b"sym")).resolve())
    assert "up to date" in ws.artver("status").stdout


def test_large_file_is_streamed_into_the_cache(ws):
    data = os.urandom(3 * 1024 * 1024 + 17)
    ws.write("big.bin", data)
    ws.artver("add", "big.bin")
    assert ws.cache_object(xxh(data)).read_bytes() == data


def other_filesystem(path) -> str | None:
    """A writable directory on a different filesystem than `path`, if the machine has one."""
    candidate = "/dev/shm"
    usable = os.path.isdir(candidate) and os.access(candidate, os.W_OK)
    if usable and os.stat(candidate).st_dev != os.stat(path).st_dev:
        return candidate
    return None


def test_hardlink_across_filesystems_falls_back_to_copy(ws, tmp_path):
    import pytest

    shm = other_filesystem(ws.root)
    if shm is None:
        pytest.skip("no second filesystem (/dev/shm) on this machine")
    import tempfile

    cache = tempfile.mkdtemp(dir=shm)
    try:
        ws.artver("config", "--local", "cache.dir", cache)
        ws.artver("config", "cache.type", "hardlink")
        ws.write("model.bin", "solo")
        res = ws.artver("add", "model.bin", expect=1)
        assert "none of the link types" in res.stderr and "cache.type hardlink,copy" in res.stderr
        assert not (ws.root / "model.bin.artver").exists()
        ws.artver("config", "cache.type", "hardlink,copy")
        ws.artver("add", "model.bin")
        oid = xxh(b"solo")
        with open(os.path.join(cache, oid[:2], oid[2:]), "rb") as fobj:
            assert fobj.read() == b"solo"
        os.unlink(ws.root / "model.bin")
        ws.artver("checkout")
        assert ws.read("model.bin") == b"solo"
        assert "link type in use: copy" in ws.artver("doctor").stdout
    finally:
        import shutil

        shutil.rmtree(cache, ignore_errors=True)


def test_user_keys_in_a_pointer_survive_a_new_version(ws):
    ws.write("data/a.txt", "1")
    ws.artver("add", "data")
    text = (
        (ws.root / "data.artver").read_text().replace("  nfiles: 1\n", "  nfiles: 1\n  desc: raw\n")
    )
    (ws.root / "data.artver").write_text(text + "meta: {owner: ml-team}\n")
    ws.write("data/a.txt", "2")
    ws.artver("add", "data")
    doc = load_yaml((ws.root / "data.artver").read_text())
    assert doc["outs"][0]["desc"] == "raw" and doc["meta"] == {"owner": "ml-team"}
    assert doc["outs"][0]["oid"] != xxh(b"1")


def test_git_add_hint_is_shell_quoted(ws):
    ws.write("my data/x.txt", "x")
    res = ws.artver("add", "my data")
    assert "git add .gitignore 'my data.artver'" in res.stderr


def test_file_name_that_is_not_utf8_is_refused(ws):
    bad = os.fsencode(str(ws.root / "data")) + b"/caf\xe9.txt"
    os.makedirs(ws.root / "data")
    with open(bad, "wb") as fobj:
        fobj.write(b"x")
    res = ws.artver("add", "data", expect=1)
    assert "not valid UTF-8" in res.stderr and "caf\\xe9" in res.stderr
    assert not (ws.root / "data.artver").exists()


def canonical_json(rows: list[list]) -> bytes:
    doc = {"version": 1, "files": rows}
    return json.dumps(doc, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def test_manifest_bytes_are_compact_json_whatever_the_names(ws):
    # A directory's id is the hash of these bytes: they must never depend on how they were
    # written. Plain names take a fast path; names JSON must escape take json itself.
    plain = {"a.txt": b"1", "sub/é ü.bin": b"22", "sub/\u2028 \x7f 😀": b"333"}
    tricky = {**plain, 'quote".txt': b"4", "back\\slash": b"55", "tab\there\nline": b""}
    for name, files in (("plain", plain), ("tricky", tricky)):
        for rel, data in files.items():
            ws.write(f"{name}/{rel}", data)
        ws.artver("add", name)
        oid = pointer(ws, f"{name}.artver")["oid"]
        rows = [[rel, xxh(data), len(data), 0] for rel, data in sorted(files.items())]
        assert ws.cache_object(oid).read_bytes() == canonical_json(rows)
        assert xxh(canonical_json(rows)) + ".dir" == oid
