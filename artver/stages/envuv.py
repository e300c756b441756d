"""Building an environment planned by `stages.envbuild` with uv: `uv venv` of the recorded
Python, `uv pip install --no-deps` of the recorded pins, an atomic rename into the cache.

When something cannot be had, the error lists all of it: uv stops at the first requirement it
cannot satisfy, so after a failure the rest is checked again with `--dry-run` (resolution only,
nothing downloaded) until uv is satisfied or names nothing more.
"""

from __future__ import annotations

import json
import os
import platform
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

from artver.stages.envbuild import BIN, MARKER, PYTHON_RE, EnvPlan, EnvRecreateError, is_ready
from artver.stages.envindex import UV_INDEX_VARS, uv_index_args_here

STALE_AGE = 24 * 3600  # a temporary build dir of another host is removed after a day
# Settings of the user's that would change what `uv venv` makes (seed packages, a cleared
# target) or let it fetch an interpreter: this module decides those.
UV_VARS_DROPPED = ("UV_VENV_SEED", "UV_VENV_CLEAR", "UV_PYTHON", "UV_SYSTEM_PYTHON")
REASONS = (  # (what uv says, in lower case; what the user is told)
    ("no version of", "no such version on the package index"),
    ("not found in the package registry", "no such package on the package index"),
    ("not found in the provided package locations", "no such package on the package index"),
    ("no wheels with a matching", "no wheel for this platform or Python version"),
    ("failed to build", "failed to build from source"),
    ("failed to download", "could not be downloaded"),
    ("failed to fetch", "could not be downloaded"),
)
SAYS_WHY = ("error:", "cause:", "because", "and because")  # how uv's verdict lines begin


def missing_in(text: str, requirements: Sequence[str]) -> dict[str, str]:
    """The requirements uv's error output says it cannot satisfy, each with why. uv names a
    failing pin as `name==version` (in "no version of X==Y", "you require X==Y", "Failed to
    build `X==Y`"), on its error and cause lines; other lines (progress, hints naming build
    dependencies, a failed build's own output) are not about what is missing. Pure."""
    found: dict[str, str] = {}
    for line in logical_lines(text):
        low = line.lower()
        if not low.lstrip(" ╰─▶×").startswith(SAYS_WHY):
            continue  # progress ("Building X==1"), hints, a build backend's own output
        for req in requirements:
            pattern = r"(?<![a-z0-9._-])" + re.escape(req.lower()) + r"(?![a-z0-9+!_-]|\.[a-z0-9])"
            if req not in found and re.search(pattern, low):
                reason = next((why for said, why in REASONS if said in low), None)
                found[req] = reason or re.sub(r"^\s*(error|cause):\s*", "", line).strip()
    return found


def logical_lines(text: str) -> list[str]:
    """uv's output with its wrapped sentences joined again (it wraps to the terminal's width,
    and a wrap may fall between "you require" and the pin). Pure."""
    lines: list[str] = []
    for line in text.splitlines():
        stripped = line.strip()
        starts_new = not line[:1].isspace() or stripped.startswith(("cause:", "error:", "hint:"))
        if lines and stripped and not starts_new and lines[-1].strip():
            lines[-1] += " " + stripped
        else:
            lines.append(line)
    return lines


def first_error(text: str) -> str:
    """uv's `error:` line (its warnings come first and are noise here)."""
    for line in logical_lines(text):
        if line.startswith("error:"):
            return line.removeprefix("error:").strip()
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[-1] if lines else "no output"


def uv_binary() -> str:
    """uv from its Python package (a dependency of artver), else from PATH."""
    try:
        from uv import find_uv_bin

        return find_uv_bin()
    except (ImportError, FileNotFoundError):
        pass
    found = shutil.which("uv")
    if found:
        return found
    raise EnvRecreateError(
        "cannot recreate the recorded Python environment: uv is not installed",
        hint="Install it (`pip install uv`; artver declares it as a dependency), or "
        "`--env current` runs the stage with this machine's Python and packages.",
    )


