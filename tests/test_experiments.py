"""`artver exp ...` driven through the real CLI against real Git repositories.

What a user sees: the workspace untouched by a run, the experiment as a commit under
refs/artver/exps/, the table, the files `apply` writes, refs on a Git remote.
"""

from __future__ import annotations

import csv
import io
import json
import sys

import pytest

from tests.conftest import Workspace, git

# A stage that reads params.yaml and writes a metric (kept in Git) and a model (cached).
TRAIN = """\
import json, os, sys, time
sys.path.insert(0, ".")
from ruamel.yaml import YAML
p = YAML(typ="safe").load(open("params.yaml"))["train"]
time.sleep(float(os.environ.get("SLEEP", "0")))
if p.get("fail"):
    print("diverged at epoch 3"); sys.exit(4)
json.dump({"score": p["lr"] * p["depth"]}, open("metrics.json", "w"))
open("model.bin", "w").write(f"model lr={p['lr']} depth={p['depth']}")
"""
PIPELINE = f"""\
stages:
  train:
    cmd: {sys.executable} train.py
    deps: [train.py]
    params: [train]
    outs: [model.bin]
    metrics:
      - metrics.json:
          cache: false
"""
PARAMS = "# knobs\ntrain:\n  lr: 0.1\n  depth: 3\n  fail: false\n"


@pytest.fixture
def exp_ws(ws: Workspace) -> Workspace:
    ws.write("train.py", TRAIN)
    ws.write("artver.yaml", PIPELINE)
    ws.write("params.yaml", PARAMS)
    ws.artver("repro")
    ws.commit("baseline")
    return ws


def ref_map(ws: Workspace, prefix: str = "refs/artver/") -> dict[str, str]:
    found = {}
    for line in ws.git("for-each-ref", "--format=%(refname) %(objectname)", prefix).splitlines():
        name, sha = line.split(" ")
        found[name] = sha
    return found


def show_json(ws: Workspace, *args: str) -> list[dict]:
    return json.loads(ws.artver("exp", "show", "--json", *args).stdout)


def test_exp_run_leaves_the_workspace_and_records_a_commit(exp_ws: Workspace):
    before = exp_ws.snapshot()
    head = exp_ws.git("rev-parse", "HEAD").strip()
    res = exp_ws.artver("exp", "run", "-S", "train.lr=0.5", "-n", "fast")
    assert "Ran experiment fast" in res.stdout
    assert exp_ws.snapshot() == before  # params, lock, metrics, model: all as they were
    assert exp_ws.git("status", "--porcelain") == ""
    found = ref_map(exp_ws)
    ref = f"refs/artver/exps/{head}/fast"
    assert list(found) == [ref]
    sha = found[ref]
    assert exp_ws.git("rev-parse", f"{sha}^").strip() == head
    changed = set(exp_ws.git("diff", "--name-only", head, sha).split())
    assert changed == {"params.yaml", "artver.lock", "metrics.json"}
    params = exp_ws.git("show", f"{sha}:params.yaml")
    assert "lr: 0.5" in params and "# knobs" in params  # comments kept
    assert json.loads(exp_ws.git("show", f"{sha}:metrics.json")) == {"score": 1.5}
    # The model is in the cache, as any stage output.
    lock = exp_ws.git("show", f"{sha}:artver.lock")
    assert "model.bin" in lock
    # No worktree is left behind.
    assert exp_ws.git("worktree", "list").count("\n") == 1

    rows = show_json(exp_ws)
    assert [r["name"] for r in rows] == ["main", "fast"]
    assert rows[0]["kind"] == "baseline"
    assert rows[0]["metrics"]["metrics.json"]["score"] == pytest.approx(0.3)
    assert rows[1]["status"] == "success"
    assert rows[1]["params"]["params.yaml"]["train.lr"] == 0.5
    assert rows[1]["metrics"]["metrics.json"]["score"] == 1.5


