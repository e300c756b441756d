"""`artver replay STAGE --rev REV`: a past stage re-run from Git's record, away from the
workspace, compared with that revision's lock."""

from __future__ import annotations

import json

from tests.reproducibility_helpers import PREP, scratch_left, setup_pipeline, tree_state
from tests.test_bad_input import assert_error


def two_versions(ws) -> None:
    """v1: the pipeline as first run; then the script, params and data change and run."""
    setup_pipeline(ws, commit=False)
    ws.commit("v1", tag="v1")
    ws.write("src/prep.py", PREP.replace("rows {len(rows)}", "ROWS {len(rows)}"))
    ws.write("params.yaml", "prep:\n  k: 2\n")
    ws.write("data/raw.csv", "a\nb\nc\nd\n")
    ws.artver("repro")
    ws.commit("v2")


def test_replay_reruns_the_stage_as_the_revision_recorded_it(ws, tmp_path):
    two_versions(ws)
    before = tree_state(ws.root)
    target = tmp_path / "replayed"
    res = ws.artver("replay", "prep", "--rev", "v1", "--env", "current", "-o", str(target))
    assert res.stdout.splitlines() == [
        "prep: deterministic (4 files identical)",
        f"Outputs of prep at v1 are in {target}",
    ]
    assert (target / "summary.txt").read_bytes() == b"rows 3\nk 1\nseed 7\n"
    assert (target / "out" / "part0.txt").read_bytes() == b"0:3\n"
    assert tree_state(ws.root) == before, "the workspace is never touched"
    assert ws.git("status", "--porcelain") == ""
    assert scratch_left(ws) == []


def test_replay_default_dir_json_and_a_nondeterministic_stage(ws):
    two_versions(ws)
    res = ws.artver("replay", "noisy", "--rev", "HEAD~1", "--json", expect=1)
    doc = json.loads(res.stdout)
    assert doc["status"] == "differs" and doc["env"] == "current" and doc["rev"] == "HEAD~1"
    (comparison,) = doc["comparisons"]
    assert [d["path"] for d in comparison["differences"]] == ["nout/sub/random.bin"]
    out_dir = ws.root / ".artver" / "tmp" / "replay"
    (made,) = list(out_dir.iterdir())
    assert doc["output_dir"] == str(made)
    assert (made / "nout" / "a.bin").read_bytes() == b"same bytes"
    assert ws.git("status", "--porcelain") == ""


def test_bad_input(ws, tmp_path):
    two_versions(ws)
    text = (ws.root / "artver.yaml").read_text()
    ws.write("artver.yaml", text + "  fresh:\n    cmd: echo hi > f.txt\n    outs: [f.txt]\n")
    ws.commit("a stage that never ran")
    state = tree_state(ws.root)
    assert_error(ws.artver("replay", "prep", "--rev", "nope", expect=1), "unknown Git revision")
    assert_error(
        ws.artver("replay", "fresh", "--rev", "v1", expect=1),
        "stage 'fresh' does not exist at v1",
        "noisy, prep, report",
    )
    assert_error(
        ws.artver("replay", "fresh", "--rev", "HEAD", expect=1), "stage fresh never ran at HEAD"
    )
    assert_error(
        ws.artver("replay", "prep", "--rev", "v1", "--env", "recreate", expect=1),
        "cannot recreate the environment of stage prep",
        "no Python package list",
        "--env current",
    )
    assert_error(
        ws.artver("replay", "prep", "--rev", "v1", "-o", "inside", expect=1),
        "inside the work tree",
    )
    assert_error(
        ws.artver("replay", "prep", "--rev", "v1", "--env", "sometimes", expect=1),
        "--env must be recreate or current",
    )
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "x").write_text("x")
    assert_error(
        ws.artver("replay", "prep", "--rev", "v1", "-o", str(tmp_path / "full"), expect=1),
        "not an empty directory",
    )
    assert tree_state(ws.root) == state
    assert not (ws.root / ".artver" / "tmp" / "replay").exists() or not any(
        (ws.root / ".artver" / "tmp" / "replay").iterdir()
    )


def test_a_revision_given_by_its_sha_is_named_once():
    from artver.ops.replay import describe_commit

    sha = "3f2a9c1e" + "0" * 32
    assert describe_commit("v1", sha) == "v1 (commit 3f2a9c1e)"
    assert describe_commit("3F2A9C1E", sha) == "commit 3f2a9c1e"
    assert describe_commit(sha, sha) == "commit 3f2a9c1e"
