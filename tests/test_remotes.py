"""Remotes end to end: the real CLI pushes to and pulls from a local directory, moto's S3 server
and the GCS emulator on loopback, and a fresh clone with an empty cache gets identical bytes.

`TestRemoteContract` runs against each of the three kinds of storage.
"""

from __future__ import annotations

import os
import re
import shutil

import pytest

from tests.conftest import Workspace, git, xxh
from tests.remotes_fixtures import OBJECT_KEY, Backend

DATASET = {
    "data/top.csv": b"a,b\n1,2\n",
    "data/nested/deeper/still/leaf.bin": bytes(range(256)) * 40,
    "data/empty.txt": b"",
    "data/with space/na\u00efve \u00fcnicode \u2603.txt": "caf\u00e9 \u2603\n".encode(),
    "data/big.bin": os.urandom(3 * 1024 * 1024 + 17),  # above the small-file path
}


def make_dataset(ws: Workspace, big: bool = False) -> None:
    for rel, data in DATASET.items():
        if big or rel != "data/big.bin":
            ws.write(rel, data)
    ws.write("model.pkl", b"weights" * 1000)
    (ws.root / "empty_dir").mkdir()
    ws.artver("add", "data", "model.pkl", "empty_dir")
    ws.git("add", "-A")
    ws.git("commit", "-q", "-m", "data v1")


def clone(ws: Workspace, tmp_path, name: str = "clone") -> Workspace:
    dest = tmp_path / name
    git("clone", "-q", str(ws.root), str(dest), cwd=tmp_path)
    return Workspace(dest)


def object_keys(backend: Backend) -> list[str]:
    return [k for k in backend.listing() if OBJECT_KEY.match(k)]


def pushed_count(output: str) -> int:
    match = re.search(r"(?:Pushed|Fetched) (\d+) objects?", output)
    return int(match.group(1)) if match else 0


