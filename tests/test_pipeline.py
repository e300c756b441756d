"""Pipelines end to end: repro, status reasons, parallel runs, run cache, checkout, commit."""

from __future__ import annotations

import json
import os
import shlex
import sys
import time

from artver.yamlio import load_yaml

PY = shlex.quote(sys.executable)


def write_pipeline(ws, text: str) -> None:
    ws.write("artver.yaml", text.replace("PY ", f"{PY} "))


TWO_STAGES = """\
# the team's pipeline
stages:
  prepare:  # split the raw data
    cmd: PY src/prepare.py
    deps: [src/prepare.py, data/raw.csv]
    params: [prepare.split]
    outs: [data/prepared]
  train:
    cmd: PY src/train.py
    deps: [src/train.py, data/prepared]
    params: [train]
    outs: [model.pkl]
    metrics: [metrics.json]
    seed: 1234
"""

PREPARE = """\
import os
os.makedirs("data/prepared", exist_ok=True)
rows = open("data/raw.csv").read().splitlines()
open("data/prepared/rows.txt", "w").write(str(len(rows)))
open("runs.log", "a").write("prepare\\n")
print("prepared", len(rows))
"""

TRAIN = """\
import json, os
assert not os.path.exists("model.pkl"), "outs are removed before a stage runs"
seed = os.environ["ARTVER_SEED"], os.environ["PYTHONHASHSEED"]
open("model.pkl", "w").write("model:" + open("data/prepared/rows.txt").read() + str(seed))
json.dump({"accuracy": 0.75, "nested": {"f1": 0.5}}, open("metrics.json", "w"))
open("runs.log", "a").write("train\\n")
"""


def setup_two_stages(ws) -> None:
    ws.write("src/prepare.py", PREPARE)
    ws.write("src/train.py", TRAIN)
    ws.write("data/raw.csv", "a\nb\nc\n")
    ws.write("params.yaml", "prepare:\n  split: 0.2\ntrain:\n  lr: 0.1\n  epochs: 3\n")
    write_pipeline(ws, TWO_STAGES)


def runs(ws) -> list[str]:
    path = ws.root / "runs.log"
    return path.read_text().split() if path.exists() else []


def lock(ws) -> dict:
    return load_yaml((ws.root / "artver.lock").read_text())["stages"]


def test_repro_runs_stale_stages_in_order_and_records_the_lock(ws):
    setup_two_stages(ws)
    assert ws.artver("status").stdout.splitlines() == ["prepare: never run", "train: never run"]
    res = ws.artver("repro")
    assert runs(ws) == ["prepare", "train"]
    assert "prepared 3" in res.stdout
    assert ws.read("model.pkl") == b"model:3('1234', '1234')"
    entries = lock(ws)
    assert entries["train"]["params"] == {"params.yaml": {"train": {"lr": 0.1, "epochs": 3}}}
    assert entries["train"]["seed"] == 1234
    outs = {o["path"]: o for o in entries["train"]["outs"]}
    assert outs["metrics.json"]["cache"] is False and "cache" not in outs["model.pkl"]
    assert entries["prepare"]["outs"][0]["oid"].endswith(".dir")
    assert "/model.pkl" in (ws.root / ".gitignore").read_text().splitlines()
    assert "/metrics.json" not in (ws.root / ".gitignore").read_text()
    assert "up to date" in ws.artver("status").stdout
    ws.artver("repro")
    assert runs(ws) == ["prepare", "train"], "a no-op repro runs nothing"


def test_status_says_why_and_repro_reruns_only_what_changed(ws):
    setup_two_stages(ws)
    ws.artver("repro")
    ws.write("params.yaml", "prepare:\n  split: 0.2\ntrain:\n  lr: 0.05\n  epochs: 3\n")
    assert ws.artver("status").stdout.splitlines() == ["train: param train.lr 0.1 -> 0.05"]
    ws.artver("repro")
    assert runs(ws) == ["prepare", "train", "train"]
    ws.write("data/raw.csv", "a\nb\nc\nd\n")
    lines = ws.artver("status").stdout.splitlines()
    assert lines == [
        "prepare: dep data/raw.csv modified",
        "train: upstream stage prepare will run",
    ]
    ws.artver("repro")
    assert runs(ws)[-2:] == ["prepare", "train"]


def test_unchanged_upstream_output_does_not_rerun_downstream(ws):
    setup_two_stages(ws)
    ws.artver("repro")
    ws.write("src/prepare.py", PREPARE + "# a comment changes the code, not the output\n")
    ws.artver("repro")
    assert runs(ws) == ["prepare", "train", "prepare"]


