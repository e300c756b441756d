"""`artver verify`: re-run stages away from the workspace and name exactly the files that
differ from the lock."""

from __future__ import annotations

import json

from artver.stages.determinism import (
    Difference,
    changed_with_same_inputs,
    compare,
    first_difference,
)
from artver.stages.lock import LockEntry, Recorded
from artver.stages.schema import Out, Stage
from tests.conftest import xxh
from tests.reproducibility_helpers import (
    PY,
    scratch_left,
    setup_pipeline,
    tree_state,
    write_pipeline,
)
from tests.test_bad_input import assert_error


# -- pure decisions --------------------------------------------------------------------------------
def test_compare_names_changed_missing_and_extra_files():
    recorded = {"d/a": ("1", 3), "d/b": ("2", 4), "d/gone": ("3", 1)}
    produced = {"d/a": ("1", 3), "d/b": ("9", 5), "d/new": ("4", 2)}
    found = [
        (d.path, d.kind, d.recorded_size, d.produced_size) for d in compare(recorded, produced)
    ]
    assert found == [
        ("d/b", "changed", 4, 5),
        ("d/gone", "missing", 1, None),
        ("d/new", "extra", None, 2),
    ]
    assert compare(recorded, dict(recorded)) == []


def test_first_difference_of_two_texts():
    assert first_difference(b"a\nb\nc\n", b"a\nB\nc\n") == (2, "b", "B")
    assert first_difference(b"a\nb\n", b"a\nb\nc\n") == (3, "", "c")
    assert first_difference(b"a\nb", b"a\nb\n") == (3, "(end of file)", "")
    assert first_difference(b"same", b"same") is None
    assert first_difference(b"\x00\x01", b"\x00\x02") is None, "binary: no line"
    long_a, long_b = "x" * 200, "x" * 199 + "y"
    number, old, new = first_difference(long_a.encode(), long_b.encode())
    assert number == 1 and len(old) == len(new) == 80 and old.endswith("...")


def _entry(oid_out: str, dep_oid: str = "d1", cmd: str = "run") -> LockEntry:
    return LockEntry(
        cmd=[cmd],
        deps=[Recorded("in.txt", dep_oid)],
        params={"params.yaml": {"k": 1}},
        outs=[Recorded("o.txt", oid_out), Recorded("log", "l1")],
        env={"fingerprint": "f"},
        seed=1,
    )


def test_repro_warns_only_when_identical_inputs_gave_other_outputs():
    stage = Stage("s", ("run",), "", "artver.yaml", outs=(Out("o.txt"), Out("log", persist=True)))
    assert changed_with_same_inputs(stage, _entry("a"), _entry("b")) == ["o.txt"]
    assert changed_with_same_inputs(stage, _entry("a"), _entry("a")) == []
    assert changed_with_same_inputs(stage, _entry("a"), _entry("b", dep_oid="d2")) == []
    assert changed_with_same_inputs(stage, _entry("a"), _entry("b", cmd="other")) == []
    assert changed_with_same_inputs(stage, None, _entry("b")) == []
    persist_changed = _entry("a")
    persist_changed.outs[1] = Recorded("log", "l2")
    assert changed_with_same_inputs(stage, _entry("a"), persist_changed) == []
    always = stage._replace(always_changed=True)
    assert changed_with_same_inputs(always, _entry("a"), _entry("b")) == []
    assert Difference("p", "changed", 1, 2).to_dict()["recorded_size"] == 1


# -- on a real pipeline ----------------------------------------------------------------------------
def test_verify_names_exactly_the_files_that_differ_and_touches_nothing(ws):
    setup_pipeline(ws)
    before = tree_state(ws.root)
    cache_before = sorted(p.name for p in (ws.root / ".artver" / "cache").rglob("*"))
    res = ws.artver("verify", expect=1)
    lines = res.stdout.splitlines()
    assert "prep: deterministic (4 files identical)" in lines
    noisy = lines.index("noisy: the run differs from the lock in 1 of 4 files")
    assert lines[noisy + 1] == "  nout/sub/random.bin: differs (32 B recorded, 32 B produced)"
    report = lines.index("report: the run differs from the lock in 1 of 1 file")
    assert lines[report + 1] == "  report.txt: differs (" + lines[report + 1].split("(", 1)[1]
    assert lines[report + 2].startswith("    line 3: recorded 'at ")
    assert len(lines) == 6, res.stdout  # nothing else is named
    assert tree_state(ws.root) == before, "workspace bytes and mtimes unchanged"
    assert ws.git("status", "--porcelain") == ""
    assert scratch_left(ws) == []
    cache_after = sorted(p.name for p in (ws.root / ".artver" / "cache").rglob("*"))
    assert set(cache_before) <= set(cache_after)


def test_verify_one_stage_with_runs_and_json(ws):
    setup_pipeline(ws)
    ok = ws.artver("verify", "prep", "--runs", "2")
    assert ok.stdout == "prep: deterministic (4 files identical, 2 runs)\n"
    res = ws.artver("verify", "noisy", "--runs", "2", "--json", expect=1)
    doc = json.loads(res.stdout)
    assert doc["deterministic"] is False
    (stage,) = doc["stages"]
    assert stage["stage"] == "noisy" and stage["status"] == "differs" and stage["files"] == 4
    named = {
        (c["run"], c["against"]): [d["path"] for d in c["differences"]]
        for c in stage["comparisons"]
    }
    assert named == {
        (1, "lock"): ["nout/sub/random.bin"],
        (2, "lock"): ["nout/sub/random.bin"],
        (2, "run 1"): ["nout/sub/random.bin"],
    }
    text = ws.artver("verify", "noisy", "--runs", "2", expect=1).stdout
    assert "noisy: run 2 differs from run 1 in 1 file" in text