class TestRemoteContract:
    def test_push_then_pull_into_an_empty_clone_gives_identical_bytes(self, ws, backend, tmp_path):
        make_dataset(ws, big=True)
        backend.add_to(ws)
        ws.git("add", "-A")
        ws.git("commit", "-q", "-m", "remote")
        res = ws.artver("push")
        # 5 files + 1 manifest for data, model.pkl, an empty manifest for empty_dir
        assert pushed_count(res.stderr) == 8, res.output
        keys = backend.listing()
        assert keys and all(OBJECT_KEY.match(k) for k in keys), keys  # no temp leftovers

        other = clone(ws, tmp_path)
        assert not (other.root / ".artver" / "cache").exists()
        other.artver("pull")
        assert other.files("data") == {k.removeprefix("data/"): v for k, v in DATASET.items()}
        assert other.read("model.pkl") == ws.read("model.pkl")
        assert (other.root / "empty_dir").is_dir()
        assert list((other.root / "empty_dir").iterdir()) == []
        assert other.artver("status").stdout.strip() == "Data is up to date."

    def test_a_second_push_sends_nothing_and_a_change_sends_only_itself(self, ws, backend):
        make_dataset(ws)
        backend.add_to(ws)
        ws.artver("push")
        before = set(object_keys(backend))
        res = ws.artver("push")
        assert "up to date" in res.stderr
        ws.write("data/nested/new.txt", "new file")
        ws.artver("add", "data")
        res = ws.artver("push")
        assert pushed_count(res.stderr) == 2, res.output  # the new file and the new manifest
        after = set(object_keys(backend))
        assert after - before == {
            f"{xxh(b'new file')[:2]}/{xxh(b'new file')[2:]}",
            *(k for k in after - before if k.endswith(".dir")),
        }

    def test_push_replaces_a_truncated_object(self, ws, backend, tmp_path):
        make_dataset(ws)
        backend.add_to(ws)
        ws.git("add", "-A")
        ws.git("commit", "-q", "-m", "remote")
        data = DATASET["data/nested/deeper/still/leaf.bin"]
        oid = xxh(data)
        # What an upload cut mid-way leaves on a store that does not write atomically.
        backend.put(f"{oid[:2]}/{oid[2:]}", data[:1000])
        ws.artver("push")
        other = clone(ws, tmp_path)
        other.artver("pull")
        assert other.read("data/nested/deeper/still/leaf.bin") == data

    def test_gc_cloud_deletes_only_what_nothing_references(self, ws, backend, tmp_path):
        ws.write("data/keep.txt", "kept in every version")
        ws.write("data/v.txt", "version one")
        ws.artver("add", "data")
        backend.add_to(ws)
        ws.git("add", "-A")
        ws.git("commit", "-q", "-m", "v1")
        ws.write("data/v.txt", "version two")
        ws.artver("add", "data")
        ws.git("commit", "-q", "-am", "v2")
        ws.artver("push", "--all-commits")
        v1, v2 = xxh(b"version one"), xxh(b"version two")
        ws.artver("gc", "-w", "--cloud", "-f")
        left = {k.replace("/", "") for k in object_keys(backend)}
        assert v2 in left and xxh(b"kept in every version") in left and v1 not in left
        assert len([k for k in left if k.endswith(".dir")]) == 1
        # The remote still serves the workspace in full to a fresh clone.
        other = clone(ws, tmp_path)
        other.artver("pull")
        assert other.read("data/v.txt") == b"version two"
        # What gc deleted there is no longer taken as pushed: a push asks about it again
        # (and finds that this cache no longer has it either).
        res = ws.artver("push", "--all-commits", expect=1)
        assert "not complete in the local cache" in res.stderr and "data @" in res.stderr

    def test_push_resumes_what_is_missing_and_uploads_the_manifest_last(self, ws, backend):
        make_dataset(ws)
        backend.add_to(ws)
        ws.artver("push")
        # As if a push had stopped after a few files: a file and the manifest are not there.
        manifest = next(k for k in object_keys(backend) if k.endswith(".dir"))
        leaf = xxh(DATASET["data/top.csv"])
        backend.delete(manifest)
        backend.delete(f"{leaf[:2]}/{leaf[2:]}")
        # This clone remembers pushing them, and does not ask again unless told to.
        assert "up to date" in ws.artver("push", "data").stderr
        res = ws.artver("push", "data", "--recheck")
        assert pushed_count(res.stderr) == 2, res.output
        assert manifest in object_keys(backend)

    def test_recheck_finds_a_file_deleted_under_a_manifest_that_is_still_there(
        self, ws, backend, tmp_path
    ):
        make_dataset(ws)
        backend.add_to(ws)
        ws.commit("data")
        ws.artver("push")
        leaf = xxh(DATASET["data/nested/deeper/still/leaf.bin"])
        backend.delete(f"{leaf[:2]}/{leaf[2:]}")
        res = ws.artver("push", "--recheck")
        assert pushed_count(res.stderr) == 1, res.output  # the file; its manifest is there
        other = clone(ws, tmp_path)
        other.artver("pull")
        assert (
            other.read("data/nested/deeper/still/leaf.bin")
            == DATASET["data/nested/deeper/still/leaf.bin"]
        )

    def test_fetch_refuses_a_corrupt_object_and_keeps_it_out(self, ws, backend, tmp_path):
        make_dataset(ws)
        backend.add_to(ws)
        ws.git("add", "-A")
        ws.git("commit", "-q", "-m", "remote")
        ws.artver("push")
        oid = xxh(ws.read("model.pkl"))
        backend.put(f"{oid[:2]}/{oid[2:]}", b"tampered bytes")
        other = clone(ws, tmp_path)
        res = other.artver("pull", "model.pkl", expect=1)
        assert oid in res.stderr and "corrupt" in res.stderr
        assert backend.url() in res.stderr or "origin" in res.stderr
        assert not other.cache_object(oid).exists()
        assert not (other.root / "model.pkl").exists()
        tmp = other.root / ".artver" / "cache" / "tmp"
        assert not tmp.exists() or list(tmp.iterdir()) == []

    def test_pull_names_the_artifact_a_remote_lacks(self, ws, backend, tmp_path):
        make_dataset(ws)
        backend.add_to(ws)
        ws.git("add", "-A")
        ws.git("commit", "-q", "-m", "remote")
        ws.artver("push")
        leaf = xxh(DATASET["data/nested/deeper/still/leaf.bin"])
        backend.delete(f"{leaf[:2]}/{leaf[2:]}")
        other = clone(ws, tmp_path)
        res = other.artver("pull", expect=1)
        assert res.stderr.startswith("error: ")
        assert "data" in res.stderr and leaf in res.stderr and "artver push" in res.stderr
        assert "Traceback" not in res.stderr


