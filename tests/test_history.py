"""Git history: revisions named as Git names them, `diff`, `metrics diff`/`params diff` across
revisions, `checkout --rev` / `pull --rev`, all driven through the real CLI on real Git repos."""

from __future__ import annotations

import json
import re

import pytest

from tests.conftest import Workspace, git, xxh


def old_commit(ws: Workspace, *revs: str) -> str:
    doc = json.loads(ws.artver("diff", "--json", *revs).stdout)
    return doc["old"]["commit"]


@pytest.fixture
def history(ws: Workspace) -> Workspace:
    """Four commits: data v1 (tag v1, annotated tag rel-1), v2, v3 and a branch `side`."""
    for n in (1, 2, 3):
        ws.write("data/a.txt", f"a version {n}")
        ws.write("data/b.txt", "b stays")
        ws.artver("add", "data")
        ws.commit(f"v{n}", tag=f"v{n}")
        if n == 1:
            ws.git("tag", "-a", "rel-1", "-m", "release one")
            ws.git("branch", "side")
    return ws


def test_revisions_resolve_as_git_resolves_them(history: Workspace):
    head = history.git("rev-parse", "HEAD").strip()
    for rev in ("HEAD", "HEAD~2", "HEAD^", "HEAD^^", "HEAD~1^", "main~1", "v2", "rel-1", "side"):
        expected = history.git("rev-parse", f"{rev}^{{commit}}").strip()
        assert old_commit(history, rev) == expected, rev
    assert old_commit(history, head[:7]) == head
    assert old_commit(history, head) == head
    assert old_commit(history, "@") == head


def test_revisions_resolve_in_a_linked_worktree_and_an_extended_repo(history: Workspace, tmp_path):
    """A linked worktree's `.git` is a file, and a repo with `[extensions]` may store objects
    differently: both are opened through dulwich's full Repo, and answer the same."""
    expected = history.git("rev-parse", "HEAD~1").strip()
    history.git("worktree", "add", "-q", str(tmp_path / "linked"), "side")
    linked = Workspace(tmp_path / "linked")
    assert old_commit(linked, "main~1") == expected
    history.git("config", "extensions.worktreeConfig", "true")
    assert old_commit(history, "HEAD~1") == expected


def test_json_is_one_line_when_piped(history: Workspace):
    res = history.artver("diff", "--json", "v1", "v3")
    assert res.stdout.count("\n") == 1 and json.loads(res.stdout)["modified"]


def test_unknown_revisions_are_one_clear_error(history: Workspace):
    before = history.snapshot()
    res = history.artver("diff", "no-such-branch", expect=1)
    assert "unknown Git revision 'no-such-branch'" in res.stderr
    res = history.artver("diff", "HEAD~3", expect=1)
    assert "'HEAD~3' does not exist" in res.stderr and "no parent" in res.stderr
    res = history.artver("checkout", "--rev", "v9", expect=1)
    assert "unknown Git revision 'v9'" in res.stderr
    assert history.snapshot() == before


