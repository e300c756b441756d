"""Hermetic runs: `repro --hermetic` and `core.hermetic`, the scratch directory, the params
files it holds, and the message for a stage that reads a file it does not declare."""

from __future__ import annotations

import os

from artver.ops.hermetic import Spec, undeclared_dep
from artver.ops.hermetic_params import overlay, params_text, used_values
from artver.stages.schema import ParamRef
from artver.yamlio import load_yaml
from tests.reproducibility_helpers import PY, scratch_left, setup_pipeline, write_pipeline
from tests.test_bad_input import assert_error


def lock(ws) -> dict:
    return load_yaml((ws.root / "artver.lock").read_text())["stages"]


# -- pure decisions --------------------------------------------------------------------------------
def test_params_are_taken_as_they_are_when_they_hold_the_recorded_values():
    refs = [ParamRef("params.yaml", "train.lr")]
    text = "train:\n  lr: 0.1  # tuned\n  epochs: 3\n"
    assert used_values(refs, {"train": {"lr": 0.1}}) == {"train.lr": 0.1}
    assert params_text("params.yaml", refs, {"train.lr": 0.1}, [text]) == text
    # The workspace moved on; the committed text still holds what the lock records.
    later = "train:\n  lr: 0.5\n"
    assert params_text("params.yaml", refs, {"train.lr": 0.1}, [later, text]) == text


def test_recorded_values_are_written_over_a_file_that_moved_on():
    refs = [ParamRef("params.yaml", "train.lr"), ParamRef("params.yaml", "layers.1")]
    data = {"train": {"lr": 0.5, "epochs": 3}, "layers": [4, 8]}
    assert overlay(data, refs, {"train.lr": 0.1, "layers.1": 16}) == {
        "train": {"lr": 0.1, "epochs": 3},
        "layers": [4, 16],
    }
    assert data["train"]["lr"] == 0.5, "the input is not changed"
    whole = [ParamRef("conf.json", None)]
    assert overlay({"a": 1, "b": 2}, whole, {"a": 3}) == {"a": 3}
    text = params_text("conf.json", whole, {"a": 3}, ['{"a": 1, "b": 2}'])
    assert text == '{\n  "a": 3\n}\n'


def test_a_toml_file_that_moved_on_is_refused():
    refs = [ParamRef("p.toml", "lr")]
    try:
        params_text("p.toml", refs, {"lr": 0.1}, ["lr = 0.5\n"])
    except Exception as exc:
        assert "cannot rewrite a TOML file" in str(exc)
    else:
        raise AssertionError("a TOML file with other values was accepted")
    assert params_text("p.toml", refs, {"lr": 0.1}, ["lr = 0.1\n"]) == "lr = 0.1\n"


def test_the_undeclared_file_is_found_in_the_commands_output(tmp_path):
    root = tmp_path / "repo"
    (root / "sub" / "data").mkdir(parents=True)
    (root / "sub" / "data" / "extra.csv").write_text("x")
    (root / "sub" / "in.csv").write_text("x")
    scratch = root / ".artver" / "tmp" / "s-1"
    spec = Spec("s", ("cmd",), "sub", [], {}, ["sub/out.txt"], set(), None)
    python = "FileNotFoundError: [Errno 2] No such file or directory: 'data/extra.csv'"
    assert undeclared_dep(spec, ["Traceback", python], scratch, root) == (
        "sub/data/extra.csv",
        "data/extra.csv",
    )
    cat = "cat: in.csv: No such file or directory"
    assert undeclared_dep(spec, [cat], scratch, root) == ("sub/in.csv", "in.csv")
    absolute = f"python3: can't open file '{scratch}/sub/data/extra.csv': [Errno 2] No such file"
    assert undeclared_dep(spec, [absolute], scratch, root) == (
        "sub/data/extra.csv",
        "data/extra.csv",
    )
    # Not a repository file, or a path outside it: no suggestion.
    assert (
        undeclared_dep(spec, ["cat: nowhere.txt: No such file or directory"], scratch, root) is None
    )
    assert (
        undeclared_dep(spec, ["cat: /etc/nope: No such file or directory"], scratch, root) is None
    )