# -- selecting what to transfer by Git revision ----------------------------------------------
def test_rev_and_all_commits_select_objects_of_other_commits(ws, tmp_path, remote_env):
    remote = tmp_path / "store"
    ws.artver("remote", "add", "-d", "origin", str(remote))
    ws.write("data/a.txt", "version one")
    ws.artver("add", "data")
    ws.git("add", "-A")
    ws.git("commit", "-q", "-m", "v1")
    ws.git("tag", "v1")
    ws.write("data/a.txt", "version two")
    ws.artver("add", "data")
    ws.git("add", "-A")
    ws.git("commit", "-q", "-m", "v2")
    one, two = xxh(b"version one"), xxh(b"version two")

    ws.artver("push", "--rev", "v1")
    on_remote = {p.parent.name + p.name for p in remote.rglob("*") if p.is_file()}
    assert one in on_remote and two not in on_remote
    ws.artver("push")
    other = clone(ws, tmp_path)
    other.artver("fetch", "--all-commits")
    assert other.cache_object(one).exists() and other.cache_object(two).exists()
    third = clone(ws, tmp_path, "third")
    third.artver("pull", "--rev", "v1")  # what v1 needs, checked out; HEAD stays at v2
    assert third.read("data/a.txt") == b"version one"
    assert third.cache_object(one).exists() and not third.cache_object(two).exists()
    other.git("checkout", "-q", "v1")
    shutil.rmtree(remote)  # everything v1 needs is in the cache already
    other.artver("checkout")
    assert other.read("data/a.txt") == b"version one"


def test_all_branches_pushes_every_branch_tip(ws, tmp_path, remote_env):
    remote = tmp_path / "store"
    ws.artver("remote", "add", "-d", "origin", str(remote))
    ws.write("f.txt", "on main")
    ws.artver("add", "f.txt")
    ws.git("add", "-A")
    ws.git("commit", "-q", "-m", "main")
    ws.git("checkout", "-q", "-b", "feature")
    ws.write("f.txt", "on feature")
    ws.artver("add", "f.txt")
    ws.git("add", "-A")
    ws.git("commit", "-q", "-m", "feature")
    ws.git("checkout", "-q", "main")
    ws.artver("checkout")
    ws.artver("push", "--all-branches")
    on_remote = {p.parent.name + p.name for p in remote.rglob("*") if p.is_file()}
    assert {xxh(b"on main"), xxh(b"on feature")} <= on_remote


def test_pull_with_targets_fetches_only_those(ws, tmp_path, remote_env):
    remote = tmp_path / "store"
    ws.artver("remote", "add", "-d", "origin", str(remote))
    ws.write("a.txt", "aaa")
    ws.write("b.txt", "bbb")
    ws.artver("add", "a.txt", "b.txt")
    ws.git("add", "-A")
    ws.git("commit", "-q", "-m", "two")
    ws.artver("push")
    other = clone(ws, tmp_path)
    other.artver("pull", "a.txt")
    assert other.read("a.txt") == b"aaa"
    assert not (other.root / "b.txt").exists()
    assert not other.cache_object(xxh(b"bbb")).exists()


