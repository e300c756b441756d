"""Reading pointer files and `artver.lock` across Git history, one stage entry at a time, and
finding the commit that last changed one of them: what `lineage` and `log` share (`Reader`,
`target_path`, `iso_date` too).

A lock of a long pipeline is large and changes in most commits, but a given stage's entry
rarely does. artver writes each entry as one block (`  NAME:` and the lines indented under
it), so the block's text is compared between commits without parsing YAML, and only the
entries a command shows are parsed, each on its own. A lock of another shape (edited by
hand into flow style, say) is parsed whole instead: slower, never wrong.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from artver.errors import ArtverError, PathError
from artver.pointer import SUFFIX
from artver.safetext import LOCK_MAX, MAX_DEPTH, BadText, decode
from artver.stages.lock import LockEntry, LockFileError

_PLAIN_HEADER = re.compile(r"  ([A-Za-z0-9_][\w.@-]*):[ \t]*(?:#.*)?\n?")
_STAGES = re.compile(r"^stages:[ \t]*(?:#.*)?(?:\n|$)", re.MULTILINE)
_TOP_LEVEL = re.compile(r"^[^ \n#]", re.MULTILINE)  # the next top-level key ends the stages
_ODD_INDENT = re.compile(r"^(?: | {3})(?! )\S", re.MULTILINE)  # indented by 1 or 3
_HEADER = re.compile(r"^  (?! ).*(?:\n|$)", re.MULTILINE)  # `  NAME:`, opening an entry
_header_names: dict[str, str | None] = {}


def split_stages(text: str) -> dict[str, str] | None:
    """{stage name: the text of its entry} of a lock in the shape artver writes (`stages:` at
    column 0, each entry a line `  NAME:` with deeper-indented lines under it); None for any
    other shape, which the caller parses whole. Pure; regular expressions, not a loop over
    lines: a 200-stage lock has 5,000 of them, and `lineage` splits one per version."""
    found = _STAGES.search(text)
    if found is None:
        return None
    start = found.end()
    after = _TOP_LEVEL.search(text, start)
    end = len(text) if after is None else after.start()
    if after is not None and text[end] == "-":
        return None  # `stages:` holds a list
    region = text[start:end]
    if "\t" in region or _ODD_INDENT.search(region):
        return None
    headers = list(_HEADER.finditer(region))
    lead = region[: headers[0].start()] if headers else region
    if any(line.strip() and not line.lstrip().startswith("#") for line in lead.splitlines()):
        return None
    chunks: dict[str, str] = {}
    for n, header in enumerate(headers):
        name = _header_name(header.group())
        if name is None or name in chunks:
            return None
        stop = headers[n + 1].start() if n + 1 < len(headers) else len(region)
        chunks[name] = region[header.start() : stop]
    return chunks


def _header_name(line: str) -> str | None:
    """The stage a `  NAME:` line opens, or None if the line is something else."""
    match = _PLAIN_HEADER.fullmatch(line)
    if match:
        return match.group(1)
    if line.lstrip()[:1] in ("-", "?", "{", "[", "|", ">"):
        return None
    known = _header_names.get(line, "")
    if known != "":
        return known
    from artver.yamlio import YAMLParseError, load_yaml

    try:
        doc = load_yaml(line.strip())
    except (YAMLParseError, ArtverError, ValueError):
        doc = None
    ok = isinstance(doc, dict) and len(doc) == 1
    key, value = next(iter(doc.items())) if ok else (None, None)
    found = key if isinstance(key, str) and value is None else None
    _header_names[line] = found
    return found


class Unsupported(Exception):
    """The text leaves the plain subset `parse_block` reads: parse it with the YAML library."""


_INT = re.compile(r"-?(?:0|[1-9][0-9]*)")
_FLOAT = re.compile(r"-?(?:0|[1-9][0-9]*)\.[0-9]+")
_VERSION = re.compile(r"[0-9]+\.[0-9]+\.[0-9A-Za-z.+-]*")  # 3.11.7: never a number or date
# An object id: hex with a letter no number holds (`e` could be an exponent, `0b` a binary).
_HEX = re.compile(r"(?!0[bB])(?=[0-9a-f]*[a-df])[0-9a-f]{16,}(?:\.dir)?")
_WORDS = {"true": True, "false": False, "null": None, "~": None}
_AMBIGUOUS = {"yes", "no", "on", "off", "y", "n", "true", "false", "null", "~"}


def parse_block(text: str) -> Any:
    """The value of YAML text in the plain block style artver's lock writer emits (nested
    mappings and `- ` lists; plain, single-quoted, integer, decimal, true/false/null
    scalars), as the YAML library would load it, without its per-node cost (a 200-stage
    lock takes a third of a second through it, and `lineage` reads one whole). Anything
    else raises `Unsupported`."""
    if "\t" in text or "\r" in text:
        raise Unsupported
    lines = []
    for line in text.split("\n"):
        body = line.lstrip(" ")
        if body and not body.startswith("#"):
            lines.append((len(line) - len(body), body.rstrip(" ")))
    indents = {indent for indent, _ in lines}
    # Each level of nesting needs an indent of its own, so this bounds the recursion too.
    if not lines or lines[0][0] != min(indents) or len(indents) > MAX_DEPTH:
        raise Unsupported
    value, end = _node(lines, 0, lines[0][0])
    if end != len(lines):
        raise Unsupported
    return value


def _node(lines: list[tuple[int, str]], i: int, indent: int) -> tuple[Any, int]:
    body = lines[i][1]
    if body == "-" or body.startswith("- "):
        return _sequence(lines, i, indent)
    return _block_mapping(lines, i, indent)


def _sequence(lines: list[tuple[int, str]], i: int, indent: int) -> tuple[list, int]:
    items = []
    while i < len(lines) and lines[i][0] == indent and lines[i][1][:2] in ("- ", "-"):
        rest = lines[i][1][2:].lstrip(" ")
        if not rest or rest.startswith("- "):
            raise Unsupported  # a nested node on the next line, or a list in a list
        if _split(rest) is not None:  # `- key: value`: a mapping whose keys sit at +2
            lines[i] = (indent + len(lines[i][1]) - len(rest), rest)
            value, i = _block_mapping(lines, i, lines[i][0])
        else:
            value, i = _inline(rest), i + 1
        items.append(value)
    return items, i


def _block_mapping(lines: list[tuple[int, str]], i: int, indent: int) -> tuple[dict, int]:
    found: dict[Any, Any] = {}
    while i < len(lines) and lines[i][0] == indent:
        parts = _split(lines[i][1])
        if parts is None:
            raise Unsupported
        key, rest = _scalar(parts[0]), parts[1]
        if key in found or isinstance(key, float) or not isinstance(key, str | int):
            raise Unsupported
        i += 1
        if rest:
            found[key] = _inline(rest)
        elif i < len(lines) and (
            lines[i][0] > indent or (lines[i][0] == indent and lines[i][1][:2] in ("- ", "-"))
        ):
            found[key], i = _node(lines, i, lines[i][0])
        else:
            found[key] = None
    if i < len(lines) and lines[i][0] > indent:
        raise Unsupported
    return found, i


def _split(body: str) -> tuple[str, str] | None:
    """(key, rest) of `key: rest` or `key:`; None when the line is no mapping entry."""
    if body.startswith("'"):
        end = body.find("':", 1)
        while end != -1 and body[1:end].count("'") % 2:
            end = body.find("':", end + 1)
        if end == -1:
            return None
        key, rest = body[: end + 1], body[end + 2 :]
    else:
        key, sep, rest = body.partition(": ")
        if not sep:
            if not body.endswith(":") or ":" in body[:-1]:
                return None
            key, rest = body[:-1], ""
        elif ":" in key:
            raise Unsupported
    return key, rest.strip(" ")


def _inline(text: str) -> Any:
    """A value on its key's line: a scalar, `{}`, or a flow list of scalars (`[a, b]`, as
    people write deps and outs in artver.yaml)."""
    if text == "{}":
        return {}
    if not text.startswith("["):
        return _scalar(text)
    inner = text[1:-1].strip(" ")
    if not text.endswith("]") or any(c in inner for c in "[]{}'\"#"):
        raise Unsupported
    items = [item.strip(" ") for item in inner.split(",")] if inner else []
    if not all(items):
        raise Unsupported
    return [_scalar(item) for item in items]


def _scalar(text: str) -> Any:
    if text.startswith("'"):
        inner = text[1:-1]
        if len(text) < 2 or not text.endswith("'") or inner.replace("''", "").count("'"):
            raise Unsupported
        return inner.replace("''", "'")
    if _INT.fullmatch(text):
        return int(text)
    if _FLOAT.fullmatch(text):
        return float(text)
    if text in _WORDS:
        return _WORDS[text]
    if _HEX.fullmatch(text):
        return text
    if (
        (text[:1] in '"{[&*!|>%@`?,#-+.0123456789' and not _VERSION.fullmatch(text))
        or text.lower() in _AMBIGUOUS
        or ": " in text
        or " #" in text
        or text.endswith(":")
    ):
        raise Unsupported
    return text


def last_change(
    parents: Callable[[str], list[str]],
    start: str,
    same: Callable[[str], bool],
    shallow: Iterable[str] = (),
) -> tuple[str, bool]:
    """The commit that last changed a value, going back from `start` the way `git log -1 --
    PATH` simplifies history: follow the first parent that holds the same value (`same`), and
    stop at a commit none of whose parents does. Also True when the walk stopped at a shallow
    clone's boundary, where the change may be older. Pure."""
    cut = set(shallow)
    sha = start
    while True:
        if sha in cut:
            return sha, True
        for parent in parents(sha):
            if same(parent):
                sha = parent
                break
        else:
            return sha, False


