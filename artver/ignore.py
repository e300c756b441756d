""".artverignore: the files inside tracked directories that artver leaves alone.

An `.artverignore` holds .gitignore patterns and follows .gitignore's rules: a pattern is
relative to the directory of its file (one with a slash at its start or middle is anchored
there, one without matches at any depth below it), `!` re-includes, a trailing `/` matches
directories only, `**` spans directories, `#` starts a comment and `\\` escapes. A directory a
pattern excludes is not entered, so nothing below it can be re-included (as in Git). For each
path, the deepest ignore file with a matching line decides, and in it the last matching line.

pathspec translates each line into a regular expression. The translation of a file is
remembered in the state DB by content (`Repo.parse_remembered`), so a command imports pathspec
(tens of milliseconds) only when an ignore file's content is new. Matching is done here, one
path component at a time, as Git does: the whole path is only needed for patterns that hold a
slash; the others are matched against the name.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable

from artver.errors import PathError

IGNORE_FILE = ".artverignore"
# Part of the key under which a file's translation is remembered: bump it when `translate`
# changes what it produces.
TRANSLATION = "ignore1"
# A translated line: (line number, the line, whether it ignores (False: a `!` line), the
# regular expression a path must match, whether that is matched against the name only).
Line = tuple[int, str, bool, str, bool]
# Reads (repo-relative path of an ignore file, its text) into translated lines.
Parser = Callable[[str, str], list[Line]]

# What pathspec's expressions start and end with (see `_exact`).
_ANY_DEPTH = "^(?:.+/)?"
_FILE_OR_DIR_END = "(?:(?P<ps_d>/)|$)"
_DIR_END = "(?P<ps_d>/)"


# A plain class, not a NamedTuple: generating one costs start-up time on every command.
class Match:
    """The line of an ignore file that decided about a path."""

    __slots__ = ("file", "ignores", "line", "pattern")

    def __init__(self, file: str, line: int, pattern: str, ignores: bool) -> None:
        self.file = file  # the ignore file, repo-relative
        self.line = line
        self.pattern = pattern
        self.ignores = ignores  # False: a `!` line re-included the path


def translate(text: str) -> list[Line]:
    """The lines of an ignore file that are patterns, translated. Blank lines, comments and
    lines Git would reject (a trailing lone backslash) match nothing, as in Git."""
    from pathspec.patterns.gitignore.spec import GitIgnoreSpecPattern

    found: list[Line] = []
    for number, line in enumerate(text.splitlines(), 1):
        try:
            regex, include = GitIgnoreSpecPattern.pattern_to_regex(line)
        except ValueError:  # pathspec's GitIgnorePatternError
            continue
        if include is None or regex is None:
            continue
        exact, on_name = _exact(regex, line)
        found.append((number, line, bool(include), exact, on_name))
    return found


def _exact(regex: str, line: str) -> tuple[str, bool]:
    """pathspec's `regex` for `line` (searched in a path, it also matches paths below a
    matching directory) turned into one that matches only the path itself, given with a
    trailing `/` when it is a directory; and whether it can be matched against the last name
    alone (a line with no slash but a trailing one, as Git says). Paths below an excluded
    directory need no pattern: the directory is not entered."""
    if regex == ".":  # `*`, `**`: everything
        return ".", True
    if regex.endswith(_FILE_OR_DIR_END):
        body, end = regex[: -len(_FILE_OR_DIR_END)], "/?\\Z"
    elif regex.endswith(_DIR_END):
        body, end = regex[: -len(_DIR_END)], "/\\Z"
    else:  # `a/**` is `^a/`: anything inside a, not a itself
        body, end = regex, "."
    if body == "":  # `**/`, `*/`: every directory
        return end, True
    text = line[1:] if line.startswith("!") else line
    if body.startswith(_ANY_DEPTH) and "/" not in text.rstrip(" \t/"):
        return "^" + body[len(_ANY_DEPTH) :] + end, True
    return body + end, False


def _either(regexes: list[str]) -> Callable[[str], object] | None:
    if not regexes:
        return None
    return re.compile("|".join(f"(?:{rx})" for rx in regexes)).search


class Rules:
    """The patterns of one ignore file."""

    __slots__ = ("_any_name", "_any_path", "_lines", "file", "name_lines", "path_lines")

    def __init__(self, file: str, lines: list[Line]) -> None:
        self.file = file
        self._lines = [
            (re.compile(rx).search, on_name, ignores, number, text)
            for number, text, ignores, rx, on_name in lines
        ]
        self.name_lines = [ln[3] for ln in lines if ln[4]]
        self.path_lines = [ln[3] for ln in lines if not ln[4]]
        # One search for "does any line match?", the usual answer being no.
        self._any_name = _either(self.name_lines)
        self._any_path = _either(self.path_lines)

    def decide(self, name: str, path: str) -> Match | None:
        """The last line matching the entry `name` at `path` (relative to this file's
        directory; both end in `/` for a directory), or None."""
        any_name, any_path = self._any_name, self._any_path
        if not ((any_name is not None and any_name(name)) or (any_path and any_path(path))):
            return None
        for search, on_name, ignores, number, text in reversed(self._lines):
            if search(name if on_name else path):
                return Match(self.file, number, text, ignores)
        return None


# The rules in force in a directory, deepest ignore file first: (prefix, cut, rules), where the
# path a file's rules see is `prefix + rel[cut:]` for `rel` relative to the walked tree.
Scope = tuple[tuple[str, int, Rules], ...]


def decide(scope: Scope, rel: str, is_dir: bool) -> Match | None:
    """The line that decides about `rel` itself (relative to the walked tree), or None."""
    tail = "/" if is_dir else ""
    name = rel[rel.rfind("/") + 1 :] + tail
    for prefix, cut, rules in scope:
        found = rules.decide(name, prefix + rel[cut:] + tail)
        if found is not None:
            return found
    return None


def is_ignored(scope: Scope, rel: str, is_dir: bool) -> bool:
    found = decide(scope, rel, is_dir)
    return found is not None and found.ignores


class TreeIgnore:
    """The ignore rules of one tree being walked, which sits at `base` in the repository
    ("" for the root): those of the ignore files in the directories above it (`outer`), and
    those the walk finds inside it (`inner`). Remembers every ignore file it read."""

    def __init__(self, root: str, base: str, parse: Parser) -> None:
        self.root = root
        self.base = base
        self._parse = parse
        self.read: dict[str, str] = {}  # ignore file (repo-relative) -> digest of its bytes
        self.outer: Scope = ()
        if not base:
            return
        parts = base.split("/")
        scope: Scope = ()
        for depth in range(len(parts)):
            above = "/".join(parts[:depth])
            rel = f"{above}/{IGNORE_FILE}" if above else IGNORE_FILE
            rules = self.load(os.path.join(root, rel), rel)
            if rules is not None:
                scope = (("/".join(parts[depth:]) + "/", 0, rules), *scope)
        self.outer = scope

    def load(self, abspath: str, rel: str) -> Rules | None:
        """The rules of the ignore file at `abspath` (shown as `rel`), None if there is none."""
        try:
            with open(abspath, "rb") as fobj:
                data = fobj.read()
        except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
            return None
        except OSError as exc:
            raise PathError(rel, f"cannot read it: {exc.strerror or exc}") from None
        return self.rules_of(rel, data)

    def rules_of(self, rel: str, data: bytes) -> Rules:
        """The rules of the ignore file `rel`, whose content is `data`."""
        from artver.cache.hashing import hash_bytes

        digest = hash_bytes(data)
        self.read[rel] = digest
        key = (rel, digest)
        rules = _RULES.get(key)
        if rules is None:
            text = data.decode("utf-8", "surrogateescape")
            rules = _RULES[key] = Rules(rel, self._parse(rel, text))
        return rules

    def inner(self, dirpath: str, prefix: str, scope: Scope) -> Scope:
        """`scope` with the rules of the ignore file in `dirpath` (the tree's directory
        `prefix`, "" or ending in `/`) in front, when there is one."""
        where = f"{self.base}/{prefix}" if self.base else prefix
        rules = self.load(os.path.join(dirpath, IGNORE_FILE), where + IGNORE_FILE)
        if rules is None:
            return scope
        return (("", len(prefix), rules), *scope)

    def filter(self, rels: list[str], read: Callable[[str], bytes]) -> list[str]:
        """The files of a listing (tree-relative paths, of a tree that cannot be walked here:
        on a remote filesystem) that the rules keep; `read(rel)` gives an ignore file's bytes.
        The same decisions as the walk's: an excluded directory excludes all below it."""
        present = set(rels)
        dirs: dict[str, tuple[Scope, bool]] = {}  # "a/b/" -> (its scope, whether excluded)

        def state(prefix: str) -> tuple[Scope, bool]:
            if prefix in dirs:
                return dirs[prefix]
            if prefix:
                parent = prefix[: prefix[:-1].rfind("/") + 1]
                scope, excluded = state(parent)
                excluded = excluded or is_ignored(scope, prefix[:-1], True)
            else:
                scope, excluded = self.outer, False
            if not excluded and prefix + IGNORE_FILE in present:
                where = f"{self.base}/{prefix}" if self.base else prefix
                rules = self.rules_of(where + IGNORE_FILE, read(prefix + IGNORE_FILE))
                scope = (("", len(prefix), rules), *scope)
            dirs[prefix] = (scope, excluded)
            return scope, excluded

        kept = []
        for rel in rels:
            scope, excluded = state(rel[: rel.rfind("/") + 1])
            if not excluded and not is_ignored(scope, rel, False):
                kept.append(rel)
        return kept

    def digest(self) -> str:
        """One hash of every ignore file read so far: what a tree's stat fingerprint is
        combined with, so that editing an ignore file invalidates it."""
        from artver.cache.hashing import hash_bytes

        text = "".join(f"{rel}\0{digest}\n" for rel, digest in sorted(self.read.items()))
        return hash_bytes(text.encode("utf-8", "surrogateescape"))