@pytest.mark.parametrize("kind", ["s3", "gcs"])
def test_remote_list_shows_the_default_and_options(ws, kind, request):
    backend = request.getfixturevalue(f"{kind}_backend")
    backend.add_to(ws)
    res = ws.artver("remote", "list")
    assert f"origin\t{backend.url()} (default)" in res.stdout
    assert f"endpointurl={backend.endpoint}" in res.stdout


def test_stage_outputs_travel_with_push_and_pull(ws, tmp_path):
    """Outputs a pipeline cached (recorded in artver.lock, not in pointers) reach a clone."""
    import shlex
    import sys

    py = shlex.quote(sys.executable)
    ws.write(
        "artver.yaml",
        "stages:\n  train:\n"
        f"    cmd: {py} -c \"open('model.pkl', 'w').write('weights')\"\n"
        "    outs: [model.pkl]\n",
    )
    ws.artver("repro")
    ws.artver("remote", "add", "-d", "store", str(tmp_path / "store"))
    ws.git("add", "-A")
    ws.git("commit", "-qm", "pipeline")
    ws.artver("push")
    clone = tmp_path / "clone"
    ws.git("clone", "-q", str(ws.root), str(clone))
    from tests.conftest import Workspace

    other = Workspace(clone)
    other.artver("pull")
    assert other.read("model.pkl") == b"weights"
    assert "up to date" in other.artver("status").stdout
    ws.write("model.pkl", "v2 weights")
    ws.artver("commit", "train")
    ws.git("commit", "-qam", "v2")
    ws.artver("push", "--all-commits")
    (clone / "model.pkl").unlink()
    import shutil

    shutil.rmtree(clone / ".artver" / "cache")
    other.git("pull", "-q")
    first = other.git("rev-parse", "HEAD~1").strip()  # HEAD~N names come with issue 5
    other.artver("fetch", "--rev", first)
    other.git("checkout", "-q", first)
    other.artver("checkout")
    assert other.read("model.pkl") == b"weights"


def test_run_cache_entries_travel_with_push_and_fetch(ws, tmp_path):
    import shlex
    import sys

    py = shlex.quote(sys.executable)
    ws.write("params.yaml", "n: 1\n")
    ws.write(
        "artver.yaml",
        "stages:\n  train:\n"
        f"    cmd: {py} -c \"import pathlib; p = pathlib.Path('params.yaml').read_text();"
        " pathlib.Path('model.pkl').write_text(p); open('ran.log', 'a').write('x')\"\n"
        "    params: [n]\n    outs: [model.pkl]\n",
    )
    ws.artver("repro")  # the run with n: 1
    ws.write("params.yaml", "n: 2\n")
    ws.artver("repro")
    ws.artver("remote", "add", "-d", "store", str(tmp_path / "store"))
    ws.write(".gitignore", (ws.root / ".gitignore").read_text() + "/ran.log\n")
    ws.git("add", "-A")
    ws.git("commit", "-qm", "n=2")
    ws.artver("push", "--run-cache")
    clone = tmp_path / "clone"
    ws.git("clone", "-q", str(ws.root), str(clone))
    from tests.conftest import Workspace

    other = Workspace(clone)
    other.artver("fetch")
    other.write("params.yaml", "n: 1\n")
    other.artver("fetch", "--run-cache")
    res = other.artver("repro")
    assert "Restored stage train from the run cache" in res.stderr
    assert other.read("model.pkl") == b"n: 1\n"
    assert not (clone / "ran.log").exists(), "the command did not run in the clone"


