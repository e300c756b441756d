"""Hostile and damaged files artver parses, through the real CLI: one message, fast.

Issue 14: an alias bomb in params.yaml made `status` take 37 s and `repro` hang; binary
files, NUL bytes and directories where files belong gave "unexpected exception" tracebacks;
and a deeply nested YAML file crashes libyaml's composer (a segfault, not even a message).
Each test plants such a file in a real repository and runs the commands that read it in a
subprocess with a short timeout: each must exit 1 within seconds with one `error:` naming the
file and the problem, and leave the work tree as it was.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest

from tests.conftest import Result, Workspace
from tests.test_bad_input import assert_error

FAST = 15  # seconds: a bounded refusal, with room for a loaded CI machine
OID = "0123456789abcdef0123456789abcdef"
PIPELINE = (
    "stages:\n  train:\n    cmd: echo ran > model.txt\n"
    "    params:\n      - lr\n      - params.yaml:\n    outs:\n      - model.txt\n"
)


def artver(ws: Workspace, *args: str, timeout: float = 60) -> tuple[Result, float]:
    """`artver ARGS` in a subprocess that may not hang (killed after `timeout`), and the
    seconds it took."""
    started = time.monotonic()
    proc = subprocess.run(
        [sys.executable, "-m", "artver", *args],
        cwd=ws.root,
        input="",
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    return Result(proc.returncode, proc.stdout, proc.stderr), time.monotonic() - started


def refused_fast(ws: Workspace, args: list[str], *fragments: str) -> str:
    snapshot = ws.snapshot()
    res, took = artver(ws, *args)
    assert_error(res, *fragments)
    assert took < FAST, f"artver {' '.join(args)} took {took:.1f} s to refuse"
    assert ws.snapshot() == snapshot, "a refused command changed the work tree"
    return res.stderr


@pytest.fixture
def pipeline(ws: Workspace) -> Workspace:
    """A one-stage pipeline that reads lr and the whole of params.yaml, run once (so the
    state DB has remembered the parses of every file, and the lock exists)."""
    ws.write("params.yaml", "lr: 0.1\n")
    ws.write("artver.yaml", PIPELINE)
    ws.artver("repro")
    return ws


def alias_bomb(levels: int = 9) -> str:
    lines = ["lr: 0.1", "a0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
    lines += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]" for i in range(1, levels)]
    return "\n".join(lines) + "\n"


# -- the alias bomb of the issue ---------------------------------------------------------------
@pytest.mark.parametrize("command", [["status"], ["repro"], ["params", "diff"]])
def test_an_alias_bomb_in_params_is_refused_within_seconds(pipeline, command):
    pipeline.write("params.yaml", alias_bomb())
    refused_fast(pipeline, command, "params.yaml", "aliases expand to more than 100,000 nodes")
    assert pipeline.read("model.txt") == b"ran\n"  # repro ran nothing


def test_an_alias_bomb_in_artver_yaml_or_config_is_refused(pipeline):
    pipeline.write("artver.yaml", PIPELINE + alias_bomb().replace("lr: 0.1\n", "vars:\n  x: 1\n"))
    refused_fast(pipeline, ["status"], "artver.yaml", "aliases expand")
    pipeline.write("artver.yaml", PIPELINE)
    pipeline.write(".artver/config.local.yaml", "core:\n  x: 1\n" + alias_bomb())
    refused_fast(pipeline, ["status"], "config.local.yaml", "aliases expand")


def test_a_recursive_alias_is_refused(pipeline):
    pipeline.write("params.yaml", "lr: &a [1, *a]\n")
    refused_fast(pipeline, ["status"], "params.yaml", "the alias *a is inside the node it names")


# -- nesting that would crash the parser ---------------------------------------------------------
@pytest.mark.parametrize(
    ("file", "text"),
    [
        ("artver.yaml", "stages: " + "[" * 200_000 + "]" * 200_000 + "\n"),
        ("params.yaml", "- " * 100_000 + "x\n"),
        ("artver.lock", "stages: " + "{a: " * 100_000 + "1" + "}" * 100_000 + "\n"),
        ("params.json", '{"lr": ' + "[" * 100_000 + "]" * 100_000 + "}"),
    ],
)
def test_deep_nesting_is_refused_not_a_crash(pipeline, file, text):
    if file == "params.json":
        pipeline.write("artver.yaml", PIPELINE.replace("params.yaml:", "params.json:"))
    pipeline.write(file, text)
    refused_fast(pipeline, ["status"], file, "more than 100 levels deep")


def test_a_matrix_that_would_make_millions_of_stages_is_refused(ws):
    values = ", ".join(str(i) for i in range(20))
    names = "".join(f"{n}: [{values}], " for n in "abcde")
    ws.write("artver.yaml", f"stages:\n  grid:\n    matrix: {{{names}}}\n    cmd: echo\n")
    refused_fast(ws, ["status"], "artver.yaml", "grid would make more than 10,000 stages")


# -- size ------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("file", "limit"),
    [
        ("params.yaml", "16.0 MiB"),
        ("artver.yaml", "8.0 MiB"),
        ("artver.lock", "32.0 MiB"),
        (".artver/config.yaml", "1.0 MiB"),
    ],
)
def test_a_50_mb_yaml_file_is_refused_at_once(pipeline, file, limit):
    with open(pipeline.root / file, "w") as fobj:  # 50 MB of valid YAML: `lr: 0.1` then data
        fobj.write("lr: 0.1\nstages: {}\n" if file != "artver.yaml" else "stages: {}\n")
        fobj.write("# " + "x" * (50 * 1000 * 1000) + "\n")
    refused_fast(pipeline, ["status"], file.rpartition("/")[2], "it is 47.7 MiB", f"the {limit}")


# -- binary text, NUL, not a file ----------------------------------------------------------------
BINARY = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\xff\xfe"


@pytest.mark.parametrize(
    "file", ["params.yaml", "artver.yaml", "artver.lock", ".artver/config.yaml"]
)
@pytest.mark.parametrize("command", [["status"], ["repro"]])
def test_a_binary_file_is_not_utf8_text(pipeline, file, command):
    pipeline.write(file, BINARY)
    message = refused_fast(pipeline, command, file.rpartition("/")[2], "not UTF-8 text")
    assert "byte 0x89 at offset 0" in message


def test_a_nul_in_a_pointer_is_refused(ws):
    ws.write("data.txt", "data")
    ws.artver("add", "data.txt")
    text = ws.read("data.txt.artver").replace(b"  size:", b"  desc: a\x00b\n  size:")
    ws.write("data.txt.artver", text)
    for command in (["status"], ["checkout"], ["ls"]):
        refused_fast(ws, command, "data.txt.artver", "NUL character")


def test_a_nul_escape_in_a_pipeline_path_is_refused(ws):
    ws.write("artver.yaml", 'stages:\n  a:\n    cmd: echo\n    deps: ["in\\0put"]\n')
    refused_fast(ws, ["status"], "artver.yaml", "line 4", "NUL character")


def test_a_pointer_that_is_a_directory_stops_add_before_caching(ws):
    ws.write("data.txt", "data")
    (ws.root / "data.txt.artver").mkdir()
    refused_fast(ws, ["add", "data.txt"], "data.txt", "pointer file data.txt.artver is a directory")
    assert not any((ws.root / ".artver" / "cache").glob("??/*"))


@pytest.mark.parametrize("file", ["params.yaml", "artver.lock", ".artver/config.yaml"])
def test_a_directory_where_a_file_belongs_is_named(pipeline, file):
    (pipeline.root / file).unlink()
    (pipeline.root / file).mkdir()
    refused_fast(pipeline, ["status"], file.rpartition("/")[2], "is a directory, not a file")


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs here")
def test_a_fifo_params_file_is_refused_not_waited_on(pipeline):
    (pipeline.root / "params.yaml").unlink()
    os.mkfifo(pipeline.root / "params.yaml")
    refused_fast(pipeline, ["status"], "params.yaml", "not a regular file")


# -- damaged content -------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("entry", "problem"),
    [
        ("    deps: data.csv\n", "'deps' is a str, not a list"),
        ("    outs:\n    - path: [a]\n", "has no path"),
        ("    outs:\n    - path: model.txt\n      size: -4\n", "'size' is negative"),
        ("    env: {python: [3, 11]}\n", "'env.python' is a list, not a mapping"),
    ],
)
def test_a_damaged_lock_says_what_is_wrong(pipeline, entry, problem):
    pipeline.write("artver.lock", f"schema: 1\nstages:\n  train:\n    cmd: x\n{entry}")
    refused_fast(pipeline, ["status"], "artver.lock is damaged", "stage train", problem)


def test_params_with_number_keys_still_work(pipeline):
    """YAML reads `1:` as a number: the keys of the whole-file params are compared as text,
    not sorted as a mix of numbers and strings (a TypeError before)."""
    pipeline.write("params.yaml", "lr: 0.1\n1: one\nnull: none\n")
    res, _ = artver(pipeline, "status")
    assert res.code == 0, res.stderr
    assert "param 1 added" in res.stdout
    res, _ = artver(pipeline, "repro")
    assert res.code == 0, res.stderr