def git_blob_id(data: bytes) -> bytes:
    """The id Git gives a file with these bytes (so the workspace compares with commits)."""
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest().encode()


class LockBlob:
    """One version of a lock file: its entries' texts, and entries parsed on demand."""

    def __init__(self, text: str, where: str) -> None:
        self.text = text
        self.where = where
        self._chunks: dict[str, str] | bool | None = False  # False: not split yet
        self._doc: dict[str, Any] | None = None
        self._entries: dict[str, dict[str, Any] | None] = {}

    @property
    def chunks(self) -> dict[str, str] | None:
        if self._chunks is False:
            self._chunks = split_stages(self.text)
        return self._chunks  # type: ignore[return-value]

    def signature(self, name: str) -> str | None:
        """What identifies the stage's entry in this version (None: no entry): its text, or
        its parsed value when the lock cannot be split."""
        chunks = self.chunks
        if chunks is not None:
            return chunks.get(name)
        entry = self._whole().get(name)
        return None if entry is None else json.dumps(entry, sort_keys=True, default=str)

    def names(self) -> list[str]:
        chunks = self.chunks
        return list(chunks) if chunks is not None else list(self._whole())

    def entry(self, name: str) -> dict[str, Any] | None:
        """The stage's entry as written (every key, also ones this version does not know),
        checked like any lock entry; None when the lock has none."""
        if name in self._entries:
            return self._entries[name]
        chunks = self.chunks
        if chunks is not None:
            text = chunks.get(name)
            raw = None if text is None else _mapping(_parse(text, self.where)).get(name)
        else:
            raw = self._whole().get(name)
        if raw is not None:
            try:
                LockEntry.from_dict(raw)
            except ValueError as exc:
                raise LockFileError(
                    f"{self.where} is damaged (stage {name}: {exc}); restore it with git"
                ) from None
        self._entries[name] = raw
        return raw

    def _whole(self) -> dict[str, Any]:
        if self._doc is None:
            doc = _load(self.text, self.where)
            stages = doc.get("stages") if isinstance(doc, dict) else doc
            if stages is None:
                stages = {}
            if not isinstance(stages, dict):
                raise LockFileError(f"{self.where} is damaged: it holds no mapping of stages")
            self._doc = {str(k): v for k, v in stages.items()}
        return self._doc


