"""Environment capture (issue 15.1), through the real CLI: the interpreter a stage's command
starts (real virtual environments, a fake pyenv-style shim), env recorded for the first time,
the pins that moved in each lock-file format, `env.image`, and the `observed` block."""

from __future__ import annotations

import base64
import hashlib
import os
import re
import shlex
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from artver.yamlio import load_yaml
from tests.test_bad_input import assert_error

DIGEST_A = "0123456789abcdef" * 4
DIGEST_B = "fedcba9876543210" * 4


def lock(ws) -> dict:
    return load_yaml((ws.root / "artver.lock").read_text())["stages"]


def wheel(folder: Path, version: str) -> Path:
    """A tiny pure-Python wheel of `tinypkg` (no build tool, no index)."""
    path = folder / f"tinypkg-{version}-py3-none-any.whl"
    info = f"tinypkg-{version}.dist-info"
    files = {
        "tinypkg/__init__.py": f"VERSION = {version!r}\n",
        f"{info}/METADATA": f"Metadata-Version: 2.1\nName: tinypkg\nVersion: {version}\n",
        f"{info}/WHEEL": "Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\n"
        "Tag: py3-none-any\n",
    }
    record = []
    for name, text in files.items():
        digest = base64.urlsafe_b64encode(hashlib.sha256(text.encode()).digest()).rstrip(b"=")
        record.append(f"{name},sha256={digest.decode()},{len(text)}")
    files[f"{info}/RECORD"] = "\n".join([*record, f"{info}/RECORD,,"]) + "\n"
    with zipfile.ZipFile(path, "w") as archive:
        for name, text in files.items():
            archive.writestr(name, text)
    return path


def install(venv: Path, wheel_path: Path) -> None:
    subprocess.run(
        [
            *(sys.executable, "-m", "pip", "--python", str(venv / "bin" / "python"), "install"),
            *("-q", "--no-index", "--no-deps", "--disable-pip-version-check", str(wheel_path)),
        ],
        check=True,
        capture_output=True,
    )


@pytest.fixture(scope="module")
def venvs(tmp_path_factory) -> dict[str, Path]:
    """Two real virtual environments: `plain` (nothing installed) and `tiny` (tinypkg 1.0)."""
    root = tmp_path_factory.mktemp("venvs")
    found = {}
    for name in ("plain", "tiny"):
        subprocess.run(
            [sys.executable, "-m", "venv", "--without-pip", str(root / name)], check=True
        )
        found[name] = root / name
    found["wheels"] = root
    install(found["tiny"], wheel(root, "1.0"))
    wheel(root, "2.0")
    return found


@pytest.fixture
def tiny(venvs, tmp_path) -> Path:
    """A venv of the test's own with tinypkg 1.0, for a test that upgrades it."""
    venv = tmp_path / "own-venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    install(venv, venvs["wheels"] / "tinypkg-1.0-py3-none-any.whl")
    return venv


def stage(cmd: str, env: str = "{python: true}", extra: str = "") -> str:
    return f"stages:\n  s:\n    cmd: {cmd}\n    outs: [out.txt]\n    env: {env}\n{extra}"


WRITE = "-c \"open('out.txt', 'w').write('x')\""


# -- which interpreter ---------------------------------------------------------------------------
def test_a_venv_python_given_by_path_is_the_one_inspected_and_an_upgrade_is_seen(ws, venvs, tiny):
    ws.write("artver.yaml", stage(f"{shlex.quote(str(tiny / 'bin' / 'python'))} {WRITE}"))
    ws.artver("repro")
    entry = lock(ws)["s"]
    # The venv's packages, not those of the python3 first on artver's PATH (which has pip).
    assert entry["env"]["python"]["packages"] == {"tinypkg": "1.0"}
    assert entry["observed"]["python"] == str(tiny / "bin" / "python")
    assert "up to date" in ws.artver("status").stdout
    install(tiny, venvs["wheels"] / "tinypkg-2.0-py3-none-any.whl")
    assert ws.artver("status").stdout.splitlines()[0] == "s: package tinypkg 1.0 -> 2.0"


def test_a_bare_python_is_found_on_the_path_the_stage_runs_with(ws, venvs):
    ws.write("artver.yaml", stage(f"cd . && exec python {WRITE}"))
    path = {"PATH": f"{venvs['tiny'] / 'bin'}{os.pathsep}{os.environ['PATH']}"}
    ws.artver("repro", env=path)
    assert lock(ws)["s"]["env"]["python"]["packages"] == {"tinypkg": "1.0"}
    path = {"PATH": f"{venvs['plain'] / 'bin'}{os.pathsep}{os.environ['PATH']}"}
    assert ws.artver("status", env=path).stdout.splitlines()[0] == (
        "s: package tinypkg 1.0 -> (none)"
    )


