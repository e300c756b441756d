"""`artver lineage`: from an output back to its raw inputs, at any revision, on real Git repos
whose three-stage pipeline was re-run and committed several times."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import pytest

from artver.ops.lineage import (
    Data,
    env_summary,
    find_cycle,
    package_changes,
    to_dict,
    to_dot,
    to_mermaid,
    trace,
)
from artver.ops.lock_history import Unsupported, last_change, parse_block, split_stages
from artver.stages.schema import parse_file
from artver.yamlio import load_yaml
from tests.conftest import GIT_ENV, Workspace
from tests.test_bad_input import assert_error
from tests.test_pipeline import write_pipeline

PIPELINE = """\
stages:
  prepare:
    cmd: PY src/prepare.py
    deps: [src/prepare.py, data/raw.csv]
    outs: [data/prepared]
  train:
    cmd: PY src/train.py
    deps: [src/train.py, data/prepared]
    params: [train.lr]
    outs: [model.pkl]
    seed: 1234
  report:
    cmd: PY src/report.py
    deps: [model.pkl]
    outs: [report.txt]
"""
PREPARE = """\
import os
os.makedirs("data/prepared", exist_ok=True)
rows = open("data/raw.csv").read().splitlines()
open("data/prepared/rows.txt", "w").write(str(len(rows)))
open("data/prepared/first.txt", "w").write(rows[0])
"""
TRAIN = """\
lr = [l.split(":")[1].strip() for l in open("params.yaml") if l.strip().startswith("lr:")][0]
rows = open("data/prepared/rows.txt").read()
open("model.pkl", "w").write(f"model rows={rows} lr={lr}")
"""
REPORT = 'open("report.txt", "w").write(open("model.pkl").read().upper())\n'


def _env(home) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("GIT_", "ARTVER_")) and k not in ("NO_COLOR", "FORCE_COLOR")
    }
    return {**env, **GIT_ENV, "HOME": str(home)}


@pytest.fixture(scope="module")
def history_template(tmp_path_factory):
    """A repo built once per module: c1 runs the pipeline, c2 changes train.lr and re-runs,
    c3 adds a row to the raw data and re-runs. Tests work on copies of it."""
    home = tmp_path_factory.mktemp("home")
    root = tmp_path_factory.mktemp("template") / "repo"
    root.mkdir()
    env = _env(home)

    def sh(*args: str) -> str:
        done = subprocess.run(args, cwd=root, env=env, capture_output=True, text=True)
        assert done.returncode == 0, done.stdout + done.stderr
        return done.stdout

    def artver(*args: str) -> str:
        return sh(sys.executable, "-m", "artver", *args)

    def commit(message: str) -> str:
        sh("git", "add", "-A")
        sh("git", "commit", "-q", "--no-verify", "-m", message)
        return sh("git", "rev-parse", "HEAD").strip()

    sh("git", "init", "-q", "-b", "main")
    artver("init")
    ws = Workspace(root)
    ws.write("src/prepare.py", PREPARE)
    ws.write("src/train.py", TRAIN)
    ws.write("src/report.py", REPORT)
    ws.write("params.yaml", "train:\n  lr: 0.1\n")
    ws.write("data/raw.csv", "a\nb\nc\n")
    write_pipeline(ws, PIPELINE)
    artver("add", "data/raw.csv")
    artver("repro")
    c1 = commit("first run")
    ws.write("params.yaml", "train:\n  lr: 0.2\n")
    artver("repro")
    c2 = commit("lr 0.2")
    ws.write("data/raw.csv", "a\nb\nc\nd\n")
    artver("add", "data/raw.csv")
    artver("repro")
    c3 = commit("more rows")
    return root, {"c1": c1, "c2": c2, "c3": c3}


@pytest.fixture
def hist(history_template, tmp_path):
    src, shas = history_template
    root = tmp_path / "repo"
    shutil.copytree(src, root, symlinks=True)
    return Workspace(root), shas


def blob_yaml(ws: Workspace, rev: str, path: str) -> dict:
    return load_yaml(ws.git("show", f"{rev}:{path}"))


def lineage_json(ws: Workspace, *args: str) -> dict:
    return json.loads(ws.artver("lineage", *args, "--json").stdout)


# -- against real histories ------------------------------------------------------------------
def test_lineage_at_head_goes_back_to_the_raw_data_with_commits_and_oids(hist):
    ws, shas = hist
    doc = lineage_json(ws, "report.txt", "--rev", "HEAD")
    assert doc["commit"] == shas["c3"] and doc["produced_by"] == "report"
    assert [s["name"] for s in doc["stages"]] == ["report", "train", "prepare"]
    lock = blob_yaml(ws, "HEAD", "artver.lock")["stages"]
    by_name = {s["name"]: s for s in doc["stages"]}
    for name, stage in by_name.items():
        assert stage["changed_in"]["commit"] == shas["c3"]  # new rows re-ran every stage
        assert stage["cmd"] == [lock[name]["cmd"]]
        assert {d["path"]: d["oid"] for d in stage["deps"]} == {
            d["path"]: d["oid"] for d in lock[name]["deps"]
        }
    train = by_name["train"]
    assert train["params"] == {"params.yaml": {"train.lr": 0.2}} and train["seed"] == 1234
    kinds = {d["path"]: (d["kind"], d["from"]) for d in train["deps"]}
    assert kinds == {"data/prepared": ("stage", ["prepare"]), "src/train.py": ("git", [])}
    pointer = blob_yaml(ws, "HEAD", "data/raw.csv.artver")["outs"][0]
    (raw,) = doc["data"]
    assert raw["path"] == "data/raw.csv" and raw["pointer"] == "data/raw.csv.artver"
    assert raw["oid"] == pointer["oid"] and raw["size"] == pointer["size"]
    assert raw["changed_in"]["commit"] == shas["c3"]
    assert raw["changed_in"]["subject"] == "more rows"
    assert ["data:data/raw.csv", "stage:prepare"] in doc["edges"]
    assert ["stage:report", "target"] in doc["edges"]


def test_lineage_at_an_older_revision_reads_git_without_checking_out(hist):
    ws, shas = hist
    before = ws.snapshot()
    head = ws.git("rev-parse", "HEAD")
    doc = lineage_json(ws, "model.pkl", "--rev", "HEAD~1")
    assert doc["rev"] == "HEAD~1" and doc["commit"] == shas["c2"]
    changed = {s["name"]: s["changed_in"]["commit"] for s in doc["stages"]}
    assert changed == {"train": shas["c2"], "prepare": shas["c1"]}
    assert doc["data"][0]["changed_in"]["commit"] == shas["c1"]
    old = blob_yaml(ws, shas["c2"], "artver.lock")["stages"]["train"]
    train = doc["stages"][0]
    assert train["outs"][0]["oid"] == old["outs"][0]["oid"]
    assert train["params"] == {"params.yaml": {"train.lr": 0.2}}
    first = lineage_json(ws, "model.pkl", "--rev", shas["c1"][:10])["stages"][0]
    assert first["params"] == {"params.yaml": {"train.lr": 0.1}}
    assert first["changed_in"]["commit"] == shas["c1"]
    assert ws.snapshot() == before and ws.git("rev-parse", "HEAD") == head


def test_text_output_names_each_stage_its_command_and_commit(hist):
    ws, shas = hist
    text = ws.artver("lineage", "model.pkl", "--rev", "HEAD~1").stdout
    assert text.startswith(f"model.pkl: output of stage train at HEAD~1 ({shas['c2'][:8]})")
    train, prepare, data = text.split("\n\n")[1:]
    assert train.startswith("stage train (artver.yaml)")
    assert f"changed   {shas['c2'][:8]} " in train and train.rstrip().count("\n") >= 4
    assert "lr 0.2" in train and "params    params.yaml: train.lr=0.2" in train
    assert "seed      1234" in train and "src/train.py" in train and "(in Git)" in train
    assert "<- stage prepare" in train
    assert f"changed   {shas['c1'][:8]} " in prepare and "<- data data/raw.csv" in prepare
    assert data.startswith("data data/raw.csv") and "pointer   data/raw.csv.artver" in data


def test_a_file_inside_an_output_directory(hist):
    ws, _ = hist
    doc = lineage_json(ws, "data/prepared/rows.txt")
    assert doc["target"] == "data/prepared/rows.txt" and doc["artifact"] == "data/prepared"
    assert doc["produced_by"] == "prepare" and doc["rev"] == "workspace"
    assert [s["name"] for s in doc["stages"]] == ["prepare"]
    text = ws.artver("lineage", "rows.txt", cwd=ws.root / "data" / "prepared").stdout
    assert text.startswith("data/prepared/rows.txt (inside data/prepared): output of stage prepare")


def test_mermaid_and_dot_draw_every_node(hist):
    ws, _ = hist
    mermaid = ws.artver("lineage", "report.txt", "--mermaid").stdout
    assert mermaid.startswith("flowchart LR\n")
    for label in (
        '[("data/raw.csv")]',
        '["prepare"]',
        '["train"]',
        '["report"]',
        '(["report.txt"])',
    ):
        assert label in mermaid
    assert mermaid.count("-->") == 4
    dot = ws.artver("lineage", "report.txt", "--dot").stdout
    assert dot.startswith("strict digraph lineage {")
    assert '"data:data/raw.csv" -> "stage:prepare";' in dot
    assert '"stage:train" -> "stage:report";' in dot
    assert '"target" [label="report.txt", shape=note];' in dot


def test_workspace_lineage_marks_entries_not_committed_yet(hist):
    ws, shas = hist
    ws.write("params.yaml", "train:\n  lr: 0.3\n")
    ws.artver("repro")
    doc = lineage_json(ws, "model.pkl")
    train, prepare = doc["stages"]
    assert train["uncommitted"] and train["changed_in"] is None
    assert train["params"] == {"params.yaml": {"train.lr": 0.3}}
    assert not prepare["uncommitted"] and prepare["changed_in"]["commit"] == shas["c3"]
    assert "not committed yet" in ws.artver("lineage", "model.pkl").stdout
    assert lineage_json(ws, "model.pkl", "--rev", "HEAD")["stages"][0]["params"] == {
        "params.yaml": {"train.lr": 0.2}
    }


def test_raw_data_is_its_own_lineage(hist):
    ws, shas = hist
    doc = lineage_json(ws, "data/raw.csv.artver", "--rev", "HEAD~2")
    assert doc["produced_by"] is None and doc["stages"] == []
    assert doc["data"][0]["changed_in"]["commit"] == shas["c1"]


def test_environment_changes_since_the_previous_run_and_observed_hardware(ws):
    """Locks written as a run records them (hand-made here, so the package versions are
    known): the second run upgraded numpy and recorded what it observed."""
    ws.write("params.yaml", "lr: 1\n")
    ws.write(
        "artver.yaml", "stages:\n  fit:\n    cmd: fit\n    outs: [m.bin]\n    env: {python: true}\n"
    )

    def lock(numpy: str, oid: str, extra: str = "") -> str:
        return (
            "schema: 1\nstages:\n  fit:\n    cmd: fit\n    outs:\n    - path: m.bin\n"
            f"      hash: xxh3-128\n      oid: {oid}\n      size: 3\n    env:\n      python:\n"
            "        version: 3.12.1\n        platform: Linux\n        packages:\n"
            f"          numpy: {numpy}\n          pandas: 2.2.0\n{extra}"
        )

    ws.write("artver.lock", lock("1.26.4", "a" * 32))
    first = ws.commit("first fit")
    observed = (
        "    observed:\n      started: '2024-06-01T12:00:00Z'\n      duration: 1.5\n"
        "      cpu:\n        count: 8\n        model: Test CPU\n      memory: 17179869184\n"
    )
    ws.write("artver.lock", lock("2.0.0", "b" * 32, observed))
    ws.commit("numpy 2")
    doc = lineage_json(ws, "m.bin", "--rev", "HEAD")
    env = doc["stages"][0]["env"]
    assert env["python"] == {"version": "3.12.1", "platform": "Linux"}
    assert env["packages"] == 2
    assert env["packages_changed"] == [{"name": "numpy", "old": "1.26.4", "new": "2.0.0"}]
    assert doc["stages"][0]["observed"] == {
        "started": "2024-06-01T12:00:00Z",
        "duration": 1.5,
        "cpu": {"count": 8, "model": "Test CPU"},
        "memory": 17179869184,
    }
    text = ws.artver("lineage", "m.bin", "--rev", "HEAD").stdout
    assert "changed since the previous run: numpy 1.26.4 -> 2.0.0" in text
    assert "observed  started 2024-06-01T12:00:00Z, took 1.5 s\n" in text
    assert "          cpu: count=8, model=Test CPU\n" in text
    assert "          memory: 16.0 GiB\n" in text
    old = lineage_json(ws, "m.bin", "--rev", first)["stages"][0]["env"]
    assert old["previous_run"] is False and old["packages_changed"] is None


# -- bad input -------------------------------------------------------------------------------
def test_bad_input_is_one_message_and_changes_nothing(hist):
    ws, _ = hist
    before = ws.snapshot()
    ws.write("notes.txt", "not tracked")
    before = ws.snapshot()
    assert_error(ws.artver("lineage", "notes.txt", expect=None), "notes.txt", "not tracked")
    res = ws.artver("lineage", "model.pkl", "--rev", "nosuchrev", expect=None)
    assert_error(res, "unknown Git revision 'nosuchrev'")
    res = ws.artver("lineage", "report.txt", "--rev", "HEAD~5", expect=None)
    assert_error(res, "HEAD~5")
    res = ws.artver("lineage", "../outside", expect=None)
    assert_error(res, "outside the repository")
    assert_error(ws.artver("lineage", "x", "--json", "--dot", expect=None), "one of", code=2)
    assert ws.snapshot() == before


def test_a_path_tracked_now_but_not_at_the_revision(hist):
    ws, _ = hist
    ws.write("extra.bin", "x")
    ws.artver("add", "extra.bin")
    ws.commit("extra")
    assert ws.artver("lineage", "extra.bin").stdout.startswith("extra.bin: raw data")
    res = ws.artver("lineage", "extra.bin", "--rev", "HEAD~1", expect=None)
    assert_error(res, "extra.bin", "not tracked by artver at HEAD~1")


# -- pure parts ------------------------------------------------------------------------------
def test_split_stages_keeps_each_entry_as_written():
    text = "schema: 1\nstages:\n  a:\n    cmd: x\n  'b c':\n    cmd: y\n    deps:\n    - path: z\n"
    assert split_stages(text) == {
        "a": "  a:\n    cmd: x\n",
        "b c": "  'b c':\n    cmd: y\n    deps:\n    - path: z\n",
    }
    assert split_stages("stages: {a: {cmd: x}}\n") is None
    assert split_stages("stages:\n- a\n") is None
    assert split_stages("stages:\nschema: 1\n") == {}
    assert split_stages("stages:\n  a: {cmd: x}\n") is None
    assert split_stages("stages:\n   a:\n    cmd: x\n") is None
    assert split_stages("schema: 1\n") is None


def test_last_change_follows_the_parent_holding_the_same_value():
    # d (merge of c and b) <- c <- a ; d <- b <- a ; the value changed in b
    parents = {"d": ["c", "b"], "c": ["a"], "b": ["a"], "a": []}
    values = {"d": 2, "c": 1, "b": 2, "a": 1}
    same = lambda sha: values[sha] == 2  # noqa: E731
    assert last_change(parents.__getitem__, "d", same) == ("b", False)
    assert last_change(parents.__getitem__, "c", lambda s: values[s] == 1) == ("a", False)
    assert last_change(parents.__getitem__, "d", same, shallow={"d"}) == ("d", True)


def test_trace_and_drawings_from_values():
    text = (
        "stages:\n  p:\n    cmd: p\n    deps: [raw]\n    outs: [mid]\n"
        "  q:\n    cmd: q\n    deps: [mid, 'we\"ird']\n    outs: [out/dir]\n"
    )
    stages = {s.name: s for s in parse_file(text, "artver.yaml")}
    entries = {
        "q": {"cmd": "q", "deps": [{"path": "mid", "oid": "1" * 32}], "observed": {"cpu": "x"}},
        "p": {"cmd": "p", "outs": [{"path": "mid", "oid": "2" * 32, "size": 1}]},
    }
    tracked = {"raw": Data("raw", "3" * 32, 5, None, "raw.artver")}
    lin = trace("out/dir/f.txt", stages, entries.get, tracked)
    assert lin.producer == "q" and lin.artifact == "out/dir"
    assert [s.name for s in lin.stages] == ["q", "p"]
    q = lin.stages[0]
    assert [(d.path, d.kind, d.current) for d in q.deps] == [
        ("mid", "stage", "2" * 32),  # q ran on another version than p records now: stale
        ('we"ird', "git", None),
    ]
    assert q.observed == {"cpu": "x"}
    assert lin.stages[1].deps[0].kind == "data" and lin.stages[1].deps[0].oid is None
    assert trace("nowhere", stages, entries.get, tracked) is None
    assert "n2 --> n3" in to_mermaid(lin) and '["q"]' in to_mermaid(lin)
    assert '"stage:p" -> "stage:q";' in to_dot(lin)
    assert to_dict(lin)["edges"] == [
        ["stage:q", "target"],
        ["stage:p", "stage:q"],
        ["data:raw", "stage:p"],
    ]


def test_env_summary_and_package_changes():
    assert package_changes({"a": "1", "b": "2"}, {"b": "3", "c": "1"}) == [
        {"name": "a", "old": "1", "new": None},
        {"name": "b", "old": "2", "new": "3"},
        {"name": "c", "old": None, "new": "1"},
    ]
    env = {
        "python": {"version": "3.12", "packages": {"a": "1"}},
        "fingerprint": "f",
        "vars": {"X": "1"},
    }
    assert env_summary(env, {"python": {"packages": {"a": "1"}}}) == {
        "python": {"version": "3.12"},
        "packages": 1,
        "previous_run": True,
        "packages_changed": [],
        "vars": {"X": "1"},
    }
    assert env_summary(env, {})["packages_changed"] is None
    assert env_summary({}, None) == {}


SCALARS = [
    "plain text",
    "xxh3-128",
    "3.11.7",
    "2026.10.19.post1",
    "1.4.0rc1",
    "0.272",
    "1.50",
    "10",
    "-3",
    "007",
    "yes",
    "no",
    "on",
    "True",
    "y",
    "1e3",
    "1E5",
    "2024-01-01",
    "0x1F",
    "0b101",
    "1_000",
    ".5",
    "12:30",
    "+1",
    "-0",
    "'quoted: yes'",
    "'it''s'",
    "5ec13a7c0d3fb8bd5a645e377674c888",
    "0b10101010101010101",
    "1234567890123456e1",
    "abcdef0123456789abcd.dir",
    "null",
    "~",
    "true",
    "a #comment",
    "a#b",
    '"double"',
    "[a, b]",
    "[]",
    "{}",
    "[1, 'x']",
    "{a: 1}",
    "*alias",
    "&anchor x",
    "!tag x",
    "|",
    ">",
    "@x",
    "`x",
    'python -c "print(1)"',
    "a: b",
    "x:",
]


@pytest.mark.parametrize("value", SCALARS)
def test_parse_block_reads_a_value_as_the_yaml_library_does_or_declines(value):
    for text in (f"k: {value}\n", f"top:\n  - {value}\n  - k: {value}\n    n: 1\n"):
        try:
            expected = load_yaml(text)
        except Exception:  # invalid YAML: the fast reader must decline it
            with pytest.raises(Unsupported):
                parse_block(text)
            continue
        try:
            got = parse_block(text)
        except Unsupported:
            continue
        assert repr(got) == repr(expected), text  # repr: 1, 1.0 and True are equal values


def test_parse_block_reads_the_files_artver_writes(hist):
    ws, _ = hist
    for name in ("artver.lock", "artver.yaml", "data/raw.csv.artver"):
        text = ws.read(name).decode()
        assert parse_block(text) == load_yaml(text), name
    for text in ("a:\n  b: 1\n c: 2\n", "a: 1\na: 2\n", "- - x\n", "a:\n\tb: 1\n", "a: |\n  x\n"):
        with pytest.raises(Unsupported):
            parse_block(text)


def test_find_cycle_and_a_pipeline_with_a_cycle_at_a_revision(ws):
    assert find_cycle([("stage:a", "stage:b"), ("stage:b", "target")]) is None
    edges = [("stage:a", "stage:b"), ("stage:b", "stage:c"), ("stage:c", "stage:a")]
    assert find_cycle(edges) == ["a", "b", "c", "a"]
    ws.write(
        "artver.yaml",
        "stages:\n  a:\n    cmd: a\n    deps: [y]\n    outs: [x]\n"
        "  b:\n    cmd: b\n    deps: [x]\n    outs: [y]\n",
    )
    ws.commit("a cycle")
    res = ws.artver("lineage", "x", "--rev", "HEAD", expect=None)
    assert_error(res, "cycle", "a -> b -> a")
