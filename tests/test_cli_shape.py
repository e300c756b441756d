"""The command line as a whole: shell completion, the nearest command for a typo, and help."""

from __future__ import annotations

import subprocess
import sys

from tests.conftest import run_artver


def test_shell_completion_script_and_answers(tmp_path):
    # Typer finds the shell from the process tree: run it under bash, whatever runs the tests
    # (two commands, so that bash waits instead of exec-ing artver in its place).
    shown = subprocess.run(
        ["bash", "-c", f"'{sys.executable}' -m artver --show-completion; exit $?"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=True,
    )
    script = shown.stdout
    assert "_artver_completion" in script and "complete " in script
    env = {"_ARTVER_COMPLETE": "complete_bash", "COMP_WORDS": "artver sta", "COMP_CWORD": "1"}
    assert run_artver(cwd=tmp_path, env=env).stdout.split() == ["status", "stage"]
    env.update(COMP_WORDS="artver checkout --", COMP_CWORD="2")
    assert {"--force", "--relink", "--rev"} <= set(run_artver(cwd=tmp_path, env=env).stdout.split())


def test_a_mistyped_command_names_the_nearest_one(tmp_path):
    res = run_artver("statsu", cwd=tmp_path, expect=2)
    assert "No such command 'statsu'. Did you mean 'status'?" in res.stderr
    res = run_artver("remote", "ad", "x", "y", cwd=tmp_path, expect=2)
    assert "Did you mean 'add'?" in res.stderr


def test_help_lists_every_command_group(tmp_path):
    shown = run_artver("-h", cwd=tmp_path).stdout
    for command in (
        "init",
        "status",
        "config",
        "repro",
        "verify",
        "push",
        "diff",
        "lineage",
        "install",
        "fsck",
        "stage",
        "remote",
        "params",
        "metrics",
    ):
        assert f"\n  {command} " in shown, command
