"""Secrets are never printed and never reach the committed config (issue 14, item 3).

The end-to-end tests configure one remote per kind of secret through the real CLI, as a user
would (without `--local`), then run every command that prints configuration, remotes or
errors about a remote, and assert that no secret value appears in anything printed or in
`.artver/config.yaml`, and that every one of them is in `config.local.yaml`.

Forms not exercised end to end: a transfer over webdav:// or az:// (webdav4 and adlfs are not
installed here; those commands still run, and their "install the package" error is scanned).
"""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys

import pytest

from artver import redact
from tests.test_bad_input import assert_error

# Every secret a test configures, by what it is; each is a distinct string no other output has.
SECRETS = {
    "s3 access_key_id": "AKIAZZLEAKCHECK01",
    "s3 secret_access_key": "s3-secret-6f1d2c9e",
    "s3 session_token": "s3-session-token-77ab",
    "az account_key": "azure-account-key-3c5e",
    "az connection_string": "DefaultEndpointsProtocol=https;AccountKey=azconnkey9d1",
    "my_token": "generic-token-40b8",
    "password": "generic-password-e21f",
    "webdav url password": "dav-pass-5a7c",
    "https url password": "https-pass-2d9b",
}
DAV_URL = f"webdav://alice:{SECRETS['webdav url password']}@127.0.0.1:9/x"
HTTPS_URL = f"https://u:{SECRETS['https url password']}@127.0.0.1:9/x"
HAS_AIOHTTP = importlib.util.find_spec("aiohttp") is not None


def assert_no_secret(text: str, what: str) -> None:
    for name, value in SECRETS.items():
        assert value not in text, f"{name} ({value}) appears in {what}:\n{text}"


def configure(ws):
    """The remotes of the end-to-end tests, each secret given without --local; returns what
    the configuring commands printed."""
    ws.write("data.bin", b"some data\n")
    printed = ws.artver("add", "data.bin").output
    for args in (
        ("remote", "add", "-d", "s3r", "s3://bucket/prefix"),
        ("remote", "modify", "s3r", "endpointurl", "http://127.0.0.1:9"),
        ("remote", "modify", "s3r", "access_key_id", SECRETS["s3 access_key_id"]),
        ("remote", "modify", "s3r", "secret_access_key", SECRETS["s3 secret_access_key"]),
        ("config", "remote.s3r.session_token", SECRETS["s3 session_token"]),
        ("remote", "add", "az", "az://container/prefix"),
        ("remote", "modify", "az", "account_name", "myaccount"),
        ("remote", "modify", "az", "account_key", SECRETS["az account_key"]),
        ("remote", "modify", "az", "connection_string", SECRETS["az connection_string"]),
        ("remote", "add", "dav", DAV_URL),
        ("remote", "modify", "dav", "my_token", SECRETS["my_token"]),
        ("config", "remote.dav.password", SECRETS["password"]),
        ("remote", "add", "h", HTTPS_URL),
    ):
        printed += ws.artver(*args).output
    return printed


@pytest.fixture
def secret_ws(ws):
    ws.printed = configure(ws)
    return ws


# -- where secrets are written ---------------------------------------------------------------
def test_secrets_go_to_config_local_and_the_user_is_told(secret_ws):
    ws = secret_ws
    assert_no_secret(ws.printed, "the output of remote add/modify and config")
    committed = (ws.root / ".artver" / "config.yaml").read_text()
    assert_no_secret(committed, ".artver/config.yaml")
    local = (ws.root / ".artver" / "config.local.yaml").read_text()
    for name, value in SECRETS.items():
        assert value in local, f"{name} is not in config.local.yaml"
    for option in ("access_key_id", "secret_access_key", "session_token", "account_key"):
        assert f"{option} is a secret: stored in .artver/config.local.yaml" in ws.printed
    assert "my_token is a secret" in ws.printed and "password is a secret" in ws.printed
    # The URL without its password is committed, so the team sees where the remote is.
    assert "url: webdav://127.0.0.1:9/x" in committed
    assert "url: https://127.0.0.1:9/x" in committed
    assert "account_name: myaccount" in committed  # not a secret: stays in the committed file
    assert "holds a password: stored webdav://127.0.0.1:9/x in .artver/config.yaml" in ws.printed
    # config.local.yaml is git-ignored: the secrets cannot be committed by `git add -A`.
    ws.git("add", "-A")
    assert ".artver/config.local.yaml" not in ws.git("diff", "--cached", "--name-only")


