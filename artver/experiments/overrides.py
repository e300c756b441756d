"""`-S [FILE:]KEY=VALUE`: parsing params overrides, expanding sweeps, applying them to a file.

The rule (Hydra's, as DVC takes it): `KEY=VALUE` changes a key that exists; `+KEY=VALUE` adds
one that does not; `++KEY=VALUE` sets it either way; `~KEY` removes one. A file that does not
exist is an error: an experiment changes params, it does not invent params files.

VALUE is read as a YAML scalar (`0.1`, `true`, `[1, 2]`, `'text'`). A sweep gives several:
`a,b,c` (commas outside brackets and quotes), `range(START, STOP[, STEP])` (as Python's, numbers
allowed), `choice(a, b)`. Parsing and expanding are pure; `apply_to_text` edits a file's text,
keeping a YAML file's comments and key order.
"""

from __future__ import annotations

import itertools
import json
import re
from pathlib import PurePosixPath
from typing import Any, NamedTuple

from artver.errors import ArtverError, UsageError

DEFAULT_PARAMS = "params.yaml"
SET, ADD, FORCE, DELETE = "set", "add", "force", "delete"
_KEY = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_\-]*(\.[A-Za-z0-9_][A-Za-z0-9_\-]*)*")
_SWEEP = re.compile(r"(range|choice)\((.*)\)", re.DOTALL)
MAX_SWEEP = 10_000  # experiments one -S product may queue


class OverrideError(ArtverError):
    pass


class Override(NamedTuple):
    file: str
    key: str
    op: str
    value: Any = None  # a single value (after expansion)


class Spec(NamedTuple):
    """One `-S` as typed: its values (several for a sweep)."""

    file: str
    key: str
    op: str
    values: tuple[Any, ...]
    text: str


def parse(text: str) -> Spec:
    """One `-S` argument."""
    body = text
    file = DEFAULT_PARAMS
    head = body.split("=", 1)[0]
    if ":" in head:
        file, body = body.split(":", 1)
        if not file:
            raise UsageError(f"-S {text!r}: no file before ':'")
        _check_file(file, text)
    op = SET
    if body.startswith("++"):
        op, body = FORCE, body[2:]
    elif body.startswith("+"):
        op, body = ADD, body[1:]
    elif body.startswith("~"):
        op, body = DELETE, body[1:]
    if op == DELETE:
        key, _, rest = body.partition("=")
        if rest:
            raise UsageError(f"-S {text!r}: ~KEY removes a key and takes no value")
        _check_key(key, text)
        return Spec(file, key, op, (None,), text)
    key, eq, raw = body.partition("=")
    if not eq:
        raise UsageError(
            f"-S {text!r}: expected [FILE:]KEY=VALUE (or +KEY=VALUE to add, ~KEY to remove)"
        )
    _check_key(key, text)
    return Spec(file, key, op, _values(raw, text), text)


def _check_file(file: str, text: str) -> None:
    path = PurePosixPath(file)
    if path.is_absolute() or ".." in path.parts or "\0" in file:
        raise UsageError(f"-S {text!r}: the params file must be a path inside the repository")


def _check_key(key: str, text: str) -> None:
    if not _KEY.fullmatch(key):
        raise UsageError(f"-S {text!r}: {key!r} is not a params key (like train.lr)")


def _scalar(raw: str, text: str) -> Any:
    from artver.yamlio import YAMLParseError, load_yaml

    raw = raw.strip()
    if raw == "":
        return ""
    try:
        return load_yaml(raw)
    except YAMLParseError as exc:
        raise UsageError(f"-S {text!r}: cannot read the value {raw!r}: {exc}") from None


def _split_top(raw: str) -> list[str]:
    """Split on commas outside brackets and quotes."""
    parts, depth, quote, current = [], 0, "", []
    for ch in raw:
        if quote:
            if ch == quote:
                quote = ""
        elif ch in "'\"":
            quote = ch
        elif ch in "([{":
            depth += 1
        elif ch in ")]}":
            depth -= 1
        elif ch == "," and depth == 0:
            parts.append("".join(current))
            current = []
            continue
        current.append(ch)
    parts.append("".join(current))
    return parts


def _values(raw: str, text: str) -> tuple[Any, ...]:
    match = _SWEEP.fullmatch(raw.strip())
    if match:
        kind, inner = match.groups()
        args = [_scalar(a, text) for a in _split_top(inner)]
        if kind == "choice":
            if not inner.strip():
                raise UsageError(f"-S {text!r}: choice() needs at least one value")
            return tuple(args)
        return _range(args, text)
    parts = _split_top(raw)
    return tuple(_scalar(p, text) for p in parts)