def test_a_relative_venv_path_is_resolved_against_the_stage_wdir(ws, venvs):
    (ws.root / "sub").mkdir()
    os.symlink(venvs["tiny"], ws.root / "sub" / ".venv")
    ws.write(
        "artver.yaml",
        "stages:\n  s:\n    cmd: PATH=/nowhere .venv/bin/python -c \"open('o', 'w')\"\n"
        "    wdir: sub\n    outs: [o]\n    env: {python: true}\n",
    )
    ws.artver("repro")
    assert lock(ws)["s"]["env"]["python"]["packages"] == {"tinypkg": "1.0"}


def test_a_command_that_starts_no_python_falls_back_to_python3_on_path(ws, venvs):
    ws.write("artver.yaml", stage("echo x > out.txt"))
    path = {"PATH": f"{venvs['tiny'] / 'bin'}{os.pathsep}{os.environ['PATH']}"}
    ws.artver("repro", env=path)
    assert lock(ws)["s"]["env"]["python"]["packages"] == {"tinypkg": "1.0"}


def test_an_interpreter_that_is_gone_is_a_reason_and_a_broken_shim_one_error(ws, venvs, tmp_path):
    os.symlink(venvs["tiny"], ws.root / ".venv")
    ws.write("artver.yaml", stage(f".venv/bin/python {WRITE}"))
    ws.artver("repro")
    (ws.root / ".venv").unlink()  # an earlier stage (or the user) makes it: not an error
    assert ws.artver("status").stdout.splitlines()[0] == "s: python .venv/bin/python not found"
    broken = tmp_path / "bin"
    broken.mkdir()
    (broken / "python3").write_text(
        "#!/bin/sh\necho 'pyenv: version 3.99 is not installed' >&2\nexit 1\n"
    )
    (broken / "python3").chmod(0o755)
    ws.write("artver.yaml", stage(f"python3 {WRITE}"))
    before = ws.snapshot()
    res = ws.artver(
        "status", expect=None, env={"PATH": f"{broken}{os.pathsep}{os.environ['PATH']}"}
    )
    assert_error(res, "stage s:", "did not say which Python it runs", "3.99 is not installed")
    assert ws.snapshot() == before


SHIM = """\
#!/bin/sh
# pyenv-like: PYENV_VERSION, else ./.python-version, else the global choice
echo started >> {log}
version="$PYENV_VERSION"
if [ -z "$version" ] && [ -f .python-version ]; then version=$(cat .python-version); fi
case "$version" in
  tiny) exec {tiny} "$@" ;;
  *) exec {plain} "$@" ;;
esac
"""


def test_a_shim_switch_by_variable_or_version_file_is_noticed(ws, venvs, tmp_path):
    shims, log = tmp_path / "shims", tmp_path / "shim.log"
    shims.mkdir()
    script = shims / "python"
    script.write_text(
        SHIM.format(
            log=log, tiny=venvs["tiny"] / "bin" / "python", plain=venvs["plain"] / "bin" / "python"
        )
    )
    script.chmod(0o755)
    path = {"PATH": f"{shims}{os.pathsep}{os.environ['PATH']}"}
    ws.write("artver.yaml", stage(f"python {WRITE}"))
    ws.artver("repro", env=path)
    assert lock(ws)["s"]["env"]["python"]["packages"] == {}
    assert lock(ws)["s"]["observed"]["python"] == str(venvs["plain"] / "bin" / "python")
    starts = len(log.read_text().splitlines())
    assert "up to date" in ws.artver("status", env=path).stdout
    # an unchanged shim state is not asked again: a no-op status starts no interpreter
    assert len(log.read_text().splitlines()) == starts
    switched = ws.artver("status", env={**path, "PYENV_VERSION": "tiny"}).stdout
    assert switched.splitlines()[0] == "s: package tinypkg (none) -> 1.0"
    ws.write(".python-version", "tiny\n")
    assert ws.artver("status", env=path).stdout.splitlines()[0] == (
        "s: package tinypkg (none) -> 1.0"
    )
    (ws.root / ".python-version").unlink()
    assert "up to date" in ws.artver("status", env=path).stdout


# -- what status says ----------------------------------------------------------------------------
def test_adding_env_to_a_stage_that_ran_is_one_reason(ws):
    ws.write("artver.yaml", "stages:\n  s:\n    cmd: echo x > out.txt\n    outs: [out.txt]\n")
    ws.artver("repro")
    ws.write("requirements.txt", "numpy==1.26.4\n")
    ws.write("artver.yaml", stage("echo x > out.txt", "{python: true, lock: [requirements.txt]}"))
    assert ws.artver("status").stdout.splitlines()[0] == "s: env recorded for the first time"


