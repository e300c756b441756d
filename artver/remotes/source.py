"""Data named by a URL (`s3://bucket/raw`, `gs://...`, `https://...`, `file:///...`), read
through fsspec for `artver add --to-remote URL` and `artver import-url`: listed (with each file's
metadata, for version markers), and each file opened for streaming."""

from __future__ import annotations

from pathlib import Path

from artver.errors import ArtverError
from artver.redact import mask_text
from artver.remotes import registry
from artver.remotes.errors import CredentialsError, UnreachableError

TYPE_CHECKING = False  # typing.TYPE_CHECKING: importing typing costs each command ~2 ms
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any, BinaryIO


def is_url(text: str) -> bool:
    return "://" in text


class Source:
    """A file or directory on a filesystem fsspec reaches. `options` are a remote's (the
    endpoint and credentials of a configured remote on the same store)."""

    def __init__(self, url: str, base: Path, options: dict[str, Any]) -> None:
        self.url = url
        self.location = registry.parse_url(url, base)
        self._options = options
        self._fs: Any = None
        self._path = ""

    def _connect(self) -> None:
        if self._fs is None:
            self._fs, self._path = registry.make_filesystem(self.location, self._options)

    @property
    def protocol(self) -> str:
        return self.location.protocol

    def listing(self) -> tuple[str, dict[str, int]]:
        """("missing", {}), ("file", {"": size}) or ("dir", {relative path: size})."""
        kind, infos = self.describe()
        return kind, {rel: int(info.get("size") or 0) for rel, info in infos.items()}

    def describe(self) -> tuple[str, dict[str, dict[str, Any]]]:
        """As `listing`, with each file's metadata as the filesystem gives it (fsspec's `info`
        entry: size, ETag, generation, Last-Modified...) in place of its size."""
        try:
            self._connect()
            try:
                info = self._fs.info(self._path)
            except FileNotFoundError:
                return "missing", {}
            if info.get("type") != "directory":
                return "file", {"": info}
            found = self._fs.find(self._path, withdirs=False, detail=True)
        except ArtverError:
            raise
        except Exception as exc:
            raise self._error(exc) from None
        top = self._path.rstrip("/") + "/"
        files = {}
        for path, entry in found.items():
            if entry.get("type", "file") == "file" and path.startswith(top):
                files[path[len(top) :]] = entry
        return "dir", files

    def open(self, rel: str) -> BinaryIO:
        """The file `rel` of the listing, opened for reading in order."""
        path = f"{self._path.rstrip('/')}/{rel}" if rel else self._path
        # An HTTP file is streamed: random access would need range requests, which many
        # servers (python -m http.server among them) do not answer.
        extra = {"block_size": 0} if self.protocol in ("http", "https") else {}
        try:
            return self._fs.open(path, "rb", **extra)
        except Exception as exc:
            raise self._error(exc, rel) from None

    def stream(self, rel: str, sink: Callable[[bytes], None], chunk: int = 4 << 20) -> None:
        """Read the file `rel` once, in order, handing each chunk to `sink`; any failure of
        the filesystem is one ArtverError (what `sink` raises passes through)."""
        with self.open(rel) as fobj:
            while True:
                try:
                    data = fobj.read(chunk)
                except Exception as exc:
                    raise self._error(exc, rel) from None
                if not data:
                    return
                sink(data)

    def read(self, rel: str) -> bytes:
        with self.open(rel) as fobj:
            return fobj.read()

    def _error(self, exc: BaseException, rel: str = "") -> ArtverError:
        """One message for a failure of the filesystem: missing credentials and an
        unreachable server are said as such (`remote.classify` sorts them)."""
        from artver.remotes.remote import classify

        where = mask_text(self.url) + (f"/{rel}" if rel else "")
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        what = f"{type(exc).__name__}: {mask_text(reason)}"
        kind = classify(exc)
        if kind == "credentials":
            return CredentialsError(
                f"cannot read {where}: access refused or no credentials were found ({what})",
                hint="Check the credentials (AWS/GCP environment, profile, or those of a "
                "configured remote on the same bucket; see docs/remotes.md).",
            )
        if kind == "transient":
            return UnreachableError(
                f"cannot read {where}: the server is unreachable ({what})",
                hint="Check that the server is up and reachable, then run the command again.",
            )
        if kind in ("missing", "bucket"):
            return SourceMissingError(f"cannot read {where}: it does not exist ({what})")
        return ArtverError(f"cannot read {where}: {what}")


class SourceMissingError(ArtverError):
    """The URL names nothing (any more)."""
