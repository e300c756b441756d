"""Big directories: what changed, found and recorded at the cost of the change.

A directory of at least `tree.BIG_TREE` files is stored as a tree of objects (see
`artver.cache.tree`), and the state DB remembers, besides the whole directory's stat
fingerprint, each subdirectory object's: the Merkle fingerprint of the stats below it
(`workspace.merkle`) with the object's id. A command then

1. stats every file (in forked processes, `artver.parallel_scan`; else one directory's files
   at a time), keeping one digest per directory, never a list of the files;
2. answers each subdirectory object whose fingerprint is as remembered with its id;
3. lists, hashes (the state DB answering for the files whose stat did not move) and writes
   only the objects whose fingerprint moved: those on the paths to what changed.

Memory follows the number of directories and one batch of files, not the size of the tree.
A big directory with `.artverignore` files inside it is answered the ordinary way (the rules
of a file inside decide what the directories below it hold).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

from artver.cache.tree import FileEntry, Manifest, SubTree, limits
from artver.errors import PathError
from artver.repo import Repo
from artver.state import SavedTree
from artver.workspace import (
    DirPrint,
    DirStat,
    FileHasher,
    WsFile,
    refuse_non_utf8,
    scan_subtree,
    stat_of_dir,
)

# Files hashed together (one share-out between processes): small enough to keep memory flat.
BATCH_FILES = 50_000
# After hashing a batch, `ingest(files, oids, read)` brings its files into the cache.
Ingest = Callable[[list[WsFile], dict[str, str], set[str]], None]


class BigTree:
    """What `take_big` found: the directory's id, totals, and what was read."""

    def __init__(self, oid: str, nfiles: int, size: int, changed: int, read: int) -> None:
        self.oid = oid
        self.nfiles = nfiles
        self.size = size
        self.changed = changed  # objects written again
        self.read = read  # files whose content was read


def directory_stats(
    repo: Repo, path: Path, shown: str, ignore, expected: int
) -> dict[str, DirStat]:
    """Each directory's own DirStat, in forked processes when worth it, else by one scan that
    keeps one directory's files at a time. Raises what `scan_subtree` raises."""
    from artver.parallel_scan import tree_print

    found = tree_print(str(path), max(expected, 1), repo.config.jobs, ignore)
    if found is not None:
        return found.stats
    stats: dict[str, DirStat] = {}

    def per_dir(prefix: str, files: list[WsFile]) -> None:
        if files:
            stats[prefix[:-1]] = stat_of_dir(files)

    root_st = os.stat(path)
    scan_subtree(
        str(path),
        "",
        frozenset({(root_st.st_dev, root_st.st_ino)}),
        shown,
        repo.link_roots,
        ignore,
        per_dir=per_dir,
    )
    return stats


def has_inner_rules(ignore, base: str) -> bool:
    """Whether an `.artverignore` inside the directory `base` was read."""
    inside = f"{base}/" if base else ""
    return ignore is not None and any(rel.startswith(inside) for rel in ignore.read)


