"""The repository lock and configuration levels."""

from __future__ import annotations

import os
import subprocess
import sys
import time

from tests.conftest import xxh

HOLD_LOCK = """
import sys, time
from pathlib import Path
from artver.lock import repo_lock
with repo_lock(Path(sys.argv[1]), "artver add big-data", wait=5):
    print("held", flush=True)
    time.sleep(float(sys.argv[2]))
"""


def hold_lock(ws, seconds: float) -> subprocess.Popen:
    proc = subprocess.Popen(
        [sys.executable, "-c", HOLD_LOCK, str(ws.root / ".artver/lock"), str(seconds)],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None and proc.stdout.readline().strip() == "held"
    proc.stdout.close()
    return proc


def test_second_process_names_the_lock_holder_and_changes_nothing(ws):
    ws.write("data/a.txt", "a")
    holder = hold_lock(ws, 5)
    try:
        res = ws.artver("add", "data", expect=1, env={"ARTVER_LOCK_WAIT": "0.3"})
    finally:
        holder.kill()
        holder.wait()
    assert f"pid {holder.pid}" in res.stderr and "artver add big-data" in res.stderr
    assert not (ws.root / "data.artver").exists()


def test_second_process_waits_for_the_lock_and_then_runs(ws):
    ws.write("data/a.txt", "a")
    # Long enough that the second process, slow to start on a loaded machine, still finds it held.
    holder = hold_lock(ws, 3)
    res = ws.artver("add", "data")
    holder.wait()
    assert "Waiting for the repository lock" in res.stderr
    assert (ws.root / "data.artver").is_file()


def test_concurrent_adds_leave_a_consistent_repository(ws):
    for name in "abcd":
        for i in range(50):
            ws.write(f"{name}/f{i}.txt", f"{name}{i}")
    env = {**os.environ}
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "artver", "add", name],
            cwd=ws.root,
            env=env,
            stderr=subprocess.PIPE,
            text=True,
        )
        for name in "abcd"
    ]
    for proc in procs:
        _, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err
    assert "up to date" in ws.artver("status").stdout
    lines = (ws.root / ".gitignore").read_text().splitlines()
    assert sorted(lines) == ["/a", "/b", "/c", "/d"]
    for i in range(50):
        assert ws.cache_object(xxh(f"c{i}".encode())).read_bytes() == f"c{i}".encode()


def test_config_levels_merge_local_over_repo_over_global(ws):
    ws.artver("config", "--global", "core.jobs", "3")
    assert ws.artver("config", "core.jobs").stdout.strip() == "3"
    ws.artver("config", "core.jobs", "5")
    assert ws.artver("config", "core.jobs").stdout.strip() == "5"
    ws.artver("config", "--local", "core.jobs", "7")
    assert ws.artver("config", "core.jobs").stdout.strip() == "7"
    ws.artver("config", "--local", "--unset", "core.jobs")
    assert ws.artver("config", "core.jobs").stdout.strip() == "5"
    assert "core:\n  jobs: 5\n" in (ws.root / ".artver/config.yaml").read_text()
    listing = ws.artver("config").stdout.splitlines()
    assert "core.jobs=5" in listing and "cache.type=reflink,copy" in listing


def test_config_rewrite_keeps_comments(ws):
    path = ws.root / ".artver/config.yaml"
    path.write_text("# team settings\ncache:\n  type: [copy]  # safest on NFS\n")
    ws.artver("config", "core.jobs", "2")
    text = path.read_text()
    assert "# team settings" in text and "# safest on NFS" in text and "jobs: 2" in text


def test_local_config_is_ignored_by_git(ws):
    ws.artver("config", "--local", "cache.type", "copy")
    assert ws.git("check-ignore", ".artver/config.local.yaml").strip()


def test_bad_config_values_are_refused_when_set(ws):
    before = ws.read(".artver/config.yaml")
    for key, value in [("cache.type", "teleport"), ("core.jobs", "0"), ("cache.shared", "yes")]:
        res = ws.artver("config", key, value, expect=1)
        assert key in res.stderr and value in res.stderr
    res = ws.artver("config", "foo.bar", "1", expect=1)
    assert "unknown config key 'foo.bar'" in res.stderr
    assert ws.read(".artver/config.yaml") == before


def test_unset_leaves_a_valid_config(ws):
    ws.artver("config", "--unset", "cache.type")
    ws.artver("status")
    assert ws.artver("config", "cache.type").stdout.strip() == "reflink,copy"


def test_hand_edited_bad_config_is_a_clear_error(ws):
    (ws.root / ".artver/config.yaml").write_text("cache:\n  type: teleport\n")
    ws.write("x.txt", "x")
    res = ws.artver("add", "x.txt", expect=1)
    assert "cache.type" in res.stderr and "teleport" in res.stderr
    (ws.root / ".artver/config.yaml").write_text("cache: [unclosed\n")
    res = ws.artver("status", expect=1)
    assert "config.yaml" in res.stderr and "line" in res.stderr


def test_lock_is_released_when_the_holder_dies(ws):
    holder = hold_lock(ws, 30)
    holder.kill()
    holder.wait()
    ws.write("x.txt", "x")
    start = time.monotonic()
    ws.artver("add", "x.txt", env={"ARTVER_LOCK_WAIT": "5"})
    assert time.monotonic() - start < 5


def test_ctrl_c_says_interrupted_and_exits_130(ws):
    import signal

    ws.write("data/a.txt", "a")
    holder = hold_lock(ws, 30)
    try:
        proc = subprocess.Popen(
            [sys.executable, "-m", "artver", "add", "data"],
            cwd=ws.root,
            stderr=subprocess.PIPE,
            text=True,
            env={**os.environ, "ARTVER_LOCK_WAIT": "25"},
        )
        assert proc.stderr is not None
        assert "Waiting for the repository lock" in proc.stderr.readline()
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=60)
    finally:
        holder.kill()
        holder.wait()
    assert proc.returncode == 130, err
    assert "error: interrupted" in err and "Traceback" not in err
    assert not (ws.root / "data.artver").exists()


def test_a_config_read_before_the_state_db_existed_is_remembered_in_it(ws):
    """The first command that creates the state DB keeps the config it parsed, so the next
    command does not parse it again, and an edit is still seen."""
    from artver.repo import Repo

    for made_by_init in (ws.root / ".artver").glob("state.db*"):  # as in a fresh clone
        made_by_init.unlink()
    repo = Repo.find(ws.root)
    assert repo.config.get("cache.type") == ["reflink", "copy"]
    remembered = [row[0] for row in repo.state.conn.execute("SELECT path FROM parsed")]
    repo.close()
    assert remembered == [f"config:{ws.root / '.artver/config.yaml'}"]
    ws.artver("config", "cache.type", "copy")
    assert ws.artver("config", "cache.type").stdout.strip() == "copy"
