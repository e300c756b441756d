"""Benchmark group `envcapture`: what `env: {python: true, lock: [...]}` costs `status`.

One pipeline of 200 stages, each running a virtual environment's `bin/python` (by path) with
`env: {python: true, lock: [requirements.txt]}` (300 pins), all run once. Timed:

- `status`, nothing changed: the interpreter is not started (its probe is remembered in the
  state DB while its stamps hold) and the lock file's pins are not parsed again. Held to 1.5x
  the floor: `status` of the same 200 stages without `env`. Most of the difference is the
  lock itself: each stage's entry records the 300 pins (2 MB for 200 stages), read on every
  command;
- the same with every stage's command starting no Python of its own, so that the first
  `python3` on PATH is described, and that `python3` a pyenv-style shim script (one more
  `-S` start when its state changes, none otherwise). Held to the same floor;
- `status` right after a package was installed into the venv (the stamp moved: one probe, ~one
  interpreter start) and right after the lock file changed (its pins parsed once): each under
  1 s.

DVC records no interpreter or package list for a stage, so there is no DVC column; the
floor is artver's own status of the pipeline without `env`.
"""

from __future__ import annotations

import subprocess
import sys

from group_pipelines import Under
from groups import Context, group, new_repo
from harness import base_env, fresh_dir, measure, remove_tree, run, settle
from report import FloorSpec, GroupResult, RowSpec, Samples, WithinFloor

STAGES = 200
PINS = 300
SHIM = '#!/bin/sh\nexec {python} "$@"\n'


def pipeline(python: str | None, env: bool) -> str:
    lines = ["stages:"]
    for i in range(STAGES):
        cmd = (
            f"{python} -c \"open('out/{i}.txt', 'w').write('{i}')\""
            if python
            else (f"echo {i} > out/{i}.txt")
        )
        lines += [f"  s{i}:", f"    cmd: {cmd}", f"    outs: [out/{i}.txt]"]
        if env:
            lines.append("    env: {python: true, lock: [requirements.txt]}")
    return "\n".join(lines) + "\n"


def requirements(moved: int = -1) -> str:
    return "".join(
        f"package-{i}=={'2' if i == moved else '1'}.0.{i} \\\n    --hash=sha256:{i:064x}\n"
        for i in range(PINS)
    )


@group(
    "envcapture", "status with env python + lock on 200 stages: no-op, shim, after changes", False
)
def envcapture_group(ctx: Context) -> GroupResult:
    root = fresh_dir(ctx.runs / "envcapture")
    pythons = {}
    for name in ("venv", "venv2"):  # venv2: the one packages are installed into
        subprocess.run(
            [sys.executable, "-m", "venv", "--without-pip", str(root / name)], check=True
        )
        pythons[name] = str(root / name / "bin" / "python")
    python = pythons["venv"]
    shims = root / "shims"
    shims.mkdir()
    (shims / "python3").write_text(SHIM.format(python=python))
    (shims / "python3").chmod(0o755)
    site = next((root / "venv2" / "lib").glob("python*/site-packages"))
    env = base_env()
    shim_env = {**env, "PATH": f"{shims}:{env['PATH']}"}

    repos = {}
    for name, text, repo_env in (
        ("venv", pipeline(python, True), env),
        ("shim", pipeline(None, True), shim_env),
        ("noenv", pipeline(python, False), env),
        ("changes", pipeline(pythons["venv2"], True), env),
    ):
        repo = new_repo(ctx, "artver", root / f"repo-{name}")
        (repo.path / "out").mkdir()
        (repo.path / "artver.yaml").write_text(text)
        (repo.path / "requirements.txt").write_text(requirements())
        run(repo.cmd("repro"), repo.path, repo_env)
        repos[name] = (repo, repo_env)

    samples = Samples()
    for r in range(ctx.rounds):
        ctx.start_round("envcapture", r)
        order = ["noenv", "venv", "shim"]
        for name in order[r % 3 :] + order[: r % 3]:
            repo, repo_env = repos[name]
            settle()
            m = measure(repo.cmd("status"), repo.path, repo_env)
            samples.add("floor" if name == "noenv" else "artver", f"status-{name}", m)
        repo, repo_env = repos["changes"]
        (site / f"benchpkg_{r}-1.0.dist-info").mkdir()
        (site / f"benchpkg_{r}-1.0.dist-info" / "METADATA").write_text(
            f"Metadata-Version: 2.1\nName: benchpkg-{r}\nVersion: 1.0\n"
        )
        settle()
        samples.add("artver", "installed", measure(repo.cmd("status"), repo.path, repo_env))
        (repo.path / "requirements.txt").write_text(requirements(moved=r))
        settle()
        samples.add("artver", "lock-changed", measure(repo.cmd("status"), repo.path, repo_env))
        ctx.log(
            "  status: "
            + ", ".join(
                f"{op} {samples[(who, op)][-1].wall:.3f}s"
                for who, op in (
                    ("floor", "status-noenv"),
                    ("artver", "status-venv"),
                    ("artver", "status-shim"),
                    ("artver", "installed"),
                    ("artver", "lock-changed"),
                )
            )
        )
    remove_tree(root)
    return GroupResult(
        name="envcapture",
        title=f"env capture on {STAGES} stages ({PINS}-pin requirements.txt)",
        samples=samples,
        rows=[
            RowSpec(
                "status, no change, env python (venv by path) + lock",
                "status-venv",
                (WithinFloor("status-noenv", 1.5),),
            ),
            RowSpec(
                "status, no change, env python (python3 is a shim script) + lock",
                "status-shim",
                (WithinFloor("status-noenv", 1.5),),
            ),
            RowSpec("status after a package install (one probe)", "installed", (Under(1.0),)),
            RowSpec(
                "status after the lock file changed (pins parsed)", "lock-changed", (Under(1.0),)
            ),
        ],
        floors=[FloorSpec("status-noenv", "status of the same stages without env")],
        notes=["DVC records no Python environment per stage: no DVC column"],
    )