def test_push_needs_no_local_copy_of_what_the_remote_has(ws, tmp_path, remote_env):
    """A clone that never pulled some data can still push: objects missing from the cache are
    fine when the remote has them, and a new directory version goes up with its manifest."""
    store = tmp_path / "store"
    ws.artver("remote", "add", "-d", "origin", str(store))
    ws.write("data/a.txt", "aaa")
    ws.write("single.bin", "single")
    ws.artver("add", "data", "single.bin")
    ws.artver("push")
    ws.write("data/c.txt", "ccc")
    ws.artver("add", "data")
    for content in (b"aaa", b"single"):
        obj = ws.cache_object(xxh(content))
        obj.chmod(0o644)
        obj.unlink()
    res = ws.artver("push")
    assert pushed_count(res.stderr) == 2  # c.txt and the new manifest
    ws.git("add", "-A")
    ws.git("commit", "-q", "-m", "data")
    other = clone(ws, tmp_path)
    other.artver("pull")
    assert other.files("data") == {"a.txt": b"aaa", "c.txt": b"ccc"}
    assert other.read("single.bin") == b"single"
    obj = ws.cache_object(xxh(b"single"))
    shutil.rmtree(store)  # now the remote lacks it too: that is an error, as before
    res = ws.artver("push", "--recheck", expect=1)
    assert "single.bin" in res.stderr and "not complete in the local cache" in res.stderr
    assert not obj.exists()


def test_pull_of_a_large_directory_verifies_every_object_and_names_what_is_wrong(ws, tmp_path):
    # 1,200 objects from a directory remote are copied by several processes (forked_map);
    # what they cannot copy is retried, classified and reported as for a small pull.
    files = {f"data/d{i % 12}/f{i}.bin": os.urandom(64 + i % 512) for i in range(1_200)}
    for rel, data in files.items():
        ws.write(rel, data)
    store = tmp_path / "store"
    ws.artver("remote", "add", "-d", "origin", str(store))
    ws.artver("add", "data")
    ws.commit("data")
    ws.artver("push")

    oids = sorted(xxh(data) for data in files.values())  # the order objects are fetched in
    corrupt, gone = oids[0], oids[-1]  # one in this process's share, one in a child's
    corrupt_path = store / corrupt[:2] / corrupt[2:]
    original = corrupt_path.read_bytes()
    corrupt_path.chmod(0o644)
    corrupt_path.write_bytes(b"x" * len(original))
    (store / gone[:2] / gone[2:]).unlink()

    other = clone(ws, tmp_path)
    res = other.artver("pull", expect=1)
    assert "corrupt" in res.stderr and corrupt in res.stderr
    assert not other.cache_object(corrupt).exists()
    cached = list((other.root / ".artver" / "cache").glob("??/*"))
    assert len(cached) == 1_200 + 1 - 2  # every other object and the manifest
    tmp = other.root / ".artver" / "cache" / "tmp"
    assert not tmp.exists() or list(tmp.iterdir()) == []

    corrupt_path.write_bytes(original)
    res = other.artver("pull", expect=1)
    assert gone in res.stderr and "artver push" in res.stderr

    # push trusts a manifest on the remote to mean all its files are there (docs/remotes.md),
    # so the lost object is put back by hand, as someone with a copy would
    shutil.copyfile(ws.cache_object(gone), store / gone[:2] / gone[2:])
    other.artver("pull")
    assert other.files("data") == {rel.removeprefix("data/"): data for rel, data in files.items()}
    assert other.artver("status").stdout.strip() == "Data is up to date."


# -- what push remembers ---------------------------------------------------------------------------
def test_a_push_with_nothing_new_does_not_contact_the_remote(ws, tmp_path, remote_env):
    """As `git push` of commits the remote-tracking branch holds: no request at all. So a
    pre-push hook costs nothing when the data went up before, even with the server down."""
    from moto.server import ThreadedMotoServer

    from tests.remotes_fixtures import S3Backend, free_port, unique_bucket, wait_for_port

    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        wait_for_port(port)
        backend = S3Backend(f"http://127.0.0.1:{port}", unique_bucket())
        backend.create_bucket()
        make_dataset(ws)
        backend.add_to(ws)
        ws.artver("push")
    finally:
        server.stop()
    res = ws.artver("push")
    assert "Everything is up to date" in res.stderr
    res = ws.artver("push", "--recheck", expect=1)
    assert res.stderr.startswith("error: cannot reach remote"), res.stderr
    ws.write("new.txt", "new")
    ws.artver("add", "new.txt")
    assert "cannot reach remote" in ws.artver("push", expect=1).stderr  # new data: asks


