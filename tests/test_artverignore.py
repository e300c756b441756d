""".artverignore: what it excludes inside tracked directories is never hashed, cached, listed,
reported or deleted; the rules are .gitignore's; editing them changes what status reports, on
the forked fast path too; `artver check-ignore` says which line decided."""

from __future__ import annotations

import json
import os
import random
from pathlib import Path

import pytest

from artver import ignore, parallel_scan
from artver.ignore import TreeIgnore, check_path, translate
from artver.parallel_scan import MIN_FILES, tree_print
from artver.workspace import fingerprint, scan_tree, split_point
from artver.yamlio import load_yaml
from tests.conftest import xxh
from tests.test_bad_input import assert_error, before


def manifest(ws, pointer: str = "data.artver") -> dict[str, list]:
    oid = load_yaml((ws.root / pointer).read_text())["outs"][0]["oid"]
    doc = json.loads(ws.cache_object(oid).read_bytes())
    return {row[0]: row[1:] for row in doc["files"]}


def status_json(ws) -> list[dict]:
    return json.loads(ws.artver("status", "--json").stdout)["artifacts"]


# -- the rules, on their own -------------------------------------------------------------------
def decided(tmp_path: Path, files: dict[str, str], rel: str, is_dir: bool = False):
    """(ignored?, "FILE:LINE:PATTERN" of the deciding line) for `rel`, with ignore files."""
    for where, text in files.items():
        path = tmp_path / where
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    found = check_path(str(tmp_path), rel, is_dir, lambda _, text: translate(text))
    if found is None:
        return False, None
    return found.ignores, f"{found.file}:{found.line}:{found.pattern}"


ROOT = ".artverignore"


@pytest.mark.parametrize(
    "rules,rel,is_dir,expected",
    [
        ("*.log\n", "data/x.log", False, (True, f"{ROOT}:1:*.log")),
        ("*.log\n", "data/x.log.txt", False, (False, None)),
        (
            "# a comment\n\n*.log\n!keep.log\n",
            "data/keep.log",
            False,
            (False, f"{ROOT}:4:!keep.log"),
        ),
        ("*.log\n!keep.log\n", "data/sub/other.log", False, (True, f"{ROOT}:1:*.log")),
        ("tmp/\n", "data/tmp", True, (True, f"{ROOT}:1:tmp/")),
        ("tmp/\n", "data/tmp", False, (False, None)),  # a file named tmp: `dir/` lines skip it
        ("tmp/\n", "data/tmp/deep/x.csv", False, (True, f"{ROOT}:1:tmp/")),  # below it
        ("tmp/\n!tmp/keep.csv\n", "data/tmp/keep.csv", False, (True, f"{ROOT}:1:tmp/")),
        ("/top.txt\n", "top.txt", False, (True, f"{ROOT}:1:/top.txt")),
        ("/top.txt\n", "data/top.txt", False, (False, None)),  # anchored at the file's dir
        ("data/only.txt\n", "data/only.txt", False, (True, f"{ROOT}:1:data/only.txt")),
        ("data/only.txt\n", "x/data/only.txt", False, (False, None)),  # a slash anchors it
        ("a/**/b.txt\n", "a/b.txt", False, (True, f"{ROOT}:1:a/**/b.txt")),
        ("a/**/b.txt\n", "a/x/y/b.txt", False, (True, f"{ROOT}:1:a/**/b.txt")),
        ("**/cache/\n", "data/deep/cache", True, (True, f"{ROOT}:1:**/cache/")),
        ("data/**\n!data/keep\n", "data/keep", False, (False, f"{ROOT}:2:!data/keep")),
        ("\\#hash\n", "#hash", False, (True, f"{ROOT}:1:\\#hash")),
        ("\\!bang\n", "!bang", False, (True, f"{ROOT}:1:\\!bang")),
        ("trailing   \n", "trailing", False, (True, f"{ROOT}:1:trailing   ")),
        ("[ab].csv\n", "data/b.csv", False, (True, f"{ROOT}:1:[ab].csv")),
        ("?.csv\n", "data/bb.csv", False, (False, None)),
        ("bad\\\n*.csv\n", "data/x.csv", False, (True, f"{ROOT}:2:*.csv")),  # git skips line 1
    ],
)
def test_gitignore_rules(tmp_path, rules, rel, is_dir, expected):
    assert decided(tmp_path, {ROOT: rules}, rel, is_dir) == expected