def test_the_whole_url_is_used_and_replacing_it_drops_the_old_password(ws):
    ws.artver("remote", "add", "dav", DAV_URL)
    assert ws.artver("config", "--show-secret", "remote.dav.url").stdout == DAV_URL + "\n"
    res = ws.artver("remote", "add", "-f", "dav", "webdav://127.0.0.1:9/y")
    assert "removed the old URL with its password from .artver/config.local.yaml" in res.stderr
    assert ws.artver("config", "remote.dav.url").stdout == "webdav://127.0.0.1:9/y\n"
    local = ws.root / ".artver" / "config.local.yaml"
    assert not local.exists() or SECRETS["webdav url password"] not in local.read_text()


def test_unsetting_a_secret_without_local_removes_it_from_config_local(ws):
    ws.artver("remote", "add", "dav", "webdav://127.0.0.1:9/x")
    ws.artver("remote", "modify", "dav", "password", SECRETS["password"])
    ws.artver("remote", "modify", "--unset", "dav", "password")
    local = ws.root / ".artver" / "config.local.yaml"
    assert not local.exists() or SECRETS["password"] not in local.read_text()
    assert_error(
        ws.artver("remote", "modify", "--unset", "dav", "password", expect=1), "is not set"
    )


def test_a_secret_committed_by_hand_is_named_by_doctor_and_moved_out(ws):
    ws.artver("remote", "add", "az", "az://container/prefix")
    config = ws.root / ".artver" / "config.yaml"
    config.write_text(
        config.read_text().replace(
            "url: az://container/prefix",
            f"url: az://container/prefix\n    account_key: {SECRETS['az account_key']}",
        )
    )
    doctor = ws.artver("doctor")
    assert "secrets in config.yaml: remote.az.account_key" in doctor.stdout
    assert_no_secret(doctor.output, "doctor")
    res = ws.artver("remote", "modify", "az", "account_key", "a-new-key-value")
    assert "removed the old account_key from .artver/config.yaml" in res.stderr
    assert "rotate" in res.stderr
    assert SECRETS["az account_key"] not in config.read_text()
    assert "secrets in config.yaml: -" in ws.artver("doctor").stdout


# -- every form that prints ------------------------------------------------------------------
LISTINGS = [
    ("config",),
    ("config", "--json"),
    ("config", "--local"),
    ("config", "--local", "--json"),
    ("config", "remote.s3r"),
    ("config", "--json", "remote.s3r"),
    ("config", "--local", "remote.az"),
    ("config", "remote.dav"),
    ("config", "remote.dav.url"),
    ("config", "--json", "remote.h.url"),
    ("remote", "list"),
    ("remote", "list", "--json"),
    ("doctor",),
    ("doctor", "--json"),
    ("-v", "doctor"),
]


def test_no_listing_prints_a_secret(secret_ws):
    for args in LISTINGS:
        res = secret_ws.artver(*args)
        assert_no_secret(res.output, f"artver {' '.join(args)}")
        assert "****" in res.stdout, f"artver {' '.join(args)} shows no masked value"
        if "--json" in args:
            json.loads(res.stdout)  # still one valid document
    listed = secret_ws.artver("remote", "list").stdout
    assert "dav\twebdav://alice:****@127.0.0.1:9/x" in listed
    assert "  account_key=****" in listed and "  account_name=myaccount" in listed
    assert "  my_token=****" in listed and "  endpointurl=http://127.0.0.1:9" in listed


