"""Git history, read through dulwich: revisions resolved as Git resolves them, and the files of
any commit read from Git's object store without checking anything out.

dulwich is imported here (and in scm.py for configuration) and nowhere else, on first use.
Trees are read once each: what a tree holds of interest is remembered by tree id, so a walk
over thousands of commits that share most of their subtrees reads each subtree once.
"""

from __future__ import annotations

import re
import stat
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from artver.errors import ArtverError

HEX = re.compile(r"[0-9a-fA-F]{4,40}")
SUFFIXES = re.compile(r"(?:[~^][0-9]*)+$")
ZERO = "0" * 40


class RevisionError(ArtverError):
    pass


class ShallowHistoryError(RevisionError):
    def __init__(self, rev: str) -> None:
        super().__init__(
            f"history is missing for {rev!r}: this is a shallow clone and the revision lies "
            "beyond its oldest commit",
            hint="Fetch the full history with `git fetch --unshallow`.",
        )


@dataclass(frozen=True)
class Commit:
    sha: str
    label: str  # how the user named it ("HEAD~3", "main"), else the short SHA


class History:
    """A Git repository opened for reading. `wanted(name)` says which file names matter to
    `files_at` (artver's pointer files, pipeline files and locks)."""

    def __init__(self, root: Path, wanted: Callable[[str], bool]) -> None:
        self._repo = _open_git(root)
        self._wanted = wanted
        self._memo: dict[bytes, tuple[tuple[str, bytes], ...]] = {}
        self._headers: dict[str, tuple[bytes, list[str]]] = {}
        self.shallow = {s.decode() for s in self._repo.get_shallow()}

    def __enter__(self) -> History:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._repo.close()

    # -- revisions ---------------------------------------------------------------------------
    def resolve(self, rev: str) -> str:
        """The commit SHA a revision names: a branch, tag, (short) SHA, `HEAD`, followed by
        any `~N`, `^N` steps, as `git rev-parse` reads them."""
        if not rev or rev.strip() != rev or "@{" in rev or ":" in rev:
            raise RevisionError(f"unknown Git revision {rev!r}")
        match = SUFFIXES.search(rev)
        base, steps = (rev[: match.start()], match.group()) if match else (rev, "")
        sha = self._base(base or "HEAD", rev)
        for op, count in re.findall(r"([~^])([0-9]*)", steps):
            n = int(count) if count else 1
            if op == "~":
                for _ in range(n):
                    sha = self._parent(sha, 1, rev)
            elif n:
                sha = self._parent(sha, n, rev)
        return sha

    def _base(self, name: str, rev: str) -> str:
        if name == "@":
            name = "HEAD"
        refs = self._repo.refs
        candidates = [name, f"refs/{name}", f"refs/tags/{name}", f"refs/heads/{name}"]
        candidates += [f"refs/remotes/{name}", f"refs/remotes/{name}/HEAD"]
        for ref in candidates:
            try:
                sha = refs[ref.encode("utf-8")]
            except (KeyError, ValueError):
                continue
            peeled = self._peel(sha)
            if peeled is None:
                raise RevisionError(f"{rev!r} does not name a commit")
            return peeled
        if HEX.fullmatch(name):
            found = self._by_prefix(name.lower())
            if len(found) == 1:
                return found.pop()
            if len(found) > 1:
                shown = ", ".join(sorted(s[:12] for s in found)[:5])
                raise RevisionError(f"short SHA {name!r} is ambiguous: {shown}")
        experiment = self._experiment(name, rev)
        if experiment is not None:
            return experiment
        if name == "HEAD":
            raise RevisionError("HEAD names no commit: the repository has no commits yet")
        raise RevisionError(
            f"unknown Git revision {rev!r}",
            hint="Name a branch, a tag, a commit SHA or HEAD~N (see `git log`).",
        )

    def _experiment(self, name: str, rev: str) -> str | None:
        """The commit of the experiment called `name` (`refs/artver/exps/<baseline>/<name>`),
        so that every command taking a revision takes an experiment's name too."""
        if "/" in name:
            return None
        refs = self._repo.refs
        found = {
            refs[b"refs/artver/exps/" + key]
            for key in refs.keys(base=b"refs/artver/exps/")
            if key.rsplit(b"/", 1)[-1] == name.encode("utf-8", "surrogateescape")
        }
        if len(found) > 1:
            raise RevisionError(f"{rev!r} names several experiments: give its commit SHA")
        if not found:
            return None
        return self._peel(found.pop())

    def _by_prefix(self, prefix: str) -> set[str]:
        store = self._repo.object_store
        if len(prefix) == 40:
            shas = [prefix.encode()] if prefix.encode() in store else []
        else:
            shas = list(store.iter_prefix(prefix.encode()))
        found = set()
        for sha in shas:
            peeled = self._peel(sha)
            if peeled is not None:
                found.add(peeled)
        return found

    def _peel(self, sha: bytes) -> str | None:
        """The commit `sha` is, or an annotated tag points at; None for anything else."""
        from dulwich.objects import Commit as GitCommit
        from dulwich.objects import Tag

        try:
            obj = self._repo.object_store[sha]
            while isinstance(obj, Tag):
                obj = self._repo.object_store[obj.object[1]]
        except KeyError:
            return None
        return obj.id.decode() if isinstance(obj, GitCommit) else None

    def _commit(self, sha: str, rev: str) -> Any:
        try:
            return self._repo.object_store[sha.encode()]
        except KeyError:
            if sha in self.shallow or not self.shallow:
                raise RevisionError(
                    f"commit {sha[:12]} (reached from {rev!r}) is missing from the Git "
                    "object store",
                    hint="The clone may be partial or damaged; try `git fetch`.",
                ) from None
            raise ShallowHistoryError(rev) from None

    def _header(self, sha: str, rev: str) -> tuple[bytes, list[str]]:
        """(tree id, parent SHAs) from the commit's raw header, remembered: no Commit object is
        built, and a walk followed by a read of each commit's tree reads each commit once."""
        known = self._headers.get(sha)
        if known is not None:
            return known
        try:
            kind, raw = self._repo.object_store.get_raw(sha.encode())
        except KeyError:
            self._commit(sha, rev)  # raises the right error
            raise
        if kind != 1:  # not a commit
            raise RevisionError(f"{sha[:12]} (reached from {rev!r}) is not a commit")
        tree, parents = b"", []
        for line in raw.split(b"\n\n", 1)[0].split(b"\n"):
            if line.startswith(b"tree "):
                tree = line[5:]
            elif line.startswith(b"parent "):
                parents.append(line[7:].decode())
        self._headers[sha] = (tree, parents)
        return tree, parents

    def _parents(self, sha: str, rev: str) -> list[str]:
        return self._header(sha, rev)[1]

    def _parent(self, sha: str, n: int, rev: str) -> str:
        if sha in self.shallow:
            raise ShallowHistoryError(rev)
        parents = self._parents(sha, rev)
        if len(parents) < n:
            which = "parent" if n == 1 else f"parent number {n}"
            raise RevisionError(f"{rev!r} does not exist: commit {sha[:12]} has no {which}")
        return parents[n - 1]

    def parents(self, sha: str) -> list[str]:
        """The parent SHAs of a commit (none for a root commit)."""
        return self._parents(sha, sha[:12])

    def head(self) -> str | None:
        try:
            return self._peel(self._repo.refs[b"HEAD"])
        except KeyError:
            return None

    def tips(self, prefixes: Iterable[str]) -> dict[str, str]:
        """{commit SHA: ref name} of the refs under the given prefixes (`refs/heads/`...)."""
        wanted = tuple(p.encode() for p in prefixes)
        found: dict[str, str] = {}
        for ref in sorted(self._repo.refs.allkeys()):
            if not ref.startswith(wanted) and ref not in wanted:
                continue
            try:
                sha = self._peel(self._repo.refs[ref])
            except KeyError:
                continue
            if sha is not None:
                name = ref.decode("utf-8", "replace")
                for prefix in ("refs/heads/", "refs/tags/", "refs/remotes/"):
                    name = name.removeprefix(prefix)
                found.setdefault(sha, name)
        return found

    def walk(self, tips: Iterable[str]) -> tuple[list[str], bool]:
        """Every commit reachable from `tips` (each read once), and whether the walk stopped at
        a shallow boundary, where older history is not in this clone."""
        seen: set[str] = set()
        order: list[str] = []
        stack = [t for t in tips]
        truncated = False
        while stack:
            sha = stack.pop()
            if sha in seen:
                continue
            seen.add(sha)
            order.append(sha)
            if sha in self.shallow:
                truncated = True
                continue
            for parent_sha in self._parents(sha, sha[:12]):
                if parent_sha not in seen:
                    stack.append(parent_sha)
        return order, truncated

    def describe(self, sha: str) -> dict[str, Any]:
        commit = self._commit(sha, sha[:12])
        return {
            "sha": sha,
            "author": commit.author.decode("utf-8", "replace"),
            "time": commit.commit_time,
            "author_time": commit.author_time,
            "author_tz": commit.author_timezone,  # seconds east of UTC
            "message": commit.message.decode("utf-8", "replace").strip(),
        }

    def summary(self, sha: str) -> tuple[str, int, int, int, str]:
        """(author as `Name <email>`, author time, its offset east of UTC in seconds, commit
        time, subject) read from the raw commit, without building a Commit object: `log`
        asks this of every commit it walks."""
        try:
            kind, raw = self._repo.object_store.get_raw(sha.encode())
        except KeyError:
            self._commit(sha, sha[:12])  # raises the right error
            raise
        head, _, message = raw.partition(b"\n\n")
        author, when, zone, committed = b"", 0, 0, 0
        tree, parents = b"", []
        for line in head.split(b"\n"):
            if line.startswith(b"tree "):
                tree = line[5:]
            elif line.startswith(b"parent "):
                parents.append(line[7:].decode())
            elif line.startswith((b"author ", b"committer ")):
                ident, _, rest = line.partition(b" ")[2].rpartition(b"> ")
                stamp, _, offset = rest.partition(b" ")
                digits = offset.lstrip(b"+-").rjust(4, b"0")
                if not (stamp.isdigit() and digits.isdigit()):
                    continue  # a damaged line: shown without a date rather than not at all
                if line.startswith(b"committer "):
                    committed = int(stamp)
                    continue
                author, when = ident + b">", int(stamp)
                sign = -1 if offset.startswith(b"-") else 1
                zone = sign * (int(digits[:-2]) * 3600 + int(digits[-2:]) * 60)
        if kind == 1:  # a commit: its header is known now too (`parents` reads no more)
            self._headers.setdefault(sha, (tree, parents))
        subject = message.split(b"\n", 1)[0].decode("utf-8", "replace").strip()
        return author.decode("utf-8", "replace"), when, zone, committed, subject

    # -- files of a commit -------------------------------------------------------------------
    def files_at(self, sha: str) -> tuple[tuple[str, bytes], ...]:
        """(path, blob id) of every wanted file in the commit's tree."""
        return self._wanted_in(self._header(sha, sha[:12])[0])

    def _wanted_in(self, tree_id: bytes) -> tuple[tuple[str, bytes], ...]:
        known = self._memo.get(tree_id)
        if known is not None:
            return known
        try:
            entries = self._tree_entries(tree_id)
        except KeyError:
            raise RevisionError(
                f"Git tree {tree_id.decode()[:12]} is missing from the object store"
            ) from None
        found: list[tuple[str, bytes]] = []
        for mode, raw_name, sha in entries:
            name = raw_name.decode("utf-8", "surrogateescape")
            if stat.S_ISDIR(mode):
                found += ((f"{name}/{path}", blob) for path, blob in self._wanted_in(sha))
            elif stat.S_ISREG(mode) and self._wanted(name):
                found.append((name, sha))
        result = tuple(found)
        self._memo[tree_id] = result
        return result

    def _tree_entries(self, tree_id: bytes) -> list[tuple[int, bytes, bytes]]:
        """(mode, name, hex id) of a tree's entries. In a plain SHA-1 repository they are read
        from the raw tree (`<mode> <name>\\0<20-byte id>`...) without building a Tree object,
        a third of the cost when `log` reads one tree per commit; otherwise through dulwich."""
        if not isinstance(self._repo, _PlainGitDir):
            tree = self._repo.object_store[tree_id]
            return [(item.mode, item.path, item.sha) for item in tree.iteritems()]
        kind, raw = self._repo.object_store.get_raw(tree_id)
        entries, i, end = [], 0, len(raw)
        try:
            if kind != 2:  # not a tree
                raise ValueError
            while i < end:
                space = raw.index(b" ", i)
                nul = raw.index(b"\0", space)
                sha = raw[nul + 1 : nul + 21]
                if len(sha) != 20:
                    raise ValueError
                entries.append((int(raw[i:space], 8), raw[space + 1 : nul], sha.hex().encode()))
                i = nul + 21
        except ValueError:
            raise RevisionError(f"Git tree {tree_id.decode()[:12]} is damaged") from None
        return entries

    def blob(self, blob_id: bytes) -> bytes:
        # The raw bytes, without building a Blob object: a third of the cost of a pointer
        # file's read when `log` reads one per commit.
        return self._repo.object_store.get_raw(blob_id)[1]

    def read(self, sha: str, path: str) -> bytes | None:
        """The bytes of `path` in the commit's tree; None when it has no such file."""
        from dulwich.object_store import tree_lookup_path

        tree = self._header(sha, sha[:12])[0]
        try:
            mode, blob = tree_lookup_path(
                self._repo.object_store.__getitem__, tree, path.encode("utf-8", "surrogateescape")
            )
        except (KeyError, NotADirectoryError):
            return None
        if not stat.S_ISREG(mode):
            return None
        return self.blob(blob)

    def files_below(self, sha: str, path: str) -> list[str] | None:
        """The paths (from the root, sorted) of the regular files below directory `path` in
        the commit's tree; None when the commit has no directory there."""
        from dulwich.object_store import tree_lookup_path

        tree = self._header(sha, sha[:12])[0]
        try:
            mode, sub = tree_lookup_path(
                self._repo.object_store.__getitem__, tree, path.encode("utf-8", "surrogateescape")
            )
        except (KeyError, NotADirectoryError):
            return None
        if not stat.S_ISDIR(mode):
            return None
        found, stack = [], [(path, sub)]
        while stack:
            prefix, tree_id = stack.pop()
            for entry_mode, raw_name, entry_sha in self._tree_entries(tree_id):
                child = f"{prefix}/{raw_name.decode('utf-8', 'surrogateescape')}"
                if stat.S_ISDIR(entry_mode):
                    stack.append((child, entry_sha))
                elif stat.S_ISREG(entry_mode):
                    found.append(child)
        return sorted(found)