LOCK_FORMATS = [
    (
        "requirements.txt",
        "# pip-compile\nnumpy==1.26.4 \\\n    --hash=sha256:aa\npandas[excel]==2.1.0 ; "
        'python_version >= "3.9"\n    # via -r requirements.in\n',
        "# pip-compile\nnumpy==2.0.0 \\\n    --hash=sha256:bb\npandas[excel]==2.1.0 ; "
        'python_version >= "3.9"\n    # via -r requirements.in\n',
        "env lock requirements.txt: numpy 1.26.4 -> 2.0.0",
    ),
    (
        "uv.lock",
        'version = 1\n[[package]]\nname = "numpy"\nversion = "1.26.4"\nsource = { registry = '
        '"https://pypi.org/simple" }\n',
        'version = 1\n[[package]]\nname = "numpy"\nversion = "2.0.0"\nsource = { registry = '
        '"https://pypi.org/simple" }\n[[package]]\nname = "scipy"\nversion = "1.13.0"\n',
        "env lock uv.lock: numpy 1.26.4 -> 2.0.0, scipy (none) -> 1.13.0",
    ),
    (
        "poetry.lock",
        '[[package]]\nname = "Numpy"\nversion = "1.26.4"\n\n[metadata]\nlock-version = "2.0"\n',
        '[[package]]\nname = "Numpy"\nversion = "2.0.0"\n\n[metadata]\nlock-version = "2.0"\n',
        "env lock poetry.lock: numpy 1.26.4 -> 2.0.0",
    ),
    (
        "Pipfile.lock",
        '{"_meta": {}, "default": {"numpy": {"version": "==1.26.4"}}, "develop": {}}',
        '{"_meta": {}, "default": {"numpy": {"version": "==2.0.0"}}, "develop": {}}',
        "env lock Pipfile.lock: numpy 1.26.4 -> 2.0.0",
    ),
    (
        "environment.yml",
        "name: x\ndependencies:\n  - python=3.11\n  - numpy=1.26.4=py311h64a7726_0\n"
        "  - pip:\n    - torch==2.2.0\n",
        "name: x\ndependencies:\n  - python=3.11\n  - numpy=2.0.0=py311h1461c94_0\n"
        "  - pip:\n    - torch==2.3.0\n",
        "env lock environment.yml: numpy 1.26.4 -> 2.0.0, torch 2.2.0 -> 2.3.0",
    ),
    (
        "spec-file.txt",
        "# platform: linux-64\n@EXPLICIT\nhttps://conda.anaconda.org/conda-forge/linux-64/"
        "numpy-1.26.4-py311h64a7726_0.conda#abc\n",
        "# platform: linux-64\n@EXPLICIT\nhttps://conda.anaconda.org/conda-forge/linux-64/"
        "numpy-2.0.0-py311h1461c94_0.conda#def\n",
        "env lock spec-file.txt: numpy 1.26.4 -> 2.0.0",
    ),
]


@pytest.mark.parametrize(("name", "before", "after", "reason"), LOCK_FORMATS)
def test_a_changed_lock_file_names_the_pins_that_moved(ws, name, before, after, reason):
    ws.write(name, before)
    ws.write("artver.yaml", stage("echo x > out.txt", f"{{lock: [{name}]}}"))
    ws.artver("repro")
    assert lock(ws)["s"]["env"]["pins"][name]
    ws.write(name, after)
    assert ws.artver("status").stdout.splitlines()[0] == f"s: {reason}"


def test_a_lock_file_artver_cannot_read_still_makes_the_stage_stale(ws):
    ws.write("uv.lock", "[[package]\nname = broken\n")
    ws.write("artver.yaml", stage("echo x > out.txt", "{lock: [uv.lock]}"))
    ws.artver("repro")
    assert "pins" not in lock(ws)["s"]["env"]
    ws.write("uv.lock", "[[package]\nname = still broken\n")
    assert ws.artver("status").stdout.splitlines()[0] == "s: env lock file uv.lock changed"
    ws.write("uv.lock", "")
    (ws.root / "uv.lock").unlink()
    assert ws.artver("status").stdout.splitlines()[0] == "s: env lock file uv.lock missing"


# -- env.image -----------------------------------------------------------------------------------
def test_an_image_digest_is_part_of_the_identity(ws):
    ws.write("artver.yaml", stage("echo x > out.txt", f"{{image: 'python@sha256:{DIGEST_A}'}}"))
    ws.artver("repro")
    assert lock(ws)["s"]["env"]["image"] == f"python@sha256:{DIGEST_A}"
    ws.write("artver.yaml", stage("echo x > out.txt", f"{{image: 'python@sha256:{DIGEST_B}'}}"))
    assert ws.artver("status").stdout.splitlines()[0] == (
        "s: env image python@sha256:0123456789ab -> python@sha256:fedcba987654"
    )


