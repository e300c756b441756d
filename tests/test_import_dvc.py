"""`artver import-dvc`: DVC's files as values, the mapping decisions, and whole conversions.

The DVC projects here are written by the tests themselves, byte for byte as DVC 3 writes its
files (checked once against real `dvc add` / `dvc repro` output): no DVC is needed.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import stat
import subprocess
import sys

import pytest

from artver.dvcimport import import_dvc
from artver.dvcimport.dvcfiles import (
    DvcFileError,
    DvcLockEntry,
    DvcOut,
    parse_dvc_config,
    parse_dvc_file,
    parse_dvc_lock,
)
from artver.dvcimport.mapping import (
    DVC_CACHE,
    WORKSPACE,
    adapt_pipeline,
    lock_reasons,
    map_config,
    out_source,
)
from artver.dvcimport.md5 import manifest_bytes, md5_bytes
from artver.stages.params import MISSING
from artver.stages.schema import Out, ParamRef, Stage
from tests.conftest import Workspace, git


# -- writing DVC 3 projects by hand ----------------------------------------------------------
def md5(data: bytes) -> str:
    return hashlib.md5(data).hexdigest()


class DvcProject(Workspace):
    """A Git repo holding a DVC project, its files written as DVC 3 writes them."""

    def init_dvc(self, config: str = "", local: str = "") -> None:
        self.write(".dvc/.gitignore", "/config.local\n/tmp\n/cache\n")
        self.write(".dvc/config", config)
        if local:
            self.write(".dvc/config.local", local)
        self.write(
            ".dvcignore",
            "# Add patterns of files dvc should ignore, which could improve\n"
            "# the performance. Learn more at\n"
            "# https://dvc.org/doc/user-guide/dvcignore\n",
        )

    def record(self, rel: str, cache: bool = True) -> dict:
        """DVC's record of the file or directory at `rel` (its objects put in DVC's cache)."""
        path = self.root / rel
        if path.is_file():
            data = path.read_bytes()
            if cache:
                self.cache_put(md5(data), data)
            return {"md5": md5(data), "size": len(data)}
        files = self.files(rel)
        for data in files.values():
            self.cache_put(md5(data), data)
        manifest = manifest_bytes([(r, md5(d)) for r, d in files.items()])
        digest = md5(manifest) + ".dir"
        self.cache_put(digest, manifest)
        return {"md5": digest, "size": sum(map(len, files.values())), "nfiles": len(files)}

    def cache_put(self, digest: str, data: bytes) -> None:
        path = self.root / ".dvc/cache/files/md5" / digest[:2] / digest[2:]
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)
            path.chmod(0o444)  # as DVC leaves its objects

    def dvc_add(self, rel: str) -> None:
        """What `dvc add REL` leaves: REL.dvc, a .gitignore line, the objects in the cache."""
        rec = self.record(rel)
        name = rel.rsplit("/", 1)[-1]
        nfiles = f"  nfiles: {rec['nfiles']}\n" if "nfiles" in rec else ""
        self.write(
            f"{rel}.dvc",
            f"outs:\n- md5: {rec['md5']}\n  size: {rec['size']}\n{nfiles}  hash: md5\n"
            f"  path: {name}\n",
        )
        self.ignore(rel)

    def ignore(self, rel: str) -> None:
        parent, _, name = rel.rpartition("/")
        gitignore = self.root / parent / ".gitignore"
        text = gitignore.read_text() if gitignore.exists() else ""
        gitignore.write_text(text + f"/{name}\n")

    def dvc_lock(self, stages: dict[str, dict]) -> None:
        """dvc.lock for `stages` (name -> {cmd, deps, params, outs}), as `dvc repro` writes."""
        lines = ["schema: '2.0'", "stages:"]
        for name, stage in stages.items():
            lines += [f"  {name}:", f"    cmd: {stage['cmd']}"]
            for section in ("deps", "params", "outs"):
                if not stage.get(section):
                    continue
                lines.append(f"    {section}:")
                if section == "params":
                    for file, values in stage["params"].items():
                        lines.append(f"      {file}:")
                        lines += [f"        {k}: {v}" for k, v in sorted(values.items())]
                    continue
                for path in sorted(stage[section]):
                    rec = self.record(path)
                    lines += [f"    - path: {path}", "      hash: md5", f"      md5: {rec['md5']}"]
                    lines.append(f"      size: {rec['size']}")
                    if "nfiles" in rec:
                        lines.append(f"      nfiles: {rec['nfiles']}")
        self.write("dvc.lock", "\n".join(lines) + "\n")

    def dvc_cache(self) -> dict[str, tuple[bytes, int]]:
        base = self.root / ".dvc/cache"
        return {
            p.relative_to(base).as_posix(): (p.read_bytes(), stat.S_IMODE(p.stat().st_mode))
            for p in sorted(base.rglob("*"))
            if p.is_file()
        }


@pytest.fixture
def dvc(tmp_path) -> DvcProject:
    root = tmp_path / "project"
    root.mkdir()
    git("init", "-q", cwd=root)
    return DvcProject(root)


# DVC's example-get-started, small: four stages, params.yaml, data/data.xml.dvc, metrics, plots.
DVC_YAML = """\
stages:
  prepare:
    cmd: python src/prepare.py data/data.xml
    deps:
    - data/data.xml
    - src/prepare.py
    params:
    - prepare.seed
    - prepare.split
    outs:
    - data/prepared
  featurize:
    cmd: python src/featurization.py data/prepared data/features
    deps:
    - data/prepared
    - src/featurization.py
    params:
    - featurize.max_features
    - featurize.ngrams
    outs:
    - data/features
  train:
    cmd: python src/train.py data/features model.pkl
    deps:
    - data/features
    - src/train.py
    params:
    - train.n_est
    - train.seed
    outs:
    - model.pkl
  evaluate:  # writes the metrics and the plots
    cmd: python src/evaluate.py model.pkl data/features
    deps:
    - data/features
    - model.pkl
    - src/evaluate.py
    outs:
    - eval