def uv_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in UV_VARS_DROPPED}
    env.update(UV_PYTHON_DOWNLOADS="never", UV_NO_PROGRESS="1", NO_COLOR="1")
    return env


def run_uv(args: list[str], env: Mapping[str, str]) -> subprocess.CompletedProcess[str]:
    try:
        return subprocess.run(
            args,
            env=dict(env),
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            errors="replace",
            check=False,
        )
    except OSError as exc:
        raise EnvRecreateError(f"cannot run uv ({args[0]}): {exc}") from None


def build(wanted: EnvPlan, final: Path) -> None:
    """Build `wanted` and publish it at `final`; on any failure nothing new is left behind."""
    envs = final.parent
    envs.mkdir(parents=True, exist_ok=True)
    reap(envs)
    work = Path(tempfile.mkdtemp(prefix=f".tmp.{os.getpid()}.{host()}.", dir=envs))
    try:
        venv = work / "env"
        uv, env = uv_binary(), uv_env()
        create_venv(uv, env, wanted.python, venv)
        install(uv, env, venv, wanted.requirements, uv_index_args_here())
        (venv / MARKER).write_text(json.dumps(wanted.to_dict(), indent=1) + "\n")
        publish(venv, final)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def create_venv(uv: str, env: Mapping[str, str], version: str, dest: Path) -> None:
    """`uv venv` of exactly Python `version`, from the interpreters installed here."""
    errors: list[str] = []
    # The interpreter running artver first, when it is that version: found without a search.
    running = [sys.executable] if platform.python_version() == version else []
    for request in [*running, version, *installed_interpreters(version, env)]:
        options = ["--quiet", "--relocatable", "--python-preference", "only-system"]
        proc = run_uv([uv, "venv", *options, "--python", request, str(dest)], env)
        got = venv_version(dest) if proc.returncode == 0 else None
        if proc.returncode == 0 and got in (version, None):
            return
        errors.append(f"{request} runs Python {got}" if got else first_error(proc.stderr))
        shutil.rmtree(dest, ignore_errors=True)
    found = pythons_here(uv, env)
    said = f" (uv: {errors[-1]})" if errors else ""
    problem = (
        "is installed here, but no virtual environment could be made with it"
        if version in found
        else "is not installed on this machine, and artver does not download interpreters"
    )
    raise EnvRecreateError(
        f"cannot recreate the recorded Python environment: Python {version} {problem}{said}",
        [f"python=={version}"],
        hint=f"Install Python {version} (e.g. `pyenv install {version}` or `uv python install "
        f"{version}`), or `--env current` runs the stage with this machine's Python. "
        f"Pythons found here: {', '.join(found) or 'none'}.",
    )


def version_manager_roots(env: Mapping[str, str]) -> list[Path]:
    """Where pyenv, asdf and mise keep one directory per installed Python version."""
    home = Path(env.get("HOME") or Path.home())
    return [
        Path(env.get("PYENV_ROOT") or home / ".pyenv") / "versions",
        Path(env.get("ASDF_DATA_DIR") or home / ".asdf") / "installs" / "python",
        home / ".local" / "share" / "mise" / "installs" / "python",
    ]


def installed_interpreters(version: str, env: Mapping[str, str]) -> list[str]:
    """Interpreters of exactly `version` installed by pyenv, asdf or mise but not on PATH (uv
    looks on PATH; a pyenv shim for another version there even makes it stop)."""
    roots = version_manager_roots(env)
    return [str(p) for r in roots if (p := r / version / "bin" / "python").is_file()]


def venv_version(venv: Path) -> str | None:
    """The Python version a new environment got, from its pyvenv.cfg."""
    try:
        for line in (venv / "pyvenv.cfg").read_text().splitlines():
            key, _, value = line.partition("=")
            if key.strip() in ("version_info", "version"):
                return value.strip()
    except OSError:
        pass
    return None


