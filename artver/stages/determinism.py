"""Is a stage deterministic? Pure comparisons of what runs recorded and produced.

`compare` names every file that differs between two per-file maps (recorded in a lock, or
produced by a run); `first_difference` finds the first line where two texts part; and
`changed_with_same_inputs` is the check `repro` makes when it records a stage whose
identity did not change (`repro -f`): the same inputs must give the same outputs.
"""

from __future__ import annotations

from typing import Any

from artver.stages.lock import LockEntry
from artver.stages.schema import Stage

SHOWN_CHARS = 80  # a differing line is cut to this many characters
BINARY_SNIFF = 8192  # bytes looked at to tell a binary file from a text one

# path -> (oid, size): one entry per file, files inside output directories by their path.
Files = dict[str, tuple[str, int]]


class Difference:
    """One file that differs. `kind`: "changed", "missing" (recorded, not produced) or
    "extra" (produced, not recorded); `line`: (number, recorded, produced) of the first
    differing line of a text file, when known."""

    __slots__ = ("kind", "line", "path", "produced_size", "recorded_size")

    def __init__(
        self,
        path: str,
        kind: str,
        recorded_size: int | None,
        produced_size: int | None,
        line: tuple[int, str, str] | None = None,
    ) -> None:
        self.path = path
        self.kind = kind
        self.recorded_size = recorded_size
        self.produced_size = produced_size
        self.line = line

    def __repr__(self) -> str:
        return f"Difference({self.path!r}, {self.kind!r})"

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "path": self.path,
            "kind": self.kind,
            "recorded_size": self.recorded_size,
            "produced_size": self.produced_size,
        }
        if self.line is not None:
            number, recorded, produced = self.line
            data["line"] = {"number": number, "recorded": recorded, "produced": produced}
        return data


def compare(recorded: Files, produced: Files) -> list[Difference]:
    """Every file whose content differs, or that only one side has, sorted by path."""
    found = []
    for path in sorted(set(recorded) | set(produced)):
        before, after = recorded.get(path), produced.get(path)
        if before is None:
            found.append(Difference(path, "extra", None, after[1]))  # type: ignore[index]
        elif after is None:
            found.append(Difference(path, "missing", before[1], None))
        elif before[0] != after[0]:
            found.append(Difference(path, "changed", before[1], after[1]))
    return found


def looks_binary(data: bytes) -> bool:
    if b"\x00" in data[:BINARY_SNIFF]:
        return True
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return True
    return False


def first_difference(recorded: bytes, produced: bytes) -> tuple[int, str, str] | None:
    """(1-based line number, recorded line, produced line) where two texts first differ;
    None when they are equal or either is binary. A side that has ended shows as
    "(end of file)"."""
    if recorded == produced or looks_binary(recorded) or looks_binary(produced):
        return None
    old = recorded.decode("utf-8").split("\n")
    new = produced.decode("utf-8").split("\n")
    for number, (a, b) in enumerate(zip(old, new, strict=False), start=1):
        if a != b:
            return number, _shown(a), _shown(b)
    number = min(len(old), len(new)) + 1
    end = "(end of file)"
    a = _shown(old[number - 1]) if len(old) >= number else end
    b = _shown(new[number - 1]) if len(new) >= number else end
    return number, a, b


def _shown(line: str) -> str:
    line = line.rstrip("\r")
    return line if len(line) <= SHOWN_CHARS else line[: SHOWN_CHARS - 3] + "..."


def same_identity(old: LockEntry, new: LockEntry) -> bool:
    """Both entries record the same run: cmd, dep contents, params, environment, seed and
    the same outs."""
    return (
        list(old.cmd) == list(new.cmd)
        and {d.path: d.oid for d in old.deps} == {d.path: d.oid for d in new.deps}
        and old.params == new.params
        and old.env.get("fingerprint") == new.env.get("fingerprint")
        and old.seed == new.seed
        and sorted(o.path for o in old.outs) == sorted(o.path for o in new.outs)
    )


def changed_with_same_inputs(stage: Stage, old: LockEntry | None, new: LockEntry) -> list[str]:
    """The outs (as the lock names them) whose content changed although the stage ran with
    exactly the recorded inputs; persist outs and `always_changed` stages are expected to
    change, and are never named."""
    if old is None or stage.always_changed or not same_identity(old, new):
        return []
    persist = {o.path for o in stage.outs if o.persist}
    before = {o.path: o.oid for o in old.outs}
    return [
        o.path
        for o in sorted(new.outs, key=lambda o: o.path)
        if before.get(o.path) != o.oid and not _is_persist(stage, o.path, persist)
    ]


def _is_persist(stage: Stage, lock_path: str, persist: set[str]) -> bool:
    import posixpath

    base = posixpath.dirname(stage.file)
    repo_path = posixpath.normpath(posixpath.join(base, lock_path)) if base else lock_path
    return repo_path in persist
