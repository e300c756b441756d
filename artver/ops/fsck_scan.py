"""Reading every object once: the cache (and a directory remote) on forked processes, an
object-store remote on threads. Each check returns a plain value (`artver.ops.fsck_check`
says what they mean), never raises for a bad object, so that a forked worker never stops.

The floor this is held to is reading and hashing every byte once: a sound small object costs
open, two reads into a buffer the process reuses, one hash and close.
"""

from __future__ import annotations

import os
import re
import threading
from collections.abc import Callable

import xxhash

from artver.cache.hashing import SMALL_FILE, hash_stream, is_valid_oid
from artver.cache.tree import Manifest
from artver.errors import ArtverError
from artver.ops.fsck_check import BAD_MANIFEST, CORRUPT, UNREADABLE, VANISHED
from artver.progress import Progress

_SHARD = re.compile(r"[0-9a-f]{2}")
_HEX = b"0123456789abcdef"
_local = threading.local()  # one read buffer per thread (and per forked process)
_FLAGS = os.O_RDONLY | getattr(os, "O_CLOEXEC", 0)


def list_objects(root: str) -> tuple[list[str], list[tuple[str, str]]]:
    """The object ids under `root` (`<2 hex>/<30 hex>[.dir]`), manifests last, found from
    directory listings alone (no stat per object); and (shard, reason) for each shard
    directory that cannot be listed. Temp files, `tmp/` and `runs/` are not objects."""
    files: list[str] = []
    dirs: list[str] = []
    unlisted: list[tuple[str, str]] = []
    try:
        shards = sorted(name for name in os.listdir(root) if _SHARD.fullmatch(name))
    except FileNotFoundError:
        return files, unlisted
    except OSError as exc:
        raise ArtverError(f"cannot list {root}: {exc.strerror or exc}") from None
    for shard in shards:
        try:
            names = os.listdir(os.path.join(root, shard))
        except NotADirectoryError:
            continue
        except OSError as exc:
            unlisted.append((shard, exc.strerror or str(exc)))
            continue
        # The usual shard, file objects only, is proved so for the whole listing at once (a
        # regex per name costs half as much as the listing); any other is sorted name by name.
        joined = "".join(names).encode("utf-8", "surrogateescape")
        lengths = set(map(len, names))
        if lengths == {30} and not joined.translate(None, _HEX):
            files += [shard + n for n in names]
            continue
        for name in names:
            oid = shard + name
            if is_valid_oid(oid):
                (dirs if name.endswith(".dir") else files).append(oid)
    # Manifests last: parsing one takes as long as reading thousands of small files, and the
    # last share of the work goes to a forked process, while this one also collects results.
    return files + dirs, unlisted


def _buffer() -> memoryview:
    buf = getattr(_local, "buffer", None)
    if buf is None:
        buf = _local.buffer = memoryview(bytearray(SMALL_FILE))
    return buf


def check_path(path: str, oid: str) -> object:
    """Read the object `oid` at `path` once and say whether it is sound: its size (an int),
    or a tuple naming the problem (see `fsck_check.judge`)."""
    try:
        fd = os.open(path, _FLAGS)
    except FileNotFoundError:
        return (VANISHED,)
    except OSError as exc:
        return (UNREADABLE, exc.strerror or str(exc))
    try:
        if oid.endswith(".dir"):
            return _check_manifest(fd, oid)
        buf = _buffer()
        total = 0
        while total < len(buf):  # a short read is not the end: only an empty one is
            n = os.readv(fd, [buf[total:]])
            if not n:
                digest = xxhash.xxh3_128_hexdigest(buf[:total])
                return total if digest == oid else (CORRUPT, digest, total)
            total += n
        os.lseek(fd, 0, os.SEEK_SET)  # a large object: stream it, reading and hashing at once
        with open(fd, "rb", buffering=0, closefd=False) as fobj:
            digest, size = hash_stream(fobj)
        return size if digest == oid else (CORRUPT, digest, size)
    except OSError as exc:
        return (UNREADABLE, exc.strerror or str(exc))
    finally:
        os.close(fd)


def _check_manifest(fd: int, oid: str) -> object:
    return check_manifest_bytes(_read_all(fd), oid)[0]


def _read_all(fd: int) -> bytes:
    parts = []
    while chunk := os.read(fd, 1 << 20):
        parts.append(chunk)
    return b"".join(parts)


def check_manifest_bytes(data: bytes, oid: str) -> tuple[object, Manifest | None]:
    """A `.dir` object's verdict from its bytes, and the manifest when it is sound: they must
    hash to its id and pass `Manifest.from_bytes`, the strictest reading (what checkout
    relies on; every entry's path is checked by `artver.cache.tree.check_entries`)."""
    digest = xxhash.xxh3_128_hexdigest(data)
    if digest + ".dir" != oid:
        return (CORRUPT, digest, len(data)), None
    try:
        manifest = Manifest.from_bytes(data)
    except ValueError as exc:  # UnsafeEntryError included
        return (BAD_MANIFEST, str(exc), len(data)), None
    return len(data), manifest