metrics:
- eval/metrics.json
plots:
- ROC:
    template: simple
    x: fpr
    y:
      eval/plots/sklearn/roc.json: tpr
- eval/plots/images
"""
PARAMS = """\
prepare:
  split: 0.2
  seed: 20170428
featurize:
  max_features: 100
  ngrams: 1
train:
  seed: 20170428
  n_est: 50
"""
SCRIPTS = {
    "src/prepare.py": (
        "import os, sys\nrows = open(sys.argv[1]).read().splitlines()\n"
        "os.makedirs('data/prepared', exist_ok=True)\n"
        "open('data/prepared/train.tsv', 'w').write('\\n'.join(rows[:2]) + '\\n')\n"
        "open('data/prepared/test.tsv', 'w').write('\\n'.join(rows[2:]) + '\\n')\n"
    ),
    "src/featurization.py": (
        "import os, sys\nos.makedirs(sys.argv[2], exist_ok=True)\n"
        "for n in ('train', 'test'):\n"
        "    data = open(f'{sys.argv[1]}/{n}.tsv').read().upper()\n"
        "    open(f'{sys.argv[2]}/{n}.pkl', 'w').write(data)\n"
    ),
    "src/train.py": (
        "import sys\nmodel = 'model:' + open(sys.argv[1] + '/train.pkl').read()\n"
        "open(sys.argv[2], 'w').write(model)\n"
    ),
    "src/evaluate.py": (
        "import json, os\nos.makedirs('eval/plots/sklearn', exist_ok=True)\n"
        "os.makedirs('eval/plots/images', exist_ok=True)\n"
        "json.dump({'avg_prec': 0.9, 'roc_auc': 0.8}, open('eval/metrics.json', 'w'))\n"
        "json.dump({'roc': [{'fpr': 0, 'tpr': 0}, {'fpr': 1, 'tpr': 1}]},"
        " open('eval/plots/sklearn/roc.json', 'w'))\n"
        "open('eval/plots/images/importance.png', 'wb').write(b'PNG')\n"
    ),
}
STAGES = {
    "prepare": {
        "cmd": "python src/prepare.py data/data.xml",
        "deps": ["data/data.xml", "src/prepare.py"],
        "params": {"params.yaml": {"prepare.seed": 20170428, "prepare.split": 0.2}},
        "outs": ["data/prepared"],
    },
    "featurize": {
        "cmd": "python src/featurization.py data/prepared data/features",
        "deps": ["data/prepared", "src/featurization.py"],
        "params": {"params.yaml": {"featurize.max_features": 100, "featurize.ngrams": 1}},
        "outs": ["data/features"],
    },
    "train": {
        "cmd": "python src/train.py data/features model.pkl",
        "deps": ["data/features", "src/train.py"],
        "params": {"params.yaml": {"train.n_est": 50, "train.seed": 20170428}},
        "outs": ["model.pkl"],
    },
    "evaluate": {
        "cmd": "python src/evaluate.py model.pkl data/features",
        "deps": ["data/features", "model.pkl", "src/evaluate.py"],
        "outs": ["eval"],
    },
}
DVC_CONFIG = """\
[core]
    remote = storage