def pythons_here(uv: str, env: Mapping[str, str]) -> list[str]:
    """The Python versions uv can use here, for the error message."""
    options = ["--only-installed", "--python-preference", "only-system", "--output-format", "json"]
    proc = run_uv([uv, "python", "list", *options], env)
    try:
        versions = {d["version"] for d in json.loads(proc.stdout)}
    except (ValueError, TypeError, KeyError):
        versions = set()
    for root in version_manager_roots(env):
        try:
            found = [p.name for p in root.iterdir() if (p / "bin" / "python").is_file()]
        except OSError:
            continue
        versions.update(v for v in found if PYTHON_RE.fullmatch(v))
    return sorted(versions, key=lambda v: [int(x) if x.isdigit() else 0 for x in v.split(".")])


def install(
    uv: str, env: Mapping[str, str], venv: Path, reqs: Sequence[str], index_args: list[str]
) -> None:
    """`uv pip install --no-deps` of `reqs`; when some cannot be had, find them all and raise."""
    if not reqs:
        return
    base = [uv, "pip", "install", "--python", str(venv / BIN / "python"), "--no-deps"]
    base += index_args
    proc = run_uv([*base, *reqs], env)
    if proc.returncode == 0:
        return
    missing = missing_in(proc.stderr, reqs)
    if not missing:
        raise EnvRecreateError(
            "cannot install the recorded Python packages: uv failed: " + first_error(proc.stderr)
        )
    remaining = [r for r in reqs if r not in missing]
    while remaining:
        proc = run_uv([*base, "--dry-run", *remaining], env)
        found = missing_in(proc.stderr, remaining) if proc.returncode else {}
        if not found:
            break
        missing.update(found)
        remaining = [r for r in remaining if r not in found]
    lines = [f"  {req}: {why}" for req, why in sorted(missing.items())]
    raise EnvRecreateError(
        f"cannot recreate the recorded Python environment: {len(missing)} of its {len(reqs)} "
        f"packages cannot be installed from {index_source(index_args, env)}:\n" + "\n".join(lines),
        sorted(missing),
        hint="Make them available to uv (UV_INDEX_URL, UV_FIND_LINKS, or pip's index-url / "
        "find-links), or `--env current` runs the stage with this machine's Python and packages.",
    )


def index_source(index_args: list[str], env: Mapping[str, str]) -> str:
    """Where uv looked, in words, for the error message."""
    if index_args:
        return "pip's configured index (uv " + " ".join(index_args) + ")"
    set_vars = [f"{name}={env[name]}" for name in UV_INDEX_VARS if env.get(name)]
    if set_vars:
        return "uv's configured index (" + ", ".join(set_vars) + ")"
    return "uv's configured index"


def publish(built: Path, final: Path) -> None:
    """Rename `built` to `final`. If another build published first, keep its environment (ours
    is discarded by the caller); if a broken one is there, move it aside first."""
    for _ in range(2):
        try:
            os.rename(built, final)
            return
        except OSError:
            if is_ready(final):
                return
        # A leftover whose interpreter is gone: out of the way (atomically), then removed.
        trash = Path(tempfile.mkdtemp(prefix=f".trash.{os.getpid()}.{host()}.", dir=final.parent))
        try:
            os.rename(final, trash / "env")
        except FileNotFoundError:
            pass
        finally:
            shutil.rmtree(trash, ignore_errors=True)
    raise EnvRecreateError(f"cannot publish the rebuilt environment at {final}")


def host() -> str:
    return re.sub(r"[^A-Za-z0-9-]", "-", socket.gethostname())[:40] or "host"


def reap(envs: Path, now: float | None = None) -> None:
    """Remove the temporary directories of builds that died: this host's whose process is
    gone, and any older than a day (another host's process cannot be asked)."""
    now = time.time() if now is None else now
    try:
        entries = list(os.scandir(envs))
    except OSError:
        return
    for entry in entries:
        parts = entry.name.split(".")
        if len(parts) != 5 or parts[1] not in ("tmp", "trash") or not parts[2].isdigit():
            continue
        try:
            old = now - entry.stat(follow_symlinks=False).st_mtime > STALE_AGE
        except OSError:
            continue
        if old or (parts[3] == host() and not alive(int(parts[2]))):
            shutil.rmtree(entry.path, ignore_errors=True)


def alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True  # it exists, owned by someone else
    return True