# Compiled rules by (file, content digest): a command that walks several trees compiles each
# ignore file once.
_RULES: dict[tuple[str, str], Rules] = {}


def keep(files: list, start: int, dirs: list, dirs_start: int, scope: Scope, prefix: str) -> None:
    """Drop the ignored entries of the listed directory `prefix`: `files[start:]` (tuples
    whose first item is the tree-relative path) and `dirs[dirs_start:]` (tuples whose second
    item is the directory's tree-relative path with a trailing `/`, and whose fourth is the
    scope to walk it with, set here).

    Most entries match no line: one search of their name in all name patterns at once tells
    (when no line of the scope needs the whole path), and only the others are decided."""
    if scope:
        could_match = could_match_any(scope)
        cut = len(prefix)
        files[start:] = [
            f
            for f in files[start:]
            if not (
                (could_match is None or could_match(f[0][cut:])) and is_ignored(scope, f[0], False)
            )
        ]
    dirs[dirs_start:] = [
        (d[0], d[1], d[2], scope)
        for d in dirs[dirs_start:]
        if not (scope and is_ignored(scope, d[1][:-1], True))
    ]


_COULD_MATCH: dict[tuple[int, ...], Callable[[str], object] | None] = {}


def could_match_any(scope: Scope) -> Callable[[str], object] | None:
    """A search telling whether any line of `scope` could match a file of that name; None
    when one needs the whole path (then every file is decided in full)."""
    key = tuple(id(rules) for _, _, rules in scope)
    if key not in _COULD_MATCH:
        if any(rules.path_lines for _, _, rules in scope):
            _COULD_MATCH[key] = None
        else:
            names = [rx for _, _, rules in scope for rx in rules.name_lines]
            _COULD_MATCH[key] = _either(names) or (lambda name: False)
    return _COULD_MATCH[key]


def check_path(root: str, rel: str, is_dir: bool, parse: Parser) -> Match | None:
    """The line that decides whether the repo-relative `rel` is ignored: one that excludes a
    directory above it (nothing below an excluded directory can be re-included), else the
    one that decides about `rel` itself; None when no line matches."""
    parts = rel.split("/")
    reader = TreeIgnore(root, "", parse)
    scope: Scope = ()
    for depth, _ in enumerate(parts):
        prefix = "/".join(parts[:depth]) + "/" if depth else ""
        scope = reader.inner(os.path.join(root, *parts[:depth]), prefix, scope)
        here = "/".join(parts[: depth + 1])
        last = depth == len(parts) - 1
        found = decide(scope, here, is_dir or not last)
        if last:
            return found
        if found is not None and found.ignores:
            return found
    return None
