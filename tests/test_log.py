"""`artver log`: every version of an artifact across Git history, on real repos whose data
(pointer files) and pipeline outputs (the lock) changed over several commits."""

from __future__ import annotations

import json
import sqlite3

from artver.ops.log import Version, ancestors, key_of, new_versions
from artver.yamlio import load_yaml
from tests.conftest import Workspace
from tests.test_bad_input import assert_error
from tests.test_pipeline import write_pipeline

PIPELINE = """\
stages:
  train:
    cmd: PY -c "open('model.bin', 'w').write(open('data/a.csv').read() * 2)"
    deps: [data]
    outs: [model.bin]
"""


def versions(ws: Workspace, *args: str) -> list[dict]:
    return json.loads(ws.artver("log", *args, "--json").stdout)["versions"]


def pointer(ws: Workspace, rev: str) -> dict:
    return load_yaml(ws.git("show", f"{rev}:data.artver"))["outs"][0]


def build(ws: Workspace, monkeypatch) -> dict[str, str]:
    """v1, v2, a commit that changes only code, v3 (with a re-run of the pipeline); and a
    branch `side` with v4, not merged. Commits are a minute apart, as `git log` orders them."""
    shas = {}
    commit = ws.commit

    def dated(message: str) -> str:
        when = f"2024-05-01T12:{len(shas):02d}:00+02:00"
        monkeypatch.setenv("GIT_AUTHOR_DATE", when)
        monkeypatch.setenv("GIT_COMMITTER_DATE", when)
        return commit(message)

    ws.commit = dated  # type: ignore[method-assign]
    ws.write("data/a.csv", "1\n")
    ws.write("data/b.csv", "2\n")
    ws.artver("add", "data")
    write_pipeline(ws, PIPELINE)
    ws.artver("repro")
    shas["v1"] = ws.commit("data v1")
    ws.write("data/c.csv", "3\n")
    ws.artver("add", "data")
    shas["v2"] = ws.commit("data v2")
    ws.write("src/code.py", "print()\n")
    shas["code"] = ws.commit("code only")
    ws.write("data/a.csv", "1\n1\n")
    ws.artver("add", "data")
    ws.artver("repro")
    shas["v3"] = ws.commit("data v3")
    ws.git("checkout", "-q", "-b", "side")
    ws.write("data/b.csv", "4\n")
    ws.artver("add", "data")
    shas["v4"] = ws.commit("data v4 on a branch")
    ws.git("checkout", "-q", "main")
    ws.artver("checkout")
    ws.commit = commit  # type: ignore[method-assign]
    return shas


def test_log_lists_each_version_newest_first_with_commit_and_pointer_values(ws, monkeypatch):
    shas = build(ws, monkeypatch)
    found = versions(ws, "data")
    assert [v["commit"] for v in found] == [shas["v3"], shas["v2"], shas["v1"]]
    for v, rev in zip(found, ("v3", "v2", "v1"), strict=True):
        p = pointer(ws, shas[rev])
        assert (v["oid"], v["size"], v["nfiles"]) == (p["oid"], p["size"], p["nfiles"])
        assert v["author"] == "Test Author" and v["email"] == "author@example.com"
        assert v["stage"] is None and v["source"] == "data.artver"
    assert found[0]["subject"] == "data v3" and found[2]["nfiles"] == 2
    date = ws.git("log", "-1", "--format=%aI", shas["v1"]).strip()
    assert found[2]["date"] == date
    text = ws.artver("log", "data").stdout.splitlines()
    assert text[0].split() == [
        "commit",
        "date",
        "author",
        "oid",
        "size",
        "files",
        "stage",
        "subject",
    ]
    assert [line.split()[0] for line in text[1:]] == [shas[r][:8] for r in ("v3", "v2", "v1")]
    assert "data v2" in text[2] and pointer(ws, shas["v2"])["oid"][:12] in text[2]


