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
    path = root / file
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ParamsError(f"{kind} file {file} does not exist") from None
    except OSError as exc:
        raise ParamsError(f"cannot read {kind} file {file}: {exc.strerror}") from None
    if remember is None:
        return parse_params_text(text, file, kind)
    return remember(f"{kind}:{path}", text, lambda t: parse_params_text(t, file, kind))


def parse_params_text(text: str, file: str, kind: str = "params") -> dict[str, Any]:
    """The mapping in a params or metrics file's text; its format follows the file's suffix."""
    suffix = Path(file).suffix.lower()
    try:
        if suffix == ".json":
            data = json.loads(text)
        elif suffix == ".toml":
            import tomllib

            data = tomllib.loads(text)
        else:
            from artver.yamlio import load_yaml

            data = load_yaml(text)
    except Exception as exc:  # each parser has its own error class; all mean "bad file"
        raise ParamsError(f"{kind} file {file} is not valid: {exc}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ParamsError(f"{kind} file {file} must hold a mapping at the top level")
    return data


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
    if isinstance(value, dict) and value:
        out: dict[str, Any] = {}
        for key, sub in value.items():
            out.update(flatten(sub, f"{prefix}.{key}" if prefix else str(key)))
        return out
    return {prefix: value}
