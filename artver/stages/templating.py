"""`${...}` in artver.yaml, as DVC's dvc.yaml templating: the values that `vars` and params
files give, and how a reference to one is replaced in a stage.

Pure functions over plain values: which files to read, and reading them, is the caller's
(stages/schema.py); this module sees only their parsed mappings. Every error is a
`TemplateError` whose `path` says where below the field it happened, so that the caller can
name the file, line and column.

Substitution is bounded: a reference can name a 16 MiB params value, and one line can hold
thousands of references, so no resolved string may exceed `MAX_RESOLVED_STRING` and a whole
file's resolved strings together `MAX_RESOLVED_TOTAL` (checked while the string is built,
never after building a huge one).
"""

from __future__ import annotations

import functools
import re
from typing import Any, NamedTuple

from artver.safetext import LOCK_MAX, MiB

MAX_RESOLVED_STRING = 1 * MiB
# The lock records every resolved command: a pipeline whose resolved strings could not fit in
# a lock artver reads would fail later, and less clearly.
MAX_RESOLVED_TOTAL = LOCK_MAX

# `${` up to the first `}`, unless a backslash escapes it (`\${x}` stays `${x}`), as in DVC.
REFERENCE = re.compile(r"(?<!\\)\$\{(?P<inner>[^}]*)\}")
ESCAPED = "\\${"

# How a resolved value may be used, by the kind of field it is in.
VALUE = "value"  # one value: a whole `${x}` keeps its type; lists and mappings are refused
CMD = "cmd"  # text: a mapping becomes `--key value` arguments, a list space-joined values
DATA = "data"  # foreach, matrix and top-level sections: a whole `${x}` may be a list or mapping

SHELL_HINT = "a shell variable is written $NAME, or escaped as \\${NAME}"
_MISSING = object()


class TemplateError(ValueError):
    """A reference that cannot be resolved; `path` leads from the field to the string."""

    def __init__(self, message: str, path: tuple[str | int, ...] = ()) -> None:
        super().__init__(message)
        self.message = message
        self.path = path

    def under(self, *prefix: str | int) -> TemplateError:
        return TemplateError(self.message, (*prefix, *self.path))


class Source(NamedTuple):
    """Where values came from: messages name `label`; `file` (repo-relative) is set for a
    params file, whose keys a stage then depends on, and None for values written inline."""

    label: str
    file: str | None = None


class ParamUse(NamedTuple):
    """A key of a params file that a reference read (so the stage can depend on it)."""

    file: str
    key: str


class Budget:
    """Characters that substitution may still produce in one artver.yaml."""

    __slots__ = ("left",)

    def __init__(self, total: int = MAX_RESOLVED_TOTAL) -> None:
        self.left = total

    def spend(self, size: int) -> None:
        self.left -= size
        if self.left < 0:
            raise TemplateError(
                f"substituting ${{...}} would produce more than {_mib(MAX_RESOLVED_TOTAL)}"
                " of text in this file (the most artver allows)"
            )


def _mib(size: int) -> str:
    return f"{size // MiB} MiB"


