"""artver.api from Python against real repositories: a local-directory remote and moto S3."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from artver import api
from artver.errors import ArtverError
from tests.conftest import Workspace, git, xxh

V1 = {"a.txt": b"alpha v1\n", "sub/b.csv": b"x,y\n1,2\n"}
TRAIN = (
    "import json, shutil\n"
    "lr = float(open('params.yaml').read().split()[-1])\n"
    "shutil.copy('params.yaml', 'model.txt')\n"
    "json.dump({'acc': lr * 5}, open('metrics.json', 'w'))\n"
)
V2 = {"a.txt": b"alpha v2, longer\n", "sub/b.csv": b"x,y\n1,2\n", "c.txt": b"new\n"}


def registry(ws: Workspace, backend) -> None:
    """A repository with data/ at v1 and v2 pushed to `backend`, params and metrics in Git."""
    backend.add_to(ws, "store")
    for tag, files, lr in (("v1", V1, 0.1), ("v2", V2, 0.2)):
        for rel, data in files.items():
            ws.write(f"data/{rel}", data)
        if tag == "v2":
            ws.write("params.yaml", f"train:\n  lr: {lr}\n")
        ws.artver("add", "data")
        ws.write("params.yaml", f"train:\n  lr: {lr}\n")
        ws.write("metrics.json", json.dumps({"acc": lr * 5}))
        ws.write("train.py", TRAIN)
        ws.write(
            "artver.yaml",
            f"stages:\n  train:\n    cmd: {sys.executable} train.py\n    deps: [data]\n"
            "    params: [train.lr]\n    outs: [model.txt]\n"
            "    metrics:\n      - metrics.json:\n          cache: false\n",
        )
        ws.commit(tag, tag=tag)
        ws.artver("push")


def fresh_clone(ws: Workspace, tmp_path) -> Workspace:
    """A clone with the pointers and config but an empty cache and no data."""
    dest = tmp_path / "clone"
    git("clone", "-q", str(ws.root), str(dest), cwd=tmp_path)
    return Workspace(dest)


@pytest.mark.parametrize("kind", ["local", "s3"])
def test_open_streams_any_version_from_the_remote(ws, tmp_path, request, kind):
    backend = request.getfixturevalue(f"{kind}_backend" if kind == "s3" else "local_store")
    registry(ws, backend)
    clone = fresh_clone(ws, tmp_path)
    with api.open("data/a.txt", repo=clone.root, rev="v1") as fobj:
        assert fobj.read() == "alpha v1\n"
    assert api.read("data/sub/b.csv", repo=clone.root, rev="v2", mode="rb") == V2["sub/b.csv"]
    assert api.read("data/a.txt", repo=clone.root, rev="v2") == "alpha v2, longer\n"
    # Nothing was checked out, and the workspace has no data.
    assert not (clone.root / "data").exists()
    # Without rev: the workspace's version (its pointer's, when the file is not on disk).
    assert api.read("data/c.txt", repo=clone.root) == "new\n"
    # Files Git keeps, at a revision.
    assert api.read("params.yaml", repo=clone.root, rev="v1") == "train:\n  lr: 0.1\n"
    url = api.get_url("data/a.txt", repo=clone.root, rev="v1")
    assert url.endswith(f"{xxh(V1['a.txt'])[:2]}/{xxh(V1['a.txt'])[2:]}")
    assert url.startswith(f"{backend.kind if kind == 's3' else 'file'}://")


@pytest.fixture
def local_store(tmp_path):
    from tests.remotes_fixtures import LocalBackend

    return LocalBackend(tmp_path / "store")


def test_workspace_file_on_disk_is_read_as_it_is(ws, local_store):
    registry(ws, local_store)
    ws.write("data/a.txt", b"edited, not added\n")
    assert api.read("data/a.txt", repo=ws.root) == "edited, not added\n"
    assert api.read("data/a.txt", repo=ws.root, rev="HEAD") == "alpha v2, longer\n"


def test_params_metrics_and_experiments(ws, local_store):
    registry(ws, local_store)
    assert api.params_show(repo=ws.root) == {"train": {"lr": 0.2}}
    assert api.params_show(repo=ws.root, rev="v1") == {"train": {"lr": 0.1}}
    assert api.metrics_show(repo=ws.root, rev="v1") == {"acc": 0.5}
    ws.artver("repro")
    ws.commit("ran")
    ws.artver("exp", "run", "-n", "faster", "-S", "train.lr=0.3")
    rows = api.exp_show(repo=ws.root)
    assert [r["name"] for r in rows] == ["main", "faster"]
    assert rows[1]["params"]["params.yaml"]["train.lr"] == 0.3
    assert api.params_show(repo=ws.root, rev="faster") == {"train": {"lr": 0.3}}


def test_corrupt_remote_bytes_raise_at_the_end(ws, tmp_path, local_store):
    registry(ws, local_store)
    clone = fresh_clone(ws, tmp_path)
    oid = xxh(V1["a.txt"])
    local_store.put(f"{oid[:2]}/{oid[2:]}", b"tampered!\n")
    with pytest.raises(api.CorruptData, match="is corrupt"):
        api.read("data/a.txt", repo=clone.root, rev="v1")


def test_an_object_the_remote_lacks_is_named_with_the_remote(ws, tmp_path, local_store):
    registry(ws, local_store)
    clone = fresh_clone(ws, tmp_path)
    oid = xxh(V1["a.txt"])
    local_store.delete(f"{oid[:2]}/{oid[2:]}")
    with pytest.raises(ArtverError, match=f"object {oid} is neither in the cache nor on remote"):
        api.read("data/a.txt", repo=clone.root, rev="v1")


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"path": "data/nope.txt", "rev": "v1"}, "no such file in v1"),
        ({"path": "data/a.txt", "rev": "v9"}, "unknown Git revision 'v9'"),
        ({"path": "data", "rev": "v1"}, "is a directory"),
        ({"path": "../outside.txt"}, "inside the repository"),
        ({"path": "data/a.txt", "mode": "w"}, "mode must be 'r' or 'rb'"),
        ({"path": "params.yaml", "get_url": True}, "is kept in Git"),
    ],
)
def test_bad_input_raises_one_clear_error(ws, local_store, kwargs, message):
    registry(ws, local_store)
    kwargs = dict(kwargs)
    with pytest.raises(ArtverError, match=message.replace("(", r"\(").replace(")", r"\)")):
        if kwargs.pop("get_url", False):
            api.get_url(repo=ws.root, **kwargs)
        else:
            api.read(repo=ws.root, **kwargs)


def test_importing_the_api_is_cheap():
    """`import artver.api` must not pull in the CLI framework or a remote's SDK."""
    code = (
        "import sys, artver.api\n"
        "print(sorted(m for m in ('typer', 's3fs', 'rich') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
