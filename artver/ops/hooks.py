"""`artver install`: put artver's lines into the Git hooks, next to whatever is there already.

Each hook file gets one marked block (`# >>> artver >>>` ... `# <<< artver <<<`) right after its
shebang line, so it runs before the user's own part of the hook (which may end in `exit 0`).
The block is a few lines of POSIX shell calling `artver git-hook NAME "$@"`; what the hooks do
lives in Python (`artver.ops.git_hook`). Composing and removing the block are pure functions of
the file's text, so a user's hook comes back byte-identical after `--uninstall`.

Every hook is checked before any is written: a hook artver cannot safely edit (not a shell
script, a symlink, not executable) stops the command with nothing changed.
"""

from __future__ import annotations

import os
import shlex
import stat
import sys
from dataclasses import dataclass, field
from pathlib import Path

from artver import scm
from artver.errors import ArtverError, NotARepoError
from artver.fsutil import atomic_write_bytes
from artver.repo import Repo

HOOKS = ("post-checkout", "pre-commit", "pre-push")
BEGIN = "# >>> artver >>>"
END = "# <<< artver <<<"
SHEBANG = "#!/bin/sh\n"
# Interpreters that run the POSIX shell of our block unchanged.
SHELLS = {"sh", "bash", "dash", "zsh", "ksh", "ksh93", "mksh", "ash", "yash", "posh"}
NEW_MODE = 0o755


class HookError(ArtverError):
    """A hook file artver will not edit, or a damaged artver block."""


# -- pure: the text of a hook ------------------------------------------------------------------
def interpreter(text: str) -> str | None:
    """The program a `#!` line names (through `env` and `busybox`); None without a shebang."""
    if not text.startswith("#!"):
        return None
    words = text[2:].split("\n", 1)[0].split()
    if not words:
        return ""
    prog, args = os.path.basename(words[0]), words[1:]
    if prog == "env":  # `#!/usr/bin/env -S bash -e`, `#!/usr/bin/env VAR=1 sh`
        args = [a for a in args if not a.startswith("-") and "=" not in a]
        prog, args = (os.path.basename(args[0]), args[1:]) if args else ("", [])
    if prog == "busybox" and args:
        prog = args[0]
    return prog


def is_shell(data: bytes) -> bool:
    """Whether artver may add shell lines to this hook. Git runs a hook without a shebang with
    `sh`, so plain text counts; a NUL byte means a binary."""
    if b"\0" in data:
        return False
    prog = interpreter(data.decode("utf-8", "surrogateescape"))
    return prog is None or prog in SHELLS


def _quote(path: str) -> str:
    return shlex.quote(path)


def hook_block(name: str, python: str | None) -> str:
    """artver's block for hook `name`. With `python` (an absolute interpreter path, recorded at
    install time so the hook works without an activated virtualenv) that interpreter runs
    artver when it still exists; otherwise `artver` from PATH."""
    call = f'git-hook {name} "$@"'
    feed = ""
    if name == "pre-push":
        # Git lists the refs being pushed on stdin: artver reads them, and the user's part of
        # the hook gets them again after the block.
        feed = "printf '%s\\n' \"$artver_refs\" | "
    stop = " || exit $?" if name == "pre-push" else ""
    lines = [BEGIN, "# Added by `artver install`; `artver install --uninstall` removes it."]
    if name == "pre-push":
        lines.append("artver_refs=$(cat)")
    branches = []
    if python is not None:
        q = _quote(python)
        branches.append((f"[ -x {q} ]", f"{feed}{q} -P -m artver {call}{stop}"))
    branches.append(("command -v artver >/dev/null 2>&1", f"{feed}artver {call}{stop}"))
    for i, (test, command) in enumerate(branches):
        lines.append(f"{'if' if i == 0 else 'elif'} {test}; then")
        lines.append(f"    {command}")
    lines.append("else")
    if name == "pre-push":
        lines.append(
            "    echo 'artver: command not found, so the data of this push was not sent; "
            "install artver or push with --no-verify' >&2"
        )
        lines.append("    exit 1")
    else:
        lines.append(f"    echo 'artver: command not found; the {name} hook did nothing' >&2")
    lines.append("fi")
    if name == "pre-push":
        lines += [
            'if [ -n "$artver_refs" ]; then',
            "exec <<ARTVER_REFS",
            "$artver_refs",
            "ARTVER_REFS",
            "else",
            "    exec </dev/null",
            "fi",
        ]
    lines.append(END)
    return "\n".join(lines) + "\n"


