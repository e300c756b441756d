"""`artver install`: the Git hooks, driven by the real `git` on real repositories.

The pure parts (composing and removing artver's block in a hook's text, reading the refs Git
gives pre-push) are tested on literals first.
"""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from artver.ops.git_hook import pushed_revisions
from artver.ops.hooks import (
    BEGIN,
    END,
    HookError,
    add_block,
    hook_block,
    interpreter,
    is_shell,
    remove_block,
)
from tests.conftest import Result, Workspace, git, run_artver, xxh

HOOK_NAMES = ("post-checkout", "pre-commit", "pre-push")
USER_HOOK = b'#!/bin/sh\n# my own hook\ntouch "$(git rev-parse --git-dir)/user-hook-ran"\nexit 0\n'


# -- pure: the text of a hook ----------------------------------------------------------------------
@pytest.mark.parametrize("python", ["/opt/venv/bin/python", None])
@pytest.mark.parametrize("name", HOOK_NAMES)
def test_a_new_hook_is_a_shell_script_with_one_block_that_removal_deletes(name, python):
    text = add_block(None, hook_block(name, python), name)
    assert text.startswith("#!/bin/sh\n" + BEGIN + "\n")
    assert text.count(BEGIN) == 1 and text.endswith(END + "\n")
    assert f'git-hook {name} "$@"' in text
    assert ("/opt/venv/bin/python -P -m artver" in text) == (python is not None)
    assert remove_block(text, name) is None


@pytest.mark.parametrize(
    "user",
    [
        "#!/bin/sh\necho mine\nexit 0\n",
        "#!/usr/bin/env bash\nset -e\n\necho mine",  # no final newline
        "echo no shebang: git runs me with sh\n",
        "",
        "#!/bin/sh\r\necho crlf\r\n",
        "#!/bin/sh\necho caf\udce9\n",  # not UTF-8: kept byte for byte (surrogateescape)
    ],
)
def test_the_users_part_comes_back_byte_identical(user):
    block = hook_block("pre-commit", "/usr/bin/python3")
    installed = add_block(user, block)
    assert installed.count(BEGIN) == 1
    if user.startswith("#!"):
        assert installed.split("\n", 1)[1].startswith(BEGIN)  # first, after the shebang
    else:
        assert installed.startswith(BEGIN)
    assert remove_block(installed) == (user if user.strip() else None)


def test_installing_again_replaces_the_block_in_place():
    user = "#!/bin/sh\necho mine\n"
    first = add_block(user, hook_block("pre-push", "/old/python"))
    second = add_block(first, hook_block("pre-push", "/new/python"))
    assert second.count(BEGIN) == 1 and second.count(END) == 1
    assert "/new/python" in second and "/old/python" not in second
    assert add_block(second, hook_block("pre-push", "/new/python")) == second
    assert remove_block(second) == user


def test_a_shebang_without_newline_is_kept_and_the_file_goes_on_uninstall():
    installed = add_block("#!/bin/sh", hook_block("pre-commit", None))
    assert installed.startswith("#!/bin/sh\n" + BEGIN)
    assert remove_block(installed) is None


def test_text_without_a_block_is_left_alone():
    assert remove_block("#!/bin/sh\necho mine\n") == "#!/bin/sh\necho mine\n"


@pytest.mark.parametrize(
    "text",
    [
        f"#!/bin/sh\n{BEGIN}\necho half\n",
        f"#!/bin/sh\necho half\n{END}\n",
        f"#!/bin/sh\n{BEGIN}\n{END}\n{BEGIN}\n{END}\n",
        f"#!/bin/sh\n{END}\n{BEGIN}\n",
    ],
)
def test_a_damaged_block_is_an_error_not_a_guess(text):
    with pytest.raises(HookError, match="damaged artver block"):
        remove_block(text, "pre-commit")
    with pytest.raises(HookError, match="pre-commit"):
        add_block(text, hook_block("pre-commit", None), "pre-commit")


