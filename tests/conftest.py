"""Shared fixtures: a clean environment, real Git repos in tmp dirs, and the real CLI."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
import xxhash

# Object stores on loopback (moto, the GCS emulator) and local-directory remotes.
pytest_plugins = ["tests.remotes_fixtures"]

GIT_ENV = {
    "GIT_AUTHOR_NAME": "Test Author",
    "GIT_AUTHOR_EMAIL": "author@example.com",
    "GIT_COMMITTER_NAME": "Test Committer",
    "GIT_COMMITTER_EMAIL": "committer@example.com",
    "GIT_CONFIG_NOSYSTEM": "1",
}


@pytest.fixture(autouse=True)
def clean_env(tmp_path_factory, monkeypatch):
    """No user config, colour setting or Git variable of the machine leaks into a test."""
    for name in list(os.environ):
        if name.startswith(("GIT_", "ARTVER_")) or name in (
            "XDG_CONFIG_HOME",
            "NO_COLOR",
            "FORCE_COLOR",
        ):
            monkeypatch.delenv(name)
    home = tmp_path_factory.mktemp("home")
    monkeypatch.setenv("HOME", str(home))
    for key, value in GIT_ENV.items():
        monkeypatch.setenv(key, value)
    subprocess.run(["git", "config", "--global", "init.defaultBranch", "main"], check=True)
    subprocess.run(["git", "config", "--global", "advice.detachedHead", "false"], check=True)


@dataclass
class Result:
    code: int
    stdout: str
    stderr: str

    @property
    def output(self) -> str:
        return self.stdout + self.stderr


def run_artver(
    *args: str,
    cwd: Path,
    expect: int | None = 0,
    env: dict | None = None,
    input_text: str | None = None,
) -> Result:
    """Run the real console entry point in a subprocess, as a user would (`input_text` is what
    the user types; without it stdin is closed)."""
    proc = subprocess.run(
        [sys.executable, "-m", "artver", *args],
        cwd=cwd,
        input=input_text if input_text is not None else "",
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        timeout=300,
    )
    result = Result(proc.returncode, proc.stdout, proc.stderr)
    if expect is not None:
        assert result.code == expect, (
            f"artver {' '.join(args)} exited {result.code}, expected {expect}\n{result.output}"
        )
    assert "Traceback" not in result.stderr or "-v" in args, result.stderr
    return result


def git(*args: str, cwd: Path) -> str:
    proc = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, check=True)
    return proc.stdout


class Workspace:
    """A Git repository with artver initialised, and helpers to drive it."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def artver(self, *args: str, expect: int | None = 0, cwd: Path | None = None, **kw) -> Result:
        return run_artver(*args, cwd=cwd or self.root, expect=expect, **kw)

    def git(self, *args: str) -> str:
        return git(*args, cwd=self.root)

    def commit(self, message: str, tag: str | None = None, hooks: bool = True) -> str:
        """`git add -A` and commit everything (tagged, if asked); the new commit's SHA.
        `hooks=False` commits with --no-verify."""
        self.git("add", "-A")
        self.git("commit", "-q", *([] if hooks else ["--no-verify"]), "-m", message)
        if tag:
            self.git("tag", tag)
        return self.git("rev-parse", "HEAD").strip()

    def write(self, rel: str, data: bytes | str) -> Path:
        path = self.root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data.encode() if isinstance(data, str) else data)
        return path

    def read(self, rel: str) -> bytes:
        return (self.root / rel).read_bytes()

    def files(self, rel: str) -> dict[str, bytes]:
        """Every file below `rel`, by relative path, with its bytes."""
        base = self.root / rel
        return {
            p.relative_to(base).as_posix(): p.read_bytes()
            for p in sorted(base.rglob("*"))
            if p.is_file()
        }

    def cache_object(self, oid: str) -> Path:
        return self.root / ".artver" / "cache" / oid[:2] / oid[2:]

    def snapshot(self) -> dict[str, bytes]:
        """Every file in the work tree outside .git, for 'nothing changed' checks."""
        found = {}
        for p in sorted(self.root.rglob("*")):
            rel = p.relative_to(self.root).as_posix()
            if rel.startswith(".git/") or rel == ".git" or not p.is_file():
                continue
            if rel.startswith(".artver/") and not rel.startswith(".artver/config"):
                continue
            found[rel] = p.read_bytes()
        return found


def xxh(data: bytes) -> str:
    return xxhash.xxh3_128_hexdigest(data)


@pytest.fixture
def gitrepo(tmp_path) -> Workspace:
    root = tmp_path / "repo"
    root.mkdir()
    git("init", "-q", cwd=root)
    return Workspace(root)


@pytest.fixture
def ws(gitrepo) -> Workspace:
    gitrepo.artver("init")
    return gitrepo