['remote "storage"']
    url = s3://bucket/path
    endpointurl = http://localhost:9000
['remote "backup"']
    url = ../../backup
"""
DVC_LOCAL = """\
['remote "storage"']
    access_key_id = AKIAEXAMPLEKEY
    secret_access_key = wJalrXUtnFEMIsecretEXAMPLE
"""


def get_started(dvc: DvcProject) -> DvcProject:
    """The project after `dvc add data/data.xml` and `dvc repro`: clean, as `dvc status`
    would say."""
    dvc.init_dvc(DVC_CONFIG, DVC_LOCAL)
    dvc.write("params.yaml", PARAMS)
    for rel, text in SCRIPTS.items():
        dvc.write(rel, text)
    dvc.write("data/data.xml", '<posts>\n<row Id="1"/>\n<row Id="2"/>\n</posts>\n')
    dvc.dvc_add("data/data.xml")
    dvc.write("dvc.yaml", DVC_YAML)
    for stage in STAGES.values():  # as `dvc repro` runs them
        args = stage["cmd"].split()
        subprocess.run([sys.executable, *args[1:]], cwd=dvc.root, check=True)
        for out in stage["outs"]:
            dvc.ignore(out)
    dvc.dvc_lock(STAGES)
    return dvc


# -- DVC's formats ---------------------------------------------------------------------------
def test_dvc_file_of_a_file_and_of_a_directory():
    one = parse_dvc_file(
        "outs:\n- md5: b1946ac92492d2347c6235b4d2611184\n  size: 6\n  hash: md5\n"
        "  path: data.xml\n  desc: the posts\n  remote: s3\n",
        "data/data.xml.dvc",
    )
    (out,) = one.outs
    assert (out.path, out.md5, out.size, out.legacy) == ("data/data.xml", out.md5, 6, False)
    assert out.extra == {"desc": "the posts"} and out.dropped == ["remote"]
    folder = parse_dvc_file(
        "outs:\n- md5: b183d968216eaa7f930e37df4e0b9c4f.dir\n  size: 6\n  nfiles: 2\n"
        "  path: dir\n",  # no `hash: md5`: written by DVC 2
        "dir.dvc",
    ).outs[0]
    assert folder.is_dir and folder.nfiles == 2 and folder.legacy
    imported = parse_dvc_file(
        "deps:\n- path: data.csv\n  repo:\n    url: https://github.com/x/y\nouts:\n"
        "- md5: b1946ac92492d2347c6235b4d2611184\n  path: data.csv\n",
        "data.csv.dvc",
    )
    assert imported.source == "https://github.com/x/y data.csv"


@pytest.mark.parametrize(
    "text, message",
    [
        ("outs: [\n", "invalid YAML"),
        ("outs: []\n", "non-empty 'outs'"),
        ("outs:\n- path: ../../x\n  md5: b1946ac92492d2347c6235b4d2611184\n", "outside"),
        ("outs:\n- path: x\n  md5: nothex\n", "not an md5"),
    ],
)
def test_dvc_file_that_cannot_be_read_is_named(text, message):
    with pytest.raises(DvcFileError, match=message) as info:
        parse_dvc_file(text, "data/x.dvc")
    assert str(info.value).startswith("data/x.dvc: ")


def test_dvc_lock_paths_are_taken_from_the_stage_wdir():
    text = (
        "schema: '2.0'\nstages:\n  sub:\n    cmd: cat in.txt > out.txt\n    deps:\n"
        "    - path: in.txt\n      hash: md5\n      md5: ba8d2b9408ed255ee92a112fe7ba59be\n"
        "      size: 3\n    params:\n      params.yaml:\n        lr: 0.1\n    outs:\n"
        "    - path: out.txt\n      hash: md5\n      md5: ba8d2b9408ed255ee92a112fe7ba59be\n"
        "      size: 3\n"
    )
    entry = parse_dvc_lock(text, "dvc.lock", {"sub": "sub"})["sub"]
    assert entry.cmd == ["cat in.txt > out.txt"]
    assert list(entry.deps) == ["sub/in.txt"] and list(entry.outs) == ["sub/out.txt"]
    assert entry.params == {"sub/params.yaml": {"lr": 0.1}}
    with pytest.raises(DvcFileError, match="schema"):
        parse_dvc_lock("md5: abc\n", "dvc.lock", {})


def test_dvc_config_sections_as_dvc_writes_them():
    found = parse_dvc_config(DVC_CONFIG, ".dvc/config")
    assert found["core"] == {"remote": "storage"}
    assert found['remote "storage"']["endpointurl"] == "http://localhost:9000"


def test_dvc_md5s():
    # The digest real `dvc add` gave this directory (a-b/c, a.txt and a/b hold 2, 3 and 1).
    entries = [("a/b", md5(b"1\n")), ("a-b/c", md5(b"2\n")), ("a.txt", md5(b"3\n"))]
    assert md5(manifest_bytes(entries)) == "466fd66bf4e3da0f89c4eba6ca3ac722"
    assert md5_bytes(b"a\r\nb\n") == md5(b"a\r\nb\n")
    assert md5_bytes(b"a\r\nb\n", legacy=True) == md5(b"a\nb\n")  # DVC 2's dos2unix
    assert md5_bytes(b"\x00\r\n", legacy=True) == md5(b"\x00\r\n")  # binary: as it is


# -- the mapping decisions -------------------------------------------------------------------
def test_pipeline_is_copied_unless_artver_lacks_something():
    from artver.yamlio import load_yaml

    doc = load_yaml(DVC_YAML)
    assert adapt_pipeline(doc) == []
    doc = {
        "stages": {
            "train": {
                "cmd": "python train.py",
                "meta": {"owner": "me"},
                "outs": [{"model.pkl": {"remote": "s3", "cache": True}}],
                "metrics": ["metrics.json", {"path": "m2.json", "cache": False}],
                "plots": [{"loss.csv": {"x": "step", "push": False}}],
            },
            "gen": {"foreach": [1, 2], "do": {"cmd": "echo ${item}", "meta": 1}},
        },
        "vars": [{"a": 1}],
    }
    changes = adapt_pipeline(doc)
    train = doc["stages"]["train"]
    assert "meta" not in train and "meta" not in doc["stages"]["gen"]["do"]
    assert train["outs"] == [{"model.pkl": {"cache": True}}]
    assert train["metrics"] == [
        {"metrics.json": {"cache": True}},
        {"path": "m2.json", "cache": False},
    ]
    assert train["plots"] == [{"loss.csv": {"x": "step", "cache": True}}]
    assert "stage train: dropped 'meta' (artver has no use for it)" in changes
    assert "stage train: metrics.json: added cache: true (DVC's default)" in changes
    assert len(changes) == 6


def test_where_an_output_is_taken_from():
    assert out_source("a", "a", None, True) == (WORKSPACE, None)
    source, note = out_source("a", None, [], True)
    assert source == DVC_CACHE and "not in the workspace" in note
    source, note = out_source("a", "b", [], True)
    assert source == DVC_CACHE and "modified" in note
    assert out_source("a.dir", None, ["x/y"], True)[0] is None
    assert "dvc pull" in out_source("a", None, [""], True)[1]
    assert out_source("a", "b", [], False) == (
        None,
        "was modified in the workspace and is not cached (cache: false)",
    )


def test_why_a_stage_gets_no_lock_entry():
    stage = Stage(
        "train",
        ("python train.py",),
        "",
        "dvc.yaml",
        deps=("train.py",),
        params=(ParamRef("params.yaml", "lr"),),
        outs=(Out("model.pkl"),),
    )
    entry = DvcLockEntry(
        ["python train.py"],
        {"train.py": DvcOut("train.py", "a" * 32)},
        {"params.yaml": {"lr": 0.1}},
        {"model.pkl": DvcOut("model.pkl", "b" * 32)},
    )
    values = {"lr": 0.1}
    md5s = {"train.py": "a" * 32}

    def reasons(problems=None):
        return lock_reasons(
            stage,
            entry,
            lambda p, legacy: md5s.get(p),
            lambda f, k: values.get(k, MISSING),
            problems or {},
        )

    assert reasons() == []
    assert lock_reasons(stage, None, lambda p, legacy: None, lambda f, k: None, {}) == [
        "it has no entry in dvc.lock (it never ran with DVC)"
    ]
    values["lr"] = 0.2
    md5s["train.py"] = "c" * 32
    assert reasons({"model.pkl": "is gone"}) == [
        "dep train.py changed since dvc.lock",
        "param lr changed since dvc.lock (0.1 -> 0.2)",
        "out model.pkl is gone",
    ]
    assert "its cmd changed since dvc.lock" in lock_reasons(
        stage._replace(cmd=("python train.py --fast",)),
        entry,
        lambda p, legacy: "a" * 32,
        lambda f, k: 0.1,
        {},
    )


def test_config_secrets_go_to_the_local_file_only():
    committed = DVC_CONFIG.replace(
        "    endpointurl", "    sse_kms_key_id = k\n    session_token = TOKEN\n    endpointurl"
    )
    settings, skipped = map_config(
        parse_dvc_config(committed, "c"),
        parse_dvc_config(DVC_LOCAL + "[cache]\n    dir = /big\n", "l"),
    )
    assert [(s.level, s.key, s.value) for s in settings] == [
        ("repo", "core.remote", "storage"),
        ("repo", "remote.storage.url", "s3://bucket/path"),
        ("local", "remote.storage.session_token", "TOKEN"),  # a secret in .dvc/config
        ("repo", "remote.storage.endpointurl", "http://localhost:9000"),
        ("repo", "remote.backup.url", "../backup"),  # DVC's is relative to .dvc/
        ("local", "remote.storage.access_key_id", "AKIAEXAMPLEKEY"),
        ("local", "remote.storage.secret_access_key", "wJalrXUtnFEMIsecretEXAMPLE"),
    ]
    assert skipped == [
        "remote.storage.sse_kms_key_id: unknown option 'sse_kms_key_id' for a s3:// remote",
        "cache.dir: artver keeps its own cache in .artver/cache",
    ]
    secret = next(s for s in settings if s.key.endswith("secret_access_key"))
    assert secret.to_dict() == {
        "file": ".artver/config.local.yaml",
        "key": "remote.storage.secret_access_key",
        "value": "****",
        "exposed": False,
    }
    exposed = [s.value for s in settings if s.exposed]
    assert exposed == ["TOKEN"]  # it was in the committed .dvc/config: to be rotated


# -- whole conversions -----------------------------------------------------------------------
def test_example_get_started_converts_clean(dvc):
    get_started(dvc)
    before = {rel: data for rel, data in dvc.snapshot().items() if not rel.startswith(".artver")}
    cache_before = dvc.dvc_cache()

    result = dvc.artver("import-dvc")

    assert "stage evaluate: recorded in artver.lock" in result.stdout
    assert (
        "git add .artver/.gitignore .artver/config.yaml .artverignore artver.lock artver.yaml"
        " data/data.xml.artver" in result.stdout
    )
    assert (
        "git rm -r -q --ignore-unmatch -- .dvc .dvcignore data/data.xml.dvc dvc.lock dvc.yaml"
        in result.stdout
    )
    assert "wJalrXUtnFEMI" not in result.output
    assert dvc.artver("status").stdout == "Data and pipelines are up to date.\n"
    dry = dvc.artver("repro", "--dry-run").stdout
    assert dry.splitlines() == [f"{name}: up to date" for name in STAGES]
    assert "up to date" in dvc.artver("repro").stderr
    after = dvc.snapshot()
    assert {rel: after[rel] for rel in before} == before  # DVC's files and the data, unchanged
    assert dvc.dvc_cache() == cache_before
    assert (dvc.root / "artver.yaml").read_text() == DVC_YAML  # with its comment
    config = (dvc.root / ".artver/config.yaml").read_text()
    local = (dvc.root / ".artver/config.local.yaml").read_text()
    assert "remote: storage" in config and "endpointurl: http://localhost:9000" in config
    assert "url: ../backup" in config
    assert "AKIAEXAMPLEKEY" not in config and "wJalrXUtnFEMI" not in config
    assert "access_key_id: AKIAEXAMPLEKEY" in local
    assert "secret_access_key: wJalrXUtnFEMIsecretEXAMPLE" in local


def test_outputs_only_in_dvc_cache_and_changed_deps(dvc):
    get_started(dvc)
    data_xml = dvc.read("data/data.xml")
    prepared = dvc.files("data/prepared")
    os.unlink(dvc.root / "data/data.xml")
    shutil.rmtree(dvc.root / "data/prepared")
    dvc.write("src/train.py", SCRIPTS["src/train.py"] + "# edited\n")
    cache_before = dvc.dvc_cache()

    dry = import_dvc(dvc.root, dry_run=True)
    assert not (dvc.root / ".artver").exists()  # a dry run writes nothing
    plan = import_dvc(dvc.root)

    assert [(d.path, d.source, d.status) for d in plan.data] == [
        ("data/data.xml", DVC_CACHE, "converted")
    ]
    stages = {s.name: (s.status, s.reasons) for s in plan.pipelines[0].stages}
    assert stages == {
        "prepare": ("locked", []),
        "featurize": ("locked", []),
        "train": ("no lock", ["dep src/train.py changed since dvc.lock"]),
        "evaluate": ("locked", []),
    }
    assert [s.status for s in dry.pipelines[0].stages] == ["lock", "lock", "no lock", "lock"]
    assert dvc.dvc_cache() == cache_before
    dvc.artver("checkout")  # DVC's versions, from artver's cache now
    assert dvc.read("data/data.xml") == data_xml and dvc.files("data/prepared") == prepared
    plan_lines = dvc.artver("repro", "--dry-run").stdout.splitlines()
    assert plan_lines == [
        "prepare: up to date",
        "featurize: up to date",
        "train: would run (never run)",
        "evaluate: would run (upstream stage train will run)",
    ]


def test_data_in_neither_place_is_reported_and_the_rest_converted(dvc):
    dvc.init_dvc()
    dvc.write("data/a.txt", "a")
    dvc.write("data/b.txt", "b")
    dvc.dvc_add("data/a.txt")
    dvc.dvc_add("data/b.txt")
    os.unlink(dvc.root / "data/b.txt")
    for p in (dvc.root / ".dvc/cache").rglob("*"):
        if p.is_file() and p.read_bytes() == b"b":
            p.chmod(0o644)
            p.unlink()

    result = dvc.artver("import-dvc", "--json")

    doc = json.loads(result.stdout)
    assert [(d["path"], d["status"]) for d in doc["data"]] == [
        ("data/a.txt", "converted"),
        ("data/b.txt", "skip"),
    ]
    assert "dvc pull" in doc["data"][1]["note"]
    assert doc["complete"] is False and ".dvc" not in doc["git_rm"]
    assert doc["git_rm"] == [".dvcignore", "data/a.txt.dvc"]
    assert (dvc.root / "data/a.txt.artver").is_file()
    assert not (dvc.root / "data/b.txt.artver").exists()

    dvc.cache_put(md5(b"b"), b"b")  # `dvc pull`, then convert again: only the rest is done
    again = import_dvc(dvc.root)
    assert [(d.path, d.status) for d in again.data] == [
        ("data/a.txt", "unchanged"),
        ("data/b.txt", "converted"),
    ]
    assert again.complete and ".dvc" in again.git_rm()
    assert "data/b.txt: missing" in dvc.artver("status").stdout


# -- bad input: one message, exit 1, nothing written ------------------------------------------
def test_not_a_dvc_project(dvc):
    dvc.write("notes.txt", "x")
    result = dvc.artver("import-dvc", expect=1)
    assert "is not a DVC project" in result.stderr
    assert sorted(os.listdir(dvc.root)) == [".git", "notes.txt"]


@pytest.mark.parametrize(
    "rel, text",
    [
        ("artver.yaml", "stages: {}\n"),
        (".artverignore", "*.tmp\n"),
        ("data/a.txt.artver", "outs:\n- path: a.txt\n  hash: xxh3-128\n  oid: " + "0" * 32 + "\n"),
    ],
)
def test_artver_files_that_would_be_overwritten(dvc, rel, text):
    dvc.init_dvc()
    dvc.write("data/a.txt", "a")
    dvc.dvc_add("data/a.txt")
    dvc.write("dvc.yaml", "stages:\n  s:\n    cmd: echo\n")
    dvc.write(rel, text)
    before = dvc.snapshot()
    result = dvc.artver("import-dvc", expect=1)
    assert "would overwrite them" in result.stderr and rel in result.stderr
    assert dvc.snapshot() == before and not (dvc.root / ".artver").exists()


@pytest.mark.parametrize(
    "rel, text",
    [("data/a.txt.dvc", "outs:\n- md5: [\n"), ("dvc.yaml", "stages:\n  s:\n    cmd: [\n")],
)
def test_dvc_file_that_cannot_be_parsed(dvc, rel, text):
    dvc.init_dvc()
    dvc.write("data/a.txt", "a")
    dvc.dvc_add("data/a.txt")
    dvc.write(rel, text)
    before = dvc.snapshot()
    result = dvc.artver("import-dvc", "--dry-run", expect=1)
    assert result.stderr.startswith(f"error: {rel}: ") and "Traceback" not in result.stderr
    assert dvc.snapshot() == before