def test_a_push_with_nothing_new_says_so_in_every_form(ws, tmp_path, remote_env):
    """The plainest no-op pushes (what the pre-push hook runs) say the remote is up to date,
    and a remote that was never pushed to gets everything."""
    ws.artver("remote", "add", "-d", "origin", str(tmp_path / "store"))
    ws.artver("remote", "add", "spare", str(tmp_path / "spare"))
    make_dataset(ws)
    ws.artver("push")
    up_to_date = f"Everything is up to date on 'origin' ({tmp_path / 'store'}).\n"
    for args in (["push"], ["push", "-r", "origin"], ["push", "--remote=origin"]):
        res = ws.artver(*args)
        assert (res.stdout, res.stderr) == ("", up_to_date), args
    for args in (["push", "-q"], ["-q", "push"], ["--quiet", "push", "--remote", "origin"]):
        assert ws.artver(*args).output == "", args

    # Not remembered on that remote: the CLI pushes it all.
    res = ws.artver("push", "-r", "spare")
    assert pushed_count(res.stderr) == len(DATASET) - 1 + 3
    assert sorted(p.name for p in (tmp_path / "spare").rglob("*") if p.is_file()) == sorted(
        p.name for p in (tmp_path / "store").rglob("*") if p.is_file()
    )
    res = ws.artver("push", "-r", "nope", expect=1)
    assert res.stderr.startswith("error: unknown remote 'nope'"), res.stderr
    res = ws.artver("push", "-j", "0", expect=1)
    assert res.stderr == "error: -j must be at least 1\n"
    res = ws.artver("push", cwd=tmp_path, expect=1)
    assert res.stderr.startswith("error: "), res.stderr


def test_a_clone_that_pulled_knows_the_remote_has_the_data(ws, tmp_path, remote_env):
    store = tmp_path / "store"
    ws.artver("remote", "add", "-d", "origin", str(store))
    make_dataset(ws)
    ws.artver("push")
    other = clone(ws, tmp_path)
    other.artver("pull")
    store.rename(tmp_path / "moved")  # anything that looked at the remote would notice
    assert "Everything is up to date" in other.artver("push").stderr
    assert not store.exists()
    res = other.artver("push", "--recheck")
    assert pushed_count(res.stderr) == len(DATASET) - 1 + 3  # no big.bin; 2 manifests, model
    assert sorted(p.name for p in store.rglob("*") if p.is_file()) == sorted(
        p.name for p in (tmp_path / "moved").rglob("*") if p.is_file()
    )


def test_what_a_version_6_state_db_remembered_pushing_is_kept(ws, tmp_path, remote_env):
    import sqlite3

    from artver.state import SCHEMA_VERSION

    store = tmp_path / "store"
    ws.artver("remote", "add", "-d", "origin", str(store))
    ws.write("data/a.txt", "a")
    ws.artver("add", "data")
    ws.artver("push")
    with sqlite3.connect(ws.root / ".artver" / "state.db") as conn:
        conn.execute("CREATE TABLE remote_dirs (remote TEXT, oid TEXT, PRIMARY KEY (remote, oid))")
        conn.execute("INSERT INTO remote_dirs SELECT remote, oid FROM on_remote")
        conn.execute("DROP TABLE on_remote")
        conn.execute("PRAGMA user_version = 6")
    shutil.rmtree(store)
    assert "Everything is up to date" in ws.artver("push").stderr
    with sqlite3.connect(ws.root / ".artver" / "state.db") as conn:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
        tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master")}
        assert "remote_dirs" not in tables and "on_remote" in tables


def test_a_bad_job_count_is_refused_even_with_nothing_to_send(ws, tmp_path, remote_env):
    ws.artver("remote", "add", "-d", "origin", str(tmp_path / "store"))
    ws.write("a.txt", "a")
    ws.artver("add", "a.txt")
    ws.artver("push")
    res = ws.artver("push", "-j", "0", expect=1)
    assert res.stderr.startswith("error: -j must be at least 1"), res.stderr
