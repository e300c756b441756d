"""Data named by a URL (`s3://bucket/raw`, `gs://...`, `file:///...`), read through fsspec for
`artver add --to-remote URL`: listed, and each file opened for streaming."""

from __future__ import annotations

from pathlib import Path

from artver.errors import ArtverError
from artver.redact import mask_text
from artver.remotes import registry

TYPE_CHECKING = False  # typing.TYPE_CHECKING: importing typing costs each command ~2 ms
if TYPE_CHECKING:
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

    def listing(self) -> tuple[str, dict[str, int]]:
        """("missing", {}), ("file", {"": size}) or ("dir", {relative path: size})."""
        try:
            self._connect()
            try:
                info = self._fs.info(self._path)
            except FileNotFoundError:
                return "missing", {}
            if info.get("type") != "directory":
                return "file", {"": int(info.get("size") or 0)}
            found = self._fs.find(self._path, withdirs=False, detail=True)
        except ArtverError:
            raise
        except Exception as exc:
            raise self._error(exc) from None
        top = self._path.rstrip("/") + "/"
        files = {}
        for path, entry in found.items():
            if entry.get("type", "file") == "file" and path.startswith(top):
                files[path[len(top) :]] = int(entry.get("size") or 0)
        return "dir", files

    def open(self, rel: str) -> BinaryIO:
        """The file `rel` of the listing, opened for reading in order."""
        path = f"{self._path.rstrip('/')}/{rel}" if rel else self._path
        try:
            return self._fs.open(path, "rb")
        except Exception as exc:
            raise self._error(exc, rel) from None

    def read(self, rel: str) -> bytes:
        with self.open(rel) as fobj:
            return fobj.read()

    def _error(self, exc: BaseException, rel: str = "") -> ArtverError:
        where = mask_text(self.url) + (f"/{rel}" if rel else "")
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        return ArtverError(f"cannot read {where}: {type(exc).__name__}: {mask_text(reason)}")
