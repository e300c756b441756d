"""The state DB (`.artver/state.db`): what we already know about files on this machine.

`hashes` remembers each workspace file's hash by (inode, mtime_ns, size), so a file whose
stat has not changed is never read again. `complete_dirs` remembers directory manifests
whose every object is known to be in the local cache; `on_remote`, per remote, the tracked
files and directories this clone pushed there or found there, so that pushing them again
costs nothing. `objects` remembers each cache object's stat from when its bytes were last
known to match its id (`artver.cache.integrity`).

Reads use the stdlib sqlite3 connection directly because they sit on the path of a no-op
`status`, where importing sqlite-utils would cost more than the lookups; schema creation and
writes go through sqlite-utils.
"""

from __future__ import annotations

import marshal
import sqlite3
import time
from collections import namedtuple
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

TYPE_CHECKING = False  # typing.TYPE_CHECKING: importing typing costs each command ~2 ms
if TYPE_CHECKING:
    from typing import Any

SCHEMA_VERSION = 10
# A file modified this close to (or after) the moment we looked at it may change again
# within the filesystem's timestamp granularity without its stat changing: never trust it.
RACY_WINDOW_NS = 100_000_000
MISSING = object()
# Kept with each remembered parse, bumped when parsing changes what it accepts or returns: a
# parse an older artver remembered (before the YAML nesting and alias bounds) must not let a
# file skip today's checks.
PARSED_VERSION = "/p2"


Known = namedtuple("Known", "inode mtime_ns size oid")  # what a file's stat last hashed to
SavedTree = namedtuple("SavedTree", "fingerprint oid nfiles size")  # a tree's last fingerprint