def read_manifest(path: str, oid: str) -> tuple[object, Manifest | None]:
    """`check_path` of a manifest, and the manifest itself when it is sound."""
    try:
        fd = os.open(path, _FLAGS)
    except FileNotFoundError:
        return (VANISHED,), None
    except OSError as exc:
        return (UNREADABLE, exc.strerror or str(exc)), None
    try:
        return check_manifest_bytes(_read_all(fd), oid)
    except OSError as exc:
        return (UNREADABLE, exc.strerror or str(exc)), None
    finally:
        os.close(fd)


def check_all(
    root: str,
    oids: list[str],
    jobs: int,
    progress: Progress,
    what: str,
    meanwhile: Callable[[], None] = lambda: None,
    heavy: bool = False,
) -> dict[str, object]:
    """{oid: verdict} of every object under the local directory `root`, read by one forked
    process per usable core (at most `jobs`; threads for a few objects). `meanwhile` runs
    here once the other processes are at work; `heavy` says it costs as much as reading
    thousands of objects (parsing a large manifest), and this process then takes a smaller
    share of the objects: one more process than cores shares the work, and the kernel keeps
    every core busy until the last one is done."""
    from artver.config import usable_cores
    from artver.forked_map import MIN_ITEMS, can_fork, forked_map
    from artver.workspace import parallel_map

    prefix = root.rstrip(os.sep) + os.sep
    results: dict[str, object] = {}

    def check(oid: str) -> object:
        return check_path(f"{prefix}{oid[:2]}{os.sep}{oid[2:]}", oid)

    def done(oid: str, verdict: object) -> None:
        results[oid] = verdict  # one dict store: safe from threads
        progress.advance(1, verdict if isinstance(verdict, int) else 0)

    def started() -> None:
        progress.start(what, len(oids), 0)
        meanwhile()

    def redo(oid: str) -> None:
        done(oid, check(oid))

    # As `shared_map` decides (artver.forked_map.share_out), plus the extra share.
    workers = min(jobs, usable_cores(), len(oids) // (MIN_ITEMS // 2))
    try:
        if len(oids) >= MIN_ITEMS and workers >= 2 and can_fork():
            left = forked_map(check, oids, workers + heavy, done, started)
        else:
            started()
            left = oids
        parallel_map(redo, list(left), jobs)
    finally:
        progress.finish()
    return results


def check_remote_all(
    remote, sizes: dict[str, int | None], jobs: int, progress: Progress
) -> dict[str, object]:
    """{oid: verdict} of every object of an object-store remote, each read once by one of
    `jobs` threads (they wait on the network). A remote that stops answering stops the check
    with one error, as a transfer does."""
    import time

    from artver.ops.transfer import guard_remote
    from artver.remotes.remote import classify
    from artver.remotes.transfer import ATTEMPTS, BACKOFF, parallel_calls

    # As `Remote.download` does: without it, s3fs sends a HEAD before each GET.
    one_request = {"max_concurrency": 1} if remote.protocol == "s3" else {}

    def read_once(oid: str) -> object:
        path = remote.path_of(oid)
        size = sizes.get(oid)
        if oid.endswith(".dir") or (size is not None and size <= SMALL_FILE):
            data = remote.fs.cat_file(path, **one_request)
            if oid.endswith(".dir"):
                return check_manifest_bytes(data, oid)[0]
            digest = xxhash.xxh3_128_hexdigest(data)
            return len(data) if digest == oid else (CORRUPT, digest, len(data))
        with remote.fs.open(path, "rb") as fobj:
            digest, got = hash_stream(fobj)
        return got if digest == oid else (CORRUPT, digest, got)

    def read(oid: str) -> object:
        for attempt in range(ATTEMPTS):
            try:
                return read_once(oid)
            except Exception as exc:
                kind = classify(exc)
                if kind == "missing":
                    return (VANISHED,)
                if kind == "transient" and attempt + 1 < ATTEMPTS:
                    time.sleep(BACKOFF[min(attempt, len(BACKOFF) - 1)])
                    continue
                return guard_remote(remote, _raise, exc)  # one clear error about the remote
        raise AssertionError("unreachable")

    def one(oid: str) -> object:
        verdict = read(oid)
        progress.advance(1, verdict if isinstance(verdict, int) else 0)
        return verdict

    progress.start("fsck remote", len(sizes), sum(s or 0 for s in sizes.values()))
    try:
        return dict(parallel_calls(one, sorted(sizes), jobs))  # type: ignore[arg-type]
    finally:
        progress.finish()


def _raise(exc: BaseException) -> None:
    raise exc
