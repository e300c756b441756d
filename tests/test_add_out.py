"""`artver add -o DST SRC` (data from anywhere, tracked where it goes), `artver add --to-remote`
(straight to the remote, no copy in the cache), and `add` of what Git already tracks."""

from __future__ import annotations

import json
import os

from artver.yamlio import load_yaml
from tests.conftest import xxh
from tests.test_bad_input import assert_error, before, cache_objects
from tests.test_remotes import clone


def pointer(ws, rel: str) -> dict:
    return load_yaml((ws.root / rel).read_text())["outs"][0]


def make_source(tmp_path):
    src = tmp_path / "elsewhere" / "raw"
    (src / "sub").mkdir(parents=True)
    (src / "a.csv").write_text("alpha")
    (src / "sub" / "b.csv").write_text("beta")
    (src / "sub" / "run.sh").write_text("#!/bin/sh\n")
    os.chmod(src / "sub" / "run.sh", 0o755)
    (src / "debug.log").write_text("noise")
    return src


def remote_files(store) -> set[str]:
    return {p.parent.name + p.name for p in store.rglob("*") if p.is_file()}


# -- add -o ---------------------------------------------------------------------------------------
def test_add_out_copies_a_directory_from_outside_into_the_cache_and_places_it(ws, tmp_path):
    src = make_source(tmp_path)
    ws.write(".artverignore", "*.log\n")  # the rules of where it goes apply
    before_src = {p: p.read_bytes() for p in src.rglob("*") if p.is_file()}
    res = ws.artver("add", "-o", "datasets/raw", str(src))
    assert "Added datasets/raw (3 files" in res.stderr
    assert "git add datasets/.gitignore datasets/raw.artver" in res.stderr
    assert ws.files("datasets/raw") == {
        "a.csv": b"alpha",
        "sub/b.csv": b"beta",
        "sub/run.sh": b"#!/bin/sh\n",
    }
    assert os.access(ws.root / "datasets/raw/sub/run.sh", os.X_OK)
    out = pointer(ws, "datasets/raw.artver")
    assert out["nfiles"] == 3 and out["oid"].endswith(".dir")
    assert "/raw" in (ws.root / "datasets/.gitignore").read_text().splitlines()
    for content in (b"alpha", b"beta", b"#!/bin/sh\n"):
        assert ws.cache_object(xxh(content)).is_file()
    assert not ws.cache_object(xxh(b"noise")).exists()
    assert {p: p.read_bytes() for p in src.rglob("*") if p.is_file()} == before_src
    assert ws.artver("status").stdout.strip() == "Data is up to date."
    # It is ordinary tracked data now: a checkout brings it back.
    (ws.root / "datasets/raw/a.csv").unlink()
    ws.artver("checkout")
    assert ws.read("datasets/raw/a.csv") == b"alpha"


def test_add_out_of_a_file_with_a_hardlink_cache(ws, tmp_path):
    ws.artver("config", "cache.type", "hardlink,copy")
    (tmp_path / "model.bin").write_bytes(b"weights" * 100)
    ws.artver("add", "-o", "model.bin", str(tmp_path / "model.bin"))
    assert pointer(ws, "model.bin.artver")["oid"] == xxh(b"weights" * 100)
    assert ws.read("model.bin") == b"weights" * 100
    obj = ws.cache_object(xxh(b"weights" * 100))
    assert os.stat(ws.root / "model.bin").st_ino == obj.stat().st_ino  # the configured link
    assert (tmp_path / "model.bin").stat().st_ino != obj.stat().st_ino  # SRC is left alone
    assert ws.artver("status").stdout.strip() == "Data is up to date."


def test_add_out_refuses_a_tracked_or_existing_destination_and_a_missing_source(ws, tmp_path):
    src = make_source(tmp_path)
    ws.write("data/x.csv", "x")
    ws.artver("add", "data")
    ws.write("exists/keep.txt", "mine")
    state = before(ws)
    res = ws.artver("add", "-o", "data", str(src), expect=None)
    assert_error(res, "data", "already tracked by data.artver")
    res = ws.artver("add", "-o", "exists", str(src), expect=None)
    assert_error(res, "exists", "already exists")
    res = ws.artver("add", "-o", "data/inner", str(src), expect=None)
    assert_error(res, "data/inner", "already tracked by data.artver")
    res = ws.artver("add", "-o", "new", str(tmp_path / "nothing"), expect=None)
    assert_error(res, "nothing", "no such file or directory")
    res = ws.artver("add", "-o", "new", str(src), str(src / "a.csv"), expect=None)
    assert_error(res, "exactly one SRC", code=2)
    res = ws.artver("add", "-o", "../outside", str(src), expect=None)
    assert_error(res, "outside the repository")
    state.assert_unchanged()
    assert not (ws.root / "new").exists() and not (ws.root / "new.artver").exists()


