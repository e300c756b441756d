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