def take_big(
    repo: Repo,
    path: Path,
    shown: str,
    stats: dict[str, DirStat],
    prints: dict[str, DirPrint],
    fingerprint: str,
    ignore,
    on_miss: Callable[[WsFile], str] | None = None,
    ingest: Ingest | None = None,
    check_names: Callable[[str, list[str]], None] | None = None,
) -> BigTree:
    """The id of the big directory at `path` whose directories' stats are `stats` (`prints`
    their `merkle`; the whole fingerprint, rules included, is `fingerprint`), writing the
    objects that changed into the cache. With `ingest`, every file it lists ends up in the
    cache too (add), and each object is marked complete. `check_names(node, rels)` may
    refuse the files of a node it lists."""
    base = repo.rel(path)
    sub = limits()[1]
    objects = [rel for rel in prints if rel == "" or prints[rel][1] >= sub]
    objects.sort(key=lambda r: (r.count("/") + (r != ""), r), reverse=True)  # children first
    is_object = set(objects)
    children: dict[str, list[str]] = {}
    for rel in objects:
        if rel:
            children.setdefault(rel.rpartition("/")[0], []).append(rel)
    owner_of: dict[str, str] = {}  # directory with files of its own -> the object listing them
    for rel in stats:
        up = rel
        while up not in is_object:
            up = up.rpartition("/")[0]
        owner_of[rel] = up
    inline_dirs: dict[str, list[str]] = {}
    for rel, owner in owner_of.items():
        inline_dirs.setdefault(owner, []).append(rel)

    saved = repo.state.subtrees_under(base) if base else {}
    odb, state = repo.odb, repo.state
    known: dict[str, SubTree] = {}  # object dir -> its entry in its parent
    todo: list[str] = []
    for rel in objects:
        fp = prints[rel][0]
        row = saved.get(f"{base}/{rel}") if rel else None
        if (
            row is not None
            and row.fingerprint == fp
            and odb.exists(row.oid)
            and (ingest is None or state.is_complete(row.oid))
        ):
            known[rel] = SubTree(rel.rpartition("/")[2], row.oid, row.size, row.nfiles)
        else:
            todo.append(rel)
    # A changed object's parent changes too (its entry names the child's id).
    todo_set = set(todo)
    for rel in objects:  # children first: a parent is seen after its children
        if rel in todo_set and rel:
            parent = rel.rpartition("/")[0]
            if parent not in todo_set:
                todo_set.add(parent)
                known.pop(parent, None)
    todo = [rel for rel in objects if rel in todo_set]

    hasher = FileHasher(state, repo.config.jobs, repo.progress)
    rows: list[tuple[str, SavedTree, int]] = []
    read = 0
    root = SavedTree("", "", 0, 0)  # the root's, once built (it comes last)
    batch: list[str] = []
    batch_files = 0

    def flush() -> None:
        nonlocal read, root, batch, batch_files
        listed: dict[str, list[WsFile]] = {}
        files: list[WsFile] = []
        lookups: dict[str, tuple[int, int, int, str]] = {}
        for rel in batch:
            listed[rel] = _list_node(repo, path, shown, rel, children.get(rel, ()), ignore)
            rels = [f.rel for f in listed[rel]]
            refuse_non_utf8(shown, rels)
            if check_names is not None:
                check_names(rel, rels)
            files += listed[rel]
            for directory in inline_dirs.get(rel, ()):
                lookups.update(state.files_in(f"{base}/{directory}" if directory else base))
        hasher.read_this_time = set()
        oids = hasher.oids(
            files,
            lambda f: f"{base}/{f.rel}",
            lookups,
            on_miss,
            display=lambda f: f"{shown}/{f.rel}",
        )
        read += len(hasher.read_this_time)
        if ingest is not None:
            ingest(files, oids, hasher.read_this_time)
        for rel in batch:
            cut = len(rel) + 1 if rel else 0
            entries = [
                FileEntry(f.rel[cut:], oids[f.rel], f.size, f.executable) for f in listed[rel]
            ]
            subtrees = [known[child] for child in children.get(rel, ())]
            node = Manifest.node(entries, subtrees)
            fp, nfiles, _, newest = prints[rel]
            if node.nfiles != nfiles:  # the tree changed between the stat pass and the listing
                raise PathError(shown, "changed while artver was reading it; run the command again")
            oid = odb.add_manifest(node)
            if ingest is not None:
                state.mark_complete(oid)
            # Totals from what was listed and hashed (a file may have grown since its stat).
            saving = SavedTree(fp, oid, node.nfiles, node.size)
            if rel:
                known[rel] = SubTree(rel.rpartition("/")[2], oid, node.size, node.nfiles)
                rows.append((f"{base}/{rel}", saving, newest))
            else:
                root = saving
        batch, batch_files = [], 0

    for rel in todo:
        batch.append(rel)
        batch_files += sum(stats[d][1] for d in inline_dirs.get(rel, ()))
        if batch_files >= BATCH_FILES:
            flush()
    if batch:
        flush()
    state.save_subtrees(rows)
    state.save_tree(base, root._replace(fingerprint=fingerprint), prints[""][3])
    return BigTree(root.oid, root.nfiles, root.size, len(todo), read)


def _list_node(
    repo: Repo, path: Path, shown: str, rel: str, object_children, ignore
) -> list[WsFile]:
    """The files an object lists itself: its own and those of its subdirectories that are
    not objects of their own."""
    top = path / rel if rel else path
    ancestors = {(st.st_dev, st.st_ino) for st in _stats_down(path, rel)}
    return scan_subtree(
        str(top),
        f"{rel}/" if rel else "",
        frozenset(ancestors),
        shown,
        repo.link_roots,
        ignore,
        skip_dirs=frozenset(object_children),
    )


def _stats_down(path: Path, rel: str) -> list[os.stat_result]:
    found = [os.stat(path)]
    here = path
    for part in rel.split("/") if rel else ():
        here = here / part
        found.append(os.stat(here))
    return found
