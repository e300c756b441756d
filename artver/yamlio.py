"""The one place that talks to ruamel.yaml: safe loading with positions, round-trip dumps."""

from __future__ import annotations

import io
import threading

TYPE_CHECKING = False  # typing.TYPE_CHECKING: importing typing costs each command ~2 ms
if TYPE_CHECKING:
    from typing import Any

_local = threading.local()


class YAMLParseError(ValueError):
    """Bad YAML, with the 1-based line and column where it went wrong."""


def _yaml(typ: str):
    from ruamel.yaml import YAML

    yaml = YAML(typ=typ, pure=typ != "safe")
    yaml.default_flow_style = False
    yaml.width = 4096  # never fold a long command over two lines
    return yaml


def _loader(typ: str):
    """A safe loader is reused (per thread): making one costs more than parsing a pointer file,
    and history commands parse thousands of them."""
    if typ != "safe":
        return _yaml(typ)
    loader = getattr(_local, "safe", None)
    if loader is None:
        loader = _local.safe = _yaml(typ)
    return loader


def _parse(text: str, typ: str) -> Any:
    from ruamel.yaml.error import MarkedYAMLError, YAMLError

    try:
        return _loader(typ).load(text)
    except MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        raise YAMLParseError(f"{where}{exc.problem or exc.context}") from None
    except YAMLError as exc:
        raise YAMLParseError(str(exc)) from None


def load_yaml(text: str) -> Any:
    """Plain Python values (dicts, lists, scalars)."""
    return _parse(text, "safe")


def load_roundtrip(text: str) -> Any:
    """A document that keeps comments and key order when dumped again."""
    return _parse(text, "rt")


def dump_roundtrip(doc: Any) -> str:
    stream = io.StringIO()
    _yaml("rt").dump(doc, stream)
    return stream.getvalue()


def dump_fast(data: Any) -> str:
    """Block-style YAML of plain data through the C emitter (key order kept)."""
    from ruamel.yaml import YAML

    yaml = YAML(typ="safe", pure=False)
    yaml.default_flow_style = False
    yaml.width = 4096
    yaml.sort_base_mapping_type_on_output = False  # type: ignore[attr-defined]
    stream = io.StringIO()
    yaml.dump(data, stream)
    return stream.getvalue()


def dump_plain(data: Any) -> str:
    stream = io.StringIO()
    yaml = _yaml("rt")
    yaml.indent(mapping=2, sequence=2, offset=0)
    yaml.dump(data, stream)
    return stream.getvalue()


def position(text: str, keys: list[str | int]) -> tuple[int, int] | None:
    """1-based (line, column) of the node at `keys` (mapping keys and list indices), for
    error messages; parses again in round-trip mode, which only an error path pays for."""
    try:
        node = load_roundtrip(text)
    except YAMLParseError:
        return None
    where: tuple[int, int] | None = None
    for key in keys:
        try:
            if isinstance(key, int):
                line, col = node.lc.item(key)
            else:
                line, col = node.lc.key(key)
            node = node[key]
        except (AttributeError, KeyError, IndexError, TypeError):
            break
        where = (line + 1, col + 1)
    return where