# -- repro --hermetic ------------------------------------------------------------------------------
def test_hermetic_repro_records_what_a_plain_repro_records(ws):
    setup_pipeline(ws, commit=False)
    plain = lock(ws)
    plain_outs = ws.files("out")
    ws.write(".artver/tmp/prep-left/by/a/killed/run.txt", "x")  # removed by the next run
    ws.artver("repro", "-f", "prep", "--hermetic")
    hermetic = lock(ws)
    for entry in (hermetic["prep"], plain["prep"]):
        assert entry.pop("observed")["started"]  # when and where it ran: not the record's identity
    assert hermetic["prep"] == plain["prep"]
    assert ws.files("out") == plain_outs
    assert ws.read("summary.txt") == b"rows 3\nk 1\nseed 7\n"
    assert ws.artver("status").stdout == "Data and pipelines are up to date.\n"
    oid = hermetic["prep"]["outs"][0]["oid"]
    assert ws.cache_object(oid).is_file(), "the outputs went into the cache"
    assert scratch_left(ws) == []
    assert ws.git("status", "--porcelain", "--ignored", ".artver/tmp") in ("", "!! .artver/tmp/\n")


def test_a_stage_that_reads_an_undeclared_file_fails_and_names_the_dep_to_declare(ws):
    ws.write(
        "sub/src/use.py",
        "import sys\ntry:\n    print(open('data/extra.csv').read())\n"
        "except OSError as exc:\n    sys.exit(f'cannot read the extra rows: {exc}')\n"
        "open('o.txt', 'w')\n",
    )
    ws.write("sub/data/extra.csv", "not declared\n")
    ws.write(
        "artver.yaml",
        f"stages:\n  use:\n    cmd: {PY} src/use.py\n    wdir: sub\n"
        "    deps: [src/use.py]\n    outs: [o.txt]\n",
    )
    ws.artver("repro")  # not hermetic: the file is there
    before = lock(ws)
    res = ws.artver("repro", "-f", "--hermetic", expect=1)
    assert "error: stage use failed: exited with code 1; it read sub/data/extra.csv" in res.stderr
    assert "declare it: deps: [data/extra.csv]" in res.stderr
    assert lock(ws) == before, "the failed stage's entry stays as it was"
    assert scratch_left(ws) == []
    # Declared, it runs hermetically.
    ws.write(
        "artver.yaml",
        f"stages:\n  use:\n    cmd: {PY} src/use.py\n    wdir: sub\n"
        "    deps: [src/use.py, data/extra.csv]\n    outs: [o.txt]\n",
    )
    ws.artver("repro", "--hermetic")
    assert (ws.root / "sub" / "o.txt").is_file()


def test_core_hermetic_config_makes_every_repro_hermetic(ws):
    ws.write("src/use.py", "cat undeclared.txt > o.txt\n")
    ws.write("undeclared.txt", "x")
    write_pipeline(
        ws, "stages:\n  use:\n    cmd: sh src/use.py\n    deps: [src/use.py]\n    outs: [o.txt]\n"
    )
    ws.artver("config", "core.hermetic", "true")
    res = ws.artver("repro", expect=1)
    assert "declare it: deps: [undeclared.txt]" in res.stderr
    ws.artver("config", "core.hermetic", "false")
    ws.artver("repro")
    assert ws.read("o.txt") == b"x"
    assert_error(ws.artver("config", "core.hermetic", "maybe", expect=1), "core.hermetic")


def test_persist_outs_and_executable_deps_in_a_hermetic_run(ws):
    ws.write("tool.sh", "#!/bin/sh\necho run >> log.txt\necho done > o.txt\n")
    os.chmod(ws.root / "tool.sh", 0o755)
    ws.write(
        "artver.yaml",
        "stages:\n  t:\n    cmd: ./tool.sh\n    deps: [tool.sh]\n"
        "    outs: [o.txt, {path: log.txt, persist: true, cache: false}]\n",
    )
    ws.artver("repro", "--hermetic")
    ws.artver("repro", "--hermetic", "-f")
    assert ws.read("log.txt") == b"run\nrun\n", "a persist out goes on from the workspace's"
    assert ws.read("o.txt") == b"done\n"
    assert os.access(ws.root / "tool.sh", os.X_OK)
    assert scratch_left(ws) == []


def test_repro_force_warns_when_identical_inputs_give_other_outputs(ws):
    setup_pipeline(ws)
    res = ws.artver("repro", "-f", "noisy", "prep")
    assert "warning: stage noisy is not deterministic: nout changed with identical inputs" in (
        res.stderr
    )
    assert "stage prep is not deterministic" not in res.stderr
    assert res.stderr.count("not deterministic") == 1