def test_a_deeper_file_overrides_and_patterns_are_relative_to_their_file(tmp_path):
    files = {ROOT: "*.csv\n", "data/.artverignore": "!keep.csv\n/local.txt\n"}
    assert decided(tmp_path, files, "data/keep.csv") == (False, "data/.artverignore:1:!keep.csv")
    assert decided(tmp_path, files, "data/sub/keep.csv") == (
        False,
        "data/.artverignore:1:!keep.csv",
    )
    assert decided(tmp_path, files, "data/other.csv") == (True, f"{ROOT}:1:*.csv")
    assert decided(tmp_path, files, "data/local.txt") == (True, "data/.artverignore:2:/local.txt")
    assert decided(tmp_path, files, "data/sub/local.txt") == (False, None)
    # A deeper file's line about directories does not decide about a file below one (Git).
    files = {ROOT: "*.csv\n", "data/.artverignore": "!keep/\n"}
    assert decided(tmp_path, files, "data/keep/x.csv") == (True, f"{ROOT}:1:*.csv")


def test_nothing_below_an_excluded_directory_is_walked(tmp_path):
    (tmp_path / "t/tmp").mkdir(parents=True)
    os.mkfifo(tmp_path / "t/tmp/pipe")  # an error anywhere else
    os.symlink(tmp_path / "nowhere", tmp_path / "t/broken.lnk")
    (tmp_path / "t/a.csv").write_text("a")
    (tmp_path / "t/.artverignore").write_text("tmp/\n*.lnk\n")
    rules = TreeIgnore(str(tmp_path), "t", lambda _, text: translate(text))
    files = scan_tree(str(tmp_path / "t"), "t", (), rules)
    assert sorted(f.rel for f in files) == [".artverignore", "a.csv"]
    assert set(rules.read) == {"t/.artverignore"}


@pytest.fixture
def two_cores(monkeypatch):
    from artver import config

    monkeypatch.setattr(parallel_scan, "usable_cores", lambda: 2)
    monkeypatch.setattr(config, "usable_cores", lambda: 2)
    monkeypatch.setattr(parallel_scan, "can_fork", lambda: True)


def test_the_forked_scan_applies_the_rules_above_the_tree_as_the_walk_does(tmp_path, two_cores):
    rng = random.Random(5)
    root = tmp_path / "data"
    for i in range(MIN_FILES + 300):
        sub = ["a", "b", "tmp", "c"][i % 4]
        name = f"f{i}.log" if i % 7 == 0 else f"f{i}.bin"
        path = root / sub / f"s{i % 3}" / name if i % 50 else root / f"top{i}.log"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(rng.randbytes(i % 20))
    (tmp_path / ".artverignore").write_text("*.log\ntmp/\n!top100.log\n")
    rules = TreeIgnore(str(tmp_path), "data", lambda _, text: translate(text))
    files = scan_tree(str(root), "data", (), rules)
    assert not any(f.rel.endswith(".log") and f.rel != "top100.log" for f in files)
    assert not any(f.rel.startswith("tmp/") for f in files)
    found = tree_print(str(root), MIN_FILES, 2, rules)
    assert found is not None
    assert (found.fingerprint, found.nfiles) == (
        fingerprint(files, split_point(str(root))),
        len(files),
    )
    # One at the tree's top is read by the parent, and its rules are shared out too.
    (root / ".artverignore").write_text("b/\n")
    files = scan_tree(str(root), "data", (), rules)
    assert not any(f.rel.startswith("b/") for f in files)
    found = tree_print(str(root), MIN_FILES, 2, rules)
    assert found is not None and found.fingerprint == fingerprint(files, split_point(str(root)))
    (root / "a" / ".artverignore").write_text("*.bin\n")  # deeper: the forked scan declines
    assert tree_print(str(root), MIN_FILES, 2, rules) is None


