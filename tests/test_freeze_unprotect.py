"""`artver freeze`/`unfreeze` and `artver unprotect`, driven through the real CLI."""

from __future__ import annotations

import json
import os

import pytest

from tests.conftest import Workspace, xxh
from tests.test_bad_input import assert_error

PIPELINE = """\
# the team's pipeline
stages:
  prepare:  # split the raw data
    cmd: cp raw.txt prepared.txt
    deps:
      - raw.txt
    outs:
      - prepared.txt

  shard:
    foreach: [a, b]
    do:
      cmd: echo ${item} > shard-${item}.txt
      outs:
        - shard-${item}.txt
  grid:
    matrix:
      lr: [1, 2]
    cmd: echo ${item.lr} > grid-${item.lr}.txt
    outs:
      - grid-${item.lr}.txt
"""


@pytest.fixture
def pipeline(ws: Workspace) -> Workspace:
    ws.write("raw.txt", "raw\n")
    ws.write("artver.yaml", PIPELINE)
    return ws


def frozen_stages(ws: Workspace) -> set[str]:
    stages = json.loads(ws.artver("stage", "list", "--json").stdout)["stages"]
    return {s["name"] for s in stages if s["frozen"]}


# -- freeze / unfreeze -----------------------------------------------------------------------------
def test_freeze_and_unfreeze_a_stage_keep_the_rest_of_the_file(pipeline):
    res = pipeline.artver("freeze", "prepare")
    text = pipeline.read("artver.yaml").decode()
    assert text == PIPELINE.replace(
        "    cmd: cp raw.txt prepared.txt\n", "    cmd: cp raw.txt prepared.txt\n    frozen: true\n"
    )
    assert frozen_stages(pipeline) == {"prepare"}
    assert "Froze stage prepare (artver.yaml)" in res.stderr
    assert "git add artver.yaml" in res.stderr
    pipeline.artver("repro")
    assert not (pipeline.root / "prepared.txt").exists()  # repro does not run a frozen stage
    again = pipeline.artver("freeze", "prepare")
    assert "Stage prepare is already frozen" in again.stderr
    pipeline.artver("unfreeze", "prepare")
    assert pipeline.read("artver.yaml").decode() == PIPELINE
    assert frozen_stages(pipeline) == set()
    assert "Stage prepare is not frozen" in pipeline.artver("unfreeze", "prepare").stderr


def test_freeze_a_foreach_or_matrix_entry_as_a_whole(pipeline):
    pipeline.artver("freeze", "shard", "grid")
    assert frozen_stages(pipeline) == {"shard@a", "shard@b", "grid@1", "grid@2"}
    text = pipeline.read("artver.yaml").decode()
    assert "      cmd: echo ${item} > shard-${item}.txt\n      frozen: true\n" in text  # in `do`
    assert "    cmd: echo ${item.lr} > grid-${item.lr}.txt\n    frozen: true\n" in text
    pipeline.artver("unfreeze", "shard", "grid")
    assert pipeline.read("artver.yaml").decode() == PIPELINE


def test_freeze_one_generated_stage_is_refused(pipeline):
    before = pipeline.snapshot()
    res = pipeline.artver("freeze", "shard@a", expect=None)
    assert_error(res, "cannot freeze shard@a alone", "artver freeze shard")
    assert pipeline.snapshot() == before


def test_freeze_an_unknown_stage_names_the_known_ones(pipeline):
    before = pipeline.snapshot()
    res = pipeline.artver("freeze", "prepare", "trian", expect=None)
    assert_error(res, "no stage named 'trian'", "prepare", "shard (shard@a, shard@b)", "grid")
    assert pipeline.snapshot() == before  # prepare, named first, was not frozen either
    res = pipeline.artver("unfreeze", "nope", expect=None)
    assert_error(res, "no stage named 'nope'")


def test_freeze_without_a_pipeline(ws):
    res = ws.artver("freeze", "train", expect=None)
    assert_error(res, "no stage named 'train'", "no artver.yaml defines any")