def test_uncommitted_changes_go_into_the_experiment_and_stay_in_the_workspace(exp_ws):
    exp_ws.write("train.py", TRAIN.replace("p['depth']}", "p['depth']} v2"))
    exp_ws.write("notes.txt", "untracked, not ignored\n")
    before = exp_ws.snapshot()
    exp_ws.artver("exp", "run", "-n", "edited")
    assert exp_ws.snapshot() == before
    sha = next(iter(ref_map(exp_ws).values()))
    assert "v2" in exp_ws.git("show", f"{sha}:train.py")
    assert exp_ws.git("show", f"{sha}:notes.txt") == "untracked, not ignored\n"
    assert exp_ws.git("status", "--porcelain").split() == ["M", "train.py", "??", "notes.txt"]


def test_generated_names_are_unique_and_refused_when_taken(exp_ws):
    for lr in ("0.2", "0.3", "0.4"):
        exp_ws.artver("exp", "run", "-S", f"train.lr={lr}")
    names = [r["name"] for r in show_json(exp_ws)[1:]]
    assert len(set(names)) == 3 and all("-" in n for n in names)
    res = exp_ws.artver("exp", "run", "-n", names[0], expect=1)
    assert f"an experiment named {names[0]} exists already" in res.stderr
    res = exp_ws.artver("exp", "run", "-n", "bad/name", expect=2)
    assert "cannot name an experiment" in res.stderr


def test_sweep_queues_the_product_and_run_all_runs_it(exp_ws):
    res = exp_ws.artver(
        "exp", "run", "--queue", "-S", "train.lr=0.1,0.2", "-S", "train.depth=range(2,6,2)"
    )
    assert res.stdout.count("Queued experiment") == 4
    assert "train.lr=0.2 train.depth=4" in res.stdout
    rows = show_json(exp_ws)
    assert sorted(r["status"] for r in rows[1:]) == ["queued"] * 4
    assert len(ref_map(exp_ws, "refs/artver/queue/")) == 4
    before = exp_ws.snapshot()
    res = exp_ws.artver("exp", "run", "--run-all", "-j", "2")
    assert "Ran 4 experiments: 4 succeeded" in res.stdout
    assert exp_ws.snapshot() == before
    assert ref_map(exp_ws, "refs/artver/queue/") == {}
    scores = sorted(r["metrics"]["metrics.json"]["score"] for r in show_json(exp_ws)[1:])
    assert scores == pytest.approx([0.2, 0.4, 0.4, 0.8])
    res = exp_ws.artver("exp", "run", "--run-all", expect=1)
    assert "the queue is empty" in res.stderr


def test_a_failed_experiment_is_recorded_and_the_queue_goes_on(exp_ws):
    exp_ws.artver("exp", "run", "--queue", "-n", "bad", "-S", "train.fail=true")
    exp_ws.artver("exp", "run", "--queue", "-n", "good", "-S", "train.lr=0.2")
    res = exp_ws.artver("exp", "run", "--run-all", "-j", "2", expect=1)
    assert "1 experiment failed: bad" in res.stderr
    assert "Experiment good succeeded" in res.stderr
    rows = {r["name"]: r for r in show_json(exp_ws)}
    assert rows["bad"]["status"] == "failed" and rows["good"]["status"] == "success"
    sha = ref_map(exp_ws)[next(r for r in ref_map(exp_ws) if r.endswith("/bad"))]
    message = exp_ws.git("log", "-1", "--format=%B", sha)
    assert "diverged at epoch 3" in message and "exited with code 4" in message
    # In the foreground: exit 1, the reason and the stage's last lines, and recorded too.
    res = exp_ws.artver("exp", "run", "-n", "bad2", "-S", "train.fail=true", expect=1)
    assert "experiment bad2 failed" in res.stderr and "diverged at epoch 3" in res.stderr
    assert any(r.endswith("/bad2") for r in ref_map(exp_ws))