def _parse(text: str, where: str) -> Any:
    try:
        return parse_block(text)
    except Unsupported:
        return _load(text, where)


def _load(text: str, where: str) -> Any:
    from artver.safetext import BadText
    from artver.yamlio import YAMLParseError, load_yaml

    try:
        return load_yaml(text)
    except YAMLParseError as exc:
        raise LockFileError(f"{where}: invalid YAML at {exc}") from None
    except BadText as exc:
        raise LockFileError(f"{where}: {exc}") from None


def _mapping(doc: Any) -> dict[str, Any]:
    return doc if isinstance(doc, dict) else {}


def target_path(repo: Any, target: str, cwd: Path) -> str:
    """The repo-relative path a user's argument names (a pointer file names its data)."""
    path = Path(os.path.abspath(cwd / target))
    repo.check_inside(path, target)
    rel = repo.rel(path)
    if rel in ("", "."):
        raise PathError(target, "is the repository itself; name a tracked file or directory")
    return rel.removesuffix(SUFFIX) if rel.endswith(SUFFIX) else rel


class Reader:
    """Metadata blobs of commits; each commit's listing and each lock version read once."""

    def __init__(self, revisions: Any) -> None:  # artver.ops.revisions.Revisions
        self.revisions = revisions
        self._files: dict[str, dict[str, bytes]] = {}
        self._locks: dict[bytes, LockBlob] = {}

    @property
    def history(self) -> Any:
        return self.revisions.history

    def files(self, sha: str) -> dict[str, bytes]:
        known = self._files.get(sha)
        if known is None:
            known = self._files[sha] = dict(self.history.files_at(sha))
        return known

    def lock(self, blob: bytes, data: Callable[[], bytes], where: str) -> LockBlob:
        known = self._locks.get(blob)
        if known is None:
            try:
                text = decode(data(), LOCK_MAX, "lock")
            except BadText as exc:
                raise LockFileError(f"invalid lock file {where}: {exc}") from None
            known = self._locks[blob] = LockBlob(text, where)
        return known

    def lock_at(self, sha: str, path: str) -> LockBlob | None:
        blob = self.files(sha).get(path)
        if blob is None:
            return None
        where = f"{path} at commit {sha[:8]}"
        return self.lock(blob, lambda: self.history.blob(blob), where)

    def change(self, sha: str, truncated: bool) -> Any:
        """The commit as `lineage` shows it (`artver.ops.lineage.Change`)."""
        from artver.ops.lineage import Change

        author, when, zone, _, subject = self.history.summary(sha)
        return Change(sha, author.split(" <")[0], when, zone, subject, truncated)


def iso_date(time: int, tz: int) -> str:
    """`2024-05-01T12:00:00+02:00`: a Git time in its own zone, as `git log --format=%aI`."""
    import datetime as dt

    zone = dt.timezone(dt.timedelta(seconds=tz))
    return dt.datetime.fromtimestamp(time, zone).isoformat()
