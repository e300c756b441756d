"""Pointer files (`<path>.artver`): the small YAML file committed to Git for each tracked path."""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from pathlib import Path

from artver.cache.hashing import ALGORITHM, is_valid_oid
from artver.cache.tree import is_dir_oid
from artver.errors import PointerError

TYPE_CHECKING = False  # typing.TYPE_CHECKING: importing typing costs each command ~2 ms
if TYPE_CHECKING:
    from typing import Any

SUFFIX = ".artver"
OUT_KEYS = {"path", "hash", "oid", "size", "nfiles"}


# Plain classes, not dataclasses: generating one costs start-up time on every command.
class Output:
    __slots__ = ("extra", "hash", "nfiles", "oid", "path", "size")

    def __init__(
        self,
        path: str,
        oid: str,
        size: int,
        nfiles: int | None = None,
        hash: str = ALGORITHM,
        extra: dict[str, Any] | None = None,
    ) -> None:
        self.path = path  # relative to the pointer file's directory, posix
        self.oid = oid
        self.size = size
        self.nfiles = nfiles
        self.hash = hash
        self.extra = {} if extra is None else extra  # keys we do not own (e.g. desc)

    @property
    def is_dir(self) -> bool:
        return is_dir_oid(self.oid)

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "path": self.path,
            "hash": self.hash,
            "oid": self.oid,
            "size": self.size,
        }
        if self.nfiles is not None:
            data["nfiles"] = self.nfiles
        return {**data, **self.extra}

    @classmethod
    def from_dict(cls, data: Any, where: str) -> Output:
        if not isinstance(data, dict):
            raise PointerError(where, "each entry of 'outs' must be a mapping")
        for key in ("path", "oid"):
            if key not in data:
                raise PointerError(where, f"an entry of 'outs' has no '{key}'")
        path, oid = data["path"], data["oid"]
        algo = data.get("hash", ALGORITHM)
        if not isinstance(path, str) or not path or os.path.isabs(path):
            raise PointerError(where, f"'path' must be a relative path; got {path!r}")
        if "\x00" in path:
            raise PointerError(where, f"'path' must not hold a NUL character; got {path!r}")
        if ".." in Path(path).parts:
            raise PointerError(where, f"'path' must not leave the pointer's directory: {path}")
        if ".git" in [part.lower() for part in Path(path).parts]:
            raise PointerError(where, f"'path' must not lead into Git's own files: {path}")
        if algo != ALGORITHM:
            raise PointerError(where, f"unsupported hash algorithm {algo!r} (expected {ALGORITHM})")
        if not isinstance(oid, str) or not is_valid_oid(oid):
            raise PointerError(
                where, f"'oid' must be 32 lowercase hex characters (plus '.dir'); got {oid!r}"
            )
        size = data.get("size", 0)
        nfiles = data.get("nfiles")
        if not isinstance(size, int) or isinstance(size, bool) or size < 0:
            raise PointerError(where, f"'size' must be a whole number of bytes; got {size!r}")
        if nfiles is not None and (
            not isinstance(nfiles, int) or isinstance(nfiles, bool) or nfiles < 0
        ):
            raise PointerError(where, f"'nfiles' must be a whole number; got {nfiles!r}")
        extra = {k: v for k, v in data.items() if k not in OUT_KEYS}
        return cls(path=path, oid=oid, size=size, nfiles=nfiles, hash=algo, extra=extra)


class Pointer:
    __slots__ = ("extra", "file", "outs")

    def __init__(self, file: Path, outs: list[Output], extra: dict[str, Any] | None = None) -> None:
        self.file = file  # absolute path of the .artver file
        self.outs = outs
        self.extra = {} if extra is None else extra  # keys we do not own, kept on rewrite

    @property
    def out(self) -> Output:
        return self.outs[0]

    def data_path(self, out: Output | None = None) -> Path:
        return self.file.parent / (out or self.out).path

    def to_dict(self) -> dict[str, Any]:
        return {"outs": [o.to_dict() for o in self.outs], **self.extra}


def pointer_path_for(data_path: Path) -> Path:
    return data_path.with_name(data_path.name + SUFFIX)


def is_pointer_file(path: Path | str) -> bool:
    return str(path).endswith(SUFFIX)


