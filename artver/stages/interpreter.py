"""Which Python a stage's command starts, and what that Python has installed.

`env: {python: true}` must describe the interpreter the stage really runs, not whichever
`python3` artver itself would find. Three steps:

1. `invocation(cmds, env)` (pure): the first word of the stage's command(s) that names Python
   (`python`, `python3`, `python3.12`, or a path to one). Each command is split into simple
   commands at `&&`, `||`, `;`, `|`, `&` and newlines; in each, leading `NAME=value`
   assignments, `exec`, `time` and `env NAME=value...` are skipped, `$NAME`/`${NAME}` are
   expanded from the environment, and a `cd DIR` is remembered for a relative path that
   follows. A word with anything else the shell would expand (`$(...)`, backticks, globs)
   names nothing. No Python word (`sh run.sh`, `uv run ...`, `make`): None, and the first
   `python3` (else `python`) on the stage's PATH is described instead.
2. `resolve(...)`: that word found the way the shell finds it: a path relative to the stage's
   `wdir` (after any `cd`), a bare name on the stage's PATH (a `PATH=...` prefix included).
3. `executable(...)`: what `sys.executable` that file reports. A binary (or a symlink to one,
   as in a virtual environment) reports its own path, so it is not started. A script (a file
   starting with `#!`, as pyenv and asdf shims are) is asked, in the stage's `wdir` and
   environment; its answer is remembered while the script, the `PYENV_*`/`ASDF_*` variables,
   `PATH` and the version files (`.python-version`, `.tool-versions`, pyenv's global
   `version`) it may read stay the same.
"""

from __future__ import annotations

import os
import re
import subprocess
from collections.abc import Callable, Mapping, Sequence
from typing import Any, NamedTuple

from artver.cache.hashing import hash_bytes

PYTHON_WORD = re.compile(r"python(\d+(\.\d+)?t?)?")
_ASSIGNMENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*=")
_VARIABLE = re.compile(r"\$(?:\{([A-Za-z_][A-Za-z0-9_]*)\}|([A-Za-z_][A-Za-z0-9_]*))")
_OPERATORS = set("();<>|&\n")
_SPECIAL = re.compile(r"[\\'\"$`*?\[~#=();<>|&{}]")  # a first word with none is taken as it is
_PREFIXES = ("exec", "time")
_SHELLS = ("sh", "bash", "dash", "zsh", "/bin/sh", "/bin/bash", "/usr/bin/bash")
SHIM_TIMEOUT_S = 60
VERSION_FILES = (".python-version", ".tool-versions")


class Invocation(NamedTuple):
    word: str  # `python3`, `.venv/bin/python`, `/opt/py/bin/python3.12`
    cd: str = ""  # a `cd DIR` before it in the same command ("" = none)
    path: str | None = None  # a `PATH=...` assignment before it


def _expand(word: str, env: Mapping[str, str]) -> str | None:
    """`$NAME` and `${NAME}` replaced from `env`; None when anything else is left for the
    shell to expand."""
    word = _VARIABLE.sub(lambda m: env.get(m.group(1) or m.group(2), ""), word)
    if any(c in word for c in "$`*?[") or word.startswith("~"):
        return None
    return word


def _simple_commands(cmd: str) -> list[list[str]] | None:
    import shlex  # only for commands the fast path in `invocation` cannot take

    lexer = shlex.shlex(cmd, posix=True, punctuation_chars="();<>|&\n")
    lexer.whitespace = " \t\r"
    lexer.whitespace_split = True
    lexer.commenters = ""  # sh's `#` starts a comment only at the start of a word
    try:
        tokens = list(lexer)
    except ValueError:  # an unclosed quote: sh would fail too
        return None
    commands: list[list[str]] = [[]]
    substitution = 0  # depth inside `$( ... )`, whose commands are not the stage's
    comment = False
    for token in tokens:
        operator = bool(token) and set(token) <= _OPERATORS
        if comment:
            comment = "\n" not in token
            if comment:
                continue
        if substitution:
            if operator:
                substitution = max(0, substitution + token.count("(") - token.count(")"))
            continue
        if operator:
            if token.startswith("(") and commands[-1] and commands[-1][-1].endswith("$"):
                substitution = token.count("(") - token.count(")")
                commands[-1][-1] += "("  # the word is `$(...)`: nothing we can name
                continue
            commands.append([])
        elif token.startswith("#"):
            comment = True
        else:
            commands[-1].append(token)
    return [c for c in commands if c]