def test_dry_run_prints_the_plan_and_runs_nothing(ws):
    setup_two_stages(ws)
    res = ws.artver("repro", "--dry-run")
    assert res.stdout.splitlines() == [
        "prepare: would run (never run)",
        "train: would run (never run)",
    ]
    assert runs(ws) == [] and not (ws.root / "artver.lock").exists()


def test_force_and_targets_and_downstream(ws):
    setup_two_stages(ws)
    ws.artver("repro", "prepare")
    assert runs(ws) == ["prepare"]
    ws.artver("repro", "-f", "train")
    assert runs(ws) == ["prepare", "prepare", "train"]
    ws.write("data/raw.csv", "x\n")
    ws.artver("repro", "--downstream", "train")
    assert runs(ws)[-1] == "train" and runs(ws).count("prepare") == 2


def test_run_cache_restores_outputs_of_an_earlier_run(ws):
    setup_two_stages(ws)
    ws.artver("repro")
    first_model = ws.read("model.pkl")
    ws.write("data/raw.csv", "a\n")
    ws.artver("repro")
    assert ws.read("model.pkl") != first_model
    ws.write("data/raw.csv", "a\nb\nc\n")
    res = ws.artver("repro")
    assert "Restored stage prepare from the run cache" in res.stderr
    assert "Restored stage train from the run cache" not in res.stderr  # metrics: cache false
    assert ws.read("model.pkl") == first_model
    assert runs(ws).count("prepare") == 2
    ws.write("data/raw.csv", "a\n")
    ws.artver("repro", "--no-run-cache")
    assert runs(ws).count("prepare") == 3


def test_parallel_stages_overlap_and_prefix_their_output(ws):
    stages = "stages:\n"
    for name in ("a", "b", "c"):
        stages += (
            f"  {name}:\n"
            f"    cmd: PY -c \"import time, pathlib; p = pathlib.Path('{name}.txt');"
            f" t = time.time(); print('start'); time.sleep(0.8);"
            f" p.write_text(f'{{t}} {{time.time()}}')\"\n"
            f"    outs: [{name}.txt]\n"
        )
    stages += "  join:\n    cmd: cat a.txt b.txt c.txt > all.txt\n"
    stages += "    deps: [a.txt, b.txt, c.txt]\n    outs: [all.txt]\n"
    write_pipeline(ws, stages)
    res = ws.artver("repro", "-j", "3")
    spans = [tuple(map(float, ws.read(f"{n}.txt").split())) for n in "abc"]
    assert max(s[0] for s in spans) < min(s[1] for s in spans), "the three stages overlapped"
    assert sorted(line for line in res.stdout.splitlines()) == [
        "[a] start",
        "[b] start",
        "[c] start",
    ]
    assert ws.read("all.txt").count(b" ") == 3


def test_gpu_stages_never_share_a_gpu(ws):
    stages = "stages:\n"
    for name in ("g1", "g2"):
        stages += (
            f"  {name}:\n"
            f'    cmd: PY -c "import os, time; t = time.time(); time.sleep(0.5);'
            f" open('{name}.txt', 'w')"
            f".write(os.environ['CUDA_VISIBLE_DEVICES'] + f' {{t}} {{time.time()}}')\"\n"
            f"    outs: [{name}.txt]\n    resources: {{gpus: 1}}\n"
        )
    write_pipeline(ws, stages)
    ws.artver("repro", "-j", "2", env={"ARTVER_GPUS": "2"})
    got = {n: ws.read(f"{n}.txt").split() for n in ("g1", "g2")}
    assert {got["g1"][0], got["g2"][0]} == {b"0", b"1"}
    ws.artver("repro", "-f", "-j", "2", env={"ARTVER_GPUS": "1"})
    got = {n: ws.read(f"{n}.txt").split() for n in ("g1", "g2")}
    assert got["g1"][0] == got["g2"][0] == b"0"
    first, second = sorted((float(v[1]), float(v[2])) for v in got.values())
    assert first[1] <= second[0], "with one GPU the two stages ran one after the other"


def test_foreach_and_matrix_expand_into_named_stages(ws):
    write_pipeline(
        ws,
        "stages:\n"
        "  fit:\n"
        "    foreach: [small, large]\n"
        "    do:\n"
        "      cmd: echo ${item} > fit-${item}.txt\n"
        '      outs: ["fit-${item}.txt"]\n'
        "  grid:\n"
        "    matrix: {model: [cnn, rnn], lr: [1, 2]}\n"
        "    cmd: echo ${item.model} ${item.lr} > grid-${item.model}-${item.lr}.txt\n"
        '    outs: ["grid-${item.model}-${item.lr}.txt"]\n',
    )
    names = [s["name"] for s in json.loads(ws.artver("stage", "list", "--json").stdout)["stages"]]
    assert sorted(names) == [
        "fit@large",
        "fit@small",
        "grid@cnn-1",
        "grid@cnn-2",
        "grid@rnn-1",
        "grid@rnn-2",
    ]
    ws.artver("repro", "fit")
    assert ws.read("fit-small.txt") == b"small\n" and not (ws.root / "grid-cnn-1.txt").exists()
    ws.artver("repro")
    assert ws.read("grid-rnn-2.txt") == b"rnn 2\n"


