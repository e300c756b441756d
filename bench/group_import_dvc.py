"""Benchmark group `import-dvc`: `artver import-dvc` of a DVC project holding the 20,000 small
files (made with real `dvc add`), against a cold `artver add` of the same data.

import-dvc reads every file twice, once for DVC's md5 (to prove the workspace holds what the
`.dvc` file records) and once for artver's own add: the target is under 2x the cold add. The
cold add runs in a fresh artver repo with its own real copy of the data; the two alternate
which goes first, so drift in machine load hits both.
"""

from __future__ import annotations

import datasets
from groups import Context, group, new_repo
from harness import (
    CommandFailed,
    copy_real,
    git_commit_all,
    measure,
    read_floor,
    remove_tree,
    run,
    settle,
)
from report import FloorSpec, GroupResult, RowSpec, Samples, WithinFloor


@group("import-dvc", "artver import-dvc of a 20,000-file DVC project vs a cold artver add")
def import_dvc_group(ctx: Context) -> GroupResult:
    src = datasets.small_dataset(ctx.work, ctx.scale, ctx.seed, ctx.log)
    count = datasets.small_count(ctx.scale)
    samples = Samples()
    root = ctx.runs / "import-dvc"
    for r in range(ctx.rounds):
        ctx.start_round("import-dvc", r)
        project = new_repo(ctx, "dvc", root / f"r{r}" / "dvc")
        copy_real(src, project.path / "data")
        run(project.cmd("add", "data"), project.path, project.env)
        git_commit_all(project.path, "dvc add data")
        plain = new_repo(ctx, "artver", root / f"r{r}" / "artver")
        copy_real(src, plain.path / "data")
        for repo in (project, plain):
            read_floor(repo.path / "data")  # warm-up, untimed
        steps = ["import", "add"] if r % 2 == 0 else ["add", "import"]
        for step in steps:
            settle()
            if step == "import":
                m = measure([ctx.tools.artver, "import-dvc", "-q"], project.path, project.env)
                samples.add("artver", "import-dvc", m)
                ctx.log(f"  import-dvc: {m.wall:.3f}s/{m.peak_mb:.0f}MB")
            else:
                m = measure([ctx.tools.artver, "add", "-q", "data"], plain.path, plain.env)
                samples.add("floor", "add-cold", m)
                ctx.log(f"  artver add (cold): {m.wall:.3f}s/{m.peak_mb:.0f}MB")
        status = run([ctx.tools.artver, "status"], project.path, project.env)
        if "up to date" not in status:
            msg = f"after import-dvc, artver status is not clean: {status[:200]}"
            raise CommandFailed([ctx.tools.artver, "status"], project.path, 0, stderr=msg)
    remove_tree(root)
    return GroupResult(
        name="import-dvc",
        title=f"import-dvc of a DVC project of {count:,} small files (1-16 KiB)",
        samples=samples,
        rows=[
            RowSpec(
                f"import-dvc, data/ of {count:,} files from `dvc add`",
                "import-dvc",
                (WithinFloor("add-cold", 2),),
            )
        ],
        floors=[FloorSpec("add-cold", "cold `artver add` of the same data")],
        notes=["DVC has no command that converts the other way: no DVC column"],
    )
