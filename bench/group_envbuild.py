"""Benchmark group `envbuild`: what recreating a recorded Python environment costs
(`artver.stages.envbuild.python_for`, used by `artver replay --env recreate`).

The record: this interpreter's Python version and two packages, each a tiny wheel in a local
directory handed to uv as `UV_FIND_LINKS` + `UV_NO_INDEX` (no network). Timed in a fresh
Python process each, and reported as the time of the `python_for` call itself:

- the first call with an empty uv cache (uv unpacks the wheels), and with a warm one (what a
  second recorded environment sharing packages with the first costs);
- the second call for the same record: the environment is found in the cache by its key,
  nothing is run; held to 50 ms;
- the floor: the same `uv venv` + `uv pip install` run by hand, warm uv cache.

DVC cannot recreate an environment: no DVC column.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import platform
import sys
import zipfile
from pathlib import Path

from group_pipelines import Under
from groups import Context, group
from harness import Measurement, base_env, fresh_dir, measure, remove_tree, settle
from report import FloorSpec, GroupResult, RowSpec, Samples, WithinFloor

PACKAGES = {"bench-env-alpha": "1.0", "bench-env-beta": "2.0"}

# argv: cache dir, JSON record; prints {"seconds": time of python_for, "bin": its answer}.
CALL = """
import json, sys, time
from pathlib import Path
from artver.stages.envbuild import python_for
record = json.loads(sys.argv[2])
t0 = time.perf_counter()
bin_dir = python_for(record, Path(sys.argv[1]))
print(json.dumps({"seconds": time.perf_counter() - t0, "bin": bin_dir}))
"""

# argv: target dir, requirements...: uv venv + uv pip install, as python_for runs them.
FLOOR = """
import json, subprocess, sys, time
from uv import find_uv_bin
uv, target, reqs = find_uv_bin(), sys.argv[1], sys.argv[2:]
t0 = time.perf_counter()
subprocess.run([uv, "venv", "-q", "--relocatable", "--python", sys.executable, target], check=True)
subprocess.run([uv, "pip", "install", "-q", "--python", target + "/bin/python", "--no-deps",
                *reqs], check=True)
print(json.dumps({"seconds": time.perf_counter() - t0}))
"""


def write_wheel(folder: Path, name: str, version: str) -> None:
    """A valid pure-Python wheel holding one module with VERSION."""
    module = name.replace("-", "_")
    info = f"{module}-{version}.dist-info"
    files = {
        f"{module}/__init__.py": f'VERSION = "{version}"\n',
        f"{info}/METADATA": f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n",
        f"{info}/WHEEL": "Wheel-Version: 1.0\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
    }
    record = []
    with zipfile.ZipFile(folder / f"{module}-{version}-py3-none-any.whl", "w") as zf:
        for arc, text in files.items():
            zf.writestr(arc, text)
            digest = base64.urlsafe_b64encode(hashlib.sha256(text.encode()).digest()).rstrip(b"=")
            record.append(f"{arc},sha256={digest.decode()},{len(text.encode())}")
        zf.writestr(f"{info}/RECORD", "\n".join([*record, f"{info}/RECORD,,"]) + "\n")


def in_process(m: Measurement) -> Measurement:
    """The script's own timing of the call, not the process's (start-up is not the question)."""
    return Measurement(m.extra["seconds"], m.peak_mb, m.stdout, m.extra)


@group("envbuild", "replay --env recreate: build a 2-package env with uv, then reuse it", False)
def envbuild_group(ctx: Context) -> GroupResult:
    root = fresh_dir(ctx.runs / "envbuild")
    wheels = root / "wheels"
    wheels.mkdir()
    for name, version in PACKAGES.items():
        write_wheel(wheels, name, version)
    env = base_env()
    for name in ("UV_INDEX_URL", "UV_DEFAULT_INDEX", "UV_INDEX", "UV_EXTRA_INDEX_URL"):
        env.pop(name, None)
    env.update(UV_NO_INDEX="1", UV_FIND_LINKS=str(wheels))
    packages = {**PACKAGES, "pip": "24.0"}  # pip is recorded by most venvs, and skipped
    record = json.dumps({"python": {"version": platform.python_version(), "packages": packages}})
    reqs = [f"{n}=={v}" for n, v in PACKAGES.items()]
    samples = Samples()

    def call(cache: Path, uv_cache: Path) -> Measurement:
        m = measure(
            [sys.executable, "-c", CALL, str(cache), record],
            root,
            {**env, "UV_CACHE_DIR": str(uv_cache)},
            json_out=True,
        )
        return in_process(m)

    warm_uv = root / "uv-warm"
    call(root / "cache-prime", warm_uv)  # untimed: fills the warm uv cache
    for r in range(ctx.rounds):
        ctx.start_round("envbuild", r)
        settle()
        cold = call(root / f"cache-cold-{r}", root / f"uv-cold-{r}")
        floor_env = {**env, "UV_CACHE_DIR": str(warm_uv)}
        floor_cmd = [sys.executable, "-c", FLOOR, str(root / f"floor-{r}"), *reqs]
        # The floor and the first call alternate which goes first, so drift hits both alike.
        for step in ("floor", "first") if r % 2 else ("first", "floor"):
            settle()
            if step == "floor":
                floor = in_process(measure(floor_cmd, root, floor_env, json_out=True))
            else:
                first = call(root / f"cache-{r}", warm_uv)
        settle()
        again = call(root / f"cache-{r}", warm_uv)
        for op, m in (("first-cold", cold), ("first-warm", first), ("again", again)):
            samples.add("artver", op, m)
        samples.add("floor", "uv", floor)
        ctx.log(
            f"  first call {cold.wall:.3f}s (empty uv cache), {first.wall:.3f}s (warm); "
            f"again {again.wall * 1000:.2f} ms; uv by hand {floor.wall:.3f}s"
        )
    remove_tree(root)
    return GroupResult(
        name="envbuild",
        title="recreating a recorded environment (2 local packages)",
        samples=samples,
        rows=[
            RowSpec("python_for, first call, empty uv cache", "first-cold"),
            RowSpec(
                "python_for, first call, warm uv cache", "first-warm", (WithinFloor("uv", 1.3),)
            ),
            RowSpec("python_for, second call (cached)", "again", (Under(0.05),)),
        ],
        floors=[FloorSpec("uv", "uv venv + uv pip install by hand (warm uv cache)")],
        notes=[
            "times are of the python_for call inside its process (start-up excluded)",
            f"packages: {', '.join(reqs)} from a local find-links dir; {os.cpu_count()} CPUs",
        ],
    )
