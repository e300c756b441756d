"""`artver status -c/--cloud`: the cache against a remote, per artifact."""

from __future__ import annotations

import json
import shutil
import subprocess

import pytest

from artver.ops.cloud_status import CloudStatus, classify, state_of
from tests.conftest import Workspace
from tests.remotes_fixtures import S3Backend, free_port
from tests.test_bad_input import assert_error


def test_classify_and_the_worst_state_wins():
    where = classify(["a", "b", "c", "d"], in_cache={"a", "b"}, on_remote={"b", "c"})
    assert where == {"not on remote": ["a"], "not in cache": ["c"], "lost": ["d"]}
    assert state_of(CloudStatus("x", "o", 1)) == "in sync"
    assert state_of(CloudStatus("x", "o", 2, not_in_cache=["c"])) == "not in cache"
    assert state_of(CloudStatus("x", "o", 2, ["a"], ["c"])) == "not on remote"
    assert state_of(CloudStatus("x", "o", 2, ["a"], lost=["d"])) == "lost"
    assert state_of(CloudStatus("x", "o", 1, files_unknown=True)) == "lost"


def test_status_cloud_before_and_after_push_and_in_a_clone(ws, tmp_path):
    ws.write("data/a.txt", "a")
    ws.write("data/b.txt", "b")
    ws.write("model.bin", "m")
    ws.artver("add", "data", "model.bin")
    store = tmp_path / "store"
    ws.artver("remote", "add", "-d", "store", str(store))
    before = ws.artver("status", "-c")
    assert before.stdout == (
        "data: not on remote (3 of 3 objects not on the remote)\n"
        "model.bin: not on remote (1 of 1 object not on the remote)\n"
    ), before.stdout
    assert "artver push" in before.stderr
    ws.artver("push")
    assert ws.artver("status", "-c").stdout == (
        f"Everything is in the cache and on remote 'store' ({store}).\n"
    )
    ws.commit("data")
    clone = tmp_path / "clone"
    subprocess.run(["git", "clone", "-q", str(ws.root), str(clone)], check=True)
    other = Workspace(clone)
    doc = json.loads(other.artver("status", "-c", "--json").stdout)
    states = {a["path"]: (a["state"], a["not_in_cache"], a["objects"]) for a in doc["artifacts"]}
    assert states == {"data": ("not in cache", 3, 3), "model.bin": ("not in cache", 1, 1)}
    # An object in neither place: lost, and said so
    shutil.rmtree(store)
    lost = other.artver("status", "-c", "model.bin")
    assert lost.stdout == "model.bin: lost (1 of 1 object in neither)\n", lost.stdout
    assert "lost unless another clone has them" in lost.stderr


def test_bad_input(ws, tmp_path):
    ws.write("f.txt", "f")
    ws.artver("add", "f.txt")
    assert_error(ws.artver("status", "-c", expect=1), "no default remote is set")
    assert_error(ws.artver("status", "-r", "x", expect=2), "go with -c/--cloud", code=2)
    assert_error(ws.artver("status", "-c", "-r", "nope", expect=1), "unknown remote 'nope'")


@pytest.mark.usefixtures("remote_env")
def test_a_server_that_is_down_is_one_error(ws):
    ws.write("f.txt", "f")
    ws.artver("add", "f.txt")
    S3Backend(f"http://127.0.0.1:{free_port()}", "bucket").add_to(ws)
    assert_error(ws.artver("status", "-c", expect=1), "cannot reach remote 'origin'")
