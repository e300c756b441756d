"""Real object stores on loopback for the remote tests: moto's S3 server and the GCS emulator,
started once per test process on free ports, plus a local directory. Every test gets its own
bucket (or directory), so tests never see each other's objects.

The test process talks to the servers over plain HTTP (urllib) to create buckets and to corrupt
or delete objects; only artver itself, in a subprocess, goes through s3fs/gcsfs.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path
from typing import ClassVar

import pytest

# Read by gcsfs when it is imported (in artver's subprocesses): without it, current gcsfs probes
# each bucket over gRPC, which the emulator does not serve, and hangs 60 s per bucket.
os.environ["GCSFS_EXPERIMENTAL_ZB_HNS_SUPPORT"] = "false"

# What every artver subprocess of a remote test gets: dummy AWS keys (moto accepts any), and no
# probing of cloud metadata services, which would go off this machine.
REMOTE_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_EC2_METADATA_DISABLED": "true",
    "NO_GCE_CHECK": "True",
    "GCE_METADATA_HOST": "127.0.0.1:9",
    "GCSFS_EXPERIMENTAL_ZB_HNS_SUPPORT": "false",
}
OBJECT_KEY = re.compile(r"^[0-9a-f]{2}/[0-9a-f]{30}(\.dir)?$")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def http(method: str, url: str, data: bytes | None = None, headers: dict | None = None) -> bytes:
    req = urllib.request.Request(url, data=data, method=method, headers=headers or {})
    with urllib.request.urlopen(req, timeout=30) as resp:
        return resp.read()


def wait_for_port(port: int, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
            return
        time.sleep(0.05)
    raise RuntimeError(f"nothing listens on 127.0.0.1:{port}")


@pytest.fixture(scope="session")
def moto_endpoint() -> Iterator[str]:
    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # no line per request
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    wait_for_port(port)
    yield f"http://127.0.0.1:{port}"
    server.stop()


@pytest.fixture(scope="session")
def gcs_endpoint() -> Iterator[str]:
    from gcp_storage_emulator.server import create_server

    logging.getLogger("gcp_storage_emulator").setLevel(logging.ERROR)
    port = free_port()
    server = create_server("127.0.0.1", port, in_memory=True)
    server.start()
    wait_for_port(port)
    yield f"http://127.0.0.1:{port}"
    server.stop()


@pytest.fixture
def remote_env(monkeypatch) -> None:
    for key, value in REMOTE_ENV.items():
        monkeypatch.setenv(key, value)


class Backend:
    """One remote under test: its URL and options, and raw access to its objects."""

    kind = ""

    def url(self) -> str:
        raise NotImplementedError

    def options(self) -> dict[str, str]:
        return {}

    def add_to(self, ws, name: str = "origin", default: bool = True) -> None:
        ws.artver("remote", "add", *(["-d"] if default else []), name, self.url())
        for key, value in self.options().items():
            ws.artver("remote", "modify", name, key, value)

    def listing(self) -> list[str]:
        """Every key below the remote's root, relative to it."""
        raise NotImplementedError

    def put(self, key: str, data: bytes) -> None:
        raise NotImplementedError

    def delete(self, key: str) -> None:
        raise NotImplementedError


class LocalBackend(Backend):
    kind = "local"

    def __init__(self, root: Path) -> None:
        self.root = root

    def url(self) -> str:
        return str(self.root)

    def listing(self) -> list[str]:
        if not self.root.exists():
            return []
        return sorted(
            p.relative_to(self.root).as_posix() for p in self.root.rglob("*") if p.is_file()
        )

    def put(self, key: str, data: bytes) -> None:
        path = self.root / key
        path.parent.mkdir(parents=True, exist_ok=True)
        if path.exists():
            path.chmod(0o644)
        path.write_bytes(data)

    def delete(self, key: str) -> None:
        (self.root / key).unlink()


class S3Backend(Backend):
    kind = "s3"

    def __init__(self, endpoint: str, bucket: str, prefix: str = "store") -> None:
        self.endpoint, self.bucket, self.prefix = endpoint, bucket, prefix

    def create_bucket(self) -> None:
        http("PUT", f"{self.endpoint}/{self.bucket}")

    def url(self) -> str:
        return f"s3://{self.bucket}/{self.prefix}"

    def options(self) -> dict[str, str]:
        return {"endpointurl": self.endpoint}

    def listing(self) -> list[str]:
        found, token = [], None
        while True:
            query = {"list-type": "2", "prefix": self.prefix + "/"}
            if token:
                query["continuation-token"] = token
            body = http("GET", f"{self.endpoint}/{self.bucket}?{urllib.parse.urlencode(query)}")
            root = ET.fromstring(body)
            ns = {"s3": root.tag.split("}")[0].strip("{")} if root.tag.startswith("{") else {}
            pre = "s3:" if ns else ""
            for item in root.findall(f"{pre}Contents", ns):
                key = item.find(f"{pre}Key", ns).text
                found.append(key.removeprefix(self.prefix + "/"))
            token_node = root.find(f"{pre}NextContinuationToken", ns)
            if token_node is None or not token_node.text:
                return sorted(found)
            token = token_node.text

    def _key_url(self, key: str) -> str:
        return f"{self.endpoint}/{self.bucket}/{urllib.parse.quote(self.prefix + '/' + key)}"

    def get(self, key: str) -> bytes:
        return http("GET", self._key_url(key), headers=self.AUTH)

    # moto answers unsigned object requests as anonymous ones (403); with its authentication
    # off (the default) any signature passes, so a well-formed header with a dummy one does.
    AUTH: ClassVar[dict[str, str]] = {
        "Authorization": "AWS4-HMAC-SHA256 Credential=testing/20240101/us-east-1/s3/aws4_request,"
        " SignedHeaders=host, Signature=0",
        "x-amz-content-sha256": "UNSIGNED-PAYLOAD",
    }

    def put(self, key: str, data: bytes) -> None:
        http("PUT", self._key_url(key), data, self.AUTH)

    def delete(self, key: str) -> None:
        http("DELETE", self._key_url(key), headers=self.AUTH)


