"""`artver import-url` (data from a URL, tracked with its source's version marker), `get-url`
(a plain, verified download), `update_url`/`url_changed` (and `artver update` on them), and
`repro` bringing a stage's url-imported dep up to date first.

Sources are real: local files and directories, moto's S3 server, the GCS emulator, and Python's
http.server on loopback.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import http.server
import os
import shlex
import sys
import threading
from pathlib import Path

import pytest

from artver.remotes import marker
from artver.yamlio import load_yaml
from tests.conftest import xxh
from tests.test_bad_input import assert_error, before
from tests.test_remotes import clone

PY = shlex.quote(sys.executable)


def pointer_doc(ws, rel: str) -> dict:
    return load_yaml((ws.root / rel).read_text())


def make_dir_source(tmp_path: Path) -> Path:
    src = tmp_path / "upstream" / "raw"
    (src / "sub").mkdir(parents=True)
    (src / "a.csv").write_text("alpha")
    (src / "sub" / "b.csv").write_text("beta")
    (src / "debug.log").write_text("noise")
    return src


def bump(path: Path, data: str) -> None:
    """New content with a new mtime, whatever the clock's resolution."""
    st = path.stat() if path.exists() else None
    path.write_text(data)
    if st is not None:
        os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))


def s3_put(backend, key: str, data: bytes) -> None:
    """Write an object the way a producer would (s3fs), below the backend's prefix."""
    import s3fs

    store = s3fs.S3FileSystem(
        client_kwargs={"endpoint_url": backend.endpoint}, skip_instance_cache=True
    )
    store.pipe(f"{backend.bucket}/{backend.prefix}/{key}", data)


def in_process_repo(ws):
    from artver.repo import Repo

    return Repo.find(ws.root)


# -- pure decisions ----------------------------------------------------------------------------
def test_markers_of_each_kind_of_source():
    s3 = {"ETag": '"5d41402abc4b2a76b9719d911017c592"', "size": 5, "VersionId": None}
    assert marker.file_marker("s3", s3) == {"etag": "5d41402abc4b2a76b9719d911017c592", "size": 5}
    assert marker.file_marker("s3", {**s3, "VersionId": "v2"})["version_id"] == "v2"
    gs = {"generation": "17", "size": 5, "md5Hash": "XUFAKrxLKna5cZ2REBfFkg==", "etag": "e"}
    assert marker.file_marker("gs", gs) == {"generation": "17", "size": 5}
    assert marker.file_marker("gs", {"etag": "e", "md5Hash": "m", "size": 1}) == {
        "etag": "e",
        "md5": "m",
        "size": 1,
    }
    assert marker.expected_md5("gs", gs) == "5d41402abc4b2a76b9719d911017c592"
    assert marker.expected_md5("s3", s3) is None  # an ETag is no MD5 for multipart/KMS
    assert marker.file_marker("https", {"ETag": 'W/"x"', "size": 3}) == {"etag": 'W/"x"'}
    last = {"Last-Modified": "Thu, 03 Dec 2026 14:10:20 GMT", "size": 3}
    assert marker.file_marker("http", last) == {
        "last_modified": "Thu, 03 Dec 2026 14:10:20 GMT",
        "size": 3,
    }
    assert marker.file_marker("http", {"size": 3}) is None
    assert marker.file_marker("file", {"mtime_ns": 12, "size": 3, "ino": 9}) == {
        "mtime_ns": 12,
        "size": 3,
    }
    assert marker.file_marker("az", {"etag": "q", "size": 1}) == {"etag": "q", "size": 1}