@pytest.mark.parametrize(
    "data,shell",
    [
        (b"#!/bin/sh\necho\n", True),
        (b"#!/bin/bash -e\n", True),
        (b"#! /usr/bin/env bash\n", True),
        (b"#!/usr/bin/env -S bash -eu\n", True),
        (b"#!/usr/bin/env VAR=1 zsh\n", True),
        (b"#!/bin/busybox sh\n", True),
        (b"echo plain text runs under sh\n", True),
        (b"", True),
        (b"#!/usr/bin/env python\nimport sys\n", False),
        (b"#!/usr/bin/python3\n", False),
        (b"#!/usr/bin/env node\n", False),
        (b"#!/usr/bin/env fish\n", False),
        (b"\x7fELF\x02\x01\x01\x00\x00\x00", False),
    ],
)
def test_which_hooks_are_shell_scripts(data, shell):
    assert is_shell(data) is shell


def test_interpreter_names_the_program():
    assert interpreter("#!/usr/bin/env python3\n") == "python3"
    assert interpreter("#!/bin/sh") == "sh"
    assert interpreter("echo hi\n") is None


def test_pushed_revisions_are_the_local_commits_except_deletions():
    a, b, zero = "a" * 40, "b" * 40, "0" * 40
    refs = (
        f"refs/heads/main {a} refs/heads/main {zero}\n"
        f"refs/heads/x {b} refs/heads/x {a}\n"
        f"(delete) {zero} refs/heads/gone {b}\n"
        f"refs/tags/t {a} refs/tags/t {zero}\n"
        "\n"
        "garbage\n"
    )
    assert pushed_revisions(refs) == [a, b]
    assert pushed_revisions("") == []


# -- helpers for the scenarios ---------------------------------------------------------------------
def run_git(ws: Workspace, *args: str) -> subprocess.CompletedProcess:
    """git, with its output kept and no check: hooks print to stderr and may fail."""
    return subprocess.run(["git", *args], cwd=ws.root, capture_output=True, text=True)


def hooks_dir(ws: Workspace) -> Path:
    return ws.root / ".git" / "hooks"


def assert_error(res: Result, *fragments: str) -> None:
    shown = f"exit {res.code}\nstdout:\n{res.stdout}\nstderr:\n{res.stderr}"
    assert res.code == 1, shown
    assert res.stderr.startswith("error: ") and res.stderr.count("error:") == 1, shown
    assert "Traceback" not in res.stderr and "run with -v" not in res.stderr, shown
    for fragment in fragments:
        assert fragment in res.stderr, f"{fragment!r} not in the message\n{shown}"


def hook_files(ws: Workspace) -> dict[str, tuple[bytes, int]]:
    """Every hook that is not a Git sample, with its bytes and mode."""
    found = {}
    for path in sorted(hooks_dir(ws).iterdir()):
        if not path.name.endswith(".sample"):
            found[path.name] = (path.read_bytes(), stat.S_IMODE(path.lstat().st_mode))
    return found


def two_branches(ws: Workspace) -> None:
    """main tracks data/a.txt = "on main", branch other = "on other"; main checked out."""
    ws.write("data/a.txt", "on main")
    ws.artver("add", "data")
    ws.commit("main data", hooks=False)
    ws.git("checkout", "-q", "-b", "other")
    ws.write("data/a.txt", "on other")
    ws.write("data/b.txt", "only on other")
    ws.artver("add", "data")
    ws.commit("other data", hooks=False)
    ws.git("checkout", "-q", "main")
    ws.artver("checkout")
    assert ws.files("data") == {"a.txt": b"on main"}


# -- install / uninstall ---------------------------------------------------------------------------
def test_install_writes_three_executable_hooks_and_git_hook_is_hidden(ws):
    res = ws.artver("install")
    assert "Installed hooks post-checkout, pre-commit, pre-push in .git/hooks" in res.stderr
    found = hook_files(ws)
    assert sorted(found) == sorted(HOOK_NAMES)
    for name, (data, mode) in found.items():
        assert data.startswith(b"#!/bin/sh\n")
        assert f'git-hook {name} "$@"'.encode() in data
        assert mode & 0o111 == 0o111
    assert "git-hook" not in ws.artver("--help").stdout


