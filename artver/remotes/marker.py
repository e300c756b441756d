"""Version markers: what a source says about the version of a file it serves, so that
`artver import-url` can tell later, without reading the bytes again, whether it changed. Pure:
the functions here map the metadata a filesystem returned (fsspec's `info`/`find` entries, or
a local stat) to small mappings, and compare them.

| source | marker of a file |
| --- | --- |
| S3 | `etag`, `size`, and `version_id` when the bucket is versioned |
| GCS | `generation`, `size` (else `etag`, `md5`) |
| HTTP(S) | `etag` (strong or weak, as sent), else `last_modified` and `size` |
| local path / `file://` | `mtime_ns`, `size` |
| another fsspec protocol | the first of its `etag`, `md5`, `checksum`, `mtime`... and `size` |

A directory's marker is one digest of its files' markers (`{nfiles: N, digest: HEX}`), not a
marker per file: a pointer file stays a few lines for 100,000 files. The per-file markers are
remembered in the local state DB under that digest, so an update re-downloads only the files
whose markers changed; where they are not remembered (a fresh clone) every file is read again.
"""

from __future__ import annotations

import base64
import binascii
import json

from artver.cache.hashing import hash_bytes

TYPE_CHECKING = False  # typing.TYPE_CHECKING: importing typing costs each command ~2 ms
if TYPE_CHECKING:
    from typing import Any

# Fields other fsspec filesystems give that change with the content, best first.
GENERIC_FIELDS = ("etag", "ETag", "md5", "md5Hash", "checksum", "sha256", "crc32c", "mtime")


def _size(info: dict[str, Any]) -> int | None:
    size = info.get("size", info.get("Size"))
    return int(size) if isinstance(size, int) and not isinstance(size, bool) else None


def _with_size(marker: dict[str, Any], info: dict[str, Any]) -> dict[str, Any]:
    size = _size(info)
    if size is not None:
        marker["size"] = size
    return marker


def file_marker(protocol: str, info: dict[str, Any]) -> dict[str, Any] | None:
    """The marker of one file from its metadata (`info`: an fsspec entry, or for a local file
    `{"mtime_ns": ..., "size": ...}`); None when the source gives nothing that changes with
    the content (an HTTP server without ETag or Last-Modified)."""
    if protocol == "file":
        return {"mtime_ns": int(info["mtime_ns"]), "size": int(info["size"])}
    if protocol == "s3":
        etag = info.get("ETag") or info.get("etag")
        if not etag:
            return None
        marker: dict[str, Any] = {"etag": str(etag).strip('"')}
        if info.get("VersionId"):
            marker["version_id"] = str(info["VersionId"])
        return _with_size(marker, info)
    if protocol == "gs":
        if info.get("generation"):
            return _with_size({"generation": str(info["generation"])}, info)
        found = {k: str(info[k]) for k in ("etag", "md5Hash") if info.get(k)}
        if not found:
            return None
        marker = {"etag": found["etag"]} if "etag" in found else {}
        if "md5Hash" in found:
            marker["md5"] = found["md5Hash"]
        return _with_size(marker, info)
    if protocol in ("http", "https"):
        if info.get("ETag"):
            return {"etag": str(info["ETag"])}
        if info.get("Last-Modified"):
            return _with_size({"last_modified": str(info["Last-Modified"])}, info)
        return None
    for key in GENERIC_FIELDS:
        if info.get(key) not in (None, ""):
            return _with_size({key.lower(): str(info[key])}, info)
    return None


def expected_md5(protocol: str, info: dict[str, Any]) -> str | None:
    """The MD5 (hex) a source vouches for, to check the downloaded bytes against: GCS's
    md5Hash. S3's ETag is not used: it is no MD5 for multipart or KMS-encrypted objects."""
    if protocol != "gs" or not info.get("md5Hash"):
        return None
    try:
        return base64.b64decode(str(info["md5Hash"]), validate=True).hex()
    except (binascii.Error, ValueError):
        return None


def digest(markers: dict[str, dict[str, Any]]) -> str:
    """One hash of a directory's per-file markers ({relative path: marker})."""
    text = json.dumps(sorted(markers.items()), sort_keys=True, separators=(",", ":"))
    return hash_bytes(text.encode("utf-8"))


def dir_marker(markers: dict[str, dict[str, Any]]) -> dict[str, Any]:
    return {"nfiles": len(markers), "digest": digest(markers)}


def changed(recorded: Any, current: dict[str, Any]) -> bool:
    """Has the source moved on from the recorded marker? A marker of another shape (written by
    another version of artver, or edited) counts as changed."""
    return recorded != current


def to_fetch(
    old_markers: dict[str, dict[str, Any]] | None,
    new_markers: dict[str, dict[str, Any]],
    old_oids: dict[str, str],
) -> list[str]:
    """The files of a directory to download again: those whose marker differs from the one
    remembered (all of them when none is remembered), and those the old version lacks."""
    old = old_markers or {}
    return sorted(
        rel
        for rel, marker in new_markers.items()
        if rel not in old_oids or rel not in old or old[rel] != marker
    )
