"""What artver accepts as the text of a file it parses, and how much of it it reads.

Every YAML, JSON and TOML file artver parses (pointer files, `artver.yaml`, `artver.lock`,
params and metrics files, config files) is read by `read_text`, or, when its bytes come from
elsewhere (a Git blob), checked by `decode`: a file larger than the limit of its kind, one that
is not UTF-8, one with a NUL character, and a directory, FIFO or device where a file is
expected each raise `BadText`. Its message is the problem alone; the caller adds the file's
name and raises its own `ArtverError`. Nesting and alias bounds for YAML live in
`artver.yamlio`; `check_nesting` bounds JSON and TOML values the same way.

Imports only `os` and `stat`: every command reads a config file.
"""

from __future__ import annotations

import os
import stat

TYPE_CHECKING = False  # typing.TYPE_CHECKING: importing typing costs each command ~2 ms
if TYPE_CHECKING:
    from pathlib import Path
    from typing import Any

MiB = 1024 * 1024

# Limits per kind of file, generous for the largest real file of each kind and small enough
# that parsing a file at the limit takes seconds, not minutes: ruamel.yaml reads about
# 0.3 MB/s of block YAML (and keeps ~45 bytes of objects per byte of it), JSON ~30 MB/s.
POINTER_MAX = 1 * MiB  # `artver add` writes ~150 bytes; room for hand-added keys (desc, meta)
CONFIG_MAX = 1 * MiB  # a few settings and remotes, written by hand or by `artver config`
PIPELINE_MAX = 8 * MiB  # a 1,000-stage artver.yaml is ~200 KB; this is ~40,000 stages
LOCK_MAX = 32 * MiB  # artver writes ~650 bytes per 5-dep stage: ~50,000 stages; parsed once
PARAMS_MAX = 16 * MiB  # params and metrics: hand-written or a script's JSON dump
YAML_MAX = LOCK_MAX  # the backstop in artver.yamlio: the largest kind above
MAX_DEPTH = 100  # nesting of mappings and lists; real files nest fewer than 10 levels


class BadText(ValueError):
    """Why a file's content is refused (its name not included: the caller adds it)."""


def _size(n: int) -> str:
    return f"{n / MiB:.1f} MiB" if n >= MiB else f"{n:,} bytes"


def too_large(size: int, limit: int, kind: str) -> BadText:
    return BadText(
        f"it is {_size(size)}, more than the {_size(limit)} artver reads in a {kind} file"
    )


def read_text(path: Path, limit: int, kind: str) -> str:
    """The text of the regular file at `path`, read no further than `limit` bytes.

    FileNotFoundError and other OSErrors propagate (callers word those themselves); anything
    else that makes the file unreadable as text is a `BadText`."""
    try:
        # O_NONBLOCK: opening a FIFO must not wait for a writer (it is refused just below).
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0))
    except IsADirectoryError:
        raise BadText("it is a directory, not a file") from None
    except ValueError:  # "embedded null byte": a name no file can have
        raise BadText("its name has a NUL character") from None
    try:
        mode = os.fstat(fd)
        if stat.S_ISDIR(mode.st_mode):
            raise BadText("it is a directory, not a file")
        if not stat.S_ISREG(mode.st_mode):
            raise BadText("it is not a regular file (a FIFO, socket or device)")
        if mode.st_size > limit:
            raise too_large(mode.st_size, limit, kind)
        chunks = []
        left = limit + 1  # it may have grown since fstat: never read past the limit
        while left > 0:
            chunk = os.read(fd, min(left, MiB))
            if not chunk:
                break
            chunks.append(chunk)
            left -= len(chunk)
    finally:
        os.close(fd)
    return decode(b"".join(chunks), limit, kind)


def decode(data: bytes, limit: int, kind: str) -> str:
    """`data` as text, newlines translated as `Path.read_text` does, or `BadText`."""
    if len(data) > limit:
        raise too_large(len(data), limit, kind)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise BadText(
            f"not UTF-8 text (byte {data[exc.start]:#04x} at offset {exc.start})"
        ) from None
    return check_text(text, limit, kind)


def check_text(text: str, limit: int, kind: str) -> str:
    """`text` if artver parses text like it (within `limit` characters, no NUL), else
    `BadText`; newlines are translated to `\\n`."""
    if len(text) > limit:
        raise too_large(len(text), limit, kind)
    nul = text.find("\0")
    if nul >= 0:
        raise BadText(f"it has a NUL character at offset {nul}: binary data, not text")
    if "\r" in text:
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    return text


def check_nesting(value: Any, limit: int = MAX_DEPTH) -> None:
    """`BadText` when lists and mappings in `value` (from JSON or TOML, which share no
    objects) nest deeper than `limit`: code that walks values recurses."""
    stack = [(value, 1)]
    while stack:
        node, depth = stack.pop()
        if isinstance(node, dict):
            children = node.values()
        elif isinstance(node, list):
            children = node
        else:
            continue
        if depth > limit:
            raise BadText(f"it nests lists and mappings more than {limit} levels deep")
        stack.extend((child, depth + 1) for child in children)