class Context:
    """The names a `${...}` can use: merged values (from params files and inline `vars`), the
    source of each, and `locals` (`item` and `key` of a foreach or matrix stage), which shadow
    the merged values and come from no file.

    Merging never changes a mapping in place (it copies the mappings along the paths it
    changes), so `copy()` is cheap: 10,000 foreach stages with their own `vars` share the
    file-level values instead of each copying a 16 MiB params file."""

    __slots__ = ("_origins", "_uses", "locals", "values")

    def __init__(self) -> None:
        self.values: dict[str, Any] = {}
        self.locals: dict[str, Any] = {}
        # first name -> path -> the source that gave the value at that path as a whole; one
        # layer per merge (a stage's own vars add one instead of copying the file's)
        self._origins: tuple[dict[str, dict[tuple[str, ...], Source]], ...] = ()
        self._uses: dict[tuple[str, ...], list[ParamUse]] = {}

    def copy(self) -> Context:
        """A context that starts with the same names; what is merged into either later is
        not seen by the other (merging replaces, never changes, what they share)."""
        new = Context()
        new.values = self.values
        new.locals = dict(self.locals)
        new._origins = self._origins
        new._uses = self._uses
        return new

    def with_locals(self, names: dict[str, Any]) -> Context:
        new = self.copy()
        new.locals.update(names)
        return new

    def defines(self, name: str) -> bool:
        return name in self.locals or name in self.values

    def merge(self, values: dict[str, Any], source: Source) -> None:
        """Add `values` from `source`. Mappings merge key by key, as in DVC; a name that two
        sources both define is ambiguous: an error naming both. Loading the same params file
        twice (`params.yaml` by default, then `params.yaml:train` in `vars`) is not. Keys
        must be text (params files are read so; `text_keys` makes inline values so)."""
        self._origins = (*self._origins, {})
        self.values = self._merged(self.values, values, (), source)
        self._uses = {}

    def _merged(
        self, into: dict[str, Any], update: dict[str, Any], path: tuple[str, ...], source: Source
    ) -> dict[str, Any]:
        out = dict(into)
        for key, value in update.items():
            here = (*path, key)
            old = out.get(key, _MISSING)
            if old is _MISSING:
                out[key] = value
                self._origins[-1].setdefault(here[0], {})[here] = source
            elif isinstance(old, dict) and isinstance(value, dict):
                out[key] = self._merged(old, value, here, source)
            else:
                existing = self._origin(here)
                if (
                    existing is not None
                    and existing.file is not None
                    and existing.file == source.file
                ):
                    continue  # the same file again: the same values
                before = existing.label if existing is not None else "another source"
                raise TemplateError(
                    f"{'.'.join(here)} is ambiguous: both {before} and {source.label} define it"
                )
        return out

    def _origin(self, path: tuple[str, ...]) -> Source | None:
        for end in range(len(path), 0, -1):
            for layer in self._origins:
                found = layer.get(path[0], {}).get(path[:end])
                if found is not None:
                    return found
        return None

    def lookup(self, expression: str) -> tuple[Any, list[ParamUse]]:
        """The value `${expression}` names, and the params-file keys it was read from."""
        parts = split_name(expression)
        first = parts[0]
        if first in self.locals:
            node, tracked = self.locals[first], False
        elif first in self.values:
            node, tracked = self.values[first], True
        else:
            hint = SHELL_HINT
            if re.fullmatch(r"[A-Za-z_]\w*", first) and len(parts) == 1:
                hint = f"a shell variable is written ${first}, or escaped as \\${{{first}}}"
            raise TemplateError(
                f"${{{expression}}} is not defined: no params.yaml key, vars entry or foreach"
                f" item is named {first} ({hint})"
            )
        for depth, part in enumerate(parts[1:], start=1):
            if isinstance(node, dict) and part in node:
                node = node[part]
            elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
                node = node[int(part)]
            else:
                reached = ".".join(parts[:depth])
                if isinstance(node, dict | list):
                    what = "key" if isinstance(node, dict) else "item"
                    problem = f"{reached} has no {what} {part}"
                else:
                    problem = f"{reached} is {to_text(node)!r}, not a mapping or list"
                raise TemplateError(f"${{{expression}}} is not defined: {problem}")
        return node, (self._uses_of(parts) if tracked else [])

    def _uses_of(self, path: tuple[str, ...]) -> list[ParamUse]:
        """Params-file keys behind the value at `path`: the source of the value it lies in,
        and, for a mapping merged from several sources, the source of each part."""
        known = self._uses.get(path)
        if known is not None:
            return known
        found: list[ParamUse] = []
        whole = self._origin(path)
        if whole is not None and whole.file is not None:
            found.append(ParamUse(whole.file, ".".join(path)))
        for layer in self._origins:
            for origin, source in layer.get(path[0], {}).items():
                if len(origin) > len(path) and origin[: len(path)] == path and source.file:
                    found.append(ParamUse(source.file, ".".join(origin)))
        self._uses[path] = found
        return found


