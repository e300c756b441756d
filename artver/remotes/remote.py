"""A remote: an fsspec filesystem holding objects at `<root>/<2 hex>/<30 hex>`, like the cache.

Everything a transfer does to a remote goes through the few methods here, and every exception a
filesystem raises is sorted into what the user can act on (`classify`, `translate`).
"""

from __future__ import annotations

import errno
import os
import re
import threading
from pathlib import Path

from artver.cache.hashing import SMALL_FILE, read_small
from artver.cache.odb import ObjectStore
from artver.errors import ArtverError
from artver.fsutil import (
    DISK_FULL_ERRNOS,
    is_temp_name,
    kernel_copy,
    sweep_paths,
    temp_name,
    unlink_quietly,
)
from artver.redact import mask_text
from artver.remotes import registry
from artver.remotes.errors import (
    BucketMissingError,
    CredentialsError,
    RemoteError,
    UnknownRemoteError,
    UnreachableError,
)

TYPE_CHECKING = False  # typing.TYPE_CHECKING: importing typing costs each command ~2 ms
if TYPE_CHECKING:
    from typing import Any

OBJECT_NAME = re.compile(r"^[0-9a-f]{30}(\.dir)?$")
# Objects above SMALL_FILE in flight at once: each may hold up to CHUNK x PARTS (or, for an S3
# upload under 2 x CHUNK, the whole file) in memory, so this bounds memory whatever `-j` is.
LARGE_IN_FLIGHT = 4


