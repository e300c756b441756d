"""Bad pipelines get one plain `error:` message, exit code 1, and nothing half-written.

Issue 3 ("Bad input"): invalid YAML (line/column), unknown keys, a stage without `cmd`, cycles,
duplicate or overlapping outputs, deps nothing produces, commands that fail or do not produce
their outs, missing params, resources the machine lacks, a bad `foreach`, an unknown stage, a
refused `stage add`, and a damaged `artver.lock`. Every test drives the real CLI in a
subprocess and checks the exit code, the words of the message, that no stage ran when none
should (marker files), and what `artver.lock` holds.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import sys

import pytest
from ruamel.yaml import YAML

from tests.conftest import Result, Workspace

PY = shlex.quote(sys.executable)


# -- helpers -------------------------------------------------------------------------------------
def py(code: str) -> str:
    """A shell command running `code` with this interpreter (python may not be on PATH)."""
    return f"{PY} -c {shlex.quote(code)}"


def touch(marker: str, *also: str) -> str:
    """A command that writes `marker` (proof that it ran) and each path of `also`."""
    files = [marker, *also]
    return py(f"for p in {files!r}: open(p, 'w').write(p + chr(10))")


def q(text: str) -> str:
    """`text` as a YAML scalar (a JSON string is a valid YAML double-quoted scalar)."""
    return json.dumps(text)


def write_pipeline(ws: Workspace, stages: dict) -> bytes:
    """Write artver.yaml from a mapping (JSON is YAML); return its bytes."""
    return ws.write("artver.yaml", json.dumps({"stages": stages}, indent=2)).read_bytes()


def lock_stages(ws: Workspace) -> dict:
    """The stage entries of artver.lock ({} when there is no lock)."""
    path = ws.root / "artver.lock"
    if not path.exists():
        return {}
    doc = YAML(typ="safe").load(path.read_text())
    return dict((doc or {}).get("stages") or {})


def assert_error(res: Result, *fragments: str, ran: bool = False) -> str:
    """Exit 1, exactly one `error:` message naming every fragment, no traceback.

    Without `ran` nothing may be printed but the message. With `ran`, stage commands have run:
    their output may be on stdout and progress lines on stderr before the message.
    Returns the message (from `error:` to the end of stderr).
    """
    shown = f"exit {res.code}\nstdout:\n{res.stdout}\nstderr:\n{res.stderr}"
    assert res.code == 1, shown
    assert res.stderr.count("error:") == 1, shown
    assert "Traceback" not in res.output, shown
    assert "run with -v" not in res.stderr, shown
    if not ran:
        assert res.stderr.startswith("error: "), shown
        assert res.stdout == "", shown
    message = res.stderr[res.stderr.index("error:") :]
    for fragment in fragments:
        assert fragment in message, f"{fragment!r} not in the message\n{shown}"
    return message


def assert_position(message: str, line: int, column: int | tuple[int, ...]) -> None:
    columns = column if isinstance(column, tuple) else (column,)
    alternatives = "|".join(str(c) for c in columns)
    pattern = rf"artver\.yaml\b.*\bline {line}, column ({alternatives})\b"
    assert re.search(pattern, message), f"no 'line {line}, column {columns}' in:\n{message}"


def unchanged(ws: Workspace, snapshot: dict[str, bytes]) -> None:
    assert ws.snapshot() == snapshot, "the failed command changed the work tree"


# -- 1: invalid YAML -----------------------------------------------------------------------------
BAD_YAML = "stages:\n  a:\n    cmd: echo a\n     deps: [x]\n"  # line 4: a stray indented key


@pytest.mark.parametrize("command", [["repro"], ["status"], ["dag"], ["stage", "list"]])
def test_invalid_yaml_names_file_line_and_column(ws, command):
    ws.write("artver.yaml", BAD_YAML)
    snap = ws.snapshot()
    message = assert_error(ws.artver(*command, expect=None), "artver.yaml")
    assert_position(message, 4, 10)
    unchanged(ws, snap)
    assert not (ws.root / "artver.lock").exists()


def test_invalid_yaml_in_a_subdirectory_names_that_file(ws):
    ws.write("sub/artver.yaml", "stages:\n  a:\n    cmd: echo a\n    outs: [a, b\n")
    message = assert_error(ws.artver("repro", expect=None), "sub/artver.yaml")
    assert re.search(r"line \d+, column \d+", message), message


# -- 2: unknown keys -----------------------------------------------------------------------------
def test_unknown_stage_key_names_file_line_column_and_key(ws):
    ws.write("artver.yaml", f"stages:\n  train:\n    comand: {q(touch('ran'))}\n")
    snap = ws.snapshot()
    message = assert_error(ws.artver("repro", expect=None), "comand", "train")
    assert_position(message, 3, 5)
    unchanged(ws, snap)
    assert not (ws.root / "ran").exists()


def test_unknown_out_option_names_the_option_and_where_it_is(ws):
    text = (
        "stages:\n"
        "  train:\n"
        f"    cmd: {q(touch('ran', 'model.pkl'))}\n"
        "    outs:\n"
        "      - path: model.pkl\n"
        "        cach: false\n"
    )
    ws.write("artver.yaml", text)
    snap = ws.snapshot()
    message = assert_error(ws.artver("repro", expect=None), "cach", "model.pkl")
    assert_position(message, 6, 9)  # the unknown key itself, not the list item holding it
    unchanged(ws, snap)
    assert not (ws.root / "ran").exists()


@pytest.mark.parametrize(
    ("section", "body", "key", "column"),
    [
        ("env", "{pythn: true}", "pythn", 11),
        ("resources", "{cpus: 1, gpu: 1}", "gpu", 26),
    ],
)
def test_unknown_env_or_resources_key(ws, section, body, key, column):
    text = f"stages:\n  train:\n    cmd: {q(touch('ran'))}\n    {section}: {body}\n"
    ws.write("artver.yaml", text)
    snap = ws.snapshot()
    message = assert_error(ws.artver("repro", expect=None), key)
    assert_position(message, 4, column)
    unchanged(ws, snap)
    assert not (ws.root / "ran").exists()


# -- 3: no cmd -----------------------------------------------------------------------------------
def test_stage_without_cmd(ws):
    ws.write(
        "artver.yaml", f"stages:\n  ok:\n    cmd: {q(touch('ran'))}\n  train:\n    deps: [x]\n"
    )
    ws.write("x", "x\n")
    snap = ws.snapshot()
    message = assert_error(ws.artver("repro", expect=None), "train", "cmd")
    assert_position(message, 4, 3)
    unchanged(ws, snap)
    assert not (ws.root / "ran").exists()


# -- 4: cycles -----------------------------------------------------------------------------------
@pytest.mark.parametrize("names", [["a", "b"], ["a", "b", "c"]], ids=["two", "three"])
def test_cycle_names_every_stage_in_it(ws, names):
    stages = {}
    for i, name in enumerate(names):
        upstream = names[i - 1]
        stages[name] = {
            "cmd": touch(f"ran_{name}", f"{name}.txt"),
            "deps": [f"{upstream}.txt"],
            "outs": [f"{name}.txt"],
        }
    stages["free"] = {"cmd": touch("ran_free")}
    write_pipeline(ws, stages)
    snap = ws.snapshot()
    for command in (["repro"], ["dag"]):
        message = assert_error(ws.artver(*command, expect=None), "cycle")
        cycle_part = message.split("cycle", 1)[1]
        for name in names:
            assert re.search(rf"\b{name}\b", cycle_part), message
        assert "free" not in message
    unchanged(ws, snap)
    assert not (ws.root / "artver.lock").exists()


# -- 5: outputs that clash -----------------------------------------------------------------------
def test_two_stages_with_the_same_output(ws):
    write_pipeline(
        ws,
        {
            "one": {"cmd": touch("ran_one", "out.txt"), "outs": ["out.txt"]},
            "two": {"cmd": touch("ran_two", "out.txt"), "outs": ["out.txt"]},
        },
    )
    snap = ws.snapshot()
    assert_error(ws.artver("repro", expect=None), "out.txt", "one", "two")
    unchanged(ws, snap)
    assert not (ws.root / "artver.lock").exists()


def test_overlapping_outputs(ws):
    write_pipeline(
        ws,
        {
            "outer": {"cmd": py("import os; os.makedirs('data/x')"), "outs": ["data"]},
            "inner": {"cmd": py("import os; os.makedirs('data/sub')"), "outs": ["data/sub"]},
        },
    )
    snap = ws.snapshot()
    assert_error(ws.artver("repro", expect=None), "data/sub", "inner", "outer", "overlap")
    unchanged(ws, snap)
    assert not (ws.root / "artver.lock").exists()


def test_output_also_tracked_by_a_pointer_file(ws):
    ws.write("data/a.txt", "a\n")
    ws.artver("add", "data")
    write_pipeline(ws, {"make": {"cmd": touch("ran", "data/a.txt"), "outs": ["data"], "deps": []}})
    snap = ws.snapshot()
    assert_error(ws.artver("repro", expect=None), "data.artver", "make")
    unchanged(ws, snap)
    assert ws.read("data/a.txt") == b"a\n"
    assert not (ws.root / "ran").exists()
    assert not (ws.root / "artver.lock").exists()


def test_stage_depending_on_its_own_output(ws):
    write_pipeline(
        ws, {"loop": {"cmd": touch("ran", "out.txt"), "deps": ["out.txt"], "outs": ["out.txt"]}}
    )
    snap = ws.snapshot()
    assert_error(ws.artver("repro", expect=None), "loop", "out.txt")
    unchanged(ws, snap)
    assert not (ws.root / "ran").exists()


# -- 6: a dep nothing produces -------------------------------------------------------------------
def test_missing_dep_names_dep_and_stage_and_nothing_runs(ws):
    write_pipeline(
        ws,
        {
            "first": {"cmd": touch("ran_first", "a.txt"), "outs": ["a.txt"]},
            "train": {
                "cmd": touch("ran_train", "model.pkl"),
                "deps": ["a.txt", "data/missing.csv"],
                "outs": ["model.pkl"],
            },
        },
    )
    snap = ws.snapshot()
    assert_error(ws.artver("repro", expect=None), "data/missing.csv", "train")
    unchanged(ws, snap)
    assert not (ws.root / "ran_first").exists()
    assert not (ws.root / "ran_train").exists()


# -- 7: a command that fails ---------------------------------------------------------------------
FAIL = py("import sys; print('step 1'); print('boom'); sys.exit(3)")


def test_failing_command_shows_exit_code_and_last_lines(ws):
    write_pipeline(ws, {"explode": {"cmd": FAIL}})
    message = assert_error(ws.artver("repro", expect=None), "explode", "boom", ran=True)
    assert re.search(r"\b3\b", message), message
    assert "explode" not in lock_stages(ws)


def test_failing_stage_not_recorded_but_its_upstream_is(ws):
    write_pipeline(
        ws,
        {
            "prepare": {"cmd": touch("prepared.txt"), "outs": ["prepared.txt"]},
            "train": {"cmd": FAIL, "deps": ["prepared.txt"], "outs": ["model.pkl"]},
        },
    )
    assert_error(ws.artver("repro", expect=None), "train", "boom", ran=True)
    recorded = lock_stages(ws)
    assert "prepare" in recorded
    assert "train" not in recorded
    assert ws.read("prepared.txt") == b"prepared.txt\n"


def test_failing_rerun_leaves_the_previous_lock_entry_untouched(ws):
    script = "import sys\nif open('mode.txt').read().strip() == 'fail':\n    print('boom')\n"
    script += "    sys.exit(3)\nopen('out.txt', 'w').write('ok')\n"
    ws.write("step.py", script)
    ws.write("mode.txt", "ok\n")
    write_pipeline(
        ws, {"step": {"cmd": f"{PY} step.py", "deps": ["step.py", "mode.txt"], "outs": ["out.txt"]}}
    )
    ws.artver("repro")
    lock = ws.read("artver.lock")
    ws.write("mode.txt", "fail\n")
    message = assert_error(ws.artver("repro", expect=None), "step", "boom", ran=True)
    assert re.search(r"\b3\b", message), message
    assert ws.read("artver.lock") == lock


@pytest.mark.parametrize("keep_going", [False, True], ids=["default", "keep-going"])
def test_failure_stops_downstream_and_keep_going_finishes_other_branch(ws, keep_going):
    # Run order (-j 1, ties by name): a_fail, b_ok, c_down. c_down needs a_fail's output.
    write_pipeline(
        ws,
        {
            "a_fail": {"cmd": FAIL, "outs": ["a.txt"]},
            "b_ok": {"cmd": touch("ran_b", "b.txt"), "outs": ["b.txt"]},
            "c_down": {"cmd": touch("ran_c", "c.txt"), "deps": ["a.txt"], "outs": ["c.txt"]},
        },
    )
    args = ["repro", "--keep-going"] if keep_going else ["repro"]
    assert_error(ws.artver(*args, expect=None), "a_fail", "boom", ran=True)
    recorded = lock_stages(ws)
    assert "a_fail" not in recorded
    assert "c_down" not in recorded
    assert not (ws.root / "ran_c").exists()
    if keep_going:
        assert "b_ok" in recorded
        assert ws.read("b.txt") == b"b.txt\n"
    else:
        assert not (ws.root / "ran_b").exists()
        assert "b_ok" not in recorded


def test_keep_going_in_parallel_finishes_the_other_branch(ws):
    write_pipeline(
        ws,
        {
            "a_fail": {"cmd": FAIL, "outs": ["a.txt"]},
            "b_ok": {"cmd": touch("ran_b", "b.txt"), "outs": ["b.txt"]},
            "c_down": {"cmd": touch("ran_c", "c.txt"), "deps": ["a.txt"], "outs": ["c.txt"]},
        },
    )
    assert_error(ws.artver("repro", "-k", "-j", "2", expect=None), "a_fail", ran=True)
    recorded = lock_stages(ws)
    assert set(recorded) == {"b_ok"}
    assert not (ws.root / "ran_c").exists()


# -- 8: an out the command did not produce -------------------------------------------------------
def test_command_that_does_not_produce_its_out(ws):
    write_pipeline(
        ws,
        {"train": {"cmd": py("print('done')"), "outs": ["model.pkl", "logs"]}},
    )
    message = assert_error(ws.artver("repro", expect=None), "train", "model.pkl", ran=True)
    assert "logs" in message
    assert "train" not in lock_stages(ws)
    assert not (ws.root / "model.pkl").exists()


# -- 9: params -----------------------------------------------------------------------------------
def test_params_key_missing_from_params_file(ws):
    ws.write("params.yaml", "train:\n  lr: 0.1\n")
    write_pipeline(ws, {"train": {"cmd": touch("ran"), "params": ["train.lr", "train.epochs"]}})
    snap = ws.snapshot()
    assert_error(ws.artver("repro", expect=None), "train.epochs", "params.yaml")
    unchanged(ws, snap)
    assert not (ws.root / "ran").exists()


def test_params_key_missing_from_a_named_params_file(ws):
    ws.write("conf/train.json", '{"lr": 0.1}')
    write_pipeline(ws, {"train": {"cmd": touch("ran"), "params": [{"conf/train.json": ["seed"]}]}})
    snap = ws.snapshot()
    assert_error(ws.artver("repro", expect=None), "seed", "conf/train.json")
    unchanged(ws, snap)
    assert not (ws.root / "ran").exists()


def test_params_file_that_does_not_exist(ws):
    write_pipeline(ws, {"train": {"cmd": touch("ran"), "params": ["lr"]}})
    snap = ws.snapshot()
    assert_error(ws.artver("repro", expect=None), "params.yaml", "does not exist")
    unchanged(ws, snap)
    assert not (ws.root / "ran").exists()


def test_missing_param_downstream_stops_before_anything_runs(ws):
    ws.write("params.yaml", "train:\n  lr: 0.1\n")
    write_pipeline(
        ws,
        {
            "prepare": {"cmd": touch("ran_prepare", "p.txt"), "outs": ["p.txt"]},
            "train": {"cmd": touch("ran_train"), "deps": ["p.txt"], "params": ["train.epochs"]},
        },
    )
    snap = ws.snapshot()
    assert_error(ws.artver("repro", expect=None), "train.epochs", "params.yaml")
    unchanged(ws, snap)
    assert not (ws.root / "ran_prepare").exists()


# -- 10: resources -------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("resources", "env", "fragments"),
    [
        ({"gpus": 1}, {"ARTVER_GPUS": "0"}, ["1 GPU", "has 0"]),
        ({"cpus": 999}, {}, ["999 cpus", f"has {os.cpu_count()}"]),
        ({"memory": "100000GiB"}, {}, ["memory", "100000", "GiB"]),
    ],
    ids=["gpus", "cpus", "memory"],
)
def test_resources_the_machine_cannot_satisfy(ws, resources, env, fragments):
    write_pipeline(
        ws,
        {
            "big": {"cmd": touch("ran_big"), "resources": resources},
            "small": {"cmd": touch("ran_small")},
        },
    )
    snap = ws.snapshot()
    assert_error(ws.artver("repro", expect=None, env=env), "big", *fragments)
    unchanged(ws, snap)
    assert not (ws.root / "ran_big").exists()
    assert not (ws.root / "ran_small").exists()


# -- 11: foreach ---------------------------------------------------------------------------------
@pytest.mark.parametrize("items", ["3", "abc"], ids=["number", "string"])
def test_foreach_over_a_scalar(ws, items):
    text = f"stages:\n  train:\n    foreach: {items}\n    do:\n      cmd: {q(touch('ran'))}\n"
    ws.write("artver.yaml", text)
    snap = ws.snapshot()
    message = assert_error(ws.artver("repro", expect=None), "foreach", "list or a mapping")
    assert_position(message, 3, (5, 14))
    unchanged(ws, snap)
    assert not (ws.root / "ran").exists()


# -- 12: unknown stage ---------------------------------------------------------------------------
def test_repro_unknown_stage(ws):
    write_pipeline(ws, {"train": {"cmd": touch("ran")}})
    snap = ws.snapshot()
    assert_error(ws.artver("repro", "nosuchstage", expect=None), "nosuchstage")
    unchanged(ws, snap)
    assert not (ws.root / "ran").exists()


# -- 13: stage add refused -----------------------------------------------------------------------
STAGE_ADD_BASE = (
    "# my pipeline\n"
    "stages:\n"
    "  a:  # first\n"
    "    cmd: echo a\n"
    "    deps: [b.txt]\n"
    "    outs: [a.txt, data]\n"
)


@pytest.mark.parametrize(
    ("args", "fragments"),
    [
        (["-n", "a", "echo again"], ["a", "exists"]),
        (["-n", "b", "-d", "a.txt", "-o", "b.txt", "echo b"], ["cycle", "a", "b"]),
        (["-n", "c", "-o", "data/sub", "echo c"], ["data/sub", "a", "c"]),
        (["-n", "d", "-o", "a.txt", "echo d"], ["a.txt", "a", "d"]),
    ],
    ids=["existing-name", "cycle", "overlap", "same-output"],
)
def test_stage_add_refused_leaves_artver_yaml_unchanged(ws, args, fragments):
    ws.write("artver.yaml", STAGE_ADD_BASE)
    snap = ws.snapshot()
    assert_error(ws.artver("stage", "add", *args, expect=None), *fragments)
    assert ws.read("artver.yaml") == STAGE_ADD_BASE.encode()
    unchanged(ws, snap)


# -- 14: damaged artver.lock ---------------------------------------------------------------------
@pytest.mark.parametrize(
    "lock",
    ["schema: 1\nstages:\n  a: {cmd: [x\n", "schema: 1\nstages: 5\n", "- just\n- a list\n"],
    ids=["bad-yaml", "stages-not-a-mapping", "not-a-mapping"],
)
@pytest.mark.parametrize("command", [["repro"], ["status"]])
def test_damaged_lock_is_named(ws, lock, command):
    write_pipeline(ws, {"a": {"cmd": touch("ran", "a.txt"), "outs": ["a.txt"]}})
    ws.write("artver.lock", lock)
    snap = ws.snapshot()
    assert_error(ws.artver(*command, expect=None), "artver.lock")
    unchanged(ws, snap)
    assert ws.read("artver.lock") == lock.encode()
    assert not (ws.root / "ran").exists()
