"""`artver gc` and the bad input of the history commands: what is kept, what goes, and that
nothing referenced is ever lost — driven through the real CLI on real Git repos."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import Workspace, git, xxh
from tests.remotes_fixtures import S3Backend, free_port
from tests.test_bad_input import assert_error


def cached(ws: Workspace) -> set[str]:
    return {p.parent.name + p.name for p in (ws.root / ".artver/cache").glob("??/*")}


def on_remote(root: Path) -> set[str]:
    return {p.parent.name + p.name for p in root.glob("??/*")}


@pytest.fixture
def versions(ws: Workspace) -> Workspace:
    """main: v1, v2 (tagged), v3; branch `feature` from v1 with its own version."""
    ws.write("data/a.txt", "version 1")
    ws.write("data/shared.txt", "in every version")
    ws.artver("add", "data")
    ws.commit("v1")
    ws.git("checkout", "-q", "-b", "feature")
    ws.write("data/a.txt", "feature version")
    ws.artver("add", "data")
    ws.commit("feature")
    ws.git("checkout", "-q", "main")
    ws.artver("checkout")
    for n in (2, 3):
        ws.write("data/a.txt", f"version {n}")
        ws.artver("add", "data")
        ws.commit(f"v{n}")
        if n == 2:
            ws.git("tag", "v2")
    return ws


V = {name: xxh(text.encode()) for name, text in [
    ("v1", "version 1"), ("v2", "version 2"), ("v3", "version 3"), ("feature", "feature version"),
    ("shared", "in every version"),
]}  # fmt: skip


def test_gc_needs_a_scope(versions: Workspace):
    before = cached(versions)
    res = versions.artver("gc", "-f", expect=2)
    assert_error(res, "gc needs a scope", "--all-commits", code=2)
    assert cached(versions) == before


def test_dry_run_lists_what_would_go_and_deletes_nothing(versions: Workspace):
    before = cached(versions)
    res = versions.artver("gc", "-w", "--dry-run")
    listed = {line.split()[0] for line in res.stdout.splitlines()}
    assert {V["v1"], V["v2"], V["feature"]} <= listed
    assert V["v3"] not in listed and V["shared"] not in listed
    gone = sum((versions.root / ".artver/cache" / o[:2] / o[2:]).stat().st_size for o in listed)
    assert f"Would remove {len(listed)} objects ({gone} B)" in res.stderr
    assert cached(versions) == before


def test_workspace_scope_keeps_only_the_workspace(versions: Workspace):
    res = versions.artver("gc", "-w", input_text="n\n", expect=1)
    assert "nothing was removed" in res.stderr
    before = cached(versions)
    versions.artver("gc", "-w", input_text="y\n")
    after = cached(versions)
    assert V["v3"] in after and V["shared"] in after
    assert V["v1"] not in after and V["v2"] not in after and V["feature"] not in after
    assert len(after) == 3 and before > after  # v3, shared and the v3 manifest
    versions.artver("checkout", "--relink")
    assert versions.read("data/a.txt") == b"version 3"


@pytest.mark.parametrize(
    ("flag", "kept", "removed"),
    [
        ("--all-branches", {"v3", "feature"}, {"v1", "v2"}),
        ("--all-tags", {"v3", "v2"}, {"v1", "feature"}),
        ("--all-commits", {"v1", "v2", "v3", "feature"}, set()),
    ],
)
def test_history_scopes(versions: Workspace, flag, kept, removed):
    versions.artver("gc", flag, "-f")
    after = cached(versions)
    assert {V[k] for k in kept} <= after
    assert not {V[k] for k in removed} & after
    versions.git("checkout", "-q", "feature")
    if "feature" in kept:
        versions.artver("checkout")
        assert versions.read("data/a.txt") == b"feature version"


def test_uncommitted_pointers_are_kept(versions: Workspace):
    versions.write("new/file.bin", "added, never committed")
    versions.artver("add", "new/file.bin")
    versions.write("data/a.txt", "version 4, not committed")
    versions.artver("add", "data")
    versions.artver("gc", "--all-branches", "-f")
    after = cached(versions)
    assert xxh(b"added, never committed") in after
    assert xxh(b"version 4, not committed") in after
    (versions.root / "new/file.bin").unlink()
    versions.artver("checkout")
    assert versions.read("new/file.bin") == b"added, never committed"


def test_symlinked_workspace_files_are_not_broken(ws: Workspace):
    ws.artver("config", "cache.type", "symlink")
    ws.write("data/a.txt", "linked one")
    ws.artver("add", "data")
    ws.commit("one")
    # The pointer moves on (a git checkout without `artver checkout`): the symlink stays.
    ws.write("other.txt", "x")
    ws.artver("add", "other.txt")
    text = (ws.root / "data.artver").read_text()
    ws.git("rm", "-q", "--cached", "data.artver")
    (ws.root / "data.artver").unlink()
    ws.artver("gc", "-w", "-f")
    assert (ws.root / "data/a.txt").read_bytes() == b"linked one"
    (ws.root / "data.artver").write_text(text)


def copying_stage(ws: Workspace) -> None:
    """A one-stage pipeline that copies in.txt to out.txt (a run-cache entry per input)."""
    ws.write(
        "artver.yaml",
        "stages:\n  gen:\n"
        "    cmd: python3 -c \"open('out.txt','w').write(open('in.txt').read())\"\n"
        "    deps: [in.txt]\n    outs: [out.txt]\n",
    )


def test_run_cache_entries_of_deleted_outputs_are_dropped(ws: Workspace):
    copying_stage(ws)
    ws.write("in.txt", "first")
    ws.artver("repro")
    ws.write("in.txt", "second")
    ws.artver("repro")
    runs = list((ws.root / ".artver/cache/runs").glob("??/*"))
    assert len(runs) == 2
    res = ws.artver("gc", "-w", "-f")
    assert "Dropped 1 recorded run" in res.stderr
    assert len(list((ws.root / ".artver/cache/runs").glob("??/*"))) == 1
    ws.write("in.txt", "first")  # its run was dropped: it runs again instead of failing
    ws.artver("repro")
    assert ws.read("out.txt") == b"first"


def test_cloud_deletes_unreferenced_remote_objects(versions: Workspace, tmp_path):
    remote = tmp_path / "store"
    versions.artver("remote", "add", "-d", "origin", str(remote))
    versions.artver("push", "--all-commits")
    assert {V["v1"], V["feature"]} <= on_remote(remote)
    res = versions.artver("gc", "--all-branches", "--cloud", "-r", "origin", "--dry-run")
    assert f"{V['v1']}  (remote origin)" in res.stdout
    assert V["v1"] in on_remote(remote)
    versions.artver("gc", "--all-branches", "--cloud", "-f")
    left = on_remote(remote)
    assert {V["v3"], V["feature"], V["shared"]} <= left
    assert V["v1"] not in left and V["v2"] not in left
    # push remembered complete directories; gc made it forget the ones it deleted.
    versions.git("checkout", "-q", "v2")
    versions.artver("checkout", expect=1)  # v2's objects are gone locally too


def test_cloud_with_unreachable_remote_deletes_nothing(versions: Workspace, remote_env):
    S3Backend(f"http://127.0.0.1:{free_port()}", "bucket").add_to(versions)
    before = cached(versions)
    res = versions.artver("gc", "-w", "--cloud", "-f", expect=1)
    assert_error(res, "cannot reach remote 'origin'")
    assert cached(versions) == before


def test_shallow_clone(versions: Workspace, tmp_path):
    clone = Workspace(tmp_path / "shallow")
    git("clone", "-q", "--depth", "1", f"file://{versions.root}", str(clone.root), cwd=tmp_path)
    res = clone.artver("diff", "HEAD~1", expect=1)
    assert_error(res, "shallow clone", "git fetch --unshallow")
    clone.write("data/a.txt", "local only")
    clone.artver("add", "data")
    before = cached(clone)
    res = clone.artver("gc", "--all-commits", "-f", expect=1)
    assert_error(res, "shallow clone", "git fetch --unshallow")
    assert cached(clone) == before
    clone.artver("diff", "HEAD")  # the commits that are there still work


def test_corrupt_pointer_at_a_revision_names_commit_and_file(versions: Workspace):
    (versions.root / "data.artver").write_text("outs: [this is: not, a pointer\n")
    versions.commit("oops")
    bad = versions.git("rev-parse", "--short=8", "HEAD").strip()
    versions.git("checkout", "-q", "HEAD~1", "--", "data.artver")
    versions.commit("fixed")
    before = cached(versions)
    res = versions.artver("gc", "--all-commits", "-f", expect=1)
    assert_error(res, "invalid pointer file data.artver at", f"(commit {bad})")
    assert cached(versions) == before
    res = versions.artver("diff", "HEAD~1", "HEAD", expect=1)
    assert_error(res, "data.artver at HEAD~1")
    versions.artver("gc", "-w", "-f")  # the workspace alone is fine


def test_cloud_gc_leaves_the_remote_run_cache_alone(ws: Workspace, tmp_path):
    remote = tmp_path / "store"
    ws.artver("remote", "add", "-d", "origin", str(remote))
    copying_stage(ws)
    ws.write("in.txt", "first")
    ws.artver("repro")
    ws.artver("push", "--run-cache")
    runs = sorted(p.relative_to(remote) for p in (remote / "runs").glob("??/*"))
    assert len(runs) == 1
    res = ws.artver("gc", "-w", "--cloud", "--dry-run")
    assert "(remote origin)" not in res.stdout  # nothing to delete; run keys are not objects
    ws.artver("gc", "-w", "--cloud", "-f")
    assert sorted(p.relative_to(remote) for p in (remote / "runs").glob("??/*")) == runs