def test_a_directory_marker_is_one_digest_and_an_update_reads_only_what_moved():
    files = {"a": {"etag": "1"}, "b/c": {"etag": "2"}}
    dmark = marker.dir_marker(files)
    assert dmark == {"nfiles": 2, "digest": marker.digest(dict(reversed(files.items())))}
    assert marker.changed(dmark, marker.dir_marker({**files, "a": {"etag": "9"}}))
    assert not marker.changed(dmark, marker.dir_marker(dict(files)))
    new = {"a": {"etag": "1"}, "b/c": {"etag": "3"}, "d": {"etag": "4"}}
    assert marker.to_fetch(files, new, {"a": "o1", "b/c": "o2"}) == ["b/c", "d"]
    assert marker.to_fetch(None, new, {"a": "o1", "b/c": "o2"}) == ["a", "b/c", "d"]
    assert marker.to_fetch(files, new, {"b/c": "o2"}) == ["a", "b/c", "d"]  # no old object


def test_which_imports_a_run_needs():
    from artver.ops.repro_imports import import_deps

    imports = {"data/raw": "data/raw", "data/raw/a.csv": "data/raw", "x.csv": "x.csv"}
    deps = {"one": ["data/raw/a.csv", "src.py"], "two": ["data/raw", "x.csv"], "cold": ["y"]}
    found = import_deps(["one", "two", "cold"], deps, {"two"}, imports.get)
    assert found == [("data/raw", "one")]
    assert import_deps(["two"], deps, set(), imports.get) == [("data/raw", "two"), ("x.csv", "two")]


def test_default_names():
    from artver.ops.url_fetch import basename

    assert basename("s3://bucket/exports/raw/") == "raw"
    assert basename("https://host/files/data.csv?token=1") == "data.csv"
    assert basename("s3://bucket") == ""
    assert basename("../elsewhere/f.txt") == "f.txt"


# -- local sources --------------------------------------------------------------------------
def test_import_a_local_directory_then_update_reads_only_what_changed(ws, tmp_path, monkeypatch):
    src = make_dir_source(tmp_path)
    ws.write(".artverignore", "*.log\n")  # the rules of where it goes apply
    res = ws.artver("import-url", str(src), "datasets/raw")
    assert "Imported datasets/raw (2 files, 9 B) from" in res.stderr
    assert "git add datasets/.gitignore datasets/raw.artver" in res.stderr
    assert ws.files("datasets/raw") == {"a.csv": b"alpha", "sub/b.csv": b"beta"}
    doc = pointer_doc(ws, "datasets/raw.artver")
    assert doc["outs"][0]["nfiles"] == 2
    assert doc["source"]["url"] == str(src)
    assert set(doc["source"]["marker"]) == {"nfiles", "digest"}
    assert ws.artver("status").stdout.strip() == "Data is up to date."

    from artver.ops import import_url, url_fetch

    repo = in_process_repo(ws)
    pointer_file = ws.root / "datasets/raw.artver"
    assert import_url.url_changed(repo, pointer_file) is False
    assert import_url.update_url(repo, pointer_file) is False
    bump(src / "sub" / "b.csv", "BETA")
    (src / "new.csv").write_text("new")
    (src / "debug.log").write_text("still ignored")
    assert import_url.url_changed(repo, pointer_file) is True
    read: list[str] = []
    real = url_fetch.Origin.to_cache

    def counting(self, repo, files, jobs):
        read.extend(f.rel for f in files)
        return real(self, repo, files, jobs)

    monkeypatch.setattr(url_fetch.Origin, "to_cache", counting)
    assert import_url.update_url(repo, pointer_file) is True
    assert sorted(read) == ["new.csv", "sub/b.csv"]  # a.csv did not change: not read again
    repo.close()
    assert ws.files("datasets/raw") == {"a.csv": b"alpha", "new.csv": b"new", "sub/b.csv": b"BETA"}
    doc = pointer_doc(ws, "datasets/raw.artver")
    assert doc["outs"][0]["nfiles"] == 3
    assert doc["source"]["url"] == str(src)
    assert ws.artver("status").stdout.strip() == "Data is up to date."