def test_install_twice_leaves_one_block_and_uninstall_deletes_what_it_created(ws):
    ws.artver("install")
    first = hook_files(ws)
    res = ws.artver("install")
    assert "already installed" in res.stderr
    assert hook_files(ws) == first
    for data, _ in first.values():
        assert data.count(BEGIN.encode()) == 1
    res = ws.artver("install", "--uninstall")
    assert "Removed hooks post-checkout, pre-commit, pre-push" in res.stderr
    assert hook_files(ws) == {}
    assert "No artver hooks" in ws.artver("install", "--uninstall").stderr


def test_an_existing_shell_hook_keeps_running_and_comes_back_byte_identical(ws):
    user = hooks_dir(ws) / "pre-commit"
    user.write_bytes(USER_HOOK)
    user.chmod(0o750)
    res = ws.artver("install")
    assert "Kept your pre-commit hook" in res.stderr
    assert user.read_bytes().count(BEGIN.encode()) == 1
    assert stat.S_IMODE(user.stat().st_mode) == 0o750

    ws.write("data/a.txt", "one")
    ws.artver("add", "data")
    ws.commit("data", hooks=False)
    ws.write("data/a.txt", "changed")  # so that artver's part has something to say
    ws.write("code.py", "print(1)")
    ws.git("add", "code.py")
    proc = run_git(ws, "commit", "-q", "-m", "code")
    assert proc.returncode == 0, proc.stderr
    assert (ws.root / ".git" / "user-hook-ran").exists()
    assert "artver: warning" in proc.stderr and "data: modified" in proc.stderr

    ws.artver("install", "--uninstall")
    assert user.read_bytes() == USER_HOOK
    assert stat.S_IMODE(user.stat().st_mode) == 0o750
    assert sorted(hook_files(ws)) == ["pre-commit"]
    (ws.root / ".git" / "user-hook-ran").unlink()
    ws.write("code.py", "print(2)")
    ws.git("add", "code.py")
    proc = run_git(ws, "commit", "-q", "-m", "code 2")
    assert proc.returncode == 0 and "artver" not in proc.stderr
    assert (ws.root / ".git" / "user-hook-ran").exists()


@pytest.mark.parametrize(
    "content",
    [b"#!/usr/bin/env python\nimport sys\nsys.exit(0)\n", b"\x7fELF\x02\x01\x01\x00\x00binary"],
    ids=["python", "binary"],
)
def test_a_non_shell_hook_stops_install_and_nothing_is_written(ws, content):
    user = hooks_dir(ws) / "pre-commit"
    user.write_bytes(content)
    user.chmod(0o755)
    before = hook_files(ws)
    res = ws.artver("install", expect=1)
    assert_error(res, "pre-commit", "not a shell script", "nothing was changed", "git-hook")
    assert ("python script" in res.stderr) == content.startswith(b"#!")
    assert hook_files(ws) == before  # post-checkout and pre-push not created either


def test_a_symlinked_or_disabled_hook_stops_install(ws, tmp_path):
    shared = tmp_path / "shared-hook"
    shared.write_bytes(USER_HOOK)
    shared.chmod(0o755)
    (hooks_dir(ws) / "pre-push").symlink_to(shared)
    (hooks_dir(ws) / "pre-commit").symlink_to(tmp_path / "not-there")
    disabled = hooks_dir(ws) / "post-checkout"
    disabled.write_bytes(USER_HOOK)
    disabled.chmod(0o644)
    res = ws.artver("install", expect=1)
    assert_error(res, "pre-push", "symlink", "pre-commit", "post-checkout", "not executable")
    assert shared.read_bytes() == USER_HOOK
    assert disabled.read_bytes() == USER_HOOK
    assert os.readlink(hooks_dir(ws) / "pre-commit") == str(tmp_path / "not-there")


