"""Remotes and bad input: one plain `error:` message, exit 1, nothing lost, and a rerun finishes.

Servers are real (moto, the GCS emulator, a moto that checks credentials, a proxy that dies
mid-transfer), all on loopback.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time

import pytest

from tests.conftest import Workspace, git, xxh
from tests.helpers_privileges import small_tmpfs, unprivileged_prefix
from tests.remotes_fixtures import (
    OBJECT_KEY,
    REMOTE_ENV,
    DyingProxy,
    GCSBackend,
    S3Backend,
    authenticating_moto,
    free_port,
)
from tests.test_bad_input import assert_cache_sound, assert_error, run_prefixed


def tracked(ws: Workspace, count: int = 3, size: int = 100) -> None:
    for i in range(count):
        ws.write(f"data/f{i:03d}.bin", os.urandom(size))
    ws.artver("add", "data")
    ws.git("add", "-A")
    ws.git("commit", "-q", "-m", "data")


def empty_clone(ws: Workspace, tmp_path) -> Workspace:
    """A clone of the Git repo: the same pointers and remotes, an empty cache."""
    ws.git("add", "-A")
    ws.git("commit", "-q", "--allow-empty", "-m", "config")
    clone = Workspace(tmp_path / "clone")
    git("clone", "-q", str(ws.root), str(clone.root), cwd=tmp_path)
    return clone


def test_unknown_remote(ws, tmp_path, remote_env):
    ws.artver("remote", "add", "origin", str(tmp_path / "store"))
    for cmd in ("push", "fetch", "pull"):
        assert_error(ws.artver(cmd, "-r", "nope", expect=1), "unknown remote 'nope'", "origin")
    assert_error(ws.artver("remote", "modify", "nope", "url", "x", expect=1), "unknown remote")
    assert_error(ws.artver("remote", "default", "nope", expect=1), "unknown remote")
    assert_error(ws.artver("remote", "remove", "nope", expect=1), "unknown remote")


def test_no_default_remote(ws, tmp_path, remote_env):
    tracked(ws)
    assert_error(ws.artver("push", expect=1), "no default remote", "artver remote default")
    ws.artver("remote", "add", "origin", str(tmp_path / "store"))
    assert_error(ws.artver("pull", expect=1), "no default remote")
    ws.artver("remote", "default", "origin")
    ws.artver("push")


def test_unsupported_protocol_names_the_package(ws, remote_env):
    tracked(ws)
    assert_error(
        ws.artver("remote", "add", "x", "nosuchproto://bucket/path", expect=1),
        "unsupported remote protocol 'nosuchproto'",
    )
    ws.artver("remote", "add", "-d", "azure", "azure://container/path")
    assert_error(ws.artver("push", expect=1), "pip install adlfs")


def test_bucket_that_does_not_exist(ws, moto_endpoint, gcs_endpoint, tmp_path, remote_env):
    tracked(ws)
    for name, backend in (
        ("s3", S3Backend(moto_endpoint, "no-such-bucket")),
        ("gs", GCSBackend(gcs_endpoint, "no-such-bucket")),
    ):
        backend.add_to(ws, name, default=False)
        assert_error(
            ws.artver("push", "-r", name, expect=1), "bucket 'no-such-bucket'", "does not exist"
        )
    clone = empty_clone(ws, tmp_path)
    for name in ("s3", "gs"):
        assert_error(clone.artver("fetch", "-r", name, expect=1), "does not exist")


def test_wrong_credentials(ws, remote_env):
    tracked(ws)
    with authenticating_moto() as endpoint:
        ws.artver("remote", "add", "-d", "origin", "s3://bucket/store")
        ws.artver("remote", "modify", "origin", "endpointurl", endpoint)
        res = ws.artver("push", expect=1)
        assert_error(res, "refused access or no credentials", "origin")
        assert "testing" not in res.stderr  # the key is never printed


def test_missing_credentials(ws, moto_endpoint, remote_env, monkeypatch):
    tracked(ws)
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    S3Backend(moto_endpoint, "bucket").add_to(ws)
    assert_error(ws.artver("push", expect=1), "no credentials", "Unable to locate credentials")


def test_credentials_from_config_local_are_used_and_masked(
    ws, moto_endpoint, remote_env, monkeypatch
):
    tracked(ws)
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    backend = S3Backend(moto_endpoint, "b-masked")
    backend.create_bucket()
    backend.add_to(ws)
    ws.artver("remote", "modify", "--local", "origin", "access_key_id", "AKIAEXAMPLE")
    ws.artver("remote", "modify", "--local", "origin", "secret_access_key", "s3cr3t-value")
    ws.artver("push")
    assert backend.listing()
    listed = ws.artver("remote", "list").stdout + ws.artver("remote", "list", "--json").stdout
    assert "s3cr3t-value" not in listed and "AKIAEXAMPLE" not in listed
    assert "secret_access_key=****" in listed
    committed = (ws.root / ".artver" / "config.yaml").read_text()
    assert "s3cr3t-value" not in committed
    assert "s3cr3t-value" in (ws.root / ".artver" / "config.local.yaml").read_text()


def test_secrets_never_go_to_the_committed_config(ws, tmp_path):
    ws.artver("remote", "add", "origin", "s3://bucket/path")
    before = (ws.root / ".artver" / "config.yaml").read_text()
    for option in ("access_key_id", "secret_access_key", "session_token"):
        res = ws.artver("remote", "modify", "origin", option, f"value-of-{option}")
        assert f"{option} is a secret: stored in .artver/config.local.yaml" in res.stderr
    res = ws.artver("config", "remote.origin.secret_access_key", "other-value")
    assert "stored in .artver/config.local.yaml" in res.stderr
    assert (ws.root / ".artver" / "config.yaml").read_text() == before
    local = (ws.root / ".artver" / "config.local.yaml").read_text()
    assert "value-of-session_token" in local and "other-value" in local
    assert_error(
        ws.artver("remote", "modify", "origin", "colour", "blue", expect=1),
        "unknown option 'colour'",
    )


def test_gcs_credentials_file_missing_or_bad(ws, tmp_path, remote_env):
    tracked(ws)
    ws.artver("remote", "add", "-d", "g", "gs://bucket/path")
    ws.artver("remote", "modify", "--local", "g", "credentialpath", str(tmp_path / "nope.json"))
    assert_error(ws.artver("push", expect=1), "nope.json", "does not exist")
    bad = tmp_path / "bad.json"
    bad.write_text("{}")
    ws.artver("remote", "modify", "--local", "g", "credentialpath", str(bad))
    assert_error(ws.artver("push", expect=1), "cannot use the GCS credentials", "bad.json")


@pytest.mark.parametrize("make", [S3Backend, GCSBackend], ids=["s3", "gcs"])
def test_server_down(ws, tmp_path, remote_env, make):
    tracked(ws)
    make(f"http://127.0.0.1:{free_port()}", "bucket").add_to(ws)
    res = ws.artver("push", expect=1)
    assert_error(res, "cannot reach remote 'origin'", "run the command again")
    clone = empty_clone(ws, tmp_path)
    assert_error(clone.artver("pull", expect=1), "cannot reach remote 'origin'")
    assert not (clone.root / "data").exists()


def test_storage_libraries_log_no_tracebacks():
    """gcsfs logs every failed retry with a traceback (logger.exception), and Python prints
    such records when no handler is set. Once artver opens a remote they go nowhere (end to
    end: `test_server_down[gcs]`, whose output must hold no traceback)."""
    code = (
        "import logging\n"
        "from artver.remotes.registry import Location, make_filesystem\n"
        "make_filesystem(Location('file', '/tmp'), {})\n"
        "try:\n    1 / 0\n"
        "except ZeroDivisionError:\n"
        "    for name in ('gcsfs', 's3fs', 'aiobotocore.credentials', 'fsspec'):\n"
        "        logging.getLogger(name).exception('out of retries')\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ""


# S3 only. The GCS emulator keeps the cut-off body of an upload (real GCS stores nothing then);
# push now re-sends objects of the wrong size, but about one run in six the emulator still ends
# with a corrupt object of the right size, which pull then refuses (verified bytes).
@pytest.mark.parametrize("kind", ["s3"])
def test_server_dying_mid_push_then_a_rerun_completes(ws, kind, request, tmp_path, remote_env):
    endpoint = request.getfixturevalue("moto_endpoint" if kind == "s3" else "gcs_endpoint")
    make = S3Backend if kind == "s3" else GCSBackend
    tracked(ws, count=40, size=20_000)
    backend = make(endpoint, f"b-dying-{kind}")
    backend.create_bucket()
    port = int(endpoint.rsplit(":", 1)[1])
    proxy = DyingProxy(port, budget=300_000)  # dies after about a third of the data
    try:
        make(f"http://127.0.0.1:{proxy.port}", f"b-dying-{kind}").add_to(ws)
        ws.git("add", "-A")
        ws.git("commit", "-q", "-m", "remote")
        res = ws.artver("push", "-j", "2", expect=1)
    finally:
        proxy.kill()
    assert_error(res, "cannot reach remote 'origin'", "of 41 objects")
    done = int(re.search(r"pushed (\d+) of 41 objects", res.stderr).group(1))
    assert 0 < done < 41
    keys = backend.listing()
    assert not any(k.endswith(".dir") for k in keys)  # the manifest never goes before its files
    ws.artver("remote", "modify", "origin", "endpointurl", endpoint)
    res = ws.artver("push")
    sent = int(re.search(r"Pushed (\d+) objects", res.stderr).group(1))
    assert sent <= 41 - done + 1 and len(backend.listing()) == 41
    clone = Workspace(tmp_path / "clone")
    git("clone", "-q", str(ws.root), str(clone.root), cwd=tmp_path)
    clone.artver("remote", "modify", "origin", "endpointurl", endpoint)
    clone.artver("pull")
    assert clone.files("data") == ws.files("data")


def test_push_of_data_missing_from_the_cache_says_so(ws, tmp_path, remote_env):
    tracked(ws)
    ws.artver("remote", "add", "-d", "origin", str(tmp_path / "store"))
    victim = xxh(ws.read("data/f001.bin"))
    path = ws.cache_object(victim)
    path.chmod(0o644)
    path.unlink()
    res = ws.artver("push", expect=1)
    assert_error(res, "not complete in the local cache", "data")
    assert_cache_sound(ws.root / ".artver" / "cache")


def test_remote_commands_round_trip_the_config(ws, tmp_path):
    ws.artver("remote", "add", "-d", "origin", str(tmp_path / "a"))
    ws.artver("remote", "add", "backup", "s3://bucket/p")
    assert_error(ws.artver("remote", "add", "origin", "x", expect=1), "already exists")
    ws.artver("remote", "add", "-f", "origin", str(tmp_path / "b"))
    ws.artver("remote", "modify", "backup", "region", "eu-west-1")
    assert ws.artver("remote", "default").stdout.strip() == "origin"
    ws.artver("remote", "default", "backup")
    ws.artver("remote", "remove", "backup")
    res = ws.artver("remote", "list", "--json")
    assert '"name": "origin"' in res.stdout and "backup" not in res.stdout
    assert_error(ws.artver("remote", "default", expect=1), "no default remote")
    assert_error(ws.artver("remote", "add", "bad name", "x", expect=1), "invalid remote name")


def test_remote_env_is_complete():
    # The fixtures keep every test off cloud metadata services (which are not on loopback).
    assert REMOTE_ENV["AWS_EC2_METADATA_DISABLED"] == "true"


def _interrupt_when(proc: subprocess.Popen, started) -> str:
    """Send Ctrl-C once `started()` says the transfer is under way; the stderr it printed."""
    deadline = time.monotonic() + 60
    while not started() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    assert proc.poll() is None, "the transfer ended before it could be interrupted"
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    return err


def _artver_process(ws: Workspace, *args: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "artver", *args],
        cwd=ws.root,
        stderr=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        text=True,
        env=dict(os.environ),
    )


def test_ctrl_c_mid_push_and_mid_pull_leave_everything_whole(
    ws, moto_endpoint, tmp_path, remote_env
):
    tracked(ws, count=60, size=20_000)
    backend = S3Backend(moto_endpoint, "b-ctrl-c")
    backend.create_bucket()
    port = int(moto_endpoint.rsplit(":", 1)[1])
    slow = DyingProxy(port, budget=10**12, delay=0.005)  # a slow link: push takes seconds
    try:
        S3Backend(f"http://127.0.0.1:{slow.port}", "b-ctrl-c").add_to(ws)
        ws.git("add", "-A")
        ws.git("commit", "-q", "-m", "remote")
        proc = _artver_process(ws, "push", "-j", "2")
        err = _interrupt_when(proc, lambda: slow.sent > 200_000)
    finally:
        slow.kill()
    assert proc.returncode == 130, err
    assert "error: interrupted" in err and "Traceback" not in err
    keys = [k for k in backend.listing() if OBJECT_KEY.match(k)]
    assert 0 < len(keys) < 61
    assert not any(k.endswith(".dir") for k in keys)  # the manifest never goes before its files
    for key in keys:  # what is there is whole: each object's bytes hash to its name
        assert xxh(backend.get(key)) == key.replace("/", ""), key

    ws.artver("remote", "modify", "origin", "endpointurl", moto_endpoint)
    ws.artver("push")
    assert len([k for k in backend.listing() if OBJECT_KEY.match(k)]) == 61

    clone = Workspace(tmp_path / "clone")
    git("clone", "-q", str(ws.root), str(clone.root), cwd=tmp_path)
    slow = DyingProxy(port, budget=10**12, delay=0.005)
    try:
        clone.artver("remote", "modify", "origin", "endpointurl", f"http://127.0.0.1:{slow.port}")
        proc = _artver_process(clone, "pull", "-j", "2")
        cache = clone.root / ".artver" / "cache"
        err = _interrupt_when(proc, lambda: len(list(cache.glob("??/*"))) >= 5)
    finally:
        slow.kill()
    assert proc.returncode == 130, err
    assert "error: interrupted" in err and "Traceback" not in err
    assert not (clone.root / "data").exists()  # nothing checked out half-way
    assert_cache_sound(clone.root / ".artver" / "cache")
    clone.artver("remote", "modify", "origin", "endpointurl", moto_endpoint)
    clone.artver("pull")
    assert clone.files("data") == ws.files("data")


# -- a local-directory remote that cannot be written --------------------------------------------
def assert_store_sound(store) -> list[str]:
    """No temp file left in a directory remote, and every object holds the bytes its name
    says; the object ids."""
    oids = []
    for path in sorted(p for p in store.rglob("*") if p.is_file()):
        assert not path.name.endswith(".tmp"), f"partial upload left behind: {path}"
        oid = path.parent.name + path.name
        expected = xxh(path.read_bytes()) + (".dir" if oid.endswith(".dir") else "")
        assert oid == expected, f"remote object {oid} holds content that hashes to {expected}"
        oids.append(oid)
    return oids


def test_read_only_directory_remote_is_one_clear_error(ws, tmp_path):
    prefix = unprivileged_prefix()
    if prefix is None:
        pytest.skip("running as root and `setpriv` cannot drop CAP_DAC_OVERRIDE here")
    tracked(ws)
    store = tmp_path / "store"
    store.mkdir()
    ws.artver("remote", "add", "-d", "origin", str(store))
    store.chmod(0o555)
    try:
        res = run_prefixed(prefix, "push", cwd=ws.root)
    finally:
        store.chmod(0o755)
    assert_error(res, "permission denied", str(store), "pushed 0 of")
    assert "credentials" not in res.stderr
    assert assert_store_sound(store) == []
    ws.artver("push")
    assert len(assert_store_sound(store)) == 4  # 3 files and the manifest


# 1,200 objects are copied by several processes (forked_map): they fill the remote too.
@pytest.mark.parametrize(("count", "size"), [(6, 300 * 1024), (1_200, 2048)])
def test_directory_remote_that_fills_up_keeps_whole_objects_and_resumes(ws, tmp_path, count, size):
    fs = small_tmpfs(tmp_path / "store", "1m")
    if fs is None:
        pytest.skip("cannot mount a tmpfs in a private namespace (needs root, unshare, nsenter)")
    try:
        tracked(ws, count=count, size=size)  # 1.8 or 2.4 MB of data for 1 MB of space
        ws.artver("remote", "add", "-d", "origin", str(fs.mountpoint))
        res = run_prefixed(fs.inside(ws.root), "push", cwd=ws.root)
        assert_error(res, "no space left on remote 'origin'", "push again")
        assert len(assert_store_sound(fs.view)) < count + 1
        fs.resize("16m")
        res = run_prefixed(fs.inside(ws.root), "push", cwd=ws.root)
        assert res.code == 0, res.stderr
        assert len(assert_store_sound(fs.view)) == count + 1
    finally:
        fs.close()