def invocation(cmds: Sequence[str], env: Mapping[str, str]) -> Invocation | None:
    """The first simple command, in the stage's commands in order, that starts Python. Pure."""
    first = cmds[0].split(None, 1)[0] if cmds and cmds[0].strip() else ""
    if PYTHON_WORD.fullmatch(os.path.basename(first)) and not _SPECIAL.search(first):
        return Invocation(first)  # `python x.py`, `.venv/bin/python -c ...`: no lexing needed
    for cmd in cmds:
        commands = _simple_commands(cmd)
        cd: str | None = ""  # None: a `cd` we cannot follow (no argument, `cd -`, `$(...)`)
        for words in commands or []:
            found, cd = _in_simple_command(words, env, cd)
            if found is not None:
                return found
    return None


def _in_simple_command(
    words: list[str], env: Mapping[str, str], cd: str | None
) -> tuple[Invocation | None, str | None]:
    path = None
    i = 0
    while i < len(words):
        word = words[i]
        if _ASSIGNMENT.match(word):
            name, _, value = word.partition("=")
            if name == "PATH":
                path = _expand(value, env)
            i += 1
        elif word in _PREFIXES or word in ("env", "/usr/bin/env", "/bin/env"):
            if i + 1 < len(words) and words[i + 1].startswith("-"):
                return None, cd  # `env -i`, `exec -a`, `time -p`: not followed
            i += 1
        else:
            break
    if i >= len(words):
        return None, cd
    word = _expand(words[i], env)
    if word in _SHELLS and i + 2 < len(words) and words[i + 1] == "-c":
        return invocation([words[i + 2]], env), cd  # `sh -c "python ..."`
    if word == "cd":
        target = _expand(words[i + 1], env) if i + 1 < len(words) else None
        if target is None or target == "-" or cd is None:
            return None, None
        return None, os.path.normpath(os.path.join(cd, target)) if cd else target
    if word is None or not PYTHON_WORD.fullmatch(os.path.basename(word)):
        return None, cd
    if "/" in word and not os.path.isabs(word) and cd is None:
        return None, cd  # relative to a directory we could not follow
    return Invocation(word, cd or "", path), cd


def resolve(found: Invocation, env: Mapping[str, str], wdir: str) -> str | None:
    """The file `found` names, as `sh` in `wdir` would find it; None when there is none."""
    base = os.path.join(wdir, found.cd) if found.cd else wdir
    if "/" in found.word:
        candidate = os.path.normpath(os.path.join(base, found.word))
        return candidate if _runnable(candidate) else None
    search = found.path if found.path is not None else env.get("PATH", os.defpath)
    for folder in search.split(os.pathsep):
        candidate = os.path.join(base, folder or ".", found.word)
        if _runnable(candidate):
            return os.path.normpath(candidate)
    return None


def default_python(env: Mapping[str, str], wdir: str) -> str | None:
    """The first `python3`, else `python`, on the stage's PATH: a command that starts no
    Python word of its own (a script, `uv run`) most likely runs this one."""
    for name in ("python3", "python"):
        found = resolve(Invocation(name), env, wdir)
        if found:
            return found
    return None


def _runnable(path: str) -> bool:
    return os.path.isfile(path) and os.access(path, os.X_OK)


def is_script(path: str) -> bool:
    """A file starting with `#!`: a wrapper (a pyenv/asdf shim) that picks the interpreter."""
    try:
        with open(path, "rb") as f:
            return f.read(2) == b"#!"
    except OSError:
        return False


