"""`artver root`, `artver cache dir` and `artver destroy`, driven through the real CLI."""

from __future__ import annotations

import os

import pytest

from tests.conftest import Workspace, run_artver, xxh
from tests.test_bad_input import assert_error


# -- root ------------------------------------------------------------------------------------------
def test_root_is_relative_to_the_current_directory(ws):
    assert ws.artver("root").stdout == ".\n"
    (ws.root / "a/b").mkdir(parents=True)
    assert ws.artver("root", cwd=ws.root / "a/b").stdout == "../..\n"
    assert ws.artver("-C", "a", "root").stdout == "..\n"


def test_root_outside_a_repository(gitrepo, tmp_path):
    assert_error(gitrepo.artver("root", expect=None), "not an artver repository")
    outside = tmp_path / "plain"
    outside.mkdir()
    assert_error(run_artver("root", cwd=outside, expect=None), "not inside a Git repository")


# -- cache dir -------------------------------------------------------------------------------------
def config_text(ws: Workspace, name: str = "config.yaml") -> str:
    path = ws.root / ".artver" / name
    return path.read_text() if path.exists() else ""


def test_cache_dir_prints_the_default(ws):
    assert ws.artver("cache", "dir").stdout == f"{ws.root / '.artver' / 'cache'}\n"


def test_cache_dir_stores_a_relative_path_from_the_repository_root(ws):
    (ws.root / "sub").mkdir()
    res = ws.artver("cache", "dir", "../../shared-cache", cwd=ws.root / "sub")
    assert "dir: ../shared-cache" in config_text(ws)
    expected = (ws.root / ".." / "shared-cache").resolve()
    assert ws.artver("cache", "dir").stdout == f"{expected}\n"
    assert ws.artver("cache", "dir", cwd=ws.root / "sub").stdout == f"{expected}\n"
    assert "Set cache.dir to ../shared-cache in the repo config" in res.stderr
    ws.write("f.txt", "x")
    ws.artver("add", "f.txt")  # the cache is used where it says
    assert (expected / xxh(b"x")[:2] / xxh(b"x")[2:]).is_file()
    ws.artver("cache", "dir", "--unset")
    assert "dir:" not in config_text(ws)
    assert ws.artver("cache", "dir").stdout == f"{ws.root / '.artver' / 'cache'}\n"


def test_cache_dir_says_the_old_objects_stay(ws):
    ws.write("f.txt", "x")
    ws.artver("add", "f.txt")
    res = ws.artver("cache", "dir", "/tmp/elsewhere-cache-for-artver-test")
    assert "dir: /tmp/elsewhere-cache-for-artver-test" in config_text(ws)
    assert "were not moved" in res.stderr


def test_cache_dir_levels(ws, tmp_path, monkeypatch):
    global_file = tmp_path / "global.yaml"
    monkeypatch.setenv("ARTVER_GLOBAL_CONFIG", str(global_file))
    ws.artver("cache", "dir", "--local", "local-cache")
    assert "dir: local-cache" in config_text(ws, "config.local.yaml")
    assert "dir:" not in config_text(ws)
    assert ws.artver("cache", "dir", "--local").stdout == f"{ws.root / 'local-cache'}\n"
    ws.artver("cache", "dir", "--global", "g-cache")  # relative: stored absolute
    assert f"dir: {ws.root / 'g-cache'}" in global_file.read_text()
    assert ws.artver("cache", "dir").stdout == f"{ws.root / 'local-cache'}\n"  # local wins
    ws.artver("cache", "dir", "--local", "-u")
    assert ws.artver("cache", "dir").stdout == f"{ws.root / 'g-cache'}\n"
    res = ws.artver("cache", "dir", "--local", expect=None)
    assert_error(res, "cache.dir is not set in the local config")


def test_cache_dir_global_outside_a_repository(tmp_path, monkeypatch):
    global_file = tmp_path / "global.yaml"
    monkeypatch.setenv("ARTVER_GLOBAL_CONFIG", str(global_file))
    plain = tmp_path / "plain"
    plain.mkdir()
    run_artver("cache", "dir", "--global", "caches/artver", cwd=plain)
    assert f"dir: {plain / 'caches/artver'}" in global_file.read_text()
    res = run_artver("cache", "dir", "--global", cwd=plain)
    assert res.stdout == f"{plain / 'caches/artver'}\n"
    assert_error(run_artver("cache", "dir", cwd=plain, expect=None), "not inside a Git repository")


def test_cache_dir_usage_errors(ws):
    res = ws.artver("cache", "dir", "--global", "--local", expect=2)
    assert "only one of --global and --local" in res.stderr
    res = ws.artver("cache", "dir", "--unset", "x", expect=2)
    assert "--unset takes no PATH" in res.stderr
    assert_error(ws.artver("cache", "dir", "--unset", expect=None), "cache.dir is not set")