def test_verify_runs_the_recorded_deps_and_params_not_the_workspaces(ws):
    setup_pipeline(ws)
    ws.write("src/prep.py", "raise SystemExit('edited since the run')\n")
    ws.write("params.yaml", "prep:\n  k: 2\n")
    ws.write("data/raw.csv", "changed\n")
    before = tree_state(ws.root)
    res = ws.artver("verify", "prep")
    assert res.stdout == "prep: deterministic (4 files identical)\n"
    assert tree_state(ws.root) == before


def test_verify_says_when_the_environment_differs_first(ws):
    ws.write("src/e.py", "open('o.txt', 'w').write('x')\n")
    write_pipeline(
        ws,
        "stages:\n  e:\n    cmd: PY src/e.py\n    deps: [src/e.py]\n    outs: [o.txt]\n"
        "    env: {vars: [VERIFY_TEST_VAR]}\n",
    )
    ws.artver("repro", env={"VERIFY_TEST_VAR": "one"})
    res = ws.artver("verify", env={"VERIFY_TEST_VAR": "two"})
    assert res.stdout.splitlines() == [
        "e: environment differs from the recorded one (env var VERIFY_TEST_VAR 'one' -> 'two'): "
        "the result is evidence, not proof",
        "e: deterministic (1 file identical)",
    ]
    same = ws.artver("verify", env={"VERIFY_TEST_VAR": "one"})
    assert same.stdout == "e: deterministic (1 file identical)\n"


def test_persist_outs_start_empty_and_are_not_compared_with_the_lock(ws):
    ws.write("src/p.py", "open('log.txt', 'a').write('run\\n')\nopen('o.txt', 'w').write('o')\n")
    write_pipeline(
        ws,
        "stages:\n  p:\n    cmd: PY src/p.py\n    deps: [src/p.py]\n"
        "    outs: [o.txt, {path: log.txt, persist: true}]\n"
        "  only:\n    cmd: PY src/p.py\n    deps: [src/p.py]\n"
        "    outs: [{path: log.txt, persist: true}]\n    wdir: sub\n",
    )
    (ws.root / "sub" / "src").mkdir(parents=True)
    ws.write("sub/src/p.py", "open('log.txt', 'a').write('run\\n')\n")
    ws.artver("repro")
    ws.artver("repro", "-f", "p")
    res = ws.artver("verify", "--runs", "1")
    assert res.stdout.splitlines() == [
        "only: not verified (every out is persist: a fresh run cannot be compared with the lock)",
        "p: deterministic (1 file identical); not compared with the lock: log.txt (persist)",
    ]
    assert_error(ws.artver("verify", "only", expect=1), "stage only", "persist", "--runs 2")
    both = ws.artver("verify", "only", "--runs", "2")
    assert both.stdout.startswith("only: deterministic (0 files identical, 2 runs)")


def test_deps_missing_from_the_cache_come_from_the_remote(ws, tmp_path):
    setup_pipeline(ws)
    ws.git("rm", "-q", "--cached", "data/raw.csv")  # committed to Git: `add` refuses it there
    ws.artver("add", "data/raw.csv")
    ws.artver("repro", "-f", "prep")  # the dep is now a tracked file
    remote = tmp_path / "store"
    ws.artver("remote", "add", "-d", "store", str(remote))
    ws.artver("push")
    ws.commit("tracked data")
    oid = xxh(b"a\nb\nc\n")
    ws.cache_object(oid).unlink()
    ws.write("data/raw.csv", "edited\n")  # not a source any more either
    res = ws.artver("verify", "prep")
    assert res.stdout == "prep: deterministic (4 files identical)\n"
    assert ws.cache_object(oid).read_bytes() == b"a\nb\nc\n"


def test_bad_input(ws, tmp_path):
    setup_pipeline(ws, commit=False)
    ws.artver("add", "data/raw.csv")  # tracked by artver: in neither Git nor a remote
    ws.artver("repro", "-f", "prep")
    ws.commit("pipeline")
    assert_error(ws.artver("verify", "nope", expect=1), "no stage named 'nope'")
    assert_error(ws.artver("verify", "--runs", "0", expect=1), "--runs must be at least 1")
    ws.write("src/new.py", "open('n.txt', 'w')\n")
    pipeline = (ws.root / "artver.yaml").read_text()
    ws.write(
        "artver.yaml",
        pipeline + f"  new:\n    cmd: {PY} src/new.py\n    deps: [src/new.py]\n    outs: [n.txt]\n",
    )
    assert_error(ws.artver("verify", "new", expect=1), "stage new has never run", "repro new")
    (ws.root / "artver.yaml").write_text(pipeline)
    (ws.root / "src" / "new.py").unlink()
    # A dep in neither the cache, the workspace, Git nor the remote.
    oid = xxh(b"a\nb\nc\n")
    ws.cache_object(oid).unlink()
    ws.write("data/raw.csv", "edited\n")
    state = tree_state(ws.root)
    no_remote = ws.artver("verify", "prep", expect=1)
    assert_error(no_remote, "data/raw.csv", oid, "no default remote is set")
    ws.artver("remote", "add", "-d", "store", str(tmp_path / "empty"))
    res = ws.artver("verify", "prep", expect=1)
    assert_error(res, "data/raw.csv", oid, "a dep of stage prep", "remote 'store'")
    assert tree_state(ws.root) == state
    assert scratch_left(ws) == []