class GCSBackend(Backend):
    kind = "gcs"

    def __init__(self, endpoint: str, bucket: str, prefix: str = "store") -> None:
        self.endpoint, self.bucket, self.prefix = endpoint, bucket, prefix

    def create_bucket(self) -> None:
        body = json.dumps({"name": self.bucket}).encode()
        http(
            "POST",
            f"{self.endpoint}/storage/v1/b?project=test",
            body,
            {"Content-Type": "application/json"},
        )

    def url(self) -> str:
        return f"gs://{self.bucket}/{self.prefix}"

    def options(self) -> dict[str, str]:
        return {"endpointurl": self.endpoint}

    def listing(self) -> list[str]:
        found, token = [], None
        while True:
            query = {"prefix": self.prefix + "/"}
            if token:
                query["pageToken"] = token
            url = f"{self.endpoint}/storage/v1/b/{self.bucket}/o?{urllib.parse.urlencode(query)}"
            doc = json.loads(http("GET", url))
            found += [i["name"].removeprefix(self.prefix + "/") for i in doc.get("items", [])]
            token = doc.get("nextPageToken")
            if not token:
                return sorted(found)

    def put(self, key: str, data: bytes) -> None:
        name = urllib.parse.quote(f"{self.prefix}/{key}", safe="")
        http(
            "POST",
            f"{self.endpoint}/upload/storage/v1/b/{self.bucket}/o?uploadType=media&name={name}",
            data,
            {"Content-Type": "application/octet-stream"},
        )

    def delete(self, key: str) -> None:
        name = urllib.parse.quote(f"{self.prefix}/{key}", safe="")
        http("DELETE", f"{self.endpoint}/storage/v1/b/{self.bucket}/o/{name}")


def unique_bucket() -> str:
    return f"b-{uuid.uuid4().hex[:16]}"


@pytest.fixture
def s3_backend(moto_endpoint, remote_env) -> S3Backend:
    backend = S3Backend(moto_endpoint, unique_bucket())
    backend.create_bucket()
    return backend


@pytest.fixture
def gcs_backend(gcs_endpoint, remote_env) -> GCSBackend:
    backend = GCSBackend(gcs_endpoint, unique_bucket())
    backend.create_bucket()
    return backend


@pytest.fixture(params=["local", "s3", "gcs"])
def backend(request, tmp_path, remote_env) -> Backend:
    """The remote contract runs against each kind of storage."""
    if request.param == "local":
        return LocalBackend(tmp_path / "remote store")
    if request.param == "s3":
        return request.getfixturevalue("s3_backend")
    return request.getfixturevalue("gcs_backend")


class DyingProxy:
    """A TCP proxy on loopback that forwards to `port` until `budget` bytes went upstream, then
    drops every connection and stops listening: a server that dies mid-transfer."""

    def __init__(self, upstream_port: int, budget: int, delay: float = 0.0) -> None:
        self.upstream = upstream_port
        self.budget = budget
        self.delay = delay  # seconds per chunk either way: a slow link
        self.sent = 0
        self.lock = threading.Lock()
        self.sockets: list[socket.socket] = []
        self.listener = socket.socket()
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(64)
        self.port = self.listener.getsockname()[1]
        self.dead = threading.Event()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while not self.dead.is_set():
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            try:
                server = socket.create_connection(("127.0.0.1", self.upstream))
            except OSError:
                client.close()
                continue
            with self.lock:
                self.sockets += [client, server]
            threading.Thread(target=self._pipe, args=(client, server, True), daemon=True).start()
            threading.Thread(target=self._pipe, args=(server, client, False), daemon=True).start()

    def _pipe(self, src: socket.socket, dst: socket.socket, upstream: bool) -> None:
        try:
            while chunk := src.recv(65536):
                if upstream:
                    with self.lock:
                        self.sent += len(chunk)
                        over = self.sent > self.budget
                    if over:
                        self.kill()
                        return
                if self.delay:
                    time.sleep(self.delay)
                dst.sendall(chunk)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                with contextlib.suppress(OSError):
                    s.close()

    def kill(self) -> None:
        self.dead.set()
        with contextlib.suppress(OSError):
            self.listener.close()
        with self.lock:
            for s in self.sockets:
                with contextlib.suppress(OSError):
                    s.shutdown(socket.SHUT_RDWR)
                    s.close()


@contextlib.contextmanager
def authenticating_moto() -> Iterator[str]:
    """A moto S3 server in its own process that checks credentials (any key is unknown)."""
    port = free_port()
    env = {**os.environ, "INITIAL_NO_AUTH_ACTION_COUNT": "0"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_for_port(port)
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.wait(timeout=10)