def test_diff_between_revisions(ws: Workspace):
    ws.write("data/keep.txt", "same")
    ws.write("data/change.txt", "old content")
    ws.write("data/gone.txt", "bye")
    ws.write("data/move-me.txt", "moving")
    ws.write("model.bin", b"m" * 1000)
    ws.write("old-name.csv", "x,y\n")
    ws.write("dropped.txt", "dropped")
    ws.artver("add", "data", "model.bin", "old-name.csv", "dropped.txt")
    ws.commit("first")

    ws.write("data/change.txt", "new content!")
    (ws.root / "data/gone.txt").unlink()
    (ws.root / "data/move-me.txt").rename(ws.root / "data/moved.txt")
    ws.write("data/new.txt", "hello")
    ws.write("model.bin", b"m" * 2000)
    ws.git("mv", "old-name.csv.artver", "new-name.csv.artver")
    text = (ws.root / "new-name.csv.artver").read_text().replace("old-name.csv", "new-name.csv")
    (ws.root / "new-name.csv.artver").write_text(text)
    (ws.root / "old-name.csv").rename(ws.root / "new-name.csv")
    ws.git("rm", "-q", "dropped.txt.artver")
    ws.write("added.txt", "brand new")
    ws.artver("add", "data", "model.bin", "added.txt")
    ws.commit("second")

    doc = json.loads(ws.artver("diff", "--json", "HEAD~1", "HEAD").stdout)
    assert [e["path"] for e in doc["added"]] == ["added.txt"]
    assert doc["added"][0]["oid"] == xxh(b"brand new") and doc["added"][0]["size"] == 9
    assert [e["path"] for e in doc["deleted"]] == ["dropped.txt"]
    assert doc["renamed"] == [
        {"path": {"old": "old-name.csv", "new": "new-name.csv"}, "oid": xxh(b"x,y\n"), "size": 4}
    ]
    modified = {e["path"]: e for e in doc["modified"]}
    assert set(modified) == {"data", "model.bin"}
    assert modified["model.bin"]["old"]["size"] == 1000
    assert modified["model.bin"]["new"] == {"oid": xxh(b"m" * 2000), "size": 2000}
    files = modified["data"]["files"]
    assert [e["path"] for e in files["added"]] == ["new.txt"]
    assert [e["path"] for e in files["deleted"]] == ["gone.txt"]
    assert [e["path"] for e in files["modified"]] == ["change.txt"]
    assert files["renamed"] == [
        {"path": {"old": "move-me.txt", "new": "moved.txt"}, "oid": xxh(b"moving"), "size": 6}
    ]
    assert doc["summary"]["added"] == 1 and doc["summary"]["files modified"] == 1

    text = ws.artver("diff", "HEAD~1", "HEAD").stdout
    lines = [line.split() for line in text.splitlines()]
    assert ["Added:"] in lines and ["Deleted:"] in lines and ["Renamed:"] in lines
    assert ["model.bin", "1000", "B", "->", "2.0", "kB"] in lines or any(
        row[:1] == ["model.bin"] and "->" in row for row in lines
    )
    assert ["old-name.csv", "->", "new-name.csv", "4", "B"] in lines
    assert ["~", "change.txt", "11", "B", "->", "12", "B"] in lines
    assert lines[-1][0] == "summary:"
    assert text.splitlines()[-1] == (
        "summary: 1 added, 1 deleted, 2 modified, 1 renamed; "
        "inside directories: 1 added, 1 deleted, 1 modified, 1 renamed"
    )

    # Nothing between a revision and itself.
    res = ws.artver("diff", "HEAD", "HEAD")
    assert res.stdout == "" and "No changes" in res.stderr


def test_diff_against_the_workspace_sees_data_not_yet_added(ws: Workspace):
    ws.write("data/a.txt", "one")
    ws.artver("add", "data")
    ws.commit("first")
    assert ws.artver("diff").stdout == ""
    ws.write("data/a.txt", "one, edited")  # not added: the workspace differs from HEAD
    ws.write("fresh.bin", "uncommitted")
    ws.artver("add", "fresh.bin")  # a pointer not committed to Git
    doc = json.loads(ws.artver("diff", "--json").stdout)
    assert doc["new"] == {"rev": "workspace"}
    assert [e["path"] for e in doc["added"]] == ["fresh.bin"]
    files = doc["modified"][0]["files"]
    assert files["modified"] == [
        {
            "path": "a.txt",
            "old": {"oid": xxh(b"one"), "size": 3},
            "new": {"oid": xxh(b"one, edited"), "size": 11},
        }
    ]
    (ws.root / "fresh.bin").unlink()
    doc = json.loads(ws.artver("diff", "--json").stdout)
    assert doc["added"] == []
    # A new directory: every file in it is listed as added.
    ws.write("more/x.txt", "x")
    ws.write("more/sub/y.txt", "yy")
    ws.artver("add", "more")
    doc = json.loads(ws.artver("diff", "--json").stdout)
    assert [e["path"] for e in doc["added"][0]["files"]["added"]] == ["sub/y.txt", "x.txt"]
    assert doc["summary"]["files added"] == 2
    text = ws.artver("diff").stdout
    assert any(line.split() == ["more/", "3", "B", "(2", "files)"] for line in text.splitlines())