def text_keys(value: Any) -> Any:
    """`value` with every mapping key made text, as params files are read: YAML makes `1:` a
    number, and `${item.1}` names it as text. Nesting is bounded by the YAML loader."""
    if isinstance(value, dict):
        return {k if isinstance(k, str) else to_text(k): text_keys(v) for k, v in value.items()}
    if isinstance(value, list):
        return [text_keys(v) for v in value]
    return value


@functools.lru_cache(maxsize=4096)  # a foreach template names the same few, 10,000 times
def split_name(expression: str) -> tuple[str, ...]:
    """`a.b.0` (or `a[b][0]`, as DVC also reads it) -> ("a", "b", "0")."""
    parts = tuple(expression.strip().replace("[", ".").replace("]", "").split("."))
    if not all(part and not any(c.isspace() for c in part) for part in parts):
        raise TemplateError(
            f"${{{expression}}} is not a name: write ${{name}} or ${{a.b.c}} ({SHELL_HINT})"
        )
    return parts


def has_reference(value: Any) -> bool:
    """Whether any string (or mapping key) in `value` holds a `${...}`."""
    if isinstance(value, str):
        return REFERENCE.search(value) is not None
    if isinstance(value, dict):
        return any(has_reference(k) or has_reference(v) for k, v in value.items())
    if isinstance(value, list):
        return any(has_reference(v) for v in value)
    return False


