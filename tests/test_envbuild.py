"""Recreating a recorded Python environment with uv (`stages.envbuild`, `replay --env recreate`).

No internet: the package index is a directory of tiny wheels written here (two versions of
`artver-demo-pkg`, each a module with VERSION and a console script printing it), handed to uv
as `UV_FIND_LINKS` + `UV_NO_INDEX` or to pip's settings as `PIP_FIND_LINKS` + `PIP_NO_INDEX`.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import platform
import subprocess
import sys
import threading
import time
import zipfile
from pathlib import Path

import pytest

from artver.stages import envbuild, envuv
from artver.stages.envbuild import EnvRecreateError, plan, project_names, python_for
from artver.stages.envindex import UV_INDEX_VARS, pip_config_paths, uv_index_args
from artver.stages.envuv import missing_in, reap
from tests.test_bad_input import assert_error

PY = platform.python_version()
DEMO = "artver-demo-pkg"
INDEX_VARS = (*UV_INDEX_VARS, "PIP_INDEX_URL", "PIP_EXTRA_INDEX_URL", "PIP_FIND_LINKS")


def write_wheel(folder: Path, name: str, version: str) -> Path:
    """A valid pure-Python wheel: a module with VERSION, a console script, and the WHEEL,
    METADATA and RECORD files."""
    module = name.replace("-", "_")
    info = f"{module}-{version}.dist-info"
    files = {
        f"{module}/__init__.py": f'VERSION = "{version}"\n\n\ndef main():\n    print(VERSION)\n',
        f"{info}/METADATA": f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n",
        f"{info}/WHEEL": "Wheel-Version: 1.0\nGenerator: artver-tests\nRoot-Is-Purelib: true\n"
        "Tag: py3-none-any\n",
        f"{info}/entry_points.txt": f"[console_scripts]\n{name} = {module}:main\n",
    }
    path = folder / f"{module}-{version}-py3-none-any.whl"
    record = []
    with zipfile.ZipFile(path, "w") as zf:
        for arc, text in files.items():
            data = text.encode()
            zf.writestr(arc, data)
            digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=")
            record.append(f"{arc},sha256={digest.decode()},{len(data)}")
        zf.writestr(f"{info}/RECORD", "\n".join([*record, f"{info}/RECORD,,"]) + "\n")
    return path


@pytest.fixture(scope="session")
def wheels(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("wheels")
    for version in ("1.0", "2.0"):
        write_wheel(folder, DEMO, version)
    write_wheel(folder, "artver-other-pkg", "0.5")
    return folder


@pytest.fixture(scope="session")
def uv_cache(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("uv-cache")  # shared by the tests: each HOME is fresh


@pytest.fixture
def no_index(monkeypatch, uv_cache):
    """No index configured anywhere: each test says where packages come from."""
    for name in INDEX_VARS:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("PIP_CONFIG_FILE", os.devnull)  # pip's way to read no pip.conf
    monkeypatch.setenv("UV_CACHE_DIR", str(uv_cache))
    # No pyenv/asdf Pythons of this machine: which versions exist is up to each test.
    monkeypatch.setenv("PYENV_ROOT", str(uv_cache / "no-pyenv"))
    monkeypatch.setenv("ASDF_DATA_DIR", str(uv_cache / "no-asdf"))


@pytest.fixture
def local_index(no_index, monkeypatch, wheels) -> Path:
    monkeypatch.setenv("UV_NO_INDEX", "1")
    monkeypatch.setenv("UV_FIND_LINKS", str(wheels))
    return wheels


def record(packages: dict | None, version: str = PY) -> dict:
    python: dict = {"version": version, "platform": platform.platform()}
    if packages is not None:
        python["packages"] = packages
    return {"python": python, "fingerprint": "f" * 32}


def run_py(bin_dir: str, code: str) -> str:
    # cwd: not this checkout, whose artver.egg-info `-c` would put on sys.path
    cmd = [f"{bin_dir}/python", "-c", code]
    out = subprocess.run(cmd, capture_output=True, text=True, cwd=Path(bin_dir).parent)
    assert out.returncode == 0, out.stderr
    return out.stdout.strip()


def leftovers(cache: Path) -> list[str]:
    envs = cache / "envs"
    return sorted(p.name for p in envs.iterdir()) if envs.exists() else []


# --- building, against a local index ---------------------------------------------------------


def test_builds_exactly_the_recorded_python_and_package_versions(local_index, tmp_path):
    bin_dir = python_for(record({DEMO: "1.0", "pip": "24.0"}), tmp_path / "cache")
    assert Path(bin_dir).parent.parent == tmp_path / "cache" / "envs"
    assert run_py(bin_dir, "import artver_demo_pkg as m; print(m.VERSION)") == "1.0"
    assert run_py(bin_dir, "import platform; print(platform.python_version())") == PY
    # Exactly the recorded distributions: no pip (skipped), nothing pulled in beside them.
    names = run_py(
        bin_dir,
        "from importlib import metadata; print(sorted(d.metadata['Name'] for d in "
        "metadata.distributions()))",
    )
    assert names == f"['{DEMO}']"
    # Built elsewhere and renamed into place: its console script still runs.
    script = subprocess.run([f"{bin_dir}/{DEMO}"], capture_output=True, text=True)
    assert script.stdout == "1.0\n", script.stderr
    assert leftovers(tmp_path / "cache") == [Path(bin_dir).parent.name]


def test_a_second_call_installs_nothing(local_index, tmp_path, monkeypatch):
    rec = record({DEMO: "2.0", "artver-other-pkg": "0.5"})
    first = python_for(rec, tmp_path / "cache")
    marker = Path(first).parent / envbuild.MARKER
    stamp = marker.stat().st_mtime_ns

    def no_uv(*args, **kwargs):
        raise AssertionError("uv ran again")

    monkeypatch.setattr(envuv, "run_uv", no_uv)
    started = time.perf_counter()
    assert python_for(rec, tmp_path / "cache") == first
    assert time.perf_counter() - started < 0.05
    assert marker.stat().st_mtime_ns == stamp
    assert run_py(first, "import artver_demo_pkg as m; print(m.VERSION)") == "2.0"


def test_pip_settings_are_used_when_uv_has_none(no_index, monkeypatch, wheels, tmp_path):
    monkeypatch.setenv("PIP_NO_INDEX", "1")
    monkeypatch.setenv("PIP_FIND_LINKS", str(wheels))
    bin_dir = python_for(record({DEMO: "2.0"}), tmp_path / "cache")
    assert run_py(bin_dir, "import artver_demo_pkg as m; print(m.VERSION)") == "2.0"


def test_versions_that_cannot_be_had_are_all_named_and_nothing_is_left(local_index, tmp_path):
    rec = record({DEMO: "3.0", "artver-other-pkg": "0.5", "not-on-any-index": "1.2"})
    with pytest.raises(EnvRecreateError) as err:
        python_for(rec, tmp_path / "cache")
    text = str(err.value)
    assert "2 of its 3 packages cannot be installed" in text
    assert f"{DEMO}==3.0: no such version on the package index" in text, text
    assert "not-on-any-index==1.2: no such package on the package index" in text
    assert "artver-other-pkg" not in text
    assert "--env current" in text
    assert err.value.missing == [f"{DEMO}==3.0", "not-on-any-index==1.2"]
    assert leftovers(tmp_path / "cache") == []


@pytest.mark.parametrize("version", ["2.7.18", "3.99.1"])
def test_a_python_that_is_not_installed_is_named(local_index, tmp_path, version):
    with pytest.raises(EnvRecreateError) as err:
        python_for(record({DEMO: "1.0"}, version), tmp_path / "cache")
    assert f"Python {version} is not installed on this machine" in str(err.value)
    assert "does not download interpreters" in str(err.value)
    assert PY in str(err.value).split("Pythons found here:")[1]
    assert err.value.missing == [f"python=={version}"]
    assert leftovers(tmp_path / "cache") == []


def test_a_pyenv_python_is_used_only_when_it_is_that_version(local_index, tmp_path, monkeypatch):
    fake = tmp_path / "pyenv" / "versions" / "3.99.2" / "bin"
    fake.mkdir(parents=True)
    (fake / "python").symlink_to(sys.executable)  # claims 3.99.2, runs this interpreter
    monkeypatch.setenv("PYENV_ROOT", str(tmp_path / "pyenv"))
    with pytest.raises(EnvRecreateError) as err:
        python_for(record({DEMO: "1.0"}, "3.99.2"), tmp_path / "cache")
    text = str(err.value)
    assert "Python 3.99.2 is installed here, but no virtual environment could be made" in text
    assert f"3.99.2/bin/python runs Python {PY}" in text
    assert leftovers(tmp_path / "cache") == []


@pytest.mark.parametrize(
    "rec",
    [{}, {"python": {"version": PY}}, record({}), {"lock": {"requirements.txt": "abc"}}],
    ids=["no-env", "no-packages-key", "empty-packages", "lock-only"],
)
def test_a_record_without_a_package_list_cannot_be_recreated(rec, tmp_path):
    with pytest.raises(EnvRecreateError) as err:
        python_for(rec, tmp_path / "cache")
    assert "cannot recreate" in str(err.value) and "no Python package list" in str(err.value)
    assert "`--env current` runs the stage with this machine's Python" in str(err.value)
    assert not (tmp_path / "cache").exists()


def test_a_half_built_environment_is_never_ready_and_is_replaced(local_index, tmp_path):
    rec = record({DEMO: "1.0"})
    key = plan(rec).key
    half = tmp_path / "cache" / "envs" / key
    (half / "bin").mkdir(parents=True)  # what a copy without the marker would look like
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    killed = tmp_path / "cache" / "envs" / f".tmp.{dead.pid}.{envuv.host()}.abc123"
    (killed / "env" / "bin").mkdir(parents=True)
    bin_dir = python_for(rec, tmp_path / "cache")
    assert run_py(bin_dir, "import artver_demo_pkg as m; print(m.VERSION)") == "1.0"
    assert leftovers(tmp_path / "cache") == [key]


def test_concurrent_builds_of_one_environment_agree(local_index, tmp_path):
    rec, results, errors = record({DEMO: "2.0"}), [], []

    def one() -> None:
        try:
            results.append(python_for(rec, tmp_path / "cache"))
        except Exception as exc:  # reported below, in the test's thread
            errors.append(exc)

    threads = [threading.Thread(target=one) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == [] and len(set(results)) == 1
    assert leftovers(tmp_path / "cache") == [plan(rec).key]
    assert run_py(results[0], "import artver_demo_pkg as m; print(m.VERSION)") == "2.0"


# --- decisions, over values --------------------------------------------------------------------


def test_plan_pins_what_is_installable_and_skips_the_rest():
    rec = record(
        {
            "Artver_Demo.Pkg": "1.0",
            "pip": "24.0",
            "artver": "0.1.dev0",
            "pkg-resources": "0.0.0",
            "setuptools": "65.5.0",
            "myproject": "0.3",
        }
    )
    made = plan(rec, skip=["MyProject"])
    assert made.python == PY
    assert made.requirements == (f"{DEMO}==1.0", "setuptools==65.5.0")
    assert made.skipped == (
        "artver==0.1.dev0",
        "myproject==0.3",
        "pip==24.0",
        "pkg-resources==0.0.0",
    )
    # The key: what is installed and where, not the record's other fields.
    other = {**rec, "fingerprint": "0" * 32, "vars": {"X": "1"}}
    assert plan(other, skip=["myproject"]).key == made.key
    assert plan(record({DEMO: "1.0", "setuptools": "65.5.0"})).key == made.key
    assert plan(record({DEMO: "2.0", "setuptools": "65.5.0"})).key != made.key
    assert plan(record({DEMO: "1.0", "setuptools": "65.5.0"}, "3.12.1")).key != made.key
    assert plan(rec, machine="darwin-arm64").key != plan(rec, machine="linux-x86_64").key


@pytest.mark.parametrize(
    ("python", "packages", "named"),
    [
        ("/tmp/evil/python", {DEMO: "1.0"}, "'/tmp/evil/python': not a Python version"),
        (PY, {"--index-url=http://evil": "1"}, "'--index-url=http://evil'"),
        (PY, {DEMO: "1.0 --find-links /tmp"}, "'1.0 --find-links /tmp'"),
        (PY, {DEMO: 1.0}, "1.0"),
    ],
)
def test_plan_refuses_what_is_not_a_name_or_version(python, packages, named):
    with pytest.raises(EnvRecreateError) as err:
        plan(record(packages, python))
    assert named in str(err.value)


def test_project_names_reads_pyproject_and_setup_cfg(tmp_path):
    assert project_names(tmp_path) == set()
    (tmp_path / "pyproject.toml").write_text('[project]\nname = "My_Project"\n')
    (tmp_path / "setup.cfg").write_text("[metadata]\nname = other.lib\n")
    assert project_names(tmp_path) == {"my-project", "other-lib"}


UV_NO_VERSION = """Using Python 3.11.7 environment at: env
error: No solution found when resolving dependencies
  cause: Because there is no version of artver-demo-pkg==3.0 and you require artver-demo-pkg==3.0, we can conclude that your requirements are unsatisfiable.
