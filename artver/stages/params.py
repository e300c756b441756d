"""Parameter files (YAML, JSON, TOML) and the values stages depend on."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from artver.errors import ArtverError

MISSING = object()


class ParamsError(ArtverError):
    pass


def load_params_file(
    root: Path,
    file: str,
    kind: str = "params",
    remember: Callable[[str, str, Callable[[str], Any]], Any] | None = None,
) -> dict[str, Any]:
    """A YAML, JSON or TOML mapping (params and metrics files alike). `remember(key, text,
    parse)` may stand in for `parse(text)` (the repository's parse cache)."""
    from artver.safetext import PARAMS_MAX, BadText, read_text

    path = root / file
    try:
        text = read_text(path, PARAMS_MAX, kind)
    except FileNotFoundError:
        raise ParamsError(f"{kind} file {file} does not exist") from None
    except BadText as exc:
        raise ParamsError(f"{kind} file {file}: {exc}") from None
    except OSError as exc:
        raise ParamsError(f"cannot read {kind} file {file}: {exc.strerror or exc}") from None
    if remember is None:
        return parse_params_text(text, file, kind)
    return remember(f"{kind}:{path}", text, lambda t: parse_params_text(t, file, kind))


def parse_params_text(
    text: str, file: str, kind: str = "params", where: str | None = None
) -> dict[str, Any]:
    """The mapping in a params or metrics file's text; its format follows the suffix of
    `file`, which messages name (or `where`, e.g. "params.yaml (HEAD)"). Keys are made text
    (YAML may make them numbers, dates or null): values are compared, sorted and hashed by
    their dotted keys."""
    from artver.safetext import MAX_DEPTH, PARAMS_MAX, BadText, check_nesting, check_text

    suffix = Path(file).suffix.lower()
    file = where or file
    try:
        text = check_text(text, PARAMS_MAX, kind)
        if suffix == ".json":
            data = json.loads(text)
            check_nesting(data)
        elif suffix == ".toml":
            import tomllib

            data = tomllib.loads(text)
            check_nesting(data)
        else:
            from artver.yamlio import load_yaml

            data = _text_keys(load_yaml(text), {})
    except BadText as exc:
        raise ParamsError(f"{kind} file {file}: {exc}") from None
    except RecursionError:  # json and tomllib recurse once per level
        raise ParamsError(
            f"{kind} file {file}: it nests lists and mappings more than {MAX_DEPTH} levels deep"
        ) from None
    except Exception as exc:  # each parser has its own error class; all mean "bad file"
        raise ParamsError(f"{kind} file {file} is not valid: {exc}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ParamsError(f"{kind} file {file} must hold a mapping at the top level")
    return data


def _text_keys(value: Any, done: dict[int, Any]) -> Any:
    """`value` with every mapping key made text. A YAML document's aliases share objects, so
    each is converted once (`done`, by id) and stays shared: the walk costs what the document
    holds, not what it expands to. yamlio bounds the nesting this recursion follows."""
    if not isinstance(value, dict | list):
        return value
    known = done.get(id(value))
    if known is not None:
        return known
    if isinstance(value, list):
        out: Any = []
        done[id(value)] = out
        out.extend(_text_keys(item, done) for item in value)
    else:
        out = {}
        done[id(value)] = out
        for key, item in value.items():
            out[key if isinstance(key, str) else str(key)] = _text_keys(item, done)
    return out


def lookup(data: dict[str, Any], dotted: str) -> Any:
    """The value at `a.b.c`, or MISSING."""
    node: Any = data
    for part in dotted.split("."):
        if isinstance(node, dict) and part in node:
            node = node[part]
        elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        else:
            return MISSING
    return node


def flatten(value: Any, prefix: str) -> dict[str, Any]:
    """{'train.lr': 0.1, ...} for nested mappings, so diffs name leaf keys."""
    prefix = str(prefix)  # a lock's key may be a number
    if isinstance(value, dict) and value:
        out: dict[str, Any] = {}
        for key, sub in value.items():
            out.update(flatten(sub, f"{prefix}.{key}" if prefix else str(key)))
        return out
    return {prefix: value}


def selected(data: dict[str, Any], key: str | None) -> dict[str, Any]:
    """The flattened values a stage's params entry selects from a file's mapping: the whole
    file (`key` None), or the value at a dotted key (nothing when the file lacks it)."""
    if key is None:
        return flatten(data, "")
    value = lookup(data, key)
    return {} if value is MISSING else flatten(value, key)