class _PlainGitDir:
    """The object store, refs and shallow list of a plain `.git` directory, opened without
    `dulwich.repo.Repo`, whose set-up (worktrees, config, hooks) a read-only command never
    uses: ~8 ms, a tenth of a whole `artver diff` across 500 commits."""

    def __init__(self, git_dir: Path) -> None:
        from dulwich.object_store import DiskObjectStore
        from dulwich.refs import DiskRefsContainer

        self._git_dir = git_dir
        self.object_store = DiskObjectStore(str(git_dir / "objects"))
        self.refs = DiskRefsContainer(str(git_dir), str(git_dir))

    def get_shallow(self) -> set[bytes]:
        try:
            lines = (self._git_dir / "shallow").read_bytes().split()
        except FileNotFoundError:
            return set()
        return set(lines)

    def close(self) -> None:
        self.object_store.close()


def _open_git(root: Path) -> Any:
    """The repository at `root`: the plain `.git` directory of an ordinary clone directly,
    anything else (a linked worktree or submodule, whose `.git` is a file; a SHA-256 or
    otherwise extended repository) through dulwich's full `Repo`."""
    git_dir = root / ".git"
    if not git_dir.exists() and is_bare_git_dir(root):
        git_dir = root  # a bare repository (another repository read by `artver get`)
    try:
        config = (git_dir / "config").read_bytes()
        plain = (git_dir / "objects").is_dir() and b"extensions" not in config.lower()
    except (FileNotFoundError, NotADirectoryError):
        plain = False
    if plain:
        return _PlainGitDir(git_dir)
    from dulwich.errors import NotGitRepository
    from dulwich.repo import Repo as GitRepo

    try:
        return GitRepo(str(root))
    except NotGitRepository:
        raise RevisionError(f"{root} is not a Git repository: revisions cannot be read") from None


