"""Benchmark artver against DVC, side by side, on the same machine in the same run.

Run with artver's virtual environment (`make bench`, i.e. `.venv/bin/python bench/run.py`).
DVC is installed into its own venv under bench/.work/dvc-venv on first use.

For each operation and round, both tools get a fresh Git repo with a real copy of the same
seeded data; they are timed one after the other, alternating which goes first. The page cache
cannot be dropped here, so every operation runs warm: its data is read once, untimed, before.
Medians over rounds are compared with each other and with physical floors (reading every byte,
stat-ing every file, `cp`), and each row is checked against its target. The run exits 0 even if
targets fail (it is a report) and non-zero if a command fails.

Examples:
    .venv/bin/python bench/run.py                      # everything, 3 rounds
    .venv/bin/python bench/run.py --scale 0.05 --rounds 1 --only small,version
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import sys
import time
from pathlib import Path

import group_api  # noqa: F401 - registers the `api` group
import group_envbuild  # noqa: F401 - registers the `envbuild` group
import group_envcapture  # noqa: F401 - registers the `envcapture` group
import group_exp  # noqa: F401 - registers the `exp` group
import group_fsck  # noqa: F401 - registers the `fsck` group
import group_get  # noqa: F401 - registers the `get` group
import group_history  # noqa: F401 - registers the `history` group
import group_import_dvc  # noqa: F401 - registers the `import-dvc` group
import group_lineage  # noqa: F401 - registers the `lineage` group
import group_pipelines  # noqa: F401  (registers the pipeline, wide and plan groups)
import group_plots  # noqa: F401 - registers the `plots` group
import group_remotes  # noqa: F401 - registers the `remotes` group
import group_reproducibility  # noqa: F401 - registers the `verify` group
import group_scale  # noqa: F401 - registers the scale group
from groups import GROUPS, Context
from harness import CommandFailed, Tools, ensure_dvc, find_artver, remove_tree, run
from report import render, to_json

HERE = Path(__file__).resolve().parent
DEFAULT_WORK = HERE / ".work"
DEFAULT_SEED = 20240601


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    # argparse %-formats help texts: a literal "%" (as in "1% change") must be doubled.
    names = ", ".join(f"{g.name} ({g.help})" for g in GROUPS.values()).replace("%", "%%")
    p.add_argument(
        "--only",
        default=",".join(GROUPS),
        help=f"comma-separated groups to run; default all: {names}",
    )
    p.add_argument("--scale", type=float, default=1.0, help="scale file count and big file size")
    p.add_argument("--rounds", type=int, default=3, help="rounds per operation (default 3)")
    p.add_argument("--seed", type=int, default=DEFAULT_SEED, help="seed for all generated data")
    p.add_argument("--work", type=Path, default=DEFAULT_WORK, help="scratch dir (bench/.work)")
    p.add_argument(
        "--remotes", default="local,s3", help="remotes group: local, s3 or both (default both)"
    )
    args = p.parse_args(argv)
    args.remotes = tuple(k.strip() for k in args.remotes.split(",") if k.strip())
    if not args.remotes or set(args.remotes) - {"local", "s3"}:
        p.error("--remotes takes local, s3 or local,s3")
    args.only = [name.strip() for name in args.only.split(",") if name.strip()]
    unknown = [name for name in args.only if name not in GROUPS]
    if unknown:
        p.error(f"unknown group(s) {unknown}; choose from {list(GROUPS)}")
    if args.scale <= 0 or args.rounds < 1:
        p.error("--scale must be > 0 and --rounds >= 1")
    return args


def machine() -> dict:
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    return {
        "cpus": os.cpu_count(),
        "mem_gib": round(mem / (1 << 30), 1),
        "platform": platform.platform(),
        "python": platform.python_version(),
    }


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    work = args.work.resolve()
    work.mkdir(parents=True, exist_ok=True)
    artver = find_artver()
    # Groups without a DVC column (verify, replay) run where DVC cannot be installed.
    dvc = ensure_dvc(work, log) if any(GROUPS[n].needs_dvc for n in args.only) else ""
    tools = Tools(python=sys.executable, artver=artver, dvc=dvc)
    ctx = Context(tools, work, args.scale, args.rounds, args.seed, log, remotes=args.remotes)
    meta = {
        "date": dt.datetime.now().astimezone().isoformat(timespec="seconds"),
        "machine": machine(),
        "artver": run([artver, "--version"], work).strip().removeprefix("artver "),
        "dvc": run([dvc, "--version"], work).strip() if dvc else "not used",
        "scale": args.scale,
        "rounds": args.rounds,
        "seed": args.seed,
        "groups": args.only,
    }
    log(f"artver {meta['artver']}, DVC {meta['dvc']}, scale {args.scale}, rounds {args.rounds}")

    results, errors = {}, {}
    for name in args.only:
        try:
            result = GROUPS[name].run(ctx)
        except CommandFailed as exc:  # report it, carry on with the other groups
            errors[name] = exc
            print(exc.details(), file=sys.stderr)
            continue
        loads = ", ".join(f"{x:.2f}" for x in ctx.loads.get(name, []))
        result.notes.append(f"1-minute load average at the start of each round: {loads}")
        results[name] = result
    remove_tree(ctx.runs)

    m = meta["machine"]
    print(
        f"\nartver {meta['artver']} vs DVC {meta['dvc']} | {m['cpus']} CPUs, {m['mem_gib']} GiB"
        f" | scale {args.scale}, {args.rounds} rounds, medians; peak MB = max RSS of the"
        " largest process in the command's tree (scale: summed over the tree)"
    )
    print("All runs are warm: the page cache is not dropped; data is read once before timing.")
    for result in results.values():
        print()
        print(render(result))

    out = work / f"results-{time.strftime('%Y%m%d-%H%M%S')}.json"
    doc = {**meta, "results": {name: to_json(r) for name, r in results.items()}}
    if errors:
        doc["errors"] = {name: exc.details() for name, exc in errors.items()}
    out.write_text(json.dumps(doc, indent=2) + "\n")
    print(f"\nwrote {out}")
    for name, exc in errors.items():
        print(f"\nFAILED ({name}): {exc}", file=sys.stderr)
    failed = {name: r.failures for name, r in results.items() if r.failures}
    for name, failures in failed.items():
        for op, msg in failures.items():
            print(f"\nFAILED ({name}, artver {op}): {msg}", file=sys.stderr)
    return 1 if errors or failed else 0


if __name__ == "__main__":
    sys.exit(main())