@pytest.mark.parametrize(
    "image", ["python:3.11", "python@sha256:abc", f"python@sha1:{DIGEST_A}", "[1]"]
)
def test_an_image_without_a_sha256_digest_is_refused_with_file_and_line(ws, image):
    ws.write("artver.yaml", stage("echo x > out.txt", f"\n      image: {image}"))
    before = ws.snapshot()
    res = ws.artver("status", expect=None)
    assert_error(res, "artver.yaml, line 6", "env image must be NAME@sha256:DIGEST")
    assert ws.snapshot() == before


# -- observed ------------------------------------------------------------------------------------
NVIDIA_SMI = """\
#!/bin/sh
# the two calls artver makes, answered as an 8-GPU H200 machine's nvidia-smi answers them
if [ "$1" = "--query-gpu=name,driver_version" ]; then
  for i in 0 1; do echo "NVIDIA H200, 550.54.15"; done
  exit 0
fi
cat <<'EOF'
Tue Jun  4 10:12:33 2024
+-----------------------------------------------------------------------------------------+
| NVIDIA-SMI 550.54.15              Driver Version: 550.54.15      CUDA Version: 12.4     |
|-----------------------------------------+------------------------+----------------------+
EOF
"""


def test_observed_hardware_and_timing_are_recorded_and_never_make_a_stage_stale(ws, tmp_path):
    ws.write(
        "artver.yaml", "stages:\n  s:\n    cmd: sleep 0.2; echo x > out.txt\n    outs: [out.txt]\n"
    )
    ws.artver("repro", env={"PATH": f"/nonexistent{os.pathsep}{os.environ['PATH']}"})
    seen = lock(ws)["s"]["observed"]
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", seen["started"])
    assert 0.2 <= seen["duration"] < 30
    assert seen["cpu"]["count"] == os.cpu_count() and seen["memory"] > 0 and seen["kernel"]
    if not any(Path(p, "nvidia-smi").exists() for p in os.environ["PATH"].split(os.pathsep)):
        assert "gpu" not in seen
    # someone else's run, on another machine: nothing about it is part of the stage
    text = (ws.root / "artver.lock").read_text()
    text = text.replace(f"count: {os.cpu_count()}", "count: 999").replace(seen["started"], "x")
    (ws.root / "artver.lock").write_text(text)
    assert "up to date" in ws.artver("status").stdout
    assert "up to date" in ws.artver("repro").output


def test_a_gpu_seen_by_nvidia_smi_is_recorded_with_driver_cuda_and_devices(ws, tmp_path):
    fake = tmp_path / "bin"
    fake.mkdir()
    (fake / "nvidia-smi").write_text(NVIDIA_SMI)
    (fake / "nvidia-smi").chmod(0o755)
    env = {"PATH": f"{fake}{os.pathsep}{os.environ['PATH']}", "ARTVER_GPUS": "2"}
    ws.write(
        "artver.yaml",
        "stages:\n  s:\n    cmd: echo $CUDA_VISIBLE_DEVICES > out.txt\n    outs: [out.txt]\n"
        "    deps: [in.txt]\n    resources: {gpus: 1}\n",
    )
    ws.write("in.txt", "1")
    ws.artver("repro", env=env)
    assert lock(ws)["s"]["observed"]["gpu"] == {
        "model": "NVIDIA H200",
        "count": 2,
        "driver": "550.54.15",
        "cuda": "12.4",
        "devices": "0",
    }
    # the run cache does not care where a run ran: the same inputs restore it elsewhere
    ws.write("in.txt", "2")
    ws.artver("repro", env=env)
    ws.write("in.txt", "1")
    assert "Restored stage s" in ws.artver("repro", env={"ARTVER_GPUS": "2"}).output


def test_two_branches_that_ran_different_stages_merge_without_conflict(ws):
    ws.write(
        "artver.yaml",
        "stages:\n"
        "  a:\n    cmd: cat a.in > a.out\n    deps: [a.in]\n    outs: [a.out]\n"
        "  b:\n    cmd: cat b.in > b.out\n    deps: [b.in]\n    outs: [b.out]\n",
    )
    ws.write("a.in", "1")
    ws.write("b.in", "1")
    ws.artver("repro")
    ws.commit("both ran")
    ws.git("checkout", "-q", "-b", "other")
    ws.write("a.in", "2")
    ws.artver("repro")
    ws.commit("a ran again")
    ws.git("checkout", "-q", "main")
    ws.artver("checkout")  # main's outputs back, so that only b runs here
    ws.write("b.in", "2")
    ws.artver("repro")
    ws.commit("b ran again")
    ws.git("merge", "-q", "--no-edit", "other")  # check=True: a conflict fails the test
    merged = lock(ws)
    assert merged["a"]["observed"]["started"] and merged["b"]["observed"]["started"]
    ws.artver("checkout")
    assert ws.read("a.out") == b"2" and ws.read("b.out") == b"2"
    assert "up to date" in ws.artver("status").stdout