SINGLE_KEYS = {
    "remote.s3r.access_key_id": "s3 access_key_id",
    "remote.s3r.secret_access_key": "s3 secret_access_key",
    "remote.s3r.session_token": "s3 session_token",
    "remote.az.account_key": "az account_key",
    "remote.az.connection_string": "az connection_string",
    "remote.dav.my_token": "my_token",
    "remote.dav.password": "password",
}


def test_one_secret_is_printed_only_with_show_secret(secret_ws):
    ws = secret_ws
    for key, name in SINGLE_KEYS.items():
        res = ws.artver("config", key)
        assert res.stdout == "****\n", key
        assert f"artver config --show-secret {key}" in res.stderr
        assert_no_secret(res.output, f"artver config {key}")
        assert_no_secret(ws.artver("config", "--json", key).output, f"config --json {key}")
        shown = ws.artver("config", "--show-secret", key)
        assert shown.stdout == SECRETS[name] + "\n" and shown.stderr == "", key
    assert ws.artver("config", "--show-secret", "remote.h.url").stdout == HTTPS_URL + "\n"
    shown = ws.artver("config", "--json", "--show-secret", "remote.dav.url").stdout
    assert json.loads(shown) == DAV_URL
    assert ws.artver("config", "--show-secret", "remote.az.account_name").stdout == "myaccount\n"


@pytest.mark.parametrize(
    "args",
    [
        ("config", "--show-secret"),
        ("config", "--show-secret", "--json"),
        ("config", "--show-secret", "remote.s3r.secret_access_key", "new-value"),
        ("config", "--show-secret", "--unset", "remote.s3r.secret_access_key"),
        ("config", "--show-secret", "remote.s3r"),
    ],
)
def test_show_secret_reads_one_key_only(secret_ws, args):
    res = secret_ws.artver(*args, expect=2)
    assert_error(res, "--show-secret reads one key", code=2)
    assert_no_secret(res.output, f"artver {' '.join(args)}")


def _drop_cached_objects(ws):
    """Empty the cache, so that fetch and pull must ask the remote."""
    for sub in (ws.root / ".artver" / "cache").iterdir():
        if len(sub.name) == 2:
            for obj in sub.iterdir():
                obj.unlink()


@pytest.mark.parametrize("verbose", [False, True])
def test_transfers_to_unreachable_remotes_print_no_secret(secret_ws, verbose):
    ws = secret_ws
    # h needs aiohttp (fsspec's http); dav and az fail on their missing packages, whose error
    # is scanned too.
    remotes = ["s3r", "dav", "az"] + (["h"] if HAS_AIOHTTP else [])
    flags = ["-v"] if verbose else []
    errors = {}
    # Under -v the same error paths run with tracebacks: push alone shows them (each command
    # to an unreachable s3 remote waits out botocore's retries).
    commands = ("push",) if verbose else ("push", "fetch", "pull")
    for command in commands:
        if command == "fetch":
            _drop_cached_objects(ws)
        for remote in remotes:
            res = ws.artver(*flags, command, "-r", remote, expect=1)
            assert_no_secret(res.output, f"artver {' '.join(flags)} {command} -r {remote}")
            assert res.stderr.count("error: ") == 1, res.stderr
            if verbose:
                assert "Traceback" in res.stderr  # the traceback is there, masked
            errors[command, remote] = res.stderr
    for command in commands:
        assert "cannot reach remote 's3r' (s3://bucket/prefix)" in errors[command, "s3r"]
        assert "webdav4" in errors[command, "dav"] and "adlfs" in errors[command, "az"]
        if HAS_AIOHTTP:
            shown = "cannot reach remote 'h' (https://u:****@127.0.0.1:9/x)"
            assert shown in errors[command, "h"]