def test_import_a_local_file_and_update_it_from_the_cli(ws, tmp_path):
    src = tmp_path / "model.bin"
    src.write_bytes(b"weights")
    ws.artver("import-url", os.path.relpath(src, ws.root))  # OUT: its name, here
    doc = pointer_doc(ws, "model.bin.artver")
    assert doc["outs"][0]["oid"] == xxh(b"weights")
    st = src.stat()
    assert doc["source"] == {
        "url": str(src),  # absolute: a relative path would mean nothing elsewhere
        "marker": {"mtime_ns": st.st_mtime_ns, "size": 7},
    }
    assert ws.read("model.bin") == b"weights"
    res = ws.artver("update", "model.bin")
    assert "model.bin is up to date" in res.stderr
    bump(src, "weights v2")
    res = ws.artver("update", "model.bin")
    assert "Updated model.bin" in res.stderr and "git add model.bin.artver" in res.stderr
    assert ws.read("model.bin") == b"weights v2"
    assert pointer_doc(ws, "model.bin.artver")["outs"][0]["oid"] == xxh(b"weights v2")
    assert ws.cache_object(xxh(b"weights")).is_file()  # the old version stays in the cache


def test_update_never_overwrites_local_edits_and_tells_what_is_not_an_import(ws, tmp_path):
    from artver.errors import ArtverError, WouldLoseDataError
    from artver.ops import import_url

    src = tmp_path / "f.txt"
    src.write_text("one")
    ws.artver("import-url", str(src), "f.txt")
    ws.artver("unprotect", "f.txt")
    (ws.root / "f.txt").write_text("my edit")
    bump(src, "two")
    repo = in_process_repo(ws)
    with pytest.raises(WouldLoseDataError):
        import_url.update_url(repo, ws.root / "f.txt.artver")
    assert ws.read("f.txt") == b"my edit"
    assert pointer_doc(ws, "f.txt.artver")["outs"][0]["oid"] == xxh(b"one")
    ws.write("own.txt", "mine")
    ws.artver("add", "own.txt")
    with pytest.raises(ArtverError, match="was not imported from a URL"):
        import_url.update_url(repo, ws.root / "own.txt.artver")
    assert import_url.url_changed(repo, ws.root / "own.txt.artver") is None
    src.unlink()
    assert import_url.url_changed(repo, ws.root / "f.txt.artver") is None  # gone: cannot tell
    with pytest.raises(ArtverError, match="does not exist any more"):
        import_url.update_url(repo, ws.root / "f.txt.artver")
    repo.close()


# -- object stores ----------------------------------------------------------------------------
def test_import_from_s3_records_the_etag_updates_and_streams_to_a_remote(
    ws, tmp_path, s3_backend, monkeypatch
):
    from artver.ops import import_url

    s3_backend.add_to(ws, "s3src", default=False)  # lends the endpoint for its bucket
    store = tmp_path / "store"
    ws.artver("remote", "add", "-d", "store", str(store))
    s3_put(s3_backend, "incoming/day1.csv", b"rows v1")
    s3_put(s3_backend, "incoming/tree/x.csv", b"x")
    s3_put(s3_backend, "incoming/tree/y/z.csv", b"z")
    base = f"s3://{s3_backend.bucket}/{s3_backend.prefix}/incoming"
    ws.artver("import-url", f"{base}/day1.csv", "data/day1.csv")
    doc = pointer_doc(ws, "data/day1.csv.artver")
    assert doc["source"] == {
        "url": f"{base}/day1.csv",
        "marker": {"etag": hashlib.md5(b"rows v1").hexdigest(), "size": 7},
    }
    assert ws.read("data/day1.csv") == b"rows v1"

    # --to-remote: straight to the remote, the source recorded all the same.
    res = ws.artver("import-url", "--to-remote", "-j", "2", f"{base}/tree", "tree")
    assert "to remote 'store'" in res.stderr and "artver pull tree" in res.stderr
    doc = pointer_doc(ws, "tree.artver")
    assert doc["source"]["url"] == f"{base}/tree" and doc["source"]["to_remote"] is True
    assert doc["source"]["marker"]["nfiles"] == 2
    assert not (ws.root / "tree").exists()
    assert not ws.cache_object(xxh(b"x")).exists()  # only the manifest is kept here

    s3_put(s3_backend, "incoming/day1.csv", b"rows v2!")
    repo = in_process_repo(ws)
    assert import_url.url_changed(repo, ws.root / "data/day1.csv.artver") is True
    assert import_url.url_changed(repo, ws.root / "tree.artver") is False
    assert import_url.update_url(repo, ws.root / "data/day1.csv.artver") is True
    repo.close()
    assert ws.read("data/day1.csv") == b"rows v2!"
    assert pointer_doc(ws, "data/day1.csv.artver")["source"]["marker"]["size"] == 8
    ws.commit("imports")
    other = clone(ws, tmp_path)
    other.artver("pull", "tree")
    assert other.files("tree") == {"x.csv": b"x", "y/z.csv": b"z"}

    # A key that does not exist, and credentials that are missing: one message, nothing written.
    state = before(ws)
    res = ws.artver("import-url", f"{base}/gone.csv", expect=None)
    assert_error(res, "gone.csv", "no such file or directory")
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    res = ws.artver("import-url", f"{base}/day1.csv", "again.csv", expect=None)
    assert_error(res, "day1.csv", "no credentials", "Unable to locate credentials")
    state.assert_unchanged()