def test_translations_come_from_pathspec_and_are_plain_values():
    lines = translate("# c\n*.log\n!keep.log\n")
    assert [(n, text, ignores) for n, text, ignores, _, _ in lines] == [
        (2, "*.log", True),
        (3, "!keep.log", False),
    ]
    import marshal

    assert marshal.loads(marshal.dumps(lines)) == lines  # the state DB remembers them
    assert ignore.IGNORE_FILE == ".artverignore"


# -- add, status, commit, checkout ---------------------------------------------------------------
def make_data(ws) -> None:
    ws.write("data/a.csv", "a")
    ws.write("data/x.log", "log")
    ws.write("data/keep.log", "kept")
    ws.write("data/tmp/scratch.bin", "scratch")
    ws.write("data/sub/b.csv", "b")
    ws.write("data/sub/big.bin", "big")
    ws.write("data/only.txt", "anchored")
    os.mkfifo(ws.root / "data/tmp/pipe")  # inside an ignored directory: no error
    ws.write(".artverignore", "*.log\n!keep.log\ntmp/\n/data/only.txt\n")
    ws.write("data/sub/.artverignore", "*.bin\n")


def test_add_leaves_out_what_the_ignore_files_exclude(ws):
    make_data(ws)
    ws.artver("add", "data")
    files = manifest(ws)
    assert sorted(files) == ["a.csv", "keep.log", "sub/.artverignore", "sub/b.csv"]
    for content in (b"log", b"scratch", b"big", b"anchored"):
        assert not ws.cache_object(xxh(content)).exists(), content
    assert ws.cache_object(xxh(b"kept")).exists()
    assert ws.artver("status").stdout.strip() == "Data is up to date."
    ws.write("data/new.log", "ignored too")
    ws.write("data/sub/more.bin", "and this")
    assert ws.artver("status").stdout.strip() == "Data is up to date."
    ws.write("data/new.csv", "seen")
    assert status_json(ws)[0]["changes"] == {"new": ["new.csv"]}


def test_an_ignore_file_in_a_directory_above_the_tracked_one_applies(ws):
    ws.write("proj/.artverignore", "*.tmp\n/data/only.csv\n")
    ws.write("proj/data/a.csv", "a")
    ws.write("proj/data/x.tmp", "t")
    ws.write("proj/data/only.csv", "o")
    ws.write("proj/data/sub/only.csv", "kept: the line is anchored to proj/")
    ws.artver("add", "proj/data")
    assert sorted(manifest(ws, "proj/data.artver")) == ["a.csv", "sub/only.csv"]


def test_editing_an_ignore_file_changes_what_status_and_commit_see(ws):
    make_data(ws)
    ws.artver("add", "data")
    ws.artver("status")  # the tree's fingerprint is remembered
    ws.write(".artverignore", "*.log\ntmp/\n/data/only.txt\n")  # keep.log no longer kept
    assert status_json(ws)[0]["changes"] == {"deleted": ["keep.log"]}
    ws.write("data/sub/.artverignore", "")  # big.bin comes back
    assert status_json(ws)[0]["changes"] == {
        "deleted": ["keep.log"],
        "modified": ["sub/.artverignore"],
        "new": ["sub/big.bin"],
    }
    ws.artver("commit")
    assert sorted(manifest(ws)) == ["a.csv", "sub/.artverignore", "sub/b.csv", "sub/big.bin"]
    assert ws.artver("status").stdout.strip() == "Data is up to date."


def test_a_large_directory_sees_an_edit_of_the_rules_on_the_fast_path(ws):
    """Past MIN_FILES files a no-op status forks: the rules above the tree are applied there
    too, and their content is part of the remembered fingerprint."""
    for i in range(MIN_FILES + 200):
        ws.write(f"data/d{i % 8}/f{i}.{'log' if i % 10 == 0 else 'csv'}", str(i))
    ws.write(".artverignore", "*.log\n")
    ws.artver("add", "data")
    assert len(manifest(ws)) == MIN_FILES + 200 - (MIN_FILES + 200) // 10
    for _ in range(2):
        assert ws.artver("status").stdout.strip() == "Data is up to date."
    ws.write(".artverignore", "*.log\nd7/\n")
    changes = status_json(ws)[0]["changes"]
    assert set(changes) == {"deleted"} and all(p.startswith("d7/") for p in changes["deleted"])
    ws.write(".artverignore", "")
    changes = status_json(ws)[0]["changes"]
    assert set(changes) == {"new"} and all(p.endswith(".log") for p in changes["new"])
    ws.write(".artverignore", "*.log\n")
    assert ws.artver("status").stdout.strip() == "Data is up to date."


