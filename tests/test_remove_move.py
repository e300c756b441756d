"""`artver remove` and `artver move`, driven through the real CLI on real Git repositories."""

from __future__ import annotations

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
  train:
    cmd: cp prepared.txt model.bin && echo 1 > metrics.json
    deps:
      - prepared.txt
    outs:
      - model.bin
      - metrics.json:
          cache: false
  shard:
    foreach: [a, b]
    do:
      cmd: echo ${item} > shard-${item}.txt
      outs:
        - shard-${item}.txt
"""
PREPARE_ONLY = PIPELINE.split("  train:")[0]


@pytest.fixture
def tracked(ws: Workspace) -> Workspace:
    ws.write("data/a.txt", "alpha\n")
    ws.write("data/sub/b.txt", "beta\n")
    ws.write("model.bin", "weights")
    ws.write(".gitignore", "*.log\n")
    ws.artver("add", "data", "model.bin")
    return ws


@pytest.fixture
def pipeline(ws: Workspace) -> Workspace:
    ws.write("raw.txt", "raw\n")
    ws.write("artver.yaml", PIPELINE)
    ws.artver("repro")
    return ws


def gitignore(ws: Workspace, rel: str = ".gitignore") -> list[str]:
    path = ws.root / rel
    return path.read_text().splitlines() if path.exists() else []


# -- remove ----------------------------------------------------------------------------------------
def test_remove_pointer_keeps_data_and_other_gitignore_lines(tracked):
    res = tracked.artver("remove", "data.artver", "model.bin")
    assert not (tracked.root / "data.artver").exists()
    assert not (tracked.root / "model.bin.artver").exists()
    assert tracked.files("data") == {"a.txt": b"alpha\n", "sub/b.txt": b"beta\n"}
    assert tracked.read("model.bin") == b"weights"
    assert gitignore(tracked) == ["*.log"]
    assert "Removed data.artver" in res.stderr and "Removed model.bin.artver" in res.stderr
    assert "git add .gitignore" in res.stderr
    assert "git rm --cached --ignore-unmatch data.artver model.bin.artver" in res.stderr
    assert tracked.artver("status").stdout.strip() == "Nothing is tracked yet."


def test_remove_deletes_an_emptied_gitignore(ws):
    ws.write("sub/file.bin", "x")
    ws.artver("add", "sub/file.bin")
    ws.artver("remove", "sub/file.bin")
    assert not (ws.root / "sub/.gitignore").exists()
    assert ws.read("sub/file.bin") == b"x"


def test_remove_outs_deletes_cached_data_only(tracked):
    oid = xxh(b"weights")
    res = tracked.artver("remove", "--outs", "model.bin", "data")
    assert not (tracked.root / "model.bin").exists()
    assert not (tracked.root / "data").exists()
    assert tracked.cache_object(oid).read_bytes() == b"weights"  # still in the cache
    assert "Deleted model.bin from the workspace" in res.stderr


def test_remove_outs_refuses_data_the_cache_lacks(tracked):
    tracked.write("data/sub/b.txt", "edited, not recorded\n")
    before = tracked.snapshot()
    res = tracked.artver("remove", "--outs", "model.bin", "data", expect=None)
    assert_error(res, "data/sub/b.txt", "would be lost", "artver commit")
    assert tracked.snapshot() == before


def test_remove_stage_keeps_comments_and_data(pipeline):
    res = pipeline.artver("remove", "train")
    text = pipeline.read("artver.yaml").decode()
    assert "train" not in text
    assert "# the team's pipeline" in text and "# split the raw data" in text
    assert "      - raw.txt" in text  # list indentation as the user wrote it
    assert "train" not in pipeline.read("artver.lock").decode()
    assert "prepare" in pipeline.read("artver.lock").decode()
    assert "/model.bin" not in gitignore(pipeline) and "/prepared.txt" in gitignore(pipeline)
    assert pipeline.read("model.bin") == b"raw\n" and (pipeline.root / "metrics.json").exists()
    assert "Removed stage train from artver.yaml" in res.stderr
    assert "git add .gitignore artver.lock artver.yaml" in res.stderr
    assert "train" not in pipeline.artver("stage", "list").stdout


def test_remove_stage_outs_keeps_outputs_kept_in_git(pipeline):
    res = pipeline.artver("remove", "--outs", "train")
    assert not (pipeline.root / "model.bin").exists()
    assert (pipeline.root / "metrics.json").exists()
    assert "Kept metrics.json" in res.stderr


def test_remove_a_foreach_entry_as_a_whole_not_one_item(pipeline):
    before = pipeline.snapshot()
    res = pipeline.artver("remove", "shard@a", expect=None)
    assert_error(res, "shard@a", "artver remove shard")
    assert pipeline.snapshot() == before
    pipeline.artver("remove", "shard")
    assert "shard" not in pipeline.read("artver.yaml").decode()
    assert "shard" not in pipeline.read("artver.lock").decode()
    assert not {"/shard-a.txt", "/shard-b.txt"} & set(gitignore(pipeline))


def test_removing_every_stage_deletes_the_pipeline_files(pipeline):
    pipeline.artver("remove", "prepare", "train", "shard")
    assert not (pipeline.root / "artver.yaml").exists()
    assert not (pipeline.root / "artver.lock").exists()
    assert pipeline.read("prepared.txt") == b"raw\n"


@pytest.mark.parametrize(
    ("target", "fragments"),
    [
        ("notes.txt", ("notes.txt", "not tracked by artver")),
        ("missing", ("missing", "not tracked by artver")),
        ("data/a.txt", ("data/a.txt", "inside data", "artver remove data")),
        ("prepared.txt", ("output of stage prepare", "artver remove prepare")),
        ("nope@x", ("nope@x", "not tracked")),
        ("../outside", ("outside the repository",)),
    ],
)
def test_remove_something_artver_does_not_track(tracked, target, fragments):
    tracked.write("raw.txt", "raw\n")
    tracked.write("artver.yaml", PREPARE_ONLY)
    tracked.write("notes.txt", "mine")
    before = tracked.snapshot()
    res = tracked.artver("remove", "model.bin", target, expect=None)
    assert_error(res, *fragments)
    assert tracked.snapshot() == before  # model.bin, named first, is still tracked too


def test_remove_needs_a_target(ws):
    res = ws.artver("remove", expect=2)
    assert "Missing argument" in res.stderr


# -- move ------------------------------------------------------------------------------------------
def test_move_a_file_into_another_directory(tracked):
    (tracked.root / "models").mkdir()
    res = tracked.artver("move", "model.bin", "models")
    assert tracked.read("models/model.bin") == b"weights"
    assert not (tracked.root / "model.bin").exists()
    assert not (tracked.root / "model.bin.artver").exists()
    pointer = tracked.read("models/model.bin.artver").decode()
    assert "path: model.bin\n" in pointer and xxh(b"weights") in pointer
    assert gitignore(tracked) == ["*.log", "/data"]
    assert gitignore(tracked, "models/.gitignore") == ["/model.bin"]
    assert "Moved model.bin to models/model.bin" in res.stderr
    assert "git add .gitignore models/.gitignore models/model.bin.artver" in res.stderr
    assert "git rm --cached --ignore-unmatch model.bin.artver" in res.stderr
    assert tracked.artver("status").stdout.strip() == "Data is up to date."


def test_move_renames_a_directory_and_keeps_pointer_fields(tracked):
    text = (
        tracked.read("data.artver").decode().replace("  nfiles:", "  desc: the corpus\n  nfiles:")
    )
    tracked.write("data.artver", "# hand-written note\n" + text)
    tracked.artver("move", "data", "corpus")
    assert tracked.files("corpus") == {"a.txt": b"alpha\n", "sub/b.txt": b"beta\n"}
    pointer = tracked.read("corpus.artver").decode()
    assert "path: corpus" in pointer and "desc: the corpus" in pointer
    assert "/corpus" in gitignore(tracked) and "/data" not in gitignore(tracked)
    assert tracked.artver("status").stdout.strip() == "Data is up to date."
    tracked.artver("checkout")  # nothing to do: the moved files are as recorded
    assert tracked.files("corpus") == {"a.txt": b"alpha\n", "sub/b.txt": b"beta\n"}


def test_move_by_pointer_file_to_a_new_subdirectory(tracked):
    tracked.artver("move", "model.bin.artver", "deep/er/weights.bin")
    assert tracked.read("deep/er/weights.bin") == b"weights"
    assert "path: weights.bin" in tracked.read("deep/er/weights.bin.artver").decode()
    assert gitignore(tracked, "deep/er/.gitignore") == ["/weights.bin"]


@pytest.mark.parametrize(
    ("src", "dst", "fragments"),
    [
        ("notes.txt", "elsewhere.txt", ("notes.txt", "not tracked by artver")),
        ("model.bin", "notes.txt", ("notes.txt", "already exists")),
        ("model.bin", "data", ("data/model.bin", "inside data", "tracked twice")),
        ("model.bin", "../outside.bin", ("outside the repository",)),
        ("data/a.txt", "a.txt", ("inside data", "tracks as a whole")),
        ("data", "data/sub/inner", ("inside data",)),
        ("prepared.txt", "p.txt", ("output of stage prepare", "artver.yaml")),
        ("model.bin", "prepared.txt", ("prepared.txt", "already exists")),
        ("model.bin", "model.bin", ("where the data already is",)),
        ("model.bin", "new.artver", ("ends in .artver",)),
        ("model.bin", "notes.txt/x.bin", ("notes.txt is not a directory",)),
    ],
)
def test_move_refusals_change_nothing(tracked, src, dst, fragments):
    tracked.write("raw.txt", "raw\n")
    tracked.write("artver.yaml", PREPARE_ONLY)
    tracked.artver("repro")
    tracked.write("notes.txt", "mine")
    before = tracked.snapshot()
    res = tracked.artver("move", src, dst, expect=None)
    assert_error(res, *fragments)
    assert tracked.snapshot() == before


def test_move_needs_two_arguments(tracked):
    res = tracked.artver("move", "model.bin", expect=2)
    assert "Missing argument" in res.stderr