def find_block(text: str, name: str = "hook") -> tuple[int, int] | None:
    """(start, end) character offsets of artver's block, whole lines; None when absent."""
    starts, ends, offset = [], [], 0
    for line in text.splitlines(keepends=True):
        stripped = line.rstrip("\r\n")
        if stripped == BEGIN:
            starts.append(offset)
        elif stripped == END:
            ends.append(offset + len(line))
        offset += len(line)
    if not starts and not ends:
        return None
    if len(starts) != 1 or len(ends) != 1 or ends[0] <= starts[0]:
        raise HookError(
            f"the {name} hook has a damaged artver block (its `{BEGIN}` and `{END}` lines do "
            "not form one pair)",
            hint="Fix or delete those lines by hand, then run the command again.",
        )
    return starts[0], ends[0]


def add_block(old: str | None, block: str, name: str = "hook") -> str:
    """The hook's new text: `block` replacing artver's existing block, else inserted after the
    shebang line (or first, without one); a new file when `old` is None."""
    if old is None:
        return SHEBANG + block
    found = find_block(old, name)
    if found is not None:
        start, end = found
        return old[:start] + block + old[end:]
    if old.startswith("#!"):
        first, sep, rest = old.partition("\n")
        return first + "\n" + block + rest if sep else first + "\n" + block
    return block + old


def remove_block(text: str, name: str = "hook") -> str | None:
    """The hook's text without artver's block, exactly as it was before `add_block`; None when
    nothing but a shebang would remain (a file artver created, or an empty hook)."""
    found = find_block(text, name)
    if found is None:
        return text
    start, end = found
    rest = text[:start] + text[end:]
    body = rest.partition("\n")[2] if rest.startswith("#!") else rest
    return rest if body.strip() else None


# -- the hook files ----------------------------------------------------------------------------
@dataclass
class HookChange:
    name: str
    path: Path
    # install: created | chained | updated | unchanged; uninstall: deleted | restored | absent
    action: str


@dataclass
class HooksResult:
    hooks_dir: Path
    in_work_tree: bool  # hooks committed with the code: they call `artver` from PATH
    changes: list[HookChange] = field(default_factory=list)


def locate(start: Path) -> tuple[Repo, Path, bool]:
    """The artver repo, its Git hooks directory and whether that lies in the work tree."""
    repo = Repo.find(start)
    git_root = scm.find_git_root(repo.root)
    if git_root is None:
        raise NotARepoError(
            f"{repo.root} is not in a Git repository (artver was initialised with --no-git), "
            "so there are no Git hooks to install",
            hint="Run `git init` there first.",
        )
    if git_root != repo.root:
        raise NotARepoError(
            f"Git runs hooks at the top of its work tree ({git_root}), but the artver repository "
            f"is {repo.root}",
            hint="Hooks work when .artver is at the top of the Git work tree.",
        )
    hooks = scm.hooks_dir(git_root)
    in_work_tree = scm.is_inside(hooks.resolve(), git_root.resolve()) and not scm.is_inside(
        hooks.resolve(), (git_root / ".git").resolve()
    )
    return repo, hooks, in_work_tree


def _read(path: Path) -> bytes | None:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        return None
    except IsADirectoryError:
        raise HookError(f"{path} is a directory, not a hook file") from None
    except OSError as exc:
        raise HookError(f"cannot read the hook {path}: {exc.strerror}") from None