def test_library_log_lines_under_v_are_masked():
    """What `-v` turns on: the storage libraries' warnings on stderr, masked like the rest."""
    code = (
        "import logging, sys; from artver.cli import main; main._log_libraries_masked(); "
        f"logging.getLogger('s3fs').warning('retrying %s', {HTTPS_URL!r})"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert "WARNING:s3fs:retrying https://u:****@127.0.0.1:9/x" in proc.stderr
    assert_no_secret(proc.stderr, "a library's log line")


# -- the decisions, without a filesystem -------------------------------------------------------
@pytest.mark.parametrize(
    "key",
    [
        "access_key_id",
        "secret_access_key",
        "session_token",
        "account_key",
        "connection_string",
        "ConnectionString",
        "AccountKey",
        "SECRET_ACCESS_KEY",
        "my_token",
        "password",
        "client_secret",
        "sas_token",
        "passphrase",
        "Authorization",
        "api-key",
    ],
)
def test_secret_keys(key):
    assert redact.is_secret_key(key)


@pytest.mark.parametrize(
    "key",
    [
        "url",
        "jobs",
        "endpointurl",
        "region",
        "profile",
        "sse",
        "projectname",
        "account_name",
        "credentialpath",
        "key_filename",
        "keyfile",
        "Key_Path",
    ],
)
def test_harmless_keys(key):
    assert not redact.is_secret_key(key)


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("webdav://alice:PW@host/x", "webdav://alice:****@host/x"),
        ("https://u:PW@host/x", "https://u:****@host/x"),
        ("https://u:p@ss@host/x", "https://u:****@host/x"),
        ("https://TOKEN@host/x", "https://****@host/x"),
        ("sftp://alice@host/x", "sftp://alice@host/x"),
        ("s3://bucket/x@v1", "s3://bucket/x@v1"),
        (
            "cannot reach (http://a:b@127.0.0.1:9/x): down",
            "cannot reach (http://a:****@127.0.0.1:9/x): down",
        ),
        ('{"url": "http://a:PW@h/x"}', '{"url": "http://a:****@h/x"}'),
        ("no url here: a@b", "no url here: a@b"),
    ],
)
def test_urls_are_masked_in_any_text(text, shown):
    assert redact.mask_text(text) == shown


def test_public_url_drops_the_userinfo_with_a_secret():
    assert redact.public_url("webdav://alice:PW@host/x") == "webdav://host/x"
    assert redact.public_url("https://TOKEN@host/x") == "https://host/x"
    assert redact.public_url("sftp://alice@host/x") == "sftp://alice@host/x"
    assert redact.public_url("s3://bucket/x") == "s3://bucket/x"
    assert redact.url_secret("https://u:PW@host/x") == "PW"
    assert redact.url_secret("https://u@host/x") == "u"
    assert redact.url_secret("ssh://git@host/x") is None


def test_masking_by_key_at_any_depth_but_not_remote_names():
    data = {
        "core": {"remote": "backup-keys"},
        "remote": {
            "backup-keys": {"url": "s3://b/p", "secret_access_key": "S", "region": "eu"},
            "h": {
                "url": "https://u:PW@host/x",
                "client_kwargs": {"headers": {"Authorization": "B"}},
            },
        },
    }
    assert redact.mask_config(data) == {
        "core": {"remote": "backup-keys"},
        "remote": {
            "backup-keys": {"url": "s3://b/p", "secret_access_key": "****", "region": "eu"},
            "h": {
                "url": "https://u:****@host/x",
                "client_kwargs": {"headers": {"Authorization": "****"}},
            },
        },
    }
    assert redact.mask_key("remote.backup-keys.region", "eu") == "eu"
    assert redact.mask_key("remote.h.client_kwargs.headers.Authorization", "B") == "****"
    assert redact.secret_keys_in(data) == [
        "remote.backup-keys.secret_access_key",
        "remote.h.url",
        "remote.h.client_kwargs.headers.Authorization",
    ]


def test_values_of_watched_secrets_are_masked_wherever_they_appear(monkeypatch):
    monkeypatch.setattr(redact, "_watched", [])
    monkeypatch.setattr(redact, "_literals", None)
    redact.watch({"remote": {"dav": {"url": "webdav://a:pass%2Fword@h/x", "password": "hunter22"}}})
    assert redact.mask_text("login failed for hunter22") == "login failed for ****"
    assert redact.mask_text("bad password pass/word") == "bad password ****"
    assert redact.mask_text("short ab stays") == "short ab stays"