def test_show_formats_sorting_and_only_changed(exp_ws):
    for name, lr in (("a", "0.3"), ("b", "0.1"), ("c", "0.2")):
        exp_ws.artver("exp", "run", "-n", name, "-S", f"train.lr={lr}")
    table = exp_ws.artver("exp", "show").stdout
    assert "score" in table and "train.lr" in table and "├── a" in table
    rows = show_json(exp_ws, "--sort-by", "score", "--sort-order", "desc")
    assert [r["name"] for r in rows] == ["main", "a", "c", "b"]
    rows = show_json(exp_ws, "--sort-by", "params.yaml:train.lr")
    assert [r["name"] for r in rows] == ["main", "b", "c", "a"]
    csv_rows = list(csv.reader(io.StringIO(exp_ws.artver("exp", "show", "--csv").stdout)))
    assert csv_rows[0][:5] == ["Experiment", "rev", "baseline", "State", "Created"]
    assert len(csv_rows) == 5
    changed = exp_ws.artver("exp", "show", "--md", "--only-changed").stdout
    assert changed.startswith("| Experiment |")
    assert "train.depth" not in changed and "train.lr" in changed
    res = exp_ws.artver("exp", "show", "--sort-by", "nope", expect=2)
    assert "no experiment has that param or metric" in res.stderr
    # -n 2: the parent baseline too.
    exp_ws.write("params.yaml", PARAMS.replace("0.1", "0.15"))
    exp_ws.artver("repro")
    exp_ws.commit("second")
    rows = show_json(exp_ws, "-n", "2")
    assert [r["kind"] for r in rows] == ["baseline", "baseline", "experiment", "experiment",
                                         "experiment"]  # fmt: skip


def test_exp_diff_names_what_changed(exp_ws):
    exp_ws.artver("exp", "run", "-n", "fast", "-S", "train.lr=0.5")
    doc = json.loads(exp_ws.artver("exp", "diff", "fast", "--json").stdout)
    assert doc["new"] == "fast"
    assert [(r["key"], r["old"], r["new"]) for r in doc["params"]] == [("train.lr", 0.1, 0.5)]
    assert doc["metrics"][0]["key"] == "score" and doc["metrics"][0]["new"] == 1.5
    exp_ws.artver("exp", "run", "-n", "deep", "-S", "train.depth=6")
    doc = json.loads(exp_ws.artver("exp", "diff", "fast", "deep", "--json").stdout)
    assert {r["key"] for r in doc["params"]} == {"train.lr", "train.depth"}
    # Experiment names are revisions for the other commands too.
    res = exp_ws.artver("metrics", "diff", "HEAD", "fast", "--json")
    assert "1.5" in res.stdout
    res = exp_ws.artver("exp", "diff", "nope", expect=1)
    assert "no experiment named nope" in res.stderr


def test_apply_brings_params_lock_and_outputs(exp_ws):
    exp_ws.artver("exp", "run", "-n", "fast", "-S", "train.lr=0.5")
    res = exp_ws.artver("exp", "apply", "fast")
    assert "Applied experiment fast" in res.stdout
    assert "lr: 0.5" in exp_ws.read("params.yaml").decode()
    assert exp_ws.read("model.bin") == b"model lr=0.5 depth=3"
    assert json.loads(exp_ws.read("metrics.json")) == {"score": 1.5}
    assert "up to date" in exp_ws.artver("status").output
    res = exp_ws.artver("exp", "apply", "nope", expect=1)
    assert "no experiment named nope" in res.stderr


def test_apply_refuses_over_uncommitted_changes(exp_ws):
    exp_ws.artver("exp", "run", "-n", "fast", "-S", "train.lr=0.5")
    exp_ws.write("params.yaml", PARAMS + "# my edit\n")
    before = exp_ws.snapshot()
    res = exp_ws.artver("exp", "apply", "fast", expect=1)
    assert "would overwrite uncommitted changes in: params.yaml" in res.stderr
    assert exp_ws.snapshot() == before
    exp_ws.artver("exp", "apply", "fast", "--force")
    assert "lr: 0.5" in exp_ws.read("params.yaml").decode()