class StateDB:
    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._conn: sqlite3.Connection | None = None
        self._deferred: list[tuple] | None = None
        self.started_ns = time.time_ns()

    @property
    def conn(self) -> sqlite3.Connection:
        if self._conn is None:
            conn = sqlite3.connect(self.path, timeout=60, isolation_level=None)
            conn.execute("PRAGMA busy_timeout = 60000")
            # Everything here can be worked out again from the files, so a commit need not
            # wait for the disk: in WAL mode a crash may lose the last commits, never the
            # database (a no-op command that remembers a parse no longer pays an fsync).
            conn.execute("PRAGMA synchronous = NORMAL")
            if conn.execute("PRAGMA user_version").fetchone()[0] != SCHEMA_VERSION:
                self._migrate(conn)
            self._conn = conn
        return self._conn

    @staticmethod
    def _migrate(conn: sqlite3.Connection) -> None:
        import sqlite_utils

        db = sqlite_utils.Database(conn)
        db.execute("PRAGMA journal_mode = WAL")
        # Several artver processes may open a new state DB at once: the first to get the write
        # lock creates the tables, the others wait for it (busy_timeout) and find them made.
        conn.execute("BEGIN IMMEDIATE")
        try:
            if conn.execute("PRAGMA user_version").fetchone()[0] != SCHEMA_VERSION:
                _create_tables(db)
                conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")

    @contextmanager
    def _transaction(self) -> Iterator[None]:
        self.conn.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            self.conn.execute("ROLLBACK")
            raise
        self.conn.execute("COMMIT")

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    # -- file hashes ---------------------------------------------------------------------------
    def get(self, path: str) -> Known | None:
        row = self.conn.execute(
            "SELECT inode, mtime_ns, size, oid FROM hashes WHERE path = ?", (path,)
        ).fetchone()
        return Known(*row) if row else None

    def under(self, prefix: str) -> dict[str, tuple[int, int, int, str]]:
        """Every remembered file below directory `prefix` (repo-relative, posix), as
        (inode, mtime_ns, size, oid) tuples: plain tuples, because this runs for every file
        of a large directory."""
        lo = prefix.rstrip("/") + "/"
        hi = prefix.rstrip("/") + "0"  # '0' sorts right after '/'
        rows = self.conn.execute(
            "SELECT path, inode, mtime_ns, size, oid FROM hashes WHERE path >= ? AND path < ?",
            (lo, hi),
        )
        return {row[0]: row[1:] for row in rows}

    def files_in(self, directory: str) -> dict[str, tuple[int, int, int, str]]:
        """Like `under`, but only the files directly in `directory`, not in its
        subdirectories (a big directory's tree reads one directory at a time)."""
        lo = directory.rstrip("/") + "/"
        hi = directory.rstrip("/") + "0"
        rows = self.conn.execute(
            "SELECT path, inode, mtime_ns, size, oid FROM hashes WHERE path >= ? AND path < ?"
            " AND instr(substr(path, ?), '/') = 0",
            (lo, hi, len(lo) + 1),
        )
        return {row[0]: row[1:] for row in rows}

    def save(self, entries: Iterable[tuple[str, Known]], trusted: bool = False) -> None:
        """Remember hashes. `trusted` is for files artver itself just wrote from the cache,
        whose content it knows whatever their timestamps say."""
        cutoff = self.started_ns - RACY_WINDOW_NS
        rows = [(p, *k) for p, k in entries if trusted or k.mtime_ns < cutoff]
        if self._deferred is not None:
            self._deferred += rows
            return
        self._write_hashes(rows)

    @contextmanager
    def deferred(self) -> Iterator[None]:
        """Hashes saved meanwhile are written in one transaction at the end, not one per
        `save` (a repro checks each stage's files separately)."""
        self._deferred = []
        try:
            yield
        finally:
            rows, self._deferred = self._deferred, None
            self._write_hashes(rows)

    def _write_hashes(self, rows: list[tuple]) -> None:
        if not rows:
            return
        # One executemany in one transaction: sqlite-utils' insert_all spends ~15 us of
        # Python per row building its statements, which a 20,000-file add would feel.
        with self._transaction():
            self.conn.executemany(
                "INSERT OR REPLACE INTO hashes (path, inode, mtime_ns, size, oid)"
                " VALUES (?, ?, ?, ?, ?)",
                rows,
            )

    # -- small facts worth remembering (e.g. a Python environment's packages) ---------------
    def get_value(self, key: str) -> Any:
        row = self.conn.execute("SELECT value FROM kv WHERE key = ?", (key,)).fetchone()
        if row is None:
            return None
        import json  # here, not at the top: most commands never read a value

        try:
            return json.loads(row[0])
        except (TypeError, ValueError, RecursionError):
            return None  # a damaged row: as if never remembered (artver writes it again)

    def set_value(self, key: str, value: Any) -> None:
        import json

        self.conn.execute(
            "INSERT OR REPLACE INTO kv (key, value) VALUES (?, ?)", (key, json.dumps(value))
        )

    # -- parsed YAML of pipeline and lock files, by content hash ------------------------------
    def parsed(self, path: str, digest: str) -> Any:
        """The parsed document last seen at `path` with content hash `digest`, or MISSING.

        YAML parsing is pure Python past the C scanner; for a 1,000-stage lock it costs more
        than the whole rest of a no-op repro, and the file rarely changes between runs."""
        row = self.conn.execute(
            "SELECT digest, data FROM parsed WHERE path = ?", (path,)
        ).fetchone()
        if row is None or row[0] != digest + PARSED_VERSION:
            return MISSING
        try:
            return marshal.loads(row[1])
        except (EOFError, TypeError, ValueError):
            return MISSING  # a damaged row: parse the file again

    def save_parsed(self, path: str, digest: str, data: Any) -> None:
        try:
            blob = marshal.dumps(data)
        except ValueError:
            return  # holds a type marshal cannot store (a YAML date, say): parse each time
        self.conn.execute(
            "INSERT OR REPLACE INTO parsed (path, digest, data) VALUES (?, ?, ?)",
            (path, digest + PARSED_VERSION, blob),
        )

    def save_parsed_many(self, rows: Iterable[tuple[str, str, Any]]) -> None:
        """Many (path, digest, data) at once: one transaction, not one commit per row."""
        with self._transaction():
            for path, digest, data in rows:
                self.save_parsed(path, digest, data)

    # -- whole directories ---------------------------------------------------------------------
    def tree(self, path: str) -> SavedTree | None:
        """The stat fingerprint, manifest oid and totals last seen for the directory `path`."""
        row = self.conn.execute(
            "SELECT fingerprint, oid, nfiles, size FROM trees WHERE path = ?", (path,)
        ).fetchone()
        return SavedTree(*row) if row else None

    def save_tree(self, path: str, tree: SavedTree, newest_mtime_ns: int) -> None:
        if newest_mtime_ns >= self.started_ns - RACY_WINDOW_NS:
            return
        self.conn.execute(
            "INSERT OR REPLACE INTO trees (path, fingerprint, oid, nfiles, size) "
            "VALUES (?, ?, ?, ?, ?)",
            (path, *tree),
        )

    # -- the subdirectory objects of big directories (`artver.cache.tree`) ------------------------
    def subtrees_under(self, prefix: str) -> dict[str, SavedTree]:
        """{subdirectory (repo-relative): its last fingerprint, object id and totals} of every
        subdirectory object remembered below the directory `prefix`."""
        lo = prefix.rstrip("/") + "/"
        hi = prefix.rstrip("/") + "0"
        rows = self.conn.execute(
            "SELECT path, fingerprint, oid, nfiles, size FROM subtrees"
            " WHERE path >= ? AND path < ?",
            (lo, hi),
        )
        return {row[0]: SavedTree(*row[1:]) for row in rows}

    def save_subtrees(self, rows: Iterable[tuple[str, SavedTree, int]]) -> None:
        """Remember (path, SavedTree, newest mtime below it) rows, but not those of
        subdirectories changed too recently to trust their stat."""
        cutoff = self.started_ns - RACY_WINDOW_NS
        kept = [(path, *tree) for path, tree, newest in rows if newest < cutoff]
        if kept:
            with self._transaction():
                self.conn.executemany(
                    "INSERT OR REPLACE INTO subtrees (path, fingerprint, oid, nfiles, size) "
                    "VALUES (?, ?, ?, ?, ?)",
                    kept,
                )

    # -- directories whose objects are all cached ------------------------------------------------
    def is_complete(self, dir_oid: str) -> bool:
        row = self.conn.execute("SELECT 1 FROM complete_dirs WHERE oid = ?", (dir_oid,))
        return row.fetchone() is not None

    def mark_complete(self, dir_oid: str) -> None:
        self.conn.execute("INSERT OR IGNORE INTO complete_dirs (oid) VALUES (?)", (dir_oid,))

    def forget_complete(self) -> None:
        """Called whenever objects may have left the cache (gc, fsck, a deleted object)."""
        self.conn.execute("DELETE FROM complete_dirs")

    # -- cache objects whose bytes were known to match their id -----------------------------------
    def object_records(self, oids: Iterable[str]) -> dict[str, bytes]:
        """{oid: its packed stat (`cache.integrity.pack`)} of those of `oids` whose stat was
        recorded when artver wrote or re-hashed them. Looked up in sorted order: neighbouring
        keys share B-tree pages (a 20,000-object checkout: ~60 ms instead of ~120)."""
        wanted = sorted(oids)
        found: dict[str, bytes] = {}
        for i in range(0, len(wanted), 500):  # SQLite caps the number of bound parameters
            batch = wanted[i : i + 500]
            marks = ",".join("?" * len(batch))
            rows = self.conn.execute(f"SELECT oid, stat FROM objects WHERE oid IN ({marks})", batch)
            found.update(rows.fetchall())
        return found

    def save_object_records(self, rows: Iterable[tuple[str, bytes]]) -> None:
        """Remember (oid, packed stat) pairs."""
        rows = list(rows)
        if rows:
            with self._transaction():
                self.conn.executemany(
                    "INSERT OR REPLACE INTO objects (oid, stat) VALUES (?, ?)", rows
                )

    def forget_object_records(self, oids: Iterable[str]) -> None:
        rows = [(oid,) for oid in oids]
        if rows:
            with self._transaction():
                self.conn.executemany("DELETE FROM objects WHERE oid = ?", rows)

    # -- what a remote is known to hold ---------------------------------------------------------
    def known_on_remote(self, remote: str, oids: Iterable[str]) -> set[str]:
        """The subset of `oids` (tracked files, and directories with all their files) that
        this clone pushed to, or found on, `remote` (its location)."""
        wanted = list(oids)
        found: set[str] = set()
        for i in range(0, len(wanted), 500):  # SQLite caps the number of bound parameters
            batch = wanted[i : i + 500]
            marks = ",".join("?" * len(batch))
            rows = self.conn.execute(
                f"SELECT oid FROM on_remote WHERE remote = ? AND oid IN ({marks})",
                (remote, *batch),
            )
            found.update(row[0] for row in rows)
        return found

    def mark_on_remote(self, remote: str, oids: Iterable[str]) -> None:
        rows = [(remote, oid) for oid in oids]
        if rows:
            with self._transaction():
                self.conn.executemany(
                    "INSERT OR IGNORE INTO on_remote (remote, oid) VALUES (?, ?)", rows
                )

    def forget_on_remote(self, remote: str, oids: Iterable[str]) -> None:
        """The remote lacks them (someone deleted objects there): push must send them again."""
        rows = [(remote, oid) for oid in oids]
        if rows:
            with self._transaction():
                self.conn.executemany("DELETE FROM on_remote WHERE remote = ? AND oid = ?", rows)

    # -- what `artver log` learnt about each commit, per path --------------------------------
    def log_commits(self, path: str) -> dict[str, Any]:
        """{commit SHA: what `artver.ops.log` remembered of it for `path`} (commits never
        change, so neither does what was learnt from one)."""
        rows = self.conn.execute("SELECT sha, data FROM log_commits WHERE path = ?", (path,))
        found = {}
        for sha, data in rows:
            try:
                found[sha] = marshal.loads(data)
            except (EOFError, TypeError, ValueError):
                continue  # a damaged row: the commit is read again
        return found

    def save_log_commits(self, path: str, rows: Iterable[tuple[str, Any]]) -> None:
        with self._transaction():
            self.conn.executemany(
                "INSERT OR REPLACE INTO log_commits (path, sha, data) VALUES (?, ?, ?)",
                [(path, sha, marshal.dumps(data)) for sha, data in rows],
            )


