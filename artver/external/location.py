"""What a repository argument names: a local Git repository (a path or a file:// URL, read in
place) or a repository on a Git server (https://, ssh://, git://, `user@host:path`), read from
a bare copy. Pure, except `names_a_repository`, which looks at the disk."""

from __future__ import annotations

import os
import posixpath
import re
from collections import namedtuple
from pathlib import Path
from urllib.parse import unquote, urlparse

# kind: "local" (path: an absolute directory) or "git" (path: the URL, for dulwich);
# given: the argument as the user wrote it
Location = namedtuple("Location", "kind path given")

GIT_SCHEMES = ("http", "https", "ssh", "git", "git+ssh", "ssh+git")
# `user@host:path` or `host:path`, as Git reads it: no slash before the colon, and not a
# single letter (a Windows drive).
SCP_LIKE = re.compile(r"^(?:[^@/:\s]+@)?(?P<host>[^@/:\s]{2,}):(?P<path>.+)$")


def is_url(text: str) -> bool:
    """Whether `text` is a URL (or Git's scp-like `host:path`) rather than a local path."""
    if "://" in text:
        return True
    return SCP_LIKE.match(text) is not None and not os.path.exists(text)


def parse(text: str, cwd: Path) -> Location:
    """The location `text` names; a relative local path is relative to `cwd`."""
    if "://" in text:
        scheme = text.partition("://")[0].lower()
        if scheme == "file":
            parsed = urlparse(text)
            if parsed.netloc not in ("", "localhost"):
                return Location("git", text, text)  # file://host/path: let dulwich say
            return Location("local", os.path.abspath(unquote(parsed.path)), text)
        return Location("git", text, text)
    if is_url(text):
        return Location("git", text, text)
    return Location("local", os.path.abspath(cwd / os.path.expanduser(text)), text)


def names_a_repository(text: str, cwd: Path) -> bool:
    """Whether `artver ls TEXT` means another repository: a URL, or a directory that is the
    top of a Git repository (its own `.git`, or a bare one) and not data tracked here."""
    if is_url(text):
        return True
    path = Path(os.path.abspath(cwd / text))
    if not path.is_dir() or Path(f"{path}.artver").exists():
        return False
    from artver.history import is_bare_git_dir

    return (path / ".git").exists() or is_bare_git_dir(path)


def clone_name(url: str) -> str:
    """The directory name of the bare copy of `url`: its last path part, readable, and a hash
    of the whole URL, so that two URLs never share a copy."""
    from artver.cache.hashing import hash_bytes

    tail = url.rstrip("/").rsplit("/", 1)[-1].rsplit(":", 1)[-1].removesuffix(".git")
    tail = re.sub(r"[^A-Za-z0-9._-]", "_", tail)[:40].strip(".") or "repo"
    return f"{tail}-{hash_bytes(url.encode('utf-8'))[:16]}"


def stored_form(loc: Location, pointer_dir: Path) -> str:
    """How a pointer's `source.repo` records `loc`: a URL as given, a local path given as a
    relative path relative to the pointer file's directory (so that the pointer works in any
    clone with the same layout), an absolute one as it is."""
    if loc.kind == "git" or "://" in loc.given or os.path.isabs(os.path.expanduser(loc.given)):
        return loc.given
    return Path(os.path.relpath(loc.path, pointer_dir)).as_posix()


def from_stored(text: str, pointer_dir: Path) -> Location:
    """The location a pointer's `source.repo` names (see `stored_form`)."""
    return parse(text, pointer_dir)


def normalise_path(path: str) -> str | None:
    """`path` inside a repository as a normalised posix path, or None when it is not one
    (absolute, leaving the repository, empty)."""
    rel = posixpath.normpath(path.replace(os.sep, "/")).removesuffix("/")
    if rel in ("", ".", "..") or rel.startswith(("../", "/")) or "\x00" in rel:
        return None
    return rel
