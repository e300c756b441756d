"""URL scheme -> fsspec filesystem, with the package to install when it is missing.

Filesystem packages (s3fs, gcsfs, ...) are imported here, on first use, never at start-up:
`artver status` must not pay for them.
"""

from __future__ import annotations

import os
from collections import namedtuple
from pathlib import Path

from artver.remotes.errors import CredentialsError, UnsupportedProtocolError

TYPE_CHECKING = False  # typing.TYPE_CHECKING: importing typing costs each command ~2 ms
if TYPE_CHECKING:
    from typing import Any

# Aliases users type -> the protocol artver treats them as.
ALIASES = {"gcs": "gs", "local": "file", "azure": "az", "ssh": "sftp"}
# The pip package that provides each protocol, for the error when it is not installed.
PACKAGES = {
    "s3": "s3fs",
    "gs": "gcsfs",
    "az": "adlfs",
    "abfs": "adlfs",
    "sftp": "paramiko",
    "webdav": "webdav4",
    "oss": "ossfs",
    "hdfs": "pyarrow",
    "http": "aiohttp",
    "https": "aiohttp",
}
# Multipart/resumable chunk size and parts in flight per large object: bounds memory to about
# CHUNK * PARTS per large transfer whatever the object's size (s3fs and gcsfs default to
# 50 MiB x 10). A multiple of 256 KiB, as GCS requires.
CHUNK = 8 * 1024 * 1024
PARTS = 4


# protocol: "file", "s3", "gs", or another fsspec protocol; path: what the filesystem calls
# the remote's root ("bucket/prefix", "/abs/dir")
Location = namedtuple("Location", "protocol path")


def parse_url(url: str, base: Path) -> Location:
    """Split a remote URL; a plain path (or file://) is a local directory, relative to `base`."""
    if "://" not in url:
        return Location("file", os.path.abspath(os.path.join(base, os.path.expanduser(url))))
    scheme, _, rest = url.partition("://")
    protocol = ALIASES.get(scheme.lower(), scheme.lower())
    if protocol == "file":
        return Location("file", os.path.abspath(os.path.join(base, rest)))
    if protocol in ("s3", "gs"):
        rest = rest.strip("/")
        if not rest:
            raise UnsupportedProtocolError(f"remote URL {url!r} names no bucket")
        return Location(protocol, rest)
    return Location(protocol, f"{protocol}://{rest}")  # fsspec parses host, user, ... itself


def check_protocol_known(protocol: str) -> None:
    """Refuse a protocol fsspec has never heard of (a typo, usually)."""
    if protocol in ("file", "s3", "gs"):
        return
    from fsspec.registry import known_implementations, registry

    if protocol not in known_implementations and protocol not in registry:
        raise UnsupportedProtocolError(
            f"unsupported remote protocol {protocol!r}",
            hint="Use s3://, gs://, a local directory, or another fsspec protocol "
            "(see docs/remotes.md).",
        )


def _missing_package(protocol: str, exc: BaseException) -> UnsupportedProtocolError:
    package = PACKAGES.get(protocol)
    if package is None:
        from fsspec.registry import known_implementations

        err = known_implementations.get(protocol, {}).get("err")
        return UnsupportedProtocolError(
            f"{protocol}:// remotes need a package that is not installed ({err or exc})"
        )
    return UnsupportedProtocolError(
        f"{protocol}:// remotes need the {package} package, which is not installed",
        hint=f"Install it next to artver: pip install {package}",
    )


# Storage libraries log their retries, with tracebacks, at WARNING and above; with no handler
# configured, Python would print those to stderr. artver reports each failure once, itself.
LIBRARY_LOGGERS = ("fsspec", "s3fs", "gcsfs", "aiobotocore", "botocore", "google", "urllib3")


def _quiet_library_logs() -> None:
    import logging

    for name in LIBRARY_LOGGERS:
        logger = logging.getLogger(name)
        if not any(isinstance(h, logging.NullHandler) for h in logger.handlers):
            logger.addHandler(logging.NullHandler())