class Remote:
    def __init__(self, name: str, url: str, options: dict[str, Any], base: Path) -> None:
        self.name = name
        self.url = url
        self.options = options
        self.location = registry.parse_url(url, base)
        self.protocol = self.location.protocol
        self._fs: Any = None
        self._root = ""
        self._made: set[str] = set()
        self._made_lock = threading.Lock()
        self._large = threading.BoundedSemaphore(LARGE_IN_FLIGHT)
        self.temps_seen: list[str] = []  # temp files of artver's that listings came across

    def __str__(self) -> str:
        """How messages name the remote: a password in its URL is shown as ****."""
        return f"'{self.name}' ({mask_text(self.url)})"

    def connect(self) -> None:
        """Make the filesystem: imports its package (s3fs and botocore alone take ~0.3 s), which
        a push with nothing to send never needs. Call it before sharing the remote with threads."""
        if self._fs is None:
            self._fs, self._root = registry.make_filesystem(self.location, self.options)

    @property
    def fs(self) -> Any:
        self.connect()
        return self._fs

    @property
    def root(self) -> str:
        self.connect()
        return self._root

    @property
    def key(self) -> str:
        """What the state DB remembers this remote by: its location (with the server, for an
        S3 or GCS endpoint of its own), not its name."""
        path = self.location.path
        key = path if "://" in path else f"{self.protocol}://{path}"
        endpoint = self.options.get("endpointurl")
        return f"{key} at {endpoint}" if endpoint else key

    def path_of(self, oid: str) -> str:
        return f"{self.root}/{oid[:2]}/{oid[2:]}"

    # -- what is there -----------------------------------------------------------------------
    def list_prefix(self, prefix: str) -> dict[str, int | None]:
        """{object id: size} of every object on the remote starting with the two hex digits
        `prefix` (a size is None where the store does not say)."""
        base = f"{self.root}/{prefix}"
        try:
            found = self.fs.find(base, withdirs=False, detail=True)
        except FileNotFoundError:
            if self.protocol == "file" and not os.path.exists(base):
                return {}
            raise
        ids = {}
        for path, info in found.items():
            name = path.rsplit("/", 1)[-1]
            if OBJECT_NAME.match(name):
                ids[prefix + name] = _size(info)
            elif self.protocol == "file" and is_temp_name(name):
                self.temps_seen.append(path)  # an upload cut short (`_upload`): no object
        return ids

    def list_all(self) -> dict[str, int | None]:
        """{object id: size} of every object on the remote (for small remotes: one listing
        beats 256)."""
        try:
            found = self.fs.find(self.root, withdirs=False, detail=True)
        except FileNotFoundError:
            if self.protocol == "file" and not os.path.exists(self.root):
                return {}
            raise
        ids = {}
        for path, info in found.items():
            parts = path.rsplit("/", 2)
            if self.protocol == "file" and is_temp_name(parts[-1]):
                self.temps_seen.append(path)  # an upload cut short (`_upload`): no object
                continue
            if len(parts) < 3 or parts[0].rsplit("/", 1)[-1] == "runs":
                continue  # run-cache entries (`runs/<2>/<30>`) are not objects
            shard, name = parts[1], parts[2]
            if len(shard) == 2 and OBJECT_NAME.match(name):
                ids[shard + name] = _size(info)
        return ids

    def sweep_temps(self, now: float, max_age: float) -> tuple[int, int]:
        """Delete the stale ones of the temp files the listings came across (a directory
        remote's only: object stores publish whole objects and need none): (how many, bytes).
        A younger one may be another client's upload in progress, and stays."""
        seen, self.temps_seen = self.temps_seen, []
        return sweep_paths(seen, now, max_age)

    def size(self, oid: str) -> int | None:
        """The size of object `oid` on the remote; -1 when there but unsized; None if absent."""
        try:
            found = _size(self.fs.info(self.path_of(oid)))
            return -1 if found is None else found
        except FileNotFoundError:
            if self.protocol in ("s3", "gs"):
                self.check_bucket()
            return None

    def exists(self, oid: str) -> bool:
        return self.size(oid) is not None

    def check_bucket(self) -> None:
        """Raise BucketMissingError when the bucket itself is not there."""
        bucket = self.root.split("/", 1)[0]
        try:
            self.fs.info(bucket)  # not `exists`, which answers False for any error
        except FileNotFoundError:
            raise BucketMissingError(
                f"the bucket {bucket!r} of remote {self} does not exist",
                remote=self.name,
                hint="Create it, or fix the URL with `artver remote add -f NAME URL`.",
            ) from None

    # -- run-cache entries (`runs/<2>/<30>`, small JSON documents) ---------------------------
    def list_runs(self) -> set[str]:
        base = f"{self.root}/runs"
        try:
            found = self.fs.find(base, withdirs=False, detail=False)
        except FileNotFoundError:
            return set()
        keys = set()
        for path in found:
            shard, name = path.rsplit("/", 2)[-2:]
            if len(shard) == 2 and len(name) == 30:
                keys.add(shard + name)
        return keys

    def put_run(self, key: str, data: bytes) -> None:
        path = f"{self.root}/runs/{key[:2]}/{key[2:]}"
        if self.protocol == "file":
            self.fs.makedirs(path.rsplit("/", 1)[0], exist_ok=True)
            tmp = temp_name(path)
            self.fs.pipe_file(tmp, data)
            os.replace(tmp, path)
        else:
            self.fs.pipe_file(path, data)

    def get_run(self, key: str) -> bytes:
        return self.fs.cat_file(f"{self.root}/runs/{key[:2]}/{key[2:]}")

    # -- moving bytes ------------------------------------------------------------------------
    def upload(self, src: str, oid: str, size: int) -> None:
        """Copy the local file `src` (`size` bytes) to object `oid`. A reader never sees a part
        of it: object stores publish an object when its upload completes; a directory gets
        temp + rename."""
        if size > SMALL_FILE and self.protocol != "file":
            with self._large:
                self._upload(src, oid, size)
        else:
            self._upload(src, oid, size)

    def _upload(self, src: str, oid: str, size: int) -> None:
        final = self.path_of(oid)
        if self.protocol == "file":
            # A local directory is copied by the kernel, as `cp` copies, not through fsspec's
            # local filesystem: that costs a dozen extra stat calls per object, which for
            # 20,000 small files is more than the copying.
            shard = final.rsplit("/", 1)[0]
            if shard not in self._made:
                os.makedirs(shard, exist_ok=True)
                with self._made_lock:
                    self._made.add(shard)
            tmp = temp_name(final)
            try:
                kernel_copy(src, tmp, size=size)
                os.replace(tmp, final)  # same directory: atomic
            except BaseException:
                unlink_quietly(tmp)
                raise
        elif self.protocol == "s3":
            self.fs.put_file(src, final, chunksize=registry.CHUNK, max_concurrency=registry.PARTS)
        elif self.protocol == "gs":
            self.fs.put_file(src, final, chunksize=registry.CHUNK)
        else:
            self.fs.put_file(src, final)

    def download(self, oid: str, size: int | None, odb: ObjectStore) -> int:
        """Fetch object `oid` into the cache, verified: its bytes are hashed before they are
        published, and bad bytes are deleted. Returns the size."""
        path = self.path_of(oid)
        if oid.endswith(".dir") or (size is not None and size <= SMALL_FILE):
            if self.protocol == "file":
                data = read_small(path, size if size is not None else SMALL_FILE)
            elif self.protocol == "s3":
                # max_concurrency=1: otherwise s3fs sends a HEAD for the size before each GET,
                # doubling the requests for every small object.
                data = self.fs.cat_file(path, max_concurrency=1)
            else:
                data = self.fs.cat_file(path)  # one request, no temp file
            odb.add_verified_bytes(data, oid, f"remote {self}")
            return len(data)
        tmp = odb.tmp_path(oid)
        try:
            with self._large:
                self._get_file(path, tmp)
        except BaseException:
            unlink_quietly(tmp)
            raise
        return odb.publish_verified(tmp, oid, f"remote {self}")

    def _get_file(self, path: str, tmp: str) -> None:
        if self.protocol == "file":
            kernel_copy(path, tmp)
        elif self.protocol == "s3":
            # One streaming GET (64 KiB reads), not s3fs's parallel ranged parts: constant
            # memory, and S3-compatible servers that re-read the whole object for every range
            # (moto does) are not asked to read a 2 GiB object 256 times.
            self.fs.get_file(path, tmp, max_concurrency=1)
        else:
            self.fs.get_file(path, tmp)