def _create_tables(db) -> None:
    """The tables of SCHEMA_VERSION that are not there yet (inside the caller's transaction)."""
    tables = set(db.table_names())
    if "trees" in tables and "nfiles" not in db["trees"].columns_dict:
        db["trees"].drop()  # version 5's: no totals, and fingerprints of another definition
        tables.discard("trees")
    schema = {
        "hashes": ({"path": str, "inode": int, "mtime_ns": int, "size": int, "oid": str}, "path"),
        "trees": (
            {"path": str, "fingerprint": str, "oid": str, "nfiles": int, "size": int},
            "path",
        ),
        "subtrees": (
            {"path": str, "fingerprint": str, "oid": str, "nfiles": int, "size": int},
            "path",
        ),
        "complete_dirs": ({"oid": str}, "oid"),
        "kv": ({"key": str, "value": str}, "key"),
        "parsed": ({"path": str, "digest": str, "data": bytes}, "path"),
        "on_remote": ({"remote": str, "oid": str}, ("remote", "oid")),
        "log_commits": ({"path": str, "sha": str, "data": bytes}, ("path", "sha")),
    }
    for name, (columns, pk) in schema.items():
        if name not in tables:
            db[name].create(columns, pk=pk)
    if "objects" not in tables:  # one B-tree, keyed by oid: sqlite-utils cannot say so
        db.execute("CREATE TABLE objects (oid TEXT PRIMARY KEY, stat BLOB) WITHOUT ROWID")
    if "remote_dirs" in tables:  # version 6's: directories only, still true
        db.execute("INSERT OR IGNORE INTO on_remote SELECT remote, oid FROM remote_dirs")
        db["remote_dirs"].drop()


def load_library() -> None:
    """Import sqlite_utils now (a parent about to fork workers that will each open a DB)."""
    import sqlite_utils  # noqa: F401