def test_all_refs_limit_and_a_stage_output(ws, monkeypatch):
    shas = build(ws, monkeypatch)
    assert [v["commit"] for v in versions(ws, "data", "--all")][:2] == [shas["v4"], shas["v3"]]
    assert [v["commit"] for v in versions(ws, "data", "-n", "1")] == [shas["v3"]]
    model = versions(ws, "model.bin")
    assert [v["commit"] for v in model] == [shas["v3"], shas["v1"]]  # v2's data: not re-run
    lock = load_yaml(ws.git("show", f"{shas['v1']}:artver.lock"))["stages"]["train"]
    assert model[1]["oid"] == lock["outs"][0]["oid"] and model[1]["stage"] == "train"
    assert model[1]["source"] == "artver.lock"
    assert "train" in ws.artver("log", "model.bin").stdout.splitlines()[1].split()


def test_a_file_inside_a_tracked_directory_shows_its_directory(ws, monkeypatch):
    shas = build(ws, monkeypatch)
    found = versions(ws, "data/a.csv")
    assert [v["commit"] for v in found] == [shas["v3"], shas["v2"], shas["v1"]]
    assert {v["artifact"] for v in found} == {"data"}
    assert "artifact" in ws.artver("log", "a.csv", cwd=ws.root / "data").stdout.split("\n")[0]


def test_removal_and_new_commits_after_a_remembered_log(ws, monkeypatch):
    shas = build(ws, monkeypatch)
    assert len(versions(ws, "data")) == 3
    rows = sqlite3.connect(ws.root / ".artver" / "state.db").execute(
        "SELECT count(*) FROM log_commits WHERE path = 'data'"
    )
    assert rows.fetchone()[0] == int(ws.git("rev-list", "--count", "HEAD"))  # each commit
    ws.git("rm", "-q", "data.artver")
    gone = ws.commit("drop the data")
    found = versions(ws, "data")
    assert [v["commit"] for v in found][:2] == [gone, shas["v3"]]
    assert found[0]["removed"] and found[0]["oid"] is None
    assert "(removed)" in ws.artver("log", "data").stdout.splitlines()[1]


def test_bad_input(ws):
    ws.write("data/a.csv", "1\n")
    ws.artver("add", "data")
    res = ws.artver("log", "data", expect=None)
    assert_error(res, "HEAD names no commit")
    ws.commit("v1")
    ws.write("notes.txt", "x")
    before = ws.snapshot()
    res = ws.artver("log", "notes.txt", expect=None)
    assert_error(res, "notes.txt", "never tracked by artver", "reachable from HEAD", "--all")
    assert_error(ws.artver("log", "notes.txt", "--all", expect=None), "from any ref")
    for n in ("0", "-2"):
        res = ws.artver("log", "data", "-n", n, expect=None)
        assert_error(res, "-n", f"not {n}", code=2)
    assert_error(ws.artver("log", "/elsewhere", expect=None), "outside the repository")
    assert ws.snapshot() == before


# -- pure parts ------------------------------------------------------------------------------
def test_key_and_new_versions_from_values():
    assert ancestors("a/b/c") == ["a/b/c", "a/b", "a"]
    files = {"a/b.artver": b"1", "x.artver": b"2", "sub/artver.lock": b"3", "artver.yaml": b"4"}
    assert key_of(files, "a/b/c.csv") == "a/b.artver=1\nsub/artver.lock=3"
    v1, v2 = Version("d", "1" * 32), Version("d", "2" * 32)
    untracked = Version("d", None)
    order = ["m", "s", "c", "b", "a", "r"]  # m merges s (v2) into c (v1)
    parents = {"m": ["c", "s"], "s": ["b"], "c": ["b"], "b": ["a"], "a": ["r"], "r": []}
    version = {"m": v2, "s": v2, "c": v1, "b": v1, "a": v1, "r": untracked}
    assert new_versions(order, parents, version) == ["s", "a"]
    assert new_versions(["x"], {"x": ["gone"]}, {"x": v1}) == ["x"]  # beyond a shallow clone