def load(
    path: Path, display: str | None = None, load_yaml: Callable[[str], Any] | None = None
) -> Pointer:
    """The pointer file at `path`; `load_yaml` may replace plain YAML parsing (by a cache)."""
    from artver.safetext import POINTER_MAX, BadText, read_text

    where = display or str(path)
    try:
        text = read_text(path, POINTER_MAX, "pointer")
    except BadText as exc:
        raise PointerError(where, str(exc)) from None
    except OSError as exc:
        raise PointerError(where, exc.strerror or str(exc)) from None
    return parse(text, path, where, load_yaml)


# The exact text `artver add` writes, for paths whose YAML reading is a plain string (they start
# with a letter or `_`; `true`, `false` and `null` are excluded below). Such a file is read
# without the YAML parser: history commands read thousands of them. Compiled on first use (re
# keeps it): commands without pointer files never need it.
CANONICAL = (
    r"outs:\n- path: (?P<path>[A-Za-z_][\w.\-]*(?:/[\w.\-]+)*)\n"
    r"  hash: xxh3-128\n"
    r"  oid: (?P<oid>[0-9a-f]{32}(?:\.dir)?)\n"
    r"  size: (?P<size>0|[1-9][0-9]*)\n"
    r"(?:  nfiles: (?P<nfiles>0|[1-9][0-9]*)\n)?\Z"
)
YAML_WORDS = {"true", "false", "null"}


def _canonical(text: str, path: Path) -> Pointer | None:
    match = re.match(CANONICAL, text)
    if match is None:
        return None
    data_path = match["path"]
    if data_path.lower() in YAML_WORDS or {".", ".."} & set(data_path.split("/")):
        return None
    nfiles = int(match["nfiles"]) if match["nfiles"] is not None else None
    return Pointer(path, [Output(data_path, match["oid"], int(match["size"]), nfiles)])


def parse(
    text: str, path: Path, where: str, load_yaml: Callable[[str], Any] | None = None
) -> Pointer:
    """A pointer from its YAML text (a file in the workspace, or a blob at a Git revision)."""
    from artver.safetext import POINTER_MAX, BadText, check_text

    try:
        text = check_text(text, POINTER_MAX, "pointer")
    except BadText as exc:
        raise PointerError(where, str(exc)) from None
    canonical = _canonical(text, path)
    if canonical is not None:
        return canonical
    from artver.yamlio import YAMLParseError
    from artver.yamlio import load_yaml as plain_yaml

    try:
        data = (load_yaml or plain_yaml)(text)
    except YAMLParseError as exc:
        raise PointerError(where, f"bad YAML at {exc}") from None
    except BadText as exc:
        raise PointerError(where, str(exc)) from None
    if not isinstance(data, dict) or "outs" not in data:
        raise PointerError(where, "expected a mapping with an 'outs' list")
    outs = data["outs"]
    if not isinstance(outs, list) or not outs:
        raise PointerError(where, "'outs' must be a non-empty list")
    if len(outs) > 1:
        raise PointerError(where, f"a pointer file tracks one path; this one lists {len(outs)}")
    extra = {k: v for k, v in data.items() if k != "outs"}
    return Pointer(path, [Output.from_dict(o, where) for o in outs], extra)


def _canonical_text(pointer: Pointer) -> str | None:
    """The canonical text for a pointer that has one, written without the YAML emitter; kept
    only when the canonical reader reads it back to the same pointer."""
    if pointer.extra or len(pointer.outs) != 1:
        return None
    out = pointer.out
    if out.extra or out.hash != ALGORITHM:
        return None
    text = f"outs:\n- path: {out.path}\n  hash: {out.hash}\n  oid: {out.oid}\n  size: {out.size}\n"
    if out.nfiles is not None:
        text += f"  nfiles: {out.nfiles}\n"
    back = _canonical(text, pointer.file)
    return text if back is not None and back.to_dict() == pointer.to_dict() else None


def dump(pointer: Pointer) -> str:
    text = _canonical_text(pointer)
    if text is not None:
        return text
    from artver.yamlio import dump_plain

    return dump_plain(pointer.to_dict())


def save(pointer: Pointer) -> None:
    """Write the pointer file, unless it already holds exactly this text (a no-op `add`)."""
    from artver.fsutil import atomic_write_text

    text = dump(pointer)
    try:
        if pointer.file.read_text(encoding="utf-8") == text:
            return
    except (OSError, UnicodeDecodeError):
        pass
    atomic_write_text(pointer.file, text)