def test_checkout_restores_stage_outputs_of_an_older_commit(ws):
    setup_two_stages(ws)
    ws.artver("repro")
    ws.git("add", "-A")
    ws.git("commit", "-qm", "v1")
    v1_model = ws.read("model.pkl")
    ws.write("data/raw.csv", "a\n")
    ws.artver("repro")
    ws.git("add", "-A")
    ws.git("commit", "-qm", "v2")
    assert ws.read("model.pkl") != v1_model
    ws.git("checkout", "-q", "HEAD~1")
    ws.artver("checkout")
    assert ws.read("model.pkl") == v1_model
    assert ws.read("data/prepared/rows.txt") == b"3"
    assert "up to date" in ws.artver("status").stdout
    (ws.root / "model.pkl").unlink()
    ws.artver("checkout", "train")
    assert ws.read("model.pkl") == v1_model


def test_commit_records_a_stage_without_running_it(ws):
    setup_two_stages(ws)
    ws.artver("repro")
    ws.write("model.pkl", "hand-tuned model")
    assert "train: out model.pkl modified" in ws.artver("status").stdout
    res = ws.artver("commit", "train")
    assert "Committed stage train" in res.stderr
    assert "up to date" in ws.artver("status").stdout
    assert runs(ws) == ["prepare", "train"]


def test_persist_outputs_survive_and_others_are_removed_but_kept_in_cache(ws):
    write_pipeline(
        ws,
        "stages:\n"
        "  grow:\n"
        "    cmd: PY -c \"import os; open('log.txt', 'a').write('x'); "
        "assert not os.path.exists('out.txt'); open('out.txt', 'w').write('new')\"\n"
        "    outs: [out.txt, {path: log.txt, persist: true, cache: false}]\n"
        "    always_changed: true\n",
    )
    ws.artver("repro")
    ws.write("out.txt", "edited by hand")
    ws.artver("repro")
    assert ws.read("log.txt") == b"xx" and ws.read("out.txt") == b"new"
    from tests.conftest import xxh

    assert ws.cache_object(xxh(b"edited by hand")).read_bytes() == b"edited by hand"


def test_env_vars_and_lock_files_are_part_of_the_stage(ws):
    write_pipeline(
        ws,
        "stages:\n"
        "  s:\n"
        "    cmd: echo hi > out.txt\n"
        "    outs: [out.txt]\n"
        "    env: {vars: [MODE], lock: [requirements.lock]}\n",
    )
    ws.write("requirements.lock", "numpy==1.0\n")
    ws.artver("repro", env={"MODE": "fast"})
    assert "up to date" in ws.artver("status", env={"MODE": "fast"}).stdout
    out = ws.artver("status", env={"MODE": "slow"}).stdout
    assert "s: env var MODE 'fast' -> 'slow'" in out
    ws.write("requirements.lock", "numpy==2.0\n")
    assert (
        "env lock requirements.lock: numpy 1.0 -> 2.0"
        in ws.artver("status", env={"MODE": "fast"}).stdout
    )


def test_env_python_names_the_package_that_changed(ws):
    write_pipeline(
        ws,
        "stages:\n  s:\n    cmd: echo hi > out.txt\n    outs: [out.txt]\n    env: {python: true}\n",
    )
    ws.artver("repro")
    entry = lock(ws)["s"]["env"]["python"]
    assert entry["version"].count(".") == 2 and entry["platform"]
    pip = entry["packages"]["pip"]  # the `python` on PATH, whichever it is, has pip
    # as if the stage last ran in an environment with another pip
    fingerprint = lock(ws)["s"]["env"]["fingerprint"]
    text = (ws.root / "artver.lock").read_text().replace(f"pip: {pip}", "pip: 0.0.1")
    (ws.root / "artver.lock").write_text(text.replace(fingerprint, "0" * 32))
    assert f"package pip 0.0.1 -> {pip}" in ws.artver("status").stdout