def to_text(value: Any) -> str:
    """A single value as text in a longer string: booleans as `true`/`false` (as YAML and
    DVC write them), everything else as Python prints it (so null is `None`, as in DVC)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return value if isinstance(value, str) else str(value)


def _kind(value: Any) -> str:
    return "a mapping" if isinstance(value, dict) else "a list"


def cmd_text(value: Any, expression: str = "") -> str:
    """A value as text in a command. A mapping becomes command-line options as DVC makes
    them (nested keys joined with `.`): `{lr: 0.1, name: my model, flag: true, off: false,
    layers: [1, 2]}` -> `--lr 0.1 --name 'my model' --flag --layers 1 2`; a list becomes its
    values joined with spaces (text quoted for `sh`)."""
    import shlex

    if isinstance(value, dict):
        words: list[str] = []
        for key, item in _flatten(value, ""):
            if isinstance(item, bool):
                if item:
                    words.append(f"--{key}")
            elif isinstance(item, list):
                if item:
                    words.append(f"--{key} {_words(item, f'{expression}.{key}')}")
            else:
                words.append(f"--{key} {shlex.quote(item) if isinstance(item, str) else item}")
        return " ".join(words)
    if isinstance(value, list):
        return _words(value, expression)
    return to_text(value)


def _words(values: list[Any], expression: str) -> str:
    import shlex

    words = []
    for item in values:
        if isinstance(item, dict | list):
            raise TemplateError(
                f"${{{expression}}} holds {_kind(item)} inside a list: a command can take a"
                " list of single values only"
            )
        words.append(shlex.quote(item) if isinstance(item, str) else to_text(item))
    return " ".join(words)


def _flatten(mapping: dict[str, Any], prefix: str) -> list[tuple[str, Any]]:
    out: list[tuple[str, Any]] = []
    for key, item in mapping.items():
        name = f"{prefix}.{key}" if prefix else str(key)
        if isinstance(item, dict):
            out.extend(_flatten(item, name))  # an empty mapping gives no option
        else:
            out.append((name, item))
    return out


def resolve(
    value: Any,
    context: Context,
    mode: str = VALUE,
    budget: Budget | None = None,
    uses: list[ParamUse] | None = None,
) -> Any:
    """`value` (a field of a stage, as parsed) with every `${...}` in its strings and mapping
    keys replaced from `context`. `mode` says how a value may be used (VALUE, CMD or DATA);
    the params-file keys read are appended to `uses`."""
    budget = Budget() if budget is None else budget
    uses = [] if uses is None else uses
    return _resolve(value, context, mode, budget, uses)


def _resolve(value: Any, context: Context, mode: str, budget: Budget, uses: list) -> Any:
    if isinstance(value, str):
        return resolve_string(value, context, mode, budget, uses)
    if isinstance(value, list):
        out_list = []
        for index, item in enumerate(value):
            try:
                out_list.append(_resolve(item, context, mode, budget, uses))
            except TemplateError as exc:
                raise exc.under(index) from None
        return out_list
    if isinstance(value, dict):
        out: dict[Any, Any] = {}
        for key, item in value.items():
            try:
                name = key
                if isinstance(key, str):
                    name = resolve_string(key, context, VALUE, budget, uses)
                    name = to_text(name)
                if name in out:
                    raise TemplateError(f"{key!r} and another key both become {name!r}")
                out[name] = _resolve(item, context, mode, budget, uses)
            except TemplateError as exc:
                raise exc.under(key) from None
        return out
    return value


def resolve_string(
    text: str,
    context: Context,
    mode: str = VALUE,
    budget: Budget | None = None,
    uses: list[ParamUse] | None = None,
) -> Any:
    """One string with its references replaced. A string that is exactly one `${x}` gives the
    value itself (an int stays an int) outside `cmd`; inside a longer string each value is
    made text. `\\${` stands for a literal `${`."""
    budget = Budget() if budget is None else budget
    uses = [] if uses is None else uses
    matches = list(REFERENCE.finditer(text)) if "${" in text else []
    if not matches:
        return text.replace(ESCAPED, "${") if ESCAPED in text else text
    if mode != CMD and len(matches) == 1 and matches[0].span() == (0, len(text)):
        expression = matches[0].group("inner")
        value, read = context.lookup(expression)
        uses.extend(read)
        if mode == VALUE and isinstance(value, dict | list):
            raise _not_text(expression, value)
        if isinstance(value, str):
            _check_length(len(value), expression)
            budget.spend(len(value))
        return value
    pieces: list[str] = []
    length = 0
    start = 0
    for match in matches:
        expression = match.group("inner")
        value, read = context.lookup(expression)
        uses.extend(read)
        if mode == CMD:
            piece = cmd_text(value, expression)
        elif isinstance(value, dict | list):
            raise _not_text(expression, value)
        else:
            piece = to_text(value)
        literal = text[start : match.start()].replace(ESCAPED, "${")
        length += len(literal) + len(piece)
        _check_length(length, expression)
        pieces += (literal, piece)
        start = match.end()
    pieces.append(text[start:].replace(ESCAPED, "${"))
    result = "".join(pieces)
    _check_length(len(result), matches[-1].group("inner"))
    budget.spend(len(result))
    return result


def _not_text(expression: str, value: Any) -> TemplateError:
    return TemplateError(
        f"${{{expression}}} is {_kind(value)}: only cmd turns a mapping or list into text"
        " (command-line arguments); elsewhere name a single value"
    )


def _check_length(length: int, expression: str) -> None:
    if length > MAX_RESOLVED_STRING:
        raise TemplateError(
            f"substituting ${{{expression}}} makes a string longer than"
            f" {_mib(MAX_RESOLVED_STRING)} (the most artver allows)"
        )


def parse_vars_entry(entry: str) -> tuple[str, list[str] | None]:
    """`conf.yaml:train,eval` -> ("conf.yaml", ["train", "eval"]); `conf.yaml` -> (…, None)
    (every key of the file)."""
    path, _, names = entry.partition(":")
    selected = [n.strip() for n in names.split(",") if n.strip()] if names else None
    return path, selected or None


def select_keys(data: dict[str, Any], keys: list[str] | None, label: str) -> dict[str, Any]:
    """The top-level `keys` of a params file's mapping (all of it for None), as DVC's
    `file.yaml:key1,key2`; a missing key is an error naming it."""
    if keys is None:
        return data
    missing = [k for k in keys if k not in data]
    if missing:
        raise TemplateError(f"{label} has no key {missing[0]!r}")
    return {k: data[k] for k in keys}