def test_install_outside_git_fails_cleanly(tmp_path):
    plain = tmp_path / "plain"
    plain.mkdir()
    assert_error(run_artver("install", cwd=plain, expect=1), "not inside a Git repository")
    run_artver("init", "--no-git", cwd=plain)
    res = run_artver("install", cwd=plain, expect=1)
    assert_error(res, "--no-git", "no Git hooks")
    assert sorted(p.name for p in plain.iterdir()) == [".artver"]


def test_install_in_git_without_artver_fails(gitrepo):
    res = gitrepo.artver("install", expect=1)
    assert_error(res, "not an artver repository")
    assert hook_files(gitrepo) == {}


def test_core_hooks_path_is_used_and_gets_no_absolute_path(ws):
    ws.git("config", "core.hooksPath", ".githooks")
    res = ws.artver("install")
    assert "in .githooks" in res.stderr and "from PATH" in res.stderr
    assert hook_files(ws) == {}
    for name in HOOK_NAMES:
        text = (ws.root / ".githooks" / name).read_text()
        assert f'artver git-hook {name} "$@"' in text
        assert str(ws.root) not in text and "/python" not in text  # may be committed


def test_a_linked_worktree_installs_into_the_shared_hooks(ws, tmp_path):
    ws.commit("artver config", hooks=False)
    ws.git("worktree", "add", "-q", str(tmp_path / "wt"))
    res = run_artver("install", cwd=tmp_path / "wt")
    assert "Installed hooks" in res.stderr
    assert sorted(hook_files(ws)) == sorted(HOOK_NAMES)


# -- post-checkout ---------------------------------------------------------------------------------
def test_git_checkout_switches_the_tracked_data(ws):
    two_branches(ws)
    ws.artver("install")
    proc = run_git(ws, "checkout", "-q", "other")
    assert proc.returncode == 0, proc.stderr
    assert ws.files("data") == {"a.txt": b"on other", "b.txt": b"only on other"}
    assert "artver: checked out data" in proc.stderr
    proc = run_git(ws, "switch", "-q", "main")
    assert proc.returncode == 0, proc.stderr
    assert ws.files("data") == {"a.txt": b"on main"}
    # Checking out files (not a branch) or a branch at the same commit leaves data alone.
    ws.write("data/a.txt", "edited")
    proc = run_git(ws, "checkout", "-q", "-b", "same-commit")
    assert proc.returncode == 0 and proc.stderr == ""
    assert ws.read("data/a.txt") == b"edited"


def test_post_checkout_never_fails_the_checkout_and_loses_nothing(ws, tmp_path):
    two_branches(ws)
    ws.artver("install")
    ws.write("data/a.txt", "unrecorded work")
    proc = run_git(ws, "checkout", "-q", "other")
    assert proc.returncode == 0, proc.stderr
    assert ws.read("data/a.txt") == b"unrecorded work"
    assert "data not checked out" in proc.stderr and "artver checkout --force" in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1

    # A fresh clone has pointers but no objects: one hint to pull.
    clone = tmp_path / "clone"
    git("clone", "-q", str(ws.root), str(clone), cwd=tmp_path)
    other = Workspace(clone)
    other.artver("install")
    proc = run_git(other, "checkout", "-q", "main")  # the clone started on `other`
    assert proc.returncode == 0, proc.stderr
    assert "data not checked out" in proc.stderr and "artver pull" in proc.stderr
    assert "Traceback" not in proc.stderr and len(proc.stderr.strip().splitlines()) == 1