def test_checkout_never_deletes_or_overwrites_ignored_files(ws):
    make_data(ws)
    ws.artver("add", "data")
    ws.commit("v1")
    (ws.root / "data/a.csv").unlink()
    (ws.root / "data/sub/b.csv").write_text("edited")
    ws.artver("checkout", "--force")
    assert ws.read("data/a.csv") == b"a" and ws.read("data/sub/b.csv") == b"b"
    for rel, content in [
        ("data/x.log", b"log"),
        ("data/tmp/scratch.bin", b"scratch"),
        ("data/sub/big.bin", b"big"),
        ("data/only.txt", b"anchored"),
    ]:
        assert ws.read(rel) == content, rel
    assert (ws.root / "data/tmp/pipe").exists()
    # A recorded file that the rules now exclude, holding bytes found nowhere else: checkout
    # counts it as data it would lose.
    ws.write(".artverignore", "*.log\n!keep.log\ntmp/\n/data/only.txt\na.csv\n")
    ws.write("data/a.csv", "precious")
    state = before(ws)
    res = ws.artver("checkout", expect=None)
    assert_error(res, "data/a.csv", "not in the cache")
    state.assert_unchanged()
    ws.write("data/a.csv", "a")  # the recorded bytes: nothing to do
    ws.artver("checkout")
    assert ws.read("data/a.csv") == b"a"


def test_add_refuses_a_path_an_ignore_file_excludes(ws):
    make_data(ws)
    state = before(ws)
    res = ws.artver("add", "data/x.log", expect=None)
    assert_error(res, "data/x.log", "is ignored by .artverignore:1: *.log")
    res = ws.artver("add", "data/tmp/scratch.bin", expect=None)
    assert_error(res, "data/tmp/scratch.bin", ".artverignore:3: tmp/")
    state.assert_unchanged()


# -- check-ignore ---------------------------------------------------------------------------------
def test_check_ignore_prints_the_ignored_paths_and_exits_as_git_does(ws):
    make_data(ws)
    res = ws.artver("check-ignore", "data/x.log", "data/a.csv", "data/tmp/scratch.bin")
    assert res.stdout.splitlines() == ["data/x.log", "data/tmp/scratch.bin"]
    res = ws.artver("check-ignore", "-d", "data/x.log", "data/keep.log", "data/sub/big.bin")
    assert res.stdout.splitlines() == [
        ".artverignore:1:*.log\tdata/x.log",
        ".artverignore:2:!keep.log\tdata/keep.log",  # a `!` line decided: shown, not ignored
        "data/sub/.artverignore:1:*.bin\tdata/sub/big.bin",
    ]
    res = ws.artver("check-ignore", "data/a.csv", "data/keep.log", expect=1)
    assert res.stdout == "" and "error" not in res.stderr
    res = ws.artver("check-ignore", "-d", "big.bin", "b.csv", cwd=ws.root / "data/sub")
    assert res.stdout == ".artverignore:1:*.bin\tbig.bin\n"  # relative to where it ran
    doc = json.loads(ws.artver("check-ignore", "--json", "data/x.log", "data/a.csv").stdout)
    assert doc["paths"] == [
        {"path": "data/x.log", "ignored": True, "file": ".artverignore", "line": 1,
         "pattern": "*.log"},
        {"path": "data/a.csv", "ignored": False, "file": None, "line": None, "pattern": None},
    ]  # fmt: skip


def test_check_ignore_needs_a_path_and_a_path_inside_the_repository(ws, tmp_path):
    res = ws.artver("check-ignore", expect=2)
    assert "Missing argument" in res.stderr
    res = ws.artver("check-ignore", str(tmp_path / "elsewhere"), expect=None)
    assert_error(res, "outside the repository")