def _shown(path: Path, root: Path) -> str:
    return os.path.relpath(path, root) if scm.is_inside(path, root) else str(path)


def _refusal(name: str, path: Path, data: bytes | None, root: Path) -> str | None:
    """Why artver will not add its block to this hook (`data` None: no such file), or None."""
    shown = _shown(path, root)
    if path.is_symlink():  # even a dangling one: writing would replace the link
        return (
            f"{name}: {shown} is a symlink (to {os.readlink(path)}), and artver does not edit "
            "the file behind it"
        )
    if data is None:
        return None
    if not is_shell(data):
        what = interpreter(data.decode("utf-8", "surrogateescape")) if b"\0" not in data else None
        kind = f"a {what} script" if what else "a binary"
        return f"{name}: {shown} is {kind}, not a shell script, so artver cannot add lines to it"
    if not os.stat(path).st_mode & stat.S_IXUSR:
        return (
            f"{name}: {shown} is not executable, so Git ignores it; artver will not turn it on "
            "by making it executable"
        )
    return None


def install(start: Path, python: str | None = sys.executable) -> HooksResult:
    """Add artver's block to the three hooks, creating them when absent. Checks every hook
    first: if one cannot be edited, nothing is written. `python` is the interpreter the hooks
    try before `artver` on PATH."""
    repo, hooks, in_work_tree = locate(start)
    if in_work_tree:  # the hooks may be committed: no absolute path of this machine in them
        python = None
    result = HooksResult(hooks, in_work_tree)
    plans: list[tuple[str, Path, bytes | None, str]] = []
    refusals = []
    for name in HOOKS:
        path = hooks / name
        data = None if path.is_symlink() else _read(path)
        old = data.decode("utf-8", "surrogateescape") if data is not None else None
        reason = _refusal(name, path, data, repo.root)
        if reason:
            refusals.append(reason)
            continue
        plans.append((name, path, data, add_block(old, hook_block(name, python), name)))
    if refusals:
        raise HookError(
            "cannot install the Git hooks; nothing was changed:\n"
            + "\n".join(f"  {r}" for r in refusals),
            hint="Make each of these hooks run `artver git-hook NAME` with the arguments (and, "
            "for pre-push, the standard input) Git gives it, or move it aside and run "
            "`artver install` again.",
        )
    hooks.mkdir(parents=True, exist_ok=True)
    for name, path, data, new in plans:
        encoded = new.encode("utf-8", "surrogateescape")
        if data is None:
            action = "created"
            atomic_write_bytes(path, encoded, NEW_MODE)
        elif encoded == data:
            action = "unchanged"
        else:
            had_block = find_block(data.decode("utf-8", "surrogateescape"), name) is not None
            action = "updated" if had_block else "chained"
            atomic_write_bytes(path, encoded, stat.S_IMODE(os.stat(path).st_mode))
        result.changes.append(HookChange(name, path, action))
    return result


def uninstall(start: Path) -> HooksResult:
    """Remove artver's block from the hooks: a hook artver created is deleted, the user's own
    hook is left exactly as it was before `install`."""
    _, hooks, in_work_tree = locate(start)
    result = HooksResult(hooks, in_work_tree)
    plans: list[tuple[str, Path, str | None, int]] = []
    for name in HOOKS:
        path = hooks / name
        data = None if path.is_symlink() else _read(path)
        text = data.decode("utf-8", "surrogateescape") if data is not None else None
        if text is None or find_block(text, name) is None:
            result.changes.append(HookChange(name, path, "absent"))
            continue
        plans.append((name, path, remove_block(text, name), stat.S_IMODE(os.stat(path).st_mode)))
    for name, path, new, mode in plans:
        if new is None:
            path.unlink()
            result.changes.append(HookChange(name, path, "deleted"))
        else:
            atomic_write_bytes(path, new.encode("utf-8", "surrogateescape"), mode)
            result.changes.append(HookChange(name, path, "restored"))
    result.changes.sort(key=lambda c: HOOKS.index(c.name))
    return result
