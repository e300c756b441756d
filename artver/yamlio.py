"""The one place that talks to ruamel.yaml: safe loading with positions, round-trip dumps.

Loading is bounded, so a hostile document costs bounded time and memory: its parse events are
checked before anything is built from them (`_check_events`). Nesting deeper than
`MAX_DEPTH` is refused (libyaml's composer recurses in C: ~100,000 levels crash the process,
and 10,000 already take seconds), and so are aliases that expand to more than
`MAX_ALIAS_NODES` nodes (`a: &a [1, 1]`, `b: &b [*a, *a]`, ... is small as Python objects,
which share what aliases name, but every walk over it, such as flattening params or hashing a
stage's run key, visits each of the exponentially many expanded nodes) or that name a node
they are inside of (a recursive document). Violations raise `safetext.BadText`.
"""

from __future__ import annotations

import io
import threading

from artver.safetext import MAX_DEPTH, YAML_MAX, BadText, too_large

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


# Nodes that aliases may add to a document when expanded. Real files use anchors for a shared
# block of settings (tens of nodes, a few times); walking 100,000 extra nodes takes ~0.1 s.
MAX_ALIAS_NODES = 100_000


def _could_be_hostile(text: str) -> bool:
    """Whether `text` may hold an alias or nest deeper than MAX_DEPTH. Every list or mapping
    needs one indicator of its own (`[`, `{`, a `-` entry, a `:` or `?` key), so text with
    fewer of them cannot nest deeper; most pointer files skip the event check this way."""
    if "*" in text:
        return True
    return sum(text.count(c) for c in "[{-:?") > MAX_DEPTH


def _check_events(events: Any) -> None:
    """Raise `BadText` when the document these parse events describe nests deeper than
    MAX_DEPTH, expands its aliases beyond MAX_ALIAS_NODES nodes, or refers to itself."""
    from ruamel.yaml.events import (
        AliasEvent,
        CollectionEndEvent,
        CollectionStartEvent,
        DocumentStartEvent,
        ScalarEvent,
    )

    open_ = -1  # the size of a node whose end is still to come
    sizes: dict[str, int] = {}  # anchor -> expanded node count of the node it names
    stack: list[list] = []  # [expanded node count so far, anchor] of each open collection
    added = 0  # nodes the aliases add
    for event in events:
        if isinstance(event, ScalarEvent):
            if event.anchor is not None:
                sizes[event.anchor] = 1
            if stack:
                stack[-1][0] += 1
        elif isinstance(event, CollectionStartEvent):
            if len(stack) >= MAX_DEPTH:
                raise BadText(f"it nests lists and mappings more than {MAX_DEPTH} levels deep")
            if event.anchor is not None:
                sizes[event.anchor] = open_
            stack.append([1, event.anchor])
        elif isinstance(event, CollectionEndEvent):
            size, anchor = stack.pop()
            if anchor is not None and sizes.get(anchor) == open_:
                sizes[anchor] = size  # unless a node inside took the anchor over
            if stack:
                stack[-1][0] += size
        elif isinstance(event, AliasEvent):
            size = sizes.get(event.anchor, 1)  # an unknown one: the composer says so
            if size == open_:
                raise BadText(f"the alias *{event.anchor} is inside the node it names")
            added += size
            if added > MAX_ALIAS_NODES:
                raise BadText(
                    f"its aliases expand to more than {MAX_ALIAS_NODES:,} nodes"
                    f" (at *{event.anchor})"
                )
            if stack:
                stack[-1][0] += size
        elif isinstance(event, DocumentStartEvent):
            sizes.clear()


def _parse(text: str, typ: str, compose: bool = False) -> Any:
    """The document in `text` (with `compose`, its node graph: no values built)."""
    from ruamel.yaml.error import MarkedYAMLError, YAMLError

    if len(text) > YAML_MAX:
        raise too_large(len(text), YAML_MAX, "YAML")
    loader = _loader(typ)
    try:
        if _could_be_hostile(text):
            events = loader.parse(text)
            try:
                _check_events(events)
            finally:
                events.close()
        return loader.compose(text) if compose else loader.load(text)
    except MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        raise YAMLParseError(f"{where}{exc.problem or exc.context}") from None
    except YAMLError as exc:
        raise YAMLParseError(str(exc)) from None
    except BadText:
        raise
    except RecursionError:  # not expected past the event check; never a traceback
        raise BadText(f"it nests more than {MAX_DEPTH} levels deep") from None
    except (ArithmeticError, LookupError, TypeError, ValueError) as exc:
        # The constructor's own: `0000-00-00` is a date in no calendar, `? [a]` an unhashable
        # key, a 5,000-digit number more than int() takes. ruamel gives no position for these.
        raise YAMLParseError(f"a value it cannot read ({exc})") from None


def load_yaml(text: str) -> Any:
    """Plain Python values (dicts, lists, scalars)."""
    return _parse(text, "safe")


def load_roundtrip(text: str) -> Any:
    """A document that keeps comments and key order when dumped again."""
    return _parse(text, "rt")


def dump_roundtrip(doc: Any, like: str | None = None) -> str:
    """With `like` (the text `doc` was loaded from), mappings and block lists are indented as
    that text indents them (`  - a` or `- a` under a key), so an edit does not re-indent it."""
    stream = io.StringIO()
    yaml = _yaml("rt")
    if like is not None:
        mapping, offset = _indents(like)
        if mapping is not None or offset is not None:
            mapping = mapping or 2
            offset = offset or 0
            yaml.indent(mapping=mapping, sequence=offset + 2, offset=offset)
    yaml.dump(doc, stream)
    return stream.getvalue()


def _indents(text: str) -> tuple[int | None, int | None]:
    """(how far a mapping's keys sit right of its parent key, how far a block list's dashes
    do), as the first of each in `text` shows; None where it has none."""
    mapping = offset = None
    key_indent = None  # the indentation of the line before, when it was a bare `key:`
    for line in text.splitlines():
        stripped = line.lstrip(" ")
        if not stripped or stripped.startswith("#"):
            continue
        indent = len(line) - len(stripped)
        if key_indent is not None and indent >= key_indent:
            step = indent - key_indent
            if stripped.startswith("- ") and offset is None and step <= 8:
                offset = step
            elif not stripped.startswith("- ") and mapping is None and 0 < step <= 8:
                mapping = step
        if mapping is not None and offset is not None:
            break
        body = stripped.split(" #", 1)[0].rstrip()
        key_indent = indent if body.endswith(":") and not body.startswith("- ") else None
    return mapping, offset


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
    error messages; composes the text again (nodes keep their marks), which only an error path
    pays for: through the C composer, ~10 times faster than a round-trip load."""
    from ruamel.yaml.nodes import MappingNode, ScalarNode, SequenceNode

    try:
        node = _parse(text, "safe", compose=True)
    except (YAMLParseError, BadText):
        return None
    where: tuple[int, int] | None = None
    for key in keys:
        found = None
        if isinstance(node, SequenceNode) and isinstance(key, int) and 0 <= key < len(node.value):
            found = mark_node = node.value[key]
        elif isinstance(node, MappingNode):
            # The key as the document spells it: `1:` and `'1':` both read back as "1".
            wanted = key if isinstance(key, str) else str(key)
            for key_node, value_node in node.value:
                if isinstance(key_node, ScalarNode) and key_node.value == wanted:
                    found, mark_node = value_node, key_node
                    break
        if found is None:
            break
        mark = mark_node.start_mark
        where = (mark.line + 1, mark.column + 1)
        node = found
    return where