# -- what went wrong ---------------------------------------------------------------------------
TRANSIENT_NAMES = {
    "EndpointConnectionError",
    "ConnectionClosedError",
    "ConnectTimeoutError",
    "ReadTimeoutError",
    "ClientConnectorError",
    "ClientOSError",
    "ServerDisconnectedError",
    "ClientPayloadError",
    "IncompleteRead",
    "ProtocolError",
    "FSTimeoutError",
    "ResponseParserError",
}
CREDENTIAL_NAMES = {
    "NoCredentialsError",
    "PartialCredentialsError",
    "DefaultCredentialsError",
    "RefreshError",
    "ProfileNotFound",
}
CREDENTIAL_WORDS = ("InvalidAccessKeyId", "SignatureDoesNotMatch", "ExpiredToken", "Forbidden")
SERVER_DOWN_WORDS = ("InternalError", "ServiceUnavailable", "SlowDown", "503", "502", "500")


def _size(info: dict[str, Any]) -> int | None:
    size = info.get("size")
    return int(size) if isinstance(size, int | float) else None


def _chain(exc: BaseException) -> list[BaseException]:
    seen: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and current not in seen:
        seen.append(current)
        current = current.__cause__ or current.__context__
    return seen


def classify(exc: BaseException) -> str:
    """One of "missing", "bucket", "credentials", "transient", "other"."""
    chain = _chain(exc)
    names = {type(e).__name__ for e in chain}
    text = " ".join(str(e) for e in chain)
    if names & CREDENTIAL_NAMES or any(isinstance(e, PermissionError) for e in chain):
        return "credentials"
    if any(w in text for w in CREDENTIAL_WORDS):
        return "credentials"
    if isinstance(exc, FileNotFoundError):
        bucket_gone = "NoSuchBucket" in text or "bucket does not exist" in text.lower()
        return "bucket" if bucket_gone else "missing"
    if names & TRANSIENT_NAMES or any(
        isinstance(e, (ConnectionError, TimeoutError))
        for e in chain  # asyncio's is TimeoutError
    ):
        return "transient"
    if any(
        isinstance(e, OSError)
        and e.errno in (errno.ECONNREFUSED, errno.ECONNRESET, errno.ETIMEDOUT, errno.EHOSTUNREACH)
        for e in chain
    ):
        return "transient"
    if any(w in text for w in SERVER_DOWN_WORDS):
        return "transient"
    return "other"


