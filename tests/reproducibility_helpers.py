"""A small real pipeline for the hermetic, verify and replay tests.

- `prep` is deterministic: it reads data/raw.csv and a param, writes an output directory of
  three files and a text report;
- `noisy` writes four files into an output directory, three always the same and one of
  random bytes;
- `report` writes a text file whose third line changes from run to run.
"""

from __future__ import annotations

import os
import shlex
import sys

PY = shlex.quote(sys.executable)

PREP = """\
import os
os.makedirs("out", exist_ok=True)
rows = open("data/raw.csv").read().splitlines()
for i in range(3):
    open(f"out/part{i}.txt", "w").write(f"{i}:{len(rows)}\\n")
k = open("params.yaml").read().split()[-1]
seed = os.environ.get("ARTVER_SEED")
open("summary.txt", "w").write(f"rows {len(rows)}\\nk {k}\\nseed {seed}\\n")
"""

NOISY = """\
import os
os.makedirs("nout/sub", exist_ok=True)
for name in ("a.bin", "b.bin", "sub/c.bin"):
    open(f"nout/{name}", "wb").write(b"same bytes")
open("nout/sub/random.bin", "wb").write(os.urandom(32))
"""

REPORT = """\
import time
open("report.txt", "w").write("header\\nstable line\\nat %r\\nfooter\\n" % time.perf_counter_ns())
"""

PIPELINE = """\
stages:
  prep:
    cmd: PY src/prep.py
    deps: [src/prep.py, data/raw.csv]
    params: [prep.k]
    outs: [out, summary.txt]
    seed: 7
  noisy:
    cmd: PY src/noisy.py
    deps: [src/noisy.py]
    outs: [nout]
  report:
    cmd: PY src/report.py
    deps: [src/report.py]
    outs: [report.txt]
"""


def write_pipeline(ws, text: str) -> None:
    ws.write("artver.yaml", text.replace("PY ", f"{PY} "))


def setup_pipeline(ws, commit: bool = True) -> None:
    """The three stages, run once and (with `commit`) committed."""
    ws.write("src/prep.py", PREP)
    ws.write("src/noisy.py", NOISY)
    ws.write("src/report.py", REPORT)
    ws.write("data/raw.csv", "a\nb\nc\n")
    ws.write("params.yaml", "prep:\n  k: 1\n")
    write_pipeline(ws, PIPELINE)
    ws.artver("repro")
    if commit:
        ws.commit("pipeline")


def tree_state(root) -> dict[str, tuple[bytes, int]]:
    """Every file of the work tree outside .git and .artver with its bytes and mtime."""
    found = {}
    for dirpath, dirnames, filenames in os.walk(root):
        rel_dir = os.path.relpath(dirpath, root)
        if rel_dir.split(os.sep)[0] in (".git", ".artver"):
            dirnames[:] = []
            continue
        for name in filenames:
            path = os.path.join(dirpath, name)
            st = os.stat(path)
            with open(path, "rb") as fobj:
                found[os.path.relpath(path, root)] = (fobj.read(), st.st_mtime_ns)
    return found


def scratch_left(ws) -> list[str]:
    """What hermetic runs left under .artver/tmp (its .gitignore aside)."""
    top = ws.root / ".artver" / "tmp"
    if not top.is_dir():
        return []
    return sorted(p.name for p in top.iterdir() if p.name not in (".gitignore", "replay"))
