"""Hints that tell the truth: what to `git add` after a run, what to do next."""

from __future__ import annotations

import sys

from artver.ops.repro import changed_outs

PY = sys.executable


def test_changed_outs_are_the_new_and_the_different():
    before = {"m.json": "a", "log.txt": "b"}
    assert changed_outs(before, {"m.json": "a", "log.txt": "c", "new.txt": "d"}) == [
        "log.txt",
        "new.txt",
    ]
    assert changed_outs(before, dict(before)) == []
    assert changed_outs({}, {"x": None}) == ["x"]


def test_repro_names_every_file_kept_in_git_that_the_run_changed(ws):
    ws.write("value.txt", "1\n")
    ws.write(
        "make.py",
        "import json\nv = open('value.txt').read().strip()\n"
        "open('model.bin', 'w').write('m' + v)\n"
        "json.dump({'v': int(v)}, open('metrics.json', 'w'))\n"
        "open('report.txt', 'w').write('same every time')\n",
    )
    ws.artver(
        "stage", "add", "-n", "make", "-d", "make.py", "-d", "value.txt", "-o", "model.bin",
        "-m", "metrics.json", "-O", "report.txt", f"{PY} make.py",
    )  # fmt: skip
    first = ws.artver("repro").stderr
    assert "git add .gitignore artver.lock metrics.json report.txt" in first, first
    ws.commit("first run")
    ws.write("value.txt", "2\n")
    second = ws.artver("repro").stderr
    # report.txt was rewritten with the same bytes: nothing to add for it
    assert "git add artver.lock metrics.json\n" in second, second
    ws.commit("second run")
    forced = ws.artver("repro", "-f").stderr
    assert "git add artver.lock\n" in forced, forced


def test_transfer_summary_counts_run_cache_entries():
    from types import SimpleNamespace

    from artver.ui import transfer_summary

    def result(transferred, runs):
        return SimpleNamespace(remote="'r' (/x)", transferred=transferred, nbytes=2048, runs=runs)

    assert transfer_summary("Pushed", result(3, 2)) == (
        "Pushed 3 objects (2.0 KiB) and 2 run-cache entries to 'r' (/x)"
    )
    assert transfer_summary("Pushed", result(0, 1)) == (
        "Pushed 1 run-cache entry to 'r' (/x); every object was already there."
    )
    assert transfer_summary("Fetched", result(0, 0)) == "Everything is already in the cache."


def test_push_reports_run_cache_entries_and_lists_print_json(ws, tmp_path):
    import json

    ws.write("make.py", "open('out.txt', 'w').write('x')\n")
    ws.artver("stage", "add", "-n", "make", "-d", "make.py", "-o", "out.txt", f"{PY} make.py")
    ws.artver("repro")
    ws.artver("remote", "add", "-d", "store", str(tmp_path / "store"))
    pushed = ws.artver("push", "--run-cache").stderr
    assert "and 1 run-cache entry to 'store'" in pushed, pushed
    again = json.loads(ws.artver("push", "--run-cache", "--json").stdout)
    assert again["transferred"] == 0 and again["runs"] == 0
    plan = json.loads(ws.artver("repro", "--dry-run", "--json").stdout)
    assert plan == {"stages": [{"name": "make", "reasons": [], "status": "up to date"}]}
    graph = json.loads(ws.artver("dag", "--json").stdout)
    assert graph == {"edges": [], "stages": [{"after": [], "name": "make"}]}
    gc = json.loads(ws.artver("gc", "-w", "--dry-run", "--json").stdout)
    assert gc["remove"] == [] and gc["kept"] >= 1
    fetched = json.loads(ws.artver("fetch", "--json").stdout)
    assert fetched["transferred"] == 0
    pulled = json.loads(ws.artver("pull", "--json").stdout)
    assert pulled["checked_out"] == [] and pulled["create"] == 0
    for args in (["repro", "--json"], ["gc", "-w", "--json"], ["dag", "--dot", "--json"]):
        res = ws.artver(*args, expect=2)
        assert res.stderr.startswith("error: ") and res.stderr.count("\n") == 1, res.stderr


def test_a_fresh_clone_is_told_to_pull_and_a_pull_of_lost_data_to_push_elsewhere(ws, tmp_path):
    import shutil
    import subprocess

    from tests.conftest import Workspace

    ws.write("data/a.txt", "a")
    ws.write("model.bin", "m")
    ws.artver("add", "data", "model.bin")
    ws.artver("remote", "add", "-d", "store", str(tmp_path / "store"))
    ws.artver("push")
    ws.commit("data")
    clone = tmp_path / "clone"
    subprocess.run(["git", "clone", "-q", str(ws.root), str(clone)], check=True)
    other = Workspace(clone)
    res = other.artver("status")
    assert res.stdout == "data: not in cache\nmodel.bin: not in cache\n", res.stdout
    assert "Run `artver pull` to fetch the data" in res.stderr and "artver add" not in res.stderr
    (ws.root / "model.bin").unlink()  # in the cache still: checkout brings it back
    res = ws.artver("status")
    assert "model.bin: missing" in res.stdout and "artver checkout" in res.stderr
    shutil.rmtree(tmp_path / "store")
    res = other.artver("pull", expect=1)
    assert "Push them from a machine whose cache has them" in res.stderr, res.stderr
    assert "This clone has no copy to send." in res.stderr


def test_a_progress_bar_never_shows_more_than_its_total():
    from artver.ui import RichProgress, capped

    assert capped(1003, 1000) == 1000 and capped(5, 1000) == 5 and capped(70, 0) == 70
    bar = RichProgress()
    bar.start("checking", files=2, nbytes=100)
    try:
        bar.advance(2, 80)
        bar.advance(1, 40)  # counted twice (a retry): the bar stays at its totals
        task = bar._bar.tasks[0]
        assert (task.completed, task.total, task.fields["done"]) == (100, 100, 2)
        columns = [type(c).__name__ for c in bar._bar.columns]
        assert "DownloadColumn" in columns
        assert bar._bar.columns[columns.index("DownloadColumn")].binary_units
    finally:
        bar.finish()
