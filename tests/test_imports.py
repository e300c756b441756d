"""Data from another artver repository: `ls URL`, `get`, `import`, `update` and the `status`
check, against a "registry" repository with a local-directory remote (no network)."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import GIT_ENV, Workspace, git, run_artver, xxh

V1 = {"a.csv": "a,1\n", "b.csv": "b,1\n", "sub/c.csv": "c,1\n"}
V2 = {**V1, "a.csv": "a,2\n", "d.csv": "d,2\n"}


def _env(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GIT_", "ARTVER_"))}
    return {**env, **GIT_ENV, "HOME": str(home)}


@pytest.fixture(scope="module")
def template(tmp_path_factory) -> Path:
    """registry/ (tags v1, v2; data/, model.bin, a stage output, README.md kept in Git) and
    store/, its default remote (`../store`), holding every version. Built once; each test
    gets a copy."""
    base = tmp_path_factory.mktemp("template")
    env = _env(tmp_path_factory.mktemp("home"))
    reg = base / "registry"
    reg.mkdir()

    def sh(*args: str, artver: bool = True) -> None:
        cmd = [sys.executable, "-m", "artver", *args] if artver else list(args)
        subprocess.run(cmd, cwd=reg, env=env, check=True, capture_output=True)

    def write(files: dict[str, str]) -> None:
        for rel, text in files.items():
            (reg / "data" / rel).parent.mkdir(parents=True, exist_ok=True)
            (reg / "data" / rel).write_text(text)

    sh("git", "init", "-q", "-b", "main", artver=False)
    sh("init")
    write(V1)
    (reg / "model.bin").write_bytes(b"model v1")
    (reg / "README.md").write_text("the registry\n")
    (reg / "gen.py").write_text("open('out.txt', 'w').write('made')\n")
    (reg / "artver.yaml").write_text(
        "stages:\n  gen:\n    cmd: python3 gen.py\n    outs: [out.txt]\n"
    )
    sh("add", "data", "model.bin")
    sh("repro")
    sh("remote", "add", "-d", "store", "../store")
    sh("push")
    sh("git", "add", "-A", artver=False)
    sh("git", "commit", "-qm", "v1", artver=False)
    sh("git", "tag", "v1", artver=False)
    write(V2)
    sh("add", "data")
    sh("push")
    sh("git", "add", "-A", artver=False)
    sh("git", "commit", "-qm", "v2", artver=False)
    sh("git", "tag", "v2", artver=False)
    return base


@pytest.fixture
def reg(template, tmp_path) -> Workspace:
    """A fresh copy of the registry (and its store, beside it)."""
    shutil.copytree(template / "registry", tmp_path / "registry", symlinks=True)
    shutil.copytree(template / "store", tmp_path / "store", symlinks=True)
    return Workspace(tmp_path / "registry")


@pytest.fixture
def bare(reg, tmp_path) -> Path:
    """A bare clone of the registry: no cache, so every byte comes from the store."""
    git("clone", "-q", "--bare", str(reg.root), str(tmp_path / "reg.git"), cwd=tmp_path)
    return tmp_path / "reg.git"


@pytest.fixture
def plain(tmp_path) -> Path:
    """A directory outside any repository."""
    path = tmp_path / "plain"
    path.mkdir()
    return path


def files(root: Path) -> dict[str, str]:
    return {
        p.relative_to(root).as_posix(): p.read_text()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def one_error(res) -> str:
    assert res.stderr.count("error:") == 1, res.stderr
    assert res.stdout == ""
    return res.stderr


# -- ls ----------------------------------------------------------------------------------------
def test_ls_lists_what_the_repository_tracks(reg, plain):
    res = run_artver("ls", "../registry", "--json", cwd=plain)
    doc = json.loads(res.stdout)
    assert doc["commit"] == reg.git("rev-parse", "HEAD").strip() and doc["rev"] == "HEAD"
    rows = {e["path"]: e for e in doc["entries"]}
    assert set(rows) == {"data", "model.bin", "out.txt"}
    assert rows["data"]["kind"] == "dir" and rows["data"]["nfiles"] == 4
    assert rows["data"]["size"] == sum(len(t) for t in V2.values())
    assert rows["model.bin"]["oid"] == xxh(b"model v1")
    assert rows["out.txt"]["pointer"] == "artver.lock"

    text = run_artver("ls", str(reg.root), "-R", cwd=plain).stdout
    for rel in V2:
        assert f"data/{rel}" in text
    doc = json.loads(run_artver("ls", "../registry", "data", "--json", cwd=plain).stdout)
    assert [(e["path"], e["kind"], e["nfiles"]) for e in doc["entries"]] == [
        ("data/a.csv", "file", 1),
        ("data/b.csv", "file", 1),
        ("data/d.csv", "file", 1),
        ("data/sub", "dir", 1),
    ]
    doc = json.loads(run_artver("ls", "../registry", "data/sub/c.csv", "--json", cwd=plain).stdout)
    assert [(e["path"], e["oid"]) for e in doc["entries"]] == [("data/sub/c.csv", xxh(b"c,1\n"))]
    doc = json.loads(
        run_artver("ls", "../registry", "data", "-R", "--rev", "v1", "--json", cwd=plain).stdout
    )
    assert sorted(e["path"] for e in doc["entries"]) == sorted(f"data/{r}" for r in V1)


def test_ls_of_the_local_repository_keeps_its_form(ws):
    ws.write("data/a.txt", "a")
    ws.artver("add", "data")
    doc = json.loads(ws.artver("ls", "--json").stdout)
    assert [a["path"] for a in doc["artifacts"]] == ["data"]
    assert json.loads(ws.artver("ls", "data", "--json").stdout)["artifacts"][0]["state"] == "ok"
    res = ws.artver("ls", "data", "-R", expect=2)
    assert "goes with a repository URL" in res.stderr


# -- get ---------------------------------------------------------------------------------------
def test_get_a_directory_a_file_a_file_inside_and_an_older_revision(reg, plain):
    res = run_artver("get", "../registry", "data", cwd=plain)
    assert files(plain / "data") == V2
    assert "4 files" in res.stderr
    run_artver("get", "../registry", "model.bin", "-o", "models/m.bin", cwd=plain)
    assert (plain / "models/m.bin").read_bytes() == b"model v1"
    run_artver("get", "../registry", "data/sub/c.csv", cwd=plain)
    assert (plain / "c.csv").read_text() == "c,1\n"
    (plain / "old").mkdir()
    run_artver("get", "../registry", "data", "--rev", "v1", "-o", "old", cwd=plain)
    assert files(plain / "old" / "data") == V1  # an existing directory receives it inside
    run_artver("get", "../registry", "data/sub", "-o", "s", "-j", "2", cwd=plain)
    assert files(plain / "s") == {"c.csv": "c,1\n"}
    run_artver("get", "../registry", "README.md", cwd=plain)  # a file Git keeps
    assert (plain / "README.md").read_text() == "the registry\n"
    assert os.access(plain / "data" / "a.csv", os.W_OK)  # plain copies, not cache links
    assert not list(plain.glob(".*")), "no temp files are left"


def test_get_from_a_bare_clone_reads_the_remote_and_file_urls_work(reg, bare, plain):
    res = run_artver("get", f"file://{bare}", "data", cwd=plain)
    assert files(plain / "data") == V2
    assert "5 objects fetched" in res.stderr  # the manifest and 4 files, from the store
    run_artver("get", str(bare), "model.bin", cwd=plain)
    assert (plain / "model.bin").read_bytes() == b"model v1"


def test_get_inside_a_repository_goes_through_its_cache(reg, ws):
    res = ws.artver("get", "../registry", "data")
    assert "5 objects fetched" in res.stderr
    assert files(ws.root / "data") == V2
    assert not (ws.root / "data.artver").exists() and not (ws.root / ".gitignore").exists()
    res = ws.artver("get", "../registry", "data", "-o", "again")
    assert "all 5 objects already in the cache" in res.stderr
    assert files(ws.root / "again") == V2


# -- import, status, update ----------------------------------------------------------------------
def test_import_records_its_source_and_update_fetches_only_what_changed(reg, ws):
    res = ws.artver("import", "../registry", "data")
    assert "git add .gitignore data.artver" in res.stderr
    assert files(ws.root / "data") == V2
    text = ws.read("data.artver").decode()
    head = reg.git("rev-parse", "HEAD").strip()
    assert text.endswith(f"source:\n  repo: ../registry\n  path: data\n  rev_lock: {head}\n")
    assert "/data" in ws.read(".gitignore").decode()
    ws.artver("import", "../registry", "model.bin", "--rev", "v1", "-o", "m.bin")
    assert "  rev: v1\n" in ws.read("m.bin.artver").decode()
    assert ws.artver("status").stdout.strip() == "Data is up to date."

    reg.write("data/b.csv", "b,3\n")
    reg.artver("add", "data")
    reg.artver("push")
    new = reg.commit("v3")
    res = ws.artver("status")
    assert res.stdout.strip() == f"data: import behind its source ({head[:7]} -> {new[:7]})"
    assert "artver update" in res.stderr
    doc = json.loads(ws.artver("status", "--json").stdout)
    behind = {a["path"]: a for a in doc["artifacts"]}["data"]["behind"]
    assert behind == {"rev_lock": head, "source": new}

    res = ws.artver("update")
    assert f"Updated data ({head[:7]} -> {new[:7]}): 2 objects fetched" in res.stderr
    assert "3 already in the cache" in res.stderr
    assert "m.bin is up to date" in res.stderr
    assert ws.read("data/b.csv") == b"b,3\n"
    assert f"rev_lock: {new}" in ws.read("data.artver").decode()
    assert ws.artver("status").stdout.strip() == "Data is up to date."

    res = ws.artver("update", "m.bin", "--rev", "main")  # the model did not change since v1
    assert "the data did not change" in res.stderr
    assert "  rev: main\n" in ws.read("m.bin.artver").decode()


def test_import_of_a_file_inside_a_tracked_directory_and_of_a_subdirectory(reg, ws):
    ws.artver("import", "../registry", "data/sub", "-o", "sub")
    ws.artver("import", "../registry", "data/a.csv", "--rev", "v1")
    assert files(ws.root / "sub") == {"c.csv": "c,1\n"}
    assert ws.read("a.csv") == b"a,1\n"
    ws.git("add", "-A")
    shutil.rmtree(ws.root / "sub")
    os.unlink(ws.root / "a.csv")
    ws.artver("checkout")  # the sub-directory's manifest is in the cache, like any other
    assert files(ws.root / "sub") == {"c.csv": "c,1\n"} and ws.read("a.csv") == b"a,1\n"


def test_status_of_a_server_source_reads_its_last_fetched_copy(reg, ws):
    """A source on a Git server is compared with the copy the last import/update fetched:
    status goes to no server. The copy is made here from a local path, under the name artver
    gives the copy of a (fictitious) ssh URL."""
    from artver.external.clones import clones_dir
    from artver.external.location import clone_name
    from artver.history import mirror

    url = "ssh://git@example.invalid/registry.git"
    copy = clones_dir(ws.root / ".artver") / clone_name(url)
    mirror(str(reg.root), copy)
    old = reg.git("rev-parse", "HEAD").strip()
    pointer = (
        f"outs:\n- path: m.bin\n  hash: xxh3-128\n  oid: {xxh(b'model v1')}\n  size: 8\n"
        f"source:\n  repo: {url}\n  path: model.bin\n  rev_lock: {old}\n"
    )
    ws.write("m.bin.artver", pointer)
    ws.write("m.bin", b"model v1")
    assert ws.artver("status").stdout.strip() == "Data is up to date."
    reg.write("model.bin", b"model v3")
    reg.artver("add", "model.bin")
    new = reg.commit("v3")
    assert ws.artver("status").stdout.strip() == "Data is up to date."  # not fetched yet
    mirror(str(reg.root), copy)
    assert ws.artver("status").stdout.strip() == (
        f"m.bin: import behind its source ({old[:7]} -> {new[:7]})"
    )


def test_copies_of_server_repositories_follow_branches_and_tags(reg, tmp_path):
    from artver.external.clones import fetched
    from artver.external.location import Location
    from artver.external.source import ExternalRepo

    url = str(reg.root)
    copy = fetched(url, tmp_path / ".artver")
    assert copy == fetched(url, tmp_path / ".artver")  # fetched again into the same copy
    with ExternalRepo(Location("git", url, url), copy, "v1") as ext:
        assert ext.sha == reg.git("rev-parse", "v1").strip()
        assert set(ext.tracked()) == {"data", "model.bin", "out.txt"}
    reg.git("tag", "-d", "v1")
    reg.write("x.txt", "x")
    head = reg.commit("more")
    fetched(url, tmp_path / ".artver")
    with ExternalRepo(Location("git", url, url), copy, None) as ext:
        assert ext.sha == head
        with pytest.raises(Exception, match="unknown Git revision 'v1'"):
            ext.resolve("v1")


# -- bad input: one message, exit 1, nothing written ---------------------------------------------
def test_a_directory_that_is_not_a_git_repository(reg, ws, plain):
    before = ws.snapshot()
    for args in (["get", str(plain), "data"], ["import", str(plain), "data"], ["ls", "nowhere/x"]):
        res = ws.artver(*args, expect=1)
        one_error(res)
    assert "is not a Git repository" in ws.artver("get", str(plain), "data", expect=1).stderr
    assert "no such repository" in ws.artver("get", "../nope", "data", expect=1).stderr
    assert ws.snapshot() == before


def test_a_git_repository_without_artver(ws, tmp_path):
    other = tmp_path / "other"
    other.mkdir()
    git("init", "-q", cwd=other)
    (other / "f.txt").write_text("f")
    git("add", "-A", cwd=other)
    git("commit", "-qm", "f", cwd=other)
    before = ws.snapshot()
    for args in (["get", "../other", "f.txt"], ["import", "../other", "f.txt"], ["ls", "../other"]):
        err = one_error(ws.artver(*args, expect=1))
        assert "is not an artver repository: it has no .artver/config.yaml" in err
    assert ws.snapshot() == before


def test_a_path_the_source_does_not_track_names_some_it_does(reg, ws):
    before = ws.snapshot()
    for cmd in ("get", "import"):
        err = one_error(ws.artver(cmd, "../registry", "data/zzz.csv", expect=1))
        assert "data/zzz.csv: is not in the tracked directory data" in err
        err = one_error(ws.artver(cmd, "../registry", "nothing", expect=1))
        assert "nothing: not tracked by artver in ../registry at HEAD" in err
        assert "it tracks data, model.bin, out.txt" in err
    err = one_error(ws.artver("import", "../registry", "README.md", expect=1))
    assert "kept in Git" in err and "artver get" in err
    err = one_error(ws.artver("ls", "../registry", "nothing", expect=1))
    assert "it tracks data, model.bin, out.txt" in err
    err = one_error(ws.artver("get", "../registry", "../etc/passwd", expect=1))
    assert "give a path inside the source repository" in err
    assert ws.snapshot() == before


def test_a_revision_that_does_not_exist(reg, ws):
    before = ws.snapshot()
    for args in (
        ["get", "../registry", "data"],
        ["import", "../registry", "data"],
        ["ls", "../registry"],
    ):
        err = one_error(ws.artver(*args, "--rev", "v9", expect=1))
        assert "../registry: unknown Git revision 'v9'" in err
    assert ws.snapshot() == before


def test_a_remote_that_lacks_the_data_or_cannot_be_reached(reg, bare, ws, tmp_path):
    store = tmp_path / "store"
    a2 = xxh(b"a,2\n")
    os.chmod(store / a2[:2], 0o755)
    os.unlink(store / a2[:2] / a2[2:])
    before = ws.snapshot()
    err = one_error(ws.artver("get", str(bare), "data", expect=1))
    assert re.search(r"remote 'store' \(\.\./store\) of .* lacks 1 object of data", err), err
    assert "artver push" in err
    err = one_error(ws.artver("import", str(bare), "data", expect=1))
    assert "lacks 1 object of data" in err
    assert ws.snapshot() == before and not (ws.root / "data").exists()
    plain = tmp_path / "plain"
    plain.mkdir()
    err = one_error(run_artver("get", str(bare), "data", "-o", "new/deep/x", cwd=plain, expect=1))
    assert "lacks 1 object of data" in err
    assert list(plain.iterdir()) == [], "the directories it made and its scratch cache are gone"
    shutil.move(store, tmp_path / "elsewhere")
    err = one_error(ws.artver("get", str(bare), "model.bin", expect=1))
    assert "cannot be reached: there is no directory" in err and str(store) in err
    assert ws.snapshot() == before


def test_the_local_cache_of_a_work_tree_comes_first(reg, ws, tmp_path):
    shutil.rmtree(tmp_path / "store")  # the registry's own cache has everything
    ws.artver("get", "../registry", "data")
    assert files(ws.root / "data") == V2


def test_import_onto_a_path_tracked_here_or_an_existing_one(reg, ws):
    ws.write("mine/x.txt", "mine")
    ws.write("own.bin", "own")
    ws.artver("add", "mine", "own.bin")
    ws.write("taken.bin", "precious")
    before = ws.snapshot()
    err = one_error(ws.artver("import", "../registry", "model.bin", "-o", "own.bin", expect=1))
    assert "own.bin: is already tracked here (own.bin.artver exists)" in err
    err = one_error(ws.artver("import", "../registry", "data", "-o", "mine", expect=1))
    assert "mine/data: is inside mine, which is tracked here" in err  # into the directory
    err = one_error(ws.artver("import", "../registry", "model.bin", "-o", "mine/m.bin", expect=1))
    assert "is inside mine, which is tracked here" in err
    err = one_error(ws.artver("import", "../registry", "model.bin", "-o", "taken.bin", expect=1))
    assert "taken.bin: already exists; artver import never overwrites" in err
    err = one_error(ws.artver("get", "../registry", "model.bin", "-o", "taken.bin", expect=1))
    assert "artver get never overwrites" in err
    err = one_error(ws.artver("import", "../registry", "data", "-o", "../out", expect=1))
    assert "outside the repository" in err
    assert ws.snapshot() == before


def test_update_of_something_that_is_not_an_import(reg, ws):
    ws.write("mine.txt", "mine")
    ws.artver("add", "mine.txt")
    before = ws.snapshot()
    err = one_error(ws.artver("update", "mine.txt", expect=1))
    assert "mine.txt: is not an import" in err
    err = one_error(ws.artver("update", "nothing", expect=1))
    assert "not tracked by artver" in err
    assert "No imports here" in ws.artver("update").stderr
    assert ws.snapshot() == before


def test_update_of_a_url_import_calls_import_url(ws, monkeypatch):
    """`source.url` pointers are import-url's: update hands them to its `update_url`, and
    says so clearly when that module is not there."""
    import sys
    import types

    from artver.errors import ArtverError
    from artver.ops.imports import update
    from artver.repo import Repo

    ws.write("f.csv", "x")
    ws.artver("add", "f.csv")
    text = ws.read("f.csv.artver").decode() + "source:\n  url: https://example.invalid/f.csv\n"
    ws.write("f.csv.artver", text)
    calls = []
    fake = types.ModuleType("artver.ops.import_url")
    fake.update_url = lambda repo, pointer_file: calls.append(pointer_file) or True
    monkeypatch.setitem(sys.modules, "artver.ops.import_url", fake)
    repo = Repo.find(ws.root)
    try:
        [res] = update(repo, [], ws.root)
        assert res.state == "url-updated" and calls == [ws.root / "f.csv.artver"]
        with pytest.raises(ArtverError, match="--rev goes with imports from repositories"):
            update(repo, ["f.csv"], ws.root, rev="v1")
        monkeypatch.setitem(sys.modules, "artver.ops.import_url", None)  # not installed
        with pytest.raises(ArtverError, match="updating such imports is not available"):
            update(repo, ["f.csv"], ws.root)
    finally:
        repo.close()


# -- the pure decisions ---------------------------------------------------------------------------
def test_locate_names_artifacts_paths_inside_them_and_directories_holding_them():
    from artver.external.decide import locate
    from artver.ops.revisions import Tracked

    tracked = {
        "data": Tracked("data", "0" * 32 + ".dir", 10, 2),
        "models/m.bin": Tracked("models/m.bin", "1" * 32, 3, None),
    }
    assert locate(tracked, "data").kind == "artifact"
    found = locate(tracked, "data/sub/x.csv")
    assert (found.kind, found.item.path, found.inside) == ("inside", "data", "sub/x.csv")
    assert [t.path for t in locate(tracked, "models").below] == ["models/m.bin"]
    assert locate(tracked, "models/m.bin/x") is None  # below a tracked file: nothing
    assert locate(tracked, "other") is None


def test_pick_children_and_suggestions():
    from artver.cache.tree import FileEntry
    from artver.external.decide import children, pick, suggestions

    entries = [FileEntry("a.csv", "a", 1), FileEntry("sub/b.csv", "b", 2),
               FileEntry("sub/deep/c.csv", "c", 3)]  # fmt: skip
    assert pick(entries, "a.csv") == ("file", [entries[0]])
    kind, below = pick(entries, "sub")
    assert kind == "dir" and [e.path for e in below] == ["b.csv", "deep/c.csv"]
    assert pick(entries, "su") is None
    assert children(entries) == [("a.csv", "file", 1, 1), ("sub", "dir", 5, 2)]
    assert suggestions(["x", "data/a", "b", "data/b"], "data/zz", 2) == (["data/a", "data/b"], 2)


def test_output_path_follows_dvc_get():
    from artver.external.decide import output_path

    cwd = Path("/w")
    assert output_path("data/raw", None, cwd, lambda p: False) == Path("/w/raw")
    assert output_path("data/raw", "x", cwd, lambda p: False) == Path("/w/x")
    assert output_path("data/raw", "dir", cwd, lambda p: True) == Path("/w/dir/raw")


def test_read_source_and_update_plan():
    from artver.external.decide import (
        ImportSource,
        read_source,
        source_mapping,
        update_plan,
    )

    sha = "a" * 40
    mapping = source_mapping("../reg", "data", None, sha)
    assert mapping == {"repo": "../reg", "path": "data", "rev_lock": sha}
    assert read_source({"source": mapping}) == ImportSource("../reg", "data", None, sha)
    assert read_source({"source": {"url": "s3://b/k"}}) == "url"
    assert read_source({"desc": "x"}) is None
    for bad in ({"repo": ""}, {"repo": "r", "path": "p", "rev_lock": "abc"}, "text"):
        with pytest.raises(ValueError):
            read_source({"source": bad})
    assert update_plan("x", "x", sha, sha) == "current"
    assert update_plan("x", "x", sha, "b" * 40) == "relock"
    assert update_plan("x", "y", sha, "b" * 40) == "transfer"


def test_locations_local_paths_file_urls_and_servers():
    from artver.external.location import clone_name, from_stored, is_url, parse, stored_form

    cwd = Path("/work/here")
    assert parse("../reg", cwd) == ("local", "/work/reg", "../reg")
    assert parse("file:///srv/reg%20x", cwd).path == "/srv/reg x"
    for url in ("https://h/r.git", "ssh://h/r", "git@github.com:o/r.git"):
        assert parse(url, cwd).kind == "git" and is_url(url)
    assert not is_url("data/x") and not is_url("C:data")
    loc = parse("../reg", cwd)
    assert stored_form(loc, Path("/work/here/sub")) == "../../reg"
    assert from_stored("../../reg", Path("/work/here/sub")).path == "/work/reg"
    assert stored_form(parse("/abs/reg", cwd), cwd) == "/abs/reg"
    assert clone_name("https://h/o/reg.git").startswith("reg-")
    assert clone_name("https://h/o/reg.git") != clone_name("https://h/p/reg.git")