# -- pre-commit ------------------------------------------------------------------------------------
def test_pre_commit_warns_about_changed_data_and_commits_anyway(ws):
    ws.write("data/a.txt", "one")
    ws.write("model.bin", "weights")
    ws.artver("add", "data", "model.bin")
    ws.commit("data", hooks=False)
    ws.artver("install")
    ws.write("data/a.txt", "two")
    (ws.root / "model.bin").unlink()
    ws.write("notes.txt", "x")
    ws.git("add", "notes.txt")
    proc = run_git(ws, "commit", "-q", "-m", "notes")
    assert proc.returncode == 0, proc.stderr
    assert "data: modified" in proc.stderr and "model.bin: missing" in proc.stderr
    assert "artver add" in proc.stderr
    assert "notes" in ws.git("log", "-1", "--format=%s")
    ws.artver("checkout", "model.bin")
    ws.artver("add", "data")
    ws.git("add", "-A")
    proc = run_git(ws, "commit", "-q", "-m", "record")
    assert proc.returncode == 0 and "artver" not in proc.stderr


# -- pre-push --------------------------------------------------------------------------------------
def bare_origin(ws: Workspace, tmp_path: Path) -> Path:
    bare = tmp_path / "origin.git"
    git("init", "-q", "--bare", str(bare), cwd=tmp_path)
    ws.git("remote", "add", "origin", str(bare))
    return bare


def origin_and_store(ws: Workspace, tmp_path: Path) -> tuple[Path, Path]:
    """A bare Git origin, and a local-directory artver remote as the default."""
    store = tmp_path / "store"
    ws.artver("remote", "add", "-d", "store", str(store))
    return bare_origin(ws, tmp_path), store


def stored(store: Path) -> set[str]:
    """The ids of the objects in a local-directory remote."""
    return {p.parent.name + p.name for p in store.rglob("*") if p.is_file()}


def test_git_push_sends_the_data_of_the_pushed_commits(ws, tmp_path):
    bare, store = origin_and_store(ws, tmp_path)
    two_branches(ws)
    ws.artver("install")
    proc = run_git(ws, "push", "-q", "origin", "main")
    assert proc.returncode == 0, proc.stderr
    assert xxh(b"on main") in stored(store)
    assert xxh(b"on other") not in stored(store)  # not pushed yet, not checked out either
    proc = run_git(ws, "push", "-q", "origin", "other")
    assert proc.returncode == 0, proc.stderr
    assert {xxh(b"on other"), xxh(b"only on other")} <= stored(store)
    assert git("rev-parse", "other", cwd=bare).strip() == ws.git("rev-parse", "other").strip()


def test_a_failing_artver_push_blocks_the_git_push(ws, tmp_path):
    bare, store = origin_and_store(ws, tmp_path)
    ws.write("model.bin", "lost")
    ws.artver("add", "model.bin")
    ws.commit("data", hooks=False)
    obj = ws.cache_object(xxh(b"lost"))
    obj.chmod(0o644)
    obj.unlink()  # the data exists nowhere but in the workspace now
    ws.artver("install")
    proc = run_git(ws, "push", "-q", "origin", "main")
    assert proc.returncode != 0
    assert "error: the data of this push could not be sent" in proc.stderr
    assert "model.bin" in proc.stderr and "--no-verify" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert git("for-each-ref", cwd=bare) == ""  # Git pushed nothing
    # Once the data is back in the cache, the push goes through.
    ws.artver("add", "model.bin")
    proc = run_git(ws, "push", "-q", "origin", "main")
    assert proc.returncode == 0, proc.stderr
    assert xxh(b"lost") in stored(store)


def test_pre_push_without_a_default_remote_does_nothing(ws, tmp_path):
    bare = bare_origin(ws, tmp_path)
    ws.write("data/a.txt", "x")
    ws.artver("add", "data")
    ws.commit("data", hooks=False)
    ws.artver("install")
    proc = run_git(ws, "push", "-q", "origin", "main")
    assert proc.returncode == 0 and proc.stderr == ""
    assert git("rev-parse", "main", cwd=bare).strip()