def shim_state(path: str, env: Mapping[str, str], wdir: str) -> str:
    """A digest of what a shim may decide by: the script itself, PATH, PYENV_*/ASDF_*
    variables and the version files from `wdir` up to `/`, and the global ones."""
    parts: list[str] = []
    real = os.path.realpath(path)
    try:
        st = os.stat(real)
        parts.append(f"{real}\0{st.st_mtime_ns}\0{st.st_size}")
    except OSError:
        parts.append(real)
    for name in sorted(env):
        if name == "PATH" or name.startswith(("PYENV", "ASDF")):
            parts.append(f"{name}={env[name]}")
    home = env.get("HOME", "")
    pyenv_root = env.get("PYENV_ROOT") or os.path.join(home, ".pyenv")
    files = [os.path.join(pyenv_root, "version"), os.path.join(home, ".tool-versions")]
    folder = os.path.abspath(wdir)
    while True:
        files += [os.path.join(folder, name) for name in VERSION_FILES]
        parent = os.path.dirname(folder)
        if parent == folder:
            break
        folder = parent
    for file in files:
        try:
            with open(file, "rb") as f:
                parts.append(f"{file}\0{f.read(4096).hex()}")
        except OSError:
            continue
    return hash_bytes("\n".join(parts).encode("utf-8", "surrogateescape"))


def executable(
    path: str,
    env: Mapping[str, str],
    wdir: str,
    get: Callable[[str], Any],
    put: Callable[[str, Any], None],
) -> str:
    """`sys.executable` of the interpreter `path` starts (see the module docstring)."""
    if not is_script(os.path.realpath(path)):
        return os.path.abspath(path)  # what Python itself reports for an absolute argv[0]
    key = "pyshim:" + shim_state(path, env, wdir)
    cached = get(key)
    if isinstance(cached, str) and _runnable(cached):
        return cached
    from artver.errors import ArtverError

    probe = "import sys; print(sys.executable)"
    try:
        proc = subprocess.run(
            [path, "-S", "-c", probe],
            capture_output=True,
            text=True,
            cwd=wdir,
            env=dict(env),
            timeout=SHIM_TIMEOUT_S,
            stdin=subprocess.DEVNULL,
        )
    except (OSError, subprocess.SubprocessError) as exc:
        raise ArtverError(f"cannot start {path} to see which Python it runs: {exc}") from None
    found = proc.stdout.strip().splitlines()[-1:] if proc.returncode == 0 else []
    if not found or not os.path.isabs(found[0]):
        detail = (proc.stderr.strip().splitlines() or [f"exit code {proc.returncode}"])[-1]
        raise ArtverError(f"{path} did not say which Python it runs ({detail})")
    put(key, found[0])
    return found[0]


def probe_key(exe: str, env: Mapping[str, str]) -> str:
    """The state-DB key of an interpreter's package list: its path (a venv's `bin/python`),
    the file that path leads to, and the variables that change `sys.path`."""
    parts = [exe, os.path.realpath(exe)]
    for name in ("PYTHONPATH", "PYTHONHOME", "PYTHONUSERBASE", "PYTHONNOUSERSITE"):
        parts.append(f"{name}={env.get(name, '')}")
    return "python:" + hash_bytes("\0".join(parts).encode("utf-8", "surrogateescape"))


def python_info(
    found: Invocation | None,
    env: Mapping[str, str],
    wdir: str,
    get: Callable[[str], Any],
    put: Callable[[str, Any], None],
    stage: str = "",
) -> dict[str, Any]:
    """The probe of the interpreter `found` names (None: the default one) for a stage in
    `wdir`: version, platform, packages, `executable` and the `stamp` that keeps it valid.
    Started only when the state DB has no probe of it with the same stamp. An interpreter
    that does not exist (yet: an earlier stage may create the venv) is `{"missing": WORD}`,
    which `status` reports as a reason; one that exists but cannot say what it is, an error."""
    from artver.errors import ArtverError
    from artver.stages.envprint import probe_python, python_stamp

    path = default_python(env, wdir) if found is None else resolve(found, env, wdir)
    if path is None:
        return {"missing": "python3" if found is None else found.word}
    try:
        exe = executable(path, env, wdir, get, put)
        key = probe_key(exe, env)
        cached = get(key)
        if isinstance(cached, dict) and cached.get("stamp") == python_stamp(cached):
            return cached
        info = probe_python(exe, dict(env), wdir)
    except ArtverError as exc:
        raise ArtverError(f"stage {stage}: {exc}" if stage else str(exc)) from None
    info["stamp"] = python_stamp(info)
    put(key, info)
    return info