def test_stage_outputs_are_diffed_like_tracked_data(ws: Workspace):
    ws.write("gen.py", "import sys\nopen('out.txt', 'w').write(sys.argv[1])\n")
    ws.write("artver.yaml", "stages:\n  gen:\n    cmd: python3 gen.py one\n    outs: [out.txt]\n")
    ws.artver("repro")
    ws.commit("one")
    ws.write("artver.yaml", "stages:\n  gen:\n    cmd: python3 gen.py two\n    outs: [out.txt]\n")
    ws.artver("repro")
    ws.commit("two")
    doc = json.loads(ws.artver("diff", "--json", "HEAD~1", "HEAD").stdout)
    assert doc["modified"] == [
        {
            "path": "out.txt",
            "old": {"oid": xxh(b"one"), "size": 3},
            "new": {"oid": xxh(b"two"), "size": 3},
        }
    ]


def test_diff_fetches_manifests_from_the_remote_or_says_unknown(ws: Workspace, tmp_path):
    remote = tmp_path / "store"
    ws.write("data/a.txt", "one")
    ws.artver("add", "data")
    ws.commit("first")
    ws.write("data/a.txt", "two")
    ws.artver("add", "data")
    ws.commit("second")
    clone = Workspace(tmp_path / "clone")
    git("clone", "-q", str(ws.root), str(clone.root), cwd=tmp_path)
    # No remote: the files inside cannot be known; the directory change still is.
    doc = json.loads(clone.artver("diff", "--json", "HEAD~1", "HEAD").stdout)
    assert doc["modified"][0]["path"] == "data"
    assert doc["modified"][0]["files"] is None
    assert "not in the cache" in doc["modified"][0]["files_unknown"]
    assert "files inside unknown" in clone.artver("diff", "HEAD~1", "HEAD").stdout
    # With a default remote holding them, only the two manifests are fetched.
    ws.artver("remote", "add", "-d", "origin", str(remote))
    ws.artver("push", "--all-commits")
    clone.artver("remote", "add", "-d", "origin", str(remote))
    doc = json.loads(clone.artver("diff", "--json", "HEAD~1", "HEAD").stdout)
    assert [e["path"] for e in doc["modified"][0]["files"]["modified"]] == ["a.txt"]
    cached = {p.parent.name + p.name for p in (clone.root / ".artver/cache").glob("??/*")}
    assert cached and all(oid.endswith(".dir") for oid in cached)


def test_metrics_and_params_diff_across_revisions(ws: Workspace):
    ws.write("params.yaml", "train:\n  lr: 0.1\n  epochs: 3\n")
    ws.write(
        "train.py",
        "import json, yaml\n"
        "p = yaml.safe_load(open('params.yaml'))['train']\n"
        "json.dump({'acc': 0.8 if p['lr'] > 0.07 else 0.9, 'loss': 1.5},"
        " open('metrics.json', 'w'))\n",
    )
    ws.write(
        "artver.yaml",
        "stages:\n  train:\n    cmd: python3 train.py\n    deps: [train.py]\n"
        "    params: [train.lr, train.epochs]\n    metrics: [metrics.json]\n",
    )
    ws.artver("repro")
    ws.commit("baseline")
    ws.write("params.yaml", "train:\n  lr: 0.05\n  epochs: 3\n")
    ws.artver("repro")
    ws.commit("lower lr")

    doc = json.loads(ws.artver("metrics", "diff", "HEAD~1", "HEAD", "--json").stdout)
    assert doc["metrics"] == [
        {"path": "metrics.json", "key": "acc", "old": 0.8, "new": 0.9, "change": 0.1}
    ]
    table = ws.artver("metrics", "diff", "HEAD~1").stdout.splitlines()
    assert table[0].split() == ["path", "metric", "HEAD~1", "workspace", "change"]
    assert table[1].split() == ["metrics.json", "acc", "0.8", "0.9", "+0.1"]

    doc = json.loads(ws.artver("params", "diff", "HEAD~1", "HEAD", "--json").stdout)
    assert doc["params"] == [
        {"file": "params.yaml", "key": "train.lr", "old": 0.1, "new": 0.05, "change": -0.05}
    ]
    rows = ws.artver("params", "diff", "HEAD~1", "--all").stdout.splitlines()
    assert rows[1].split() == ["params.yaml", "train.epochs", "3", "3", "+0"]
    assert rows[2].split() == ["params.yaml", "train.lr", "0.1", "0.05", "-0.05"]
    res = ws.artver("params", "diff", "HEAD", "HEAD")
    assert "No params differ between HEAD and HEAD" in res.stdout


