"""DVC's file formats as values: `.dvc` files, `dvc.lock` and `.dvc/config`. Pure: text in,
values out; `DvcFileError` names the file and what is wrong with it.

DVC 3 records `hash: md5` beside each md5; an entry without it was written by DVC 2, whose
md5 of a text file is taken after turning CRLF into LF (`legacy`).
"""

from __future__ import annotations

import posixpath
from typing import Any

from artver.errors import ArtverError

# The keys of a `.dvc` output artver carries into the pointer as they are.
CARRIED_OUT_KEYS = ("desc",)
# Keys of a `.dvc` output that describe the data itself (not options to carry or drop).
RECORD_KEYS = {"path", "md5", "hash", "size", "nfiles"}
# Top-level keys of a `.dvc` file that need no conversion.
IGNORED_FILE_KEYS = {"outs", "md5", "wdir", "desc", "meta", "frozen"}


class DvcFileError(ArtverError):
    """A DVC file that cannot be read; the conversion stops before writing anything."""

    def __init__(self, file: str, reason: str) -> None:
        super().__init__(
            f"{file}: {reason}",
            hint="Fix it (or restore it with git), then run `artver import-dvc` again.",
        )
        self.file = file
        self.reason = reason


# Plain classes with to_dict, as the rest of artver's records.
class DvcOut:
    """One output of a `.dvc` file (or one dep/out of a dvc.lock entry)."""

    __slots__ = ("dropped", "extra", "legacy", "md5", "nfiles", "path", "size")

    def __init__(
        self,
        path: str,
        md5: str | None,
        size: int | None = None,
        nfiles: int | None = None,
        legacy: bool = False,
        extra: dict[str, Any] | None = None,
        dropped: list[str] | None = None,
    ) -> None:
        self.path = path  # repo-relative posix path of the data
        self.md5 = md5  # "<32 hex>" or "<32 hex>.dir"; None: never committed
        self.size = size
        self.nfiles = nfiles
        self.legacy = legacy  # DVC 2's md5 (CRLF -> LF in text files)
        self.extra = {} if extra is None else extra  # keys carried into the pointer
        self.dropped = [] if dropped is None else dropped  # keys artver has no use for

    @property
    def is_dir(self) -> bool:
        return bool(self.md5) and self.md5.endswith(".dir")


class DvcFile:
    """A parsed `.dvc` file: its outputs; `source` is set for `dvc import`/`import-url`."""

    __slots__ = ("file", "outs", "source")

    def __init__(self, file: str, outs: list[DvcOut], source: str | None = None) -> None:
        self.file = file
        self.outs = outs
        self.source = source  # the URL or repo it was imported from


class DvcLockEntry:
    """One stage of dvc.lock; paths repo-relative (DVC writes them relative to the wdir)."""

    __slots__ = ("cmd", "deps", "outs", "params")

    def __init__(
        self,
        cmd: list[str],
        deps: dict[str, DvcOut],
        params: dict[str, dict[str, Any]],
        outs: dict[str, DvcOut],
    ) -> None:
        self.cmd = cmd
        self.deps = deps
        self.params = params  # repo-relative params file -> key -> value
        self.outs = outs


def _load(text: str, file: str) -> Any:
    from artver.safetext import BadText
    from artver.yamlio import YAMLParseError, load_yaml

    try:
        return load_yaml(text)
    except YAMLParseError as exc:
        raise DvcFileError(file, f"invalid YAML at {exc}") from None
    except BadText as exc:
        raise DvcFileError(file, str(exc)) from None


def join(base: str, path: str) -> str:
    """`path` (relative to the repo-relative directory `base`) as a repo-relative path;
    ValueError when it leaves the repository or is absolute."""
    if posixpath.isabs(path):
        raise ValueError(f"{path}: an absolute path")
    joined = posixpath.normpath(posixpath.join(base, path))
    if joined == ".." or joined.startswith("../"):
        raise ValueError(f"{path}: outside the repository")
    return "" if joined == "." else joined


def _record(item: Any, base: str, file: str, what: str) -> DvcOut:
    if not isinstance(item, dict) or not isinstance(item.get("path"), str) or not item["path"]:
        raise DvcFileError(file, f"each entry of '{what}' must be a mapping with a 'path'")
    md5 = item.get("md5")
    if md5 is not None and not (isinstance(md5, str) and _is_md5(md5)):
        raise DvcFileError(file, f"{item['path']}: 'md5' is not an md5 ({md5!r})")
    for key in ("size", "nfiles"):
        value = item.get(key)
        if value is not None and (isinstance(value, bool) or not isinstance(value, int)):
            raise DvcFileError(file, f"{item['path']}: '{key}' is not a whole number")
    algo = item.get("hash")
    if algo not in (None, "md5"):
        raise DvcFileError(file, f"{item['path']}: unsupported hash {algo!r} (expected md5)")
    try:
        path = join(base, item["path"])
    except ValueError as exc:
        raise DvcFileError(file, str(exc)) from None
    extra = {k: item[k] for k in CARRIED_OUT_KEYS if k in item}
    dropped = sorted(str(k) for k in item if k not in RECORD_KEYS and k not in CARRIED_OUT_KEYS)
    return DvcOut(path, md5, item.get("size"), item.get("nfiles"), algo is None, extra, dropped)