def test_stage_add_keeps_comments_and_validates(ws):
    setup_two_stages(ws)
    ws.artver(
        "stage",
        "add",
        "-n",
        "evaluate",
        "-d",
        "model.pkl",
        "-o",
        "report.txt",
        "-p",
        "train.lr",
        f"{PY} -c \"open('report.txt', 'w').write('ok')\"",
    )
    text = (ws.root / "artver.yaml").read_text()
    assert "# the team's pipeline" in text and "# split the raw data" in text
    assert text.index("prepare:") < text.index("train:") < text.index("evaluate:")
    dag = ws.artver("dag").stdout.splitlines()
    assert dag == ["prepare", "train  <- prepare", "evaluate  <- train"]
    assert '"train" -> "evaluate";' in ws.artver("dag", "--dot").stdout
    ws.artver("repro")
    assert ws.read("report.txt") == b"ok"


def test_metrics_show_and_params_diff(ws):
    setup_two_stages(ws)
    ws.artver("repro")
    rows = json.loads(ws.artver("metrics", "show", "--json").stdout)["metrics"]
    assert {(r["key"], r["value"]) for r in rows} == {("accuracy", 0.75), ("nested.f1", 0.5)}
    assert "No params changed" in ws.artver("params", "diff").stdout
    ws.write("params.yaml", "prepare:\n  split: 0.3\ntrain:\n  lr: 0.1\n  epochs: 4\n")
    rows = json.loads(ws.artver("params", "diff", "--json").stdout)["params"]
    assert {(r["stage"], r["key"], r["old"], r["new"]) for r in rows} == {
        ("prepare", "prepare.split", 0.2, 0.3),
        ("train", "train.epochs", 3, 4),
    }


def test_params_from_json_and_toml_files(ws):
    ws.write("conf.json", json.dumps({"model": {"depth": 3}}))
    ws.write("conf.toml", "[opt]\nlr = 0.5\n")
    write_pipeline(
        ws,
        "stages:\n  s:\n    cmd: echo hi > out.txt\n    outs: [out.txt]\n"
        "    params: [{conf.json: [model.depth]}, {conf.toml: [opt]}]\n",
    )
    ws.artver("repro")
    assert lock(ws)["s"]["params"] == {
        "conf.json": {"model.depth": 3},
        "conf.toml": {"opt": {"lr": 0.5}},
    }
    ws.write("conf.toml", "[opt]\nlr = 0.25\n")
    assert "s: param opt.lr 0.5 -> 0.25" in ws.artver("status").stdout


def test_pipelines_in_subdirectories_are_collected(ws):
    ws.write(
        "sub/artver.yaml",
        "stages:\n  inner:\n    cmd: echo inner > inner.txt\n    outs: [inner.txt]\n",
    )
    ws.write(
        "artver.yaml",
        "stages:\n  outer:\n    cmd: cat sub/inner.txt > outer.txt\n"
        "    deps: [sub/inner.txt]\n    outs: [outer.txt]\n",
    )
    ws.artver("repro")
    assert ws.read("outer.txt") == b"inner\n"
    assert (ws.root / "sub/artver.lock").is_file()
    assert "inner" in load_yaml((ws.root / "sub/artver.lock").read_text())["stages"]


def test_frozen_stage_never_runs(ws):
    write_pipeline(
        ws, "stages:\n  s:\n    cmd: echo x > out.txt\n    outs: [out.txt]\n    frozen: true\n"
    )
    ws.artver("repro")
    assert not (ws.root / "out.txt").exists()