def test_checkout_rev_restores_old_data_without_moving_head(history: Workspace):
    head = history.git("rev-parse", "HEAD").strip()
    pointer = history.read("data.artver")
    res = history.artver("checkout", "--rev", "v1")
    assert "pointer files still record the current versions" in res.stderr
    assert history.read("data/a.txt") == b"a version 1"
    assert history.git("rev-parse", "HEAD").strip() == head
    assert history.read("data.artver") == pointer
    assert "modified" in history.artver("status").stdout
    history.artver("checkout")
    assert history.read("data/a.txt") == b"a version 3"
    # Unsaved work is never overwritten silently.
    history.write("data/a.txt", "unsaved edits")
    res = history.artver("checkout", "--rev", "v2", expect=1)
    assert "data/a.txt" in res.stderr
    assert history.read("data/a.txt") == b"unsaved edits"
    history.artver("checkout", "--rev", "v2", "--force")
    assert history.read("data/a.txt") == b"a version 2"
    res = history.artver("checkout", "--rev", "v2", "nothing-here", expect=1)
    assert "not tracked by artver at revision v2" in res.stderr


def test_pull_rev_fetches_and_restores_that_revision_only(history: Workspace, tmp_path):
    remote = tmp_path / "store"
    history.artver("remote", "add", "-d", "origin", str(remote))
    history.commit("remote")
    history.artver("push", "--all-commits")
    clone = Workspace(tmp_path / "clone")
    git("clone", "-q", str(history.root), str(clone.root), cwd=tmp_path)
    res = clone.artver("pull", "--rev", "v2")
    assert clone.read("data/a.txt") == b"a version 2"
    assert "pointer files still record the current versions" in res.stderr
    assert not clone.cache_object(xxh(b"a version 3")).exists()
    clone.artver("pull")
    assert clone.read("data/a.txt") == b"a version 3"


def test_ls_rev_lists_what_a_revision_tracks_and_what_is_cached(history: Workspace):
    history.write("gen.py", "open('out.txt', 'w').write('made')\nopen('m.json', 'w').write('{}')\n")
    history.write(
        "artver.yaml",
        "stages:\n  gen:\n    cmd: python3 gen.py\n    outs: [out.txt]\n    metrics: [m.json]\n",
    )
    history.artver("repro")
    history.commit("pipeline")
    doc = json.loads(history.artver("ls", "--rev", "HEAD", "--json").stdout)
    rows = {a["path"]: a for a in doc["artifacts"]}
    assert rows["data"]["pointer"] == "data.artver" and rows["data"]["state"] == "cached"
    assert rows["out.txt"]["pointer"] == "artver.lock" and rows["out.txt"]["oid"] == xxh(b"made")
    assert rows["m.json"]["state"] == "in git"
    v1_oid = re.search(r"oid: (\S+)", history.git("show", "v1:data.artver")).group(1)
    history.artver("gc", "-w", "-f")
    doc = json.loads(history.artver("ls", "--rev", "v1", "data", "--json").stdout)
    assert [(a["path"], a["oid"], a["state"]) for a in doc["artifacts"]] == [
        ("data", v1_oid, "absent")
    ]
    res = history.artver("ls", "--rev", "v1", "out.txt", expect=1)
    assert "not tracked by artver at revision v1" in res.stderr
