"""`repro -s/--single-item`, `--allow-missing` and `--pull`, as DVC users type them."""

from __future__ import annotations

import subprocess
import sys

from artver.ops.repro_pull import missing_paths
from tests.conftest import Workspace
from tests.test_bad_input import assert_error

PY = sys.executable


def pipeline(ws: Workspace) -> None:
    ws.write("data/raw.txt", "1\n2\n3\n")
    ws.artver("add", "data")
    ws.write("prep.py", "open('prepared.txt', 'w').write(open('data/raw.txt').read()[::-1])\n")
    ws.write("train.py", "open('model.txt', 'w').write(str(len(open('prepared.txt').read())))\n")
    ws.artver(
        "stage", "add", "-n", "prep", "-d", "prep.py", "-d", "data/raw.txt", "-o",
        "prepared.txt", f"{PY} prep.py",
    )  # fmt: skip
    ws.artver(
        "stage", "add", "-n", "train", "-d", "train.py", "-d", "prepared.txt", "-o",
        "model.txt", f"{PY} train.py",
    )  # fmt: skip
    ws.artver("repro")


def test_missing_paths_names_what_artver_tracks_and_the_workspace_lacks():
    tracked = {"data": "data", "data/raw.txt": "data", "prepared.txt": "prepared.txt"}
    found = missing_paths(
        ["prep", "train"],
        {"prep": ["prep.py", "data/raw.txt"], "train": ["prepared.txt"]},
        {"prep": ["prepared.txt"], "train": ["model.txt"]},
        tracked.get,
        lambda p: p in {"prep.py", "model.txt"},
    )
    assert found == ["data", "prepared.txt"]


def test_single_item_runs_only_the_named_stage(ws):
    pipeline(ws)
    res = ws.artver("repro", "-f", "-s", "train")
    assert res.stderr.count("Running stage") == 1 and "Running stage train" in res.stderr
    assert_error(ws.artver("repro", "-s", expect=2), "-s/--single-item needs STAGE", code=2)


def test_a_clone_pulls_what_the_stages_need_then_nothing_runs(ws, tmp_path):
    pipeline(ws)
    ws.artver("remote", "add", "-d", "store", str(tmp_path / "store"))
    ws.artver("push", "--run-cache")
    ws.commit("pipeline")
    clone = tmp_path / "clone"
    subprocess.run(["git", "clone", "-q", str(ws.root), str(clone)], check=True)
    other = Workspace(clone)
    # Data missing in a fresh clone: allowed, nothing is stale for that alone.
    plan = other.artver("repro", "--dry-run", "--allow-missing").stdout
    assert plan == "prep: up to date\ntrain: up to date\n", plan
    assert not (clone / "data").exists()
    res = other.artver("repro", "--pull")
    assert (
        "Pulling what the stages need and the workspace lacks: data, prepared.txt, model.txt"
        in (res.stderr)
    ), res.stderr
    assert "Running stage" not in res.stderr, res.stderr
    assert (clone / "model.txt").read_text() == (ws.root / "model.txt").read_text()
    assert (clone / "data" / "raw.txt").read_text() == "1\n2\n3\n"
    again = other.artver("repro", "--pull")
    assert "Pulling" not in again.stderr and "up to date" in again.stderr


def test_pull_without_a_remote_is_one_error(ws, tmp_path):
    pipeline(ws)
    (ws.root / "model.txt").unlink()
    res = ws.artver("repro", "--pull", expect=1)
    assert "error: no remote named and no default remote is set" in res.stderr, res.stderr
    assert not (ws.root / "model.txt").exists()