def test_ctrl_c_stops_children_and_keeps_a_consistent_lock(ws):
    import os
    import signal
    import subprocess
    import time

    write_pipeline(
        ws,
        "stages:\n"
        "  quick:\n    cmd: echo done > quick.txt\n    outs: [quick.txt]\n"
        "  slow:\n"
        "    cmd: PY -c \"import os, time; open('slow.pid', 'w').write(str(os.getpid()));"
        " time.sleep(60); open('slow.txt', 'w').write('x')\"\n"
        "    deps: [quick.txt]\n    outs: [slow.txt]\n",
    )
    proc = subprocess.Popen(
        [sys.executable, "-m", "artver", "repro"],
        cwd=ws.root,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stderr is not None
    for line in proc.stderr:
        if line.startswith("Running stage slow"):
            break
    deadline = time.monotonic() + 30
    while not (ws.root / "slow.pid").exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    proc.send_signal(signal.SIGINT)
    err = proc.stderr.read()
    proc.wait(timeout=60)
    proc.stderr.close()
    assert proc.returncode == 130, err
    assert "error: interrupted" in err and "Traceback" not in err
    assert set(lock(ws)) == {"quick"}
    child = int((ws.root / "slow.pid").read_text())
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            os.kill(child, 0)
        except ProcessLookupError:
            break
        time.sleep(0.05)
    else:
        raise AssertionError("the stage's process was left running")
    assert not (ws.root / "slow.txt").exists()


def test_seed_change_makes_a_stage_stale_and_deleted_stages_leave_the_lock(ws):
    write_pipeline(
        ws,
        "stages:\n"
        "  a:\n    cmd: echo $ARTVER_SEED > a.txt\n    outs: [a.txt]\n    seed: 1\n"
        "  b:\n    cmd: echo b > b.txt\n    outs: [b.txt]\n",
    )
    ws.artver("repro")
    write_pipeline(
        ws, "stages:\n  a:\n    cmd: echo $ARTVER_SEED > a.txt\n    outs: [a.txt]\n    seed: 2\n"
    )
    assert ws.artver("status").stdout.splitlines() == ["a: seed 1 -> 2"]
    ws.artver("repro")
    assert ws.read("a.txt") == b"2\n"
    assert set(lock(ws)) == {"a"}


def test_up_to_date_stage_may_ask_for_hardware_this_machine_lacks(ws):
    write_pipeline(
        ws, "stages:\n  g:\n    cmd: echo x > g.txt\n    outs: [g.txt]\n    resources: {gpus: 1}\n"
    )
    ws.artver("repro", env={"ARTVER_GPUS": "1"})
    ws.artver("repro", env={"ARTVER_GPUS": "0"})
    res = ws.artver("repro", "-f", expect=1, env={"ARTVER_GPUS": "0"})
    assert "stage g needs 1 GPUs (this machine has 0)" in res.stderr


def test_outputs_in_directories_that_do_not_exist_yet(ws):
    write_pipeline(
        ws,
        "stages:\n  s:\n    cmd: echo x > out/deep/o.txt\n    outs: [out/deep/o.txt]\n",
    )
    ws.artver("repro")
    assert ws.read("out/deep/o.txt") == b"x\n"
    assert (ws.root / "out/deep/.gitignore").read_text() == "/o.txt\n"


def test_the_parse_of_the_lock_repro_remembers_is_the_parsers_own(ws):
    # After a repro the next command reads the lock from the state DB's remembered parse, not
    # through the YAML parser: both must agree to the type, whatever the values look like.
    ws.write(
        "params.yaml",
        "p:\n  word: 'yes'\n  number_text: '1.0'\n  nothing: null\n  empty: ''\n"
        "  flag: true\n  ratio: 0.5\n  big: 12345678901234567890\n  list: [1, 'two', 3.0]\n"
        "  nested: {a: {b: ['x: y', '#not a comment']}}\n  odd: \"tab\\there\"\n",
    )
    write_pipeline(
        ws,
        "stages:\n"
        "  s:\n"
        "    cmd: echo hi > 'out file.txt'\n"
        "    params: [p]\n"
        "    outs: ['out file.txt']\n"
        "    env: {vars: [MODE]}\n",
    )
    ws.artver("repro", env={"MODE": "null"})
    from artver.cache.hashing import hash_bytes
    from artver.state import StateDB

    text = (ws.root / "artver.lock").read_text()
    state = StateDB(ws.root / ".artver" / "state.db")
    try:
        remembered = state.parsed("artver.lock", hash_bytes(text.encode()))
    finally:
        state.close()
    assert remembered == load_yaml(text)
    assert remembered["stages"]["s"]["params"]["params.yaml"]["p"]["number_text"] == "1.0"
    assert "up to date" in ws.artver("status", env={"MODE": "null"}).stdout


def test_a_no_op_repro_remembers_the_hashes_it_had_to_compute(ws):
    """Outputs a stage has just written are too fresh to trust by their stat; the next
    command hashes them and remembers them (all at once, at the end), so the one after that
    reads nothing."""
    import sqlite3

    write_pipeline(
        ws,
        "stages:\n"
        "  a:\n    cmd: echo a > a.txt\n    outs: [a.txt]\n"
        "  b:\n    cmd: cat a.txt > b.txt\n    deps: [a.txt]\n    outs: [b.txt]\n",
    )
    ws.artver("repro")
    hour_ago = time.time() - 3600
    for name in ("a.txt", "b.txt"):
        os.utime(ws.root / name, (hour_ago, hour_ago))
    assert "up to date" in ws.artver("repro").stderr
    with sqlite3.connect(ws.root / ".artver" / "state.db") as conn:
        rows = dict(conn.execute("SELECT path, size FROM hashes WHERE path IN ('a.txt', 'b.txt')"))
    assert rows == {"a.txt": 2, "b.txt": 2}