# -- add --to-remote --------------------------------------------------------------------------
def test_to_remote_uploads_without_a_cache_copy_and_pull_gets_it(ws, tmp_path):
    src = make_source(tmp_path)
    store = tmp_path / "store"
    ws.artver("remote", "add", "-d", "store", str(store))
    ws.write(".artverignore", "*.log\n")
    res = ws.artver("add", "--to-remote", "-o", "raw", str(src))
    assert "Added raw (3 files" in res.stderr and "4 objects sent" in res.stderr
    assert "artver pull raw" in res.stderr
    out = pointer(ws, "raw.artver")
    contents = (b"alpha", b"beta", b"#!/bin/sh\n")
    assert remote_files(store) == {xxh(c) for c in contents} | {out["oid"]}
    assert not (store / "tmp").exists() or not list((store / "tmp").iterdir())
    assert set(cache_objects(ws.root / ".artver/cache")) == {out["oid"]}  # the manifest only
    assert not (ws.root / "raw").exists()
    assert "/raw" in (ws.root / ".gitignore").read_text().splitlines()
    assert json.loads(ws.artver("status", "--json").stdout)["artifacts"][0]["state"] == "missing"
    assert "Everything is up to date on 'store'" in ws.artver("push").stderr  # nothing to send
    ws.commit("raw, on the remote only")
    other = clone(ws, tmp_path)
    other.artver("pull", "raw")
    assert other.files("raw") == {
        "a.csv": b"alpha",
        "sub/b.csv": b"beta",
        "sub/run.sh": b"#!/bin/sh\n",
    }
    assert os.access(other.root / "raw/sub/run.sh", os.X_OK)


def test_to_remote_of_a_path_in_the_repository_tracks_it_where_it_is(ws, tmp_path):
    store = tmp_path / "store"
    ws.artver("remote", "add", "-d", "store", str(store))
    ws.write("model.bin", b"m" * 5000)
    ws.artver("add", "--to-remote", "model.bin")
    assert remote_files(store) == {xxh(b"m" * 5000)}
    assert not ws.cache_object(xxh(b"m" * 5000)).exists()
    assert ws.read("model.bin") == b"m" * 5000
    ws.write("data/a.csv", "a")
    ws.write("data/sub/b.csv", "b")
    res = ws.artver("add", "--to-remote", "data")
    assert "artver pull" not in res.stderr  # it is here already
    assert xxh(b"a") in remote_files(store) and not ws.cache_object(xxh(b"a")).exists()
    assert ws.files("data") == {"a.csv": b"a", "sub/b.csv": b"b"}
    assert ws.artver("status").stdout.strip() == "Data is up to date."


def test_to_remote_reads_a_url(ws, tmp_path):
    src = make_source(tmp_path)
    store = tmp_path / "store"
    ws.artver("remote", "add", "-d", "store", str(store))
    ws.artver("add", "--to-remote", "-o", "fromurl", f"file://{src}")
    out = pointer(ws, "fromurl.artver")
    assert out["nfiles"] == 4  # no ignore file here: debug.log comes along
    assert xxh(b"noise") in remote_files(store)
    assert not ws.cache_object(xxh(b"noise")).exists()


def test_to_remote_without_a_remote_is_refused(ws, tmp_path):
    src = make_source(tmp_path)
    state = before(ws)
    res = ws.artver("add", "--to-remote", "-o", "raw", str(src), expect=None)
    assert_error(res, "needs a remote", "artver remote add -d")
    res = ws.artver("add", "-r", "store", "raw", expect=None)
    assert_error(res, "-r/--remote goes with --to-remote", code=2)
    state.assert_unchanged()
    assert not (ws.root / "raw.artver").exists()


# -- what Git tracks ----------------------------------------------------------------------------
def test_add_refuses_what_git_tracks_and_says_how_to_stop(ws):
    ws.write("data/x.csv", "x")
    ws.write("data/sub/y.csv", "y")
    ws.write("other/z.csv", "z")
    ws.git("add", "data/x.csv", "other/z.csv")
    state = before(ws)
    res = ws.artver("add", "data/x.csv", expect=None)
    assert_error(
        res,
        "data/x.csv is tracked by Git; stop tracking it there first: "
        "git rm -r --cached 'data/x.csv' && git commit -m \"stop tracking data/x.csv\"",
    )
    res = ws.artver("add", "data", expect=None)
    assert_error(res, "data: data/x.csv is tracked by Git", "git rm -r --cached 'data'")
    res = ws.artver("add", "x.csv", cwd=ws.root / "data", expect=None)
    assert_error(res, "git rm -r --cached 'x.csv'")
    state.assert_unchanged()
    ws.git("rm", "-q", "-r", "--cached", "data")
    ws.artver("add", "data")
    assert pointer(ws, "data.artver")["nfiles"] == 2


def test_to_remote_on_an_object_store_sends_only_what_it_lacks(ws, tmp_path, s3_backend):
    import s3fs

    src = make_source(tmp_path)
    s3_backend.add_to(ws, "store")
    res = ws.artver("add", "--to-remote", "-o", "raw", str(src))
    assert "5 objects sent, 0 already there" in res.stderr  # 4 files and the manifest
    on_store = {key.replace("/", "") for key in s3_backend.listing()}
    assert on_store == {xxh(c) for c in (b"alpha", b"beta", b"#!/bin/sh\n", b"noise")} | {
        pointer(ws, "raw.artver")["oid"]
    }
    res = ws.artver("add", "--to-remote", "-o", "again", str(src))
    assert "0 objects sent, 5 already there" in res.stderr
    # A URL on the remote's bucket is read with the remote's endpoint and credentials.
    store = s3fs.S3FileSystem(client_kwargs={"endpoint_url": s3_backend.endpoint})
    store.pipe(f"{s3_backend.bucket}/incoming/day1/x.csv", b"from the bucket")
    ws.artver("add", "--to-remote", "-o", "day1", f"s3://{s3_backend.bucket}/incoming/day1")
    assert pointer(ws, "day1.artver")["nfiles"] == 1
    assert not ws.cache_object(xxh(b"from the bucket")).exists()
    ws.artver("pull", "day1")
    assert ws.read("day1/x.csv") == b"from the bucket"