"""  # noqa: E501
UV_NOT_FOUND = """error: No solution found when resolving dependencies
  cause: Because other-missing was not found in the package registry and you require other-missing==0.1, we can conclude that your requirements are unsatisfiable.
"""  # noqa: E501
UV_NO_WHEEL = """error: No solution found when resolving dependencies
  cause: Because armonly==1.0 has no wheels with a matching platform tag (e.g., `manylinux_2_36_x86_64`) and you require armonly==1.0, we can conclude that your requirements are unsatisfiable.

hint: Wheels are available for `armonly` (v1.0) on the following platform: `linux_aarch64`
"""  # noqa: E501
UV_BUILD = """   Building broken==1.0
error: Failed to build `broken==1.0`
  cause: The build backend returned an error
hint: This error likely indicates that `broken@1.0` depends on `setuptools`, but doesn't declare it as a build dependency. Or `uv pip install setuptools==65.5.0`.
"""  # noqa: E501


def test_missing_in_reads_what_uv_says_cannot_be_had():
    reqs = [
        f"{DEMO}==3.0",
        "other-missing==0.1",
        "armonly==1.0",
        "broken==1.0",
        "setuptools==65.5.0",
    ]
    assert missing_in(UV_NO_VERSION, reqs) == {
        f"{DEMO}==3.0": "no such version on the package index"
    }
    assert missing_in(UV_NOT_FOUND, reqs) == {
        "other-missing==0.1": "no such package on the package index"
    }
    assert missing_in(UV_NO_WHEEL, reqs) == {
        "armonly==1.0": "no wheel for this platform or Python version"
    }
    # A build failure names the package that failed; the hint's other names are not missing.
    assert missing_in(UV_BUILD, reqs) == {"broken==1.0": "failed to build from source"}
    # A pin is matched whole: 3.0 is not 3.0.1, and a longer name is another package.
    assert missing_in(UV_NO_VERSION, [f"{DEMO}==3", f"{DEMO}==3.0.1", "demo-pkg==3.0"]) == {}
    assert missing_in("error: something else entirely", reqs) == {}
    wrapped = UV_NOT_FOUND.replace(" and you require ", " and you\n         require ")
    assert missing_in(wrapped, reqs) == {
        "other-missing==0.1": "no such package on the package index"
    }


def test_uv_index_args_translate_pip_settings():
    site = "[global]\nindex-url = https://mirror.example/simple\nfind-links = /opt/wheels\n"
    user = (
        "[global]\nextra-index-url =\n  file:///a/simple\n  file:///b/simple\n"
        "[install]\nfind_links = /home/me/wheels /more\n"
    )
    assert uv_index_args({}, [site, user]) == [
        "--index-url",
        "https://mirror.example/simple",
        "--extra-index-url",
        "file:///a/simple",
        "--extra-index-url",
        "file:///b/simple",
        "--find-links",
        "/home/me/wheels",
        "--find-links",
        "/more",
        "--index-strategy",
        "unsafe-best-match",
    ]
    env = {"PIP_INDEX_URL": "https://env.example/simple", "PIP_NO_INDEX": "yes"}
    assert uv_index_args(env, [site]) == [
        "--no-index",
        "--index-url",
        "https://env.example/simple",
        "--find-links",
        "/opt/wheels",
    ]
    # uv configured by its own variables or a uv.toml: pip's settings are not added to it.
    assert uv_index_args({"UV_FIND_LINKS": "/w", "PIP_INDEX_URL": "x"}, [site]) == []
    assert uv_index_args({}, [site], uv_configured=True) == []
    assert uv_index_args({"UV_INDEX_STRATEGY": "first-index"}, [user])[-1] == "/more"
    assert uv_index_args({}, ["not [an ini", ""]) == []


def test_pip_config_file_devnull_reads_no_file(tmp_path):
    assert pip_config_paths({"PIP_CONFIG_FILE": os.devnull}) == []
    paths = pip_config_paths({"HOME": str(tmp_path), "PIP_CONFIG_FILE": "/x/pip.conf"})
    assert paths[-1] == Path("/x/pip.conf")
    assert tmp_path / ".config" / "pip" / "pip.conf" in paths


def test_reap_removes_only_dead_builds(tmp_path):
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    host = envuv.host()
    names = {
        f".tmp.{dead.pid}.{host}.aaa": False,  # this host, process gone
        f".trash.{dead.pid}.{host}.bbb": False,
        f".tmp.{os.getpid()}.{host}.ccc": True,  # a build still running
        f".tmp.{dead.pid}.elsewhere.ddd": True,  # another host's, recent: cannot tell
        f".tmp.{dead.pid}.elsewhere.eee": False,  # another host's, two days old
        "py3.11.7-0123": True,
    }
    for name in names:
        (tmp_path / name).mkdir()
    old = time.time() - 2 * 86400
    os.utime(tmp_path / f".tmp.{dead.pid}.elsewhere.eee", (old, old))
    reap(tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        n for n, keep in names.items() if keep
    )


# --- end to end: `artver replay --env recreate` -------------------------------------------------

SHOW = "import artver_demo_pkg as m\nopen('version.txt', 'w').write(m.VERSION + '\\n')\n"
PIPELINE = """\
stages:
  show:
    cmd: python src/show.py
    deps: [src/show.py]
    outs: [version.txt]
    env: {python: true}