def translate(exc: BaseException, remote: Remote, progress_note: str = "") -> ArtverError:
    """The error a user sees for `exc`, raised while talking to `remote`."""
    if isinstance(exc, ArtverError):
        return exc
    kind = classify(exc)
    reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    note = f" ({progress_note})" if progress_note else ""
    if remote.protocol == "file":
        local = _local_disk_error(exc, remote, note)
        if local is not None:
            return local
    if kind == "credentials":
        return CredentialsError(
            f"remote {remote} refused access or no credentials were found: {reason}{note}",
            remote=remote.name,
            hint="Check the credentials (environment, profile, or `artver remote modify "
            f"--local {remote.name} ...`; see docs/remotes.md).",
        )
    if kind == "bucket":
        bucket = remote.root.split("/", 1)[0]
        return BucketMissingError(
            f"the bucket {bucket!r} of remote {remote} does not exist{note}",
            remote=remote.name,
            hint="Create it, or fix the URL with `artver remote add -f NAME URL`.",
        )
    if kind == "transient":
        return UnreachableError(
            f"cannot reach remote {remote}: {reason}{note}",
            remote=remote.name,
            hint="Check that the server is up and reachable, then run the command again: "
            "it transfers only what is still missing.",
        )
    return RemoteError(
        f"remote {remote} failed: {type(exc).__name__}: {reason}{note}", remote=remote.name
    )


def _local_disk_error(exc: BaseException, remote: Remote, note: str) -> ArtverError | None:
    """A local directory's own failures, said in its terms (no credentials, no server)."""
    os_error = next((e for e in _chain(exc) if isinstance(e, OSError)), None)
    if isinstance(os_error, PermissionError):
        return RemoteError(
            f"remote {remote}: permission denied on {os_error.filename or remote.root}{note}",
            remote=remote.name,
            hint="Check that you may write (push) or read (pull) the remote directory.",
        )
    if os_error is not None and os_error.errno in DISK_FULL_ERRNOS:
        return RemoteError(
            f"no space left on remote {remote}{note}",
            remote=remote.name,
            hint="Free space there and push again: only what is still missing is sent.",
        )
    return None


def open_remote(config: Any, name: str | None, base: Path, connect: bool = True) -> Remote:
    """The remote called `name`, or the default one (`core.remote`); with `connect=False`, its
    filesystem is made only when first needed (`Remote.connect`)."""
    from artver.remotes.errors import NoDefaultRemoteError

    remotes = config.get("remote") or {}
    if name is None:
        name = config.get("core.remote")
        if not name:
            raise NoDefaultRemoteError(
                "no remote named and no default remote is set",
                hint="Name one with -r NAME, or set a default: `artver remote default NAME` "
                "(or `artver remote add -d NAME URL`).",
            )
    conf = remotes.get(name) if isinstance(remotes, dict) else None
    if not isinstance(conf, dict) or not conf.get("url"):
        known = ", ".join(sorted(remotes)) if isinstance(remotes, dict) and remotes else "none"
        raise UnknownRemoteError(
            f"unknown remote {name!r} (configured: {known})",
            remote=name,
            hint="Add it with `artver remote add NAME URL`.",
        )
    remote = Remote(str(name), str(conf["url"]), dict(conf), base)
    if connect:
        remote.connect()
    return remote