def test_freeze_needs_a_stage(ws):
    assert "Missing argument" in ws.artver("freeze", expect=2).stderr
    assert "Missing argument" in ws.artver("unfreeze", expect=2).stderr


# -- unprotect -------------------------------------------------------------------------------------
@pytest.fixture(params=["hardlink", "symlink"])
def linked(ws: Workspace, request) -> Workspace:
    ws.artver("config", "cache.type", f"{request.param},copy")
    ws.write("data/a.txt", "alpha\n")
    ws.write("data/run.sh", "#!/bin/sh\necho hi\n")
    os.chmod(ws.root / "data/run.sh", 0o755)
    ws.write("data/sub/b.txt", "beta\n")
    ws.write("model.bin", "weights")
    ws.artver("add", "data", "model.bin")
    ws.link_type = request.param
    return ws


def is_linked(path) -> bool:
    return path.is_symlink() or os.stat(path).st_nlink > 1


def test_unprotect_makes_independent_writable_copies(linked):
    model = linked.root / "model.bin"
    assert is_linked(model)
    res = linked.artver("unprotect", "model.bin")
    assert not is_linked(model) and os.stat(model).st_mode & 0o200
    assert "Unprotected model.bin (1 file now a writable copy)" in res.stderr
    assert linked.artver("status", "model.bin").stdout.strip() == "Data is up to date."
    with open(model, "ab") as f:  # edit in place
        f.write(b" v2")
    assert linked.cache_object(xxh(b"weights")).read_bytes() == b"weights"
    assert "model.bin: modified" in linked.artver("status", "model.bin").stdout


def test_unprotect_a_directory_or_one_file_inside_it(linked):
    data = linked.root / "data"
    linked.artver("unprotect", "data/sub/b.txt")
    assert not is_linked(data / "sub/b.txt")
    assert is_linked(data / "a.txt")  # only what was named
    res = linked.artver("unprotect", "data")
    assert "Unprotected data (2 files now writable copies)" in res.stderr
    assert not any(is_linked(p) for p in data.rglob("*") if p.is_file())
    assert os.stat(data / "run.sh").st_mode & 0o111  # executable as recorded
    assert linked.files("data") == {
        "a.txt": b"alpha\n",
        "run.sh": b"#!/bin/sh\necho hi\n",
        "sub/b.txt": b"beta\n",
    }
    (data / "a.txt").write_bytes(b"edited\n")
    assert linked.cache_object(xxh(b"alpha\n")).read_bytes() == b"alpha\n"
    again = linked.artver("unprotect", "data")
    assert "data is already writable (3 files, no links)" in again.stderr


def test_unprotect_a_stage_output(ws):
    ws.artver("config", "cache.type", "hardlink,copy")
    ws.write("artver.yaml", "stages:\n  s:\n    cmd: echo out > out.txt\n    outs: [out.txt]\n")
    ws.artver("repro")
    ws.artver("checkout", "--relink")
    assert is_linked(ws.root / "out.txt")
    ws.artver("unprotect", "out.txt")
    assert not is_linked(ws.root / "out.txt")


@pytest.mark.parametrize(
    ("target", "fragments"),
    [
        ("data/missing.txt", ("data/missing.txt", "no such file or directory")),
        ("gone.bin", ("gone.bin", "no such file or directory", "artver checkout gone.bin")),
        ("notes.txt", ("notes.txt", "not tracked by artver")),
        ("../elsewhere", ("outside the repository",)),
    ],
)
def test_unprotect_refusals_change_nothing(linked, target, fragments):
    linked.write("gone.bin", "g")
    linked.artver("add", "gone.bin")
    (linked.root / "gone.bin").unlink()
    linked.write("notes.txt", "mine")
    before = linked.snapshot()
    links = {p for p in linked.root.rglob("*") if p.is_file() and is_linked(p)}
    res = linked.artver("unprotect", "model.bin", target, expect=None)
    assert_error(res, *fragments)
    assert linked.snapshot() == before
    assert {p for p in linked.root.rglob("*") if p.is_file() and is_linked(p)} == links


def test_unprotect_needs_a_target(ws):
    assert "Missing argument" in ws.artver("unprotect", expect=2).stderr