def test_a_users_pre_push_hook_still_gets_the_refs_on_stdin(ws, tmp_path):
    bare_origin(ws, tmp_path)
    store = tmp_path / "store"
    ws.artver("remote", "add", "-d", "store", str(store))
    ws.write("f.bin", "payload")
    ws.artver("add", "f.bin")
    ws.commit("data", hooks=False)
    user = hooks_dir(ws) / "pre-push"
    original = (
        b"#!/bin/sh\n"
        b'cat > "$(git rev-parse --git-dir)/refs-seen"\n'
        b'echo "$1" >> "$(git rev-parse --git-dir)/refs-seen"\n'
    )
    user.write_bytes(original)
    user.chmod(0o755)
    ws.artver("install")
    proc = run_git(ws, "push", "-q", "origin", "main")
    assert proc.returncode == 0, proc.stderr
    head = ws.git("rev-parse", "HEAD").strip()
    seen = (ws.root / ".git" / "refs-seen").read_text().splitlines()
    assert seen == [f"refs/heads/main {head} refs/heads/main {'0' * 40}", "origin"]
    assert xxh(b"payload") in stored(store)
    ws.artver("install", "--uninstall")
    assert user.read_bytes() == original


def test_a_clone_without_the_data_can_still_push_code(ws, tmp_path):
    """Data that is on the remote already need not be in the local cache for the push."""
    bare, _ = origin_and_store(ws, tmp_path)
    ws.write("data/a.txt", "in a dir")
    ws.write("single.bin", "a single file")
    ws.artver("add", "data", "single.bin")
    ws.commit("data", hooks=False)
    ws.artver("push")
    ws.git("push", "-q", "origin", "main")
    clone = tmp_path / "clone"
    git("clone", "-q", str(bare), str(clone), cwd=tmp_path)
    other = Workspace(clone)
    other.artver("install")
    other.write("code.py", "print(1)")
    other.git("add", "code.py")
    other.git("commit", "-q", "-m", "code")
    proc = run_git(other, "push", "-q", "origin", "main")
    assert proc.returncode == 0, proc.stderr
    assert not other.cache_object(xxh(b"a single file")).exists()


def test_hooks_in_a_repo_without_artver_stay_quiet(ws, tmp_path):
    """The hooks stay when someone removes .artver: they must not get in Git's way."""
    two_branches(ws)
    bare_origin(ws, tmp_path)
    ws.artver("install")
    shutil.rmtree(ws.root / ".artver")
    for args in (("checkout", "-q", "other"), ("push", "-q", "origin", "other")):
        proc = run_git(ws, *args)
        assert proc.returncode == 0 and proc.stderr == "", proc.stderr
    ws.write("x.txt", "x")
    ws.git("add", "x.txt")
    proc = run_git(ws, "commit", "-q", "-m", "x")
    assert proc.returncode == 0 and proc.stderr == ""


def test_the_hook_finds_artver_without_the_recorded_interpreter(ws, tmp_path):
    """The venv recorded at install time is gone: the hook falls back to `artver` on PATH."""
    two_branches(ws)
    ws.artver("install")
    for name in HOOK_NAMES:
        path = hooks_dir(ws) / name
        text = path.read_text()
        assert sys.executable in text
        path.write_text(text.replace(sys.executable, "/gone/python"))
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    shim = bin_dir / "artver"
    shim.write_text(f'#!/bin/sh\nexec {sys.executable} -m artver "$@"\n')
    shim.chmod(0o755)
    env = {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}"}
    proc = subprocess.run(
        ["git", "checkout", "-q", "other"], cwd=ws.root, capture_output=True, text=True, env=env
    )
    assert proc.returncode == 0, proc.stderr
    assert ws.read("data/a.txt") == b"on other"
    env["PATH"] = "/usr/bin:/bin"
    proc = subprocess.run(
        ["git", "checkout", "-q", "main"], cwd=ws.root, capture_output=True, text=True, env=env
    )
    assert proc.returncode == 0 and "artver: command not found" in proc.stderr