def _is_md5(value: str) -> bool:
    digest = value.removesuffix(".dir")
    return len(digest) == 32 and all(c in "0123456789abcdef" for c in digest)


def parse_dvc_file(text: str, file: str) -> DvcFile:
    """The `.dvc` file at repo-relative `file` with content `text`."""
    doc = _load(text, file)
    if not isinstance(doc, dict) or not isinstance(doc.get("outs"), list) or not doc["outs"]:
        raise DvcFileError(file, "expected a mapping with a non-empty 'outs' list")
    wdir = doc.get("wdir", ".")
    if not isinstance(wdir, str):
        raise DvcFileError(file, "'wdir' must be a path")
    try:
        base = join(posixpath.dirname(file), wdir)
    except ValueError as exc:
        raise DvcFileError(file, f"wdir {exc}") from None
    outs = [_record(item, base, file, "outs") for item in doc["outs"]]
    source = None
    deps = doc.get("deps")
    if deps:  # `dvc import` / `dvc import-url`: the output came from somewhere else
        first = deps[0] if isinstance(deps, list) else None
        if isinstance(first, dict):
            repo = first.get("repo")
            url = repo.get("url") if isinstance(repo, dict) else None
            source = f"{url} {first.get('path')}" if url else str(first.get("path"))
        else:
            source = "an unknown source"
    return DvcFile(file, outs, source)


def parse_dvc_lock(text: str, file: str, wdirs: dict[str, str]) -> dict[str, DvcLockEntry]:
    """The stages of the dvc.lock at repo-relative `file`. `wdirs` maps a stage name to its
    repo-relative wdir (from dvc.yaml), against which DVC wrote its paths; a stage it does not
    name is taken to run in the dvc.lock's directory."""
    doc = _load(text, file)
    if doc is None:
        return {}
    if not isinstance(doc, dict):
        raise DvcFileError(file, "expected a mapping")
    if str(doc.get("schema")) != "2.0":
        raise DvcFileError(
            file, f"lock schema {doc.get('schema')!r} is not 2.0 (DVC 2 or 3's); run `dvc repro`"
        )
    stages = doc.get("stages") or {}
    if not isinstance(stages, dict):
        raise DvcFileError(file, "'stages' must be a mapping")
    home = posixpath.dirname(file)
    entries = {}
    for name, body in stages.items():
        if not isinstance(body, dict):
            raise DvcFileError(file, f"stage {name}: expected a mapping")
        base = wdirs.get(str(name), home)
        cmd = body.get("cmd", [])
        cmd = list(cmd) if isinstance(cmd, list) else [cmd]
        deps = [_record(d, base, file, f"stages.{name}.deps") for d in body.get("deps") or []]
        outs = [_record(o, base, file, f"stages.{name}.outs") for o in body.get("outs") or []]
        params: dict[str, dict[str, Any]] = {}
        raw = body.get("params") or {}
        if not isinstance(raw, dict):
            raise DvcFileError(file, f"stage {name}: 'params' must be a mapping")
        for params_file, values in raw.items():
            if not isinstance(values, dict):
                raise DvcFileError(
                    file, f"stage {name}: the params of {params_file} are not a mapping"
                )
            try:
                params[join(base, str(params_file))] = values
            except ValueError as exc:
                raise DvcFileError(file, f"stage {name}: {exc}") from None
        entries[str(name)] = DvcLockEntry(
            [str(c) for c in cmd], {d.path: d for d in deps}, params, {o.path: o for o in outs}
        )
    return entries


def parse_dvc_config(text: str, file: str) -> dict[str, dict[str, str]]:
    """`.dvc/config` (configobj's INI) as {section: {option: value}}; a remote's section is
    named `remote "NAME"`, as DVC writes it (`['remote "NAME"']`)."""
    import configparser

    parser = configparser.ConfigParser(
        interpolation=None, strict=False, comment_prefixes=("#", ";")
    )
    parser.optionxform = str  # type: ignore[assignment, method-assign]  # keep the case
    try:
        parser.read_string(text, source=file)
    except configparser.Error as exc:
        raise DvcFileError(file, f"cannot be read as DVC's INI config ({exc.message})") from None
    found: dict[str, dict[str, str]] = {}
    for section in parser.sections():
        name = _unquote(section.strip())
        found[name] = {key: _unquote(value.strip()) for key, value in parser.items(section)}
    return found


def _unquote(text: str) -> str:
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "'\"":
        return text[1:-1]
    return text