def test_import_from_gcs_records_the_generation(ws, gcs_backend):
    from artver.ops import import_url

    gcs_backend.add_to(ws, "gcssrc", default=False)
    gcs_backend.put("in/f.bin", b"gen one")
    url = f"gs://{gcs_backend.bucket}/{gcs_backend.prefix}/in/f.bin"
    ws.artver("import-url", url)
    mark = pointer_doc(ws, "f.bin.artver")["source"]["marker"]
    assert set(mark) == {"generation", "size"} and mark["size"] == 7
    gcs_backend.put("in/f.bin", b"gen two")  # same size, new generation
    repo = in_process_repo(ws)
    assert import_url.update_url(repo, ws.root / "f.bin.artver") is True
    repo.close()
    assert ws.read("f.bin") == b"gen two"
    res = ws.artver("get-url", url, "copy.bin")
    assert "Downloaded" in res.stderr and ws.read("copy.bin") == b"gen two"


# -- HTTP -------------------------------------------------------------------------------------
class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args) -> None:
        pass


@contextlib.contextmanager
def http_serving(directory: Path):
    server = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), functools.partial(_Quiet, directory=str(directory))
    )
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def test_import_and_get_over_http_use_last_modified(ws, tmp_path):
    from artver.ops import import_url

    served = tmp_path / "www"
    served.mkdir()
    (served / "table.csv").write_text("a,b\n1,2\n")
    with http_serving(served) as base:
        ws.artver("import-url", f"{base}/table.csv")
        mark = pointer_doc(ws, "table.csv.artver")["source"]["marker"]
        assert set(mark) == {"last_modified", "size"}  # http.server sends no ETag
        assert ws.read("table.csv") == b"a,b\n1,2\n"
        repo = in_process_repo(ws)
        assert import_url.url_changed(repo, ws.root / "table.csv.artver") is False
        bump(served / "table.csv", "a,b\n3,4\n")
        assert import_url.update_url(repo, ws.root / "table.csv.artver") is True
        repo.close()
        assert ws.read("table.csv") == b"a,b\n3,4\n"
        ws.write("downloads/keep", "")
        ws.artver("get-url", f"{base}/table.csv", "downloads")  # into the directory
        assert ws.read("downloads/table.csv") == b"a,b\n3,4\n"
        assert not (ws.root / "downloads/table.csv.artver").exists()  # nothing tracked
        res = ws.artver("import-url", f"{base}/nope.csv", expect=None)
        assert_error(res, "nope.csv", "no such file or directory")
    repo = in_process_repo(ws)
    assert import_url.url_changed(repo, ws.root / "table.csv.artver") is None  # server gone
    repo.close()