# -- destroy ---------------------------------------------------------------------------------------
PIPELINE = "stages:\n  s:\n    cmd: echo out > out.txt\n    outs: [out.txt]\n"


@pytest.fixture
def project(ws: Workspace) -> Workspace:
    ws.artver("config", "cache.type", "hardlink,copy")
    ws.write(".gitignore", "*.log\n")
    ws.write("data/a.txt", "alpha\n")
    ws.write("data/sub/b.txt", "beta\n")
    ws.write("model.bin", "weights")
    ws.write("models/small.bin", "small")
    ws.artver("add", "data", "model.bin", "models/small.bin")
    ws.write("artver.yaml", PIPELINE)
    ws.artver("repro")
    ws.artver("checkout", "--relink")
    ws.artver("install")
    return ws


WORKSPACE_DATA = {
    "data/a.txt": b"alpha\n",
    "data/sub/b.txt": b"beta\n",
    "model.bin": b"weights",
    "models/small.bin": b"small",
    "out.txt": b"out\n",
}


def test_destroy_leaves_the_data_as_plain_files(project):
    assert os.stat(project.root / "model.bin").st_nlink > 1
    res = project.artver("destroy", "-f")
    assert not (project.root / ".artver").exists()
    for name in ("data.artver", "model.bin.artver", "models/small.bin.artver"):
        assert not (project.root / name).exists()
    assert (
        not (project.root / "artver.yaml").exists() and not (project.root / "artver.lock").exists()
    )
    assert (project.root / ".gitignore").read_text() == "*.log\n"
    assert not (project.root / "models/.gitignore").exists()
    for rel, data in WORKSPACE_DATA.items():
        path = project.root / rel
        assert path.read_bytes() == data, rel
        st = os.lstat(path)
        assert st.st_nlink == 1 and not path.is_symlink() and st.st_mode & 0o200, rel
    hooks = project.root / ".git/hooks"
    assert not any((hooks / name).exists() for name in ("post-checkout", "pre-commit", "pre-push"))
    assert "Removed artver from this repository" in res.stderr
    assert "git add .gitignore" in res.stderr
    assert ".artver/config.yaml" in res.stderr and "git rm --cached" in res.stderr
    assert_error(project.artver("status", expect=None), "not an artver repository")


def test_destroy_asks_first_and_a_closed_stdin_refuses(project):
    before = project.snapshot()
    res = project.artver("destroy", expect=1)  # stdin closed: no answer
    assert "Destroy artver in this repository?" in res.stderr
    assert "destroy cancelled: nothing was changed" in res.stderr
    res = project.artver("destroy", input_text="n\n", expect=1)
    assert project.snapshot() == before and (project.root / ".artver/cache").is_dir()
    project.artver("destroy", input_text="y\n")
    assert not (project.root / ".artver").exists()
    assert {rel: project.read(rel) for rel in WORKSPACE_DATA} == WORKSPACE_DATA


@pytest.mark.parametrize("damage", ["missing file", "missing directory file", "modified"])
def test_destroy_refuses_when_data_exists_only_in_the_cache(project, damage):
    if damage == "missing file":
        (project.root / "model.bin").unlink()
        lost = "model.bin"
    elif damage == "missing directory file":
        (project.root / "data/sub/b.txt").unlink()
        lost = "data/sub/b.txt"
    else:
        (project.root / "out.txt").unlink()
        project.write("out.txt", "changed by hand\n")
        lost = "out.txt"
    before = project.snapshot()
    res = project.artver("destroy", "-f", expect=None)
    assert_error(res, lost, "only place that holds", "artver checkout")
    assert project.snapshot() == before
    assert project.cache_object(xxh(b"weights")).read_bytes() == b"weights"
    assert os.stat(project.root / "data/a.txt").st_nlink > 1  # not even unprotected


def test_destroy_a_modified_file_whose_old_version_is_elsewhere_too(project):
    project.write("copy-of-model.bin", "weights")  # the recorded bytes stay in tracked data
    project.artver("add", "copy-of-model.bin")
    (project.root / "model.bin").unlink()
    project.write("model.bin", "new weights")
    project.artver("destroy", "-f")
    assert project.read("model.bin") == b"new weights"


def test_destroy_keeps_a_cache_outside_artver(ws, tmp_path):
    cache = tmp_path / "shared"
    ws.artver("cache", "dir", str(cache))
    ws.write("f.txt", "x")
    ws.artver("add", "f.txt")
    res = ws.artver("destroy", "-f")
    assert (cache / xxh(b"x")[:2] / xxh(b"x")[2:]).is_file()
    assert f"The cache at {cache} was left as it is" in res.stderr
    assert ws.read("f.txt") == b"x"
