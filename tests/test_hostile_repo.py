"""A hostile collaborator or remote must never make artver write outside the tracked path.

Each test plants what an attacker could commit or upload (a directory manifest with unsafe
entries, a pointer with an unsafe `path:`, a symlink on the way to a tracked path, a file name
with a line break) and drives the real CLI: the command refuses with one message naming the
artifact, the entry and where it came from, and nothing appears outside the repository, in
`.git`, or in the cache.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from tests.conftest import Workspace, xxh
from tests.test_bad_input import assert_error

HOOK = b"#!/bin/sh\necho pwned > /tmp/artver-pwned\n"


def put_object(store: Path, oid: str, data: bytes) -> None:
    """An object in the `<2 hex>/<30 hex>` layout shared by the cache and directory remotes."""
    path = store / oid[:2] / oid[2:]
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.exists():
        path.chmod(0o644)
    path.write_bytes(data)


def hostile_manifest(store: Path, entries: list[str], payload: bytes = HOOK) -> str:
    """A manifest listing `entries` (each holding `payload`) whose id matches its bytes, so
    that only the entry rules can refuse it; its file object is stored too."""
    oid = xxh(payload)
    put_object(store, oid, payload)
    rows = [[entry, oid, len(payload), 1] for entry in entries]
    data = json.dumps({"version": 1, "files": rows}, separators=(",", ":")).encode()
    dir_oid = xxh(data) + ".dir"
    put_object(store, dir_oid, data)
    return dir_oid


def write_pointer(ws: Workspace, rel: str, oid: str, path: str | None = None) -> None:
    name = path if path is not None else Path(rel).name
    ws.write(
        rel + ".artver",
        f"outs:\n- path: {json.dumps(name)}\n  hash: xxh3-128\n  oid: {oid}\n  size: 1\n",
    )


def everything_under(path: Path) -> set[str]:
    return {str(p.relative_to(path)) for p in path.rglob("*")} if path.exists() else set()


def outside_artver(root: Path) -> set[str]:
    return {p for p in everything_under(root) if not p.startswith(".artver")}


UNSAFE = [
    (["../escape"], "../escape", "'..'"),
    (["a/../../b"], "a/../../b", "'..'"),
    (["../../../escape2"], "../../../escape2", "'..'"),
    (["/tmp/artver-absolute"], "/tmp/artver-absolute", "absolute"),
    ([".git/hooks/post-checkout"], ".git/hooks/post-checkout", ".git"),
    (["sub/.GIT/config"], "sub/.GIT/config", ".git"),
    ([""], "''", "empty"),
    (["."], "'.'", "'.'"),
    (["a//b"], "a//b", "empty"),
    (["x\u0000y"], "x\\x00y", "NUL"),
    (["same", "same"], "same", "listed twice"),
    (["a", "a/b"], "'a'", "also the directory"),
]


@pytest.fixture
def remote_ws(ws: Workspace, tmp_path: Path) -> tuple[Workspace, Path]:
    remote = tmp_path / "remote"
    remote.mkdir()
    ws.artver("remote", "add", "-d", "origin", str(remote))
    return ws, remote


@pytest.mark.parametrize(("entries", "named", "why"), UNSAFE)
def test_pull_refuses_a_manifest_with_an_unsafe_entry(remote_ws, entries, named, why):
    ws, remote = remote_ws
    dir_oid = hostile_manifest(remote, entries)
    write_pointer(ws, "data", dir_oid)
    hooks_before = everything_under(ws.root / ".git")
    outside_before = everything_under(ws.root.parent)
    workspace_before = outside_artver(ws.root)

    res = ws.artver("pull", expect=1)

    assert_error(res, "data", named.strip("'"), why, "origin", "refused")
    assert everything_under(ws.root / ".git") == hooks_before
    assert not (ws.root / "data").exists()
    outside_now = everything_under(ws.root.parent)
    assert {p for p in outside_now - outside_before if not p.startswith("repo/")} == set()
    assert outside_artver(ws.root) == workspace_before
    assert not Path("/tmp/artver-absolute").exists()
    # The refused manifest did not stay in the cache, where a later command would trust it.
    assert not (ws.root / ".artver" / "cache" / dir_oid[:2] / dir_oid[2:]).exists()


@pytest.mark.parametrize(("entries", "named", "why"), UNSAFE[:6])
def test_checkout_refuses_an_unsafe_manifest_already_in_the_cache(ws, entries, named, why):
    dir_oid = hostile_manifest(ws.root / ".artver" / "cache", entries)
    write_pointer(ws, "data", dir_oid)
    hooks_before = everything_under(ws.root / ".git")

    res = ws.artver("checkout", expect=1)

    assert_error(res, "data", named, why, "refused", "nothing was written")
    assert everything_under(ws.root / ".git") == hooks_before
    assert not (ws.root / "data").exists()
    assert not (ws.root.parent / "escape").exists()


def test_status_and_fetch_refuse_an_unsafe_manifest_too(remote_ws):
    ws, remote = remote_ws
    write_pointer(ws, "data", hostile_manifest(remote, [".git/hooks/post-checkout"]))
    assert_error(ws.artver("fetch", expect=1), "data", ".git/hooks/post-checkout", "origin")
    cache = ws.root / ".artver" / "cache"
    write_pointer(ws, "data", hostile_manifest(cache, ["../escape"]))
    (ws.root / "data").mkdir()
    res = ws.artver("status", expect=1)
    assert_error(res, "../escape", "refused")


# -- pointers --------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("path", "why"),
    [
        ("../escape", "must not leave"),
        ("a/../../escape", "must not leave"),
        ("/tmp/artver-abs", "relative path"),
        ("a\u0000b", "NUL"),
        (".git/hooks/post-checkout", "Git's own files"),
    ],
)
def test_pointer_paths_that_leave_the_directory_are_refused(ws, path, why):
    payload = b"payload\n"
    oid = xxh(payload)
    put_object(ws.root / ".artver" / "cache", oid, payload)
    write_pointer(ws, "data", oid, path=path)
    hooks_before = everything_under(ws.root / ".git")

    for command in (["checkout"], ["status"]):
        assert_error(ws.artver(*command, expect=1), "data.artver", why)
    assert everything_under(ws.root / ".git") == hooks_before
    assert not (ws.root.parent / "escape").exists()
    assert not Path("/tmp/artver-abs").exists()


# -- symlinks on the way ---------------------------------------------------------------------------
@pytest.fixture
def tracked_dir(ws: Workspace) -> Workspace:
    ws.write("data/a.txt", "a\n")
    ws.write("data/sub/b.txt", "b\n")
    ws.artver("add", "data")
    ws.commit("data")
    return ws


def make_outside(tmp_path: Path) -> Path:
    outside = tmp_path / "outside"
    (outside / "sub").mkdir(parents=True)
    (outside / "precious.txt").write_text("mine\n")
    (outside / "sub" / "b.txt").write_text("other b\n")
    return outside


def snapshot_of(path: Path) -> dict[str, bytes]:
    return {str(p.relative_to(path)): p.read_bytes() for p in path.rglob("*") if p.is_file()}


@pytest.mark.parametrize("force", [False, True])
def test_checkout_never_writes_through_a_tracked_dir_that_links_outside(
    tracked_dir, tmp_path, force
):
    ws = tracked_dir
    outside = make_outside(tmp_path)
    before = snapshot_of(outside)
    for p in sorted((ws.root / "data").rglob("*"), reverse=True):
        p.unlink() if p.is_file() else p.rmdir()
    (ws.root / "data").rmdir()
    (ws.root / "data").symlink_to(outside)

    res = ws.artver("checkout", *(["--force"] if force else []), expect=1)

    assert_error(res, "data", "symbolic link", "outside the repository")
    assert snapshot_of(outside) == before


@pytest.mark.parametrize("force", [False, True])
def test_checkout_never_writes_through_a_parent_that_links_outside(ws, tmp_path, force):
    ws.write("top/data/a.txt", "a\n")
    ws.artver("add", "top/data")
    outside = make_outside(tmp_path)
    # `top` now links to a directory outside that holds the same pointer and other data.
    (outside / "data.artver").write_bytes((ws.root / "top" / "data.artver").read_bytes())
    (outside / "data").mkdir()
    (outside / "data" / "a.txt").write_text("theirs\n")
    before = snapshot_of(outside)
    (ws.root / "top").rename(ws.root / "top.moved")
    (ws.root / "top").symlink_to(outside)

    res = ws.artver("checkout", *(["--force"] if force else []), "top/data", expect=1)

    assert_error(res, "top/data", "outside the repository")
    assert snapshot_of(outside) == before


def test_checkout_never_writes_through_a_linked_subdirectory(tracked_dir, tmp_path):
    ws = tracked_dir
    outside = make_outside(tmp_path)
    before = snapshot_of(outside)
    sub = ws.root / "data" / "sub"
    (sub / "b.txt").unlink()
    sub.rmdir()
    sub.symlink_to(outside / "sub")

    res = ws.artver("checkout", "--force", expect=1)

    assert_error(res, "data/sub", "outside the repository")
    assert snapshot_of(outside) == before


def test_add_refuses_links_that_lead_outside(ws, tmp_path):
    outside = make_outside(tmp_path)
    (ws.root / "linked").symlink_to(outside)
    (ws.root / "linked.txt").symlink_to(outside / "precious.txt")
    ws.write("data/a.txt", "a\n")
    (ws.root / "data" / "out").symlink_to(outside / "sub")

    assert_error(ws.artver("add", "linked", expect=1), "linked", "outside the repository")
    assert_error(ws.artver("add", "linked.txt", expect=1), "linked.txt", "outside the repository")
    assert_error(ws.artver("add", "linked/sub", expect=1), "outside the repository")
    assert_error(ws.artver("add", "data", expect=1), "data/out", "outside the repository")
    assert not [p for p in ws.root.glob("*.artver") if p.is_file()]
    assert not (ws.root / ".gitignore").exists()


def test_links_inside_the_repository_are_tracked_by_content(ws):
    ws.write("shared/table.csv", "x\n1\n")
    ws.write("data/a.txt", "a\n")
    (ws.root / "data" / "table.csv").symlink_to(Path("..") / "shared" / "table.csv")

    ws.artver("add", "data")
    (ws.root / "data" / "table.csv").unlink()
    ws.artver("checkout", "data")

    placed = ws.root / "data" / "table.csv"
    assert placed.read_bytes() == b"x\n1\n"
    assert (ws.root / "shared" / "table.csv").read_bytes() == b"x\n1\n"


def test_symlink_cache_type_still_works(ws):
    ws.artver("config", "cache.type", "symlink")
    ws.write("data/a.txt", "a\n")
    ws.write("model.bin", "weights\n")
    ws.artver("add", "data", "model.bin")
    assert os.path.islink(ws.root / "model.bin")
    ws.write("data/b.txt", "b\n")
    ws.artver("add", "data", "model.bin")
    (ws.root / "model.bin").unlink()
    ws.artver("checkout")
    assert (ws.root / "model.bin").read_bytes() == b"weights\n"


# -- names that would break .gitignore -------------------------------------------------------------
def test_a_name_with_a_line_break_is_refused(ws):
    ws.write("src/main.py", "print('code')\n")
    ws.write("x\nsrc", "data\n")

    res = ws.artver("add", "x\nsrc", expect=1)

    assert_error(res, "line break", "rename it")
    assert not (ws.root / ".gitignore").exists()
    assert not (ws.root / "x\nsrc.artver").exists()
    assert "src/main.py" in ws.git("status", "--porcelain", "--untracked-files=all")


def test_repro_never_deletes_an_output_through_a_link_outside(ws, tmp_path):
    outside = make_outside(tmp_path)
    before = snapshot_of(outside)
    ws.write(
        "artver.yaml",
        "stages:\n  make:\n    cmd: mkdir -p out/sub && echo made > out/sub/b.txt\n"
        "    outs: [out/sub]\n",
    )
    (ws.root / "out").symlink_to(outside)

    res = ws.artver("repro", expect=1)

    assert_error(res, "out/sub", "outside the repository")
    assert snapshot_of(outside) == before
