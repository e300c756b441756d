"""The params files a hermetic run sees: the recorded values, in the file's own format.

A file is taken as it is when the values the stage uses from it are the recorded ones (the
usual case: the workspace's, or the one committed with the lock); otherwise the recorded
values are written over it (YAML and JSON), so that the run gets what the lock says it ran
with and nothing else.
"""

from __future__ import annotations

import json
from typing import Any

from artver.errors import ArtverError
from artver.stages.params import MISSING, ParamsError, lookup, parse_params_text
from artver.stages.schema import ParamRef


def used_values(refs: list[ParamRef], data: dict[str, Any]) -> dict[str, Any] | None:
    """What a stage's refs into one file take from its parsed `data`, keyed as the lock keys
    them; None when a key is missing. Pure."""
    values: dict[str, Any] = {}
    for ref in refs:
        if ref.key is None:
            values.update(data)
            continue
        value = lookup(data, ref.key)
        if value is MISSING:
            return None
        values[ref.key] = value
    return values


def params_text(
    file: str, refs: list[ParamRef], recorded: dict[str, Any], candidates: list[str | None]
) -> str:
    """The text to put at `file` (repo-relative) for a run with the `recorded` values: the
    first candidate text whose values match, else the first one with the recorded values
    written in (ArtverError for TOML, which artver does not write)."""
    parsed: list[dict[str, Any]] = []
    for text in candidates:
        if text is None:
            continue
        try:
            data = parse_params_text(text, file)
        except ParamsError:
            continue
        if used_values(refs, data) == recorded:
            return text
        parsed.append(data)
    if file.lower().endswith(".toml"):
        raise ArtverError(
            f"params file {file} does not hold the values the lock records, and artver "
            "cannot rewrite a TOML file with them",
            hint="Restore the file as it was when the stage ran (e.g. `git checkout -- "
            f"{file}`), then run the command again.",
        )
    doc = overlay(parsed[0] if parsed else {}, refs, recorded)
    if file.lower().endswith(".json"):
        return json.dumps(doc, indent=2, sort_keys=True) + "\n"
    from artver.yamlio import dump_plain

    return dump_plain(doc)


def overlay(data: dict[str, Any], refs: list[ParamRef], recorded: dict[str, Any]) -> dict:
    """`data` with the recorded values set at their dotted keys; a whole-file ref makes the
    file exactly what was recorded. Pure (`data` is not changed)."""
    if any(ref.key is None for ref in refs):
        return json.loads(json.dumps(recorded, default=str))
    doc = json.loads(json.dumps(data, default=str))  # a deep copy of plain values
    for key, value in recorded.items():
        _set(doc, key.split("."), value)
    return doc


def _set(node: Any, parts: list[str], value: Any) -> None:
    for i, part in enumerate(parts):
        last = i == len(parts) - 1
        if isinstance(node, list) and part.isdigit() and int(part) < len(node):
            if last:
                node[int(part)] = value
                return
            node = node[int(part)]
            continue
        if not isinstance(node, dict):
            return  # the recorded key cannot be placed in this shape: leave the rest as is
        if last:
            node[part] = value
            return
        if not isinstance(node.get(part), dict | list):
            node[part] = {}
        node = node[part]