"""


def test_replay_recreates_the_recorded_environment(ws, local_index, tmp_path):
    """The lock records artver-demo-pkg 1.0; the venv on PATH now has 2.0; replay runs 1.0."""
    from uv import find_uv_bin

    uv, venv = find_uv_bin(), tmp_path / "venv"
    subprocess.run([uv, "venv", "-q", "--python", sys.executable, str(venv)], check=True)

    def pin(version: str) -> None:
        cmd = [uv, "pip", "install", "-q", "--python", str(venv / "bin" / "python")]
        subprocess.run([*cmd, f"{DEMO}=={version}"], check=True)

    on_path = {"PATH": f"{venv / 'bin'}{os.pathsep}{os.environ['PATH']}"}
    pin("1.0")
    ws.write("src/show.py", SHOW)
    ws.write("artver.yaml", PIPELINE)
    ws.artver("repro", env=on_path)
    assert ws.read("version.txt") == b"1.0\n"
    ws.commit("recorded with 1.0", tag="v1")
    pin("2.0")

    out = tmp_path / "replayed"
    res = ws.artver("replay", "show", "--rev", "v1", "-o", str(out), "--json", env=on_path)
    doc = json.loads(res.stdout)
    assert doc["env"] == "recreate" and doc["status"] == "deterministic"
    assert (out / "version.txt").read_bytes() == b"1.0\n"
    assert ws.read("version.txt") == b"1.0\n" and ws.git("status", "--porcelain") == ""
    envs = ws.root / ".artver" / "cache" / "envs"
    (built,) = envs.iterdir()
    stamp = (built / envbuild.MARKER).stat().st_mtime_ns

    # In this machine's environment the same record gives 2.0: the replay says it differs.
    current = tmp_path / "current"
    args = ["replay", "show", "--rev", "v1", "--env", "current", "-o", str(current)]
    res = ws.artver(*args, env=on_path, expect=1)
    assert (current / "version.txt").read_bytes() == b"2.0\n"
    assert "package artver-demo-pkg 1.0 -> 2.0" in res.output

    # A second recreate reuses the environment: nothing built, nothing installed.
    again = tmp_path / "again"
    no_index = {**on_path, "UV_FIND_LINKS": "/nowhere"}  # a build would fail now
    ws.artver("replay", "show", "--rev", "v1", "-o", str(again), env=no_index)
    assert (again / "version.txt").read_bytes() == b"1.0\n"
    assert [p.name for p in envs.iterdir()] == [built.name]
    assert (built / envbuild.MARKER).stat().st_mtime_ns == stamp


def test_replay_names_the_package_that_cannot_be_had(ws, local_index, tmp_path):
    from uv import find_uv_bin

    uv, venv = find_uv_bin(), tmp_path / "venv"
    subprocess.run([uv, "venv", "-q", "--python", sys.executable, str(venv)], check=True)
    cmd = [uv, "pip", "install", "-q", "--python", str(venv / "bin" / "python"), f"{DEMO}==2.0"]
    subprocess.run(cmd, check=True)
    on_path = {"PATH": f"{venv / 'bin'}{os.pathsep}{os.environ['PATH']}"}
    ws.write("src/show.py", SHOW)
    ws.write("artver.yaml", PIPELINE)
    ws.artver("repro", env=on_path)
    ws.commit("recorded with 2.0")
    only_v1 = tmp_path / "only-v1"
    only_v1.mkdir()
    write_wheel(only_v1, DEMO, "1.0")
    res = ws.artver(
        "replay", "show", "--rev", "HEAD", env={"UV_FIND_LINKS": str(only_v1)}, expect=1
    )
    assert_error(res, f"{DEMO}==2.0: no such version on the package index", "--env current")
    assert not (ws.root / ".artver" / "cache" / "envs").exists() or not any(
        (ws.root / ".artver" / "cache" / "envs").iterdir()
    )