def _range(args: list[Any], text: str) -> tuple[Any, ...]:
    if not 1 <= len(args) <= 3 or not all(
        isinstance(a, int | float) and not isinstance(a, bool) for a in args
    ):
        raise UsageError(f"-S {text!r}: range() takes 1 to 3 numbers: range(START, STOP[, STEP])")
    start, stop, step = (0, args[0], 1) if len(args) == 1 else (args[0], args[1], 1)
    if len(args) == 3:
        step = args[2]
    if step == 0:
        raise UsageError(f"-S {text!r}: range() step cannot be 0")
    out: list[Any] = []
    value = start
    while (value < stop if step > 0 else value > stop) and len(out) <= MAX_SWEEP:
        out.append(value)
        value = round(value + step, 12) if isinstance(value + step, float) else value + step
    if not out:
        raise UsageError(f"-S {text!r}: range() gives no value")
    return tuple(out)


def expand(specs: list[Spec]) -> list[list[Override]]:
    """The experiments a list of `-S` asks for: one, or the product of the sweeps."""
    seen: dict[tuple[str, str], str] = {}
    for spec in specs:
        previous = seen.setdefault((spec.file, spec.key), spec.text)
        if previous != spec.text:
            raise UsageError(f"-S {previous!r} and -S {spec.text!r} set the same key")
    count = 1
    for spec in specs:
        count *= len(spec.values)
    if count > MAX_SWEEP:
        raise UsageError(f"the -S sweep asks for {count:,} experiments (at most {MAX_SWEEP:,})")
    if not specs:
        return [[]]
    choices = [[Override(s.file, s.key, s.op, v) for v in s.values] for s in specs]
    return [list(combo) for combo in itertools.product(*choices)]


def is_sweep(specs: list[Spec]) -> bool:
    return any(len(s.values) > 1 for s in specs)


def describe(overrides: list[Override]) -> list[str]:
    """The overrides as `-S` arguments (one value each), for a commit message."""
    shown = []
    for o in overrides:
        prefix = "" if o.file == DEFAULT_PARAMS else f"{o.file}:"
        if o.op == DELETE:
            shown.append(f"{prefix}~{o.key}")
        else:
            mark = {SET: "", ADD: "+", FORCE: "++"}[o.op]
            shown.append(f"{prefix}{mark}{o.key}={json.dumps(o.value)}")
    return shown


# -- applying ------------------------------------------------------------------------------------
def apply_to_data(data: Any, overrides: list[Override], file: str) -> None:
    """Change the mapping `data` (plain or ruamel's) in place."""
    for o in overrides:
        parts = o.key.split(".")
        node = data
        for i, part in enumerate(parts[:-1]):
            child = node.get(part) if isinstance(node, dict) else None
            if child is None and o.op in (ADD, FORCE) and isinstance(node, dict):
                child = node[part] = {}
            if not isinstance(child, dict):
                where = ".".join(parts[: i + 1])
                if child is None:
                    raise OverrideError(_missing(o, file, where))
                raise OverrideError(f"-S {o.key}: {where} in {file} is a value, not a mapping")
            node = child
        last = parts[-1]
        exists = isinstance(node, dict) and last in node
        if o.op == SET and not exists:
            raise OverrideError(_missing(o, file, o.key), hint=f"To add it: -S +{o.key}=VALUE")
        if o.op == ADD and exists:
            raise OverrideError(
                f"-S +{o.key}: {file} already has {o.key}", hint=f"To change it: -S {o.key}=VALUE"
            )
        if o.op == DELETE:
            if not exists:
                raise OverrideError(_missing(o, file, o.key))
            del node[last]
        else:
            node[last] = o.value


def _missing(o: Override, file: str, key: str) -> str:
    return f"-S {o.key}: {file} has no key {key}"


def apply_to_text(text: str, overrides: list[Override], file: str) -> str:
    """The params file's new text. YAML keeps its comments and order; JSON is rewritten with
    two-space indents. Other formats (TOML, Python) cannot be changed by -S."""
    suffix = PurePosixPath(file).suffix.lower()
    if suffix in (".yaml", ".yml"):
        from artver.yamlio import YAMLParseError, dump_roundtrip, load_roundtrip

        try:
            doc = load_roundtrip(text)
        except YAMLParseError as exc:
            raise OverrideError(f"cannot read params file {file}: {exc}") from None
        if doc is None:
            doc = {}
        if not isinstance(doc, dict):
            raise OverrideError(f"params file {file} does not hold a mapping")
        apply_to_data(doc, overrides, file)
        return dump_roundtrip(doc, like=text)
    if suffix == ".json":
        try:
            data = json.loads(text)
        except ValueError as exc:
            raise OverrideError(f"cannot read params file {file}: {exc}") from None
        if not isinstance(data, dict):
            raise OverrideError(f"params file {file} does not hold a mapping")
        apply_to_data(data, overrides, file)
        return json.dumps(data, indent=2) + "\n"
    raise OverrideError(f"-S cannot change {file}: only YAML and JSON params files can be set")


def by_file(overrides: list[Override]) -> dict[str, list[Override]]:
    grouped: dict[str, list[Override]] = {}
    for o in overrides:
        grouped.setdefault(o.file, []).append(o)
    return grouped