def test_branch_and_remove(exp_ws):
    exp_ws.artver("exp", "run", "-n", "fast", "-S", "train.lr=0.5")
    exp_ws.artver("exp", "run", "-n", "slow", "-S", "train.lr=0.01")
    exp_ws.artver("exp", "run", "--queue", "-n", "later", "-S", "train.lr=0.7")
    res = exp_ws.artver("exp", "branch", "fast", "try-fast")
    assert "try-fast" in res.stdout
    sha = ref_map(exp_ws, "refs/heads/try-fast")["refs/heads/try-fast"]
    assert "lr: 0.5" in exp_ws.git("show", f"{sha}:params.yaml")
    res = exp_ws.artver("exp", "branch", "slow", "try-fast", expect=1)
    assert "a branch named try-fast exists already" in res.stderr
    res = exp_ws.artver("exp", "branch", "nope", "other", expect=1)
    assert "no experiment named nope" in res.stderr
    assert not ref_map(exp_ws, "refs/heads/other")
    res = exp_ws.artver("exp", "remove", "fast", "nope", expect=1)
    assert "no experiment named nope" in res.stderr
    assert len(ref_map(exp_ws)) == 3  # nothing removed
    exp_ws.artver("exp", "remove", "--queue")
    assert [r["name"] for r in show_json(exp_ws)] == ["main", "slow", "fast"]
    exp_ws.artver("exp", "remove", "fast")
    assert [r["name"] for r in show_json(exp_ws)] == ["main", "slow"]
    exp_ws.artver("exp", "remove", "--all")
    assert ref_map(exp_ws) == {}
    assert "refs/heads/try-fast" in ref_map(exp_ws, "refs/heads/")  # the branch stays


def test_push_and_pull_through_git_and_the_artver_remote(exp_ws, tmp_path):
    bare = tmp_path / "origin.git"
    git("init", "-q", "--bare", str(bare), cwd=tmp_path)
    store = tmp_path / "store"
    exp_ws.artver("remote", "add", "-d", "store", str(store))
    exp_ws.commit("remote")
    exp_ws.git("remote", "add", "origin", str(bare))
    exp_ws.git("push", "-q", "origin", "main")
    exp_ws.artver("push")
    exp_ws.artver("exp", "run", "-n", "fast", "-S", "train.lr=0.5")
    res = exp_ws.artver("exp", "push", "origin")
    assert "Pushed 1 experiment to origin: fast" in res.stdout
    assert "refs/artver/exps/" in git("ls-remote", str(bare), cwd=tmp_path)
    res = exp_ws.artver("exp", "push", "nowhere", expect=1)
    assert "no Git remote named nowhere" in res.stderr

    clone = tmp_path / "clone"
    git("clone", "-q", str(bare), str(clone), cwd=tmp_path)
    other = Workspace(clone)
    res = other.artver("exp", "pull", "origin", "nope", expect=1)
    assert "origin has no experiment named nope" in res.stderr
    res = other.artver("exp", "pull", "origin")
    assert "Pulled 1 experiment from origin: fast" in res.stdout
    assert [r["name"] for r in show_json(other)] == ["main", "fast"]
    other.artver("exp", "apply", "fast")
    assert other.read("model.bin") == b"model lr=0.5 depth=3"  # its data came from the store


@pytest.mark.parametrize(
    ("setting", "code", "message"),
    [
        ("train.nope=1", 1, "params.yaml has no key train.nope"),
        ("missing.yaml:train.lr=1", 1, "params file missing.yaml, which does not exist"),
        ("+train.lr=1", 1, "params.yaml already has train.lr"),
        ("~train.nope", 1, "params.yaml has no key train.nope"),
        ("train.lr", 2, "expected [FILE:]KEY=VALUE"),
        ("../x.yaml:a=1", 2, "must be a path inside the repository"),
        ("train.lr=range(1,1)", 2, "range() gives no value"),
    ],
)
def test_bad_settings_are_refused_with_nothing_recorded(exp_ws, setting, code, message):
    before = exp_ws.snapshot()
    res = exp_ws.artver("exp", "run", "-S", setting, expect=code)
    assert message in res.stderr
    assert "Traceback" not in res.stderr
    assert ref_map(exp_ws) == {}
    assert exp_ws.snapshot() == before