# -- get-url ----------------------------------------------------------------------------------
def test_get_url_of_a_directory_outside_any_repository(tmp_path):
    from tests.conftest import run_artver

    src = make_dir_source(tmp_path)
    work = tmp_path / "plain"
    work.mkdir()
    res = run_artver("get-url", str(src), cwd=work)
    assert "Downloaded" in res.stderr and "(3 files, 14 B)" in res.stderr
    assert (work / "raw/sub/b.csv").read_text() == "beta"
    assert not [p for p in work.rglob("*.tmp")]
    again = run_artver("get-url", str(src / "a.csv"), "raw/a.csv", cwd=work, expect=None)
    assert_error(again, "raw/a.csv", "already exists")
    missing = run_artver("get-url", str(tmp_path / "nothing"), cwd=work, expect=None)
    assert_error(missing, "nothing", "no such file or directory")


# -- bad input ---------------------------------------------------------------------------------
def test_bad_input_gets_one_message_and_writes_nothing(ws, tmp_path):
    src = make_dir_source(tmp_path)
    ws.write("data/x.csv", "x")
    ws.artver("add", "data")
    ws.write("exists.txt", "mine")
    ws.write("inside/f.txt", "in the repo")
    state = before(ws)
    cases = [
        ((str(tmp_path / "nothing"), "new"), ["nothing", "no such file or directory"]),
        ((str(src), "data"), ["data", "already tracked by data.artver", "artver update"]),
        ((str(src), "data/inner"), ["already tracked by data.artver"]),
        ((str(src), "exists.txt"), ["exists.txt", "already exists"]),
        ((str(src), ".git/raw"), [".git", "never tracks"]),
        ((str(src), "../outside"), ["outside the repository"]),
        (("inside/f.txt", "copy.txt"), ["inside the repository", "artver add"]),
        (("https://user:secret@example.com/f.csv", "f.csv"), ["password"]),
    ]
    for args, fragments in cases:
        res = ws.artver("import-url", *args, expect=None)
        assert_error(res, *fragments)
        assert "secret" not in res.stderr
    res = ws.artver("import-url", "-r", "store", str(src), expect=None)
    assert_error(res, "-r/--remote goes with --to-remote", code=2)
    res = ws.artver("import-url", "--to-remote", str(src), "elsewhere", expect=None)
    assert_error(res, "needs a remote")
    state.assert_unchanged()
    assert not (tmp_path / "outside").exists() and not (ws.root / "new.artver").exists()


# -- pipelines -------------------------------------------------------------------------------
def test_repro_updates_a_url_import_its_stage_needs_then_runs_the_stage(ws, tmp_path):
    src = tmp_path / "raw.csv"
    src.write_text("v1\n")
    ws.artver("import-url", str(src))
    ws.write("count.py", "import sys; open('n.txt','w').write(open('raw.csv').read().upper())\n")
    ws.artver("stage", "add", "-n", "count", "-d", "raw.csv", "-d", "count.py", "-o", "n.txt",
              f"{PY} count.py")  # fmt: skip
    ws.artver("repro")
    assert ws.read("n.txt") == b"V1\n"
    assert "up to date" in ws.artver("repro").stderr
    bump(src, "v2\n")
    assert "raw.csv: import behind its source URL" in ws.artver("status").output
    res = ws.artver("repro", "--dry-run")
    assert "raw.csv is behind its source URL: repro would update it" in res.stderr
    assert ws.read("raw.csv") == b"v1\n"  # a dry run changes nothing
    res = ws.artver("repro")
    assert "Updated raw.csv from its source URL" in res.stderr
    assert "Running stage count" in res.stderr
    assert ws.read("n.txt") == b"V2\n"
    assert "up to date" in ws.artver("repro").stderr
    ws.artver("freeze", "count")
    bump(src, "v3\n")
    ws.artver("repro")
    assert ws.read("raw.csv") == b"v2\n"  # a frozen stage's deps are left as they are
    ws.artver("unfreeze", "count")
    src.unlink()
    res = ws.artver("repro")
    assert "warning: cannot check raw.csv against its source" in res.stderr