def make_filesystem(loc: Location, options: dict[str, Any]) -> tuple[Any, str]:
    """(fsspec filesystem, root path on it) for a remote's location and config options."""
    check_protocol_known(loc.protocol)
    _quiet_library_logs()
    try:
        if loc.protocol == "file":
            from fsspec.implementations.local import LocalFileSystem

            return LocalFileSystem(), loc.path.rstrip("/") or "/"
        if loc.protocol == "s3":
            return _s3(options), loc.path
        if loc.protocol == "gs":
            return _gcs(options), loc.path
        from fsspec.core import url_to_fs

        extra = {k: v for k, v in options.items() if k not in ("url", "jobs")}
        fs, root = url_to_fs(loc.path, **extra)
        return fs, root.rstrip("/")
    except ImportError as exc:
        raise _missing_package(loc.protocol, exc) from None


def _s3(options: dict[str, Any]) -> Any:
    import s3fs

    client: dict[str, Any] = {}
    kwargs: dict[str, Any] = {
        # Every command sees the remote as it is now: no cached instances or listings.
        "skip_instance_cache": True,
        "use_listings_cache": False,
        "max_concurrency": PARTS,
        # Few quick retries inside botocore: artver retries whole objects itself and then
        # reports how far it got, rather than hanging on a dead server.
        "config_kwargs": {
            "connect_timeout": 10,
            "read_timeout": 60,
            "retries": {"max_attempts": 2, "mode": "standard"},
        },
        "client_kwargs": client,
    }
    if options.get("endpointurl"):
        kwargs["endpoint_url"] = str(options["endpointurl"])
    if options.get("region"):
        client["region_name"] = str(options["region"])
    if options.get("profile"):
        kwargs["profile"] = str(options["profile"])
    for ours, theirs in (
        ("access_key_id", "key"),
        ("secret_access_key", "secret"),
        ("session_token", "token"),
    ):
        if options.get(ours):
            kwargs[theirs] = str(options[ours])
    if options.get("sse"):
        kwargs["s3_additional_kwargs"] = {"ServerSideEncryption": str(options["sse"])}
    fs = s3fs.S3FileSystem(**kwargs)
    fs.retries = 2  # s3fs's own retry loop (5 by default), on top of botocore's
    return fs


# gcsfs tries each request 6 times with exponential backoff (~35 s) before giving up, and artver
# retries whole objects on top: a GCS server that is down took ~70 s to report. Like botocore for
# S3, gcsfs gets a few quick tries here (the count is fixed when gcsfs defines its class).
GCS_TRIES = 3


def _quick_retry_gcs() -> Any:
    import gcsfs
    from gcsfs.retry import retry_request

    base = gcsfs.GCSFileSystem
    if not hasattr(base._request, "__wrapped__"):  # a gcsfs that no longer works this way
        return base

    class QuickRetryGCSFileSystem(base):  # type: ignore[misc, valid-type]
        @retry_request(retries=GCS_TRIES)
        async def _request(self, *args: Any, **kwargs: Any) -> Any:
            return await base._request.__wrapped__(self, *args, **kwargs)

    return QuickRetryGCSFileSystem


def _gcs(options: dict[str, Any]) -> Any:
    endpoint = options.get("endpointurl")
    if endpoint:
        # Current gcsfs otherwise probes every bucket's type over gRPC, which an emulator
        # does not serve: a 60 s hang per bucket. It is read when gcsfs is first imported.
        os.environ["GCSFS_EXPERIMENTAL_ZB_HNS_SUPPORT"] = "false"
    kwargs: dict[str, Any] = {"skip_instance_cache": True, "use_listings_cache": False}
    credentials = options.get("credentialpath")
    if credentials:
        path = os.path.expanduser(str(credentials))
        if not os.path.isfile(path):
            raise CredentialsError(
                f"the GCS credentials file {path} (credentialpath) does not exist",
                hint="Point credentialpath at a service-account JSON key: "
                "`artver remote modify --local NAME credentialpath PATH`.",
            )
        kwargs["token"] = path
    elif endpoint:
        kwargs["token"] = "anon"  # an emulator takes no credentials
    if endpoint:
        kwargs["endpoint_url"] = str(endpoint)
    if options.get("projectname"):
        kwargs["project"] = str(options["projectname"])
    try:
        return _quick_retry_gcs()(**kwargs)
    except Exception as exc:  # google-auth raises many kinds for a malformed key file
        what = f"{type(exc).__name__}: {exc}"
        raise CredentialsError(
            f"cannot use the GCS credentials{f' in {credentials}' if credentials else ''} ({what})",
            hint="credentialpath must name a service-account JSON key file.",
        ) from None