def test_new_keys_need_plus_and_can_be_removed(exp_ws):
    exp_ws.artver("exp", "run", "-n", "added", "-S", "+train.momentum=0.9", "-S", "~train.fail")
    sha = next(iter(ref_map(exp_ws).values()))
    text = exp_ws.git("show", f"{sha}:params.yaml")
    assert "momentum: 0.9" in text and "fail" not in text


def test_gpus_are_handed_out_once_across_experiments(exp_ws):
    """Four experiments, each stage asking for one GPU, on a machine of two (ARTVER_GPUS):
    at most two run at once, and two running at once never share a GPU."""
    script = (
        "import os, time, json, sys\n"
        "start = time.time(); time.sleep(0.4)\n"
        "json.dump({'gpu': os.environ.get('CUDA_VISIBLE_DEVICES'), 'start': start,\n"
        "           'end': time.time()}, open('metrics.json', 'w'))\n"
        "open('model.bin', 'w').write(open('params.yaml').read())\n"
    )
    exp_ws.write("train.py", script)
    exp_ws.write(
        "artver.yaml", PIPELINE.replace("    deps:", "    resources: {gpus: 1}\n    deps:")
    )
    exp_ws.commit("gpu stage", hooks=False)
    exp_ws.artver("exp", "run", "--queue", "-S", "train.lr=0.1,0.2,0.3,0.4")
    exp_ws.artver("exp", "run", "--run-all", "-j", "4", env={"ARTVER_GPUS": "2"})
    runs = [r["metrics"]["metrics.json"] for r in show_json(exp_ws)[1:]]
    assert len(runs) == 4 and {r["gpu"] for r in runs} <= {"0", "1"}
    for a in runs:
        overlapping = [
            b for b in runs if b is not a and b["start"] < a["end"] and a["start"] < b["end"]
        ]
        assert len(overlapping) <= 1
        assert all(b["gpu"] != a["gpu"] for b in overlapping)
    res = exp_ws.artver("exp", "run", "-S", "train.lr=0.9", env={"ARTVER_GPUS": "0"}, expect=1)
    assert "needs 1 GPUs" in res.stderr or "GPU" in res.stderr


def test_plots_diff_takes_an_experiment_name(exp_ws):
    """Experiments are revisions for plots too: the experiment's curve beside HEAD's."""
    exp_ws.write(
        "curve.py",
        "from ruamel.yaml import YAML\n"
        "lr = YAML(typ='safe').load(open('params.yaml'))['train']['lr']\n"
        "open('curve.csv', 'w').write('step,loss\\n' + ''.join(\n"
        "    f'{i},{1 / (1 + lr * i)}\\n' for i in range(5)))\n",
    )
    exp_ws.write(
        "artver.yaml",
        PIPELINE + f"  curve:\n    cmd: {sys.executable} curve.py\n    deps: [curve.py]\n"
        "    params: [train.lr]\n    plots:\n      - curve.csv:\n          x: step\n"
        "          y: loss\n",
    )
    exp_ws.artver("repro")
    exp_ws.commit("curve")
    exp_ws.artver("exp", "run", "-n", "steep", "-S", "train.lr=2")
    doc = json.loads(exp_ws.artver("plots", "diff", "HEAD", "steep", "--json").stdout)
    assert doc["revisions"] == ["HEAD", "steep"]
    (plot,) = [p for p in doc["plots"] if p["id"] == "curve.csv"]
    assert set(plot["revisions"]) == {"HEAD", "steep"}