def is_bare_git_dir(path: Path) -> bool:
    """Whether `path` is a bare Git repository (its `HEAD`, `objects/` and `refs/` at the top)."""
    return (path / "HEAD").is_file() and (path / "objects").is_dir() and (path / "refs").is_dir()


def mirror(url: str, git_dir: Path) -> None:
    """Make the bare repository `git_dir` (created if missing) hold the branches, tags and HEAD
    of the Git repository at `url`, fetching only the objects it lacks: the copy `artver get`
    and `import` read another repository from when it lives on a Git server. Branches and
    tags the server no longer has are dropped, as `git fetch --prune` does."""
    from dulwich.client import get_transport_and_path
    from dulwich.repo import Repo as GitRepo

    made = not (git_dir / "objects").is_dir()
    try:
        if made:
            git_dir.mkdir(parents=True, exist_ok=True)
        repo = GitRepo.init_bare(str(git_dir)) if made else GitRepo(str(git_dir))
    except (OSError, ValueError) as exc:
        raise RevisionError(f"cannot make a copy of {url} in {git_dir}: {exc}") from None
    try:
        client, path = get_transport_and_path(url)
        result = client.fetch(path, repo)
        wanted = (b"refs/heads/", b"refs/tags/")
        remote = {
            ref: sha
            for ref, sha in result.refs.items()
            if ref.startswith(wanted) and not ref.endswith(b"^{}") and sha
        }
        for ref in list(repo.refs.allkeys()):
            if ref.startswith(wanted) and ref not in remote:
                repo.refs.remove_if_equals(ref, None)
        for ref, sha in remote.items():
            repo.refs[ref] = sha
        head = (result.symrefs or {}).get(b"HEAD")
        if head in remote:
            repo.refs.set_symbolic_ref(b"HEAD", head)
        elif result.refs.get(b"HEAD"):
            repo.refs[b"HEAD"] = result.refs[b"HEAD"]
    except RevisionError:
        raise
    except Exception as exc:  # dulwich raises many kinds: protocol, HTTP, SSH, OS errors
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        raise RevisionError(
            f"cannot fetch the Git repository {url}: {type(exc).__name__}"
            + (f": {reason}" if reason else ""),
            hint="Check the URL, your network and your Git credentials (`git ls-remote URL`).",
        ) from None
    finally:
        repo.close()


def open_history(root: Path, wanted: Callable[[str], bool]) -> History:
    from artver.scm import find_git_root

    return History(find_git_root(root) or root, wanted)
